//! Simulator for the HTTP and HTTPS servers: our stack (198.18.0.2) running the server app
//! in a `Runtime` on one end of an in-memory wire (optionally behind seeded `Faults`), and a
//! second `Stack` (198.18.0.1) as the client, using the same socket API, on the other end.
//! Time is simulated and jumps to the next deadline; every run is bounded in steps and in
//! simulated time.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;

use tunstack::app::http::{HttpConfig, HttpServer, tls};
use tunstack::link::{DirectionFaults, FaultSpec, Faults, Link, Memory};
use tunstack::runtime::Runtime;
use tunstack::stack::{SocketHandle, Stack, StackConfig, TcpEvent};
use tunstack::tcp::{CloseReason, Event};
use tunstack::time::{Duration, Instant};

#[path = "../support/mod.rs"]
pub mod support;

use support::clock::{self, Schedule, World};

pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Unix time of the simulation's `Instant::ZERO` (2023-11-14 22:13:20 UTC).
pub const EPOCH: u64 = 1_700_000_000;

/// One client connection, seen from the client side.
pub struct Peer {
    pub tls: Option<rustls::ClientConnection>,
    /// Plaintext waiting to be sent.
    pub outbox: Vec<u8>,
    /// TLS records not yet taken by TCP.
    wire: Vec<u8>,
    /// Plaintext received.
    pub inbox: Vec<u8>,
    /// The server's FIN (or close_notify) arrived.
    pub eof: bool,
    pub connected: bool,
    pub closed: Option<CloseReason>,
    pub tls_error: Option<String>,
    /// A client that stops reading (its window closes).
    pub paused: bool,
}

