//! The classic small TCP services: echo (RFC 862), discard (RFC 863), quote of the day
//! (RFC 865) and chargen (RFC 864), each a few lines of sans-IO code over the app's
//! [`Sockets`]. QOTD is the one where the server closes first, so it is how a client sees
//! our side go through FIN-WAIT and TIME-WAIT. Names and ports come from the registry.
//!
//! Each also answers UDP on its port, as its RFC describes for UDP: echo sends each datagram
//! back, discard drops it, chargen answers with a datagram of 0 to 512 characters, qotd with
//! the quote. As inetd does, no answer goes to source port 0 or to the port of a service
//! that answers (7, 13, 17, 19), so two such services cannot be set to ping-pong forever.

use super::{App, Sockets};
use crate::stack::{SocketHandle, TcpEvent, UdpEvent, UdpHandle};
use crate::tcp::{self, Event};
use crate::time::Instant;
use std::collections::HashMap;
use std::io;

/// What one of the small services does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Classic {
    /// RFC 862: sends back what it reads.
    Echo,
    /// RFC 863: reads and forgets.
    Discard,
    /// RFC 865: one quote, then our FIN.
    Qotd,
    /// RFC 864: an endless stream of character lines; what it reads is forgotten.
    Chargen,
}

/// RFC 864: 72 characters per line from the 95 printable ASCII characters, each line
/// starting one character further along, ended by CR LF.
fn chargen_line(n: u64, out: &mut Vec<u8>) {
    let start = (n % 95) as u8;
    out.extend((0..72u8).map(|i| b' ' + (start + i) % 95));
    out.extend_from_slice(b"\r\n");
}

const LINE: usize = 74;

/// The chargen stream repeats after 95 lines: built once, sent from in place.
fn chargen_cycle() -> &'static [u8] {
    static CYCLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    CYCLE.get_or_init(|| {
        let mut v = Vec::with_capacity(95 * LINE);
        for n in 0..95 {
            chargen_line(n, &mut v);
        }
        v
    })
}

/// RFC 865 asks for a short message of printable ASCII, under 512 characters.
const QUOTE: &[u8] = b"\"A TCP stack is judged by its tests.\" -- RFC 9293, between the lines\r\n";

struct Conn {
    /// Echo: bytes read but not yet accepted by `send`.
    pending: Vec<u8>,
    /// Chargen: octets of the stream sent so far.
    sent: u64,
    peer_closed: bool,
    closing: bool,
}

/// One small service on its port.
pub(crate) struct ClassicServer {
    name: &'static str,
    port: u16,
    kind: Classic,
    /// Per-listener TCP settings (e.g. keepalive); `None`: the stack's default.
    tcp: Option<tcp::Config>,
    conns: HashMap<SocketHandle, Conn>,
    accepted: u64,
    bytes: u64,
    scratch: Vec<u8>,
    /// The UDP socket on the same port.
    udp: Option<UdpHandle>,
    /// UDP datagrams received and answered.
    datagrams: (u64, u64),
    /// RFC 864 for UDP: the length of each answer is "random"; sans-IO, so seeded.
    rng: fastrand::Rng,
}

impl ClassicServer {
    /// The service `name` on `port`; `tcp` overrides the stack's TCP defaults for it.
    #[must_use]
    pub(crate) fn new(
        name: &'static str,
        port: u16,
        kind: Classic,
        tcp: Option<tcp::Config>,
    ) -> ClassicServer {
        ClassicServer {
            name,
            port,
            kind,
            tcp,
            conns: HashMap::new(),
            accepted: 0,
            bytes: 0,
            scratch: vec![0; 64 * 1024],
            udp: None,
            datagrams: (0, 0),
            rng: fastrand::Rng::with_seed(u64::from(port)),
        }
    }

    /// Answers every datagram waiting on the UDP socket.
    fn serve_udp(&mut self, sockets: &mut Sockets<'_>, h: UdpHandle) {
        let scratch = &mut self.scratch;
        while let Ok((n, from)) = sockets.udp_recv_from(h, scratch) {
            self.datagrams.0 += 1;
            // No answer to port 0 (nobody to answer) or to a service that answers back.
            if matches!(from.port(), 0 | 7 | 13 | 17 | 19) {
                log::debug!("{}: UDP from {from} not answered (source port)", self.name);
                continue;
            }
            let reply: &[u8] = match self.kind {
                // RFC 862: "send it back as an echo datagram".
                Classic::Echo => &scratch[..n],
                // RFC 863: "throw away the datagram".
                Classic::Discard => continue,
                // RFC 865: "send a datagram containing a quote (the data in the received
                // datagram is ignored)".
                Classic::Qotd => QUOTE,
                // RFC 864: "send an answering datagram containing a random number (between
                // 0 and 512) of characters (the data in the received datagram is ignored)".
                Classic::Chargen => {
                    let cycle = chargen_cycle();
                    let start = self.rng.usize(..95) * LINE;
                    &cycle[start..start + self.rng.usize(..=512).min(cycle.len() - start)]
                }
            };
            match sockets.udp_send_to(h, from, reply) {
                Ok(_) => self.datagrams.1 += 1,
                Err(e) => log::debug!("{}: UDP answer to {from} dropped: {e}", self.name),
            }
        }
    }

    /// Moves as many bytes as the connection allows right now.
    fn pump(&mut self, now: Instant, sockets: &mut Sockets<'_>, h: SocketHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let scratch = &mut self.scratch;
        let moved = match self.kind {
            Classic::Echo => echo(sockets, h, c, scratch),
            Classic::Discard => drain(sockets, h, c, scratch),
            Classic::Qotd => qotd(now, sockets, h, c, scratch),
            Classic::Chargen => {
                drain(sockets, h, c, scratch);
                chargen(sockets, h, c)
            }
        };
        self.bytes += moved;
        // Close our side once the peer has closed and nothing is left to echo.
        if c.peer_closed && c.pending.is_empty() && !c.closing {
            c.closing = true;
            let _ = sockets.release(now, h);
        }
    }
}

