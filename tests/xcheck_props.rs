//! Property tests of our stack against smoltcp (tests/xcheck): random fault seeds, fault
//! rates, sizes, roles and endings: thousands of cases (a couple of seconds in all), failing
//! ones saved to `tests/xcheck_props.proptest-regressions`; a failing case leaves its capture
//! in target/xcheck/. The `/// xcheck:` line above each test is its row
//! in docs/xcheck.md.

mod xcheck;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use tunstack::link::DirectionFaults;
use tunstack::tcp::CloseReason;
use tunstack::time::Duration;
use xcheck::{Role, Setup, Transfer, Xcheck, pattern, wire};

/// Simulated time any of these runs may take (a bound, not a measurement).
const LIMIT: Duration = Duration::from_secs(900);

/// `cases` cases per property, or `PROPTEST_CASES` (as in tcp_lossy.rs). A case takes well
/// under a millisecond (simulated time), so thousands fit in a couple of seconds. A failing
/// case is saved to `tests/xcheck_props.proptest-regressions` (commit it), which proptest
/// replays before new cases.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(cases),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn role(ours_client: bool) -> Role {
    if ours_client {
        Role::OursClient
    } else {
        Role::SmolClient
    }
}

/// xcheck: property: random fault seed, loss ≤ 8%, dup/corrupt/reorder ≤ 3%, sizes ≤ 192 KiB each way, either role: byte-exact, both CLOSED, bounded time
#[test]
fn prop_faulty_transfer() {
    let _outcome = xcheck::outcome();
    proptest!(config(2048), |(
        seed in any::<u64>(),
        loss in 0.0f64..0.08,
        other in 0.0f64..0.03,
        to_smol in 0usize..192 * 1024,
        to_ours in 0usize..192 * 1024,
        ours_client in any::<bool>(),
    )| {
        let faults = DirectionFaults {
            loss,
            duplicate: other,
            corrupt: other,
            reorder: other,
            reorder_delay: Duration::from_millis(2),
            ..wire()
        };
        let setup = Setup::faulty(faults, seed);
        let mut x = Xcheck::new(setup);
        let mut t = Transfer::new(pattern(to_smol, seed), pattern(to_ours, !seed));
        // smoltcp's application writes as soon as it is connected, as a real client does.
        let c = x.connect_running(role(ours_client), 80, None, &mut |x, s| t.pump_smol(x, s));
        let took = x.transfer(c, &mut t, LIMIT);
        prop_assert!(took < LIMIT);
        prop_assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
    });
}

/// xcheck: property: random sizes, a random side aborts mid-transfer: the other side sees the RST, both end CLOSED
#[test]
fn prop_abort_mid_transfer() {
    let _outcome = xcheck::outcome();
    proptest!(config(2048), |(
        seed in any::<u64>(),
        size in 1usize..512 * 1024,
        abort_after_ms in 0u64..20,
        ours_aborts in any::<bool>(),
        ours_client in any::<bool>(),
    )| {
        let mut x = Xcheck::new(Setup { seed, ..Setup::default() });
        let c = x.connect(role(ours_client), 80);
        let mut t = Transfer::new(pattern(size, seed), pattern(size, !seed));
        t.ours_close = false;
        t.smol_close = false;
        let abort_at = x.now + Duration::from_millis(abort_after_ms);
        x.run_until(Duration::from_millis(abort_after_ms), |x| {
            t.pump(x, c);
            x.now >= abort_at
        });
        if ours_aborts {
            x.ours.tcp_mut().abort(c.ours).unwrap();
        } else {
            x.smol(c.smol).abort();
        }
        let done = x.run_until(Duration::from_secs(5), |x| {
            t.pump(x, c);
            x.ours_state(c.ours) == "CLOSED" && x.smol_state(c.smol) == "CLOSED"
        });
        prop_assert!(done, "ours {}, smoltcp {}", x.ours_state(c.ours), x.smol_state(c.smol));
        let expected = if ours_aborts { CloseReason::Aborted } else { CloseReason::Reset };
        prop_assert_eq!(x.ours_closed(c.ours), Some(expected));
        // What arrived before the abort is a prefix of what was sent.
        prop_assert!(t.to_ours.starts_with(&t.ours_got));
        prop_assert!(t.to_smol.starts_with(&t.smol_got));
    });
}

fn pick<T: Copy + std::fmt::Debug + 'static>(v: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(v)
}

/// xcheck: property: random buffers (2..256 KiB) and MTUs (576..9000) on both sides, smoltcp timestamps on or off, random faults (loss ≤ 10%), either role: byte-exact, both CLOSED, bounded time
#[test]
fn prop_random_configs() {
    let _outcome = xcheck::outcome();
    proptest!(config(1024), |(
        seed in any::<u64>(),
        loss in 0.0f64..0.10,
        other in 0.0f64..0.03,
        delay_us in 0u64..5000,
        smol_rx in pick(&[2048usize, 4096, 16384, 65536, 262144]),
        smol_tx in pick(&[2048usize, 4096, 16384, 65536, 262144]),
        // Not below 16 KiB, and smoltcp's MTU at most 1500: smoltcp's fast retransmit ignores
        // a receive window smaller than its segment and can then stall (xcheck_diff::
        // diff_fast_retransmit_within_window), which is not ours to test here.
        ours_rx in pick(&[16384usize, 65536, 262144]),
        ours_tx in pick(&[4096usize, 16384, 65536, 262144]),
        ours_mtu in pick(&[576usize, 1000, 1500, 9000]),
        smol_mtu in pick(&[576usize, 1000, 1500]),
        smol_timestamps in any::<bool>(),
        to_smol in 0usize..256 * 1024,
        to_ours in 0usize..256 * 1024,
        ours_client in any::<bool>(),
    )| {
        let faults = DirectionFaults {
            loss,
            duplicate: other,
            corrupt: other,
            reorder: other,
            reorder_delay: Duration::from_millis(2),
            delay: Duration::from_micros(delay_us),
            ..DirectionFaults::default()
        };
        let mut setup = Setup::faulty(faults, seed);
        setup.smol_buffers = (smol_rx, smol_tx);
        setup.tcp.recv_buffer = ours_rx;
        setup.tcp.send_buffer = ours_tx;
        setup.ours_mtu = ours_mtu;
        setup.smol_mtu = smol_mtu;
        setup.smol_timestamps = smol_timestamps;
        let mut x = Xcheck::new(setup);
        let mut t = Transfer::new(pattern(to_smol, seed), pattern(to_ours, !seed));
        // smoltcp's application writes as soon as it is connected, as a real client does.
        let c = x.connect_running(role(ours_client), 80, None, &mut |x, s| t.pump_smol(x, s));
        let took = x.transfer(c, &mut t, LIMIT);
        prop_assert!(took < LIMIT);
        prop_assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
    });
}
