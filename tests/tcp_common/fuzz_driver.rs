//! The driver shared by tests/tcp_fuzz.rs (proptest chooses the actions) and the fuzz
//! target fuzz/fuzz_targets/connection.rs (libFuzzer chooses them): a connection in any
//! state driven through arbitrary segments, user calls and time steps, with the invariants
//! checked after every step (sequence space order, bounded queues, only written octets sent,
//! only the peer's octets delivered, nothing scheduled once closed). Both include it with
//! `#[path]` beside `mod tcp_common`.

use crate::tcp_common::*;
use bytes::Bytes;
use tunstack::tcp::{Config, Ctl, IcmpError, Keepalive, Segment, SeqNum, State};
use tunstack::time::Duration;

/// The peer's stream: the octet at sequence number `s` (so every copy of it agrees).
pub fn peer_octet(s: SeqNum) -> u8 {
    (s.get() % 251) as u8
}

/// One step: a segment from the peer (fields relative to our state), a user call, or time.
/// Out-of-range values are folded into range by [`run`], so any value is a valid step.
#[derive(Clone, Debug)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Action {
    Receive {
        seq_off: i32,
        ack_off: i32,
        ctl: u8,
        wnd: u16,
        len: usize,
        up: u16,
        random_seq: Option<u32>,
        sack: Option<(i32, u16)>,
        ts: Option<u32>,
    },
    Send(usize),
    Recv(usize),
    Close,
    Abort,
    Advance(u64),
    Nodelay(bool),
    Keepalive(bool),
    Icmp(u8),
}

/// Drives a connection opened in `state` (`rich`: WS, SACK and timestamps, 8 KiB buffers)
/// through `actions`, checking the invariants after every step.
pub fn run(state: State, rich: bool, actions: Vec<Action>) {
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
                let (seq_off, ack_off) = (seq_off % 12000, ack_off % 12000);
                let len = len % 1500;
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
                let n = n % 5000;
                let data: Vec<u8> = (0..n).map(|i| (written.len() + i) as u8).collect();
                if let Ok(k) = h.conn.send(&data) {
                    written.extend_from_slice(&data[..k]);
                }
                h.drain();
            }
            Action::Recv(n) => {
                let n = n % 5000;
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
            Action::Advance(ms) => h.advance(Duration::from_millis(ms % 600_000)),
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
