//! The HTTP/1.1 server (port 80) and, with a rustls config, the HTTPS server (443), as apps
//! in the packet loop over our TCP.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`HttpServer`]: the app, its connections, transports (plain, TLS), timers |
//! | `exchange.rs` | one connection's HTTP: requests in order, responses, deadlines |
//! | `request.rs` | request heads with httparse, limits → 400/413/414/431/501/505 |
//! | `resource.rs` | targets → files under the root (no escape), listings, the embedded page |
//! | `cache.rs` | conditional requests (304/412) and byte ranges (206/416) |
//! | `date.rs` | HTTP-date |
//! | `tls.rs` | rustls config, rcgen self-signed certificate, key log |
//!
//! Per connection the transport moves bytes between TCP and the [`exchange::Exchange`]:
//! plain copies them; TLS passes them through a rustls `ServerConnection` with
//! `read_tls`/`process_new_packets`/`reader` on the way in and `writer`/`write_tls` on the
//! way out, all on in-memory buffers. Input is taken only while the exchange has room and
//! output produced only while TCP's send buffer takes it (`Writable` brings the rest), so
//! a connection holds at most a head's worth of input and a chunk or two of output.
//!
//! HTTP keep-alive (connection reuse, RFC 9112 §9.3) is this module's idle timeout; TCP
//! keepalive probes are a separate, per-listener TCP setting.

pub mod cache;
pub mod date;
pub mod exchange;
pub mod request;
pub mod resource;
pub mod tls;

use super::App;
use crate::stack::{Owner, SocketHandle, Stack, TcpEvent};
use crate::tcp::Event;
use crate::time::{Duration, Instant};
use exchange::{Exchange, Expired, Shared};
use request::Limits;
use resource::Site;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Settings of one server (HTTP or HTTPS).
#[derive(Clone)]
pub struct HttpConfig {
    pub port: u16,
    /// Serve this directory; `None` serves the embedded page.
    pub www: Option<PathBuf>,
    /// `Cache-Control: max-age`, seconds.
    pub max_age: u64,
    /// Unix time in µs of the loop's `Instant::ZERO` (the daemon passes its start time);
    /// Date headers are this plus `now`. The library never reads a clock.
    pub unix_epoch_us: u64,
    pub idle_timeout: Duration,
    pub header_timeout: Duration,
    /// A response the peer takes nothing of for this long is abandoned (RST).
    pub send_timeout: Duration,
    pub limits: Limits,
    /// Connections beyond this are refused with a RST.
    pub max_connections: usize,
    /// TLS: `Some` makes this the HTTPS server.
    pub tls: Option<tls::TlsSetup>,
    /// Per-listener TCP settings (e.g. keepalive); `None`: the stack's default.
    pub tcp: Option<crate::tcp::Config>,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            port: 80,
            www: None,
            max_age: 60,
            unix_epoch_us: 0,
            idle_timeout: Duration::from_secs(15),
            header_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(60),
            limits: Limits::default(),
            max_connections: 4096,
            tls: None,
            tcp: None,
        }
    }
}

struct TlsState {
    conn: rustls::ServerConnection,
    /// Bytes from TCP that rustls has not taken yet.
    tls_in: Vec<u8>,
    tls_in_pos: usize,
    /// Records rustls produced that TCP has not taken yet.
    tls_out: Vec<u8>,
    tls_out_pos: usize,
    failed: bool,
    close_notify_sent: bool,
}

struct Conn {
    exchange: Exchange,
    tls: Option<Box<TlsState>>,
    /// The peer's FIN (or TLS close_notify) arrived.
    peer_eof: bool,
    deadline: Option<Instant>,
}

/// Totals for the shutdown summary.
#[derive(Clone, Debug, Default)]
pub struct HttpStats {
    pub connections: u64,
    pub requests: u64,
    pub bytes_out: u64,
    pub tls_failures: u64,
    pub header_timeouts: u64,
    pub idle_closes: u64,
    pub stalled: u64,
}

/// The HTTP or HTTPS server app.
pub struct HttpServer {
    name: &'static str,
    port: u16,
    shared: Shared,
    tls: Option<tls::TlsSetup>,
    tcp: Option<crate::tcp::Config>,
    max_connections: usize,
    /// Looked up a few times per request. The stack hands out the handles (slot index and
    /// generation), a peer cannot choose them, so FxHash does instead of SipHash.
    conns: HashMap<SocketHandle, Conn, rustc_hash::FxBuildHasher>,
    timers: BTreeSet<(Instant, SocketHandle)>,
    scratch: Vec<u8>,
    stats: HttpStats,
}