/// Echo: sends back what is pending, reads more, until either side blocks. Returns the
/// bytes sent.
fn echo(sockets: &mut Sockets<'_>, h: SocketHandle, c: &mut Conn, scratch: &mut [u8]) -> u64 {
    let mut moved = 0;
    loop {
        if !c.pending.is_empty() {
            match sockets.send(h, &c.pending) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    c.pending.drain(..n);
                    if c.pending.is_empty() {
                        c.pending = Vec::new(); // give the memory back
                    }
                    moved += n as u64;
                    continue;
                }
            }
        }
        // Read only what the send buffer takes now, so echoed bytes wait in TCP's buffers
        // (under the memory budget), not here.
        let room = sockets
            .stack()
            .tcp()
            .connection(h)
            .map_or(0, |c| c.send_capacity())
            .min(scratch.len());
        if room == 0 {
            let _ = sockets.send(h, &[]); // full: asks for the Writable that brings us back
            break;
        }
        match sockets.recv(h, &mut scratch[..room]) {
            Ok(0) => {
                c.peer_closed = true;
                break;
            }
            Ok(n) => {
                // Straight back from the scratch buffer; only a remainder waits here.
                let sent = sockets.send(h, &scratch[..n]).unwrap_or(0);
                moved += sent as u64;
                c.pending.extend_from_slice(&scratch[sent..n]);
            }
            Err(_) => break,
        }
    }
    moved
}

/// Reads and forgets everything that arrived; notes the peer's FIN. Returns the bytes read.
fn drain(sockets: &mut Sockets<'_>, h: SocketHandle, c: &mut Conn, scratch: &mut [u8]) -> u64 {
    let mut moved = 0;
    loop {
        match sockets.recv(h, scratch) {
            Ok(0) => {
                c.peer_closed = true;
                break;
            }
            Ok(n) => moved += n as u64,
            Err(_) => break,
        }
    }
    moved
}

/// QOTD: the quote, then our close; anything the peer sends is forgotten.
fn qotd(
    now: Instant,
    sockets: &mut Sockets<'_>,
    h: SocketHandle,
    c: &mut Conn,
    scratch: &mut [u8],
) -> u64 {
    let mut moved = 0;
    if !c.closing {
        // The quote fits any send buffer; then we close first (RFC 865).
        if let Ok(n) = sockets.send(h, QUOTE) {
            moved += n as u64;
        }
        c.closing = true;
        let _ = sockets.release(now, h);
    }
    while let Ok(n) = sockets.recv(h, scratch) {
        if n == 0 {
            break;
        }
    }
    moved
}

/// Chargen: the stream, from where it left off, while the send buffer takes it.
fn chargen(sockets: &mut Sockets<'_>, h: SocketHandle, c: &mut Conn) -> u64 {
    let mut moved = 0;
    if c.peer_closed {
        return moved;
    }
    let cycle = chargen_cycle();
    loop {
        let at = (c.sent % cycle.len() as u64) as usize;
        match sockets.send(h, &cycle[at..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                c.sent += n as u64;
                moved += n as u64;
            }
        }
    }
    moved
}

impl App for ClassicServer {
    fn start(&mut self, _now: Instant, sockets: &mut Sockets<'_>) -> io::Result<()> {
        sockets
            .listen(self.port, 128, self.tcp.clone())
            .map_err(io::Error::from)?;
        self.udp = Some(sockets.udp_bind(self.port).map_err(io::Error::from)?);
        Ok(())
    }

    fn on_event(&mut self, now: Instant, sockets: &mut Sockets<'_>, event: TcpEvent) {
        match event {
            TcpEvent::Incoming { port } if port == self.port => {
                while let Some(h) = sockets.accept(port) {
                    self.accepted += 1;
                    self.conns.insert(
                        h,
                        Conn {
                            pending: Vec::new(),
                            sent: 0,
                            peer_closed: false,
                            closing: false,
                        },
                    );
                    self.pump(now, sockets, h);
                }
            }
            TcpEvent::Incoming { .. } => {}
            TcpEvent::Connection { handle, event } => match event {
                Event::Closed(_) => {
                    self.conns.remove(&handle);
                }
                Event::Readable | Event::Writable | Event::PeerClosed | Event::Connected => {
                    self.pump(now, sockets, handle)
                }
                _ => {}
            },
            TcpEvent::Udp {
                handle,
                event: UdpEvent::Readable | UdpEvent::Error,
            } if Some(handle) == self.udp => self.serve_udp(sockets, handle),
            TcpEvent::Udp { .. } => {}
        }
    }

    fn summary(&self) -> Vec<String> {
        vec![format!(
            "{} (port {}): {} connections, {} bytes; UDP {} datagrams in, {} answered",
            self.name, self.port, self.accepted, self.bytes, self.datagrams.0, self.datagrams.1
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargen_lines_rotate_through_the_printable_characters() {
        let mut out = Vec::new();
        chargen_line(0, &mut out);
        chargen_line(1, &mut out);
        chargen_line(95, &mut out);
        assert_eq!(out.len(), 3 * 74);
        assert!(out[..72].starts_with(b" !\"#$%&"));
        assert_eq!(&out[72..74], b"\r\n");
        assert!(out[74..].starts_with(b"!\"#$%&'"));
        assert_eq!(&out[148..220], &out[..72], "period of 95 lines");
        assert!(
            out.iter()
                .all(|&b| (32..127).contains(&b) || b == b'\r' || b == b'\n')
        );
    }
}
