//! What a request target names: a file under the `--www` root, a generated directory
//! listing, or the embedded page when there is no root.
//!
//! Targets are percent-decoded and split into segments; a `..` segment (encoded or not) is
//! refused outright, and the joined path is canonicalized and must still start with the
//! canonical root, so symlinks cannot lead out of it either. Files are opened here and
//! streamed by the caller in chunks; only listings and the embedded page live in memory.
//!
//! A resource's validators are kept inline (`ETag`, `HttpDate`) and the embedded page's
//! are computed once, so a GET of the page or of a small file allocates nothing here.

use super::date::HttpDate;
use std::borrow::Cow;
use std::ffi::OsStr;
use std::fs::File;
use std::hash::Hasher;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Where a representation's bytes come from.
pub(crate) enum Source {
    /// An open file, streamed in chunks from its current position.
    File(File),
    /// Bytes in memory: a listing or the embedded page.
    Memory(Arc<[u8]>),
}

/// A selected representation (RFC 9110 §3.2) with its validators.
pub(crate) struct Resource {
    /// The Content-Type field value, chosen by file extension.
    pub(crate) content_type: &'static str,
    /// The representation's length in bytes.
    pub(crate) len: u64,
    /// Last-Modified, Unix seconds.
    pub(crate) modified: u64,
    /// `modified` as an HTTP-date, for the Last-Modified field.
    pub(crate) last_modified: HttpDate,
    /// A strong entity tag, quotes included.
    pub(crate) etag: ETag,
    /// Where the bytes come from.
    pub(crate) source: Source,
}

/// A strong entity tag (RFC 9110 §8.8.3), quotes included, kept inline: `"` + 16 hex digits
/// + `"` for content we hash, `"len-mtime_ns"` in hex for files (at most 51 bytes).
#[derive(Clone, Copy)]
pub(crate) struct ETag {
    buf: [u8; 56],
    len: u8,
}

impl ETag {
    /// `"{hash:016x}"`.
    fn of_hash(hash: u64) -> ETag {
        let mut t = ETag::open();
        t.push_hex(u128::from(hash), 16);
        t.close()
    }

    /// `"{len:x}-{nanos:x}"`.
    fn of_file(len: u64, nanos: u128) -> ETag {
        let mut t = ETag::open();
        t.push_hex(u128::from(len), 1);
        t.buf[t.len as usize] = b'-';
        t.len += 1;
        t.push_hex(nanos, 1);
        t.close()
    }

    fn open() -> ETag {
        let mut t = ETag {
            buf: [0; 56],
            len: 1,
        };
        t.buf[0] = b'"';
        t
    }

    fn close(mut self) -> ETag {
        self.buf[self.len as usize] = b'"';
        self.len += 1;
        self
    }

    /// Lower-case hex, at least `min` digits.
    fn push_hex(&mut self, v: u128, min: usize) {
        let digits = (128 - v.leading_zeros() as usize).div_ceil(4).max(min);
        for i in (0..digits).rev() {
            let nibble = (v >> (4 * i)) as u8 & 0xf;
            self.buf[self.len as usize] = b"0123456789abcdef"[nibble as usize];
            self.len += 1;
        }
    }

