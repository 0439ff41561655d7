//! One HTTP/1.1 connection's protocol, on plaintext bytes, apart from any transport: bytes
//! in (`input`), requests answered in order (`process`), bytes out (`output`/`consume`),
//! and its deadlines. The plain and TLS transports in `mod.rs` move the bytes.
//!
//! Memory is bounded: at most `max_head` (+ one read) of unprocessed input, at most one
//! chunk of output beyond what TCP has taken; file bodies are read chunk by chunk as the
//! transport drains the previous one. Pipelined requests are answered strictly in order:
//! the next head is looked at only when the current response is fully queued (RFC 9112
//! §9.3.2).
//!
//! Response heads are written straight into the output buffer, which is kept between
//! responses, and a small body from memory (or a small file) is appended right behind its
//! head: a keep-alive GET of the embedded page allocates nothing.

use super::cache::{self, Outcome, Validators};
use super::date::DateCache;
use super::request::{self, Limits, Method, Parsed, Request};
use super::resource::{Lookup, Site, Source};
use crate::time::{Duration, Instant};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// Settings shared by all connections of a server.
pub struct Shared {
    /// What targets resolve to: the `--www` root or the embedded page.
    pub site: Site,
    /// Bounds on each request's head, target and skipped body.
    pub limits: Limits,
    /// `Cache-Control: max-age` in seconds.
    pub max_age: u64,
    /// Unix time (µs) of the loop's `Instant::ZERO`: Date = this + now.
    pub unix_epoch_us: u64,
    /// A kept-alive connection with nothing to do is closed after this long.
    pub idle_timeout: Duration,
    /// A request head must be complete this long after its first byte (slowloris).
    pub header_timeout: Duration,
    /// A response that makes no progress for this long is abandoned (reset).
    pub send_timeout: Duration,
    /// The Server field value (`tunstack/VERSION`).
    pub server: String,
    /// The Date field, formatted once a second.
    pub date: DateCache,
}

impl Shared {
    /// The Unix time in seconds at the loop's `now`.
    pub(crate) fn unix_now(&self, now: Instant) -> u64 {
        (self.unix_epoch_us + now.as_micros()) / 1_000_000
    }
}

/// Output chunk: file data is read this much at a time.
const CHUNK: usize = 64 * 1024;
/// Pipelined small responses are queued together up to this much output.
const BATCH: usize = 16 * 1024;

enum Body {
    File {
        file: std::fs::File,
        remaining: u64,
    },
    Memory {
        bytes: Arc<[u8]>,
        pos: usize,
        end: usize,
    },
}

/// What one answered request (or refusal) takes from the input.
enum Taken {
    /// An incomplete head: wait for more.
    Nothing,
    /// A refused request: the rest of the input is not looked at.
    All,
    /// A request head of this many bytes (its body is skipped separately).
    Head(usize),
}

/// What the deadline means when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No deadline had passed: nothing was done.
    Nothing,
    /// Idle keep-alive connection: close quietly.
    Idle,
    /// A head that did not complete in time: 408, then close.
    HeaderTimeout,
    /// The peer took none of a response for this long: reset.
    SendStalled,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Complete request heads answered (refused heads are not counted).
    pub requests: u64,
    /// Plaintext output octets consumed by the transport.
    pub bytes_out: u64,
}

/// One connection's HTTP/1.1 protocol state: input not yet answered, output not yet taken,
/// the body being sent, and the times its deadlines are measured from.
pub struct Exchange {
    inbuf: Vec<u8>,
    /// Bytes of a request body still to discard.
    skip: u64,
    out: Vec<u8>,
    out_pos: usize,
    body: Option<Body>,
    /// Close once everything queued is sent; no further requests are read.
    closing: bool,
    /// Set when a body could not be produced as announced: the connection must be reset.
    broken: bool,
    head_started_at: Option<Instant>,
    last_activity: Instant,
    /// What this connection has done, for the server's summary.
    pub tally: Tally,
}

impl Exchange {
    /// A fresh connection that arrived at `now` (its idle time counts from here).
    #[must_use]
    pub fn new(now: Instant) -> Exchange {
        Exchange {
            inbuf: Vec::new(),
            skip: 0,
            out: Vec::new(),
            out_pos: 0,
            body: None,
            closing: false,
            broken: false,
            head_started_at: None,
            last_activity: now,
            tally: Tally::default(),
        }
    }

