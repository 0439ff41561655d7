//! One HTTP/1.1 connection's protocol, on plaintext bytes, apart from any transport: bytes
//! in (`input`), requests answered in order (`process`), bytes out (`output`/`consume`),
//! and its deadlines. The plain and TLS transports in `mod.rs` move the bytes.
//!
//! Memory is bounded: at most `max_head` (+ one read) of unprocessed input, at most one
//! chunk of output beyond what TCP has taken; file bodies are read chunk by chunk as the
//! transport drains the previous one. Pipelined requests are answered strictly in order:
//! the next head is looked at only when the current response is fully queued (RFC 9112
//! §9.3.2).

use super::cache::{self, Outcome, Validators};
use super::date;
use super::request::{self, Limits, Method, Parsed, Request};
use super::resource::{Lookup, Site, Source};
use crate::time::{Duration, Instant};
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// Settings shared by all connections of a server.
pub struct Shared {
    pub site: Site,
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
    pub server: String,
}

impl Shared {
    pub fn unix_now(&self, now: Instant) -> u64 {
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

/// What the deadline means when it passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expired {
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
    pub requests: u64,
    pub bytes_out: u64,
}

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
    pub tally: Tally,
}

impl Exchange {
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
    pub fn room(&self, limits: &Limits) -> usize {
        if self.closing {
            return usize::MAX; // read and discard until the peer's FIN
        }
        (limits.max_head + 4096).saturating_sub(self.inbuf.len())
    }

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

