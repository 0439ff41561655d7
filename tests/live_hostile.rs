//! Live hostile load (issue 14), kept small for CI: a SYN flood from spoofed sources with
//! curl probing port 80 throughout, bogus cookie ACKs, and slow readers against a small
//! memory budget while a fresh client downloads 10 MiB (scripts/hostile.py). The full-size
//! figures are scripts/bench.sh's `hostile` group.

mod live;

use live::figure;

/// RFC 4987: 20,000 spoofed SYNs over about a second fill port 80's SYN queue and are then
/// answered with cookies; curl every 50 ms throughout still gets the page, some of them
/// through cookie connections, the first curl after the flood at once; and 5,000 bogus
/// cookie ACKs at full speed afterwards create nothing (one RST each, counted as failed
/// cookies) and cost no memory.
#[test]
fn live_syn_flood_answered_with_cookies_and_bogus_acks_create_nothing() {
    if !live::can_run(
        "live_syn_flood_answered_with_cookies_and_bogus_acks_create_nothing",
        &["python3", "curl"],
    ) {
        return;
    }
    let script = r#"
        set -e
        probe() { curl -s -o /dev/null --max-time 2 -w '%{http_code}\n' http://198.18.0.2/ || true; }
        python3 scripts/hostile.py synflood 20000 --rate 20000 > /tmp/flood.$$ &
        flood=$!
        for i in $(seq 1 30); do probe; sleep 0.05; done > /tmp/probes.$$
        wait $flood
        cat /tmp/flood.$$
        echo "probes ok $(grep -c '^200$' /tmp/probes.$$) of $(wc -l < /tmp/probes.$$)"
        curl -s -o /dev/null --max-time 1 -w 'after %{http_code}\n' http://198.18.0.2/
        rss() { awk '/VmRSS/ { print $2 }' /proc/$DAEMON_PID/status; }
        before=$(rss)
        python3 scripts/hostile.py ackflood 5000 | sed 's/^sent/acks sent/'
        sleep 0.5
        echo "rss growth kib $(( $(rss) - before ))"
        rm -f /tmp/flood.$$ /tmp/probes.$$
    "#;
    let s = live::session("hostile-flood", "", script);
    s.assert_ok();
    let out = &s.stdout;
    let probes = figure(out, "probes ok");
    assert!(
        probes >= 27,
        "at most 3 of 30 probes may miss: {probes}\n{out}"
    );
    assert!(out.contains("after 200\n"), "{out}");
    let sent = figure(out, "sent");
    let dropped = figure(out, "device dropped");
    let cookies = s.summary("tcp:", "cookies sent");
    assert!(
        cookies + 128 + 40 >= sent - dropped && cookies > 10_000,
        "every SYN beyond the queue got a cookie: {cookies} of {sent} ({dropped} dropped by the device)\n{out}"
    );
    assert_eq!(
        s.summary("tcp:", "SYN queue overflows"),
        cookies + s.summary("tcp:", "half-open evicted")
    );
    assert!(
        s.summary("tcp:", "validated") >= 1,
        "probes through cookies\n{out}"
    );
    // The ACK flood: each that reached the daemon failed as a cookie and drew a RST.
    let acks_sent = figure(out, "acks sent");
    let acks_dropped = out
        .lines()
        .find(|l| l.starts_with("acks sent"))
        .map(|l| figure(l, "device dropped"))
        .unwrap();
    assert_eq!(
        s.summary("tcp:", "failed"),
        acks_sent - acks_dropped,
        "{out}"
    );
    assert!(s.summary("tcp:", "RSTs for strays") >= acks_sent - acks_dropped);
    assert!(live::signed_figure(out, "rss growth kib") < 1024, "{out}");
    // Connections: the probes (passive opens or validated cookies) and the half-open queue.
    assert!(s.summary("tcp:", "passive opens") < 31 + 128 + 50, "{out}");
}

/// The memory budget live: 300 connections write 1 MiB each to echo and never read, with
/// `--mem-max 16M`; a fresh client meanwhile downloads 10 MiB over HTTP byte-exact. TCP's
/// memory peaks at the budget at most, the daemon's RSS stays within the budget plus a fixed
/// overhead, and the connections reset to stay there are counted.
#[test]
fn live_slow_readers_stay_within_the_memory_budget() {
    if !live::can_run(
        "live_slow_readers_stay_within_the_memory_budget",
        &["python3", "curl", "cmp"],
    ) {
        return;
    }
    let www = live::site("hostile-slow", 10 << 20);
    let script = format!(
        r#"
        set -e
        rss() {{ awk '/VmRSS/ {{ print $2 }}' /proc/$DAEMON_PID/status; }}
        echo "rss start kib $(rss)"
        python3 scripts/hostile.py slowreaders 300 --hold 20 --ready /tmp/ready.$$ &
        readers=$!
        for i in $(seq 1 300); do [ -s /tmp/ready.$$ ] && break; sleep 0.1; done
        cat /tmp/ready.$$
        echo "rss loaded kib $(rss)"
        curl -s --max-time 30 -o /tmp/big.$$ http://198.18.0.2/big.bin
        cmp /tmp/big.$$ {www}/big.bin && echo byte-exact
        echo "rss end kib $(rss)"
        kill $readers; wait $readers || true
        rm -f /tmp/ready.$$ /tmp/big.$$
        "#,
        www = www.display()
    );
    let s = live::session(
        "hostile-slow",
        &format!("--mem-max 16M --www {}", www.display()),
        &script,
    );
    s.assert_ok();
    let out = &s.stdout;
    assert!(out.contains("byte-exact\n"), "{out}");
    assert_eq!(figure(out, "ready"), 300, "{out}");
    let line = out.lines().find(|l| l.starts_with("tcp memory:")).unwrap();
    assert!(line.contains("budget 16.0M"), "{line}");
    let peak = line
        .split("peak ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap();
    assert!(
        peak.ends_with('M') && peak.trim_end_matches('M').parse::<f64>().unwrap() <= 16.0,
        "{line}"
    );
    // The budget plus a fixed overhead (binary, apps, allocator): 40 MiB in all.
    for label in ["rss loaded kib", "rss end kib"] {
        assert!(figure(out, label) < 40 * 1024, "{label}\n{out}");
    }
    let resets = s.summary("tcp:", "memory resets");
    assert!(
        resets > 0,
        "300 stalled connections do not fit 16M: some were reset\n{out}"
    );
    assert_eq!(resets, s.summary("tcp: closed:", "aborted"), "{out}");
}