    /// How many more input bytes to accept now (zero applies back-pressure: the data stays
    /// in TCP's receive buffer and the window closes).
    pub(crate) fn room(&self, limits: &Limits) -> usize {
        if self.closing {
            return usize::MAX; // read and discard until the peer's FIN
        }
        (limits.max_head + 4096).saturating_sub(self.inbuf.len())
    }

    /// Takes plaintext bytes from the peer, arriving at `now` (the pump passes no more than
    /// the exchange has room for); they are answered by [`process`](Self::process).
    pub fn input(&mut self, now: Instant, data: &[u8]) {
        self.last_activity = now;
        if self.closing {
            return;
        }
        let mut data = data;
        if self.skip > 0 && self.inbuf.is_empty() {
            let n = (self.skip as usize).min(data.len());
            self.skip -= n as u64;
            data = &data[n..];
        }
        if !data.is_empty() && self.inbuf.is_empty() && self.skip == 0 {
            self.head_started_at = Some(now);
        }
        self.inbuf.extend_from_slice(data);
    }

    /// Whether the connection ends once the queued output is sent (`Connection: close`, a
    /// refused request, or an idle timeout); no further requests are read.
    pub fn is_closing(&self) -> bool {
        self.closing
    }

    /// Whether a response could not be completed as announced (a file ended early, or the
    /// peer stalled past `send_timeout`): the connection must be reset, not closed.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether everything queued has been handed to the transport.
    pub(crate) fn drained(&self) -> bool {
        self.out_pos == self.out.len() && self.body.is_none()
    }

    /// Answers the requests in the input, in order, while the output has room. Returns
    /// whether it answered anything.
    pub fn process(&mut self, now: Instant, shared: &Shared) -> bool {
        let (queued, closing) = (self.out.len(), self.closing);
        self.process_inner(now, shared);
        self.out.len() != queued || self.closing != closing
    }

    fn process_inner(&mut self, now: Instant, shared: &Shared) {
        while !self.closing && self.body.is_none() && self.out.len() - self.out_pos < BATCH {
            if self.skip > 0 {
                let n = (self.skip as usize).min(self.inbuf.len());
                self.inbuf.drain(..n);
                self.skip -= n as u64;
                if self.skip > 0 {
                    return;
                }
                self.head_started_at = (!self.inbuf.is_empty()).then_some(now);
            }
            if self.inbuf.is_empty() {
                return;
            }
            // The request borrows the input while the response is written: take the buffer
            // out for that (no copy, no allocation) and put it back after.
            let inbuf = std::mem::take(&mut self.inbuf);
            let taken = request::parse(&inbuf, &shared.limits, |parsed| match parsed {
                Parsed::Partial => Taken::Nothing,
                Parsed::Reject(status) => {
                    log::debug!("http: rejecting a request with {status}");
                    self.error(now, shared, status, 1, true, false, &[]);
                    Taken::All
                }
                Parsed::Complete(req) => {
                    self.skip = req.body_len;
                    self.tally.requests += 1;
                    self.respond(now, shared, &req);
                    Taken::Head(req.head_len)
                }
            });
            self.inbuf = inbuf;
            match taken {
                Taken::Nothing => return,
                Taken::All => self.inbuf = Vec::new(),
                Taken::Head(head_len) => {
                    self.inbuf.drain(..head_len);
                    self.head_started_at = (!self.inbuf.is_empty()).then_some(now);
                }
            }
        }
    }

