//! Request heads, parsed with httparse (RFC 9112 §2-§6), and the limits that keep a
//! connection's memory bounded: the head, the request target, and the body we are willing
//! to skip. A limit that is hit becomes the status code the RFC names for it.
//!
//! A parsed `Request` borrows the connection's input (target, fields) and its header slots
//! live on the stack for the duration of a callback, so parsing allocates nothing.

use httparse::Header;
use std::mem::MaybeUninit;

/// Bounds on what one request may be.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The whole head (request line and fields); larger → 431 (RFC 6585 §5).
    pub max_head: usize,
    /// The request target; longer → 414 (RFC 9110 §15.5.15).
    pub max_uri: usize,
    /// Header fields; more → 431.
    pub max_headers: usize,
    /// A request body we read and discard (we serve GET and HEAD); larger → 413.
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_uri: 8 * 1024,
            max_headers: 64,
            max_body: 64 * 1024,
        }
    }
}

/// The request method (RFC 9110 §9); we serve GET and HEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method<'a> {
    /// RFC 9110 §9.3.1: the representation.
    Get,
    /// RFC 9110 §9.3.2: GET without the content.
    Head,
    /// Any other method, as sent: answered 405 with `Allow: GET, HEAD`.
    Other(&'a str),
}

/// A complete request head, borrowed from the input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The method of the request line.
    pub(crate) method: Method<'a>,
    /// The request target as sent (RFC 9112 §3.2: origin-form or absolute-form).
    pub(crate) target: &'a str,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) minor: u8,
    /// The fields as sent; names compare case-insensitively.
    pub(crate) headers: &'a [Header<'a>],
    /// Bytes of the head, blank line included.
    pub(crate) head_len: usize,
    /// Content-Length of the body that follows (0 without one).
    pub(crate) body_len: u64,
}

impl<'a> Request<'a> {
    /// The fields named `name` (given in lower case), in order.
    fn fields<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        let headers = self.headers;
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The value of a field (the first, if repeated) as text; `name` in lower case.
    pub(crate) fn header(&self, name: &str) -> Option<&'a str> {
        self.fields(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Whether a comma-separated field (such as Connection) lists `token`, case-insensitive.
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.fields(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// RFC 9112 §9.3: whether the connection persists after this request's response.
    pub(crate) fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            return false;
        }
        self.minor >= 1 || self.has_token("connection", "keep-alive")
    }
}

/// What the bytes at the start of the buffer are.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    /// Not a complete head yet, and within the limits.
    Partial,
    /// A complete head within the limits.
    Complete(Request<'a>),
    /// A request we refuse with this status; the connection closes after the answer.
    Reject(u16),
}

/// Header slots on the stack; a `max_headers` above this takes them from the heap.
const STACK_HEADERS: usize = 64;

/// Parses the head at the start of `buf` and hands the outcome to `f` (the request borrows
/// `buf` and header slots that live only for the call).
pub(crate) fn parse<R>(buf: &[u8], limits: &Limits, f: impl FnOnce(Parsed<'_>) -> R) -> R {
    let mut on_stack = [const { MaybeUninit::<Header<'_>>::uninit() }; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let slots = if limits.max_headers <= STACK_HEADERS {
        &mut on_stack[..limits.max_headers]
    } else {
        on_heap.resize_with(limits.max_headers, MaybeUninit::uninit);
        &mut on_heap[..]
    };
    f(parse_into(buf, limits, slots))
}

fn parse_into<'a>(
    buf: &'a [u8],
    limits: &Limits,
    slots: &'a mut [MaybeUninit<Header<'a>>],
) -> Parsed<'a> {
    let mut req = httparse::Request::new(&mut []);
    let window = &buf[..buf.len().min(limits.max_head)];
    match req.parse_with_uninit_headers(window, slots) {
        Ok(httparse::Status::Partial) => {
            if window.len() < limits.max_head {
                return Parsed::Partial;
            }
            // Full and still incomplete: a request line that never ends is a long URI.
            let line_done = window.contains(&b'\n');
            Parsed::Reject(if line_done { 431 } else { 414 })
        }
        Ok(httparse::Status::Complete(head_len)) => {
            let target = req.path.unwrap_or("");
            if target.len() > limits.max_uri {
                return Parsed::Reject(414);
            }
            let method = match req.method.unwrap_or("") {
                "GET" => Method::Get,
                "HEAD" => Method::Head,
                other => Method::Other(other),
            };
            let mut request = Request {
                method,
                target,
                minor: req.version.unwrap_or(1),
                headers: req.headers,
                head_len,
                body_len: 0,
            };
            // RFC 9112 §6.3: Transfer-Encoding in a request we do not take bodies for: 501
            // (and a request with both is a smuggling attempt: 400).
            if request.fields("transfer-encoding").next().is_some() {
                let both = request.fields("content-length").next().is_some();
                return Parsed::Reject(if both { 400 } else { 501 });
            }
            let mut lengths = request.fields("content-length").map(|v| {
                std::str::from_utf8(v)
                    .ok()
                    .map(str::trim)
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok())
            });
            if let Some(first) = lengths.next() {
                let Some(len) = first else {
                    return Parsed::Reject(400);
                };
                if lengths.any(|l| l != Some(len)) {
                    return Parsed::Reject(400);
                }
                if len > limits.max_body {
                    return Parsed::Reject(413);
                }
                request.body_len = len;
            }
            // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host.
            if request.minor >= 1 && request.header("host").is_none() {
                return Parsed::Reject(400);
            }
            Parsed::Complete(request)
        }
        Err(httparse::Error::TooManyHeaders) => Parsed::Reject(431),
        Err(httparse::Error::Version) if names_http_version(window) => Parsed::Reject(505),
        Err(_) => Parsed::Reject(400),
    }
}

