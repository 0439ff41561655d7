//! Hostile input to the HTTP server in the simulator: arbitrary bytes and mutated requests
//! never panic it; whatever comes back parses as HTTP responses (or nothing), and the server
//! still serves a well-formed request on a new connection afterwards.

mod http_common;

use http_common::*;
use proptest::prelude::*;
use tunstack::time::Duration;

const VALID: &[u8] =
    b"GET /index.html?x=1 HTTP/1.1\r\nHost: 198.18.0.2\r\nRange: bytes=0-5\r\nIf-None-Match: \"a\"\r\n\r\n";

fn check(input: &[u8]) {
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    sim.write(h, input);
    sim.run_until(Duration::from_secs(30), |s| s.peer(h).eof);
    let mut inbox = sim.peer(h).inbox.clone();
    for _ in 0..64 {
        if inbox.is_empty() {
            break;
        }
        // A response to a HEAD we cannot tell apart here has no body: parse heads only.
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&inbox) {
            Ok(httparse::Status::Complete(_)) => {
                let head =
                    parse_response(&mut inbox, false).or_else(|| parse_response(&mut inbox, true));
                if head.is_none() {
                    break;
                }
            }
            other => panic!("not HTTP: {other:?} {:?}", String::from_utf8_lossy(&inbox)),
        }
    }
    let h = sim.open(80, None);
    assert_eq!(
        sim.exchange(h, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(input in proptest::collection::vec(any::<u8>(), 0..3000)) {
        check(&input);
    }

    #[test]
    fn mutated_requests(
        flips in proptest::collection::vec((0..VALID.len(), any::<u8>()), 1..6),
        copies in 1usize..4,
    ) {
        let mut input: Vec<u8> = VALID.repeat(copies);
        for (i, b) in flips {
            input[i] = b;
        }
        check(&input);
    }
}
