//! A client on tunstack's async API (feature `tokio`), connecting OUT to servers on the
//! kernel side of the TUN device.
//!
//!     async_client [--connect 198.18.0.1:5000 --send BYTES [--close-first]]
//!                  [--udp-echo 198.18.0.1:5353] [--tls 198.18.0.1:4433 --ca CA.pem]
//!                  [--dev tun0] [--threads 2]
//!
//! Creates and configures the TUN device like the daemon, starts the stack and a
//! multi-thread tokio runtime, then does what it is asked, in this order:
//! - `--connect`: sends BYTES of seeded random data (the same as examples/transfer.rs) while
//!   reading everything the server sends back, the two directions in two tasks over
//!   `tokio::io::split`; prints both SHA-256 digests. With `--close-first` our FIN follows
//!   our data at once; otherwise after the server's FIN.
//! - `--udp-echo`: a DNS-style exchange with a UDP echo server: a query with a random id
//!   goes out, the same octets must come back from the server's address; prints the RTT.
//! - `--tls`: a TLS client (tokio-rustls over our TcpStream, trusting `--ca`) sends
//!   `GET / HTTP/1.0` and prints the protocol, the cipher suite and the status line.
//!
//! Then it keeps answering (ping) until SIGINT or SIGTERM, and prints the stack's counters.

use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tunstack::link::Tun;
use tunstack::stack::{Stack, StackConfig};
use tunstack::tokio::{TcpStream, Tunstack, UdpSocket};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct Args {
    dev: String,
    threads: usize,
    connect: Option<SocketAddr>,
    send: u64,
    close_first: bool,
    udp_echo: Option<SocketAddr>,
    tls: Option<SocketAddr>,
    ca: Option<String>,
}

fn parse_args() -> Result<Args, Error> {
    let mut a = Args {
        dev: "tun0".into(),
        threads: 2,
        send: 1 << 20,
        ..Args::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dev" => a.dev = value()?,
            "--threads" => a.threads = value()?.parse()?,
            "--connect" => a.connect = Some(value()?.parse()?),
            "--send" => a.send = value()?.parse()?,
            "--close-first" => a.close_first = true,
            "--udp-echo" => a.udp_echo = Some(value()?.parse()?),
            "--tls" => a.tls = Some(value()?.parse()?),
            "--ca" => a.ca = Some(value()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    Ok(a)
}

/// Connects, retrying while refused for up to 20 s (the server may start after us).
async fn connect(net: &Tunstack, remote: SocketAddr) -> Result<TcpStream, Error> {
    let started = Instant::now();
    loop {
        match TcpStream::connect(net, remote).await {
            Ok(s) => return Ok(s),
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                log::debug!("connect {remote}: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(format!("connect {remote}: {e}").into()),
        }
    }
}

async fn transfer(
    net: &Tunstack,
    remote: SocketAddr,
    send: u64,
    close_first: bool,
) -> Result<(), Error> {
    let stream = connect(net, remote).await?;
    println!(
        "connected {} -> {}",
        stream.local_addr()?,
        stream.peer_addr()?
    );
    let started = Instant::now();
    let (mut r, mut w) = tokio::io::split(stream);
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut hash = Sha256::new();
        let mut out = vec![0u8; 64 * 1024];
        let mut sent = 0u64;
        while sent < send {
            let n = (send - sent).min(out.len() as u64) as usize;
            rng.fill(&mut out[..n]);
            w.write_all(&out[..n]).await?;
            hash.update(&out[..n]);
            sent += n as u64;
        }
        if !close_first {
            let _ = eof_rx.await; // the server's FIN first
        }
        w.shutdown().await?; // our FIN
        Ok::<_, std::io::Error>((sent, hash.finalize()))
    });
    let mut hash = Sha256::new();
    let mut received = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        received += n as u64;
    }
    let _ = eof_tx.send(());
    let (sent, sent_hash) = writer.await??;
    let secs = started.elapsed().as_secs_f64();
    println!("sent {sent} bytes sha256={}", hex(&sent_hash));
    println!("received {received} bytes sha256={}", hex(&hash.finalize()));
    println!(
        "done in {secs:.2} s ({:.0} Mbit/s each way)",
        sent as f64 * 8.0 / secs / 1e6
    );
    Ok(())
}

