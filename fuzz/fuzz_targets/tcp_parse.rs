//! The TCP segment parser (src/wire/tcp.rs) on arbitrary bytes: no panic; what parses
//! re-emits to a segment that parses back the same.
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
        assert_eq!(again.options, seg.options);
    }
});