/// Whether the request line ends in something shaped like `HTTP/x.y` (a version we do not
/// speak → 505) rather than junk (→ 400). Only classifies; httparse did the parsing.
fn names_http_version(buf: &[u8]) -> bool {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some(version) = line.rsplit(|&b| b == b' ').next() else {
        return false;
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, rest @ ..]
        if major.is_ascii_digit() && rest.iter().all(|b| b.is_ascii_digit() || *b == b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(buf: &[u8]) -> Option<u16> {
        parse(buf, &Limits::default(), |p| match p {
            Parsed::Reject(s) => Some(s),
            _ => None,
        })
    }

    #[test]
    fn parses_a_get_and_its_keep_alive() {
        parse(
            b"GET /a?b HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\nrest",
            &Limits::default(),
            |p| {
                let Parsed::Complete(r) = p else { panic!() };
                assert_eq!(r.method, Method::Get);
                assert_eq!(r.target, "/a?b");
                assert_eq!(r.head_len, 49);
                assert!(!r.keep_alive());
            },
        );
        parse(
            b"HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            &Limits::default(),
            |p| {
                let Parsed::Complete(r) = p else { panic!() };
                assert!(r.keep_alive() && r.minor == 0);
            },
        );
        // Field names in any case; the first of a repeated field; a body length.
        parse(
            b"POST /x HTTP/1.1\r\nHOST: a \r\nhost: b\r\nContent-LENGTH: 5\r\n\r\n",
            &Limits::default(),
            |p| {
                let Parsed::Complete(r) = p else { panic!() };
                assert_eq!(r.method, Method::Other("POST"));
                assert_eq!(r.header("host"), Some("a"));
                assert_eq!(r.body_len, 5);
            },
        );
        // More header slots than fit on the stack.
        let many: String = (0..100).map(|i| format!("X{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        let limits = Limits {
            max_headers: 200,
            ..Limits::default()
        };
        parse(head.as_bytes(), &limits, |p| {
            let Parsed::Complete(r) = p else { panic!() };
            assert_eq!(r.headers.len(), 101);
        });
    }

    #[test]
    fn limits_and_errors_become_statuses() {
        assert!(parse(
            b"GET / HTTP/1.1\r\nHost:",
            &Limits::default(),
            |p| matches!(p, Parsed::Partial)
        ));
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status(b"GET / FOO\r\n\r\n"), Some(400));
        assert_eq!(status(b"\x16\x03\x01\x00\xa5\x01\x00"), Some(400));
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), Some(400), "no Host");
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        assert_eq!(status(long.as_bytes()), Some(414));
        let endless = format!("GET /{}", "a".repeat(20000));
        assert_eq!(status(endless.as_bytes()), Some(414));
        let fat = format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n", "a".repeat(20000));
        assert_eq!(status(fat.as_bytes()), Some(431));
        let many: String = (0..100).map(|i| format!("X{i}: y\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()),
            Some(431)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(501)
        );
    }
}
