//! The embedding API: tunstack as a library for ordinary threaded programs.
//!
//! [`Tunstack::start`] runs the packet loop on a thread of its own and returns a handle;
//! [`TcpListener`] and [`TcpStream`] then feel like `std::net`'s: blocking `accept`,
//! `connect`, `std::io::Read` and `Write`, `shutdown`, `set_nodelay`, `set_keepalive`,
//! read/write timeouts, `peer_addr`. Dropping a stream closes it gracefully (FIN); dropping a
//! listener stops listening.
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use tunstack::api::{TcpStream, Tunstack};
//! use tunstack::link::Tun;
//! use tunstack::stack::{Stack, StackConfig};
//!
//! let tun = Tun::open("tun0")?;
//! tun.configure("198.18.0.1".parse().unwrap(), 24, 1500)?;
//! let net = Tunstack::start(Stack::new(StackConfig::default()), Box::new(tun))?;
//! let server: std::net::SocketAddr = "198.18.0.1:8080".parse()?;
//! let mut s = TcpStream::connect(&net, server)?;
//! s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
//! let mut reply = String::new();
//! s.read_to_string(&mut reply)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it works: the stack lives behind one mutex. The loop thread locks it for each turn and
//! then sleeps in ppoll(2) on the link's descriptor and a wake-up socket; a user call locks
//! it, acts, and writes a byte to the wake-up socket so the loop sends what the call queued.
//! After each turn the loop notifies a condition variable; blocked calls wait on it (with
//! their timeout), so nothing polls. Links without a descriptor (the in-memory one) are
//! looked at every millisecond.

mod udp;
mod wakers;

pub use udp::UdpSocket;
pub(crate) use wakers::Wakers;

use crate::app::{App, Sockets};
use crate::link::{self, Link};
use crate::runtime::Runtime;
use crate::stack::{Owner, SocketHandle, Stack, TcpEvent};
use crate::tcp::{CloseReason, ConnectionError, Event, Keepalive, State};
use crate::time::{Duration, Instant};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

type Closed = Arc<Mutex<HashMap<SocketHandle, CloseReason>>>;

pub(crate) struct Core {
    pub(crate) runtime: Runtime<Box<dyn Link + Send>>,
    pub(crate) owner: Owner,
    start: std::time::Instant,
}

impl Core {
    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as u64)
    }
}

