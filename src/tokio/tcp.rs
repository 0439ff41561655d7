//! [`TcpListener`] and [`TcpStream`] of the async API.

use crate::api::{Shared, Tunstack, gone};
use crate::stack::SocketHandle;
use crate::tcp::{CloseReason, ConnectionError, State};
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "tunstack stopped")
}

/// A listening socket; [`TcpListener::accept`] is async.
pub struct TcpListener {
    shared: Arc<Shared>,
    port: u16,
}

impl TcpListener {
    /// Passive OPEN on `port` with room for `backlog` waiting connections.
    pub fn bind(net: &Tunstack, port: u16, backlog: usize) -> io::Result<TcpListener> {
        let shared = net.shared().clone();
        {
            let mut core = shared.lock();
            let owner = core.owner;
            core.runtime
                .stack
                .tcp_mut()
                .listen(port, backlog, None, owner)?;
        }
        Ok(TcpListener { shared, port })
    }

    /// The local port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits for the next connection that completed its handshake. Cancel safe.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection; registers `cx`'s waker when there is none.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let mut core = self.shared.lock();
        if self.shared.stop.load(Ordering::Relaxed) {
            return Poll::Ready(Err(stopped()));
        }
        let tcp = core.runtime.stack.tcp_mut();
        match tcp.accept(self.port) {
            Some(h) => {
                let tuple = tcp.connection(h).map(|c| c.tuple());
                drop(core);
                self.shared.wake();
                Poll::Ready(match tuple {
                    Some(t) => Ok((
                        TcpStream::new(self.shared.clone(), h, t.local, t.remote),
                        t.remote,
                    )),
                    None => Err(gone(&self.shared, h)),
                })
            }
            None => {
                self.shared.wakers().register_accept(self.port, cx.waker());
                Poll::Pending
            }
        }
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
        self.shared.wakers().forget_accept(self.port);
        self.shared.wake();
    }
}

/// A TCP connection: tokio's `AsyncRead` and `AsyncWrite`. Dropping it closes it gracefully
/// (our FIN follows what is queued).
pub struct TcpStream {
    shared: Arc<Shared>,
    handle: SocketHandle,
    local: SocketAddr,
    peer: SocketAddr,
}

/// Aborts a connection attempt whose `connect` future was dropped before it finished.
struct Connecting<'a> {
    shared: &'a Arc<Shared>,
    handle: SocketHandle,
    done: bool,
}

impl Drop for Connecting<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self
                .shared
                .lock()
                .runtime
                .stack
                .tcp_mut()
                .abort(self.handle);
            self.shared.wakers().forget_stream(self.handle);
            self.shared.wake();
        }
    }
}

impl TcpStream {
    fn new(shared: Arc<Shared>, handle: SocketHandle, local: SocketAddr, peer: SocketAddr) -> Self {
        TcpStream {
            shared,
            handle,
            local,
            peer,
        }
    }

    /// Active OPEN to `remote`; completes when the handshake does. Dropping the future
    /// before then aborts the attempt (not cancel safe).
    pub async fn connect(net: &Tunstack, remote: impl Into<SocketAddr>) -> io::Result<TcpStream> {
        let remote = remote.into();
        let shared = net.shared();
        let (handle, local) = {
            let mut core = shared.lock();
            let (owner, now) = (core.owner, core.now());
            let tcp = core.runtime.stack.tcp_mut();
            let h = tcp.connect(now, remote, None, owner)?;
            (h, tcp.connection(h).expect("just made").tuple().local)
        };
        shared.wake();
        let mut attempt = Connecting {
            shared,
            handle,
            done: false,
        };
        poll_fn(|cx| {
            let core = shared.lock();
            if shared.stop.load(Ordering::Relaxed) {
                return Poll::Ready(Err(stopped()));
            }
            match core
                .runtime
                .stack
                .tcp()
                .connection(handle)
                .map(|c| c.state())
            {
                Some(State::SynSent | State::SynReceived) => {
                    shared.wakers().register_write(handle, cx.waker());
                    Poll::Pending
                }
                None | Some(State::Closed) => Poll::Ready(Err(gone(shared, handle))),
                Some(_) => Poll::Ready(Ok(())),
            }
        })
        .await?;
        attempt.done = true;
        Ok(TcpStream::new(shared.clone(), handle, local, remote))
    }

    /// The remote end's address and port.
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

    /// Disables Nagle's algorithm (MUST-17).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let mut core = self.shared.lock();
        let conn = core
            .runtime
            .stack
            .tcp_mut()
            .connection_mut(self.handle)
            .map_err(|_| gone(&self.shared, self.handle))?;
        conn.set_nodelay(nodelay);
        Ok(())
    }

    /// The end of the stream: end of file after a normal close, the error after a reset.
    fn ended(&self) -> io::Result<()> {
        match self.shared.close_reason(self.handle) {
            Some(CloseReason::Normal) | None => Ok(()),
            Some(r) => Err(ConnectionError::Closed(r).into()),
        }
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let this = self.get_mut();
        let mut core = this.shared.lock();
        let Ok(conn) = core.runtime.stack.tcp_mut().connection_mut(this.handle) else {
            return Poll::Ready(this.ended());
        };
        match conn.recv(buf.initialize_unfilled()) {
            Ok(n) => {
                buf.advance(n);
                drop(core);
                // Reading may open the window: let the loop send the update.
                this.shared.wake();
                Poll::Ready(Ok(()))
            }
            Err(ConnectionError::WouldBlock) => {
                if this.shared.stop.load(Ordering::Relaxed) {
                    return Poll::Ready(Err(stopped()));
                }
                this.shared.wakers().register_read(this.handle, cx.waker());
                Poll::Pending
            }
            Err(ConnectionError::Closed(CloseReason::Normal)) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = self.get_mut();
        let mut core = this.shared.lock();
        let Ok(conn) = core.runtime.stack.tcp_mut().connection_mut(this.handle) else {
            return Poll::Ready(Err(gone(&this.shared, this.handle)));
        };
        match conn.send(data) {
            Ok(0) => {
                if this.shared.stop.load(Ordering::Relaxed) {
                    return Poll::Ready(Err(stopped()));
                }
                // The send buffer is full: Writable comes when ACKs free room.
                this.shared.wakers().register_write(this.handle, cx.waker());
                Poll::Pending
            }
            Ok(n) => {
                drop(core);
                this.shared.wake();
                Poll::Ready(Ok(n))
            }
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Everything written is already the stack's to send.
        Poll::Ready(Ok(()))
    }

    /// Our FIN: a half-close (RFC 9293 CLOSE); reading goes on.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = {
            let mut core = this.shared.lock();
            match core.runtime.stack.tcp_mut().connection_mut(this.handle) {
                Ok(conn) => {
                    conn.close();
                    Ok(())
                }
                Err(_) => Err(gone(&this.shared, this.handle)),
            }
        };
        this.shared.wake();
        Poll::Ready(result)
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        {
            let mut core = self.shared.lock();
            let now = core.now();
            let _ = core.runtime.stack.tcp_mut().release(now, self.handle);
            self.shared.wakers().forget_stream(self.handle);
        }
        self.shared.forget(self.handle);
        self.shared.wake();
    }
}
