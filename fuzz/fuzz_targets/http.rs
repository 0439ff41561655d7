//! The HTTP server (request parser and exchange, src/app/http/) in the simulator: a client
//! sends arbitrary bytes in arbitrary pieces at arbitrary times. No panic; whatever comes
//! back parses as HTTP response heads (or nothing); afterwards the server still serves a
//! well-formed request on a new connection.
#![no_main]

#[path = "../../tests/http_common/mod.rs"]
#[allow(dead_code, unused_imports, unreachable_pub)]
mod http_common;

use http_common::*;
use libfuzzer_sys::fuzz_target;
use tunstack::time::Duration;

// The input: the first byte is the pause unit (×256 ms), the rest is what the client
// sends, cut into pieces at each 0xFF (a pause follows each piece, so header and idle
// timeouts are reached); a last byte 0xFE half-closes. Requests from the tests are seeds
// as they are.
fuzz_target!(|data: &[u8]| {
    let Some((&unit, rest)) = data.split_first() else {
        return;
    };
    let (rest, close) = match rest.split_last() {
        Some((0xFE, body)) => (body, true),
        _ => (rest, false),
    };
    let mut sim = Sim::new(config(None));
    let h = sim.open(80, None);
    for piece in rest.split(|b| *b == 0xFF).take(48) {
        sim.write(h, piece);
        sim.advance(Duration::from_millis(u64::from(unit) * 256));
    }
    if close {
        sim.close(h);
    }
    sim.run_until(Duration::from_secs(30), |s| s.peer(h).eof);
    assert_responses_then_still_serving(&mut sim, h);
});
