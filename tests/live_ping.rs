//! Live: the kernel pings tunstack through a real TUN device in a fresh namespace, and
//! tshark reads the capture.

mod live;

/// Normal, 1472-byte (a full 1500-byte packet), 4000-byte (fragmented both ways) and a
/// 1000-ping burst at 2 ms: every reply comes back, intact, and the capture is clean.
#[test]
fn live_ping_sizes_and_burst() {
    if !live::can_run("live_ping_sizes_and_burst", &["tshark"]) {
        return;
    }
    let pcap = live::artefact("ping.pcap");
    // `ping` itself checks each reply's identifier, sequence number and payload pattern and
    // reports "wrong data byte" or "DUP!" otherwise; `-W 1` bounds every wait.
    let script = r#"
        set -e
        ping -c 20 -i 0.05 -W 1 198.18.0.2
        ping -c 5 -i 0.1 -W 1 -s 1472 -M do 198.18.0.2
        ping -c 5 -i 0.1 -W 1 -s 4000 198.18.0.2
        ping -c 1000 -i 0.002 -W 1 -q 198.18.0.2
    "#;
    let s = live::session("ping", &format!("--pcap {}", pcap.display()), script);
    s.assert_ok();
    for expected in [
        "20 packets transmitted, 20 received, 0% packet loss",
        "5 packets transmitted, 5 received, 0% packet loss",
        "1000 packets transmitted, 1000 received, 0% packet loss",
    ] {
        assert!(
            s.stdout.contains(expected),
            "missing {expected:?} in:\n{}",
            s.stdout
        );
    }
    assert_eq!(
        s.stdout
            .matches("5 packets transmitted, 5 received")
            .count(),
        2,
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("1480 bytes from 198.18.0.2"),
        "1472-byte replies"
    );
    assert!(
        s.stdout.contains("4008 bytes from 198.18.0.2"),
        "4000-byte replies"
    );
    assert!(!s.stdout.contains("wrong data byte") && !s.stdout.contains("DUP!"));
    // Readiness probe + 1030 pings answered; each 4000-byte ping is 3 fragments each way.
    assert!(
        s.stdout.contains("echo requests 1031, echo replies 1031"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("reassembled 5, fragments out 15"),
        "{}",
        s.stdout
    );
    assert!(s.stdout.contains("drops: 0 total"), "{}", s.stdout);

    let packets = live::assert_clean_capture(&pcap, 2 * 1031);
    // The fragmented replies were reassembled by Wireshark into 4008-byte echo replies.
    let big_replies = live::tshark_matching(&pcap, "icmp.type == 0 && ip.len == 1068");
    assert_eq!(
        big_replies.len(),
        5,
        "last fragments of the 4000-byte replies"
    );
    assert_eq!(
        packets,
        2 * 1031 + 4 * 5,
        "every packet in and out is in the capture"
    );
}

/// Missing privilege and a busy device are explained in one sentence with the fix.
#[test]
fn live_startup_errors_name_the_fix() {
    if !live::can_run("live_startup_errors_name_the_fix", &["setpriv"]) {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tunstack");
    // As an unprivileged user, in a namespace with tun0 held by a running daemon.
    let script = format!(
        r#"
        setpriv --reuid 65534 --regid 65534 --clear-groups {bin} --dev tunx --services echo 2>&1 || true
        echo ---
        {bin} --services echo 2>&1 || true
        echo ---
        # A new device in a namespace whose default turns IPv6 off.
        sysctl -qw net.ipv6.conf.default.disable_ipv6=1
        {bin} --dev tunv6 --services echo 2>&1 || true
        sysctl -qw net.ipv6.conf.default.disable_ipv6=0
        echo ---
        {bin} --dev tunv6 --mtu 1000 --services echo 2>&1 || true
        "#
    );
    let s = live::session("errors", "", &script);
    s.assert_ok();
    let mut parts = s.stdout.split("---");
    let (unprivileged, busy) = (parts.next().unwrap(), parts.next().unwrap());
    let (no_ipv6, small_mtu) = (parts.next().unwrap(), parts.next().unwrap());
    let line = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("tunstack:"))
            .unwrap_or("")
            .to_string()
    };
    let no_ipv6 = line(no_ipv6);
    assert!(
        no_ipv6.contains("IPv6 is disabled for tunv6") && no_ipv6.contains("--no-ipv6"),
        "{}",
        s.stdout
    );
    let small_mtu = line(small_mtu);
    assert!(
        small_mtu.contains("--mtu 1000 is too small for IPv6") && small_mtu.contains("--no-ipv6"),
        "{}",
        s.stdout
    );
    assert!(
        unprivileged.contains("no permission to use /dev/net/tun")
            && unprivileged.contains("sudo")
            && unprivileged.contains("CAP_NET_ADMIN")
            && unprivileged.contains("--no-configure"),
        "{unprivileged}"
    );
    assert_eq!(unprivileged.trim().lines().count(), 1, "{unprivileged}");
    let busy = busy
        .lines()
        .find(|l| l.starts_with("tunstack:"))
        .unwrap_or("");
    assert!(busy.contains("device tun0 is busy"), "{}", s.stdout);
}

