//! Hostile input to the stack in memory: arbitrary bytes and mutated valid packets never
//! panic, every packet is accounted for, and memory stays bounded.

use proptest::prelude::*;
use tunstack::stack::{Stack, StackConfig};
use tunstack::time::{Duration, Instant};
use tunstack::wire::ipv4::Ipv4Out;

fn ping(ident: u16, offset: usize, more: bool, payload: &[u8]) -> Vec<u8> {
    let out = Ipv4Out {
        src: "198.18.0.1".parse().unwrap(),
        dst: "198.18.0.2".parse().unwrap(),
        protocol: etherparse::IpNumber::ICMP,
        ttl: 64,
        dscp: 0,
        ident,
        dont_fragment: false,
    };
    let mut p = vec![0; 20 + payload.len()];
    out.emit_fragment_header(payload.len(), offset, more, &mut p);
    p[20..].copy_from_slice(payload);
    p
}

fn drain(stack: &mut Stack, now: Instant) -> usize {
    let mut buf = vec![0; 65_535];
    let mut n = 0;
    while stack.poll_transmit(now, &mut buf).is_some() {
        n += 1;
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes: no panic; the packet is either answered or counted as a drop.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let mut stack = Stack::new(StackConfig::default());
        stack.handle_packet(Instant::ZERO, &bytes);
        let c = stack.counters().clone();
        prop_assert_eq!(c.rx_packets, 1);
        let sent = drain(&mut stack, Instant::ZERO);
        prop_assert!(c.drops.total() + c.fragments_in + c.echo_requests
            + c.port_unreachable_sent + c.protocol_unreachable_sent
            + c.icmp_errors_in + c.icmp_errors_rate_limited >= 1, "unaccounted: {c}");
        prop_assert!(sent <= 45, "one packet in, at most one (fragmented) answer out");
    }

    /// Valid packets and fragments with a few bytes changed: no panic, and reassembly memory
    /// stays within its bound whatever arrives.
    #[test]
    fn mutated_fragments_stay_bounded(
        seeds in proptest::collection::vec((any::<u16>(), 0usize..8200, any::<bool>(),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4)), 1..60),
    ) {
        let mut stack = Stack::new(StackConfig::default());
        let limits = stack.config().reassembly;
        let body = vec![0x5a; 1480];
        let mut now = Instant::ZERO;
        for (ident, offset, more, flips) in seeds {
            let mut p = ping(ident % 8, offset / 8 * 8, more, &body[..(offset % 1480).max(8)]);
            for (at, x) in flips {
                let i = at % p.len();
                p[i] ^= x;
            }
            stack.handle_packet(now, &p);
            let (datagrams, bytes) = stack.reassembly_usage();
            prop_assert!(datagrams <= limits.max_datagrams && bytes <= limits.max_bytes);
            drain(&mut stack, now);
            now += Duration::from_millis(700);
            stack.handle_timeout(now);
        }
        prop_assert!(stack.counters().rx_packets > 0);
        stack.handle_timeout(now + Duration::from_secs(31));
        prop_assert_eq!(stack.poll_timeout(), None, "all partial datagrams expire");
    }
}
