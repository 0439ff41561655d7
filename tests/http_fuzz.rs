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
    assert_responses_then_still_serving(&mut sim, h);
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