/// Bytes read from TCP at a time.
const READ: usize = 16 * 1024;
/// Plaintext handed to rustls at a time (one record is at most 16 KiB).
const TLS_WRITE: usize = 16 * 1024;
/// Bound on read/process/write rounds in one pump.
const ROUNDS: usize = 256;

impl HttpServer {
    /// Fails when `www` is not a readable directory.
    pub fn new(config: HttpConfig) -> io::Result<HttpServer> {
        let site = Site::new(config.www.as_deref(), config.unix_epoch_us / 1_000_000)?;
        let name = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        Ok(HttpServer {
            name,
            port: config.port,
            shared: Shared {
                site,
                limits: config.limits,
                max_age: config.max_age,
                unix_epoch_us: config.unix_epoch_us,
                idle_timeout: config.idle_timeout,
                header_timeout: config.header_timeout,
                send_timeout: config.send_timeout,
                server: format!("tunstack/{}", env!("CARGO_PKG_VERSION")),
                date: date::DateCache::default(),
            },
            tls: config.tls,
            tcp: config.tcp,
            max_connections: config.max_connections,
            conns: HashMap::default(),
            timers: BTreeSet::new(),
            scratch: vec![0; READ],
            stats: HttpStats::default(),
        })
    }

    /// Sets rustls' clock to the loop's time.
    fn tick(&self, now: Instant) {
        if let Some(setup) = &self.tls {
            setup.clock.set(self.shared.unix_epoch_us + now.as_micros());
        }
    }

    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    fn accept(&mut self, now: Instant, stack: &mut Stack) {
        while let Some(h) = stack.tcp_mut().accept(self.port) {
            if self.conns.len() >= self.max_connections {
                log::warn!(
                    "{}: {} connections open, refusing one",
                    self.name,
                    self.conns.len()
                );
                let _ = stack.tcp_mut().abort(h);
                continue;
            }
            let tls = match &self.tls {
                None => None,
                Some(setup) => match rustls::ServerConnection::new(setup.config.clone()) {
                    Ok(conn) => Some(Box::new(TlsState {
                        conn,
                        tls_in: Vec::new(),
                        tls_in_pos: 0,
                        tls_out: Vec::new(),
                        tls_out_pos: 0,
                        failed: false,
                        close_notify_sent: false,
                    })),
                    Err(e) => {
                        log::warn!("https: cannot start a TLS session: {e}");
                        let _ = stack.tcp_mut().abort(h);
                        continue;
                    }
                },
            };
            self.stats.connections += 1;
            self.conns.insert(
                h,
                Conn {
                    exchange: Exchange::new(now),
                    tls,
                    peer_eof: false,
                    deadline: None,
                },
            );
            self.pump(now, stack, h);
        }
    }

