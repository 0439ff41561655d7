//! Arbitrary segments, user calls and time steps thrown at a connection in every state:
//! no panic, and the invariants hold (the driver: tcp_common/fuzz_driver.rs, shared with
//! the cargo-fuzz target `connection`).

#[path = "tcp_common/fuzz_driver.rs"]
mod fuzz_driver;
mod tcp_common;

use fuzz_driver::{Action, run};
use proptest::prelude::*;
use tunstack::tcp::State;

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (
            -3000i32..12000,
            -3000i32..12000,
            any::<u8>(),
            any::<u16>(),
            prop_oneof![Just(0usize), 1usize..1500],
            any::<u16>(),
            proptest::option::weighted(0.1, any::<u32>()),
            proptest::option::weighted(0.3, (-2000i32..12000, any::<u16>())),
            proptest::option::weighted(0.3, any::<u32>()),
        )
            .prop_map(
                |(seq_off, ack_off, ctl, wnd, len, up, random_seq, sack, ts)| Action::Receive {
                    seq_off,
                    ack_off,
                    ctl,
                    wnd,
                    len,
                    up,
                    random_seq,
                    sack,
                    ts,
                },
            ),
        2 => (0usize..5000).prop_map(Action::Send),
        2 => (0usize..5000).prop_map(Action::Recv),
        1 => Just(Action::Close),
        1 => Just(Action::Abort).prop_filter("rare", |_| true),
        3 => prop_oneof![0u64..100, 0u64..5_000, 0u64..600_000].prop_map(Action::Advance),
        1 => any::<bool>().prop_map(Action::Nodelay),
        1 => any::<bool>().prop_map(Action::Keepalive),
        1 => (0u8..6).prop_map(Action::Icmp),
    ]
}

fn start_state() -> impl Strategy<Value = State> {
    prop::sample::select(
        State::ALL
            .into_iter()
            .filter(|s| *s != State::Listen)
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]
    #[test]
    fn arbitrary_input_in_any_state(
        state in start_state(),
        rich in any::<bool>(),
        actions in proptest::collection::vec(action(), 1..60),
    ) {
        run(state, rich, actions);
    }
}
