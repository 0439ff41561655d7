//! Live IPv6: the kernel talks to tunstack at 2001:2::2 (kernel side 2001:2::1/64) through a
//! real TUN device, in a fresh namespace each (scripts/netns.sh), with real tools: ping -6,
//! curl -6, python sockets over AF_INET6, ip6tables; tshark reads every capture. Each test
//! also checks that its traffic really was IPv6: apart from netns.sh's readiness probe (one
//! IPv4 ping), every packet the daemon took in was IPv6.
//!
//! The barrage of malformed IPv6 packets lives with the IPv4 one in live_barrage.rs, and the
//! embedding API's IPv6 transfer with its IPv4 ones in live_api.rs.

mod live;

use std::path::Path;

/// tshark's TCP analysis flags (see live_tcp.rs): "ACKed unseen segment" and "previous
/// segment not captured" would mean inconsistent sequence numbers.
const TCP_ERRORS: &str = "tcp.analysis.ack_lost_segment || tcp.analysis.lost_segment";

#[track_caller]
fn expect(stdout: &str, line: &str) {
    assert!(
        stdout.lines().any(|l| l.trim() == line),
        "missing {line:?} in:\n{stdout}"
    );
}

#[track_caller]
fn contains(stdout: &str, text: &str) {
    assert!(stdout.contains(text), "missing {text:?} in:\n{stdout}");
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The capture decodes cleanly (checksums of both families validated) and holds only IPv6
/// besides the readiness ping and its reply.
#[track_caller]
fn assert_clean_ipv6_capture(pcap: &Path, min_packets: usize) -> usize {
    let packets = live::assert_clean_capture(pcap, min_packets);
    let (v4, v6) = live::families(pcap);
    assert_eq!(v4, 2, "IPv4 packets besides the readiness ping");
    assert_eq!(v6, packets - 2, "every other packet is IPv6");
    packets
}

/// ping -6 at 56 bytes; at 1452 (the largest unfragmented at MTU 1500: 1500 − 40 IPv6 − 8
/// ICMPv6; 1453 with fragmentation forbidden fails locally); at 4000 (fragmented both ways:
/// 3 fragments each, reassembled by us and by the kernel); and a 1000-ping burst at 2 ms.
/// Every reply comes back intact, the summary counts the fragments, and the capture is clean.
#[test]
fn live_ipv6_ping_sizes_and_burst() {
    if !live::can_run("live_ipv6_ping_sizes_and_burst", &["tshark"]) {
        return;
    }
    let pcap = live::artefact("ipv6-ping.pcap");
    // `ping` checks each reply's identifier, sequence number and payload and reports "wrong
    // data byte" or "DUP!" otherwise; `-W 1` bounds every wait.
    let script = r#"
        set -e
        ping -6 -c 20 -i 0.05 -W 1 2001:2::2
        ping -6 -c 5 -i 0.1 -W 1 -s 1452 -M do 2001:2::2
        if ping -6 -c 1 -W 1 -s 1453 -M do 2001:2::2 2>&1; then
            echo "1453 went unfragmented"
        else
            echo "1453 refused unfragmented"
        fi
        ping -6 -c 5 -i 0.1 -W 1 -s 4000 2001:2::2
        ping -6 -c 1000 -i 0.002 -W 1 -q 2001:2::2
    "#;
    let s = live::session("v6ping", &format!("--pcap {}", p(&pcap)), script);
    s.assert_ok();
    contains(
        &s.stdout,
        "20 packets transmitted, 20 received, 0% packet loss",
    );
    contains(
        &s.stdout,
        "1000 packets transmitted, 1000 received, 0% packet loss",
    );
    assert_eq!(
        s.stdout
            .matches("5 packets transmitted, 5 received, 0% packet loss")
            .count(),
        2,
        "{}",
        s.stdout
    );
    contains(&s.stdout, "64 bytes from 2001:2::2");
    contains(&s.stdout, "1460 bytes from 2001:2::2");
    contains(&s.stdout, "4008 bytes from 2001:2::2");
    expect(&s.stdout, "1453 refused unfragmented");
    contains(&s.stdout, "message too long, mtu: 1500");
    assert!(!s.stdout.contains("wrong data byte") && !s.stdout.contains("DUP!"));
    // The readiness probe (IPv4) and 1030 pings answered; 20 + 5 + 5 × 3 + 1000 IPv6 packets
    // in; each 4000-byte ping is 3 fragments each way.
    contains(&s.stdout, "echo requests 1031, echo replies 1031");
    contains(
        &s.stdout,
        "ipv6: packets in 1040, fragments in 15, reassembled 5, fragments out 15, \
         parameter problems sent 0, time exceeded sent 0",
    );
    contains(&s.stdout, "drops: 0 total");
    s.assert_all_ipv6_but_the_probe();

    let packets = assert_clean_ipv6_capture(&pcap, 2 + 2 * 1030);
    assert_eq!(
        packets,
        2 + 2 * 1030 + 4 * 5,
        "every packet in and out is in the capture (the 1453-byte ping never left)"
    );
    // Wireshark reassembles our fragments into the 4008-byte echo replies...
    let big = live::tshark_matching(
        &pcap,
        "ipv6.src == 2001:2::2 && icmpv6.type == 129 && ipv6.reassembled.length == 4008",
    );
    assert_eq!(big.len(), 5, "{}", big.join("\n"));
    // ...from 15 fragments of at most the MTU, and we never send more than the MTU.
    let ours = live::tshark_matching(&pcap, "ipv6.src == 2001:2::2 && ipv6.fraghdr");
    assert_eq!(ours.len(), 15, "{}", ours.join("\n"));
    let oversized = live::tshark_matching(&pcap, "frame.len > 1500");
    assert!(oversized.is_empty(), "{}", oversized.join("\n"));
    // The 1452-byte replies went whole: exactly 1500 octets, no Fragment header.
    let full = live::tshark_matching(
        &pcap,
        "ipv6.src == 2001:2::2 && icmpv6.type == 129 && frame.len == 1500 && !ipv6.fraghdr",
    );
    assert_eq!(full.len(), 5, "{}", full.join("\n"));
}

/// curl -6 over HTTP: 200 with the right body; two URLs in one command reuse one connection
/// ("Re-using existing connection", one SYN fewer than requests); If-None-Match with the
/// ETag → 304 and no body; `-r 0-99` → 206 with the right 100 bytes. Over HTTPS with the
/// daemon's certificate (its SANs name 2001:2::2, which curl verifies): TLS 1.3 and TLS 1.2
/// (`--tls-max 1.2`), both 200 with the right body. The capture is clean and all IPv6.
#[test]
fn live_ipv6_curl_http_and_https() {
    if !live::can_run(
        "live_ipv6_curl_http_and_https",
        &["curl", "tshark", "cmp", "openssl"],
    ) {
        return;
    }
    let www = live::site("www-v6", 100_000);
    let out = live::artefact("v6-http-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let pcap = live::artefact("ipv6-http.pcap");
    let cert = live::artefact("ipv6-cert.pem");
    let script = format!(
        r#"
        set -e
        cd {out}
        openssl x509 -in {cert} -noout -ext subjectAltName | tr ',' '\n' | sed 's/^ *//' | grep '^IP Address' | sed 's/^/san /'
        curl -6 -g -sS -v -o index.out http://[2001:2::2]/ 2> v.txt
        grep -q '< HTTP/1.1 200 OK' v.txt && echo "index 200"
        grep -q 'Connected to 2001:2::2 (2001:2::2) port 80' v.txt && echo "index over ipv6"
        cmp -s index.out {www}/index.html && echo "index body"
        curl -6 -g -sS -v -o a.out -o b.out http://[2001:2::2]/a.txt http://[2001:2::2]/b.txt 2> reuse.txt
        echo "reused $(grep -c 'Re-using existing connection' reuse.txt)"
        cmp -s a.out {www}/a.txt && cmp -s b.out {www}/b.txt && echo "reuse bodies"
        etag=$(curl -6 -g -sSI http://[2001:2::2]/a.txt | tr -d '\r' | grep -i '^etag:' | cut -d' ' -f2-)
        echo "etag $(echo "$etag" | grep -c '^".*"$')"
        curl -6 -g -sS -o inm.out -w 'inm %{{http_code}} %{{size_download}}\n' -H "If-None-Match: $etag" http://[2001:2::2]/a.txt
        curl -6 -g -sS -r 0-99 -o range.out -w 'range %{{http_code}} %{{size_download}}\n' http://[2001:2::2]/big.bin
        head -c 100 {www}/big.bin | cmp -s - range.out && echo "range body"
        curl -6 -g -sS -v --cacert {cert} --tlsv1.3 -o tls13.out -w 'tls13 %{{http_code}} verify %{{ssl_verify_result}}\n' https://[2001:2::2]/big.bin 2> tls13.txt
        grep -q 'SSL connection using TLSv1.3' tls13.txt && echo "tls13 negotiated"
        grep -q 'subjectAltName: host "2001:2::2" matched' tls13.txt && echo "tls13 san matched"
        cmp -s tls13.out {www}/big.bin && echo "tls13 body"
        curl -6 -g -sS -v --cacert {cert} --tlsv1.2 --tls-max 1.2 -o tls12.out -w 'tls12 %{{http_code}} verify %{{ssl_verify_result}}\n' https://[2001:2::2]/a.txt 2> tls12.txt
        grep -q 'SSL connection using TLSv1.2' tls12.txt && echo "tls12 negotiated"
        cmp -s tls12.out {www}/a.txt && echo "tls12 body"
        "#,
        out = p(&out),
        www = p(&www),
        cert = p(&cert),
    );
    let daemon = format!(
        "--www {} --services http,https --tls-cert-out {} --pcap {}",
        p(&www),
        p(&cert),
        p(&pcap)
    );
    let s = live::session("v6http", &daemon, &script);
    s.assert_ok();
    for line in [
        "san IP Address:198.18.0.2",
        "san IP Address:2001:2:0:0:0:0:0:2",
        "index 200",
        "index over ipv6",
        "index body",
        "reused 1",
        "reuse bodies",
        "etag 1",
        "inm 304 0",
        "range 206 100",
        "range body",
        "tls13 200 verify 0",
        "tls13 negotiated",
        "tls13 san matched",
        "tls13 body",
        "tls12 200 verify 0",
        "tls12 negotiated",
        "tls12 body",
    ] {
        expect(&s.stdout, line);
    }
    s.assert_all_ipv6_but_the_probe();
    assert_clean_ipv6_capture(&pcap, 50);
    let requests = live::tshark_matching(&pcap, "http.request");
    let responses = live::tshark_matching(&pcap, "http.response");
    assert_eq!(requests.len(), 6, "{}", requests.join("\n"));
    assert_eq!(responses.len(), requests.len(), "{}", responses.join("\n"));
    let syns = live::tshark_matching(
        &pcap,
        "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 80",
    );
    assert_eq!(syns.len(), 5, "one of 6 requests reused a connection");
    let handshakes = live::tshark_matching(&pcap, "tls.handshake.type == 2");
    assert_eq!(handshakes.len(), 2, "two TLS ServerHellos from us");
}

/// The kernel's TCP over IPv6 against ours: echo (1 MiB, byte-exact), chargen (2 MB, the RFC
/// 864 pattern), 200 concurrent echo connections, and 1 GiB into discard (every byte counted).
/// Both sides offer an MSS of 1440 (1500 − 40 − 20); captures decode cleanly and tshark's TCP
/// analysis finds nothing wrong with the single transfers.
#[test]
fn live_ipv6_tcp_services_byte_exact() {
    if !live::can_run("live_ipv6_tcp_services_byte_exact", &["python3", "tshark"]) {
        return;
    }
    let pcap = live::artefact("ipv6-tcp.pcap");
    let script = r#"
        set -e
        python3 scripts/tcpcheck.py echo --host 2001:2::2 --bytes 1048576
        python3 scripts/tcpcheck.py chargen --host 2001:2::2 --bytes 2000000
    "#;
    let s = live::session("v6tcp", &format!("--pcap {}", p(&pcap)), script);
    s.assert_ok();
    expect(&s.stdout, "chargen ok 2000000 bytes");
    contains(&s.stdout, "echo ok 1048576 bytes");
    contains(&s.stdout, "echo (port 7): 1 connections, 1048576 bytes");
    contains(&s.stdout, "passive opens 2");
    s.assert_all_ipv6_but_the_probe();
    // Far fewer than 1,000 packets where the kernel takes our super-segments (TSO, the
    // default where it is accepted): the capture shows what crossed the device.
    assert_clean_ipv6_capture(&pcap, 150);
    let suspicious = live::tshark_matching(&pcap, TCP_ERRORS);
    assert!(suspicious.is_empty(), "{}", suspicious.join("\n"));
    // Two connections: each side's SYN (or SYN-ACK) offers 1440, and no SYN offers other.
    for side in ["2001:2::1", "2001:2::2"] {
        let syns = live::tshark_matching(
            &pcap,
            &format!("ipv6.src == {side} && tcp.flags.syn == 1 && tcp.options.mss_val == 1440"),
        );
        assert!(syns.len() >= 2, "{side}'s SYNs with MSS 1440");
    }
    let other = live::tshark_matching(&pcap, "tcp.flags.syn == 1 && tcp.options.mss_val != 1440");
    assert!(other.is_empty(), "{}", other.join("\n"));
    // Only TCP super-segments exceed the MTU: with offload on (--offload auto) the kernel
    // hands us some of up to 64 KB, and where it takes GSO writes we hand it ours (TSO),
    // recorded as they crossed the device; nothing else of ours is larger.
    let oversized = live::tshark_matching(
        &pcap,
        "ipv6.src == 2001:2::2 && frame.len > 1500 && !(tcp.len > 1440)",
    );
    assert!(oversized.is_empty(), "{}", oversized.join("\n"));

    // 200 concurrent connections: their first flights can overflow the device queue (see
    // live_tcp.rs), so well-formed packets only, no TCP analysis.
    let pcap = live::artefact("ipv6-tcp-many.pcap");
    let script = "python3 scripts/tcpcheck.py echo-many --host 2001:2::2 --conns 200 --bytes 10000";
    let s = live::session("v6many", &format!("--pcap {}", p(&pcap)), script);
    s.assert_ok();
    contains(&s.stdout, "echo-many ok 200 connections");
    contains(&s.stdout, "echo (port 7): 200 connections, 2000000 bytes");
    contains(&s.stdout, "passive opens 200");
    s.assert_all_ipv6_but_the_probe();
    assert_clean_ipv6_capture(&pcap, 1000);

    // 1 GiB into discard, without a capture, on plain packets (the packet count below is
    // per segment; with offload the kernel sends super-segments: see live_offload.rs).
    let s = live::session(
        "v6discard",
        "--offload off",
        "python3 scripts/tcpcheck.py discard --host 2001:2::2 --bytes 1073741824",
    );
    s.assert_ok();
    contains(&s.stdout, "discard ok 1073741824 bytes");
    contains(
        &s.stdout,
        "discard (port 9): 1 connections, 1073741824 bytes",
    );
    s.assert_all_ipv6_but_the_probe();
    // At most 1440 bytes a segment: at least 745,654 IPv6 packets carried the GiB.
    let packets = s.summary("ipv6:", "packets in");
    assert!(packets >= (1 << 30) / 1440, "{packets} IPv6 packets");
}

/// 5% random loss each way (ip6tables statistic on tun0, INPUT and OUTPUT, in the namespace):
/// echo (1 MiB), 200 concurrent echo connections, chargen (2 MB) and discard (1 GiB) still
/// arrive byte-exact, the rules did drop packets both ways, and retransmissions repaired it.
#[test]
fn live_ipv6_tcp_survives_five_percent_loss() {
    if !live::can_run(
        "live_ipv6_tcp_survives_five_percent_loss",
        &["python3", "ip6tables"],
    ) {
        return;
    }
    let script = r#"
        set -e
        ip6tables -A INPUT -i tun0 -m statistic --mode random --probability 0.05 -j DROP
        ip6tables -A OUTPUT -o tun0 -m statistic --mode random --probability 0.05 -j DROP
        python3 scripts/tcpcheck.py echo --host 2001:2::2 --bytes 1048576 --timeout 300
        python3 scripts/tcpcheck.py echo-many --host 2001:2::2 --conns 200 --bytes 10000 --timeout 300
        python3 scripts/tcpcheck.py chargen --host 2001:2::2 --bytes 2000000 --timeout 300
        python3 scripts/tcpcheck.py discard --host 2001:2::2 --bytes 1073741824 --timeout 300
        for chain in INPUT OUTPUT; do
            echo "$chain dropped $(ip6tables -L $chain -v -n -x | awk '/statistic/ {print $1}')"
        done
    "#;
    let s = live::session("v6loss", "", script);
    s.assert_ok();
    for line in [
        "echo ok 1048576 bytes",
        "echo-many ok 200 connections",
        "chargen ok 2000000 bytes",
        "discard ok 1073741824 bytes",
    ] {
        contains(&s.stdout, line);
    }
    contains(
        &s.stdout,
        "discard (port 9): 1 connections, 1073741824 bytes",
    );
    for chain in ["INPUT", "OUTPUT"] {
        let dropped: u64 = s
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{chain} dropped ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {chain} count:\n{}", s.stdout));
        assert!(dropped > 100, "{chain}: ip6tables dropped {dropped}");
    }
    assert!(
        s.summary("tcp:", "retransmits") > 0,
        "loss was repaired by retransmission:\n{}",
        s.stdout
    );
    s.assert_all_ipv6_but_the_probe();
}
