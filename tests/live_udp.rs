//! Live: the daemon's UDP services from the kernel side (python sockets), over IPv4 and
//! IPv6: echo (RFC 862), discard (RFC 863), qotd (RFC 865) and chargen (RFC 864) as their
//! RFCs describe for UDP, a 4000-octet echo fragmented both ways, ICMP port unreachable for
//! a closed port seen by the kernel as ECONNREFUSED, and no answer to a service port.

mod live;

const CLIENT: &str = r#"
import socket, sys
def sock(fam, bind_port=0):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("198.18.0.1" if fam == socket.AF_INET else "2001:2::1", bind_port))
    s.settimeout(2)
    return s
for fam, us in ((socket.AF_INET, "198.18.0.2"), (socket.AF_INET6, "2001:2::2")):
    tag = "v4" if fam == socket.AF_INET else "v6"
    s = sock(fam)
    s.sendto(b"hello over udp", (us, 7))
    d, a = s.recvfrom(65535)
    assert d == b"hello over udp" and a[1] == 7, (d, a)
    big = bytes(i % 251 for i in range(4000))
    s.sendto(big, (us, 7))
    d, a = s.recvfrom(65535)
    assert d == big, len(d)
    print(tag, "echo ok, 4000 octets fragmented ok")
    s.sendto(b"into the void", (us, 9))
    s.settimeout(0.3)
    try:
        d = s.recvfrom(65535)
        sys.exit("discard answered: %r" % (d,))
    except socket.timeout:
        print(tag, "discard ok")
    s.settimeout(2)
    s.sendto(b"", (us, 17))
    d, a = s.recvfrom(65535)
    assert b"RFC 9293" in d and len(d) < 512, d
    print(tag, "qotd ok:", d.decode().strip())
    lens = []
    for _ in range(20):
        s.sendto(b"x", (us, 19))
        d, a = s.recvfrom(65535)
        assert len(d) <= 512 and all(32 <= b < 127 or b in (13, 10) for b in d), d
        lens.append(len(d))
    assert len(set(lens)) > 1, lens
    print(tag, "chargen ok, lengths", min(lens), "to", max(lens))
    c = sock(fam)
    c.connect((us, 5999))
    c.send(b"anyone?")
    try:
        c.recv(100)
        sys.exit("closed port answered")
    except ConnectionRefusedError:
        print(tag, "closed port refused ok")
    loop = sock(fam, 19)
    loop.settimeout(0.3)
    loop.sendto(b"from chargen's port", (us, 7))
    try:
        loop.recvfrom(100)
        sys.exit("echo answered port 19")
    except socket.timeout:
        print(tag, "no answer to a service port ok")
"#;

#[test]
fn live_udp_services_over_both_families() {
    if !live::can_run("live_udp_services_over_both_families", &["python3"]) {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_tunstack");
    let script = format!(
        "python3 -c '{}' && {bin} ss | grep UDP- | sed 's/^/ss: /'",
        CLIENT.replace('\'', "'\\''")
    );
    let s = live::session("udp", "", &script);
    s.assert_ok();
    for tag in ["v4", "v6"] {
        for what in [
            "echo ok, 4000 octets fragmented ok",
            "discard ok",
            "qotd ok",
            "chargen ok",
            "closed port refused ok",
            "no answer to a service port ok",
        ] {
            assert!(
                s.stdout.contains(&format!("{tag} {what}")),
                "{tag} {what}\n{}",
                s.stdout
            );
        }
    }
    // `tunstack ss` lists the services' UDP sockets, one line per address.
    assert!(
        s.stdout.contains("ss: UDP-UNCONN") && s.stdout.contains("[2001:2::2]:19"),
        "{}",
        s.stdout
    );
    assert_eq!(
        s.stdout.matches("ss: UDP-UNCONN").count(),
        8,
        "{}",
        s.stdout
    );
    // The daemon's summary counts them: echo 2 x (2 answered + 1 from port 19).
    assert!(
        s.stdout.contains("UDP 6 datagrams in, 4 answered"),
        "{}",
        s.stdout
    );
    // Per family: echo 3, discard 1, qotd 1, chargen 20 (the closed port's is no socket's).
    assert_eq!(s.summary("udp:", "datagrams in"), 50, "{}", s.stdout);
    assert!(s.summary("ipv4:", "fragments out") >= 3, "{}", s.stdout);
    assert!(s.summary("ipv6:", "fragments out") >= 3, "{}", s.stdout);
}
