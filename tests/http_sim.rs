//! The HTTP/1.1 server end to end over our TCP in the simulator: a second stack is the
//! client, time is simulated. RFC 9112 (messages, persistence, pipelining), RFC 9110
//! (status codes, conditional requests, ranges), RFC 9111 (Cache-Control).

mod http_common;

use http_common::*;
use std::os::unix::fs::symlink;
use tunstack::app::http::date;
use tunstack::time::Duration;

const GET: &str = "GET / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n";

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 198.18.0.2\r\n{extra}\r\n")
}

fn site(name: &str) -> std::path::PathBuf {
    let dir = www(name);
    std::fs::write(dir.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(dir.join("b.txt"), b"bravo bravo\n").unwrap();
    std::fs::write(dir.join("big.bin"), pattern(300_000)).unwrap();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/index.html"), b"<h1>sub</h1>\n").unwrap();
    std::fs::create_dir(dir.join("list")).unwrap();
    std::fs::write(dir.join("list/x <&>.txt"), b"x").unwrap();
    std::fs::write(dir.join("list/y.txt"), b"y").unwrap();
    dir
}

#[test]
fn embedded_page_with_date_server_type_and_length() {
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    let r = sim.exchange(h, GET);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(
        r.header("content-length").unwrap(),
        r.body.len().to_string()
    );
    assert!(String::from_utf8_lossy(&r.body).contains("tunstack"));
    assert!(r.header("server").unwrap().starts_with("tunstack/"));
    // Date is the epoch the daemon passed in plus the loop's clock.
    let date = date::parse(r.header("date").unwrap()).unwrap();
    assert_eq!(date, EPOCH + sim.now.as_micros() / 1_000_000);
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    assert!(r.header("etag").unwrap().starts_with('"'));
    assert!(r.header("last-modified").is_some());

    // HEAD: the same fields, no body.
    let head = sim.exchange(h, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), r.header("content-length"));
    assert_eq!(head.header("etag"), r.header("etag"));
    sim.advance(Duration::from_millis(100));
    assert!(sim.peer(h).inbox.is_empty(), "HEAD sent a body");
    assert_eq!(sim.exchange(h, &get("/nope", "")).status, 404);
}

/// RFC 9112 §9.3: keep-alive by default in HTTP/1.1; §9.3.2: pipelined requests are
/// answered in the order received.
#[test]
fn keep_alive_reuses_one_connection_and_pipelined_requests_are_answered_in_order() {
    let dir = site("pipeline");
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    let pipelined = format!(
        "{}{}HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n{}{}",
        get("/a.txt", ""),
        get("/b.txt", ""),
        get("/big.bin", ""),
        get("/missing", "")
    );
    sim.write(h, pipelined.as_bytes());
    let a = sim.response(h, false);
    let b = sim.response(h, false);
    let head = sim.response(h, true);
    let big = sim.response(h, false);
    let missing = sim.response(h, false);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"alpha\n"[..]));
    assert_eq!((b.status, b.body.as_slice()), (200, &b"bravo bravo\n"[..]));
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("6"));
    assert_eq!(big.body, pattern(300_000));
    assert_eq!(missing.status, 404);
    for r in [&a, &b, &head, &big] {
        assert_eq!(
            r.header("connection"),
            None,
            "HTTP/1.1 keeps alive silently"
        );
        assert!(r.header("content-type").is_some());
    }
    assert_eq!(a.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(big.header("content-type"), Some("application/octet-stream"));
    // Later, the same connection again.
    sim.advance(Duration::from_secs(3));
    assert_eq!(sim.exchange(h, &get("/a.txt", "")).status, 200);
    assert!(!sim.peer(h).eof);
    assert_eq!(sim.server.stack.tcp().counters().passive_opens, 1);
    assert!(
        sim.summary().contains("1 connections, 6 requests"),
        "{}",
        sim.summary()
    );
}

