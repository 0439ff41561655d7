//! Our stack against smoltcp over IPv6 (tests/xcheck in `Family::V6`: smoltcp at
//! 2001:2::1/64, ours at 2001:2::2): the handshake, bulk data, closing from either side,
//! abort, refusal and the MSS from each side's MTU in both roles, and transfers through
//! loss, reordering, duplication and corruption — a representative subset of
//! xcheck_interop and xcheck_faults. The `/// xcheck:` line above each test is its row in
//! docs/xcheck.md.

mod xcheck;

use smoltcp::socket::tcp as stcp;
use smoltcp::wire::{IpAddress, IpEndpoint};
use std::net::{IpAddr, SocketAddr};
use tunstack::link::DirectionFaults;
use tunstack::stack::TcpEvent;
use tunstack::tcp::{CloseReason, Ctl, Event};
use tunstack::time::Duration;
use tunstack::wire::DropReason;
use xcheck::{Dir, OURS6, Role, SMOL6, Setup, Transfer, Xcheck, pattern, wire};

const PORT: u16 = 8080;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn v6() -> Xcheck {
    Xcheck::new(Setup::default().v6())
}

/// Every packet on the wire so far was TCP over IPv6 between the two addresses (no other
/// traffic, nothing unparsed).
#[track_caller]
fn all_tcp_over_ipv6(x: &Xcheck) {
    let tap = x.tap.borrow();
    assert!(
        tap.records.iter().all(|r| r.seg.is_some()),
        "{:#?}",
        x.trace()
    );
}

// ---- handshake ------------------------------------------------------------------------------

fn handshake(role: Role) {
    let mut x = v6();
    let c = x.connect(role, PORT);
    match role {
        Role::OursClient => assert_eq!(x.ours_events(c.ours), vec![Event::Connected]),
        Role::SmolClient => assert!(
            x.events
                .iter()
                .any(|e| e.event == TcpEvent::Incoming { port: PORT })
        ),
    }
    // Both ends name the same IPv6 endpoints.
    let tuple = x.ours.tcp().connection(c.ours).unwrap().tuple();
    assert_eq!(tuple.local.ip(), IpAddr::V6(OURS6));
    assert_eq!(tuple.remote.ip(), IpAddr::V6(SMOL6));
    let smol = x.smol_ref(c.smol);
    let endpoint = |a: SocketAddr| match a {
        SocketAddr::V6(a) => IpEndpoint::new(IpAddress::Ipv6(*a.ip()), a.port()),
        SocketAddr::V4(_) => unreachable!("an IPv6 tuple"),
    };
    assert_eq!(smol.local_endpoint(), Some(endpoint(tuple.remote)));
    assert_eq!(smol.remote_endpoint(), Some(endpoint(tuple.local)));
    // One SYN and one SYN-ACK, each with MSS = 1500 − 40 (IPv6) − 20 (TCP).
    let syns: Vec<_> = x
        .segments(Dir::ToSmol)
        .into_iter()
        .chain(x.segments(Dir::ToOurs))
        .filter(|(s, _)| s.syn())
        .collect();
    assert_eq!(syns.len(), 2, "one SYN and one SYN-ACK: {:#?}", x.trace());
    assert!(syns.iter().all(|(s, _)| s.options.mss == Some(1440)));
    assert_eq!(x.trace().len(), 3, "{:#?}", x.trace());
    all_tcp_over_ipv6(&x);
    x.ours.tcp_mut().send(c.ours, b"ping").unwrap();
    x.advance(Duration::from_millis(100));
    let mut buf = [0u8; 16];
    let n = x.smol(c.smol).recv_slice(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
}

/// xcheck: IPv6 handshake (tuples on 2001:2::/64, MSS 1440 = MTU − 60 both ways), ours client / smoltcp server
#[test]
fn handshake_ours_client() {
    let _outcome = xcheck::outcome();
    handshake(Role::OursClient);
}

/// xcheck: IPv6 handshake (tuples on 2001:2::/64, MSS 1440 = MTU − 60 both ways), smoltcp client / ours server
#[test]
fn handshake_smol_client() {
    let _outcome = xcheck::outcome();
    handshake(Role::SmolClient);
}

// ---- bulk data ------------------------------------------------------------------------------

/// 4 MiB each way; both sides fill, and keep to, the 1440-octet IPv6 MSS.
fn bulk(role: Role) {
    let mut x = v6();
    let c = x.connect(role, PORT);
    let mut t = Transfer::new(pattern(4 << 20, 1), pattern(4 << 20, 2));
    let took = x.transfer(c, &mut t, secs(120));
    eprintln!(
        "{role:?}: 4 MiB each way over IPv6 in {took:?} simulated, {} steps",
        x.steps
    );
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
    for dir in [Dir::ToSmol, Dir::ToOurs] {
        let largest = x.segments(dir).iter().map(|s| s.1).max().unwrap();
        assert_eq!(largest, 1440, "{dir:?}: the largest segment");
    }
    all_tcp_over_ipv6(&x);
}

/// xcheck: IPv6: 4 MiB each way, byte-exact, 1440-octet segments, then both close; ours client
#[test]
fn bulk_4mib_each_way_ours_client() {
    let _outcome = xcheck::outcome();
    bulk(Role::OursClient);
}

/// xcheck: IPv6: 4 MiB each way, byte-exact, 1440-octet segments, then both close; smoltcp client
#[test]
fn bulk_4mib_each_way_smol_client() {
    let _outcome = xcheck::outcome();
    bulk(Role::SmolClient);
}

// ---- closing --------------------------------------------------------------------------------

/// We close first: smoltcp sees EOF and closes; we end in TIME-WAIT for 2×MSL (1 s MSL),
/// smoltcp in CLOSED straight from LAST-ACK.
fn ours_closes_first(role: Role) {
    let mut x = v6();
    let c = x.connect(role, PORT);
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "FIN-WAIT-2");
    assert_eq!(x.smol_state(c.smol), "CLOSE-WAIT");
    assert_eq!(
        x.smol(c.smol).recv_slice(&mut [0u8; 8]),
        Err(stcp::RecvError::Finished)
    );
    x.smol(c.smol).close();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT");
    assert_eq!(x.smol_state(c.smol), "CLOSED");
    x.advance(Duration::from_millis(1700));
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT", "2×MSL = 2 s not over");
    x.advance(Duration::from_millis(300));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
}