/// What the loop thread and every socket of one [`Tunstack`] share.
pub(crate) struct Shared {
    core: Mutex<Core>,
    turned: Condvar,
    closed: Closed,
    /// Tasks of the async API waiting on a socket; woken by the loop (through [`ApiApp`]).
    pub(crate) wakers: Arc<Mutex<Wakers>>,
    wake_tx: UnixDatagram,
    pub(crate) stop: AtomicBool,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The async API's waker table. Lock order: the core first, then this.
    pub(crate) fn wakers(&self) -> MutexGuard<'_, Wakers> {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How `handle` ended, if the loop saw it close.
    pub(crate) fn close_reason(&self, handle: SocketHandle) -> Option<CloseReason> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&handle)
            .copied()
    }

    /// Forgets how `handle` ended (its stream is dropped).
    pub(crate) fn forget(&self, handle: SocketHandle) {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&handle);
    }

    /// Tells the loop thread that a call queued work (output, a window update).
    pub(crate) fn wake(&self) {
        // A full socket already holds a wake-up; nothing is lost by ignoring that.
        let _ = self.wake_tx.send(&[1]);
    }

    /// Runs `f` until it returns `Some`, waiting for loop turns in between, up to `timeout`.
    pub(crate) fn block_on<T>(
        &self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut Core) -> Option<io::Result<T>>,
    ) -> io::Result<T> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut core = self.lock();
        loop {
            if let Some(result) = f(&mut core) {
                drop(core);
                self.wake();
                return result;
            }
            if self.stop.load(Ordering::Relaxed) {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "tunstack stopped",
                ));
            }
            self.wake();
            let wait = match deadline {
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out"));
                    }
                    d - now
                }
                None => Duration::from_secs(1),
            };
            core = self
                .turned
                .wait_timeout(core, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Records how connections ended, so a read after the connection is gone can tell a reset
/// from a normal close (MUST-12), and wakes the async tasks each event is for.
struct ApiApp {
    closed: Closed,
    wakers: Arc<Mutex<Wakers>>,
}

impl App for ApiApp {
    fn start(&mut self, _now: Instant, _sockets: &mut Sockets<'_>) -> io::Result<()> {
        Ok(())
    }

    fn on_event(&mut self, _now: Instant, _sockets: &mut Sockets<'_>, event: TcpEvent) {
        if let TcpEvent::Connection {
            handle,
            event: Event::Closed(reason),
        } = event
        {
            self.closed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(handle, reason);
        }
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_event(event);
    }

    fn poll(&mut self, _now: Instant, _sockets: &mut Sockets<'_>) {
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_turn();
    }
}

/// A running stack with its loop thread.
pub struct Tunstack {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl Tunstack {
    /// Starts the loop for `stack` on `link` in a new thread.
    pub fn start(stack: Stack, link: Box<dyn Link + Send>) -> io::Result<Tunstack> {
        let closed: Closed = Arc::default();
        let wakers: Arc<Mutex<Wakers>> = Arc::default();
        let start = std::time::Instant::now();
        let mut runtime = Runtime::new(stack, link);
        let owner = runtime.add_app(
            Instant::ZERO,
            Box::new(ApiApp {
                closed: closed.clone(),
                wakers: wakers.clone(),
            }),
        )?;
        let (wake_tx, wake_rx) = UnixDatagram::pair()?;
        wake_tx.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core {
                runtime,
                owner,
                start,
            }),
            turned: Condvar::new(),
            closed,
            wakers,
            wake_tx,
            stop: AtomicBool::new(false),
        });
        let loop_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("tunstack".into())
            .spawn(move || {
                let result = run_loop(&loop_shared, &wake_rx);
                // Stopped or failed: nobody will turn the loop again; every waiter learns it.
                loop_shared.stop.store(true, Ordering::Relaxed);
                loop_shared.turned.notify_all();
                loop_shared.wakers().wake_all();
                result
            })?;
        Ok(Tunstack {
            shared,
            thread: Some(thread),
        })
    }

    /// What the loop thread and the sockets share (for the async API).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Runs `f` on the stack (e.g. to read counters or the connection table).
    pub fn with_stack<R>(&self, f: impl FnOnce(&mut Stack) -> R) -> R {
        let r = f(&mut self.shared.lock().runtime.stack);
        self.shared.wake();
        r
    }

    /// Stops the loop and waits for its thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.wake();
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("tunstack thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for Tunstack {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn run_loop(shared: &Shared, wake_rx: &UnixDatagram) -> io::Result<()> {
    let mut drain = [0u8; 64];
    while !shared.stop.load(Ordering::Relaxed) {
        let (deadline, now, link_fd) = {
            let mut core = shared.lock();
            let start = core.start;
            let clock = move || Instant::from_micros(start.elapsed().as_micros() as u64);
            let deadline = core.runtime.turn(&clock)?;
            (deadline, clock(), core.runtime.link.raw_fd())
        };
        shared.turned.notify_all();
        while wake_rx.recv(&mut drain).is_ok() {}
        let mut timeout = deadline.map(|at| at - now);
        let mut fds = vec![wake_rx.as_raw_fd()];
        match link_fd {
            Some(fd) => fds.push(fd),
            None => {
                timeout = Some(timeout.map_or(Duration::from_millis(1), |t| {
                    t.min(Duration::from_millis(1))
                }))
            }
        }
        if timeout.is_some_and(|t| t.is_zero()) {
            continue;
        }
        link::wait_readable(&fds, timeout)?;
    }
    Ok(())
}

/// A listening socket.
pub struct TcpListener {
    shared: Arc<Shared>,
    port: u16,
}

impl TcpListener {
    /// Passive OPEN on `port` with room for `backlog` waiting connections.
    pub fn bind(net: &Tunstack, port: u16, backlog: usize) -> io::Result<TcpListener> {
        {
            let mut core = net.shared.lock();
            let owner = core.owner;
            core.runtime
                .stack
                .tcp_mut()
                .listen(port, backlog, None, owner)?;
        }
        Ok(TcpListener {
            shared: net.shared.clone(),
            port,
        })
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let port = self.port;
        let handle = self.shared.block_on(None, |core| {
            core.runtime.stack.tcp_mut().accept(port).map(Ok)
        })?;
        let stream = TcpStream::new(self.shared.clone(), handle)?;
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    /// The local port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.shared
            .lock()
            .runtime
            .stack
            .tcp_mut()
            .unlisten(self.port);
        self.shared.wake();
    }
}

/// A TCP connection, usable from any thread.
pub struct TcpStream {
    shared: Arc<Shared>,
    handle: SocketHandle,
    local: SocketAddr,
    peer: SocketAddr,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

pub(crate) fn gone(shared: &Shared, handle: SocketHandle) -> io::Error {
    match shared.close_reason(handle) {
        Some(r) => ConnectionError::Closed(r).into(),
        None => io::Error::new(io::ErrorKind::NotConnected, "connection closed"),
    }
}

impl TcpStream {
    fn new(shared: Arc<Shared>, handle: SocketHandle) -> io::Result<TcpStream> {
        let tuple = shared
            .lock()
            .runtime
            .stack
            .tcp()
            .connection(handle)
            .map(|c| c.tuple())
            .ok_or_else(|| gone(&shared, handle))?;
        Ok(TcpStream {
            shared,
            handle,
            local: tuple.local,
            peer: tuple.remote,
            read_timeout: None,
            write_timeout: None,
        })
    }