    pub fn is_closing(&self) -> bool {
        self.closing
    }

    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Whether everything queued has been handed to the transport.
    pub fn drained(&self) -> bool {
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
            match request::parse(&self.inbuf, &shared.limits) {
                Parsed::Partial => return,
                Parsed::Reject(status) => {
                    log::debug!("http: rejecting a request with {status}");
                    self.inbuf = Vec::new();
                    self.error(now, shared, status, 1, true, false, &[]);
                }
                Parsed::Complete(req) => {
                    self.inbuf.drain(..req.head_len);
                    self.skip = req.body_len;
                    self.head_started_at = (!self.inbuf.is_empty()).then_some(now);
                    self.tally.requests += 1;
                    self.respond(now, shared, &req);
                }
            }
        }
    }

    fn respond(&mut self, now: Instant, shared: &Shared, req: &Request) {
        let keep = req.keep_alive();
        let head_only = req.method == Method::Head;
        if let Method::Other(m) = &req.method {
            log::debug!("http: method {m} not allowed");
            let allow = [("Allow", "GET, HEAD".to_string())];
            return self.error(now, shared, 405, req.minor, !keep, false, &allow);
        }
        let res = match shared.site.lookup(&req.target) {
            Lookup::Found(res) => res,
            Lookup::NotFound => {
                return self.error(now, shared, 404, req.minor, !keep, head_only, &[]);
            }
            Lookup::BadRequest => {
                return self.error(now, shared, 400, req.minor, true, head_only, &[]);
            }
            Lookup::Redirect(to) => {
                let loc = [("Location", to)];
                return self.error(now, shared, 301, req.minor, !keep, head_only, &loc);
            }
        };
        let validators = Validators {
            etag: &res.etag,
            modified: res.modified,
            len: res.len,
        };
        let outcome = cache::evaluate(req, validators);
        let mut fields: Vec<(&str, String)> = vec![
            ("ETag", res.etag.clone()),
            ("Last-Modified", date::format(res.modified)),
            ("Cache-Control", format!("max-age={}", shared.max_age)),
        ];
        let (status, first, count) = match outcome {
            Outcome::NotModified => {
                self.head(now, shared, 304, req.minor, !keep, None, &fields);
                return;
            }
            Outcome::PreconditionFailed => {
                return self.error(now, shared, 412, req.minor, !keep, head_only, &[]);
            }
            Outcome::Unsatisfiable => {
                let cr = [("Content-Range", format!("bytes */{}", res.len))];
                return self.error(now, shared, 416, req.minor, !keep, head_only, &cr);
            }
            Outcome::Full => (200, 0, res.len),
            Outcome::Partial { first, last } => {
                fields.push(("Content-Range", format!("bytes {first}-{last}/{}", res.len)));
                (206, first, last - first + 1)
            }
        };
        fields.push(("Content-Type", res.content_type.to_string()));
        fields.push(("Accept-Ranges", "bytes".to_string()));
        self.head(now, shared, status, req.minor, !keep, Some(count), &fields);
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
        extra: &[(&str, String)],
    ) {
        let text = format!("{status} {}\n", reason(status));
        let mut fields: Vec<(&str, String)> = extra.to_vec();
        fields.push(("Content-Type", "text/plain; charset=utf-8".to_string()));
        self.head(
            now,
            shared,
            status,
            minor,
            close,
            Some(text.len() as u64),
            &fields,
        );
        if !head_only {
            self.out.extend_from_slice(text.as_bytes());
        }
    }

    /// Writes a status line and fields; `close` ends the connection after this response.
    #[allow(clippy::too_many_arguments)]
    fn head(
        &mut self,
        now: Instant,
        shared: &Shared,
        status: u16,
        minor: u8,
        close: bool,
        content_length: Option<u64>,
        fields: &[(&str, String)],
    ) {
        use std::fmt::Write;
        let mut h = String::with_capacity(256);
        let _ = write!(h, "HTTP/1.1 {status} {}\r\n", reason(status));
        let _ = write!(h, "Date: {}\r\n", date::format(shared.unix_now(now)));
        let _ = write!(h, "Server: {}\r\n", shared.server);
        for (name, value) in fields {
            let _ = write!(h, "{name}: {value}\r\n");
        }
        if let Some(len) = content_length {
            let _ = write!(h, "Content-Length: {len}\r\n");
        }
        if close {
            h.push_str("Connection: close\r\n");
            self.closing = true;
        } else if minor == 0 {
            h.push_str("Connection: keep-alive\r\n");
            let _ = write!(
                h,
                "Keep-Alive: timeout={}\r\n",
                shared.idle_timeout.as_secs()
            );
        }
        h.push_str("\r\n");
        log::debug!("http: {status} {}", reason(status));
        self.out.extend_from_slice(h.as_bytes());
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
                self.out.resize(want, 0);
                match file.read(&mut self.out[..want]) {
                    Ok(n) if n > 0 => {
                        self.out.truncate(n);
                        *remaining -= n as u64;
                        if *remaining == 0 {
                            self.body = None;
                        }
                    }
                    _ => {
                        // The file shrank or failed under us: the announced length cannot
                        // be met, so the connection must not look like a clean response.
                        log::warn!("http: a file ended early or failed while being sent");
                        self.out.clear();
                        self.body = None;
                        self.broken = true;
                        self.closing = true;
                    }
                }
            }
        }
    }

    /// The next deadline and what it means.
    pub fn deadline(&self, shared: &Shared) -> Option<(Instant, Expired)> {
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
    pub fn handle_timeout(&mut self, now: Instant, shared: &Shared) -> Expired {
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

pub fn reason(status: u16) -> &'static str {
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

    fn shared(root: &std::path::Path) -> Shared {
        Shared {
            site: Site::new(Some(root), 0).unwrap(),
            limits: Limits::default(),
            max_age: 60,
            unix_epoch_us: 0,
            idle_timeout: Duration::from_secs(15),
            header_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
            server: "test".to_string(),
        }
    }

    /// Memory stays bounded: a large file comes out one chunk at a time, pipelined requests
    /// wait while a response is pending, and input beyond the head limit is refused.
    #[test]
    fn output_is_chunked_and_input_is_capped() {
        let dir = std::env::temp_dir().join(format!("tunstack-exchange-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("big"), vec![7u8; 1 << 20]).unwrap();
        let shared = shared(&dir);
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
}