/// xcheck: IPv6: ours closes first: ours TIME-WAIT for 2×MSL, smoltcp CLOSED; ours client
#[test]
fn ours_closes_first_ours_client() {
    let _outcome = xcheck::outcome();
    ours_closes_first(Role::OursClient);
}

/// xcheck: IPv6: ours closes first: ours TIME-WAIT for 2×MSL, smoltcp CLOSED; smoltcp client
#[test]
fn ours_closes_first_smol_client() {
    let _outcome = xcheck::outcome();
    ours_closes_first(Role::SmolClient);
}

/// smoltcp closes first: we see EOF and close; smoltcp ends in TIME-WAIT for its fixed 10 s.
fn smol_closes_first(role: Role) {
    let mut x = v6();
    let c = x.connect(role, PORT);
    x.smol(c.smol).close();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.smol_state(c.smol), "FIN-WAIT-2");
    assert_eq!(x.ours_state(c.ours), "CLOSE-WAIT");
    assert_eq!(x.ours.tcp_mut().recv(c.ours, &mut [0u8; 8]), Ok(0));
    assert!(x.ours_events(c.ours).contains(&Event::PeerClosed));
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
    assert_eq!(x.smol_state(c.smol), "TIME-WAIT");
    x.advance(secs(10));
    assert_eq!(x.smol_state(c.smol), "CLOSED");
}

/// xcheck: IPv6: smoltcp closes first: smoltcp TIME-WAIT, ours CLOSED; ours client | smoltcp's TIME-WAIT is a fixed 10 s, not 2×MSL (RFC 9293 §3.6.1)
#[test]
fn smol_closes_first_ours_client() {
    let _outcome = xcheck::outcome();
    smol_closes_first(Role::OursClient);
}

/// xcheck: IPv6: smoltcp closes first: smoltcp TIME-WAIT, ours CLOSED; smoltcp client | smoltcp's TIME-WAIT is a fixed 10 s, not 2×MSL (RFC 9293 §3.6.1)
#[test]
fn smol_closes_first_smol_client() {
    let _outcome = xcheck::outcome();
    smol_closes_first(Role::SmolClient);
}

/// Both close at the same instant: the FINs cross, both pass CLOSING into TIME-WAIT
/// (RFC 9293 §3.6, figure 13), and both end CLOSED.
fn simultaneous_close(role: Role) {
    let mut x = v6();
    let c = x.connect(role, PORT);
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.smol(c.smol).close();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT");
    assert_eq!(x.smol_state(c.smol), "TIME-WAIT");
    let fins = x.trace().iter().filter(|l| l.contains("FIN")).count();
    assert_eq!(fins, 2, "each side sent one FIN: {:#?}", x.trace());
    x.advance(secs(3));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    x.advance(secs(8));
    assert_eq!(x.smol_state(c.smol), "CLOSED");
}