    /// Active OPEN to `remote`; waits until the handshake completes or fails.
    pub fn connect(net: &Tunstack, remote: impl Into<SocketAddr>) -> io::Result<TcpStream> {
        Self::connect_timeout(net, remote, None)
    }

    /// Like `connect`, giving up after `timeout`.
    pub fn connect_timeout(
        net: &Tunstack,
        remote: impl Into<SocketAddr>,
        timeout: Option<Duration>,
    ) -> io::Result<TcpStream> {
        let remote = remote.into();
        let shared = &net.shared;
        let handle = {
            let mut core = shared.lock();
            let (owner, now) = (core.owner, core.now());
            core.runtime
                .stack
                .tcp_mut()
                .connect(now, remote, None, owner)?
        };
        shared.wake();
        let result = shared.block_on(timeout, |core| {
            match core.runtime.stack.tcp().connection(handle) {
                None => Some(Err(gone(shared, handle))),
                Some(c) if c.state() == State::SynSent || c.state() == State::SynReceived => None,
                Some(c) if c.state() == State::Closed => Some(Err(gone(shared, handle))),
                Some(_) => Some(Ok(())),
            }
        });
        if let Err(e) = result {
            let _ = shared.lock().runtime.stack.tcp_mut().abort(handle);
            shared.wake();
            return Err(e);
        }
        TcpStream::new(shared.clone(), handle)
    }

    /// The remote end's address and port (fixed at open; still answers once closed).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }

    /// Our address and port on this connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    /// The connection's RFC 9293 state (CLOSED once it is gone).
    pub fn state(&self) -> State {
        self.shared
            .lock()
            .runtime
            .stack
            .tcp()
            .connection(self.handle)
            .map_or(State::Closed, |c| c.state())
    }

    fn with_conn<T>(&self, f: impl FnOnce(&mut crate::tcp::Connection) -> T) -> io::Result<T> {
        let r = {
            let mut core = self.shared.lock();
            let conn = core
                .runtime
                .stack
                .tcp_mut()
                .connection_mut(self.handle)
                .map_err(|_| gone(&self.shared, self.handle))?;
            f(conn)
        };
        self.shared.wake();
        Ok(r)
    }

    /// Disables Nagle's algorithm (MUST-17).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.with_conn(|c| c.set_nodelay(nodelay))
    }

    /// Turns keepalive probes on (with their idle time, interval and count) or off (MUST-24).
    pub fn set_keepalive(&self, keepalive: Option<Keepalive>) -> io::Result<()> {
        let now = self.shared.lock().now();
        self.with_conn(|c| c.set_keepalive(now, keepalive))
    }

    /// RFC 9293 user timeout (R2 for data, MUST-21).
    pub fn set_user_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.with_conn(|c| c.set_user_timeout(timeout))
    }

    /// How long `read` waits for data before failing with `TimedOut`; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }

    /// How long `write` waits for room in the send buffer before failing with `TimedOut`;
    /// `None` waits forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout = timeout;
        Ok(())
    }

    /// `Write` closes our sending side (FIN; reads go on), `Read` stops reading, `Both` does
    /// both (RFC 9293 CLOSE is a half-close).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match how {
            Shutdown::Read => Ok(()),
            Shutdown::Write | Shutdown::Both => self.with_conn(|c| c.close()),
        }
    }

    /// Closes abortively (RST).
    pub fn abort(self) -> io::Result<()> {
        self.with_conn(|c| c.abort())
    }

    fn io<T>(
        &self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut crate::tcp::Connection) -> Result<T, ConnectionError>,
    ) -> io::Result<T> {
        let (shared, handle) = (&self.shared, self.handle);
        shared.block_on(timeout, |core| {
            let Ok(conn) = core.runtime.stack.tcp_mut().connection_mut(handle) else {
                return Some(Err(gone(shared, handle)));
            };
            match f(conn) {
                Ok(v) => Some(Ok(v)),
                Err(ConnectionError::WouldBlock) => None,
                Err(e) => Some(Err(e.into())),
            }
        })
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.io(self.read_timeout, |c| c.recv(buf)) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                // Gone after a normal close: end of stream; after a reset: the error.
                match self.shared.close_reason(self.handle) {
                    Some(CloseReason::Normal) | None => Ok(0),
                    Some(r) => Err(ConnectionError::Closed(r).into()),
                }
            }
            other => other,
        }
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.io(self.write_timeout, |c| match c.send(buf) {
            Ok(0) => Err(ConnectionError::WouldBlock),
            other => other,
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        // Graceful: our FIN follows whatever is still queued; nobody reads any more.
        let now = self.shared.lock().now();
        let _ = self.with_conn(|c| c.release(now));
        self.shared.forget(self.handle);
    }
}
