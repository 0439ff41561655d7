//! A connection (`tunstack::tcp::Connection`) driven through arbitrary segments, user calls
//! and time steps from every state, by the driver of tests/tcp_fuzz.rs
//! (tests/tcp_common/fuzz_driver.rs, with libFuzzer choosing the actions): no panic, and the
//! invariants hold (sequence space order, bounded queues, only written octets sent, only the
//! peer's octets delivered, nothing scheduled once closed).
#![no_main]

#[path = "../../tests/tcp_common/mod.rs"]
#[allow(dead_code, unused_imports, unreachable_pub)]
mod tcp_common;
#[path = "../../tests/tcp_common/fuzz_driver.rs"]
mod fuzz_driver;

use arbitrary::Arbitrary;
use fuzz_driver::{Action, run};
use libfuzzer_sys::fuzz_target;
use tunstack::tcp::State;

#[derive(Arbitrary, Debug)]
struct Input {
    state: u8,
    rich: bool,
    actions: Vec<Action>,
}

fuzz_target!(|input: Input| {
    let states: Vec<State> = State::ALL
        .into_iter()
        .filter(|s| *s != State::Listen)
        .collect();
    let state = states[usize::from(input.state) % states.len()];
    run(
        state,
        input.rich,
        input.actions.into_iter().take(128).collect(),
    );
});
