//! The TCP segment parser (src/wire/tcp.rs) on arbitrary bytes: no panic; what parses
//! re-emits to a segment that parses back the same (less SACK blocks with no room left).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::Ipv4Addr;
use tunstack::tcp::Segment;
use tunstack::wire::PseudoHeader;

fuzz_target!(|data: &[u8]| {
    let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let pseudo = PseudoHeader::tcp(src, dst);
    // As given (most fail the checksum), then with the checksum made right so the option
    // and flag decoding behind it is reached.
    let _ = Segment::parse(pseudo, data);
    if data.len() < 20 || data.len() > usize::from(u16::MAX) {
        return;
    }
    let mut fixed = data.to_vec();
    fixed[16..18].copy_from_slice(&[0, 0]);
    let sum = pseudo.checksum(&[&fixed]);
    fixed[16..18].copy_from_slice(&sum);
    if let Ok((sport, dport, seg)) = Segment::parse(pseudo, &fixed) {
        assert!(seg.payload.len() <= fixed.len());
        let mut buf = vec![0u8; seg.wire_len()];
        let n = seg.emit(pseudo, sport, dport, &mut buf);
        let (s2, d2, again) = Segment::parse(pseudo, &buf[..n]).expect("our own segment parses");
        assert_eq!((s2, d2), (sport, dport));
        assert_eq!(again.seq, seg.seq);
        assert_eq!(again.ack, seg.ack);
        assert_eq!(again.ctl, seg.ctl);
        assert_eq!(again.wnd, seg.wnd);
        assert_eq!(again.payload, seg.payload);
        // Options come back as they were, except SACK blocks that do not fit beside the
        // others in 40 octets: emit leaves the last ones out (RFC 2018 §3: "at most 4",
        // fewer with other options), and only then.
        let kept = again.options.sack.len();
        assert!(kept <= seg.options.sack.len());
        if kept < seg.options.sack.len() {
            assert!(seg.options.wire_len() + 8 > 40, "a SACK block dropped that fitted");
        }
        let mut expected = seg.options;
        expected.sack.truncate(kept);
        assert_eq!(again.options, expected);
    }
});