    /// Moves everything that can move on one connection now.
    fn pump(&mut self, now: Instant, stack: &mut Stack, h: SocketHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let tcp = stack.tcp_mut();
        let shared = &self.shared;
        let scratch = &mut self.scratch;
        for _ in 0..ROUNDS {
            let mut progress = false;
            let before = c.exchange.tally;

            // ---- in ----
            if c.tls.as_ref().is_some_and(|t| t.failed) {
                // A failed handshake: discard whatever still arrives until the peer's FIN.
                while !c.peer_eof {
                    match tcp.recv(h, scratch) {
                        Ok(0) => c.peer_eof = true,
                        Ok(_) => progress = true,
                        Err(_) => break,
                    }
                }
            } else if let Some(t) = &mut c.tls {
                progress |= tls_input(
                    now,
                    tcp,
                    h,
                    t,
                    &mut c.exchange,
                    &mut c.peer_eof,
                    scratch,
                    &shared.limits,
                );
                if t.failed {
                    self.stats.tls_failures += 1;
                }
            } else {
                let room = c.exchange.room(&shared.limits).min(scratch.len());
                if room > 0 && !c.peer_eof {
                    match tcp.recv(h, &mut scratch[..room]) {
                        Ok(0) => {
                            c.peer_eof = true;
                            progress = true;
                        }
                        Ok(n) => {
                            c.exchange.input(now, &scratch[..n]);
                            progress = true;
                        }
                        Err(_) => {}
                    }
                }
            }

            // ---- process ----
            progress |= c.exchange.process(now, shared);

            // ---- out ----
            match &mut c.tls {
                None => loop {
                    let out = c.exchange.output();
                    if out.is_empty() {
                        break;
                    }
                    match tcp.send(h, out) {
                        Ok(n) if n > 0 => {
                            c.exchange.consume(now, n);
                            progress = true;
                        }
                        _ => break,
                    }
                },
                Some(t) => progress |= tls_output(now, tcp, h, t, &mut c.exchange),
            }
            let after = c.exchange.tally;
            self.stats.requests += after.requests - before.requests;
            self.stats.bytes_out += after.bytes_out - before.bytes_out;

            // ---- close ----
            if c.exchange.is_broken() {
                log::debug!("{}: {h} reset: response could not be completed", self.name);
                let _ = tcp.abort(h);
                self.forget(h);
                return;
            }
            let tls_failed = c.tls.as_ref().is_some_and(|t| t.failed);
            // A peer that half-closed gets the answers to what it sent, then our FIN.
            let done = c.exchange.is_closing() || tls_failed || c.peer_eof;
            if done {
                // Requests still queued behind a batch are answered first.
                progress |= c.exchange.process(now, shared);
            }
            if done && c.exchange.drained() {
                if let Some(t) = &mut c.tls
                    && !t.close_notify_sent
                    && !t.failed
                {
                    t.conn.send_close_notify();
                    t.close_notify_sent = true;
                    continue;
                }
                let tls_flushed = c
                    .tls
                    .as_ref()
                    .is_none_or(|t| t.tls_out_pos == t.tls_out.len() && !t.conn.wants_write());
                if tls_flushed {
                    // Everything is said: TCP takes it from here (our FIN, FIN-WAIT,
                    // TIME-WAIT) and the server forgets the connection, so closed
                    // connections never count against `max_connections`.
                    log::debug!("{}: {h} closing", self.name);
                    let _ = tcp.release(now, h);
                    self.forget(h);
                    return;
                }
            }
            if !progress {
                break;
            }
        }
        self.rearm(h);
    }

    /// Keeps the connection's entry in the timer set in step with its deadline.
    fn rearm(&mut self, h: SocketHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let next = c.exchange.deadline(&self.shared).map(|(at, _)| at);
        if next != c.deadline {
            if let Some(old) = c.deadline {
                self.timers.remove(&(old, h));
            }
            if let Some(at) = next {
                self.timers.insert((at, h));
            }
            c.deadline = next;
        }
    }

    fn forget(&mut self, h: SocketHandle) {
        if let Some(c) = self.conns.remove(&h)
            && let Some(at) = c.deadline
        {
            self.timers.remove(&(at, h));
        }
    }
}