    fn respond(&mut self, now: Instant, shared: &Shared, req: &Request<'_>) {
        let keep = req.keep_alive();
        let head_only = req.method == Method::Head;
        if let Method::Other(m) = req.method {
            log::debug!("http: method {m} not allowed");
            let allow = [("Allow", "GET, HEAD")];
            return self.error(now, shared, 405, req.minor, !keep, false, &allow);
        }
        let res = match shared.site.lookup(req.target) {
            Lookup::Found(res) => res,
            Lookup::NotFound => {
                return self.error(now, shared, 404, req.minor, !keep, head_only, &[]);
            }
            Lookup::BadRequest => {
                return self.error(now, shared, 400, req.minor, true, head_only, &[]);
            }
            Lookup::Redirect(to) => {
                let loc = [("Location", to.as_str())];
                return self.error(now, shared, 301, req.minor, !keep, head_only, &loc);
            }
        };
        let validators = Validators {
            etag: res.etag.as_str(),
            modified: res.modified,
            len: res.len,
        };
        let (status, first, count) = match cache::evaluate(req, validators) {
            Outcome::NotModified => (304, 0, None),
            Outcome::PreconditionFailed => {
                return self.error(now, shared, 412, req.minor, !keep, head_only, &[]);
            }
            Outcome::Unsatisfiable => {
                let cr = format!("bytes */{}", res.len);
                let cr = [("Content-Range", cr.as_str())];
                return self.error(now, shared, 416, req.minor, !keep, head_only, &cr);
            }
            Outcome::Full => (200, 0, Some(res.len)),
            Outcome::Partial { first, last } => (206, first, Some(last - first + 1)),
        };
        self.start_head(now, shared, status);
        let out = &mut self.out;
        field(out, b"ETag", res.etag.as_bytes());
        field(out, b"Last-Modified", res.last_modified.as_bytes());
        out.extend_from_slice(b"Cache-Control: max-age=");
        push_decimal(out, shared.max_age);
        out.extend_from_slice(b"\r\n");
        let Some(count) = count else {
            // 304: the validators and nothing about a body.
            self.end_head(shared, status, req.minor, !keep, None);
            return;
        };
        if status == 206 {
            out.extend_from_slice(b"Content-Range: bytes ");
            push_decimal(out, first);
            out.push(b'-');
            push_decimal(out, first + count - 1);
            out.push(b'/');
            push_decimal(out, res.len);
            out.extend_from_slice(b"\r\n");
        }
        field(out, b"Content-Type", res.content_type.as_bytes());
        field(out, b"Accept-Ranges", b"bytes");
        self.end_head(shared, status, req.minor, !keep, Some(count));
        if head_only || count == 0 {
            return;
        }
        self.body = match res.source {
            Source::Memory(bytes) => Some(Body::Memory {
                bytes,
                pos: first as usize,
                end: (first + count) as usize,
            }),
            Source::File(mut file) => {
                if first > 0 && file.seek(SeekFrom::Start(first)).is_err() {
                    self.broken = true;
                    return;
                }
                Some(Body::File {
                    file,
                    remaining: count,
                })
            }
        };
        // A body that fits in the batch goes right behind its head now (one write to the
        // transport instead of two); a larger one waits for `output` to drain the queue.
        if count <= (BATCH.saturating_sub(self.out.len() - self.out_pos)) as u64 {
            while self.body.is_some() && !self.broken {
                self.refill();
            }
        }
    }

    /// A status with a short text body (none for HEAD).
    #[allow(clippy::too_many_arguments)]
    fn error(
        &mut self,
        now: Instant,
        shared: &Shared,
        status: u16,
        minor: u8,
        close: bool,
        head_only: bool,
        extra: &[(&str, &str)],
    ) {
        // The body: "{status} {reason}\n".
        let reason = reason(status);
        let digits = status.checked_ilog10().unwrap_or(0) as usize + 1;
        let len = digits + 1 + reason.len() + 1;
        self.start_head(now, shared, status);
        for (name, value) in extra {
            field(&mut self.out, name.as_bytes(), value.as_bytes());
        }
        field(&mut self.out, b"Content-Type", b"text/plain; charset=utf-8");
        self.end_head(shared, status, minor, close, Some(len as u64));
        if !head_only {
            push_decimal(&mut self.out, u64::from(status));
            self.out.push(b' ');
            self.out.extend_from_slice(reason.as_bytes());
            self.out.push(b'\n');
        }
    }

