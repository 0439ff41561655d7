//! HTTP/1.1 keep-alive GETs in process, no TUN: the cost of one small request on the server.
//!
//!     http_bench [--requests N] [--only exchange|stack] [--www DIR] [--target /PATH]
//!     http_bench --dump [--www DIR]
//!
//! `exchange` drives one connection's `Exchange` directly: a request in, `process`, the
//! response out, N times — the HTTP layer alone. `stack` runs the `HttpServer` app in a
//! `Runtime` on one end of `link::Memory` and a client `Stack` on the other, one keep-alive
//! connection, N requests one after another (each sent when the previous response is in) —
//! the whole server path, TCP included. Without `--www` the embedded page is served.
//!
//! `--dump` prints the raw responses to a fixed set of requests (conditionals, ranges, HEAD,
//! errors, pipelining), for comparing two builds byte for byte.
//!
//! Prints per mode: requests/s (wall clock) and CPU µs per request (process user + system
//! time from getrusage(2)). Bounded: N requests, and each response must arrive within 10,000
//! rounds.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Instant as WallInstant;
use tunstack::app::http::exchange::{Exchange, Shared};
use tunstack::app::http::request::Limits;
use tunstack::app::http::resource::Site;
use tunstack::app::http::{HttpConfig, HttpServer};
use tunstack::link::{Link, Memory};
use tunstack::runtime::Runtime;
use tunstack::stack::{Stack, StackConfig};
use tunstack::time::{Duration, Instant};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Unix time of `Instant::ZERO`.
const EPOCH: u64 = 1_700_000_000;
/// Rounds one response may take in `stack` mode before the run is declared stuck.
const MAX_ROUNDS: u32 = 10_000;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn report(mode: &str, n: u64, wall: f64, cpu: f64) {
    println!(
        "{mode}: {n} requests, {:.0} req/s, {:.3} µs CPU/request",
        n as f64 / wall,
        cpu * 1e6 / n as f64
    );
}

/// The length of the first complete response in `buf` (head + Content-Length), if any.
fn response_len(buf: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = resp.parse(buf).expect("a valid response") else {
        return None;
    };
    assert_eq!(resp.code, Some(200), "{}", String::from_utf8_lossy(buf));
    let len: usize = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
        .expect("Content-Length");
    (buf.len() >= head + len).then_some(head + len)
}

fn exchange(n: u64, www: Option<&PathBuf>, request: &[u8]) {
    let shared = shared(www);
    let mut ex = Exchange::new(Instant::ZERO);
    let mut sink = 0u64;
    let mut first = Vec::new();
    let (wall, cpu) = (WallInstant::now(), cpu_seconds());
    for i in 0..n {
        // 1 ms per request: the Date changes every thousand requests.
        let now = Instant::from_micros(i * 1000);
        ex.input(now, request);
        ex.process(now, &shared);
        loop {
            let out = ex.output();
            if out.is_empty() {
                break;
            }
            if i == 0 {
                first.extend_from_slice(out);
            }
            let k = out.len();
            sink += k as u64;
            ex.consume(now, k);
        }
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    assert_eq!(
        response_len(&first),
        Some(first.len()),
        "one whole response"
    );
    assert_eq!(ex.tally.requests, n);
    assert!(sink > 0 && !ex.is_closing());
    report("exchange", n, wall, cpu);
}

/// `--dump`: the raw bytes answered to a fixed set of requests, each on a fresh connection,
/// for comparing two builds byte for byte.
fn dump(www: Option<&PathBuf>) {
    use std::io::Write;
    let shared = shared(www);
    let ims = "Tue, 14 Nov 2023 22:13:20 GMT";
    let requests: Vec<String> = [
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /index.html HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: *\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\", W/\"b\"\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nIf-Match: \"nope\"\r\n\r\n",
        "GET /small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\n\r\n",
        "GET /small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n",
        "GET /small.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=99999-\r\n\r\n",
        "HEAD /small.txt HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=70000-70010\r\n\r\n",
        "GET /sub HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /../x HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    .iter()
    .map(|r| r.to_string())
    .chain([
        format!("GET / HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {ims}\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: x\r\nIf-Unmodified-Since: {ims}\r\n\r\n"),
        format!("GET /small.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {ims}\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nIf-Range: {ims}\r\n\r\n"),
        format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)),
    ])
    .collect();
    let mut stdout = std::io::stdout().lock();
    for (i, r) in requests.iter().enumerate() {
        let now = Instant::from_secs(i as u64 * 7 + 1);
        let mut ex = Exchange::new(now);
        ex.input(now, r.as_bytes());
        let mut got = Vec::new();
        for _ in 0..1000 {
            ex.process(now, &shared);
            let out = ex.output();
            if out.is_empty() {
                break;
            }
            got.extend_from_slice(out);
            let k = out.len();
            ex.consume(now, k);
        }
        writeln!(
            stdout,
            "=== {i} closing={} broken={} requests={}",
            ex.is_closing(),
            ex.is_broken(),
            ex.tally.requests
        )
        .unwrap();
        stdout.write_all(&got).unwrap();
        writeln!(stdout).unwrap();
    }
}