/// TLS in: plaintext already decrypted goes to the exchange (as it has room); then, while
/// rustls wants more, bytes from TCP go into rustls. Returns whether anything moved.
#[allow(clippy::too_many_arguments)]
fn tls_input(
    now: Instant,
    tcp: &mut crate::stack::TcpLayer,
    h: SocketHandle,
    t: &mut TlsState,
    exchange: &mut Exchange,
    peer_eof: &mut bool,
    scratch: &mut [u8],
    limits: &Limits,
) -> bool {
    let mut progress = false;
    for _ in 0..ROUNDS {
        loop {
            let room = exchange.room(limits).min(scratch.len());
            if room == 0 {
                break;
            }
            match t.conn.reader().read(&mut scratch[..room]) {
                Ok(0) => {
                    // close_notify: the peer's end of the stream.
                    progress |= !*peer_eof;
                    *peer_eof = true;
                    break;
                }
                Ok(n) => {
                    exchange.input(now, &scratch[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // TCP ended without close_notify.
                    progress |= !*peer_eof;
                    *peer_eof = true;
                    break;
                }
            }
        }
        if t.tls_in_pos < t.tls_in.len() {
            if !t.conn.wants_read() {
                break;
            }
            let mut rd = &t.tls_in[t.tls_in_pos..];
            match t.conn.read_tls(&mut rd) {
                Ok(n) => {
                    t.tls_in_pos += n;
                    progress = true;
                }
                Err(_) => break, // rustls' buffers are full: later
            }
            if let Err(e) = t.conn.process_new_packets() {
                log::debug!("https: {h} TLS failed: {e}");
                t.failed = true;
                return true;
            }
            continue;
        }
        t.tls_in.clear();
        t.tls_in_pos = 0;
        if *peer_eof || !t.conn.wants_read() {
            break;
        }
        match tcp.recv(h, scratch) {
            Ok(0) => {
                *peer_eof = true;
                progress = true;
                break;
            }
            Ok(n) => {
                t.tls_in.extend_from_slice(&scratch[..n]);
                progress = true;
            }
            Err(_) => break,
        }
    }
    progress
}

/// TLS out: flushes records to TCP, lets rustls produce more (handshake, alerts), and
/// feeds it plaintext from the exchange once the handshake is done.
fn tls_output(
    now: Instant,
    tcp: &mut crate::stack::TcpLayer,
    h: SocketHandle,
    t: &mut TlsState,
    exchange: &mut Exchange,
) -> bool {
    let mut progress = false;
    for _ in 0..ROUNDS {
        if t.tls_out_pos < t.tls_out.len() {
            match tcp.send(h, &t.tls_out[t.tls_out_pos..]) {
                Ok(n) if n > 0 => {
                    t.tls_out_pos += n;
                    progress = true;
                    continue;
                }
                _ => break,
            }
        }
        t.tls_out.clear();
        t.tls_out_pos = 0;
        if t.conn.wants_write() {
            if t.conn.write_tls(&mut t.tls_out).is_err() {
                break;
            }
            continue;
        }
        if t.failed || t.close_notify_sent || t.conn.is_handshaking() {
            break;
        }
        let out = exchange.output();
        if out.is_empty() {
            break;
        }
        let n = out.len().min(TLS_WRITE);
        match t.conn.writer().write(&out[..n]) {
            Ok(k) if k > 0 => {
                exchange.consume(now, k);
                progress = true;
            }
            _ => break,
        }
    }
    progress
}

impl App for HttpServer {
    fn start(&mut self, _now: Instant, stack: &mut Stack, owner: Owner) -> io::Result<()> {
        let mut config = self
            .tcp
            .clone()
            .unwrap_or_else(|| stack.tcp().config().clone());
        // Responses are written whole; Nagle would only hold back their last segment.
        config.nodelay = true;
        stack
            .tcp_mut()
            .listen(self.port, 128, Some(config), owner)
            .map_err(io::Error::from)?;
        match self.shared.site.root() {
            Some(root) => log::info!(
                "{}: serving {} on port {}",
                self.name,
                root.display(),
                self.port
            ),
            None => log::info!(
                "{}: serving the built-in page on port {}",
                self.name,
                self.port
            ),
        }
        Ok(())
    }

    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: TcpEvent) {
        self.tick(now);
        match event {
            TcpEvent::Incoming { port } if port == self.port => self.accept(now, stack),
            TcpEvent::Incoming { .. } => {}
            TcpEvent::Connection { handle, event } => match event {
                Event::Closed(reason) => {
                    log::debug!("{}: {handle} closed ({reason:?})", self.name);
                    self.forget(handle);
                }
                Event::Readable | Event::Writable | Event::PeerClosed | Event::Connected => {
                    self.pump(now, stack, handle)
                }
                _ => {}
            },
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    fn handle_timeout(&mut self, now: Instant, stack: &mut Stack) {
        self.tick(now);
        // Collect first: each due connection is handled once per call, even if its next
        // deadline is already due again.
        let due: Vec<(Instant, SocketHandle)> = self
            .timers
            .iter()
            .take_while(|(at, _)| *at <= now)
            .copied()
            .collect();
        for (at, h) in due {
            self.timers.remove(&(at, h));
            let Some(c) = self.conns.get_mut(&h) else {
                continue;
            };
            c.deadline = None;
            let what = c.exchange.handle_timeout(now, &self.shared);
            log::debug!("{}: {h} deadline passed: {what:?}", self.name);
            match what {
                Expired::HeaderTimeout => self.stats.header_timeouts += 1,
                Expired::Idle => self.stats.idle_closes += 1,
                Expired::SendStalled => self.stats.stalled += 1,
                Expired::Nothing => {}
            }
            self.pump(now, stack, h);
        }
    }

    fn summary(&self) -> Vec<String> {
        let s = &self.stats;
        vec![format!(
            "{} (port {}): {} connections, {} requests, {} bytes out, {} header timeouts, {} idle closes, {} stalled{}",
            self.name,
            self.port,
            s.connections,
            s.requests,
            s.bytes_out,
            s.header_timeouts,
            s.idle_closes,
            s.stalled,
            if self.tls.is_some() {
                format!(", {} failed handshakes", s.tls_failures)
            } else {
                String::new()
            }
        )]
    }
}
