//! TLS for the HTTPS server: a rustls `ServerConfig` (ring provider, TLS 1.3 and 1.2, ALPN
//! http/1.1) from PEM files or from a self-signed certificate made with rcgen for the
//! stack's address, and an SSLKEYLOGFILE writer so Wireshark can decrypt a capture.
//!
//! rustls runs sans-IO over our TCP byte stream (`read_tls`/`write_tls` on buffers, in
//! `mod.rs`); nothing here touches a socket. These functions are called by the daemon at
//! start (they read and write files); the app only receives the finished config.

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Startup errors, each one sentence saying what to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file could not be read, was not PEM, or held no certificate.
    #[error("cannot read the certificate {path}: {reason} (pass a PEM file with --tls-cert)")]
    Cert {
        /// The `--tls-cert` file.
        path: PathBuf,
        /// What went wrong, from the PEM reader.
        reason: String,
    },
    /// The key file could not be read or held no PKCS#8, PKCS#1 or SEC1 key.
    #[error("cannot read the private key {path}: {reason} (pass a PEM file with --tls-key)")]
    Key {
        /// The `--tls-key` file.
        path: PathBuf,
        /// What went wrong, from the PEM reader.
        reason: String,
    },
    /// rustls refused the configuration (e.g. a key that does not match the certificate).
    #[error("the certificate and key do not work together: {0}")]
    Config(String),
    /// rcgen could not make the self-signed certificate; rcgen's error.
    #[error("generating a self-signed certificate failed: {0}")]
    Generate(String),
    /// The generated certificate could not be written for clients.
    #[error("cannot write the certificate to {path}: {reason} (choose another --tls-cert-out)")]
    WriteCert {
        /// The `--tls-cert-out` file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The `--tls-keylog` file could not be opened for appending.
    #[error("cannot open the key log {path}: {reason}")]
    KeyLog {
        /// The key log file.
        path: PathBuf,
        /// The I/O error.
        reason: String,
    },
}

/// A certificate chain and its key.
pub struct Identity {
    /// The certificates, the server's own first (DER).
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate (DER).
    pub(crate) key: PrivateKeyDer<'static>,
}

/// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_identity(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block in it".to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(Identity { chain, key })
}

/// A self-signed certificate whose subject alternative names are `addrs` (IP SANs, both
/// families) and `localhost`, so `curl --cacert FILE https://ADDR/` (or `https://[ADDR6]/`)
/// verifies. The first address names the subject. Returns the identity and the certificate
/// in PEM.
pub fn self_signed(addrs: &[IpAddr]) -> Result<(Identity, String), TlsError> {
    let addr = addrs
        .first()
        .map_or_else(|| "localhost".to_string(), ToString::to_string);
    let mut names: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    names.push("localhost".to_string());
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("tunstack {addr}"));
    let key = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let pem = cert.pem();
    let key = PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((
        Identity {
            chain: vec![cert.der().clone()],
            key,
        },
        pem,
    ))
}

