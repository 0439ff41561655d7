//! Our RFC 9293 TCP engine: one [`Connection`] per 4-tuple, sans-IO and deterministic.
//!
//! | file | job |
//! |---|---|
//! | `connection.rs` | [`Connection`]: the contract, the TCB's parts, user calls, and the one place states change |
//! | `state.rs` | the eleven [`State`]s, and the internal `Phase`: a state with the data only it needs |
//! | `input.rs` | segment arrival, the steps of RFC 9293 §3.10.7 in order |
//! | `output.rs` | segments out: SYN, data with Nagle/SWS, retransmissions, ACKs |
//! | `timeouts.rs` | what each timer does, and arming them (RTO within R2, loss probe, keepalive) |
//! | `tcb.rs` | the TCB's parts beside the sequence spaces (negotiated options, ACK debt, loss recovery, clocks, probes) |
//! | `timers.rs` | `TimerKind` and the deadline table, nothing else |
//! | `reset.rs` | [`reset_for`]: the RST answering a segment for no connection |
//! | `send.rs`, `recv.rs` | send and receive sequence spaces and buffers |
//! | `reassembly.rs` | bounded out-of-order data, SACK blocks |
//! | `rtt.rs` | RFC 6298 RTO with Karn |
//! | `congestion.rs` | RFC 5681 slow start with byte counting (RFC 3465), CUBIC (RFC 9438) or NewReno (RFC 6582), entering recovery, undo |
//! | `rack.rs` | RFC 8985 RACK loss detection over the per-segment scoreboard (SACKed, lost, `pipe`) |
//! | `prr.rs` | RFC 6937 Proportional Rate Reduction (PRR-SSRB) during recovery |
//! | `loss.rs` | what an ACK means for loss: RACK marks, recovery entry, PRR, DSACK, undo, F-RTO |
//! | `config.rs` | [`Config`], [`Event`], [`CloseReason`], [`Stats`] and other API types |
//! | `seq.rs` | [`SeqNum`], wrapping comparison (no `PartialOrd`) |
//! | `isn.rs` | RFC 6528 [`IsnGenerator`] |
//! | `syncookie.rs` | RFC 4987 [`SynCookies`]: the codec, and the cookie SYN-ACK and connection |
//! | `pressure.rs` | [`MemoryGrant`] from the stack's budget, and what each [`Pressure`] level does |
//!
//! Only the types re-exported here are public; the modules are private to `tcp`. The
//! segment types are `wire::tcp`'s, re-exported for convenience.
//!
//! # What the stack does around it
//! - Demultiplexing and listeners live in the stack. A segment for a listening port with SYN
//!   set and ACK/RST clear becomes [`Connection::accept`] (ISS from [`IsnGenerator`]); a
//!   listener answers a segment with ACK by [`reset_for`] and ignores a RST
//!   (RFC 9293 §3.10.7.2).
//! - A SYN for a listener whose SYN queue is full may be answered statelessly with
//!   [`Connection::cookie_syn_ack`] (ISS from [`SynCookies`]); an ACK that decodes as a
//!   cookie becomes [`Connection::accept_cookie`] (RFC 4987 §3.6).
//! - Before each input or user call the stack passes its memory budget's [`MemoryGrant`]
//!   ([`Connection::set_memory`]) and reads back [`Connection::memory`].
//! - A segment matching no connection (or one already `Closed`) is answered with
//!   [`reset_for`] (RFC 9293 §3.10.7.1), ports swapped.
//! - A SYN for a 4-tuple in TIME-WAIT: if [`Connection::time_wait_accepts_syn`], drop the
//!   old connection and treat the SYN as new; otherwise pass it to `handle_segment`.
//! - ICMP errors quoting one of our segments go to [`Connection::handle_icmp_error`];
//!   a fragmentation-needed with a next-hop MTU also to [`Connection::handle_path_mtu`].
//! - `Config::mss` should be the local MTU minus the IP and TCP headers (MUST-67):
//!   `wire::ip_header_len` + `wire::tcp::HEADER_LEN`, 40 octets on IPv4 and 60 on IPv6.
//!
//! Logging: `trace!` prints every segment in RFC notation (`<` in, `>` out), `debug!` the
//! protocol decisions and each open and close (not `info!`: writing those two lines per
//! connection cost the daemon a quarter of its new-connection rate, 24–27k → 32–35k per
//! second with `wrk -c50 -H 'Connection: close'`); every line starts with the 4-tuple.
#![forbid(unsafe_code)]

mod config;
mod congestion;
mod connection;
mod input;
mod isn;
mod loss;
mod output;
mod pressure;
mod prr;
mod rack;
mod reassembly;
mod recv;
mod reset;
mod rtt;
/// The TCP codec lives in `wire::tcp`; the engine names it `segment`.
use crate::wire::tcp as segment;
mod send;
/// `pub(crate)` so the codec in `wire::tcp` names it without going through this module.
pub(crate) mod seq;
mod state;
mod syncookie;
mod tcb;
mod timeouts;
mod timers;

pub(crate) use crate::wire::tcp::SegmentRef;
pub use crate::wire::tcp::{Ctl, Options, Segment};
pub use config::{
    CloseReason, Config, ConnectionError, Event, FourTuple, IcmpError, Keepalive, Stats,
};
pub use congestion::Algorithm;
pub use connection::Connection;
pub use isn::IsnGenerator;
pub use pressure::{MemoryGrant, Pressure, RECV_MIN, SEND_MIN};
pub use reset::reset_for;
pub use seq::SeqNum;
pub use state::State;
pub use syncookie::{COOKIE_MSS, CookieOptions, SynCookies, decode_ts as cookie_decode_ts};
