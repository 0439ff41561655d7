//! The smoltcp baseline: smoltcp's own `Interface` on the same TUN setup as tunstack, so the
//! benchmarks compare the two stacks on one machine in one run. It answers ping (smoltcp's
//! interface replies to echo requests itself). Later benchmarks extend it with the same
//! services as tunstack (discard, chargen, echo, a minimal HTTP responder).
//!
//! The device must exist and be configured beforehand (`scripts/netns.sh -p` does that):
//!
//!     smoltcp_peer [--dev tun0] [--addr 198.18.0.2]
//!
//! smoltcp is a dev-dependency of tunstack: it is our sparring partner, never our engine.

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface, wait as phy_wait};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn main() {
    let mut dev = "tun0".to_string();
    let mut addr = "198.18.0.2".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dev" => dev = args.next().expect("--dev NAME"),
            "--addr" => addr = args.next().expect("--addr IP"),
            other => panic!("smoltcp_peer: unknown argument {other:?}"),
        }
    }
    let addr: std::net::Ipv4Addr = addr.parse().expect("--addr must be an IPv4 address");

    let mut device = TunTapInterface::new(&dev, Medium::Ip).unwrap_or_else(|e| {
        eprintln!("smoltcp_peer: opening {dev}: {e} (create it first, e.g. scripts/netns.sh -p)");
        std::process::exit(1)
    });
    let fd = device.as_raw_fd();
    let start = std::time::Instant::now();
    let now = || SmolInstant::from_micros(start.elapsed().as_micros() as i64);

    let config = Config::new(HardwareAddress::Ip);
    let mut iface = Interface::new(config, &mut device, now());
    iface.update_ip_addrs(|addrs| {
        addrs
            .push(IpCidr::new(IpAddress::Ipv4(addr), 24))
            .expect("one address fits");
    });
    let mut sockets = SocketSet::new(vec![]);

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).expect("signal handler");
    }
    eprintln!("smoltcp_peer answering at {addr} on {dev}");
    while !stop.load(Ordering::Relaxed) {
        let t = now();
        iface.poll(t, &mut device, &mut sockets);
        let delay = iface.poll_delay(t, &sockets);
        // An interrupted wait (a signal) simply loops back to the stop check.
        let _ = phy_wait(fd, delay);
    }
    eprintln!("smoltcp_peer: stopped");
}
