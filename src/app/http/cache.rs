//! Conditional requests (RFC 9110 §13) and byte ranges (RFC 9110 §14), evaluated in the
//! order of RFC 9110 §13.2.2 against a representation's strong ETag and Last-Modified.

use super::date;
use super::request::{Method, Request};

/// What to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 200 with the whole representation.
    Full,
    /// 304: the client's copy is current (no body).
    NotModified,
    /// 412: a precondition of the client's failed.
    PreconditionFailed,
    /// 206 with bytes `first..=last`.
    Partial {
        /// Offset of the first byte sent.
        first: u64,
        /// Offset of the last byte sent (inclusive, as in Content-Range).
        last: u64,
    },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// The validators of the selected representation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Validators<'a> {
    /// The strong entity tag, quotes included (RFC 9110 §8.8.3).
    pub(crate) etag: &'a str,
    /// Last-Modified, Unix seconds (RFC 9110 §8.8.2).
    pub(crate) modified: u64,
    /// The representation's length in bytes (the range set is evaluated against it).
    pub(crate) len: u64,
}

/// Entity tags of an If-Match / If-None-Match list: (weak, opaque tag with quotes), up to
/// the first malformed one. The caller handles `*`.
fn entity_tags(value: &str) -> impl Iterator<Item = (bool, &str)> {
    let mut rest = value;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return None;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        if !rest.starts_with('"') {
            rest = ""; // malformed: stop at what we understood
            return None;
        }
        let Some(end) = rest[1..].find('"') else {
            rest = "";
            return None;
        };
        let tag = &rest[..end + 2];
        rest = &rest[end + 2..];
        Some((weak, tag))
    })
}

/// RFC 9110 §8.8.3.2 strong comparison: both strong and identical.
fn strong_match(value: &str, etag: &str) -> bool {
    value.trim() == "*" || entity_tags(value).any(|(weak, t)| !weak && t == etag)
}

/// Weak comparison: identical opaque tags, weak or not.
fn weak_match(value: &str, etag: &str) -> bool {
    value.trim() == "*" || entity_tags(value).any(|(_, t)| t == etag)
}