/// Writes a PEM certificate for clients to trust (`curl --cacert`).
pub fn write_cert(path: &Path, pem: &str) -> Result<(), TlsError> {
    std::fs::write(path, pem).map_err(|e| TlsError::WriteCert {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// rustls' wall clock (session ticket ages), fed by the loop: the server sets it from the
/// loop's `now` whenever it runs, so the library still never reads a clock itself.
#[derive(Debug, Default)]
pub(crate) struct LoopClock(AtomicU64);

impl LoopClock {
    /// Sets the clock to `unix_us`, Unix time in µs.
    pub(crate) fn set(&self, unix_us: u64) {
        self.0.store(unix_us, Ordering::Relaxed);
    }
}

impl rustls::time_provider::TimeProvider for LoopClock {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        let us = self.0.load(Ordering::Relaxed);
        Some(rustls::pki_types::UnixTime::since_unix_epoch(
            std::time::Duration::from_micros(us),
        ))
    }
}

/// What the HTTPS server needs: the rustls config and the clock it reads.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    /// Shared by every TLS session of the server.
    pub(crate) config: Arc<ServerConfig>,
    /// The clock `config` reads; the server sets it each time the loop calls it.
    pub(crate) clock: Arc<LoopClock>,
}

/// The server configuration: TLS 1.3 and 1.2, ALPN http/1.1, optional key log.
pub fn server_config(
    identity: Identity,
    keylog: Option<Arc<dyn rustls::KeyLog>>,
) -> Result<TlsSetup, TlsError> {
    let clock = Arc::new(LoopClock::default());
    let mut config =
        ServerConfig::builder_with_details(Arc::new(ring::default_provider()), clock.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(identity.chain, identity.key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if let Some(keylog) = keylog {
        config.key_log = keylog;
    }
    Ok(TlsSetup {
        config: Arc::new(config),
        clock,
    })
}

/// NSS key log format (SSLKEYLOGFILE): `LABEL <client_random hex> <secret hex>` per line,
/// which Wireshark reads with `-o tls.keylog_file:FILE`.
pub struct KeyLogFile {
    path: PathBuf,
    file: Mutex<File>,
}

impl KeyLogFile {
    /// Opens `path` for appending (created if missing).
    pub fn open(path: &Path) -> Result<KeyLogFile, TlsError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| TlsError::KeyLog {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        Ok(KeyLogFile {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }
}

impl fmt::Debug for KeyLogFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyLogFile({})", self.path.display())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        if let Ok(mut f) = self.file.lock()
            && let Err(e) = f.write_all(line.as_bytes())
        {
            log::warn!("https: writing the key log {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TLS handshake in memory to `name`, trusting only `cert`: whether it completes.
    fn handshake(
        server: &std::sync::Arc<ServerConfig>,
        cert: &CertificateDer<'static>,
        name: IpAddr,
    ) -> bool {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.clone()).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(ring::default_provider().into())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::IpAddress(name.into());
        let mut c = rustls::ClientConnection::new(client.into(), name).unwrap();
        let mut s = rustls::ServerConnection::new(server.clone()).unwrap();
        for _ in 0..10 {
            let mut wire = Vec::new();
            c.write_tls(&mut wire).unwrap();
            if s.read_tls(&mut &wire[..]).is_err() || s.process_new_packets().is_err() {
                return false;
            }
            wire.clear();
            s.write_tls(&mut wire).unwrap();
            if c.read_tls(&mut &wire[..]).is_err() || c.process_new_packets().is_err() {
                return false;
            }
            if !c.is_handshaking() && !s.is_handshaking() {
                return true;
            }
        }
        false
    }

    #[test]
    fn self_signed_config_builds_and_key_log_lines_are_nss_format() {
        let v4 = IpAddr::V4(std::net::Ipv4Addr::new(198, 18, 0, 2));
        let v6: IpAddr = "2001:2::2".parse().unwrap();
        let (identity, pem) = self_signed(&[v4, v6]).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let cert = identity.chain[0].clone();
        let server = server_config(identity, None).unwrap().config;
        // Both addresses are names of the one certificate: a client verifies either.
        for name in [v4, v6] {
            assert!(handshake(&server, &cert, name), "{name} verifies");
        }
        let other: IpAddr = "2001:2::3".parse().unwrap();
        assert!(
            !handshake(&server, &cert, other),
            "another address does not"
        );
        let dir = std::env::temp_dir().join(format!("tunstack-keylog-{}", std::process::id()));
        let log = KeyLogFile::open(&dir).unwrap();
        rustls::KeyLog::log(&log, "CLIENT_RANDOM", &[1, 2], &[0xab]);
        assert_eq!(
            std::fs::read_to_string(&dir).unwrap(),
            "CLIENT_RANDOM 0102 ab\n"
        );
        let _ = std::fs::remove_file(&dir);
    }
}
