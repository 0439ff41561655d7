//! Initial sequence numbers per RFC 6528 (RFC 9293 §3.4.1, MUST-8, MUST-9).
//!
//! ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a clock
//! ticking every 4 µs (taken from the `now` the caller passes in) and F is SipHash-2-4 keyed
//! with a 128-bit secret the caller draws once from the OS (never inside this crate).

use std::hash::Hasher;
use std::net::{IpAddr, SocketAddr};

use siphasher::sip::SipHasher24;

use super::seq::SeqNum;
use crate::time::Instant;

/// RFC 6528 ISN generator. The secret must come from a good random source and stay private.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl std::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IsnGenerator { .. }") // never print the secret
    }
}

impl IsnGenerator {
    /// A generator keyed with `secret`, the secretkey of RFC 6528 §3 (MUST-9).
    pub fn new(secret: [u8; 16]) -> IsnGenerator {
        IsnGenerator { key: secret }
    }

    /// The ISN for a connection between `local` and `remote` at time `now`.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        // RFC 6528 §3: M is a 4-microsecond timer (MUST-8).
        let m = (now.as_micros() / 4) as u32;
        // RFC 6528 §3: F is a keyed PRF of the 4-tuple (MUST-9).
        let mut h = SipHasher24::new_with_key(&self.key);
        for addr in [local, remote] {
            match addr.ip() {
                IpAddr::V4(ip) => h.write(&ip.octets()),
                IpAddr::V6(ip) => h.write(&ip.octets()),
            }
            h.write(&addr.port().to_be_bytes());
        }
        let f = h.finish() as u32;
        SeqNum(m.wrapping_add(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn addr(a: u8, p: u16) -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(10, 0, 0, a).into(), p)
    }

    #[test]
    fn must_8_clock_driven() {
        let g = IsnGenerator::new([7; 16]);
        let t0 = Instant::from_secs(1);
        let a = g.isn(t0, addr(1, 80), addr(2, 5000));
        let b = g.isn(
            t0 + crate::time::Duration::from_micros(400),
            addr(1, 80),
            addr(2, 5000),
        );
        assert_eq!(b - a, 100); // one tick per 4 µs
    }

    #[test]
    fn must_9_keyed_by_secret_and_tuple() {
        let t = Instant::from_secs(1);
        let g1 = IsnGenerator::new([1; 16]);
        let g2 = IsnGenerator::new([2; 16]);
        assert_ne!(
            g1.isn(t, addr(1, 80), addr(2, 5000)),
            g2.isn(t, addr(1, 80), addr(2, 5000))
        );
        assert_ne!(
            g1.isn(t, addr(1, 80), addr(2, 5000)),
            g1.isn(t, addr(1, 80), addr(2, 5001))
        );
        assert_eq!(format!("{g1:?}"), "IsnGenerator { .. }");
    }

    /// The same function keys IPv6 tuples: every address bit counts.
    #[test]
    fn must_9_keyed_by_ipv6_tuple() {
        let t = Instant::from_secs(1);
        let g = IsnGenerator::new([3; 16]);
        let v6 = |last: u16, port| {
            SocketAddr::new(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, last).into(), port)
        };
        assert_ne!(
            g.isn(t, v6(2, 80), v6(1, 5000)),
            g.isn(t, v6(2, 80), v6(3, 5000))
        );
        assert_ne!(
            g.isn(t, v6(2, 80), v6(1, 5000)),
            g.isn(t, addr(2, 80), addr(1, 5000))
        );
    }
}
