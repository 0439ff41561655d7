//! The TLS + HTTP server in memory (rustls over our TCP, in the simulator). Either raw
//! bytes (records, handshakes, garbage) straight onto the TCP connection to port 443, or a
//! real TLS 1.2/1.3 client whose plaintext requests are arbitrary. No panic, the run stays
//! bounded, and a TLS client that handshook gets only HTTP back.
#![no_main]

#[path = "../../tests/http_common/mod.rs"]
#[allow(dead_code, unused_imports, unreachable_pub)]
mod http_common;

use arbitrary::Arbitrary;
use http_common::*;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};
use tunstack::app::http::{HttpConfig, tls};
use tunstack::time::Duration;

#[derive(Arbitrary, Debug)]
struct Input {
    /// 0, 1: raw bytes; 2: a TLS 1.3 client; 3: a TLS 1.2 client.
    mode: u8,
    pieces: Vec<(Vec<u8>, u16)>,
}

struct Setup {
    server: tls::TlsSetup,
    tls13: Arc<rustls::ClientConfig>,
    tls12: Arc<rustls::ClientConfig>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let (identity, _pem) = tls::self_signed(&[SERVER.into()]).unwrap();
        let cert = identity.chain[0].clone();
        let server = tls::server_config(identity, None).unwrap();
        Setup {
            server,
            tls13: client(&cert, &rustls::version::TLS13),
            tls12: client(&cert, &rustls::version::TLS12),
        }
    })
}

/// A client that trusts exactly `cert`, speaking `version`.
fn client(
    cert: &rustls::pki_types::CertificateDer<'static>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[version])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(client)
}

fuzz_target!(|input: Input| {
    let s = setup();
    let mut sim = Sim::new(HttpConfig {
        port: 443,
        tls: Some(s.server.clone()),
        ..config(None)
    });
    let client = match input.mode % 4 {
        2 => Some(s.tls13.clone()),
        3 => Some(s.tls12.clone()),
        _ => None,
    };
    let tls = client.is_some();
    let h = sim.open(443, client);
    for (data, wait) in input.pieces.iter().take(16) {
        sim.write(h, &data[..data.len().min(8192)]);
        sim.advance(Duration::from_millis(u64::from(wait % 1100) * 64));
    }
    sim.run_until(Duration::from_secs(30), |s| {
        s.peer(h).eof || s.peer(h).closed.is_some()
    });
    if tls && !sim.peer(h).inbox.is_empty() {
        let inbox = &sim.peer(h).inbox;
        assert!(
            inbox.starts_with(b"HTTP/1."),
            "not HTTP over TLS: {:?}",
            String::from_utf8_lossy(inbox)
        );
    }
});
