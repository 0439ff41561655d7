//! [`UdpSocket`] of the async API.

use crate::api::{Shared, Tunstack};
use crate::stack::{UdpError, UdpHandle};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

/// A UDP socket with async `send_to`/`recv_from`. Dropping it closes it.
pub struct UdpSocket {
    shared: Arc<Shared>,
    handle: UdpHandle,
    port: u16,
}

impl UdpSocket {
    /// Opens a socket on `port` of our addresses (0: a free dynamic port, RFC 6335).
    pub fn bind(net: &Tunstack, port: u16) -> io::Result<UdpSocket> {
        let shared = net.shared().clone();
        let (handle, port) = {
            let mut core = shared.lock();
            let owner = core.owner;
            let stack = &mut core.runtime.stack;
            let h = stack.udp_bind(port, owner)?;
            (h, stack.udp().local_port(h).expect("just bound"))
        };
        Ok(UdpSocket {
            shared,
            handle,
            port,
        })
    }

    /// The local port.
    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// Only `peer`'s datagrams are received from now on, `send` goes to it, and ICMP errors
    /// about it come back as errors of the next call (`ConnectionRefused` for port
    /// unreachable).
    pub fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        let mut core = self.shared.lock();
        Ok(core.runtime.stack.udp_connect(self.handle, Some(peer))?)
    }

    /// Sends `data` as one datagram to `to` (fragmented above the MTU); waits while the link
    /// queue is full. Cancel safe.
    pub async fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send_to(cx, data, to)).await
    }

    /// Sends `data` to the connected peer. Cancel safe.
    pub async fn send(&self, data: &[u8]) -> io::Result<usize> {
        let peer = self.shared.lock().runtime.stack.udp().peer(self.handle);
        let peer = peer.ok_or(io::Error::from(UdpError::NoPeer))?;
        self.send_to(data, peer).await
    }

    /// Polls sending `data` to `to`; registers `cx`'s waker while the link queue is full.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        data: &[u8],
        to: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        let mut core = self.shared.lock();
        match core.runtime.stack.udp_send_to(self.handle, to, data) {
            Err(UdpError::WouldBlock) => {
                if self.shared.stop.load(Ordering::Relaxed) {
                    return Poll::Ready(Err(stopped()));
                }
                self.shared.wakers().register_udp_send(cx.waker());
                drop(core);
                // The loop's next turn drains the link queue and then wakes us.
                self.shared.wake();
                Poll::Pending
            }
            other => {
                drop(core);
                self.shared.wake();
                Poll::Ready(other.map_err(io::Error::from))
            }
        }
    }

    /// Waits for the next datagram: the octets copied into `buf` (the rest of a longer one is
    /// discarded) and its sender. Cancel safe.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Waits for the next datagram from the connected peer. Cancel safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    /// Polls for a datagram; registers `cx`'s waker when none waits.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let mut core = self.shared.lock();
        match core.runtime.stack.udp_recv_from(self.handle, buf) {
            Err(UdpError::WouldBlock) => {
                if self.shared.stop.load(Ordering::Relaxed) {
                    return Poll::Ready(Err(stopped()));
                }
                self.shared
                    .wakers()
                    .register_udp_recv(self.handle, cx.waker());
                Poll::Pending
            }
            other => Poll::Ready(other.map_err(io::Error::from)),
        }
    }
}

fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "tunstack stopped")
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        let mut core = self.shared.lock();
        core.runtime.stack.udp_close(self.handle);
        self.shared.wakers().forget_udp(self.handle);
    }
}
