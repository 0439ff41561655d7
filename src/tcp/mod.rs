//! Our RFC 9293 TCP engine: one [`Connection`] per 4-tuple, sans-IO and deterministic.
//!
//! | file | job |
//! |---|---|
//! | `seq.rs` | [`SeqNum`], wrapping comparison (no `PartialOrd`) |
//! | `segment.rs` | [`Segment`] apart from wire bytes; parse/emit via etherparse; [`reset_for`] |
//! | `state.rs` | the eleven [`State`]s |
//! | `send.rs`, `recv.rs` | send and receive sequence spaces and buffers |
//! | `reassembly.rs` | bounded out-of-order data, SACK blocks |
//! | `rtt.rs` | RFC 6298 RTO with Karn |
//! | `timers.rs` | [`TimerKind`] and the deadline table |
//! | `congestion.rs` | RFC 5681 + RFC 6582 NewReno |
//! | `isn.rs` | RFC 6528 [`IsnGenerator`] |
//! | `connection.rs` | the public API and timers; `input.rs` segment arrival; `output.rs` segments out |
//!
//! The stack owns listeners and demultiplexing: a SYN for a listening port becomes
//! [`Connection::accept`]; a segment matching nothing is answered with [`reset_for`].
#![forbid(unsafe_code)]

pub mod congestion;
pub mod connection;
mod input;
pub mod isn;
mod output;
pub mod reassembly;
pub mod recv;
pub mod rtt;
pub mod segment;
pub mod send;
pub mod seq;
pub mod state;
pub mod timers;

pub use congestion::Algorithm;
pub use connection::{
    CloseReason, Config, Connection, ConnectionError, Event, FourTuple, IcmpError, Keepalive, Stats,
};
pub use isn::IsnGenerator;
pub use segment::{Ctl, Options, SackBlocks, Segment, SegmentError, reset_for};
pub use seq::SeqNum;
pub use state::State;
pub use timers::TimerKind;