    /// Writes the status line, Date and Server; the caller's fields and `end_head` follow.
    fn start_head(&mut self, now: Instant, shared: &Shared, status: u16) {
        let out = &mut self.out;
        out.extend_from_slice(b"HTTP/1.1 ");
        push_decimal(out, u64::from(status));
        out.push(b' ');
        out.extend_from_slice(reason(status).as_bytes());
        out.extend_from_slice(b"\r\nDate: ");
        out.extend_from_slice(shared.date.get(shared.unix_now(now)).as_bytes());
        out.extend_from_slice(b"\r\nServer: ");
        out.extend_from_slice(shared.server.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// Ends a head begun by `start_head`: Content-Length, persistence, the blank line.
    /// `close` ends the connection after this response.
    fn end_head(
        &mut self,
        shared: &Shared,
        status: u16,
        minor: u8,
        close: bool,
        content_length: Option<u64>,
    ) {
        let out = &mut self.out;
        if let Some(len) = content_length {
            out.extend_from_slice(b"Content-Length: ");
            push_decimal(out, len);
            out.extend_from_slice(b"\r\n");
        }
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
            self.closing = true;
        } else if minor == 0 {
            out.extend_from_slice(b"Connection: keep-alive\r\nKeep-Alive: timeout=");
            push_decimal(out, shared.idle_timeout.as_secs());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        log::debug!("http: {status} {}", reason(status));
    }

    /// The next bytes to send (refilled from the body as earlier ones are consumed).
    pub fn output(&mut self) -> &[u8] {
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
            self.refill();
        }
        &self.out[self.out_pos..]
    }

    /// `n` bytes of `output()` were sent.
    pub fn consume(&mut self, now: Instant, n: usize) {
        self.out_pos += n;
        self.tally.bytes_out += n as u64;
        self.last_activity = now;
        if self.out_pos == self.out.len() && self.out.capacity() > 4 * CHUNK {
            self.out = Vec::new();
            self.out_pos = 0;
        }
    }

    /// Appends the body's next chunk to the output.
    fn refill(&mut self) {
        match &mut self.body {
            None => {}
            Some(Body::Memory { bytes, pos, end }) => {
                let n = (*end - *pos).min(CHUNK);
                self.out.extend_from_slice(&bytes[*pos..*pos + n]);
                *pos += n;
                if *pos == *end {
                    self.body = None;
                }
            }
            Some(Body::File { file, remaining }) => {
                let want = (*remaining).min(CHUNK as u64) as usize;
                let start = self.out.len();
                self.out.resize(start + want, 0);
                match file.read(&mut self.out[start..]) {
                    Ok(n) if n > 0 => {
                        self.out.truncate(start + n);
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            self.body = None;
                        }
                    }
                    _ => {
                        // The file shrank or failed under us: the announced length cannot
                        // be met, so the connection must not look like a clean response.
                        log::warn!("http: a file ended early or failed while being sent");
                        self.out.truncate(start);
                        self.body = None;
                        self.broken = true;
                        self.closing = true;
                    }
                }
            }
        }
    }

    /// The next deadline and what it means.
    #[must_use]
    pub(crate) fn deadline(&self, shared: &Shared) -> Option<(Instant, Expired)> {
        if !self.drained() {
            return Some((
                self.last_activity + shared.send_timeout,
                Expired::SendStalled,
            ));
        }
        if self.closing {
            return None;
        }
        if let Some(at) = self.head_started_at
            && !self.inbuf.is_empty()
        {
            return Some((at + shared.header_timeout, Expired::HeaderTimeout));
        }
        Some((self.last_activity + shared.idle_timeout, Expired::Idle))
    }

    /// Acts on a passed deadline; returns what happened.
    pub(crate) fn handle_timeout(&mut self, now: Instant, shared: &Shared) -> Expired {
        match self.deadline(shared) {
            Some((at, what)) if at <= now => {
                match what {
                    Expired::HeaderTimeout => {
                        log::debug!("http: request head not complete in time: 408");
                        self.inbuf = Vec::new();
                        self.error(now, shared, 408, 1, true, false, &[]);
                    }
                    Expired::Idle => self.closing = true,
                    Expired::SendStalled => {
                        log::debug!("http: the peer took nothing for {:?}", shared.send_timeout);
                        self.broken = true;
                    }
                    Expired::Nothing => {}
                }
                what
            }
            _ => Expired::Nothing,
        }
    }
}

