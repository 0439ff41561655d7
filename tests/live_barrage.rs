//! Live: a barrage of malformed IPv4 and IPv6 packets written straight into the TUN device
//! (scripts/barrage.py). The daemon keeps answering in both families and counts each drop by
//! its reason.

mod live;

use std::collections::BTreeMap;

/// The IPv6 damage the barrage must cover (RFC 8200 header, addresses, extension headers,
/// fragments, ICMPv6, UDP's mandatory checksum), so a case cannot silently go missing.
const IPV6_REASONS: &[&str] = &[
    "ipv6-truncated",
    "ipv6-bad-payload-length",
    "ipv6-hop-limit-zero",
    "ipv6-not-for-us",
    "ipv6-bad-source",
    "ipv6-multicast-not-ours",
    "ipv6-extension-truncated",
    "ipv6-unknown-next-header",
    "ipv6-routing-header",
    "ipv6-hop-by-hop-not-first",
    "ipv6-unknown-option",
    "ipv6-bad-option",
    "ipv6-no-next-header",
    "fragment6-incomplete-chain",
    "fragment-overlap",
    "fragment6-after-overlap",
    "icmpv6-bad-checksum",
    "icmpv6-truncated",
    "icmpv6-unhandled-type",
    "udp-bad-checksum",
    "udp-to-multicast",
];

/// Every kind of damage, IPv4 and IPv6, lands in its own counter, exactly as often as it was
/// sent, and nothing else is dropped: the kernel sends the daemon nothing of its own (no MLD
/// reports or router solicitations: a TUN device is IFF_NOARP, so it joins no solicited-node
/// group, all-nodes is never reported, and solicitations are off), which the packet count
/// proves. Pings of both families are answered afterwards. The Parameter Problems the daemon
/// sends back are in the capture, as many as its summary says.
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
        ping -6 -c 5 -i 0.1 -W 1 2001:2::2
    "#;
    let s = live::session("barrage", &format!("--pcap {}", pcap.display()), script);
    s.assert_ok();
    assert_eq!(
        s.stdout
            .matches("5 packets transmitted, 5 received")
            .count(),
        2,
        "{}",
        s.stdout
    );
    // The device queued every packet for the daemon (the barrage keeps pace with pings).
    assert!(s.stdout.contains("device dropped 0\n"), "{}", s.stdout);
    let line = s
        .stdout
        .lines()
        .find(|l| l.starts_with("sent "))
        .expect("barrage prints what it sent");
    let words: Vec<&str> = line.split(' ').collect();
    let sent: u64 = words[1].parse().unwrap();
    let pings: u64 = words[5].parse().unwrap();
    assert_eq!(
        s.summary("packets:", "rx"),
        1 + sent + pings + 10,
        "the readiness ping, the barrage, its pacing pings and the pings, nothing else:\n{}",
        s.stdout
    );
    let json = s
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("barrage prints its expected counts");
    let expected = parse_counts(json);
    assert!(expected.len() >= 15, "{expected:?}");
    for reason in IPV6_REASONS {
        assert!(
            expected.contains_key(*reason),
            "no {reason} case: {expected:?}"
        );
    }
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
    let bad6 = live::tshark_matching(&pcap, r#"ipv6 && icmpv6.checksum.status == "Bad""#);
    assert_eq!(bad6.len(), 10, "{}", bad6.join("\n"));
    // Parameter Problems (RFC 4443 §3.4) went back for the damage RFC 8200 asks to hear
    // about, up to the ICMP rate limit; tshark sees each the summary counts.
    let problems = s.summary("ipv6:", "parameter problems sent");
    assert!(problems > 0, "{}", s.stdout);
    let sent_back = live::tshark_matching(&pcap, "ipv6.src == 2001:2::2 && icmpv6.type == 4");
    assert_eq!(sent_back.len() as u64, problems, "{}", sent_back.join("\n"));
}

/// Thousands of random and bit-flipped packets of both families (IPv6 ones with random
/// extension-header chains): no crash, and pings of both families are still answered.
#[test]
fn live_barrage_fuzz_then_still_answers() {
    if !live::can_run("live_barrage_fuzz_then_still_answers", &["python3"]) {
        return;
    }
    let script = r#"
        set -e
        python3 scripts/barrage.py --repeat 20 --fuzz 5000 --seed 7
        ping -c 10 -i 0.05 -W 1 198.18.0.2
        ping -6 -c 10 -i 0.05 -W 1 2001:2::2
    "#;
    let s = live::session("fuzz", "", script);
    s.assert_ok();
    assert_eq!(
        s.stdout
            .matches("10 packets transmitted, 10 received")
            .count(),
        2,
        "{}",
        s.stdout
    );
    // The fuzz reached the IPv6 path: far more IPv6 packets than the 10 pings, and drops in
    // IPv6 counters.
    assert!(s.summary("ipv6:", "packets in") > 1000, "{}", s.stdout);
    let ipv6_drops: u64 = s
        .stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  ipv6-")?
                .split_once(": ")?
                .1
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(ipv6_drops > 100, "{}", s.stdout);
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
