//! SYN cookies (RFC 4987 §3.6): a listener whose SYN queue is full answers a SYN without
//! keeping any state, and rebuilds the connection from the ACK that completes the handshake.
//!
//! The design is Linux's (`net/ipv4/syncookies.c`), written anew:
//!
//! ```text
//! ISS = H0(tuple) + SEG.SEQ(SYN) + (count << 24)
//!       + ((H1(tuple, count, SEG.SEQ) + mss_index) mod 2^24)
//! ```
//!
//! `count` is a coarse clock (64-second ticks of the `now` passed in), H0 and H1 keyed
//! SipHash-2-4 of the 4-tuple with a 128-bit secret the caller draws from the OS; H1 also
//! covers the count, so each tick's cookies are keyed afresh (the secret rotates with the
//! clock), and, unlike Linux, the SYN's sequence number, so an ACK whose SEG.SEQ is off by
//! a few does not decode to a neighbouring MSS index. An ACK is a valid cookie when ACK−1
//! decodes to a count at most one tick old and a MSS index inside the table: a blind guess
//! passes with probability 8 / 2^24 per tuple. (An ACK number off by a few from a cookie
//! does decode to a neighbouring index, as in Linux; the connection takes ACK−1 as its ISS,
//! so nothing is gained by it.)
//!
//! Only the MSS (a table of eight) fits in the ISS. When the peer sends timestamps, the low
//! six bits of our TSval carry the peer's window scale (4 bits, 15 = none) and SACK-permitted
//! (bit 4), as Linux does; the peer echoes them in TSecr. Without timestamps those options are
//! lost: the cookie SYN-ACK offers neither window scaling nor SACK.
//!
//! Everything here is sans-IO: time and the secret are passed in.

use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use super::config::{Config, FourTuple};
use super::connection::Connection;
use super::segment::{Options, Segment};
use super::seq::SeqNum;
use crate::time::Instant;

/// The MSS values a cookie can carry (the largest not above the peer's is chosen).
pub const COOKIE_MSS: [u16; 8] = [536, 1220, 1300, 1440, 1460, 4036, 8960, 65475];

const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// Seconds per tick of the cookie clock.
const TICK_SECS: u64 = 64;
/// Low bits of TSval that carry the options.
const TS_OPT_BITS: u32 = 6;
const TS_WSCALE_NONE: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;

/// What a cookie ACK gives back: the options of the peer's SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    /// The peer's MSS, rounded down to [`COOKIE_MSS`].
    pub mss: u16,
    /// The peer's window scale shift, when it offered one (needs timestamps).
    pub window_scale: Option<u8>,
    /// The peer offered SACK (needs timestamps).
    pub sack_permitted: bool,
    /// The peer sends timestamps.
    pub timestamps: bool,
}

/// The SYN cookie codec, keyed with a secret the caller draws from the OS.
#[derive(Clone)]
pub struct SynCookies {
    key: [u8; 16],
}

impl std::fmt::Debug for SynCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SynCookies { .. }") // never print the secret
    }
}

impl SynCookies {
    /// A codec keyed with `secret` (128 bits from a good random source).
    pub fn new(secret: [u8; 16]) -> SynCookies {
        SynCookies { key: secret }
    }

    fn hash(&self, tuple: FourTuple, count: Option<(u32, SeqNum)>) -> u32 {
        let mut h = SipHasher24::new_with_key(&self.key);
        h.write(b"syncookie");
        for addr in [tuple.local, tuple.remote] {
            write_addr(&mut h, addr);
        }
        match count {
            Some((c, seq)) => {
                h.write(&c.to_be_bytes());
                h.write(&seq.0.to_be_bytes());
            }
            None => h.write(&[0xff]),
        }
        h.finish() as u32
    }

    fn tick(now: Instant) -> u32 {
        (now.as_micros() / 1_000_000 / TICK_SECS) as u32
    }

    /// The ISS for a SYN from `tuple.remote` with sequence number `peer_seq` offering
    /// `peer_mss` (536 when it sent none, MUST-15), and the MSS the cookie encodes.
    pub fn encode(
        &self,
        now: Instant,
        tuple: FourTuple,
        peer_seq: SeqNum,
        peer_mss: u16,
    ) -> (SeqNum, u16) {
        let index = COOKIE_MSS.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
        let count = Self::tick(now);
        let iss = self
            .hash(tuple, None)
            .wrapping_add(peer_seq.0)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(
                self.hash(tuple, Some((count, peer_seq)))
                    .wrapping_add(index as u32)
                    & COOKIE_MASK,
            );
        (SeqNum(iss), COOKIE_MSS[index])
    }