pub struct Sim {
    pub server: Runtime<Box<dyn Link + Send>>,
    pub client: Stack,
    link: Memory,
    pub now: Instant,
    pub peers: HashMap<SocketHandle, Peer>,
    buf: Vec<u8>,
    pub steps: u64,
    client_sent: bool,
    /// The earliest deadline of the server and the client after the last round.
    next: Option<Instant>,
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A fresh directory under target/ for one test's `--www`.
pub fn www(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/http-sim")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn pattern(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(len as u64);
    (0..len).map(|_| rng.u8(..)).collect()
}

pub fn config(www: Option<PathBuf>) -> HttpConfig {
    HttpConfig {
        www,
        unix_epoch_us: EPOCH * 1_000_000,
        ..HttpConfig::default()
    }
}

/// A TLS server config with a fresh self-signed certificate, and a client config that
/// trusts exactly that certificate.
pub fn tls_pair(
    versions: &[&'static rustls::SupportedProtocolVersion],
    keylog: Option<Arc<dyn rustls::KeyLog>>,
) -> (tls::TlsSetup, Arc<rustls::ClientConfig>) {
    let (identity, _pem) = tls::self_signed(&[SERVER.into()]).unwrap();
    let cert = identity.chain[0].clone();
    let server = tls::server_config(identity, keylog).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    (server, Arc::new(client))
}

impl Sim {
    pub fn new(config: HttpConfig) -> Sim {
        Sim::with_faults(config, None)
    }

    /// `loss`: each packet in either direction is lost with this probability (seeded).
    pub fn with_faults(config: HttpConfig, loss: Option<(f64, u64)>) -> Sim {
        let _ = env_logger::builder().is_test(true).try_init();
        let (ours, theirs) = Memory::pair();
        let link: Box<dyn Link + Send> = match loss {
            None => Box::new(ours),
            Some((p, seed)) => Box::new(Faults::new(
                ours,
                FaultSpec::symmetric(
                    DirectionFaults {
                        loss: p,
                        delay: Duration::from_millis(5),
                        ..DirectionFaults::default()
                    },
                    seed,
                ),
            )),
        };
        let mut server = Runtime::new(Stack::new(StackConfig::default()), link);
        server
            .add_app(Instant::ZERO, Box::new(HttpServer::new(config).unwrap()))
            .unwrap();
        let client = Stack::new(StackConfig {
            addr: CLIENT,
            isn_secret: [0x33; 16],
            ..StackConfig::default()
        });
        Sim {
            server,
            client,
            link: theirs,
            now: Instant::ZERO,
            peers: HashMap::new(),
            buf: vec![0; 65536],
            steps: 0,
            client_sent: false,
            next: None,
        }
    }

    /// Opens a connection to the server's `port`; `tls` makes it an HTTPS client.
    pub fn open(&mut self, port: u16, tls: Option<Arc<rustls::ClientConfig>>) -> SocketHandle {
        let h = self
            .client
            .tcp_mut()
            .connect(self.now, SocketAddrV4::new(SERVER, port), None, 0)
            .unwrap();
        let tls = tls.map(|c| {
            rustls::ClientConnection::new(
                c,
                rustls::pki_types::ServerName::IpAddress(SERVER.into()),
            )
            .unwrap()
        });
        self.peers.insert(
            h,
            Peer {
                tls,
                outbox: Vec::new(),
                wire: Vec::new(),
                inbox: Vec::new(),
                eof: false,
                connected: false,
                closed: None,
                tls_error: None,
                paused: false,
            },
        );
        h
    }

    pub fn write(&mut self, h: SocketHandle, data: &[u8]) {
        self.peers
            .get_mut(&h)
            .unwrap()
            .outbox
            .extend_from_slice(data);
        self.pump_peer(h);
    }

    pub fn peer(&self, h: SocketHandle) -> &Peer {
        &self.peers[&h]
    }

    pub fn peer_mut(&mut self, h: SocketHandle) -> &mut Peer {
        self.peers.get_mut(&h).unwrap()
    }

    /// Client half-close (FIN).
    pub fn close(&mut self, h: SocketHandle) {
        let _ = self.client.tcp_mut().close(h);
    }

    /// One round at the current time: the server's turn, then the client's.
    fn turn(&mut self) -> Option<Instant> {
        self.client_sent = false;
        let now = self.now;
        let server_next = self.server.turn(&|| now).unwrap();
        while let Some(n) = self.link.recv(now, &mut self.buf).unwrap().map(|d| d.len) {
            self.client.handle_packet(now, &self.buf[..n]);
        }
        if self.client.poll_timeout().is_some_and(|at| at <= now) {
            self.client.handle_timeout(now);
        }
        for _ in 0..64 {
            while let Some(n) = self.client.poll_transmit(now, &mut self.buf) {
                self.link.send_plain(now, &self.buf[..n]).unwrap();
                self.client_sent = true;
            }
            let mut any = false;
            while let Some(ev) = self.client.poll_event() {
                any = true;
                if let TcpEvent::Connection { handle, event } = ev.event
                    && let Some(p) = self.peers.get_mut(&handle)
                {
                    match event {
                        Event::Connected => p.connected = true,
                        Event::Closed(r) => p.closed = Some(r),
                        _ => {}
                    }
                }
            }
            let handles: Vec<SocketHandle> = self.peers.keys().copied().collect();
            for h in handles {
                self.pump_peer(h);
            }
            while let Some(n) = self.client.poll_transmit(now, &mut self.buf) {
                self.link.send_plain(now, &self.buf[..n]).unwrap();
                self.client_sent = true;
                any = true;
            }
            if !any {
                break;
            }
        }
        Instant::min_opt(server_next, self.client.poll_timeout())
    }

    /// Moves bytes between a client connection and its TCP socket.
    fn pump_peer(&mut self, h: SocketHandle) {
        let Some(p) = self.peers.get_mut(&h) else {
            return;
        };
        let tcp = self.client.tcp_mut();
        let mut buf = [0u8; 16384];
        for _ in 0..1000 {
            let mut progress = false;
            let got = if p.paused {
                Err(tunstack::stack::TcpError::NotConnected)
            } else {
                tcp.recv(h, &mut buf)
            };
            match got {
                Ok(0) => {
                    if !p.eof {
                        p.eof = true;
                        progress = true;
                    }
                }
                Ok(n) => {
                    progress = true;
                    match &mut p.tls {
                        None => p.inbox.extend_from_slice(&buf[..n]),
                        Some(t) => {
                            let mut rd = &buf[..n];
                            while !rd.is_empty() {
                                if t.read_tls(&mut rd).is_err() {
                                    break;
                                }
                                if let Err(e) = t.process_new_packets() {
                                    p.tls_error = Some(e.to_string());
                                    break;
                                }
                                loop {
                                    let mut pt = [0u8; 16384];
                                    match t.reader().read(&mut pt) {
                                        Ok(0) => {
                                            p.eof = true;
                                            break;
                                        }
                                        Ok(k) => p.inbox.extend_from_slice(&pt[..k]),
                                        Err(_) => break,
                                    }
                                }
                            }
                        }
                    }
                }
                Err(_) => {}
            }
            if let Some(t) = &mut p.tls {
                if !p.outbox.is_empty() && !t.is_handshaking() {
                    let n = t.writer().write(&p.outbox).unwrap();
                    p.outbox.drain(..n);
                }
                while t.wants_write() {
                    t.write_tls(&mut p.wire).unwrap();
                }
                if !p.wire.is_empty()
                    && let Ok(n) = tcp.send(h, &p.wire)
                    && n > 0
                {
                    p.wire.drain(..n);
                    progress = true;
                }
            } else if !p.outbox.is_empty()
                && let Ok(n) = tcp.send(h, &p.outbox)
                && n > 0
            {
                p.outbox.drain(..n);
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }

    /// Runs until `done` holds or `limit` of simulated time has passed (or a step bound).
    /// Returns whether `done` held.
    pub fn run_until(&mut self, limit: Duration, done: impl FnMut(&mut Sim) -> bool) -> bool {
        clock::run_until(self, limit, done)
    }

    /// Advances simulated time by `d`, running everything due on the way.
    pub fn advance(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Takes one complete response from the connection's input. `head`: it answers a HEAD
    /// (no body whatever Content-Length says).
    pub fn take_response(&mut self, h: SocketHandle, head: bool) -> Option<Response> {
        let p = self.peers.get_mut(&h).unwrap();
        parse_response(&mut p.inbox, head)
    }

    /// Runs until one complete response is in (at most 120 s simulated).
    #[track_caller]
    pub fn response(&mut self, h: SocketHandle, head: bool) -> Response {
        let mut got = None;
        self.run_until(Duration::from_secs(120), |s| {
            got = s.take_response(h, head);
            got.is_some()
        });
        got.unwrap_or_else(|| {
            let p = &self.peers[&h];
            panic!(
                "{}",
                format!(
                    "no response at {:?}; inbox {:?}, eof {}, closed {:?}, tls error {:?}",
                    self.now,
                    String::from_utf8_lossy(&p.inbox[..p.inbox.len().min(300)]),
                    p.eof,
                    p.closed,
                    p.tls_error,
                ) + &format!(
                    "\nserver: {:?}\nclient: {:?}",
                    self.server
                        .stack
                        .tcp()
                        .connections()
                        .map(|(_, c)| (c.state(), c.stats()))
                        .collect::<Vec<_>>(),
                    self.client
                        .tcp()
                        .connections()
                        .map(|(_, c)| (c.state(), c.stats()))
                        .collect::<Vec<_>>()
                )
            )
        })
    }

    /// Sends `request` on `h` and waits for its response.
    #[track_caller]
    pub fn exchange(&mut self, h: SocketHandle, request: &str) -> Response {
        self.write(h, request.as_bytes());
        self.response(h, request.starts_with("HEAD "))
    }

    /// Runs until the server has closed its side (our EOF) — at most `limit`.
    pub fn wait_eof(&mut self, h: SocketHandle, limit: Duration) -> bool {
        self.run_until(limit, |s| s.peers[&h].eof || s.peers[&h].closed.is_some())
    }

    pub fn summary(&self) -> String {
        self.server.apps()[0].summary().join("\n")
    }
}

/// The server's turn, then the client's, at every instant; `done` is asked after each.
impl World for Sim {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            ask_every_round: true,
            settle_after_done: false,
            ..Schedule::default()
        }
    }

    /// Returns whether work is left at this instant: the client sent, a packet waits, or
    /// the server's stack has output or events pending.
    fn round(&mut self, _now: Instant) -> bool {
        self.next = self.turn();
        self.client_sent || self.link.pending() > 0 || self.server.stack.tcp().has_pending()
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        Instant::min_opt(self.next, self.server.link.poll_at())
    }
}

/// Splits one response off the front of `buf`.
pub fn parse_response(buf: &mut Vec<u8>, head: bool) -> Option<Response> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(n) = resp.parse(buf).expect("a valid response") else {
        return None;
    };
    let status = resp.code.unwrap();
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let len: usize = if head || status == 304 || (100..200).contains(&status) {
        0
    } else {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .expect("Content-Length")
    };
    if buf.len() < n + len {
        return None;
    }
    let body = buf[n..n + len].to_vec();
    buf.drain(..n + len);
    Some(Response {
        status,
        headers,
        body,
    })
}

/// After hostile input on `h`: whatever the server sent back parses as HTTP response heads
/// (a head cut short is allowed only while the connection is still open), and a well-formed
/// request on a new connection is still served. Shared by tests/http_fuzz.rs and the
/// cargo-fuzz target `http`.
pub fn assert_responses_then_still_serving(sim: &mut Sim, h: SocketHandle) {
    let mut inbox = sim.peer(h).inbox.clone();
    for _ in 0..64 {
        if inbox.is_empty() {
            break;
        }
        // A response to a HEAD we cannot tell apart here has no body: parse heads only.
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&inbox) {
            Ok(httparse::Status::Complete(_)) => {
                // Read as the answer to a GET (its Content-Length of body follows) or to a
                // HEAD (none does): the reading after which the next response starts, or
                // the inbox ends, is the right one. (Taking the GET reading first misread
                // a HEAD's answer followed by a 400 as one response and the 400's head as
                // its body: the campaign of session 6.)
                let next_is_clean = |rest: &[u8]| rest.is_empty() || rest.starts_with(b"HTTP/");
                let mut as_get = inbox.clone();
                let get = parse_response(&mut as_get, false).is_some();
                let mut as_head = inbox.clone();
                let head = parse_response(&mut as_head, true).is_some();
                inbox = match (get, head) {
                    (true, _) if next_is_clean(&as_get) => as_get,
                    (_, true) if next_is_clean(&as_head) => as_head,
                    (true, _) => as_get,
                    (_, true) => as_head,
                    (false, false) => break,
                };
            }
            Ok(httparse::Status::Partial) if !sim.peer(h).eof => break,
            other => panic!("not HTTP: {other:?} {:?}", String::from_utf8_lossy(&inbox)),
        }
    }
    let h = sim.open(80, None);
    assert_eq!(
        sim.exchange(h, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

/// The cargo-fuzz target `http`, also replayed by tests/fuzz_regressions.rs. The input: the
/// first byte is the pause unit (×256 ms), the rest is what the client sends, cut into
/// pieces at each 0xFF (a pause follows each piece, so header and idle timeouts are
/// reached); a last byte 0xFE half-closes. No panic; whatever comes back parses as HTTP
/// response heads (or nothing); afterwards the server still serves a well-formed request on
/// a new connection.
pub fn fuzz_http(data: &[u8]) {
    let Some((&unit, rest)) = data.split_first() else {
        return;
    };
    let (rest, close) = match rest.split_last() {
        Some((0xFE, body)) => (body, true),
        _ => (rest, false),
    };
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    for piece in rest.split(|b| *b == 0xFF).take(48) {
        sim.write(h, piece);
        sim.advance(Duration::from_millis(u64::from(unit) * 256));
    }
    if close {
        sim.close(h);
    }
    sim.run_until(Duration::from_secs(30), |s| s.peer(h).eof);
    assert_responses_then_still_serving(&mut sim, h);
}