fn shared(www: Option<&PathBuf>) -> Shared {
    Shared {
        site: Site::new(www.map(PathBuf::as_path), EPOCH).expect("www"),
        limits: Limits::default(),
        max_age: 60,
        unix_epoch_us: EPOCH * 1_000_000,
        idle_timeout: Duration::from_secs(15),
        header_timeout: Duration::from_secs(10),
        send_timeout: Duration::from_secs(60),
        server: "tunstack/bench".to_string(),
        date: Default::default(),
    }
}

fn stack(n: u64, www: Option<&PathBuf>, request: &[u8]) {
    let (ours, mut theirs) = Memory::pair();
    let mut server = Runtime::new(Stack::new(StackConfig::default()), ours);
    let config = HttpConfig {
        www: www.cloned(),
        unix_epoch_us: EPOCH * 1_000_000,
        ..HttpConfig::default()
    };
    server
        .add_app(
            Instant::ZERO,
            Box::new(HttpServer::new(config).expect("server")),
        )
        .expect("start");
    let mut client = Stack::new(StackConfig {
        addr: CLIENT,
        isn_secret: [0x33; 16],
        ..StackConfig::default()
    });
    let mut now = Instant::ZERO;
    let h = client
        .tcp_mut()
        .connect(now, SocketAddrV4::new(SERVER, 80), None, 0)
        .expect("connect");
    let mut buf = vec![0u8; 65_536];
    let mut inbox: Vec<u8> = Vec::new();
    let mut done = 0u64;
    let mut pending = false;
    let (mut wall, mut cpu) = (WallInstant::now(), cpu_seconds());
    let mut rounds = 0u32;
    while done < n {
        rounds += 1;
        assert!(rounds < MAX_ROUNDS, "no response after {rounds} rounds");
        if !pending && client.tcp_mut().send(h, request).is_ok_and(|k| k > 0) {
            pending = true;
        }
        let next = server.turn(&|| now).expect("server turn");
        while let Some(k) = theirs.recv(now, &mut buf).expect("link").map(|d| d.len) {
            client.handle_packet(now, &buf[..k]);
        }
        if client.poll_timeout().is_some_and(|at| at <= now) {
            client.handle_timeout(now);
        }
        while let Ok(k) = client.tcp_mut().recv(h, &mut buf) {
            if k == 0 {
                break;
            }
            inbox.extend_from_slice(&buf[..k]);
        }
        if let Some(len) = response_len(&inbox) {
            inbox.drain(..len);
            pending = false;
            done += 1;
            rounds = 0;
            if done == 1 {
                // Time from the first response on: the handshake is not a request.
                (wall, cpu) = (WallInstant::now(), cpu_seconds());
            }
        }
        let mut sent = false;
        while let Some(k) = client.poll_transmit(now, &mut buf) {
            theirs.send_plain(now, &buf[..k]).expect("link");
            sent = true;
        }
        // 10 µs per round; jump to the next deadline when nothing moves.
        now += Duration::from_micros(10);
        if !sent && pending && theirs.pending() == 0 {
            let next = Instant::min_opt(next, client.poll_timeout());
            if let Some(at) = next
                && at > now
            {
                now = at;
            }
        }
    }
    let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    report("stack", n - 1, wall, cpu);
}

fn main() {
    let mut n = 200_000u64;
    let mut only: Option<String> = None;
    let mut www: Option<PathBuf> = None;
    let mut target = "/".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--requests" => n = value().parse().expect("--requests N"),
            "--only" => only = Some(value()),
            "--www" => www = Some(PathBuf::from(value())),
            "--target" => target = value(),
            "--dump" => only = Some("dump".to_string()),
            _ => panic!(
                "usage: http_bench [--requests N] [--only exchange|stack] [--dump] [--www DIR] [--target /PATH]"
            ),
        }
    }
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: 198.18.0.2\r\nUser-Agent: http_bench\r\nAccept: */*\r\n\r\n"
    );
    if only.as_deref() == Some("dump") {
        return dump(www.as_ref());
    }
    if only.as_deref().is_none_or(|m| m == "exchange") {
        exchange(n, www.as_ref(), request.as_bytes());
    }
    if only.as_deref().is_none_or(|m| m == "stack") {
        stack(n, www.as_ref(), request.as_bytes());
    }
}
