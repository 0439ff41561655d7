//! The blocking API's `UdpSocket` between two of our stacks over the in-memory link, each
//! on its loop thread: send_to/recv_from both ways, connect and the peer filter, read
//! timeouts, and ICMP port unreachable coming back as `ConnectionRefused`.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tunstack::api::{Tunstack, UdpSocket};
use tunstack::link::Memory;
use tunstack::stack::{Stack, StackConfig};

const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn pair() -> (Tunstack, Tunstack) {
    let (ours, theirs) = Memory::pair();
    let us = Tunstack::start(Stack::new(StackConfig::default()), Box::new(ours)).unwrap();
    let peer = Tunstack::start(
        Stack::new(StackConfig {
            addr: PEER,
            addr6: None,
            isn_secret: [9; 16],
            ..StackConfig::default()
        }),
        Box::new(theirs),
    )
    .unwrap();
    (us, peer)
}

#[test]
fn send_to_recv_from_and_connected_filter() {
    let (us, peer) = pair();
    let mut a = UdpSocket::bind(&us, 0).unwrap();
    let mut b = UdpSocket::bind(&peer, 53).unwrap();
    assert_eq!(
        UdpSocket::bind(&peer, 53).err().map(|e| e.kind()),
        Some(ErrorKind::AddrInUse)
    );
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let server = SocketAddr::from((PEER, 53));
    assert_eq!(a.send_to(b"query", server).unwrap(), 5);
    let mut buf = [0; 2048];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"query"[..], (US, a.local_port()).into())
    );
    // A datagram larger than the MTU, fragmented and rebuilt on the way.
    let big: Vec<u8> = (0..1900u32).map(|i| i as u8).collect();
    b.send_to(&big, from).unwrap();
    let (n, reply_from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], reply_from), (&big[..], server));

    // Connected: only the peer's datagrams are received.
    a.connect(server).unwrap();
    assert_eq!(a.peer_addr().unwrap(), server);
    let stranger = UdpSocket::bind(&peer, 54).unwrap();
    stranger
        .send_to(b"not you", (US, a.local_port()).into())
        .unwrap();
    b.send_to(b"answer", from).unwrap();
    assert_eq!(a.recv(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"answer");
}

#[test]
fn read_timeout_and_port_unreachable_as_connection_refused() {
    let (us, _peer) = pair();
    let mut a = UdpSocket::bind(&us, 0).unwrap();
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0; 64];
    let started = Instant::now();
    assert_eq!(
        a.recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    // Nobody on the peer's port 4444: its port unreachable reaches our next call.
    a.connect((PEER, 4444).into()).unwrap();
    a.send(b"anyone?").unwrap();
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        a.recv(&mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
    assert_eq!(us.with_stack(|s| s.counters().udp.icmp_errors_delivered), 1);
}