/// `Connection: close` from the client: the response says so and the server closes;
/// HTTP/1.0 closes unless it asked for keep-alive.
#[test]
fn connection_close_and_http_1_0_keep_alive_only_when_asked() {
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    let r = sim.exchange(h, &get("/", "Connection: close\r\n"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(sim.wait_eof(h, Duration::from_secs(1)), "server closed");

    let h = sim.open(80, None);
    let r = sim.exchange(h, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(sim.wait_eof(h, Duration::from_secs(1)));

    let h = sim.open(80, None);
    let r = sim.exchange(h, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    assert!(r.header("keep-alive").unwrap().starts_with("timeout="));
    let again = sim.exchange(h, "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(again.status, 200);
    assert!(!sim.peer(h).eof);

    // A client that half-closes after its request still gets the answer, then our FIN.
    let h = sim.open(80, None);
    sim.write(h, GET.as_bytes());
    sim.run_until(Duration::from_secs(1), |s| {
        s.peer(h).connected && s.peer(h).outbox.is_empty()
    });
    sim.close(h);
    let r = sim.response(h, false);
    assert_eq!(r.status, 200);
    assert!(sim.wait_eof(h, Duration::from_secs(1)));
}

/// An idle kept-alive connection is closed quietly (no 408) after the idle timeout.
#[test]
fn idle_keep_alive_connection_closes_quietly() {
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    assert_eq!(sim.exchange(h, GET).status, 200);
    sim.advance(Duration::from_secs(10));
    assert!(!sim.peer(h).eof, "still open within the idle timeout");
    assert!(sim.wait_eof(h, Duration::from_secs(10)));
    assert!(sim.peer(h).inbox.is_empty(), "closed without a response");
    assert!(sim.summary().contains("1 idle closes"), "{}", sim.summary());
}

/// Slowloris: a head trickled a byte at a time never completes; at the header deadline the
/// server answers 408 and closes.
#[test]
fn slow_header_is_timed_out_with_408() {
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    sim.advance(Duration::from_millis(100));
    let start = sim.now;
    for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaa".iter() {
        sim.write(h, &[*b]);
        sim.advance(Duration::from_millis(500));
        if sim.peer(h).eof {
            break;
        }
    }
    let r = take(&mut sim, h);
    assert_eq!(r.status, 408);
    assert_eq!(r.header("connection"), Some("close"));
    assert!(sim.wait_eof(h, Duration::from_secs(1)));
    let elapsed = sim.now - start;
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    assert!(
        sim.summary().contains("1 header timeouts"),
        "{}",
        sim.summary()
    );
}

fn take(sim: &mut Sim, h: tunstack::stack::SocketHandle) -> Response {
    sim.take_response(h, false)
        .unwrap_or_else(|| sim.response(h, false))
}

/// RFC 9110 §13.1-13.2: If-None-Match (precedence) and If-Modified-Since → 304 without a
/// body; If-Match and If-Unmodified-Since that fail → 412.
#[test]
fn conditional_requests_304_and_412() {
    let dir = site("conditional");
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    let r = sim.exchange(h, &get("/a.txt", ""));
    let etag = r.header("etag").unwrap().to_string();
    let lm = r.header("last-modified").unwrap().to_string();
    let modified = date::parse(&lm).unwrap();

    let r = sim.exchange(h, &get("/a.txt", &format!("If-None-Match: {etag}\r\n")));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert_eq!(r.header("cache-control"), Some("max-age=60"));
    let r = sim.exchange(h, &get("/a.txt", &format!("If-Modified-Since: {lm}\r\n")));
    assert_eq!(r.status, 304);
    let later = date::format(modified + 3600);
    let earlier = date::format(modified - 3600);
    assert_eq!(
        sim.exchange(
            h,
            &get("/a.txt", &format!("If-Modified-Since: {later}\r\n"))
        )
        .status,
        304
    );
    let r = sim.exchange(
        h,
        &get("/a.txt", &format!("If-Modified-Since: {earlier}\r\n")),
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha\n"[..]));
    // If-None-Match takes precedence over If-Modified-Since.
    let r = sim.exchange(
        h,
        &get(
            "/a.txt",
            &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {lm}\r\n"),
        ),
    );
    assert_eq!(r.status, 200);
    let r = sim.exchange(h, &get("/a.txt", "If-Match: \"other\"\r\n"));
    assert_eq!(r.status, 412);
    let r = sim.exchange(h, &get("/a.txt", &format!("If-Match: {etag}\r\n")));
    assert_eq!(r.status, 200);
    let r = sim.exchange(
        h,
        &get("/a.txt", &format!("If-Unmodified-Since: {earlier}\r\n")),
    );
    assert_eq!(r.status, 412);
    let r = sim.exchange(h, &get("/a.txt", &format!("If-Unmodified-Since: {lm}\r\n")));
    assert_eq!(r.status, 200);
    // Changing the file changes the validator.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(sim_dir("conditional").join("a.txt"), b"alpha 2\n").unwrap();
    let r = sim.exchange(h, &get("/a.txt", &format!("If-None-Match: {etag}\r\n")));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"alpha 2\n"[..]));
    assert_ne!(r.header("etag"), Some(etag.as_str()));
}

fn sim_dir(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/http-sim")
        .join(name)
}

/// RFC 9110 §14: a byte range → 206 with Content-Range; a range past the end → 416 with
/// `Content-Range: bytes */len`; resuming from an offset returns the rest.
#[test]
fn byte_ranges_206_and_416() {
    let dir = site("ranges");
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    let all = pattern(300_000);
    let r = sim.exchange(h, &get("/big.bin", "Range: bytes=0-99\r\n"));
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), Some("bytes 0-99/300000"));
    assert_eq!(r.body, &all[..100]);
    let r = sim.exchange(h, &get("/big.bin", "Range: bytes=123456-\r\n"));
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &all[123_456..]);
    let r = sim.exchange(h, &get("/big.bin", "Range: bytes=-10\r\n"));
    assert_eq!(r.body, &all[300_000 - 10..]);
    let r = sim.exchange(h, &get("/big.bin", "Range: bytes=300000-\r\n"));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */300000"));
    assert!(r.header("accept-ranges").is_none());
    let full = sim.exchange(h, &get("/big.bin", ""));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let etag = full.header("etag").unwrap().to_string();
    let r = sim.exchange(
        h,
        &get(
            "/big.bin",
            &format!("Range: bytes=10-19\r\nIf-Range: {etag}\r\n"),
        ),
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &all[10..20]));
    let r = sim.exchange(
        h,
        &get("/big.bin", "Range: bytes=10-19\r\nIf-Range: \"stale\"\r\n"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 300_000);
}

