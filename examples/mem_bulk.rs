//! In-memory bulk transfer, no TUN: CPU seconds per GiB moved one way between two of our
//! `Stack`s over `link::Memory`, and between two smoltcp `Interface`s over an in-memory
//! device, on one thread with one simulated clock each (it advances 10 µs per round and jumps
//! to the next deadline when nothing moves). Both sides use 256 KiB socket buffers and an
//! MTU of 1500; smoltcp uses Reno, as the TUN baseline does.
//!
//!     mem_bulk [--bytes N] [--only ours|smoltcp]
//!
//! Prints `ours CPU_S_PER_GIB` and `smoltcp CPU_S_PER_GIB` (process user + system CPU time
//! from getrusage(2), scaled to 1 GiB). Bounded: each transfer stops after 50 M rounds.

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::socket::tcp as stcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::net::{Ipv4Addr, SocketAddrV4};
use tunstack::link::{Link, Memory};
use tunstack::stack::{Stack, StackConfig};
use tunstack::time::{Duration, Instant};

/// The tests' smoltcp device: two ends of an in-memory pipe, packet buffers reused.
#[path = "../tests/support/smoltcp_device.rs"]
mod smoltcp_device;

use smoltcp_device::SmolPipe;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 9;
const MAX_ROUNDS: u64 = 50_000_000;
const BUFFER: usize = 256 * 1024;

/// One transfer of N bytes; returns the bytes that arrived.
type Transfer = fn(u64) -> u64;

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Two of our stacks; returns the bytes received by B.
fn ours(bytes: u64) -> u64 {
    let config = |addr: Ipv4Addr| StackConfig {
        addr,
        isn_secret: [addr.octets()[3]; 16],
        ..StackConfig::default()
    };
    let (mut la, mut lb) = Memory::pair();
    let mut a = Stack::new(config(A));
    let mut b = Stack::new(config(B));
    let mut now = Instant::from_secs(1);
    b.tcp_mut().listen(PORT, 8, None, 0).expect("listen");
    let client = a
        .tcp_mut()
        .connect(now, SocketAddrV4::new(B, PORT), None, 0)
        .expect("connect");
    let mut server = None;
    let (mut sent, mut received) = (0u64, 0u64);
    let chunk = vec![0x5au8; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    let mut buf = vec![0u8; 65_535];
    for _ in 0..MAX_ROUNDS {
        let mut moved = false;
        while sent < bytes {
            let want = (bytes - sent).min(chunk.len() as u64) as usize;
            match a.tcp_mut().send(client, &chunk[..want]) {
                Ok(n) if n > 0 => sent += n as u64,
                _ => break,
            }
        }
        if server.is_none() {
            server = b.tcp_mut().accept(PORT);
        }
        if let Some(h) = server {
            while let Ok(n) = b.tcp_mut().recv(h, &mut sink) {
                if n == 0 {
                    break;
                }
                received += n as u64;
                moved = true;
            }
        }
        if received >= bytes {
            return received;
        }
        for (stack, link) in [(&mut a, &mut la), (&mut b, &mut lb)] {
            if stack.poll_timeout().is_some_and(|t| t <= now) {
                stack.handle_timeout(now);
                moved = true;
            }
            while let Some(n) = link
                .recv(now, &mut buf)
                .expect("memory link")
                .map(|d| d.len)
            {
                stack.handle_packet(now, &buf[..n]);
                moved = true;
            }
            while let Some(n) = stack.poll_transmit(now, &mut buf) {
                link.send_plain(now, &buf[..n]).expect("memory link");
                moved = true;
            }
            while stack.poll_event().is_some() {}
        }
        now = if moved {
            now + Duration::from_micros(10)
        } else {
            match [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
            {
                Some(t) => t.max(now + Duration::from_micros(10)),
                None => break,
            }
        };
    }
    received
}

/// Two smoltcp interfaces; returns the bytes received by B.
fn smoltcp(bytes: u64) -> u64 {
    let (mut wa, mut wb) = SmolPipe::pair(1500);
    let mut now = SInstant::from_secs(1);
    let iface = |addr: Ipv4Addr, wire: &mut SmolPipe, now| {
        let mut i = Interface::new(IfaceConfig::new(HardwareAddress::Ip), wire, now);
        i.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::Ipv4(addr), 24)).unwrap());
        i
    };
    let mut ia = iface(A, &mut wa, now);
    let mut ib = iface(B, &mut wb, now);
    let socket = || {
        let mut s = stcp::Socket::new(
            stcp::SocketBuffer::new(vec![0; BUFFER]),
            stcp::SocketBuffer::new(vec![0; BUFFER]),
        );
        s.set_congestion_control(stcp::CongestionControl::Reno);
        s
    };
    let mut sa = SocketSet::new(vec![]);
    let mut sb = SocketSet::new(vec![]);
    let ha = sa.add(socket());
    let hb = sb.add(socket());
    sb.get_mut::<stcp::Socket>(hb).listen(PORT).expect("listen");
    sa.get_mut::<stcp::Socket>(ha)
        .connect(ia.context(), (IpAddress::Ipv4(B), PORT), 50_000)
        .expect("connect");
    let (mut sent, mut received) = (0u64, 0u64);
    let chunk = vec![0x5au8; 64 * 1024];
    for _ in 0..MAX_ROUNDS {
        let mut moved = false;
        let s = sa.get_mut::<stcp::Socket>(ha);
        while sent < bytes && s.can_send() {
            let want = (bytes - sent).min(chunk.len() as u64) as usize;
            match s.send_slice(&chunk[..want]) {
                Ok(n) if n > 0 => sent += n as u64,
                _ => break,
            }
        }
        let s = sb.get_mut::<stcp::Socket>(hb);
        while s.can_recv() {
            let n = s.recv(|b| (b.len(), b.len())).unwrap_or(0);
            if n == 0 {
                break;
            }
            received += n as u64;
            moved = true;
        }
        if received >= bytes {
            return received;
        }
        let pa = ia.poll(now, &mut wa, &mut sa);
        let pb = ib.poll(now, &mut wb, &mut sb);
        moved |= pa == smoltcp::iface::PollResult::SocketStateChanged
            || pb == smoltcp::iface::PollResult::SocketStateChanged
            || wa.pending() > 0
            || wb.pending() > 0;
        now = if moved {
            now + smoltcp::time::Duration::from_micros(10)
        } else {
            let d = [ia.poll_delay(now, &sa), ib.poll_delay(now, &sb)]
                .into_iter()
                .flatten()
                .min();
            match d {
                Some(d) => now + d.max(smoltcp::time::Duration::from_micros(10)),
                None => break,
            }
        };
    }
    received
}

fn main() {
    let mut bytes: u64 = 1 << 30;
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bytes" => bytes = args.next().expect("--bytes N").parse().expect("bytes"),
            "--only" => only = Some(args.next().expect("--only ours|smoltcp")),
            other => panic!("mem_bulk: unknown argument {other:?}"),
        }
    }
    let runs: [(&str, Transfer); 2] = [("ours", ours), ("smoltcp", smoltcp)];
    for (name, run) in runs {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let start = cpu_seconds();
        let got = run(bytes);
        let cpu = cpu_seconds() - start;
        if got < bytes {
            println!("{name} n/a (moved only {got} of {bytes} bytes)");
        } else {
            println!("{name} {:.3}", cpu * (1u64 << 30) as f64 / bytes as f64);
        }
    }
}
