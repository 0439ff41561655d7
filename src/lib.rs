//! tunstack: a userspace TCP/IP stack behind a Linux TUN device.
//!
//! The layers as they are, top to bottom; each uses only those below it:
//!
//! ```text
//!  bin/tunstack  CLI, logging, signals, the shutdown summary; the only wall clock
//!  control       the `tunstack ss` / `stats` socket (reads the stack, never changes it)
//!  api, tokio    the embedding APIs: blocking (Tunstack, TcpListener, TcpStream,
//!                UdpSocket) and async behind the `tokio` feature (the same sockets as
//!                tokio I/O objects; wakers fed by the loop)
//!  runtime       the packet loop: read every ready packet, timers, apps, write, sleep
//!                until the next deadline (poll(2) on the device)
//!  app           App trait + Sockets view; registry of services: echo, discard, qotd,
//!                chargen (TCP and UDP), http/https (httparse, caching, rustls)
//!  stack         the IP host: ingress checks, reassembly, ICMP, UDP sockets; its TCP
//!                layer (sockets, listeners, demux, timer heap, TIME-WAIT cap) and the
//!                Transmit value that carries a segment down to the IP emitter
//!  tcp           our RFC 9293 engine: one Connection per 4-tuple, family-neutral
//!  wire          codecs: ipv4, icmp, udp, tcp (over a PseudoHeader), drop reasons
//!  link          Link trait + PacketDesc; Tun, Memory, and the Pcap / Faults wrappers
//! ```
//!
//! # The sans-IO contract
//! Nothing below [`runtime`] does I/O, reads a clock or draws OS randomness: time (`now`) and
//! seeds are passed in, so every behaviour can be replayed in a test. Each layer is driven the
//! same way: feed input with `handle_*`, then drain output with `poll_transmit`, ask for the
//! next deadline with `poll_timeout`, and call `handle_timeout` when it passes (calling it
//! early or twice is harmless).
//!
//! # Poll order
//! After any input, drain in this order: `poll_transmit` until `None` (segments and
//! packets), then `poll_timeout` (the next deadline), then `poll_event` until `None` (what
//! applications react to). [`runtime::Runtime::turn`] does exactly that, reading every
//! ready packet before producing output so that a burst is answered with merged ACKs.

#![deny(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod api;
pub mod app;
pub mod control;
pub mod link;
pub mod runtime;
pub mod stack;
pub mod tcp;
pub mod time;
#[cfg(feature = "tokio")]
pub mod tokio;
pub mod wire;
