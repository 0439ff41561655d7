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

// The input and what is checked: `http_common::fuzz_http` (shared with
// tests/fuzz_regressions.rs, which replays what the campaigns found).
fuzz_target!(|data: &[u8]| fuzz_http(data));