    /// The MSS a cookie ACK carries, if `ack` − 1 is a cookie we issued for `tuple` and a
    /// SYN with sequence number `seq` − 1 at most one tick before `now`.
    pub fn decode(&self, now: Instant, tuple: FourTuple, seq: SeqNum, ack: SeqNum) -> Option<u16> {
        let cookie = (ack - 1u32).0;
        let peer_seq = (seq - 1u32).0;
        let v = cookie
            .wrapping_sub(self.hash(tuple, None))
            .wrapping_sub(peer_seq);
        let now_count = Self::tick(now);
        // The top eight bits hold the count modulo 256.
        let age = now_count.wrapping_sub(v >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if age > 1 {
            return None;
        }
        let count = now_count.wrapping_sub(age);
        let index = v.wrapping_sub(self.hash(tuple, Some((count, SeqNum(peer_seq))))) & COOKIE_MASK;
        COOKIE_MSS.get(index as usize).copied()
    }
}

fn write_addr(h: &mut SipHasher24, addr: SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => h.write(&ip.octets()),
        IpAddr::V6(ip) => h.write(&ip.octets()),
    }
    h.write(&addr.port().to_be_bytes());
}

/// Our TSval for a cookie SYN-ACK at `ts_now` (the connection's timestamp clock): its low
/// six bits carry the peer's window scale and SACK-permitted; never ahead of `ts_now`.
pub(super) fn encode_ts(ts_now: u32, window_scale: Option<u8>, sack_permitted: bool) -> u32 {
    let mut opts = window_scale.map_or(TS_WSCALE_NONE, |s| u32::from(s.min(14)));
    if sack_permitted {
        opts |= TS_SACK;
    }
    let mask = (1 << TS_OPT_BITS) - 1;
    let ts = (ts_now & !mask) | opts;
    if (ts.wrapping_sub(ts_now) as i32) > 0 {
        ts.wrapping_sub(mask + 1)
    } else {
        ts
    }
}

/// The peer's window scale and SACK-permitted from the TSecr of a cookie ACK (4 bits of
/// shift, 15 for none: every value is a valid shift, RFC 7323 §2.3 allows 0 to 14).
pub fn decode_ts(ts_ecr: u32) -> (Option<u8>, bool) {
    let ws = ts_ecr & 0xf;
    let sack = ts_ecr & TS_SACK != 0;
    ((ws != TS_WSCALE_NONE).then_some(ws as u8), sack)
}

impl Connection {
    /// RFC 4987 §3.6: the SYN-ACK answering `syn` (SYN set, ACK and RST clear) with the
    /// cookie `iss` and no state kept. `mss` is the peer's MSS as the cookie encodes it.
    /// Without timestamps in the SYN the answer offers no window scaling and no SACK (the
    /// cookie could not carry them); with them, the low bits of TSval carry them (see the
    /// module docs).
    pub fn cookie_syn_ack<P: AsRef<[u8]>>(
        now: Instant,
        tuple: FourTuple,
        iss: SeqNum,
        mss: u16,
        syn: &Segment<P>,
        config: Config,
    ) -> Option<Segment> {
        let ts = syn.options.timestamps.is_some() && config.timestamps;
        let options = Options {
            mss: Some(mss),
            window_scale: syn.options.window_scale.filter(|_| ts),
            sack_permitted: syn.options.sack_permitted && ts,
            timestamps: syn.options.timestamps,
            ..Options::default()
        };
        let seed = Segment {
            options,
            ..syn.with_payload(bytes::Bytes::new())
        };
        let mut c = Connection::accept(now, tuple, iss, &seed, config);
        let mut seg = c.poll_transmit(now)?;
        let peer_ws = seed.options.window_scale.filter(|_| c.opts.window_scale);
        if let Some((val, ecr)) = seg.options.timestamps {
            let tsval = encode_ts(val, peer_ws, c.opts.sack);
            seg.options.timestamps = Some((tsval, ecr));
        }
        Some(seg)
    }

