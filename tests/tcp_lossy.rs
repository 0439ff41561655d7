//! Two of our connections against each other over a faulty simulated wire: loss,
//! duplication, reordering and corruption (caught by the checksum, MUST-2/MUST-3).

mod tcp_common;

use proptest::prelude::*;
use tcp_common::*;
use tunstack::tcp::{CloseReason, Config, Event, State};
use tunstack::time::Duration;

fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

struct Outcome {
    simulated: Duration,
    retransmits: u64,
    dropped_bad: u64,
}

/// Send `size` octets each way, close both sides, and check everything arrived intact.
fn transfer(config: Config, faults: Faults, seed: u64, size: usize, limit: Duration) -> Outcome {
    let mut p = Pair::new(config, faults, seed);
    let start = p.now;
    let out_a = payload(seed ^ 0xa, size);
    let out_b = payload(seed ^ 0xb, size);
    let (mut sent_a, mut sent_b) = (0usize, 0usize);
    let (mut got_a, mut got_b) = (Vec::with_capacity(size), Vec::with_capacity(size));
    let (mut eof_a, mut eof_b) = (false, false);
    let mut buf = vec![0u8; 64 * 1024];
    let done = p.run_until(limit, |p| {
        for (conn, out, sent) in [
            (&mut p.a, &out_a, &mut sent_a),
            (&mut p.b, &out_b, &mut sent_b),
        ] {
            let open = matches!(conn.state(), State::Established | State::CloseWait);
            if *sent < out.len()
                && open
                && let Ok(n) = conn.send(&out[*sent..])
            {
                *sent += n;
                if *sent == out.len() {
                    conn.close();
                }
            }
        }
        for (conn, got, eof) in [
            (&mut p.a, &mut got_a, &mut eof_a),
            (&mut p.b, &mut got_b, &mut eof_b),
        ] {
            loop {
                match conn.recv(&mut buf) {
                    Ok(0) => {
                        *eof = true;
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        eof_a && eof_b && p.a.state() == State::Closed && p.b.state() == State::Closed
    });
    assert!(
        done,
        "transfer unfinished after {:?}: A {} sent {sent_a} got {} / B {} sent {sent_b} got {}\nA {:?}\nB {:?}",
        p.now - start,
        p.a.state(),
        got_a.len(),
        p.b.state(),
        got_b.len(),
        p.a.stats(),
        p.b.stats()
    );
    assert!(got_b == out_a, "A->B stream differs");
    assert!(got_a == out_b, "B->A stream differs");
    for ev in [&p.events_a, &p.events_b] {
        assert!(ev.contains(&Event::Closed(CloseReason::Normal)), "{ev:?}");
    }
    Outcome {
        simulated: p.now - start,
        retransmits: p.a.stats().retransmits + p.b.stats().retransmits,
        dropped_bad: p.dropped_bad,
    }
}

const MIB: usize = 1024 * 1024;

#[test]
fn ten_mib_each_way_clean_wire() {
    let o = transfer(
        Config::default(),
        Faults::none(),
        1,
        10 * MIB,
        Duration::from_secs(120),
    );
    assert_eq!(o.retransmits, 0);
    eprintln!("clean: {:?} simulated", o.simulated);
}

#[test]
fn ten_mib_each_way_through_faults() {
    let faults = Faults {
        loss: 0.02,
        duplicate: 0.01,
        corrupt: 0.01,
        reorder: 0.05,
        delay: Duration::from_millis(10),
    };
    let o = transfer(
        Config::default(),
        faults,
        7,
        10 * MIB,
        Duration::from_secs(600),
    );
    assert!(o.retransmits > 0 && o.dropped_bad > 0);
    eprintln!(
        "faulty: {:?} simulated, {} retransmits",
        o.simulated, o.retransmits
    );
}

#[test]
fn twenty_percent_loss_still_delivers() {
    let faults = Faults {
        loss: 0.2,
        duplicate: 0.05,
        corrupt: 0.05,
        reorder: 0.1,
        delay: Duration::from_millis(10),
    };
    let config = Config {
        r2: Duration::from_secs(600),
        ..Config::default()
    };
    let o = transfer(config, faults, 3, 256 * 1024, Duration::from_secs(3000));
    eprintln!(
        "20% loss: {:?} simulated, {} retransmits",
        o.simulated, o.retransmits
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn any_fault_seed_delivers_byte_exact(seed in any::<u64>(), loss in 0.0f64..0.1) {
        let faults = Faults {
            loss,
            duplicate: 0.02,
            corrupt: 0.02,
            reorder: 0.05,
            delay: Duration::from_millis(5),
        };
        let config = Config { r2: Duration::from_secs(600), ..Config::default() };
        transfer(config, faults, seed, 64 * 1024, Duration::from_secs(3000));
    }
}