/// xcheck: IPv6: simultaneous close: both TIME-WAIT, then both CLOSED; ours client
#[test]
fn simultaneous_close_ours_client() {
    let _outcome = xcheck::outcome();
    simultaneous_close(Role::OursClient);
}

/// xcheck: IPv6: simultaneous close: both TIME-WAIT, then both CLOSED; smoltcp client
#[test]
fn simultaneous_close_smol_client() {
    let _outcome = xcheck::outcome();
    simultaneous_close(Role::SmolClient);
}

// ---- abort and refusal ------------------------------------------------------------------------

/// xcheck: IPv6: ours aborts: smoltcp takes the RST and goes CLOSED; ours client
#[test]
fn ours_aborts_ours_client() {
    let _outcome = xcheck::outcome();
    let mut x = v6();
    let c = x.connect(Role::OursClient, PORT);
    x.ours.tcp_mut().send(c.ours, &pattern(5000, 5)).unwrap();
    x.advance(Duration::from_millis(100));
    x.ours.tcp_mut().abort(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Aborted));
    assert_eq!(x.smol_state(c.smol), "CLOSED", "smoltcp took our RST");
    let rst = x
        .segments(Dir::ToSmol)
        .into_iter()
        .filter(|(s, _)| s.rst())
        .count();
    assert_eq!(rst, 1);
}

/// xcheck: IPv6: smoltcp aborts: ours takes the RST, reports Closed(Reset); smoltcp client
#[test]
fn smol_aborts_smol_client() {
    let _outcome = xcheck::outcome();
    let mut x = v6();
    let c = x.connect(Role::SmolClient, PORT);
    x.smol(c.smol).send_slice(&pattern(5000, 6)).unwrap();
    x.advance(Duration::from_millis(100));
    x.smol(c.smol).abort();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.smol_state(c.smol), "CLOSED");
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Reset));
}

/// xcheck: IPv6: ours connects to a smoltcp port nobody listens on: RST, Closed(Refused)
#[test]
fn refused_ours_connects() {
    let _outcome = xcheck::outcome();
    let mut x = v6();
    let now = x.now;
    let h = x
        .ours
        .tcp_mut()
        .connect(now, SocketAddr::new(SMOL6.into(), 9), None, 0)
        .unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(h), "CLOSED");
    assert_eq!(x.ours_closed(h), Some(CloseReason::Refused));
    let back = x.segments(Dir::ToOurs);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0.ctl, Ctl::RST | Ctl::ACK);
    all_tcp_over_ipv6(&x);
}

/// xcheck: IPv6: smoltcp connects to a port of ours nobody listens on: RST,ACK, smoltcp CLOSED
#[test]
fn refused_smol_connects() {
    let _outcome = xcheck::outcome();
    let mut x = v6();
    let s = x.smol_socket();
    x.smol_connect(s, 9);
    x.advance(Duration::from_millis(100));
    assert_eq!(x.smol_state(s), "CLOSED");
    let back = x.segments(Dir::ToSmol);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0.ctl, Ctl::RST | Ctl::ACK);
    assert_eq!(x.ours.tcp().counters().resets_sent_for_strays, 1);
    all_tcp_over_ipv6(&x);
}

// ---- MSS ------------------------------------------------------------------------------------

/// Ours at MTU 1500, smoltcp at IPv6's minimum of 1280: each SYN carries its MTU less 60,
/// and each side sends segments of at most the smaller MSS (1220), and reaches it.
fn mss_at_the_minimum_mtu(role: Role) {
    let mut x = Xcheck::new(Setup {
        smol_mtu: 1280,
        ..Setup::default().v6()
    });
    let c = x.connect(role, PORT);
    let our_syn = x.segments(Dir::ToSmol)[0].0.clone();
    let their_syn = x.segments(Dir::ToOurs)[0].0.clone();
    assert!(our_syn.syn() && their_syn.syn());
    assert_eq!(our_syn.options.mss, Some(1440));
    assert_eq!(their_syn.options.mss, Some(1220));
    let mut t = Transfer::new(pattern(1 << 20, 8), pattern(1 << 20, 9));
    x.transfer(c, &mut t, secs(60));
    for dir in [Dir::ToSmol, Dir::ToOurs] {
        let largest = x.segments(dir).iter().map(|s| s.1).max().unwrap();
        assert_eq!(largest, 1220, "{dir:?}: the largest segment");
    }
}

/// xcheck: IPv6 MSS: ours MTU 1500, smoltcp MTU 1280 (the IPv6 minimum): 1220-octet segments both ways; ours client
#[test]
fn mss_minimum_mtu_ours_client() {
    let _outcome = xcheck::outcome();
    mss_at_the_minimum_mtu(Role::OursClient);
}

