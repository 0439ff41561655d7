//! Test harness for the TCP engine, named from our side: we `receive` segments written in
//! RFC notation, `expect_sent` what we should answer, and `advance` simulated time
//! ([`Harness`]); two of our connections over a seeded faulty wire ([`Pair`]).
//!
//! Numbers in notation may be literals or `ISS`, `IRS`, `ISS+n`, `IRS-n`: our ISS and the
//! peer's ISN are just below 2^32, so ordinary tests cross the wrap.
#![allow(dead_code, unused_imports)]

use std::net::{Ipv4Addr, SocketAddrV4};

use tunstack::tcp::{Config, FourTuple, State};

#[path = "../support/mod.rs"]
pub mod support;

mod harness;
mod notation;
mod pair;

pub use harness::Harness;
pub use notation::{Pattern, assert_matches, pattern, segment};
pub use pair::{ADDR_A, ADDR_B, Faults, Pair};

/// Our initial send sequence number: 10 octets below the wrap.
pub const ISS: u32 = u32::MAX - 9;
/// The peer's initial sequence number: 5 octets below the wrap.
pub const IRS: u32 = u32::MAX - 4;

pub const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
pub const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40000);

pub fn tuple() -> FourTuple {
    FourTuple {
        local: LOCAL.into(),
        remote: REMOTE.into(),
    }
}

/// Plain config for scenario tests: no WS/SACK/timestamps, so the notation stays short.
pub fn plain_config() -> Config {
    Config {
        window_scale: false,
        sack: false,
        timestamps: false,
        recv_buffer: 8192,
        send_buffer: 8192,
        mss: 1000,
        ..Config::default()
    }
}

/// Reach `state` the way a real connection would.
pub fn in_state(state: State) -> Harness {
    in_state_with(state, plain_config(), "")
}

/// `in_state` with a config of our own and options (notation) on the peer's SYN/SYN-ACK.
pub fn in_state_with(state: State, cfg: Config, opts: &str) -> Harness {
    let mut h = match state {
        State::SynSent => {
            let mut h = Harness::client(cfg);
            h.expect_sent("<SEQ=ISS><CTL=SYN>");
            h
        }
        State::SynReceived => {
            let mut h = Harness::server_from(&format!("<SEQ=IRS><CTL=SYN><MSS=1000>{opts}"), cfg);
            h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>");
            h
        }
        State::Established => Harness::established_client_opts(cfg, opts),
        State::FinWait1 => {
            let mut h = in_state_with(State::Established, cfg, opts);
            h.close();
            h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=FIN,ACK>");
            h
        }
        State::FinWait2 => {
            let mut h = in_state_with(State::FinWait1, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>");
            h
        }
        State::CloseWait => {
            let mut h = in_state_with(State::Established, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>");
            h.expect_sent("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>");
            h
        }
        State::Closing => {
            let mut h = in_state_with(State::FinWait1, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>");
            h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
            h
        }
        State::LastAck => {
            let mut h = in_state_with(State::CloseWait, cfg, opts);
            h.close();
            h.expect_sent("<SEQ=ISS+1><ACK=IRS+2><CTL=FIN,ACK>");
            h
        }
        State::TimeWait => {
            let mut h = in_state_with(State::FinWait2, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>");
            h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
            h
        }
        State::Closed => {
            let mut h = in_state_with(State::Established, cfg, opts);
            h.conn.abort();
            h.drain();
            h.expect_sent("<CTL=RST>");
            h
        }
        State::Listen => unreachable!("listeners live in the stack"),
    };
    h.expect_state(state);
    h.events.clear();
    h
}