    /// RFC 4987 §3.6: the connection a valid cookie ACK completes, straight in ESTABLISHED
    /// (its `Event::Connected` queued), with the options the cookie and TSecr carried;
    /// `ack` is then processed as any segment (data and a FIN in it are taken). `None` if
    /// the ACK does not complete the handshake after all.
    pub fn accept_cookie<P: AsRef<[u8]>>(
        now: Instant,
        tuple: FourTuple,
        iss: SeqNum,
        opts: CookieOptions,
        ack: &Segment<P>,
        config: Config,
    ) -> Option<Connection> {
        let options = Options {
            mss: Some(opts.mss),
            window_scale: opts.window_scale,
            sack_permitted: opts.sack_permitted,
            timestamps: ack
                .options
                .timestamps
                .filter(|_| opts.timestamps)
                .map(|(val, _)| (val, 0)),
            ..Options::default()
        };
        let syn = Segment {
            seq: ack.seq - 1u32,
            ack: SeqNum(0),
            ctl: super::segment::Ctl::SYN,
            wnd: ack.wnd,
            urgent: 0,
            options,
            payload: bytes::Bytes::new(),
        };
        let mut c = Connection::accept(now, tuple, iss, &syn, config);
        // The SYN-ACK went out when the cookie was made; account for it as sent.
        let _ = c.poll_transmit(now)?;
        c.handle_segment(now, ack);
        // ESTABLISHED, or already CLOSE-WAIT when the ACK carried a FIN.
        c.state().is_synchronized().then_some(c)
    }

    /// Drops a passive SYN-RECEIVED connection without a word (no RST, as Linux drops a
    /// request evicted from a full SYN queue); it closes as timed out.
    pub fn drop_half_open(&mut self) {
        if self.is_passive() {
            self.enter_closed(super::CloseReason::TimedOut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;
    use std::net::Ipv4Addr;

    fn tuple(port: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(Ipv4Addr::new(198, 18, 0, 2).into(), 80),
            remote: SocketAddr::new(Ipv4Addr::new(198, 18, 0, 10).into(), port),
        }
    }

    /// RFC 4987 §3.6: the ACK of a cookie SYN-ACK (SEG.ACK = cookie + 1, SEG.SEQ = the
    /// SYN's + 1) gives back the MSS, within the next tick; across ticks and wraparound.
    #[test]
    fn cookie_round_trips_the_mss_within_two_ticks() {
        let c = SynCookies::new([9; 16]);
        for (secs, peer_seq) in [(1u64, u32::MAX), (63, 0), (64 * 255, 12345), (1 << 30, 7)] {
            let t0 = Instant::from_secs(secs);
            for (offered, expect) in [(1460, 1460), (1400, 1300), (100, 536), (9000, 8960)] {
                let (iss, mss) = c.encode(t0, tuple(5000), SeqNum(peer_seq), offered);
                assert_eq!(mss, expect);
                let (seq, ack) = (SeqNum(peer_seq) + 1, iss + 1);
                assert_eq!(c.decode(t0, tuple(5000), seq, ack), Some(expect));
                let later = t0 + Duration::from_secs(TICK_SECS);
                assert_eq!(c.decode(later, tuple(5000), seq, ack), Some(expect));
                let too_late = t0 + Duration::from_secs(3 * TICK_SECS);
                assert_eq!(c.decode(too_late, tuple(5000), seq, ack), None);
            }
        }
    }

    /// A cookie is bound to its tuple, the SYN's sequence number and the secret; random
    /// ACKs almost never pass (8 in 2^24 expected).
    #[test]
    fn cookie_rejects_other_tuples_sequences_secrets_and_guesses() {
        let c = SynCookies::new([9; 16]);
        let t = Instant::from_secs(1000);
        let (iss, _) = c.encode(t, tuple(5000), SeqNum(100), 1460);
        assert!(c.decode(t, tuple(5001), SeqNum(101), iss + 1).is_none());
        assert!(c.decode(t, tuple(5000), SeqNum(102), iss + 1).is_none());
        let other = SynCookies::new([8; 16]);
        assert!(other.decode(t, tuple(5000), SeqNum(101), iss + 1).is_none());
        let mut x = 0x1234_5678u32;
        let mut passed = 0;
        for i in 0..100_000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if c.decode(t, tuple(i as u16), SeqNum(i), SeqNum(x)).is_some() {
                passed += 1;
            }
        }
        assert!(passed <= 2, "{passed} random ACKs passed");
    }

    /// The options in the low bits of TSval (as Linux's cookie_init_timestamp), never ahead
    /// of the clock.
    #[test]
    fn timestamp_carries_window_scale_and_sack() {
        for now in [0u32, 63, 64, 1_000_000, u32::MAX] {
            for (ws, sack) in [
                (None, false),
                (Some(7), true),
                (Some(14), false),
                (Some(0), true),
            ] {
                let ts = encode_ts(now, ws, sack);
                assert!((now.wrapping_sub(ts) as i32) >= 0 && now.wrapping_sub(ts) < 64);
                assert_eq!(decode_ts(ts), (ws, sack));
            }
        }
    }
}