    /// The tag as ASCII bytes, quotes included, ready for the ETag field.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The tag as text, quotes included, for comparison with If-Match and If-None-Match.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

/// The outcome of resolving a target.
pub(crate) enum Lookup {
    /// A file, a listing or the embedded page.
    Found(Resource),
    /// A directory named without its trailing slash: 301 to this location.
    Redirect(String),
    /// 404: nothing there, outside the root, or refused (`..`, NUL).
    NotFound,
    /// 400: not origin-form or absolute-form, or a malformed `%` escape.
    BadRequest,
}

/// The content served: a canonical root directory or the embedded page.
pub struct Site {
    root: Option<PathBuf>,
    page: Arc<[u8]>,
    page_modified: u64,
    /// The page's validators, computed once.
    page_etag: ETag,
    page_last_modified: HttpDate,
}

/// Shown at `/` when no `--www` directory is given.
const PAGE: &str = include_str!("page.html");

impl Site {
    /// `root`: the directory to serve (must exist); `started`: Unix time used as the
    /// embedded page's Last-Modified.
    pub fn new(root: Option<&Path>, started: u64) -> io::Result<Site> {
        let root = match root {
            Some(dir) => {
                let canonical = dir.canonicalize()?;
                if !canonical.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotADirectory,
                        format!("{} is not a directory", dir.display()),
                    ));
                }
                Some(canonical)
            }
            None => None,
        };
        Ok(Site {
            root,
            page: Arc::from(PAGE.as_bytes()),
            page_modified: started,
            page_etag: ETag::of_hash(content_hash(PAGE.as_bytes())),
            page_last_modified: HttpDate::new(started),
        })
    }

    /// The canonical directory served; `None` when serving the embedded page.
    pub(crate) fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Resolves a request target (origin-form or absolute-form).
    pub(crate) fn lookup(&self, target: &str) -> Lookup {
        let path = match target
            .strip_prefix("http://")
            .or(target.strip_prefix("https://"))
        {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => target,
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        if !path.starts_with('/') {
            return Lookup::BadRequest;
        }
        let decoded: Cow<'_, [u8]> = if path.contains('%') {
            match percent_decode(path) {
                Some(d) => Cow::Owned(d),
                None => return Lookup::BadRequest,
            }
        } else {
            Cow::Borrowed(path.as_bytes())
        };
        if decoded.contains(&0) {
            return Lookup::NotFound;
        }
        let segments = || {
            decoded
                .split(|&b| b == b'/')
                .filter(|s| !matches!(*s, b"" | b"."))
        };
        if segments().any(|s| s == b"..") {
            log::debug!("http: refusing a target with '..': {target:?}");
            return Lookup::NotFound;
        }
        let Some(root) = &self.root else {
            let mut it = segments();
            return match (it.next(), it.next()) {
                (None, _) | (Some(b"index.html"), None) => Lookup::Found(Resource {
                    content_type: "text/html; charset=utf-8",
                    len: self.page.len() as u64,
                    modified: self.page_modified,
                    last_modified: self.page_last_modified,
                    etag: self.page_etag,
                    source: Source::Memory(self.page.clone()),
                }),
                _ => Lookup::NotFound,
            };
        };
        let mut joined = root.clone();
        for s in segments() {
            joined.push(OsStr::from_bytes(s));
        }
        let Some(real) = inside(root, &joined) else {
            return Lookup::NotFound;
        };
        // Open first and take the metadata from the open file: a file costs one open and one
        // fstat. What cannot be opened (a directory we may not read) is looked at by path.
        let (file, meta) = match File::open(&real).and_then(|f| Ok((f.metadata()?, f))) {
            Ok((meta, file)) => (Some(file), meta),
            Err(_) => match real.metadata() {
                Ok(meta) => (None, meta),
                Err(_) => return Lookup::NotFound,
            },
        };
        if meta.is_dir() {
            if !decoded.ends_with(b"/") {
                let query = &target[target.find('?').unwrap_or(target.len())..];
                return Lookup::Redirect(format!("{path}/{query}"));
            }
            if let Some(index) = inside(root, &real.join("index.html"))
                && index.is_file()
            {
                return self.file(&index);
            }
            let listing = listing(&real, path);
            return Lookup::Found(self.memory(
                Arc::from(listing.into_bytes()),
                "text/html; charset=utf-8",
                mtime(&meta),
            ));
        }
        match file {
            Some(file) => self.opened(&real, file, &meta),
            None => Lookup::NotFound,
        }
    }

    fn memory(&self, bytes: Arc<[u8]>, content_type: &'static str, modified: u64) -> Resource {
        Resource {
            content_type,
            len: bytes.len() as u64,
            modified,
            last_modified: HttpDate::new(modified),
            etag: ETag::of_hash(content_hash(&bytes)),
            source: Source::Memory(bytes),
        }
    }

    fn file(&self, path: &Path) -> Lookup {
        let Ok(file) = File::open(path) else {
            return Lookup::NotFound;
        };
        let Ok(meta) = file.metadata() else {
            return Lookup::NotFound;
        };
        self.opened(path, file, &meta)
    }

    /// A file opened at `path`, with the metadata of the open file.
    fn opened(&self, path: &Path, file: File, meta: &std::fs::Metadata) -> Lookup {
        if !meta.is_file() {
            return Lookup::NotFound;
        }
        let nanos = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let modified = mtime(meta);
        Lookup::Found(Resource {
            content_type: content_type(path),
            len: meta.len(),
            modified,
            last_modified: HttpDate::new(modified),
            // Strong: size and nanosecond mtime change whenever the file's bytes do (as
            // nginx and Apache do it).
            etag: ETag::of_file(meta.len(), nanos),
            source: Source::File(file),
        })
    }
}