/// A DNS-style query (RFC 1035 §4.1: id, flags, one question for tunstack.test A IN) to a
/// UDP echo: the answer must be the same octets from the server's address.
async fn udp_round_trip(net: &Tunstack, server: SocketAddr) -> Result<(), Error> {
    let socket = UdpSocket::bind(net, 0)?;
    socket.connect(server)?;
    let id = fastrand::u16(..);
    let mut query = Vec::new();
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // RD, QDCOUNT 1
    for label in ["tunstack", "test"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]); // root, QTYPE A, QCLASS IN
    let mut buf = [0u8; 512];
    // UDP may lose the first datagram (the kernel resolves nothing here, but be honest
    // about retries): up to 5 tries, 1 s each.
    for attempt in 1..=5 {
        let started = Instant::now();
        socket.send(&query).await?;
        match tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
            Ok(Ok(n)) if buf[..n] == query[..] => {
                println!(
                    "udp round trip ok: {n} bytes id {id:#06x} from {server} in {} us (try {attempt})",
                    started.elapsed().as_micros()
                );
                return Ok(());
            }
            Ok(Ok(n)) => return Err(format!("udp: {n} bytes that are not our query").into()),
            Ok(Err(e)) => return Err(format!("udp: {e}").into()),
            Err(_) => log::info!("udp: no answer in 1 s (try {attempt})"),
        }
    }
    Err("udp: no answer after 5 tries".into())
}

async fn tls_get(net: &Tunstack, server: SocketAddr, ca: &str) -> Result<(), Error> {
    use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = connect(net, server).await?;
    let name = rustls::pki_types::ServerName::IpAddress(server.ip().into());
    let mut tls = connector.connect(name, stream).await?;
    let (_, session) = tls.get_ref();
    println!(
        "tls ok: {:?} {:?}",
        session.protocol_version().ok_or("no version")?,
        session
            .negotiated_cipher_suite()
            .ok_or("no cipher suite")?
            .suite()
    );
    tls.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
    let mut reply = Vec::new();
    // openssl s_server -www closes without close_notify on some versions: keep what came.
    if let Err(e) = tls.read_to_end(&mut reply).await {
        log::info!("tls read: {e}");
    }
    let status = String::from_utf8_lossy(&reply);
    println!(
        "tls reply: {} ({} bytes)",
        status.lines().next().unwrap_or(""),
        reply.len()
    );
    let _ = tls.shutdown().await;
    Ok(())
}

fn main() -> Result<(), Error> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = parse_args()?;
    let tun = Tun::open(&args.dev)?;
    tun.configure_dual(
        ("198.18.0.1".parse()?, 24),
        ("2001:2::1".parse()?, 64),
        1500,
    )?;
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
    let config = StackConfig {
        isn_secret: secret,
        ..StackConfig::default()
    };
    let net = Tunstack::start(Stack::new(config), Box::new(tun))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_time()
        .build()?;
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;

    rt.block_on(async {
        if let Some(remote) = args.connect {
            transfer(&net, remote, args.send, args.close_first).await?;
        }
        if let Some(server) = args.udp_echo {
            udp_round_trip(&net, server).await?;
        }
        if let Some(server) = args.tls {
            let ca = args.ca.as_deref().ok_or("--tls needs --ca FILE")?;
            tls_get(&net, server, ca).await?;
        }
        Ok::<_, Error>(())
    })?;
    println!("all done");
    signals.forever().next(); // keep answering until SIGINT or SIGTERM
    drop(rt);
    net.with_stack(|s| println!("{}", s.counters()));
    net.stop()?;
    Ok(())
}
