//! The smoltcp baseline: smoltcp's own `Interface` and TCP sockets on the same TUN setup as
//! tunstack, so the benchmarks compare the two stacks on one machine in one run. It is
//! dual-stack like tunstack: the interface holds an IPv4 and an IPv6 address (smoltcp's TCP
//! sockets listen on a port, any address, so every service answers on both), and it answers
//! ping and ping -6 (smoltcp's interface replies to ICMP and ICMPv6 echo requests itself).
//! It serves the same small services as tunstack: echo (7), discard (9) and chargen (19),
//! several sockets per port, and a minimal keep-alive HTTP/1.1 responder on port 80: every
//! complete request head (up to `\r\n\r\n`; pipelined heads are answered in order) gets the
//! same fixed 200 response whose body is tunstack's built-in page (src/app/http/page.html),
//! with Content-Length; the connection stays open unless the request says
//! `Connection: close`. No request bodies.
//!
//! The device must exist and be configured beforehand (`scripts/netns.sh -p` does that: the
//! kernel side gets 198.18.0.1/24 and 2001:2::1/64):
//!
//!     smoltcp_peer [--dev tun0] [--addr 198.18.0.2] [--addr6 2001:2::2] [--no-ipv6]
//!                  [--buffer BYTES] [--sockets N] [--http-sockets N] [--idle N]
//!
//! `--addr` goes on the interface as a /24, `--addr6` as a /64; `--no-ipv6` leaves the IPv6
//! address off.
//!
//! `--http-sockets` (default 128) is the pool listening on port 80 (16 KiB buffers each);
//! `--idle N` adds N more echo sockets on port 7 with 4 KiB buffers each, for the benchmarks
//! that hold thousands of idle connections (smoltcp has no accept queue: one socket per
//! connection, allocated up front).
//!
//! smoltcp is a dev-dependency of tunstack: it is our sparring partner, never our engine.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface, wait as phy_wait};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, PartialEq)]
enum Service {
    Echo,
    Discard,
    Chargen,
    Http,
}

/// The body of every HTTP response: tunstack's built-in page, so both serve the same bytes.
const PAGE: &[u8] = include_bytes!("../src/app/http/page.html");

/// The fixed response: status line, Content-Length and the page.
fn http_response() -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        PAGE.len()
    )
    .into_bytes();
    r.extend_from_slice(PAGE);
    r
}

/// Whether a request head asks to close the connection (case-insensitive, minimal).
fn wants_close(head: &[u8]) -> bool {
    let lower = head.to_ascii_lowercase();
    lower.windows(17).any(|w| w == b"connection: close")
}

impl Service {
    fn port(self) -> u16 {
        match self {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Chargen => 19,
            Service::Http => 80,
        }
    }
}

/// The RFC 864 stream repeats after 95 lines of 74 octets (72 printable characters, CR LF,
/// each line starting one character further), as tunstack sends it.
const CYCLE: usize = 95 * 74;

/// One period of the chargen stream, built once; the service copies from it straight into
/// the socket's ring space (one copy, as tunstack's chargen does: the bench compares the
/// stacks, not a per-octet pattern generator).
fn chargen_cycle() -> Vec<u8> {
    let mut v = Vec::with_capacity(CYCLE);
    for line in 0..95u8 {
        v.extend((0..72u8).map(|i| b' ' + (line + i) % 95));
        v.extend_from_slice(b"\r\n");
    }
    v
}

struct Slot {
    handle: SocketHandle,
    service: Service,
    /// Chargen: the next byte of the pattern.
    pos: u64,
    /// HTTP: request bytes received but not yet answered (an incomplete head).
    head: Vec<u8>,
    /// HTTP: a `Connection: close` request was answered; close once it is queued.
    closing: bool,
}

