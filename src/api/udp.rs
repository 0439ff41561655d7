//! [`UdpSocket`] of the blocking embedding API, shaped like `std::net::UdpSocket`.

use super::{Shared, Tunstack};
use crate::stack::{UdpError, UdpHandle};
use crate::time::Duration;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A UDP socket on the stack, usable from any thread. Dropping it closes it.
///
/// ```no_run
/// # fn main() -> std::io::Result<()> {
/// # let net: tunstack::api::Tunstack = unimplemented!();
/// use tunstack::api::UdpSocket;
/// let mut socket = UdpSocket::bind(&net, 0)?;
/// socket.set_read_timeout(Some(std::time::Duration::from_secs(1)))?;
/// socket.send_to(b"ping", "198.18.0.1:7".parse().unwrap())?;
/// let mut buf = [0; 1500];
/// let (n, from) = socket.recv_from(&mut buf)?;
/// # Ok(()) }
/// ```
pub struct UdpSocket {
    shared: Arc<Shared>,
    handle: UdpHandle,
    port: u16,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
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
            read_timeout: None,
            write_timeout: None,
        })
    }

    /// The local port.
    pub fn local_port(&self) -> u16 {
        self.port
    }

    /// Only `peer`'s datagrams are received from now on, `send` goes to it, and ICMP errors
    /// about datagrams to it come back as errors of the next call (`ConnectionRefused` for
    /// port unreachable).
    pub fn connect(&self, peer: SocketAddr) -> io::Result<()> {
        let mut core = self.shared.lock();
        Ok(core.runtime.stack.udp_connect(self.handle, Some(peer))?)
    }

    /// The connected peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.shared
            .lock()
            .runtime
            .stack
            .udp()
            .peer(self.handle)
            .ok_or_else(|| UdpError::NoPeer.into())
    }

    /// How long `recv`/`recv_from` wait; `None` waits forever.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }

    /// How long `send`/`send_to` wait for room in the link queue; `None` waits forever.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout = timeout;
        Ok(())
    }

    fn call<T>(
        &self,
        timeout: Option<Duration>,
        mut f: impl FnMut(&mut crate::stack::Stack) -> Result<T, UdpError>,
    ) -> io::Result<T> {
        self.shared
            .block_on(timeout, |core| match f(&mut core.runtime.stack) {
                Err(UdpError::WouldBlock) => None,
                other => Some(other.map_err(io::Error::from)),
            })
    }

    /// Sends `data` as one datagram to `to` (fragmented above the MTU); waits while the
    /// link queue is full.
    pub fn send_to(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        let h = self.handle;
        self.call(self.write_timeout, |s| s.udp_send_to(h, to, data))
    }

    /// Sends `data` to the connected peer.
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        let h = self.handle;
        self.call(self.write_timeout, |s| s.udp_send(h, data))
    }

    /// Waits for the next datagram: the octets copied into `buf` (the rest of a longer
    /// datagram is discarded, as `recvfrom(2)` does) and its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let h = self.handle;
        self.call(self.read_timeout, |s| s.udp_recv_from(h, buf))
    }

    /// Waits for the next datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.recv_from(buf)?.0)
    }
}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        self.shared.lock().runtime.stack.udp_close(self.handle);
    }
}
