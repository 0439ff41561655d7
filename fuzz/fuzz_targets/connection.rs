//! A connection (`tunstack::tcp::Connection`) driven through arbitrary segments, user calls
//! and time steps from every state, by the harness of tests/tcp_common (the same driver as
//! tests/tcp_fuzz.rs, with libFuzzer choosing the actions): no panic, and the invariants hold
//! (sequence space order, bounded queues, only written octets sent, only the peer's octets
//! delivered, nothing scheduled once closed).
#![no_main]

#[path = "../../tests/tcp_common/mod.rs"]
#[allow(dead_code, unused_imports, unreachable_pub)]
mod tcp_common;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tcp_common::*;
use tunstack::tcp::{Config, Ctl, IcmpError, Keepalive, Segment, SeqNum, State};
use tunstack::time::Duration;

/// The peer's stream: the octet at sequence number `s` (so every copy of it agrees).
fn peer_octet(s: SeqNum) -> u8 {
    (s.get() % 251) as u8
}

#[derive(Arbitrary, Clone, Debug)]
enum Action {
    Receive {
        seq_off: i16,
        ack_off: i16,
        ctl: u8,
        wnd: u16,
        len: u16,
        up: u16,
        random_seq: Option<u32>,
        sack: Option<(i16, u16)>,
        ts: Option<u32>,
    },
    Send(u16),
    Recv(u16),
    Close,
    Abort,
    Advance(u32),
    Nodelay(bool),
    Keepalive(bool),
    Icmp(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    state: u8,
    rich: bool,
    actions: Vec<Action>,
}

fuzz_target!(|input: Input| {
    let states: Vec<State> = State::ALL
        .into_iter()
        .filter(|s| *s != State::Listen)
        .collect();
    let state = states[usize::from(input.state) % states.len()];
    run(
        state,
        input.rich,
        input.actions.into_iter().take(128).collect(),
    );
});

fn run(state: State, rich: bool, actions: Vec<Action>) {
    let mut h = if rich {
        let cfg = Config {
            recv_buffer: 8192,
            send_buffer: 8192,
            mss: 1000,
            ..Config::default()
        };
        in_state_with(state, cfg, "<WS=2><SACKOK><TS=1,0>")
    } else {
        in_state(state)
    };
    let mut written: Vec<u8> = Vec::new(); // what the user gave `send`, in order
    let mut delivered: Vec<u8> = Vec::new();
    let stream_start = SeqNum(ISS) + 1;
    let peer_start = SeqNum(IRS) + 1;
    let mut rng = fastrand::Rng::with_seed(9);
    for a in actions {
        match a {
            Action::Receive {
                seq_off,
                ack_off,
                ctl,
                wnd,
                len,
                up,
                random_seq,
                sack,
                ts,
            } => {
                let (seq_off, ack_off) = (i32::from(seq_off) % 12000, i32::from(ack_off) % 12000);
                let len = usize::from(len) % 1500;
                let sack = sack.map(|(o, n)| (i32::from(o), n));
                let st = h.conn.stats();
                let mut ctl = Ctl::from_bits(ctl);
                if rng.u8(..4) != 0 {
                    ctl.set(Ctl::SYN, false);
                    ctl.set(Ctl::RST, false);
                }
                let seq = if ctl.contains(Ctl::SYN) {
                    SeqNum(IRS) // the peer's ISN never changes
                } else if let Some(s) = random_seq {
                    SeqNum(s)
                } else {
                    SeqNum(st.rcv_nxt.get().wrapping_add_signed(seq_off))
                };
                let ack = SeqNum(st.snd_una.get().wrapping_add_signed(ack_off));
                let first = seq + u32::from(ctl.contains(Ctl::SYN));
                let payload: Vec<u8> = (0..len as u32).map(|i| peer_octet(first + i)).collect();
                let mut seg = Segment {
                    seq,
                    ack,
                    wnd,
                    ctl,
                    urgent: up,
                    payload: Bytes::from(payload),
                    ..Segment::default()
                };
                if let Some((off, n)) = sack {
                    let l = SeqNum(st.snd_una.get().wrapping_add_signed(off));
                    seg.options.sack.push(l, l + u32::from(n));
                }
                seg.options.timestamps = ts.map(|v| (v, 0));
                h.receive_segment(seg);
            }
            Action::Send(n) => {
                let n = usize::from(n) % 5000;
                let data: Vec<u8> = (0..n).map(|i| (written.len() + i) as u8).collect();
                if let Ok(k) = h.conn.send(&data) {
                    written.extend_from_slice(&data[..k]);
                }
                h.drain();
            }
            Action::Recv(n) => {
                let n = usize::from(n) % 5000;
                let mut buf = vec![0u8; n];
                if let Ok(k) = h.conn.recv(&mut buf) {
                    delivered.extend_from_slice(&buf[..k]);
                }
                h.drain();
            }
            Action::Close => h.close(),
            Action::Abort => {
                h.conn.abort();
                h.drain();
            }
            Action::Advance(ms) => h.advance(Duration::from_millis(u64::from(ms % 600_000))),
            Action::Nodelay(b) => h.conn.set_nodelay(b),
            Action::Keepalive(on) => {
                let now = h.now;
                h.conn.set_keepalive(now, on.then(Keepalive::default));
            }
            Action::Icmp(k) => {
                let e = match k {
                    0 => IcmpError::SourceQuench,
                    1 => IcmpError::TimeExceeded,
                    2 => IcmpError::ParameterProblem,
                    c => IcmpError::DestinationUnreachable { code: c },
                };
                let now = h.now;
                h.conn.handle_icmp_error(now, e);
                h.drain();
            }
        }
        // Invariants.
        let st = h.conn.stats();
        assert!(
            st.snd_una.before_eq(st.snd_nxt),
            "SND.UNA <= SND.NXT: {st:?}"
        );
        assert!(
            st.snd_nxt.before_eq(h.conn.snd_max()),
            "SND.NXT <= SND.MAX: {st:?}"
        );
        assert!(st.send_queue <= 8192 && st.recv_queue <= 8192, "{st:?}");
        for seg in h.take_sent() {
            // Every octet we put on the wire is an octet the user wrote, at its place.
            if !seg.payload.is_empty() && !seg.rst() {
                let off = (seg.seq - stream_start) as usize;
                assert!(
                    off + seg.payload.len() <= written.len(),
                    "sent unwritten data {seg}"
                );
                assert_eq!(&seg.payload[..], &written[off..off + seg.payload.len()]);
            }
        }
        // What we delivered is a prefix of the peer's stream.
        for (i, b) in delivered.iter().enumerate() {
            assert_eq!(*b, peer_octet(peer_start + i as u32), "delivered octet {i}");
        }
        if h.state() == State::Closed {
            assert_eq!(h.conn.poll_timeout(), None);
        }
    }
}