/// RFC 9110 §13.2.2, steps 1-5, for GET and HEAD of an existing representation.
pub(crate) fn evaluate(req: &Request<'_>, v: Validators<'_>) -> Outcome {
    // 1. If-Match: false → 412.
    if let Some(value) = req.header("if-match") {
        if !strong_match(value, v.etag) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(since) = req.header("if-unmodified-since").and_then(date::parse) {
        // 2. If-Unmodified-Since (only without If-Match): modified later → 412.
        if v.modified > since {
            return Outcome::PreconditionFailed;
        }
    }
    // 3. If-None-Match: a match → 304 for GET/HEAD. It takes precedence over 4.
    if let Some(value) = req.header("if-none-match") {
        if weak_match(value, v.etag) {
            return Outcome::NotModified;
        }
    } else if let Some(since) = req.header("if-modified-since").and_then(date::parse) {
        // 4. If-Modified-Since: not modified since → 304.
        if v.modified <= since {
            return Outcome::NotModified;
        }
    }
    // 5. Range, only for GET, only when If-Range (if any) still holds.
    if req.method != Method::Get {
        return Outcome::Full;
    }
    let Some(range) = req.header("range") else {
        return Outcome::Full;
    };
    if let Some(if_range) = req.header("if-range") {
        let holds = if if_range.starts_with('"') || if_range.starts_with("W/") {
            !if_range.starts_with("W/") && if_range == v.etag
        } else {
            date::parse(if_range) == Some(v.modified)
        };
        if !holds {
            return Outcome::Full;
        }
    }
    byte_range(range, v.len)
}

/// One `bytes=` range against a representation of `len` bytes. Anything we do not
/// understand (another unit, several ranges, bad syntax) is ignored: 200 with everything,
/// which RFC 9110 §14.2 allows.
pub(crate) fn byte_range(value: &str, len: u64) -> Outcome {
    let Some((unit, set)) = value.split_once('=') else {
        return Outcome::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return Outcome::Full;
    }
    let Some((a, b)) = set.trim().split_once('-') else {
        return Outcome::Full;
    };
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a, b) {
        ("", suffix) => match num(suffix) {
            None => Outcome::Full,
            Some(0) => Outcome::Unsatisfiable,
            Some(_) if len == 0 => Outcome::Unsatisfiable,
            Some(n) => Outcome::Partial {
                first: len.saturating_sub(n),
                last: len - 1,
            },
        },
        (first, "") => match num(first) {
            None => Outcome::Full,
            Some(f) if f >= len => Outcome::Unsatisfiable,
            Some(f) => Outcome::Partial {
                first: f,
                last: len - 1,
            },
        },
        (first, last) => match (num(first), num(last)) {
            (Some(f), Some(l)) if f <= l => {
                if f >= len {
                    Outcome::Unsatisfiable
                } else {
                    Outcome::Partial {
                        first: f,
                        last: l.min(len - 1),
                    }
                }
            }
            _ => Outcome::Full,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::http::request::{Limits, Parsed, parse};

    fn eval(extra: &str, method: &str) -> Outcome {
        let head = format!("{method} / HTTP/1.1\r\nHost: x\r\n{extra}\r\n");
        parse(head.as_bytes(), &Limits::default(), |p| {
            let Parsed::Complete(req) = p else { panic!() };
            evaluate(
                &req,
                Validators {
                    etag: "\"abc\"",
                    modified: 784_111_777,
                    len: 1000,
                },
            )
        })
    }

    #[test]
    fn conditionals_in_rfc_order() {
        use Outcome::*;
        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        let earlier = "Sun, 06 Nov 1994 08:49:36 GMT";
        assert_eq!(eval("", "GET"), Full);
        assert_eq!(eval("If-None-Match: \"abc\"\r\n", "GET"), NotModified);
        assert_eq!(eval("If-None-Match: W/\"abc\"\r\n", "HEAD"), NotModified);
        assert_eq!(
            eval("If-None-Match: \"x\", \"abc\"\r\n", "GET"),
            NotModified
        );
        assert_eq!(eval("If-None-Match: *\r\n", "GET"), NotModified);
        assert_eq!(eval("If-None-Match: \"x\"\r\n", "GET"), Full);
        // A malformed tag ends the list: what follows it is not looked at.
        assert_eq!(eval("If-None-Match: x, \"abc\"\r\n", "GET"), Full);
        assert_eq!(eval("If-None-Match: \"x, \"abc\"\r\n", "GET"), Full);
        assert_eq!(eval("If-None-Match: \"x\" \"abc\"\r\n", "GET"), NotModified);
        assert_eq!(
            eval(&format!("If-Modified-Since: {lm}\r\n"), "GET"),
            NotModified
        );
        assert_eq!(
            eval(&format!("If-Modified-Since: {earlier}\r\n"), "GET"),
            Full
        );
        assert_eq!(eval("If-Modified-Since: garbage\r\n", "GET"), Full);
        // If-None-Match takes precedence over If-Modified-Since.
        assert_eq!(
            eval(
                &format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {lm}\r\n"),
                "GET"
            ),
            Full
        );
        assert_eq!(eval("If-Match: \"x\"\r\n", "GET"), PreconditionFailed);
        assert_eq!(eval("If-Match: W/\"abc\"\r\n", "GET"), PreconditionFailed);
        assert_eq!(eval("If-Match: \"abc\"\r\n", "GET"), Full);
        assert_eq!(
            eval(&format!("If-Unmodified-Since: {earlier}\r\n"), "GET"),
            PreconditionFailed
        );
        assert_eq!(eval(&format!("If-Unmodified-Since: {lm}\r\n"), "GET"), Full);
    }

    #[test]
    fn ranges() {
        use Outcome::*;
        assert_eq!(
            eval("Range: bytes=0-99\r\n", "GET"),
            Partial { first: 0, last: 99 }
        );
        assert_eq!(eval("Range: bytes=0-99\r\n", "HEAD"), Full);
        assert_eq!(
            byte_range("bytes=900-", 1000),
            Partial {
                first: 900,
                last: 999
            }
        );
        assert_eq!(
            byte_range("bytes=-100", 1000),
            Partial {
                first: 900,
                last: 999
            }
        );
        assert_eq!(
            byte_range("bytes=-5000", 1000),
            Partial {
                first: 0,
                last: 999
            }
        );
        assert_eq!(
            byte_range("bytes=990-5000", 1000),
            Partial {
                first: 990,
                last: 999
            }
        );
        assert_eq!(byte_range("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(byte_range("bytes=5-1", 1000), Full);
        assert_eq!(byte_range("bytes=0-1,5-6", 1000), Full);
        assert_eq!(byte_range("lines=0-1", 1000), Full);
        assert_eq!(
            eval("Range: bytes=0-1\r\nIf-Range: \"abc\"\r\n", "GET"),
            Partial { first: 0, last: 1 }
        );
        assert_eq!(
            eval("Range: bytes=0-1\r\nIf-Range: \"old\"\r\n", "GET"),
            Full
        );
    }
}
