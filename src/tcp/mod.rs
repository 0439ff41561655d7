//! Our RFC 9293 TCP engine: one [`Connection`] per 4-tuple, sans-IO and deterministic.
//!
//! | file | job |
//! |---|---|
//! | `seq.rs` | [`SeqNum`], wrapping comparison (no `PartialOrd`) |
//! | `reset.rs` | [`reset_for`]: the RST answering a segment for no connection |
//! | `state.rs` | the eleven [`State`]s |
//! | `send.rs`, `recv.rs` | send and receive sequence spaces and buffers |
//! | `reassembly.rs` | bounded out-of-order data, SACK blocks |
//! | `rtt.rs` | RFC 6298 RTO with Karn |
//! | `timers.rs` | [`TimerKind`], the deadline table and what each timer does |
//! | `congestion.rs` | RFC 5681 + RFC 6582 NewReno |
//! | `isn.rs` | RFC 6528 [`IsnGenerator`] |
//! | `config.rs` | [`Config`], [`Event`], [`CloseReason`], [`Stats`] and other API types |
//! | `connection.rs` | the public API; `input.rs` segment arrival; `output.rs` segments out |
//!
//! # What the stack does around it
//! - Demultiplexing and listeners live in the stack. A segment for a listening port with SYN
//!   set and ACK/RST clear becomes [`Connection::accept`] (ISS from [`IsnGenerator`]); a
//!   listener answers a segment with ACK by [`reset_for`] and ignores a RST
//!   (RFC 9293 §3.10.7.2).
//! - A segment matching no connection (or one already `Closed`) is answered with
//!   [`reset_for`] (RFC 9293 §3.10.7.1), ports swapped.
//! - A SYN for a 4-tuple in TIME-WAIT: if [`Connection::time_wait_accepts_syn`], drop the
//!   old connection and treat the SYN as new; otherwise pass it to `handle_segment`.
//! - ICMP errors quoting one of our segments go to [`Connection::handle_icmp_error`];
//!   a fragmentation-needed with a next-hop MTU also to [`Connection::handle_path_mtu`].
//! - `Config::mss` should be the local MTU − 40 (MUST-67).
//!
//! Logging: `trace!` prints every segment in RFC notation (`<` in, `>` out), `debug!` the
//! protocol decisions and each open and close (not `info!`: writing those two lines per
//! connection cost the daemon a quarter of its new-connection rate, 24–27k → 32–35k per
//! second with `wrk -c50 -H 'Connection: close'`); every line starts with the 4-tuple.
#![forbid(unsafe_code)]

pub mod config;
pub mod congestion;
pub mod connection;
mod input;
pub mod isn;
mod output;
pub mod reassembly;
pub mod recv;
mod reset;
pub mod rtt;
/// The TCP codec lives in `wire::tcp`; the engine names it `segment`.
pub(crate) use crate::wire::tcp as segment;
pub mod send;
pub mod seq;
pub mod state;
pub mod timers;

pub use crate::wire::tcp::{Ctl, Options, SackBlocks, Segment, SegmentRef};
pub use congestion::Algorithm;
pub use connection::{
    CloseReason, Config, Connection, ConnectionError, Event, FourTuple, IcmpError, Keepalive, Stats,
};
pub use isn::IsnGenerator;
pub use reset::reset_for;
pub use seq::SeqNum;
pub use state::State;
pub use timers::TimerKind;