/// xcheck: IPv6 MSS: ours MTU 1500, smoltcp MTU 1280 (the IPv6 minimum): 1220-octet segments both ways; smoltcp client
#[test]
fn mss_minimum_mtu_smol_client() {
    let _outcome = xcheck::outcome();
    mss_at_the_minimum_mtu(Role::SmolClient);
}

// ---- through faults -------------------------------------------------------------------------

/// A transfer each way at once through seeded faults on the IPv6 wire, byte-exact, both
/// sides CLOSED at the end.
fn faulty(role: Role, faults: DirectionFaults, seed: u64, size: usize) {
    let mut x = Xcheck::new(Setup::faulty(faults, seed).v6());
    let c = x.connect(role, PORT);
    let mut t = Transfer::new(pattern(size, seed ^ 1), pattern(size, seed ^ 2));
    let took = x.transfer(c, &mut t, Duration::from_secs(900));
    let (rx, tx) = x.link.stats();
    if rx.corrupted > 0 {
        let bad = x.ours.counters().drops.get(DropReason::TcpBadChecksum);
        assert!(bad > 0, "the TCP checksum caught corrupted packets");
    }
    eprintln!(
        "{}: {size} bytes each way over IPv6 in {took:?} simulated, {} steps; to ours: {rx}; \
         to smoltcp: {tx}",
        x.name, x.steps
    );
}

fn loss(p: f64) -> DirectionFaults {
    DirectionFaults { loss: p, ..wire() }
}

/// xcheck: IPv6: 5% loss each way, 1 MiB each way byte-exact; ours client
#[test]
fn loss_5pct_ours_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::OursClient, loss(0.05), 13, 1 << 20);
}

/// xcheck: IPv6: 5% loss each way, 1 MiB each way byte-exact; smoltcp client
#[test]
fn loss_5pct_smol_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::SmolClient, loss(0.05), 14, 1 << 20);
}

/// xcheck: IPv6: 20% loss each way, 256 KiB each way byte-exact; ours client
#[test]
fn loss_20pct_ours_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::OursClient, loss(0.20), 15, 256 << 10);
}

fn reorder() -> DirectionFaults {
    DirectionFaults {
        reorder: 0.1,
        reorder_delay: Duration::from_millis(3),
        ..wire()
    }
}

/// xcheck: IPv6: 10% of packets held back 3 ms (reordered), 1 MiB each way; ours client
#[test]
fn reorder_ours_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::OursClient, reorder(), 17, 1 << 20);
}

/// xcheck: IPv6: 10% of packets held back 3 ms (reordered), 1 MiB each way; smoltcp client
#[test]
fn reorder_smol_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::SmolClient, reorder(), 18, 1 << 20);
}

fn duplicate() -> DirectionFaults {
    DirectionFaults {
        duplicate: 0.1,
        ..wire()
    }
}

/// xcheck: IPv6: 10% of packets duplicated, 1 MiB each way; ours client
#[test]
fn duplicate_ours_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::OursClient, duplicate(), 19, 1 << 20);
}

/// xcheck: IPv6: 10% of packets duplicated, 1 MiB each way; smoltcp client
#[test]
fn duplicate_smol_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::SmolClient, duplicate(), 20, 1 << 20);
}

fn corrupt() -> DirectionFaults {
    DirectionFaults {
        corrupt: 0.05,
        ..wire()
    }
}

/// xcheck: IPv6: 5% of packets with one bit flipped (IPv6 has no header checksum: the TCP checksum over the IPv6 pseudo-header catches them), 1 MiB each way; ours client
#[test]
fn corrupt_ours_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::OursClient, corrupt(), 21, 1 << 20);
}

/// xcheck: IPv6: 5% of packets with one bit flipped (IPv6 has no header checksum: the TCP checksum over the IPv6 pseudo-header catches them), 1 MiB each way; smoltcp client
#[test]
fn corrupt_smol_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::SmolClient, corrupt(), 22, 1 << 20);
}

fn everything() -> DirectionFaults {
    DirectionFaults {
        loss: 0.02,
        duplicate: 0.02,
        corrupt: 0.02,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(2),
        jitter: Duration::from_micros(500),
        ..wire()
    }
}

/// xcheck: IPv6: 2% loss + 2% duplication + 2% corruption + 5% reordering + jitter, 512 KiB each way; ours client
#[test]
fn all_faults_ours_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::OursClient, everything(), 23, 512 << 10);
}

/// xcheck: IPv6: 2% loss + 2% duplication + 2% corruption + 5% reordering + jitter, 512 KiB each way; smoltcp client
#[test]
fn all_faults_smol_client() {
    let _outcome = xcheck::outcome();
    faulty(Role::SmolClient, everything(), 24, 512 << 10);
}
