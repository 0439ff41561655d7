//! The classic small TCP services: echo (port 7, RFC 862), discard (9, RFC 863), quote of
//! the day (17, RFC 865) and chargen (19, RFC 864), each a few lines of sans-IO code over the
//! stack's sockets. QOTD is the one where the server closes first, so it is how a client
//! sees our side go through FIN-WAIT and TIME-WAIT.

use super::App;
use crate::stack::{Owner, SocketHandle, Stack, TcpEvent};
use crate::tcp::{Event, Keepalive};
use crate::time::Instant;
use std::collections::HashMap;
use std::io;

/// One of the small services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Echo,
    Discard,
    Qotd,
    Chargen,
}

impl Service {
    pub fn port(self) -> u16 {
        match self {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Qotd => 17,
            Service::Chargen => 19,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Echo => "echo",
            Service::Discard => "discard",
            Service::Qotd => "qotd",
            Service::Chargen => "chargen",
        }
    }

    pub const ALL: [Service; 4] = [
        Service::Echo,
        Service::Discard,
        Service::Qotd,
        Service::Chargen,
    ];

    pub fn from_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// RFC 864: 72 characters per line from the 95 printable ASCII characters, each line
/// starting one character further along, ended by CR LF.
pub fn chargen_line(n: u64, out: &mut Vec<u8>) {
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
pub const QUOTE: &[u8] =
    b"\"A TCP stack is judged by its tests.\" -- RFC 9293, between the lines\r\n";

struct Conn {
    service: Service,
    /// Echo: bytes read but not yet accepted by `send`. Chargen: the rest of a line.
    pending: Vec<u8>,
    /// Chargen: octets of the stream sent so far.
    sent: u64,
    peer_closed: bool,
    closing: bool,
}

/// Settings per service.
#[derive(Clone, Debug, Default)]
pub struct ServiceConfig {
    pub keepalive: Option<Keepalive>,
}

/// The echo, discard and chargen services as one app.
pub struct Services {
    enabled: Vec<(Service, ServiceConfig)>,
    conns: HashMap<SocketHandle, Conn>,
    accepted: HashMap<Service, u64>,
    bytes: HashMap<Service, u64>,
    scratch: Vec<u8>,
}

impl Services {
    pub fn new(enabled: Vec<(Service, ServiceConfig)>) -> Services {
        Services {
            enabled,
            conns: HashMap::new(),
            accepted: HashMap::new(),
            bytes: HashMap::new(),
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Moves as many bytes as the connection allows right now.
    fn pump(&mut self, now: Instant, stack: &mut Stack, h: SocketHandle) {
        let Some(c) = self.conns.get_mut(&h) else {
            return;
        };
        let tcp = stack.tcp_mut();
        let mut moved = 0u64;
        match c.service {
            Service::Echo => loop {
                if !c.pending.is_empty() {
                    match tcp.send(h, &c.pending) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            c.pending.drain(..n);
                            moved += n as u64;
                            continue;
                        }
                    }
                }
                match tcp.recv(h, &mut self.scratch) {
                    Ok(0) => {
                        c.peer_closed = true;
                        break;
                    }
                    Ok(n) => c.pending.extend_from_slice(&self.scratch[..n]),
                    Err(_) => break,
                }
            },
            Service::Qotd => {
                if !c.closing {
                    // The quote fits any send buffer; then we close first (RFC 865).
                    if let Ok(n) = tcp.send(h, QUOTE) {
                        moved += n as u64;
                    }
                    c.closing = true;
                    let _ = tcp.release(now, h);
                }
                while let Ok(n) = tcp.recv(h, &mut self.scratch) {
                    if n == 0 {
                        break;
                    }
                }
            }
            Service::Discard | Service::Chargen => loop {
                match tcp.recv(h, &mut self.scratch) {
                    Ok(0) => {
                        c.peer_closed = true;
                        break;
                    }
                    Ok(n) => {
                        if c.service == Service::Discard {
                            moved += n as u64;
                        }
                    }
                    Err(_) => break,
                }
            },
        }
        if c.service == Service::Chargen && !c.peer_closed {
            let cycle = chargen_cycle();
            loop {
                let at = (c.sent % cycle.len() as u64) as usize;
                match tcp.send(h, &cycle[at..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        c.sent += n as u64;
                        moved += n as u64;
                    }
                }
            }
        }
        *self.bytes.entry(c.service).or_default() += moved;
        // Close our side once the peer has closed and nothing is left to echo.
        if c.peer_closed && (c.service != Service::Echo || c.pending.is_empty()) && !c.closing {
            c.closing = true;
            let _ = tcp.release(now, h);
        }
    }
}

impl App for Services {
    fn start(&mut self, _now: Instant, stack: &mut Stack, owner: Owner) -> io::Result<()> {
        for (service, cfg) in &self.enabled {
            let mut config = stack.tcp().config().clone();
            config.keepalive = cfg.keepalive;
            stack
                .tcp_mut()
                .listen(service.port(), 128, Some(config), owner)
                .map_err(io::Error::from)?;
        }
        Ok(())
    }

    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: TcpEvent) {
        match event {
            TcpEvent::Incoming { port } => {
                let Some(&(service, _)) = self.enabled.iter().find(|(s, _)| s.port() == port)
                else {
                    return;
                };
                while let Some(h) = stack.tcp_mut().accept(port) {
                    *self.accepted.entry(service).or_default() += 1;
                    self.conns.insert(
                        h,
                        Conn {
                            service,
                            pending: Vec::new(),
                            sent: 0,
                            peer_closed: false,
                            closing: false,
                        },
                    );
                    self.pump(now, stack, h);
                }
            }
            TcpEvent::Connection { handle, event } => match event {
                Event::Closed(_) => {
                    self.conns.remove(&handle);
                }
                Event::Readable | Event::Writable | Event::PeerClosed | Event::Connected => {
                    self.pump(now, stack, handle)
                }
                _ => {}
            },
        }
    }

    fn summary(&self) -> Vec<String> {
        self.enabled
            .iter()
            .map(|(s, _)| {
                format!(
                    "{} (port {}): {} connections, {} bytes",
                    s.name(),
                    s.port(),
                    self.accepted.get(s).copied().unwrap_or(0),
                    self.bytes.get(s).copied().unwrap_or(0)
                )
            })
            .collect()
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