#[track_caller]
fn refused(sim: &mut Sim, request: &[u8], status: u16, closes: bool) -> Response {
    let h = sim.open(80, None);
    sim.write(h, request);
    let r = sim.response(h, request.starts_with(b"HEAD "));
    assert_eq!(r.status, status, "{:?}", String::from_utf8_lossy(&r.body));
    if closes {
        assert_eq!(r.header("connection"), Some("close"));
        assert!(
            sim.wait_eof(h, Duration::from_secs(1)),
            "closed after {status}"
        );
    } else {
        assert!(r.header("connection").is_none());
        sim.advance(Duration::from_millis(100));
        assert!(!sim.peer(h).eof, "kept open after {status}");
    }
    r
}

/// 400 (then close), 404, 405 with Allow, 413, 414, 431, 501, 505.
#[test]
fn errors_400_404_405_413_414_431_505() {
    let mut sim = Sim::new(config(None));
    refused(
        &mut sim,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        400,
        true,
    );
    refused(&mut sim, b"GET / HTTP/1.1\r\n\r\n", 400, true); // no Host
    refused(&mut sim, b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, true);
    refused(&mut sim, get("/missing", "").as_bytes(), 404, false);
    let r = refused(
        &mut sim,
        b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n",
        405,
        false,
    );
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    // A small body with a refused method is read and skipped; the connection goes on.
    let h = sim.open(80, None);
    let r = sim.exchange(
        h,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.status, 405);
    assert_eq!(sim.exchange(h, GET).status, 200);
    refused(
        &mut sim,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n",
        413,
        true,
    );
    let long = get(&format!("/{}", "a".repeat(9000)), "");
    refused(&mut sim, long.as_bytes(), 414, true);
    let fat = get("/", &format!("X-Big: {}\r\n", "b".repeat(20_000)));
    refused(&mut sim, fat.as_bytes(), 431, true);
    let many: String = (0..100).map(|i| format!("X-{i}: y\r\n")).collect();
    refused(&mut sim, get("/", &many).as_bytes(), 431, true);
    refused(&mut sim, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, true);
    refused(&mut sim, b"GET / HTTP/3.1\r\nHost: x\r\n\r\n", 505, true);
    refused(
        &mut sim,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        501,
        true,
    );
}

/// `..` (plain or percent-encoded) and symlinks leading out of the root never reach a file
/// outside it; a symlink that stays inside works.
#[test]
fn path_traversal_never_escapes_the_root() {
    let base = www("traversal");
    let root = base.join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(base.join("secret.txt"), b"TOP SECRET").unwrap();
    std::fs::write(root.join("ok.txt"), b"fine").unwrap();
    symlink(base.join("secret.txt"), root.join("leak.txt")).unwrap();
    symlink(&base, root.join("up")).unwrap();
    symlink(root.join("ok.txt"), root.join("alias.txt")).unwrap();
    let mut sim = Sim::new(config(Some(root)));
    let h = sim.open(80, None);
    for target in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",
        "/ok.txt/../../secret.txt",
        "/./../secret.txt",
        "/%2e%2e%5csecret.txt",
        "/leak.txt",
        "/up/secret.txt",
        "/up/",
        "http://x/../secret.txt",
        "/ok.txt%00",
    ] {
        let r = sim.exchange(h, &get(target, ""));
        assert!(r.status == 404 || r.status == 400, "{target}: {}", r.status);
        assert!(
            !String::from_utf8_lossy(&r.body).contains("SECRET"),
            "{target} leaked"
        );
        if r.status == 400 {
            let h2 = sim.open(80, None);
            assert_eq!(sim.exchange(h2, &get("/ok.txt", "")).status, 200);
        }
    }
    let h = sim.open(80, None);
    let r = sim.exchange(h, &get("/alias.txt", ""));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"fine"[..]));
}

