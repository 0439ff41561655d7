//! tunstack: a userspace TCP/IP stack behind a Linux TUN device.
//!
//! ```text
//!  bin/tunstack   CLI, logging, signals; the only place that reads the wall clock
//!  runtime        the packet loop: poll(2) on the TUN fd until the next deadline
//!  stack          IPv4 in/out, fragment reassembly, ICMP, (TCP demux)
//!  tcp            our RFC 9293 engine: one Connection per 4-tuple, sans-IO
//!  wire           header parsing/emitting and checksums on top of etherparse
//!  link           Tun (tun-tap), Pcap tap, seeded Faults, in-memory Memory pair
//! ```
//!
//! # The sans-IO contract
//! Nothing below [`runtime`] does I/O, reads a clock or draws OS randomness: time (`now`) and
//! seeds are passed in, so every behaviour can be replayed in a test. Each layer is driven the
//! same way: feed input with `handle_*`, then drain output with `poll_transmit`, ask for the
//! next deadline with `poll_timeout`, and call `handle_timeout` when it passes (calling it
//! early or twice is harmless).

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
pub mod wire;
