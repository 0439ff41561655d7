//! [`Sockets`]: what an app may do with the stack, and nothing more. The runtime lends one to
//! each app call; it carries the app's [`Owner`] tag, so listeners and connections the app
//! opens are tagged for it and their events come back to it.
//!
//! Every method delegates to the stack's socket functions: the view costs nothing, and it is
//! the one place where apps meet the stack's API.

use crate::stack::{ListenerInfo, Owner, SocketHandle, Stack, TcpError, UdpError, UdpHandle};
use crate::tcp::{self, State};
use crate::time::Instant;
use std::net::SocketAddr;

/// The stack's sockets, as one app sees them.
pub struct Sockets<'a> {
    stack: &'a mut Stack,
    owner: Owner,
}

impl<'a> Sockets<'a> {
    /// The view of `stack` for the app tagged `owner`.
    #[must_use]
    #[inline]
    pub(crate) fn new(stack: &'a mut Stack, owner: Owner) -> Sockets<'a> {
        Sockets { stack, owner }
    }

    /// The app's tag.
    #[inline]
    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// The TCP settings connections get unless a listener says otherwise.
    #[inline]
    pub fn default_config(&self) -> &tcp::Config {
        self.stack.tcp().config()
    }

    /// Passive OPEN on `port` for this app (RFC 9293 §3.9.1.1); `config` overrides the
    /// stack's defaults for the connections it accepts.
    #[inline]
    pub fn listen(
        &mut self,
        port: u16,
        backlog: usize,
        config: Option<tcp::Config>,
    ) -> Result<(), TcpError> {
        self.stack
            .tcp_mut()
            .listen(port, backlog, config, self.owner)
    }

    /// The next connection that completed its handshake on `port`.
    #[inline]
    pub fn accept(&mut self, port: u16) -> Option<SocketHandle> {
        self.stack.tcp_mut().accept(port)
    }

    /// Queues `data`; returns how much the send buffer took.
    #[inline]
    pub fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, TcpError> {
        self.stack.tcp_mut().send(h, data)
    }

    /// Reads into `buf`; `Ok(0)` after the peer's FIN.
    #[inline]
    pub fn recv(&mut self, h: SocketHandle, buf: &mut [u8]) -> Result<usize, TcpError> {
        self.stack.tcp_mut().recv(h, buf)
    }

    /// Half-close: our FIN follows what is queued; reading goes on.
    #[inline]
    pub fn close(&mut self, h: SocketHandle) -> Result<(), TcpError> {
        self.stack.tcp_mut().close(h)
    }

    /// The app is done with `h`: close it and let TCP finish on its own.
    #[inline]
    pub fn release(&mut self, now: Instant, h: SocketHandle) -> Result<(), TcpError> {
        self.stack.tcp_mut().release(now, h)
    }

    /// Reset the connection (RST).
    #[inline]
    pub fn abort(&mut self, h: SocketHandle) -> Result<(), TcpError> {
        self.stack.tcp_mut().abort(h)
    }

    /// TTL and DiffServ code point of the connection's datagrams (MUST-48/49).
    #[inline]
    pub fn set_ip_options(&mut self, h: SocketHandle, ttl: u8, dscp: u8) -> Result<(), TcpError> {
        self.stack.tcp_mut().set_ip_options(h, ttl, dscp)
    }

    /// The connection's RFC 9293 state; `None` once it is gone.
    #[inline]
    pub fn state(&self, h: SocketHandle) -> Option<State> {
        self.stack.tcp().connection(h).map(|c| c.state())
    }

    /// Opens a UDP socket on `port` for this app; its datagrams come as `TcpEvent::Udp`.
    #[inline]
    pub fn udp_bind(&mut self, port: u16) -> Result<UdpHandle, UdpError> {
        self.stack.udp_bind(port, self.owner)
    }

    /// The next datagram of `h` and its sender (`WouldBlock` when none waits).
    #[inline]
    pub fn udp_recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), UdpError> {
        self.stack.udp_recv_from(h, buf)
    }

    /// Sends one datagram from `h` to `to` (fragmented above the MTU).
    #[inline]
    pub fn udp_send_to(
        &mut self,
        h: UdpHandle,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<usize, UdpError> {
        self.stack.udp_send_to(h, to, data)
    }

    /// Every listener, with its queues.
    pub fn listeners(&self) -> Vec<ListenerInfo> {
        self.stack.tcp().listeners()
    }

    /// The whole stack, read-only: for apps that report on it (the control socket's `ss`
    /// and `stats`).
    #[inline]
    pub fn stack(&self) -> &Stack {
        self.stack
    }
}
