//! The HTTP/1.1 server (port 80) and, with a rustls config, the HTTPS server (443), as apps
//! in the packet loop over our TCP.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | [`HttpServer`]: the app, its connections, the pump, timers |
//! | `transport.rs` | one transport, plain or TLS (rustls), between TCP and the exchange |
//! | `exchange.rs` | one connection's HTTP: requests in order, responses, deadlines |
//! | `request.rs` | request heads with httparse, limits → 400/413/414/431/501/505 |
//! | `resource.rs` | targets → files under the root (no escape), listings, the embedded page |
//! | `cache.rs` | conditional requests (304/412) and byte ranges (206/416) |
//! | `date.rs` | HTTP-date |
//! | `tls.rs` | rustls config, rcgen self-signed certificate, key log |
//!
//! Per connection one pump moves everything that can move: the transport (plain, or TLS
//! through rustls) brings input to the [`exchange::Exchange`], the exchange answers, the
//! transport takes its output to TCP, and the connection closes when both are done. Input
//! is taken only while the exchange has room and output produced only while TCP's send
//! buffer takes it (`Writable` brings the rest), so a connection holds at most a head's
//! worth of input and a chunk or two of output.
//!
//! HTTP keep-alive (connection reuse, RFC 9112 §9.3) is this module's idle timeout; TCP
//! keepalive probes are a separate, per-listener TCP setting.

pub(crate) mod cache;
pub mod date;
pub mod exchange;
pub mod request;
pub mod resource;
pub mod tls;
mod transport;

use super::{App, Sockets};
use crate::stack::{SocketHandle, TcpEvent};
use crate::tcp::Event;
use crate::time::{Duration, Instant};
use exchange::{Exchange, Expired, Shared, Tally};
use request::Limits;
use resource::Site;
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::PathBuf;
use transport::{Finish, Io, ROUNDS, Transport};

/// Settings of one server (HTTP or HTTPS).
#[derive(Clone)]
pub struct HttpConfig {
    /// The TCP port to listen on (80; 443 for HTTPS).
    pub port: u16,
    /// Serve this directory; `None` serves the embedded page.
    pub www: Option<PathBuf>,
    /// `Cache-Control: max-age`, seconds.
    pub max_age: u64,
    /// Unix time in µs of the loop's `Instant::ZERO` (the daemon passes its start time);
    /// Date headers are this plus `now`. The library never reads a clock.
    pub unix_epoch_us: u64,
    /// A kept-alive connection with no request in progress is closed after this long
    /// (RFC 9112 §9.5; announced as `Keep-Alive: timeout` to HTTP/1.0 clients).
    pub idle_timeout: Duration,
    /// A request head must be complete this long after its first byte, or 408 (slowloris).
    pub header_timeout: Duration,
    /// A response the peer takes nothing of for this long is abandoned (RST).
    pub send_timeout: Duration,
    /// Bounds on a request's head, target and skipped body (431/414/413 beyond them).
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

struct Conn {
    exchange: Exchange,
    transport: Transport,
    /// The peer's FIN (or TLS close_notify) arrived.
    peer_eof: bool,
    deadline: Option<Instant>,
}

/// Where a connection stands after a round of its pump.
enum Settle {
    /// The response could not be completed: reset.
    Reset,
    /// Everything is said and on TCP: release it.
    Release,
    /// The transport has something new to write: go round again.
    Again,
    /// Still open; `progress` if finishing moved anything.
    Open { progress: bool },
}

impl Conn {
    /// Answers what is still queued once either side is done, and says whether the
    /// connection is finished.
    fn settle(&mut self, now: Instant, shared: &Shared) -> Settle {
        if self.exchange.is_broken() {
            return Settle::Reset;
        }
        // A peer that half-closed gets the answers to what it sent, then our FIN.
        let done = self.exchange.is_closing() || self.transport.failed() || self.peer_eof;
        if !done {
            return Settle::Open { progress: false };
        }
        // Requests still queued behind a batch are answered first.
        let progress = self.exchange.process(now, shared);
        if self.exchange.drained() {
            match self.transport.finish() {
                Finish::Again => return Settle::Again,
                Finish::Flushed => return Settle::Release,
                Finish::Pending => {}
            }
        }
        Settle::Open { progress }
    }
}

/// Totals for the shutdown summary.
#[derive(Clone, Debug, Default)]
pub struct HttpStats {
    /// Connections accepted (not those refused over `max_connections`).
    pub connections: u64,
    /// Complete request heads answered (heads the parser refuses, e.g. with 431, are not
    /// counted).
    pub requests: u64,
    /// Plaintext response octets handed to the transport (before TLS).
    pub bytes_out: u64,
    /// TLS sessions that failed (handshake or record errors).
    pub tls_failures: u64,
    /// Connections answered 408 because a head did not complete in `header_timeout`.
    pub header_timeouts: u64,
    /// Kept-alive connections closed after `idle_timeout`.
    pub idle_closes: u64,
    /// Responses abandoned (RST) after `send_timeout` without progress.
    pub stalled: u64,
}

impl HttpStats {
    /// Adds what one round of a pump did.
    fn add(&mut self, before: Tally, after: Tally, tls_failed: bool) {
        self.requests += after.requests - before.requests;
        self.bytes_out += after.bytes_out - before.bytes_out;
        self.tls_failures += u64::from(tls_failed);
    }
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

