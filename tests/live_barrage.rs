//! Live: a barrage of malformed packets written straight into the TUN device
//! (scripts/barrage.py). The daemon keeps answering and counts each drop by its reason.

mod live;

use std::collections::BTreeMap;

/// Every kind of damage lands in its own counter, exactly as often as it was sent.
#[test]
fn live_barrage_each_drop_counted_by_reason() {
    if !live::can_run(
        "live_barrage_each_drop_counted_by_reason",
        &["python3", "tshark"],
    ) {
        return;
    }
    let pcap = live::artefact("barrage.pcap");
    let script = r#"
        set -e
        python3 scripts/barrage.py --repeat 10 --fuzz 0
        ping -c 5 -i 0.1 -W 1 198.18.0.2
    "#;
    let s = live::session("barrage", &format!("--pcap {}", pcap.display()), script);
    s.assert_ok();
    assert!(
        s.stdout.contains("5 packets transmitted, 5 received"),
        "{}",
        s.stdout
    );
    let json = s
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("barrage prints its expected counts");
    let expected = parse_counts(json);
    assert!(expected.len() >= 15, "{expected:?}");
    let mut total = 0;
    for (reason, n) in &expected {
        assert_eq!(
            s.drop_count(reason),
            *n,
            "drops for {reason}:\n{}",
            s.stdout
        );
        total += n;
    }
    assert!(
        s.stdout.contains(&format!("drops: {total} total")),
        "{}",
        s.stdout
    );
    // The checker is not vacuous: tshark sees the bad checksums we sent.
    let bad = live::tshark_matching(&pcap, live::BAD_CHECKSUM);
    assert!(bad.len() >= 20, "tshark found {} bad checksums", bad.len());
}

/// Thousands of random and bit-flipped packets: no crash, and pings are still answered.
#[test]
fn live_barrage_fuzz_then_still_answers() {
    if !live::can_run("live_barrage_fuzz_then_still_answers", &["python3"]) {
        return;
    }
    let script = r#"
        set -e
        python3 scripts/barrage.py --repeat 20 --fuzz 5000 --seed 7
        ping -c 10 -i 0.05 -W 1 198.18.0.2
    "#;
    let s = live::session("fuzz", "", script);
    s.assert_ok();
    assert!(
        s.stdout.contains("10 packets transmitted, 10 received"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("tunstack summary"),
        "clean shutdown:\n{}",
        s.stdout
    );
}

/// `{"a": 1, "b-c": 2}` → map (the barrage prints flat JSON of counts).
fn parse_counts(json: &str) -> BTreeMap<String, u64> {
    json.trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((
                k.trim().trim_matches('"').to_string(),
                v.trim().parse().ok()?,
            ))
        })
        .collect()
}
