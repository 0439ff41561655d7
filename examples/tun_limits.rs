//! Device limits: how many packets per second a bare loop can read from, or write to, a TUN
//! device, so every benchmark figure can be read as a fraction of what the device allows.
//!
//!     tun_limits --read|--write [--dev tun1] [--secs 2] [--size 64]
//!
//! Creates its own TUN device (default tun1, kernel side 198.18.0.129/25, MTU 1500; the
//! narrower route wins over tun0's 198.18.0.0/24, so this never touches a daemon's device).
//! `--read`: a thread floods UDP datagrams of SIZE payload bytes from the kernel to
//! 198.18.0.130:9 (through tun1) while the main loop reads and counts them; prints
//! `read PPS (sent PPS)`. `--write`: writes one prebuilt IPv4/UDP packet (198.18.0.130 →
//! 198.18.0.129:9) in a loop; prints `write PPS`. Needs root (run it inside a namespace from
//! scripts/netns.sh); every packet stays in 198.18.0.128/25. Bounded by --secs.

use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant as StdInstant};
use tunstack::link::{Link, Tun, wait_readable};
use tunstack::time::Instant;

const KERNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 129);
const FAR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 130);

/// An IPv4/UDP packet FAR:9 → KERNEL:9 with `size` payload bytes (UDP checksum 0: none).
fn packet(size: usize) -> Vec<u8> {
    let total = 20 + 8 + size;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&FAR.octets());
    p[16..20].copy_from_slice(&KERNEL.octets());
    let mut sum: u32 = p[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&9u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + size) as u16).to_be_bytes());
    p
}

fn main() {
    let mut dev = "tun1".to_string();
    let mut secs = 2.0f64;
    let mut size = 64usize;
    let mut mode = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--read" | "--write" => mode = Some(arg),
            "--dev" => dev = args.next().expect("--dev NAME"),
            "--secs" => secs = args.next().expect("--secs S").parse().expect("seconds"),
            "--size" => size = args.next().expect("--size N").parse().expect("bytes"),
            other => panic!("tun_limits: unknown argument {other:?}"),
        }
    }
    let mode = mode.expect("tun_limits: give --read or --write");
    let secs = secs.clamp(0.1, 60.0);
    let mut tun = Tun::open(&dev).unwrap_or_else(|e| {
        eprintln!("tun_limits: {e}");
        std::process::exit(1)
    });
    tun.configure(KERNEL, 25, 1500)
        .expect("configure the device");
    let now = Instant::from_secs(0);
    let window = Duration::from_secs_f64(secs);

    if mode == "--write" {
        let p = packet(size);
        let start = StdInstant::now();
        let mut n = 0u64;
        while start.elapsed() < window {
            for _ in 0..1000 {
                tun.send_plain(now, &p).expect("write to the device");
            }
            n += 1000;
        }
        println!("write {:.0}", n as f64 / start.elapsed().as_secs_f64());
        return;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, sent) = (stop.clone(), sent.clone());
        std::thread::spawn(move || {
            let sock = UdpSocket::bind((KERNEL, 0)).expect("bind");
            sock.connect((FAR, 9)).expect("connect");
            let payload = vec![0x5au8; size];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..256 {
                    // ENOBUFS when the device queue is full: the packet is dropped; go on.
                    let _ = sock.send(&payload);
                }
                n += 256;
                sent.store(n, Ordering::Relaxed);
            }
        })
    };
    let fd = tun.raw_fd().expect("a TUN device has a descriptor");
    let mut buf = vec![0u8; 65_535];
    // Count over the window, after the first packet arrives (bounded wait of 2 s).
    let _ = wait_readable(&[fd], Some(Duration::from_secs(2)));
    let start = StdInstant::now();
    let sent0 = sent.load(Ordering::Relaxed);
    let mut n = 0u64;
    while start.elapsed() < window {
        match tun.recv(now, &mut buf).expect("read from the device") {
            Some(_) => n += 1,
            None => {
                let _ = wait_readable(&[fd], Some(Duration::from_millis(10)));
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sent1 = sent.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    flood.join().expect("flood thread");
    println!(
        "read {:.0} (sent {:.0})",
        n as f64 / elapsed,
        (sent1 - sent0) as f64 / elapsed
    );
}
