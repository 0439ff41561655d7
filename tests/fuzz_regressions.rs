//! Inputs the fuzz targets (fuzz/, cargo-fuzz) found, replayed as plain tests.

mod http_common;

use std::net::{Ipv4Addr, SocketAddr};
use tunstack::stack::{Stack, StackConfig, TcpError, TcpLimits};
use tunstack::tcp::{Pressure, Segment};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

/// fuzz target `stack`: active opens (`connect`) were admitted at the hard mark, so
/// connections that each sent what their send buffer took drove TCP's memory past its
/// budget (328,596 octets held against 262,144). Now `connect` is refused there, as a
/// passive open is, and the budget holds.
#[test]
fn connect_refused_at_the_hard_mark() {
    const MAX: usize = 256 * 1024;
    let mut stack = Stack::new(StackConfig {
        tcp_limits: TcpLimits {
            mem_max: MAX,
            max_conns: None,
            max_conns_per_peer: None,
        },
        ..StackConfig::default()
    });
    let peer = Ipv4Addr::new(198, 18, 0, 1);
    let mut now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let mut refused = 0;
    for i in 0..64u16 {
        let remote = SocketAddr::new(peer.into(), 1000 + i);
        let hard = stack.tcp().memory().pressure() == Pressure::Hard;
        match stack.tcp_mut().connect(now, remote, None, 1) {
            Ok(h) => {
                assert!(!hard, "connect admitted at the hard mark");
                let _ = stack.tcp_mut().send(h, &vec![0x61; 65535]);
            }
            Err(e) => {
                assert_eq!(e, TcpError::NoMemory);
                refused += 1;
            }
        }
        while stack.poll_transmit(now, &mut buf).is_some() {}
        now += Duration::from_millis(10);
        stack.handle_timeout(now);
        let mem = stack.tcp().memory();
        assert!(
            mem.used() <= mem.max(),
            "{} octets held of {}",
            mem.used(),
            mem.max()
        );
    }
    assert!(refused > 0, "the hard mark was never reached");
    assert_eq!(stack.tcp().counters().mem_refused, refused);
}

/// fuzz target `tcp_parse` (in CI): a segment with window scale, SACK-permitted and four
/// SACK blocks re-emitted with three (only three fit in 40 octets beside the others, as
/// RFC 2018 §3 allows), and `SackBlocks` compared the slot `truncate` had hidden, so two
/// equal block lists were unequal. Equality now looks at the blocks held only.
#[test]
fn sack_blocks_that_do_not_fit_are_dropped_and_compare_equal() {
    let input: [u8; 60] = [
        156, 64, 0, 80, 0, 0, 100, 0, 46, 255, 255, 255, 255, 10, 0, 60, 0, 251, 4, 77, 5, 34, 2,
        2, 34, 0, 0, 160, 2, 255, 255, 30, 227, 0, 0, 2, 2, 255, 4, 1, 0, 0, 0, 0, 255, 255, 255,
        255, 255, 0, 4, 255, 2, 180, 1, 3, 3, 7, 4, 2,
    ];
    let pseudo = PseudoHeader::tcp(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2));
    let mut fixed = input.to_vec();
    fixed[16..18].copy_from_slice(&[0, 0]);
    let sum = pseudo.checksum(&[&fixed]);
    fixed[16..18].copy_from_slice(&sum);
    let (sport, dport, seg) = Segment::parse(pseudo, &fixed).expect("parses");
    assert_eq!(seg.options.sack.len(), 4);
    let mut buf = vec![0u8; seg.wire_len()];
    let n = seg.emit(pseudo, sport, dport, &mut buf);
    let (_, _, again) = Segment::parse(pseudo, &buf[..n]).expect("our own segment parses");
    let mut expected = seg.options;
    expected.sack.truncate(3);
    assert_eq!(again.options, expected);
}

/// fuzz target `http`, campaign of session 6: a HEAD (its answer has a Content-Length and no
/// body) followed by one octet of garbage (answered 400 Bad Request). The server was right;
/// the target's checker read the HEAD's answer as a GET's and took the 400's head for its
/// body. The checker now takes the reading after which the next response starts.
#[test]
fn http_head_answer_followed_by_a_400_reads_as_two_responses() {
    let input = include_bytes!("../fuzz/corpus/http/regress-head-then-400");
    assert!(input.windows(4).any(|w| w == b"HEAD"), "the replayed input");
    http_common::fuzz_http(input);
}

/// fuzz target `http`, campaign of session 6: `If-Modified-Since: Tu;, 1 Nov
/// 000000959138385325 22:13:20 GMT` overflowed the seconds since 1970 (a panic where
/// overflow is checked, a wrong date where not). A year of more than four digits is no date
/// now (RFC 9110 §5.6.7), and the field is ignored.
#[test]
fn http_if_modified_since_with_a_twelve_digit_year_is_ignored() {
    let input = include_bytes!("../fuzz/corpus/http/regress-if-modified-since-year");
    assert!(
        input.windows(17).any(|w| w == b"If-Modified-Since"),
        "the replayed input"
    );
    http_common::fuzz_http(input);
}