    /// Totals since the server started.
    pub fn stats(&self) -> &HttpStats {
        &self.stats
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    fn accept(&mut self, now: Instant, sockets: &mut Sockets<'_>) {
        while let Some(h) = sockets.accept(self.port) {
            if self.conns.len() >= self.max_connections {
                log::warn!(
                    "{}: {} connections open, refusing one",
                    self.name,
                    self.conns.len()
                );
                let _ = sockets.abort(h);
                continue;
            }
            let transport = match Transport::new(self.tls.as_ref()) {
                Ok(transport) => transport,
                Err(e) => {
                    log::warn!("https: cannot start a TLS session: {e}");
                    let _ = sockets.abort(h);
                    continue;
                }
            };
            self.stats.connections += 1;
            self.conns.insert(
                h,
                Conn {
                    exchange: Exchange::new(now),
                    transport,
                    peer_eof: false,
                    deadline: None,
                },
            );
            self.pump(now, sockets, h);
        }
    }

    /// Moves everything that can move on one connection now: in, process, out, close.
    fn pump(&mut self, now: Instant, sockets: &mut Sockets<'_>, h: SocketHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let shared = &self.shared;
        let mut io = Io {
            now,
            sockets,
            h,
            scratch: &mut self.scratch,
        };
        for _ in 0..ROUNDS {
            let (before, failed) = (c.exchange.tally, c.transport.failed());
            let mut progress =
                c.transport
                    .receive(&mut io, &mut c.exchange, &mut c.peer_eof, &shared.limits);
            progress |= c.exchange.process(now, shared);
            progress |= c.transport.transmit(&mut io, &mut c.exchange);
            let tls_failed = !failed && c.transport.failed();
            self.stats.add(before, c.exchange.tally, tls_failed);
            match c.settle(now, shared) {
                Settle::Reset => {
                    log::debug!("{}: {h} reset: response could not be completed", self.name);
                    let _ = io.sockets.abort(h);
                    self.forget(h);
                    return;
                }
                Settle::Release => {
                    // Everything is said: TCP takes it from here (our FIN, FIN-WAIT,
                    // TIME-WAIT) and the server forgets the connection, so closed
                    // connections never count against `max_connections`.
                    log::debug!("{}: {h} closing", self.name);
                    let _ = io.sockets.release(now, h);
                    self.forget(h);
                    return;
                }
                Settle::Again => continue,
                Settle::Open { progress: settled } => {
                    if !(progress || settled) {
                        break;
                    }
                }
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

impl App for HttpServer {
    fn start(&mut self, _now: Instant, sockets: &mut Sockets<'_>) -> io::Result<()> {
        let mut config = self
            .tcp
            .clone()
            .unwrap_or_else(|| sockets.default_config().clone());
        // Responses are written whole; Nagle would only hold back their last segment.
        config.nodelay = true;
        sockets
            .listen(self.port, 128, Some(config))
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

    fn on_event(&mut self, now: Instant, sockets: &mut Sockets<'_>, event: TcpEvent) {
        self.tick(now);
        match event {
            TcpEvent::Incoming { port } if port == self.port => self.accept(now, sockets),
            TcpEvent::Incoming { .. } => {}
            TcpEvent::Connection { handle, event } => match event {
                Event::Closed(reason) => {
                    log::debug!("{}: {handle} closed ({reason:?})", self.name);
                    self.forget(handle);
                }
                Event::Readable | Event::Writable | Event::PeerClosed | Event::Connected => {
                    self.pump(now, sockets, handle)
                }
                _ => {}
            },
            TcpEvent::Udp { .. } => {}
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }

    fn handle_timeout(&mut self, now: Instant, sockets: &mut Sockets<'_>) {
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
            self.pump(now, sockets, h);
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