/// A directory: without its slash → 301; with index.html → that; otherwise a listing.
#[test]
fn directory_redirect_index_and_listing() {
    let dir = site("dirs");
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    let r = sim.exchange(h, &get("/sub", ""));
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("/sub/"));
    let r = sim.exchange(h, &get("/sub/", ""));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"<h1>sub</h1>\n"[..]));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let r = sim.exchange(h, &get("/list/", ""));
    assert_eq!(r.status, 200);
    let html = String::from_utf8(r.body).unwrap();
    assert!(
        html.contains("href=\"x%20%3C%26%3E.txt\">x &lt;&amp;&gt;.txt</a>"),
        "{html}"
    );
    assert!(html.contains("y.txt"));
    let r = sim.exchange(h, &get("/list/x%20%3C%26%3E.txt", ""));
    assert_eq!(r.body, b"x");
    let r = sim.exchange(h, &get("/", ""));
    let html = String::from_utf8(r.body).unwrap();
    assert!(html.contains("sub/") && html.contains("a.txt"), "{html}");
}

/// A 20 MiB file streamed in chunks as the send buffer frees, byte-exact.
#[test]
fn large_file_streams_byte_exact() {
    let dir = www("large");
    let data = pattern(20 << 20);
    std::fs::write(dir.join("large.bin"), &data).unwrap();
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    let r = sim.exchange(h, &get("/large.bin", ""));
    assert_eq!(r.status, 200);
    assert!(r.body == data, "body differs");
    assert!(sim.summary().contains("1 requests"), "{}", sim.summary());
}

/// A client that requests a large file and then stops reading: once nothing has moved for
/// the send timeout, the server gives up on it (RST) instead of holding it forever.
#[test]
fn a_client_that_stops_reading_is_reset_after_the_send_timeout() {
    let dir = www("stall");
    std::fs::write(dir.join("large.bin"), pattern(8 << 20)).unwrap();
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    sim.peer_mut(h).paused = true;
    sim.write(h, get("/large.bin", "").as_bytes());
    sim.advance(Duration::from_secs(30));
    assert!(
        sim.peer(h).closed.is_none(),
        "still open while within the timeout"
    );
    assert!(sim.run_until(Duration::from_secs(60), |s| s.peer(h).closed.is_some()));
    assert_eq!(sim.peer(h).closed, Some(tunstack::tcp::CloseReason::Reset));
    assert!(sim.summary().contains("1 stalled"), "{}", sim.summary());
}

/// A client that resets mid-download: the server drops that connection and serves others.
#[test]
fn a_client_reset_mid_download_is_forgotten() {
    let dir = www("reset");
    std::fs::write(dir.join("large.bin"), pattern(4 << 20)).unwrap();
    let mut sim = Sim::new(config(Some(dir)));
    let h = sim.open(80, None);
    sim.write(h, get("/large.bin", "").as_bytes());
    sim.run_until(Duration::from_secs(10), |s| s.peer(h).inbox.len() > 500_000);
    sim.client.tcp_mut().abort(h).unwrap();
    sim.advance(Duration::from_secs(1));
    assert_eq!(
        sim.server.stack.tcp().len(),
        0,
        "the server's connection is gone"
    );
    let h = sim.open(80, None);
    assert_eq!(sim.exchange(h, GET).status, 200);
    assert!(
        sim.summary().contains("2 connections, 2 requests"),
        "{}",
        sim.summary()
    );
}

/// 3% loss each way with 5 ms delay: keep-alive exchanges and a 2 MiB file still arrive.
#[test]
fn lossy_link_still_delivers() {
    let dir = www("lossy");
    let data = pattern(2 << 20);
    std::fs::write(dir.join("f.bin"), &data).unwrap();
    let mut sim = Sim::with_faults(config(Some(dir)), Some((0.03, 11)));
    let h = sim.open(80, None);
    for _ in 0..3 {
        let r = sim.exchange(h, &get("/f.bin", ""));
        assert!(r.status == 200 && r.body == data);
    }
    let r = sim.exchange(h, &get("/f.bin", "Range: bytes=1000-1999\r\n"));
    assert_eq!(r.body, &data[1000..2000]);
    assert!(sim.server.stack.tcp().counters().passive_opens == 1);
}
