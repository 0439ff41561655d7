//! Live receive offload (issue 13): the daemon opens its device with `IFF_VNET_HDR` and
//! `TUNSETOFFLOAD`, so the kernel's TCP hands it super-segments of up to 64 KB with partial
//! checksums. Byte-exact bulk transfers through discard and echo over IPv4 and IPv6 (checked
//! by scripts/bulk_client.py at every read), a capture tshark reads cleanly with the
//! super-segments in it, and `--offload off` staying on plain packets.

mod live;

/// tshark's TCP analysis: sequence numbers inconsistent with what was captured.
const TCP_ERRORS: &str = "tcp.analysis.ack_lost_segment || tcp.analysis.lost_segment";

/// (rx packets, rx bytes) from the daemon's summary line `packets: rx N (B bytes), ...`.
fn rx(s: &live::Session) -> (u64, u64) {
    let packets = s.summary("packets:", "rx");
    let bytes = s
        .stdout
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("packets: rx ")?;
            let open = rest.find('(')? + 1;
            rest[open..].split(' ').next()?.parse().ok()
        })
        .expect("rx bytes in the summary");
    (packets, bytes)
}

fn log_says(s: &live::Session, text: &str) -> bool {
    s.stdout.contains(text) || s.stderr.contains(text)
}

#[test]
fn live_offload_one_gib_byte_exact_through_discard_and_echo() {
    if !live::can_run("live_offload_one_gib_byte_exact", &["python3"]) {
        return;
    }
    let script = r#"
        set -e
        python3 scripts/bulk_client.py send 198.18.0.2 9 1073741824 --timeout 120
        python3 scripts/bulk_client.py echo 198.18.0.2 7 1073741824 --timeout 120
        python3 scripts/bulk_client.py send 2001:2::2 9 1073741824 --timeout 120
        python3 scripts/bulk_client.py recv 198.18.0.2 19 100000000 --timeout 120
    "#;
    let s = live::session("offload-bulk", "--offload on", script);
    s.assert_ok();
    assert!(
        log_says(&s, "offload on (IFF_VNET_HDR"),
        "no startup line saying offload is on:\n{}\n{}",
        s.stdout,
        s.stderr
    );
    assert_eq!(
        s.stdout.matches("gbps ").count(),
        4,
        "every transfer completed and checked:\n{}",
        s.stdout
    );
    for line in [
        "discard (port 9): 2 connections, 2147483648 bytes",
        "echo (port 7): 1 connections, 1073741824 bytes",
    ] {
        assert!(s.stdout.contains(line), "missing {line:?}:\n{}", s.stdout);
    }
    // Super-segments really came in: the kernel's 3 GiB of data arrived in far fewer
    // packets than 1500-octet ones would take (2.2 million), on average several segments
    // per packet.
    let (packets, bytes) = rx(&s);
    assert!(
        bytes / packets > 4 * 1500,
        "{bytes} bytes in {packets} packets: no super-segments?\n{}",
        s.stdout
    );
    assert!(
        !s.stdout.contains("dropped virtio"),
        "virtio headers dropped:\n{}",
        s.stdout
    );
    // The only drops: the kernel's RSTs to chargen's segments in flight when the client
    // closed after its 100 MB (the connection is gone by then).
    let drops: u64 = s
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("drops: ")?.split(' ').next()?.parse().ok())
        .expect("a drops line");
    assert_eq!(drops, s.drop_count("tcp-no-connection"), "{}", s.stdout);
}

#[test]
fn live_offload_capture_shows_super_segments_and_decodes_cleanly() {
    if !live::can_run("live_offload_capture", &["python3", "tshark"]) {
        return;
    }
    let pcap = live::artefact("offload.pcap");
    let script = r#"
        set -e
        python3 scripts/tcpcheck.py echo --bytes 4194304
        python3 scripts/tcpcheck.py discard --bytes 20000000
        python3 scripts/tcpcheck.py chargen --bytes 2000000
    "#;
    let s = live::session(
        "offload-pcap",
        &format!("--offload on --pcap {}", pcap.display()),
        script,
    );
    s.assert_ok();
    // Partial checksums are completed in the capture: every checksum verifies.
    live::assert_clean_capture(&pcap, 1000);
    let suspicious = live::tshark_matching(&pcap, TCP_ERRORS);
    assert!(
        suspicious.is_empty(),
        "tshark TCP analysis:\n{}",
        suspicious.join("\n")
    );
    // A super-segment is one large TCP packet from the kernel, as tcpdump shows GRO.
    let large = live::tshark_matching(&pcap, "ip.src == 198.18.0.1 && tcp && frame.len > 1500");
    assert!(!large.is_empty(), "no super-segment in the capture");
}

#[test]
fn live_offload_off_keeps_plain_packets() {
    if !live::can_run("live_offload_off", &["python3"]) {
        return;
    }
    let script = "python3 scripts/bulk_client.py send 198.18.0.2 9 100000000 --timeout 60";
    let s = live::session("offload-off", "--offload off", script);
    s.assert_ok();
    assert!(log_says(&s, "offload off (--offload off)"), "{}", s.stderr);
    assert!(
        s.stdout
            .contains("discard (port 9): 1 connections, 100000000 bytes"),
        "{}",
        s.stdout
    );
    let (packets, bytes) = rx(&s);
    assert!(
        bytes / packets <= 1500,
        "{bytes} bytes in {packets} packets"
    );
}