/// The hash behind the entity tag of content served from memory.
fn content_hash(bytes: &[u8]) -> u64 {
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0x7475_6e73, 0x7461_636b);
    h.write(bytes);
    h.finish()
}

/// The canonical form of `path` if it exists and lies inside `root`.
fn inside(root: &Path, path: &Path) -> Option<PathBuf> {
    let real = path.canonicalize().ok()?;
    if real.starts_with(root) {
        Some(real)
    } else {
        log::debug!("http: {} leads outside the root", path.display());
        None
    }
}

fn mtime(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// `%XX` decoding (RFC 3986 §2.1); `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes all but RFC 3986 unreserved characters.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes the five HTML-special characters, for names in a listing.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most this many entries in a listing (bounded memory for huge directories).
const MAX_LISTING: usize = 10_000;

fn listing(dir: &Path, url_path: &str) -> String {
    let mut entries: Vec<(Vec<u8>, bool)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .take(MAX_LISTING)
                .map(|e| {
                    let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                    (e.file_name().as_bytes().to_vec(), is_dir)
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    let title = html_escape(&String::from_utf8_lossy(
        &percent_decode(url_path).unwrap_or_default(),
    ));
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        html.push_str(&format!(
            "<li><a href=\"{}{slash}\">{}{slash}</a></li>\n",
            percent_encode(&name),
            html_escape(&String::from_utf8_lossy(&name))
        ));
    }
    html.push_str("</ul>\n<hr><p>tunstack</p></body></html>\n");
    html
}

/// Media type by file extension.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "text" | "log") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("csv") => "text/csv; charset=utf-8",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("pdf") => "application/pdf",
        Some("wasm") => "application/wasm",
        Some("woff2") => "font/woff2",
        Some("mp4") => "video/mp4",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        Some("tar") => "application/x-tar",
        Some("pcap") => "application/vnd.tcpdump.pcap",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// File entity tags read as `format!("\"{:x}-{:x}\"", len, mtime_ns)` would.
    #[test]
    fn file_etags_match_the_format() {
        for (len, nanos) in [
            (0u64, 0u128),
            (1143, 1_700_000_000_123_456_789),
            (u64::MAX, u128::MAX),
        ] {
            let expected = format!("\"{len:x}-{nanos:x}\"");
            assert_eq!(ETag::of_file(len, nanos).as_str(), expected);
        }
        assert_eq!(ETag::of_hash(0xab).as_str(), "\"00000000000000ab\"");
    }

    #[test]
    fn decoding_and_types() {
        assert_eq!(percent_decode("/a%20b%2e%2E").unwrap(), b"/a b..");
        assert!(percent_decode("/%zz").is_none());
        assert!(percent_decode("/%2").is_none());
        assert_eq!(percent_encode(b"a b&<"), "a%20b%26%3C");
        assert_eq!(
            content_type(Path::new("x/INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("x.bin")), "application/octet-stream");
    }

    #[test]
    fn embedded_page_without_a_root() {
        let site = Site::new(None, 1_700_000_000).unwrap();
        let Lookup::Found(r) = site.lookup("/") else {
            panic!()
        };
        assert!(r.content_type.starts_with("text/html"));
        assert_eq!(r.modified, 1_700_000_000);
        assert_eq!(r.last_modified.as_str(), "Tue, 14 Nov 2023 22:13:20 GMT");
        // Computed once, and the same as hashing the page at the request.
        let expected = format!("\"{:016x}\"", content_hash(PAGE.as_bytes()));
        assert_eq!(r.etag.as_str(), expected);
        assert!(matches!(site.lookup("/index.html"), Lookup::Found(_)));
        assert!(matches!(site.lookup("/./index.html"), Lookup::Found(_)));
        assert!(matches!(site.lookup("/%69ndex.html"), Lookup::Found(_)));
        assert!(matches!(site.lookup("/index.html/x"), Lookup::NotFound));
        assert!(matches!(site.lookup("/%zz"), Lookup::BadRequest));
        assert!(matches!(site.lookup("/nope"), Lookup::NotFound));
        assert!(matches!(site.lookup("/../etc/passwd"), Lookup::NotFound));
        assert!(matches!(site.lookup("*"), Lookup::BadRequest));
    }
}