/// `--no-configure` attaches to a persistent device made beforehand and takes its MTU
/// (here 9000: an 8000-byte ping crosses unfragmented, DF set).
#[test]
fn live_no_configure_uses_the_existing_device_and_its_mtu() {
    if !live::can_run(
        "live_no_configure_uses_the_existing_device_and_its_mtu",
        &[],
    ) {
        return;
    }
    let script = "ping -c 3 -i 0.1 -W 1 -s 8000 -M do 198.18.0.2";
    let s = live::session_with("noconf", &["-p", "-m", "9000"], "--no-configure", script);
    s.assert_ok();
    assert!(
        s.stdout.contains("3 packets transmitted, 3 received"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout.contains("on tun0 (as configured, MTU 9000)"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout
            .contains("fragments in 0, reassembled 0, fragments out 0"),
        "{}",
        s.stdout
    );
}

/// UDP to us is refused with ICMP port unreachable, which the kernel turns into
/// ECONNREFUSED on a connected socket; an unknown protocol gets protocol unreachable.
#[test]
fn live_udp_and_unknown_protocols_are_refused() {
    if !live::can_run("live_udp_and_unknown_protocols_are_refused", &["python3"]) {
        return;
    }
    let script = r#"python3 - <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect(("198.18.0.2", 9999))
s.send(b"anyone there?")
try:
    s.recv(100)
    print("udp: answered?!")
except ConnectionRefusedError:
    print("udp: refused")
# Listen for ICMP before sending, so the answer cannot arrive first.
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(2)
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
r.sendto(b"experimental", ("198.18.0.2", 0))
while True:
    pkt = icmp.recv(2000)
    if pkt[20] == 3:
        print(f"icmp: destination unreachable code {pkt[21]}")
        break
PY"#;
    let s = live::session("udp", "", script);
    s.assert_ok();
    assert!(s.stdout.contains("udp: refused"), "{}", s.stdout);
    assert!(
        s.stdout.contains("icmp: destination unreachable code 2"),
        "{}",
        s.stdout
    );
    assert!(
        s.stdout
            .contains("port unreachable sent 1, protocol unreachable sent 1"),
        "{}",
        s.stdout
    );
}

/// SIGINT while the daemon is busy answering a burst (400 pings of both families written
/// straight into the device) stops it within 3 s, every time: the signal may land between
/// the loop's check of its stop flag and its wait, and must still wake it. Five tries (before
/// the self-pipe, about one in five daemons slept through it until netns.sh killed them).
#[test]
fn live_sigint_during_a_burst_stops_the_daemon() {
    if !live::can_run("live_sigint_during_a_burst_stops_the_daemon", &["python3"]) {
        return;
    }
    let script = r#"python3 - <<'PY'
import os, signal, socket, sys, time
sys.path.insert(0, "scripts")
import barrage
pid = int(os.environ["DAEMON_PID"])
sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(barrage.ETH_P_IP))
for i in range(200):
    sock.sendto(barrage.ip(barrage.icmp_echo(seq=i, data=b"z" * 1000)), ("tun0", barrage.ETH_P_IP))
    sock.sendto(barrage.ip6(barrage.echo6(seq=i, data=b"z" * 1000)), ("tun0", barrage.ETH_P_IPV6))
os.kill(pid, signal.SIGINT)
start = time.monotonic()
while time.monotonic() - start < 3:
    try:  # gone, or a zombie (Z) that netns.sh has not reaped yet: it has exited
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    if state in ("Z", "gone"):
        print("daemon stopped after SIGINT")
        break
    time.sleep(0.02)
else:
    print("daemon still running 3 s after SIGINT")
PY"#;
    for i in 0..5 {
        let s = live::session(&format!("sigint{i}"), "--services echo", script);
        s.assert_ok();
        assert!(
            s.stdout.contains("daemon stopped after SIGINT"),
            "try {i}:\n{}",
            s.stdout
        );
        assert!(s.stdout.contains("tunstack summary"), "{}", s.stdout);
    }
}
