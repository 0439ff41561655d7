//! The simulator comparison for sending through loss (issue 16): 4 MiB one way through 1%
//! and 5% random loss each way, 1 ms RTT, 1 Gbit/s, a fixed set of seeds, with CUBIC (the
//! default) and NewReno. The simulator is deterministic, so a seed gives the same run every
//! time: each run is compared with the figures recorded from the code before RACK-TLP, PRR,
//! byte counting and DSACK undo (`tests/loss_baseline.txt`, the BASELINE). Asserted: in
//! every group (algorithm × loss) the median completion time and the total over the seeds
//! are lower than the baseline's. Per seed the figures are printed, with the seeds that
//! came out slower or with more retransmissions listed: a changed sender meets different
//! losses (the wire's RNG draws per packet), so one seed's figure is not a robust
//! comparison, and the list is reported rather than asserted.
//!
//! `LOSS_BASELINE_BLESS=1 cargo test --test tcp_loss_compare` rewrites the baseline (only
//! ever from the code the baseline describes).

mod tcp_common;

use std::fmt::Write as _;

use tcp_common::*;
use tunstack::tcp::{Algorithm, Config, Stats};
use tunstack::time::Duration;

const MIB: usize = 1024 * 1024;
const SEEDS: std::ops::RangeInclusive<u64> = 1..=25;
const BASELINE: &str = include_str!("loss_baseline.txt");

fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// One run: A sends `size` octets to B; the simulated time until B has read them all, A's
/// counters, and how many of A's data segments the wire dropped.
fn one_way(config: Config, faults: Faults, seed: u64, size: usize) -> (Duration, Stats, u64) {
    let mut p = Pair::new(config, faults, seed);
    let start = p.now;
    let out = payload(seed, size);
    let (mut sent, mut got) = (0, Vec::with_capacity(size));
    let mut buf = vec![0u8; 64 * 1024];
    let done = p.run_until(Duration::from_secs(600), |p| {
        if sent < out.len()
            && let Ok(n) = p.a.send(&out[sent..])
        {
            sent += n;
        }
        while let Ok(n) = p.b.recv(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got.len() == size
    });
    assert!(done && got == out, "transfer incomplete: {}", got.len());
    (p.now - start, p.a.stats(), p.lost_data(true))
}

/// One line of the table: (algorithm, loss %, seed) -> (µs, retransmissions, RTOs).
type Row = ((String, u32, u64), (u64, u64, u64));

/// Every run, with (beside it, in the same order) A's data segments the wire dropped.
fn run_all() -> (Vec<Row>, Vec<u64>) {
    let (mut rows, mut lost) = (Vec::new(), Vec::new());
    for algorithm in [Algorithm::Cubic, Algorithm::NewReno] {
        for loss_pct in [1u32, 5] {
            let faults = Faults {
                loss: f64::from(loss_pct) / 100.0,
                delay: Duration::from_micros(500),
                bandwidth: 125_000_000,
                keyed_loss: true,
                ..Faults::none()
            };
            let config = Config {
                congestion: algorithm,
                ..Config::default()
            };
            for seed in SEEDS.clone() {
                let (took, st, dropped) = one_way(config.clone(), faults, seed, 4 * MIB);
                lost.push(dropped);
                rows.push((
                    (algorithm.name().to_string(), loss_pct, seed),
                    (took.as_micros() as u64, st.retransmits, st.rtos),
                ));
            }
        }
    }
    (rows, lost)
}

fn parse_baseline() -> Vec<Row> {
    BASELINE
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f[i].parse::<u64>().expect("a number");
            ((f[0].to_string(), n(1) as u32, n(2)), (n(3), n(4), n(5)))
        })
        .collect()
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn four_mib_through_loss_against_the_baseline() {
    let (rows, lost) = run_all();
    let mut table = String::from("# algorithm loss% seed time_us retransmits rtos\n");
    for ((alg, loss, seed), (us, rx, rtos)) in &rows {
        writeln!(table, "{alg} {loss} {seed} {us} {rx} {rtos}").unwrap();
    }
    if std::env::var_os("LOSS_BASELINE_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/loss_baseline.txt");
        std::fs::write(path, &table).unwrap();
        eprintln!("baseline written:\n{table}");
        return;
    }
    let base = parse_baseline();
    assert_eq!(base.len(), rows.len(), "the baseline covers every run");
    eprintln!("algorithm loss seed: time ms (baseline) retransmits (baseline) RTOs (baseline)");
    let mut worse = Vec::new();
    for (((alg, loss, seed), now), (key, then)) in rows.iter().zip(&base) {
        assert_eq!(&(alg.clone(), *loss, *seed), key, "same run order");
        eprintln!(
            "{alg:7} {loss}% seed {seed}: {:8.1} ms ({:8.1}) rx {:5} ({:5}) rto {:3} ({:3})",
            now.0 as f64 / 1000.0,
            then.0 as f64 / 1000.0,
            now.1,
            then.1,
            now.2,
            then.2
        );
        if now.0 > then.0 || now.1 > then.1 {
            worse.push(format!("{alg} {loss}% seed {seed}: {now:?} vs {then:?}"));
        }
    }
    for alg in ["cubic", "newreno"] {
        for loss in [1, 5] {
            let pick = |t: &[Row], i: usize| {
                median(
                    t.iter()
                        .filter(|((a, l, _), _)| a == alg && *l == loss)
                        .map(|(_, v)| if i == 0 { v.0 } else { v.1 })
                        .collect(),
                )
            };
            let (now_t, then_t) = (pick(&rows, 0), pick(&base, 0));
            let (now_r, then_r) = (pick(&rows, 1), pick(&base, 1));
            eprintln!(
                "median {alg} {loss}%: {:.1} ms (baseline {:.1}), {now_r} retransmits (baseline {then_r})",
                now_t as f64 / 1000.0,
                then_t as f64 / 1000.0
            );
            assert!(now_t < then_t, "median {alg} {loss}% not faster");
            let total = |t: &[Row]| -> u64 {
                t.iter()
                    .filter(|((a, l, _), _)| a == alg && *l == loss)
                    .map(|(_, v)| v.0)
                    .sum()
            };
            assert!(
                total(&rows) < total(&base),
                "total {alg} {loss}% not faster"
            );
            // Retransmissions per data segment the wire dropped, over the group's runs
            // (RACK-TLP's probes and spurious retransmissions count against it).
            let (mut rx, mut dropped) = (0, 0);
            for (((a, l, _), v), d) in rows.iter().zip(&lost) {
                if a == alg && *l == loss {
                    rx += v.1;
                    dropped += d;
                }
            }
            eprintln!(
                "{alg} {loss}%: {rx} retransmissions for {dropped} data segments dropped ({:.3} each)",
                rx as f64 / dropped as f64
            );
        }
    }
    eprintln!(
        "{} of {} runs slower or with more retransmissions than the baseline: {worse:#?}",
        worse.len(),
        rows.len()
    );
}
