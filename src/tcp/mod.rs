//! Our RFC 9293 TCP engine (sans-IO). Work in progress.
#![forbid(unsafe_code)]

pub mod congestion;
pub mod isn;
pub mod reassembly;
pub mod rtt;
pub mod segment;
pub mod seq;
pub mod state;
pub mod timers;

pub use isn::IsnGenerator;
pub use segment::{Ctl, Options, SackBlocks, Segment, SegmentError, reset_for};
pub use seq::SeqNum;
pub use state::State;
pub use timers::TimerKind;
