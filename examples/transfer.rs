//! An example of the embedding API: tunstack as a library, connecting OUT to a server on the
//! kernel side of the TUN device.
//!
//!     transfer --connect 198.18.0.1:5000 --send 104857600 [--close-first] [--dev tun0]
//!     transfer --connect [2001:2::1]:5000 ...        the same over IPv6
//!
//! It creates and configures the TUN device like the daemon (kernel side 198.18.0.1/24 and
//! 2001:2::1/64, we are 198.18.0.2 and 2001:2::2), starts the stack on its own thread, connects (retrying while refused, so
//! the server may start later), sends `--send` bytes of seeded random data while reading
//! everything the server sends back, and prints both SHA-256 digests. With `--close-first`
//! we half-close right after sending (our FIN goes first); otherwise we wait for the
//! server's FIN and close after it. Then it keeps answering (ping) until SIGINT.

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tunstack::api::{TcpStream, Tunstack};
use tunstack::link::Tun;
use tunstack::stack::{Stack, StackConfig};

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut dev = "tun0".to_string();
    let mut remote: SocketAddr = "198.18.0.1:5000".parse()?;
    let mut send: u64 = 1 << 20;
    let mut close_first = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dev" => dev = args.next().ok_or("--dev NAME")?,
            "--connect" => remote = args.next().ok_or("--connect IP:PORT")?.parse()?,
            "--send" => send = args.next().ok_or("--send BYTES")?.parse()?,
            "--close-first" => close_first = true,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }

    let tun = Tun::open(&dev)?;
    // Dual stack like the daemon: StackConfig::default() answers at 2001:2::2 too.
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
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;

    let started = Instant::now();
    let mut stream = loop {
        match TcpStream::connect(&net, remote) {
            Ok(s) => break s,
            Err(e)
                if started.elapsed() < Duration::from_secs(20) && !stop.load(Ordering::Relaxed) =>
            {
                log::debug!("connect {remote}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(format!("connect {remote}: {e}").into()),
        }
    };
    println!(
        "connected {} -> {}",
        stream.local_addr()?,
        stream.peer_addr()?
    );

    // Writing and reading alternate on this thread with short timeouts, so neither
    // direction's window stalls while the other waits.
    let mut rng = fastrand::Rng::with_seed(42);
    let mut sent_hash = Sha256::new();
    let mut recv_hash = Sha256::new();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut out = vec![0u8; 64 * 1024];
    let mut inbuf = vec![0u8; 256 * 1024];
    let mut eof = false;
    stream.set_read_timeout(Some(Duration::from_millis(1)))?;
    stream.set_write_timeout(Some(Duration::from_millis(1)))?;
    let mut pending: &[u8] = &[];
    let mut chunk = Vec::new();
    while sent < send || !eof {
        if sent < send && pending.is_empty() {
            let n = (send - sent).min(out.len() as u64) as usize;
            rng.fill(&mut out[..n]);
            chunk.clear();
            chunk.extend_from_slice(&out[..n]);
            pending = &chunk[..];
        }
        if !pending.is_empty() {
            match stream.write(pending) {
                Ok(n) => {
                    sent_hash.update(&pending[..n]);
                    sent += n as u64;
                    pending = &pending[n..];
                    if sent == send && close_first {
                        stream.shutdown(Shutdown::Write)?;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("write: {e}").into()),
            }
        }
        if !eof {
            match stream.read(&mut inbuf) {
                Ok(0) => eof = true,
                Ok(n) => {
                    recv_hash.update(&inbuf[..n]);
                    received += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => return Err(format!("read: {e}").into()),
            }
        }
        if started.elapsed() > Duration::from_secs(300) {
            return Err(format!("gave up after 300 s: sent {sent}, received {received}").into());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("sent {sent} bytes sha256={}", hex(&sent_hash.finalize()));
    println!(
        "received {received} bytes sha256={}",
        hex(&recv_hash.finalize())
    );
    println!(
        "done in {secs:.2} s ({:.0} Mbit/s each way)",
        sent as f64 * 8.0 / secs / 1e6
    );
    drop(stream); // our FIN (after theirs unless --close-first)
    std::thread::sleep(Duration::from_millis(300));
    net.with_stack(|s| {
        for (_, c) in s.tcp().connections() {
            println!("table: {} {}", c.state(), c.tuple());
        }
    });
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    net.with_stack(|s| println!("{}", s.counters()));
    net.stop()?;
    Ok(())
}
