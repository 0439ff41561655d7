//! Live TCP: the Linux kernel's TCP against ours through the TUN device, in a fresh
//! namespace each, with the services echo, discard, qotd and chargen.

mod live;

/// tshark's TCP analysis of a capture taken at the stack: "ACKed unseen segment" and
/// "previous segment not captured" would mean our sequence numbers are inconsistent (or
/// that the device dropped packets before we saw them, which only bursts of many
/// connections provoke).
const TCP_ERRORS: &str = "tcp.analysis.ack_lost_segment || tcp.analysis.lost_segment";

/// Kernel client → echo (1 MiB, byte-exact; then 200 concurrent connections), → discard
/// (1 GiB, complete), chargen → kernel client (the RFC 864 pattern verified). The capture of
/// the smaller transfers decodes cleanly and tshark's TCP analysis finds nothing wrong.
#[test]
fn live_tcp_services_byte_exact() {
    if !live::can_run("live_tcp_services_byte_exact", &["python3", "tshark"]) {
        return;
    }
    let pcap = live::artefact("tcp-services.pcap");
    let script = r#"
        set -e
        python3 scripts/tcpcheck.py echo --bytes 1048576
        python3 scripts/tcpcheck.py chargen --bytes 2000000
    "#;
    let s = live::session("tcp", &format!("--pcap {}", pcap.display()), script);
    s.assert_ok();
    for line in ["echo ok 1048576 bytes", "chargen ok 2000000 bytes"] {
        assert!(s.stdout.contains(line), "missing {line:?}:\n{}", s.stdout);
    }
    assert!(
        s.stdout
            .contains("echo (port 7): 1 connections, 1048576 bytes"),
        "{}",
        s.stdout
    );
    // Not 1,000 packets where the kernel takes our super-segments (TSO, the default where
    // it is accepted): the capture shows what crossed the device.
    live::assert_clean_capture(&pcap, 150);
    let suspicious = live::tshark_matching(&pcap, TCP_ERRORS);
    assert!(
        suspicious.is_empty(),
        "tshark TCP analysis:\n{}",
        suspicious.join("\n")
    );

    // 200 concurrent echo connections. Their first flights arrive together and can overflow
    // the TUN device's queue (txqueuelen 500) in either direction; TCP repairs that, so the
    // capture is checked for well-formed packets only, not for TCP analysis warnings.
    let pcap = live::artefact("tcp-echo-many.pcap");
    let script = "python3 scripts/tcpcheck.py echo-many --conns 200 --bytes 10000";
    let s = live::session("tcpmany", &format!("--pcap {}", pcap.display()), script);
    s.assert_ok();
    assert!(
        s.stdout.contains("echo-many ok 200 connections"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout
            .contains("echo (port 7): 200 connections, 2000000 bytes"),
        "{}",
        s.stdout
    );
    assert!(s.stdout.contains("passive opens 200"), "{}", s.stdout);
    live::assert_clean_capture(&pcap, 1000);

    // 1 GiB into discard, without a capture (it would be a GiB too).
    let s = live::session(
        "discard",
        "",
        "python3 scripts/tcpcheck.py discard --bytes 1073741824",
    );
    s.assert_ok();
    assert!(
        s.stdout.contains("discard ok 1073741824 bytes"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout
            .contains("discard (port 9): 1 connections, 1073741824 bytes"),
        "{}",
        s.stdout
    );
}

/// RFC 9293 §3.6: whoever closes first lingers in TIME-WAIT. The kernel closing first (echo:
/// it sends FIN, we answer with ours) leaves the kernel in TIME-WAIT; us closing first (qotd)
/// leaves our connection in TIME-WAIT for 2×MSL (1 s here), then it is gone.
#[test]
fn live_tcp_time_wait_on_the_side_that_closes_first() {
    if !live::can_run(
        "live_tcp_time_wait_on_the_side_that_closes_first",
        &["python3", "ss"],
    ) {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tunstack");
    let script = format!(
        r#"
        set -e
        python3 scripts/tcpcheck.py echo --bytes 1000
        echo "kernel: $(ss -Htan state time-wait dst 198.18.0.2:7 | wc -l) in TIME-WAIT to :7"
        echo "ours after echo: $({bin} ss | grep -c TIME-WAIT || true) in TIME-WAIT"
        python3 scripts/tcpcheck.py qotd
        {bin} ss | grep TIME-WAIT | sed 's/^/ours: /'
        echo "kernel: $(ss -Htan state time-wait dst 198.18.0.2:17 | wc -l) in TIME-WAIT to :17"
        sleep 2.5
        echo "ours after 2.5 s: $({bin} ss | grep -c TIME-WAIT || true) in TIME-WAIT"
        "#
    );
    let s = live::session("timewait", "--msl 1s", &script);
    s.assert_ok();
    for line in [
        "kernel: 1 in TIME-WAIT to :7",
        "ours after echo: 0 in TIME-WAIT",
        "kernel: 0 in TIME-WAIT to :17",
        "ours after 2.5 s: 0 in TIME-WAIT",
    ] {
        assert!(s.stdout.contains(line), "missing {line:?}:\n{}", s.stdout);
    }
    let ours: Vec<&str> = s
        .stdout
        .lines()
        .filter(|l| l.starts_with("ours: TIME-WAIT"))
        .collect();
    assert_eq!(ours.len(), 1, "{}", s.stdout);
    assert!(ours[0].contains("198.18.0.2:17"), "{}", ours[0]);
}

/// Keepalive idle 2 s, interval 1 s, 3 probes: probes go out while the connection idles and
/// the kernel answers them (tshark sees both); then the path is cut with iptables and the
/// connection ends timed out after 3 unanswered probes.
#[test]
fn live_tcp_keepalive_probes_answered_then_timeout_when_cut() {
    if !live::can_run(
        "live_tcp_keepalive_probes_answered_then_timeout_when_cut",
        &["python3", "tshark", "iptables"],
    ) {
        return;
    }
    let pcap = live::artefact("keepalive.pcap");
    let bin = env!("CARGO_BIN_EXE_tunstack");
    let script = format!(
        r#"
        set -e
        python3 scripts/tcpcheck.py hold --seconds 4.5
        python3 - <<'PY' &
import socket, time
s = socket.create_connection(("198.18.0.2", 7))
s.sendall(b"x")
s.recv(1)
time.sleep(30)
PY
        sleep 0.5
        echo "before cut: $({bin} ss | grep -c ESTABLISHED) established"
        iptables -A OUTPUT -o tun0 -j DROP
        sleep 6.5
        echo "after cut: $({bin} ss | grep -c ESTABLISHED || true) established"
        iptables -D OUTPUT -o tun0 -j DROP
        "#
    );
    let daemon = format!("--pcap {} --keepalive echo=2s,1s,3", pcap.display());
    let s = live::session("keepalive", &daemon, &script);
    s.assert_ok();
    assert!(
        s.stdout.contains("hold ok alive after 4.5 s"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("before cut: 1 established"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("after cut: 0 established"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("timed-out 1"),
        "one connection closed timed out:\n{}",
        s.stdout
    );
    let probes = live::tshark_matching(&pcap, "tcp.analysis.keep_alive && ip.src == 198.18.0.2");
    let answers =
        live::tshark_matching(&pcap, "tcp.analysis.keep_alive_ack && ip.src == 198.18.0.1");
    // The held connection: probes at 2 s and 3 s of idleness... each answered. The cut one:
    // probes answered until the cut, then 3 unanswered.
    assert!(probes.len() >= 5, "probes:\n{}", probes.join("\n"));
    assert!(answers.len() >= 2, "answers:\n{}", answers.join("\n"));
    assert!(
        probes.len() >= answers.len() + 3,
        "3 unanswered probes at the end"
    );
}

/// 5% random loss each way (iptables statistic in the namespace): echo, chargen and discard
/// transfers still arrive byte-exact.
#[test]
fn live_tcp_survives_five_percent_loss() {
    if !live::can_run(
        "live_tcp_survives_five_percent_loss",
        &["python3", "iptables"],
    ) {
        return;
    }
    let script = r#"
        set -e
        iptables -A INPUT -i tun0 -m statistic --mode random --probability 0.05 -j DROP
        iptables -A OUTPUT -o tun0 -m statistic --mode random --probability 0.05 -j DROP
        python3 scripts/tcpcheck.py echo --bytes 1048576 --timeout 300
        python3 scripts/tcpcheck.py echo-many --conns 200 --bytes 10000 --timeout 300
        python3 scripts/tcpcheck.py chargen --bytes 2000000 --timeout 300
        python3 scripts/tcpcheck.py discard --bytes 1073741824 --timeout 300
        iptables -L -v -n | grep -c statistic
    "#;
    let s = live::session("loss", "", script);
    s.assert_ok();
    for line in [
        "echo ok 1048576 bytes",
        "echo-many ok 200 connections",
        "chargen ok 2000000 bytes",
        "discard ok 1073741824 bytes",
    ] {
        assert!(s.stdout.contains(line), "missing {line:?}:\n{}", s.stdout);
    }
    assert!(
        !s.stdout.contains("retransmits 0 "),
        "loss was repaired by retransmission:\n{}",
        s.stdout
    );
}

/// The loss group's transfers (scripts/bench_loss.sh) checked byte-exact, with each of our
/// congestion controllers: 1% random loss each way, made where it is real loss for both
/// senders (iptables INPUT on tun0 for what we send; the daemon's seeded `--faults rx.loss`
/// for what the kernel sends, since a kernel packet dropped in OUTPUT is only refused
/// locally and queued again). 4 MiB through echo (the kernel's sender and ours, our receiver
/// and the kernel's) and 20 MB of chargen (our sender) arrive exact; the summary shows the
/// loss was there and repaired (segments marked lost, retransmissions).
#[test]
fn live_tcp_byte_exact_through_one_percent_loss_each_controller() {
    if !live::can_run(
        "live_tcp_byte_exact_through_one_percent_loss_each_controller",
        &["python3", "iptables"],
    ) {
        return;
    }
    let script = r#"
        set -e
        iptables -A INPUT -i tun0 -m statistic --mode random --probability 0.01 -j DROP
        python3 scripts/tcpcheck.py echo --bytes 4194304 --timeout 120
        python3 scripts/tcpcheck.py chargen --bytes 20000000 --timeout 120
        iptables -L INPUT -v -x -n | awk '/statistic/ { print "dropped towards the kernel:", $1 }'
    "#;
    for cc in ["newreno", "cubic"] {
        let args = format!("--cc {cc} --faults rx.loss=0.01,seed=16");
        let s = live::session(&format!("loss1-{cc}"), &args, script);
        s.assert_ok();
        for line in ["echo ok 4194304 bytes", "chargen ok 20000000 bytes"] {
            assert!(
                s.stdout.contains(line),
                "{cc}: missing {line:?}:\n{}",
                s.stdout
            );
        }
        let retransmits = s.summary("tcp:", "retransmits");
        let lost = s.summary("tcp:", "lost");
        let dropped = s.summary("dropped towards the kernel:", "");
        eprintln!(
            "{cc}: {dropped} packets dropped towards the kernel, {lost} segments marked lost, \
             {retransmits} retransmissions"
        );
        assert!(dropped > 0 && retransmits > 0 && lost > 0, "{}", s.stdout);
    }
}