/// One `name: value` field line.
fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, as `{n}` formats it.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The reason phrase of `status` (RFC 9110 §15), "Unknown" for codes we never send.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(root: Option<&std::path::Path>) -> Shared {
        Shared {
            site: Site::new(root, 0).unwrap(),
            limits: Limits::default(),
            max_age: 60,
            unix_epoch_us: 0,
            idle_timeout: Duration::from_secs(15),
            header_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
            server: "test".to_string(),
            date: DateCache::default(),
        }
    }

    /// Memory stays bounded: a large file comes out one chunk at a time, pipelined requests
    /// wait while a response is pending, and input beyond the head limit is refused.
    #[test]
    fn output_is_chunked_and_input_is_capped() {
        let dir = std::env::temp_dir().join(format!("tunstack-exchange-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big"), vec![7u8; 1 << 20]).unwrap();
        let shared = shared(Some(&dir));
        let now = Instant::ZERO;
        let mut ex = Exchange::new(now);
        let req = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
        ex.input(now, &[&req[..], &req[..]].concat());
        ex.process(now, &shared);
        assert_eq!(
            ex.tally.requests, 1,
            "the second waits for the first response"
        );
        let mut total = 0;
        for _ in 0..100 {
            let out = ex.output();
            if out.is_empty() {
                break;
            }
            assert!(out.len() <= CHUNK + 1024, "{}", out.len());
            let n = out.len();
            total += n;
            ex.consume(now, n);
            ex.process(now, &shared);
        }
        assert!(total > 2 << 20, "both responses: {total}");
        assert_eq!(ex.tally.requests, 2);
        let mut ex = Exchange::new(now);
        let room = ex.room(&shared.limits);
        ex.input(now, &vec![b'a'; room]);
        assert_eq!(ex.room(&shared.limits), 0);
        ex.process(now, &shared);
        assert!(ex.is_closing(), "an oversized head is refused");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// RFC 9112 §2.1: heads are written field by field straight into the output; check three
    /// pipelined answers byte for byte: a 200 with the page right behind its head, a 304 to
    /// HTTP/1.0 keep-alive, and a 404 with `Connection: close` — all from one `process`.
    #[test]
    fn pipelined_responses_byte_for_byte() {
        let shared = shared(None);
        let Lookup::Found(page) = shared.site.lookup("/") else {
            panic!()
        };
        let (etag, len) = (page.etag.as_str().to_string(), page.len);
        let Source::Memory(body) = page.source else {
            panic!()
        };
        let now = Instant::ZERO;
        let mut ex = Exchange::new(now);
        let input = format!(
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n\
             GET / HTTP/1.0\r\nConnection: keep-alive\r\nIf-None-Match: {etag}\r\n\r\n\
             GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        ex.input(now, input.as_bytes());
        ex.process(now, &shared);
        assert_eq!(ex.tally.requests, 3);
        let date = "Thu, 01 Jan 1970 00:00:00 GMT";
        let mut expected = format!(
            "HTTP/1.1 200 OK\r\nDate: {date}\r\nServer: test\r\nETag: {etag}\r\n\
             Last-Modified: {date}\r\nCache-Control: max-age=60\r\n\
             Content-Type: text/html; charset=utf-8\r\nAccept-Ranges: bytes\r\n\
             Content-Length: {len}\r\n\r\n"
        )
        .into_bytes();
        expected.extend_from_slice(&body);
        expected.extend_from_slice(
            format!(
                "HTTP/1.1 304 Not Modified\r\nDate: {date}\r\nServer: test\r\nETag: {etag}\r\n\
                 Last-Modified: {date}\r\nCache-Control: max-age=60\r\n\
                 Connection: keep-alive\r\nKeep-Alive: timeout=15\r\n\r\n\
                 HTTP/1.1 404 Not Found\r\nDate: {date}\r\nServer: test\r\n\
                 Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\
                 Connection: close\r\n\r\n404 Not Found\n"
            )
            .as_bytes(),
        );
        assert_eq!(
            String::from_utf8_lossy(ex.output()),
            String::from_utf8_lossy(&expected)
        );
        assert!(ex.is_closing());
    }
}
