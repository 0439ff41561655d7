//! HTTPS end to end in the simulator: rustls (sans-IO) over our TCP on both sides, the
//! client trusting exactly the server's generated self-signed certificate (IP SAN
//! 198.18.0.2). TLS 1.3 and 1.2, ALPN http/1.1, keep-alive, loss, bad handshakes, key log.

mod http_common;

use http_common::*;
use std::sync::Arc;
use tunstack::app::http::{HttpConfig, tls};
use tunstack::time::Duration;

fn https(www: Option<std::path::PathBuf>, server: tls::TlsSetup) -> HttpConfig {
    HttpConfig {
        port: 443,
        tls: Some(server),
        ..config(www)
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n")
}

#[track_caller]
fn versions_and_alpn(
    sim: &Sim,
    h: tunstack::stack::SocketHandle,
) -> (rustls::ProtocolVersion, Vec<u8>) {
    let t = sim.peer(h).tls.as_ref().unwrap();
    (
        t.protocol_version().unwrap(),
        t.alpn_protocol().unwrap().to_vec(),
    )
}

#[test]
fn https_tls13_keep_alive_and_a_large_file() {
    let dir = www("tls13");
    let data = pattern(3 << 20);
    std::fs::write(dir.join("f.bin"), &data).unwrap();
    let (server, client) = tls_pair(&[&rustls::version::TLS13], None);
    let mut sim = Sim::new(https(Some(dir), server));
    let h = sim.open(443, Some(client));
    let r = sim.exchange(h, &get("/"));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("f.bin"));
    assert_eq!(
        versions_and_alpn(&sim, h),
        (rustls::ProtocolVersion::TLSv1_3, b"http/1.1".to_vec())
    );
    let r = sim.exchange(h, &get("/f.bin"));
    assert!(r.status == 200 && r.body == data, "3 MiB over TLS");
    let r = sim.exchange(
        h,
        "GET /f.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-99\r\n\r\n",
    );
    assert_eq!((r.status, r.body.as_slice()), (206, &data[..100]));
    // Connection: close ends with close_notify, then FIN.
    let r = sim.exchange(h, "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("connection"), Some("close"));
    assert!(sim.wait_eof(h, Duration::from_secs(1)));
    assert!(sim.peer(h).tls_error.is_none());
    assert_eq!(sim.server.stack.tcp().counters().passive_opens, 1);
}

/// Thirty pipelined requests in one write over TLS: answered in order, byte-exact, while
/// back-pressure holds the later ones inside rustls and TCP.
#[test]
fn https_pipelined_requests_in_order() {
    let dir = www("tls-pipeline");
    for i in 0..3 {
        std::fs::write(dir.join(format!("{i}.bin")), pattern(200_000 + i)).unwrap();
    }
    let (server, client) = tls_pair(&[&rustls::version::TLS13], None);
    let mut sim = Sim::new(https(Some(dir), server));
    let h = sim.open(443, Some(client));
    let all: String = (0..30).map(|i| get(&format!("/{}.bin", i % 3))).collect();
    sim.write(h, all.as_bytes());
    for i in 0..30 {
        let r = sim.response(h, false);
        assert_eq!(r.status, 200);
        assert!(r.body == pattern(200_000 + i % 3), "response {i}");
    }
}

#[test]
fn https_tls12() {
    let (server, client) = tls_pair(&[&rustls::version::TLS12], None);
    let mut sim = Sim::new(https(None, server));
    let h = sim.open(443, Some(client));
    let r = sim.exchange(h, &get("/"));
    assert_eq!(r.status, 200);
    assert!(String::from_utf8_lossy(&r.body).contains("tunstack"));
    assert_eq!(
        versions_and_alpn(&sim, h).0,
        rustls::ProtocolVersion::TLSv1_2
    );
    assert_eq!(sim.exchange(h, &get("/")).status, 200);
}

/// 3% loss each way: the handshake and a 1 MiB download still complete, byte-exact.
#[test]
fn https_through_loss() {
    let dir = www("tls-loss");
    let data = pattern(1 << 20);
    std::fs::write(dir.join("f.bin"), &data).unwrap();
    for (seed, version) in [(3, &rustls::version::TLS13), (4, &rustls::version::TLS12)] {
        let (server, client) = tls_pair(&[version], None);
        let mut sim = Sim::with_faults(https(Some(dir.clone()), server), Some((0.03, seed)));
        let h = sim.open(443, Some(client));
        for _ in 0..2 {
            let r = sim.exchange(h, &get("/f.bin"));
            assert!(r.status == 200 && r.body == data);
        }
    }
}

/// Garbage, plain HTTP and a TLS client that does not trust the certificate each end only
/// their own connection (with an alert or a close); a good client is served afterwards.
#[test]
fn bad_handshakes_end_only_their_connection() {
    let (server, client) = tls_pair(&[&rustls::version::TLS13], None);
    let mut sim = Sim::new(https(None, server));
    let good = sim.open(443, Some(client.clone()));
    assert_eq!(sim.exchange(good, &get("/")).status, 200);

    for junk in [
        &b"GET / HTTP/1.1\r\nHost: 198.18.0.2\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00][..],
        &[0xff; 600][..],
    ] {
        let h = sim.open(443, None);
        sim.write(h, junk);
        assert!(sim.wait_eof(h, Duration::from_secs(30)), "closed");
        let inbox = &sim.peer(h).inbox;
        // Whatever came back is a TLS alert record, never HTTP.
        assert!(
            inbox.is_empty() || inbox[0] == 0x15,
            "{:?}",
            String::from_utf8_lossy(inbox)
        );
    }

    // A client trusting another certificate aborts the handshake itself.
    let (_, stranger) = tls_pair(&[&rustls::version::TLS13], None);
    let h = sim.open(443, Some(stranger));
    sim.write(h, get("/").as_bytes());
    sim.advance(Duration::from_secs(1));
    assert!(sim.peer(h).tls_error.is_some());

    // The first connection is unaffected, and new ones still work.
    assert_eq!(sim.exchange(good, &get("/")).status, 200);
    let h = sim.open(443, Some(client));
    assert_eq!(sim.exchange(h, &get("/")).status, 200);
    // Last (it idles everyone): a client that connects and says nothing is closed at the idle timeout.
    let silent = sim.open(443, None);
    sim.advance(Duration::from_secs(5));
    assert!(!sim.peer(silent).eof);
    assert!(sim.wait_eof(silent, Duration::from_secs(15)));

    // Three junk openings, and the stranger's bad_certificate alert.
    assert!(
        sim.summary().contains("4 failed handshakes"),
        "{}",
        sim.summary()
    );
}

/// The key log has the NSS lines Wireshark needs for TLS 1.3 and for TLS 1.2.
#[test]
fn key_log_in_sslkeylogfile_format() {
    let dir = www("keylog");
    let path = dir.join("keys.log");
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let keylog: Arc<dyn rustls::KeyLog> = Arc::new(tls::KeyLogFile::open(&path).unwrap());
        let (server, client) = tls_pair(&[version], Some(keylog));
        let mut sim = Sim::new(https(None, server));
        let h = sim.open(443, Some(client));
        assert_eq!(sim.exchange(h, &get("/")).status, 200);
    }
    let log = std::fs::read_to_string(&path).unwrap();
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "CLIENT_RANDOM",
    ] {
        assert!(
            log.lines().any(|l| l.starts_with(&format!("{label} "))),
            "{label} missing:\n{log}"
        );
    }
    for line in log.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert_eq!(parts[1].len(), 64, "client random is 32 bytes: {line}");
        assert!(parts[2].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