fn main() {
    let mut dev = "tun0".to_string();
    let mut addr = "198.18.0.2".to_string();
    let mut addr6 = Some("2001:2::2".to_string());
    let mut buffer = 4 << 20;
    let mut per_port = 4;
    let mut http_sockets = 128;
    let mut idle = 0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dev" => dev = args.next().expect("--dev NAME"),
            "--addr" => addr = args.next().expect("--addr IP"),
            "--addr6" => addr6 = Some(args.next().expect("--addr6 IP")),
            "--no-ipv6" => addr6 = None,
            "--buffer" => buffer = args.next().expect("--buffer BYTES").parse().expect("bytes"),
            "--sockets" => per_port = args.next().expect("--sockets N").parse().expect("count"),
            "--http-sockets" => {
                http_sockets = args
                    .next()
                    .expect("--http-sockets N")
                    .parse()
                    .expect("count")
            }
            "--idle" => idle = args.next().expect("--idle N").parse().expect("count"),
            other => panic!("smoltcp_peer: unknown argument {other:?}"),
        }
    }
    let addr: std::net::Ipv4Addr = addr.parse().expect("--addr must be an IPv4 address");
    let addr6: Option<std::net::Ipv6Addr> =
        addr6.map(|a| a.parse().expect("--addr6 must be an IPv6 address"));

    let mut device = TunTapInterface::new(&dev, Medium::Ip).unwrap_or_else(|e| {
        eprintln!("smoltcp_peer: opening {dev}: {e} (create it first, e.g. scripts/netns.sh -p)");
        std::process::exit(1)
    });
    let fd = device.as_raw_fd();
    let start = std::time::Instant::now();
    let now = || SmolInstant::from_micros(start.elapsed().as_micros() as i64);

    let config = Config::new(HardwareAddress::Ip);
    let mut iface = Interface::new(config, &mut device, now());
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(addr), 24))
            .expect("one address fits");
        if let Some(addr6) = addr6 {
            // smoltcp holds two addresses per interface by default (IFACE_MAX_ADDR_COUNT).
            addrs
                .push(IpCidr::new(IpAddress::Ipv6(addr6), 64))
                .expect("a second address fits");
        }
    });
    let mut sockets = SocketSet::new(vec![]);
    let mut slots = Vec::new();
    let pools = [
        (Service::Echo, per_port, buffer),
        (Service::Discard, per_port, buffer),
        (Service::Chargen, per_port, buffer),
        (Service::Http, http_sockets, 16 << 10),
        (Service::Echo, idle, 4 << 10),
    ];
    for (service, count, buffer) in pools {
        for _ in 0..count {
            let mut s = tcp::Socket::new(
                tcp::SocketBuffer::new(vec![0; buffer]),
                tcp::SocketBuffer::new(vec![0; buffer]),
            );
            s.set_congestion_control(tcp::CongestionControl::Reno);
            s.listen(service.port()).expect("listen");
            slots.push(Slot {
                handle: sockets.add(s),
                service,
                pos: 0,
                head: Vec::new(),
                closing: false,
            });
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).expect("signal handler");
    }
    let also6 = addr6.map(|a| format!(" and {a}")).unwrap_or_default();
    eprintln!(
        "smoltcp_peer answering at {addr}{also6} on {dev} (echo 7, discard 9, chargen 19, http 80)"
    );
    let mut scratch = vec![0u8; 256 * 1024];
    let response = http_response();
    let cycle = chargen_cycle();
    while !stop.load(Ordering::Relaxed) {
        let changed = iface.poll(now(), &mut device, &mut sockets);
        for slot in &mut slots {
            let s = sockets.get_mut::<tcp::Socket>(slot.handle);
            if !s.is_open() {
                slot.pos = 0;
                slot.head.clear();
                slot.closing = false;
                let _ = s.listen(slot.service.port());
                continue;
            }
            match slot.service {
                Service::Discard => while s.recv(|b| (b.len(), b.len())).unwrap_or(0) > 0 {},
                Service::Echo => {
                    while s.can_recv() && s.can_send() {
                        let room = (s.send_capacity() - s.send_queue()).min(scratch.len());
                        let n = s.recv_slice(&mut scratch[..room]).unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        let _ = s.send_slice(&scratch[..n]);
                    }
                }
                Service::Http => {
                    serve_http(s, &mut slot.head, &mut slot.closing, &response);
                }
                Service::Chargen => {
                    while s.recv(|b| (b.len(), b.len())).unwrap_or(0) > 0 {}
                    // Claim ring space and fill it from the cycle (up to twice: the ring
                    // may wrap), no scratch buffer in between.
                    for _ in 0..2 {
                        if !s.can_send() {
                            break;
                        }
                        let pos = &mut slot.pos;
                        let _ = s.send(|b| {
                            let mut done = 0;
                            while done < b.len() {
                                let at = (*pos % CYCLE as u64) as usize;
                                let n = (CYCLE - at).min(b.len() - done);
                                b[done..done + n].copy_from_slice(&cycle[at..at + n]);
                                done += n;
                                *pos += n as u64;
                            }
                            (b.len(), ())
                        });
                    }
                }
            }
            if !s.may_recv()
                && s.may_send()
                && (slot.service != Service::Echo || s.send_queue() == 0)
            {
                s.close();
            }
        }
        // Sockets changed: serve them again before sleeping (what the services queued is
        // sent by the next poll at the top of the loop).
        if changed == smoltcp::iface::PollResult::SocketStateChanged {
            continue;
        }
        iface.poll(now(), &mut device, &mut sockets);
        let delay = iface.poll_delay(now(), &sockets);
        // An interrupted wait (a signal) simply loops back to the stop check.
        let _ = phy_wait(fd, delay);
    }
    eprintln!("smoltcp_peer: stopped");
}

/// One round of the HTTP responder on one socket: take what arrived, answer every complete
/// head whose response fits in the send buffer, close after a `Connection: close` request.
fn serve_http(s: &mut tcp::Socket, head: &mut Vec<u8>, closing: &mut bool, response: &[u8]) {
    if *closing {
        while s.recv(|b| (b.len(), b.len())).unwrap_or(0) > 0 {}
        return;
    }
    while s.can_recv() && head.len() < 64 << 10 {
        let got = s
            .recv(|b| {
                head.extend_from_slice(b);
                (b.len(), b.len())
            })
            .unwrap_or(0);
        if got == 0 {
            break;
        }
    }
    loop {
        let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
            if head.len() >= 64 << 10 {
                s.abort(); // a head this long is not a request we answer
            }
            return;
        };
        if s.send_capacity() - s.send_queue() < response.len() {
            return; // answered when the peer has taken some of the earlier ones
        }
        let _ = s.send_slice(response);
        let close = wants_close(&head[..end]);
        head.drain(..end + 4);
        if close {
            *closing = true;
            s.close();
            return;
        }
    }
}
