//! The whole stack (`tunstack::stack::Stack`) fed arbitrary packets with arbitrary time
//! steps, with a listener on port 80 (echo-like: what is read is written back) and active
//! opens. Invariants after every step: no panic, the stack's own queues and accounting
//! under their bounds, counters consistent with what went in and out.
//!
//! The input is a sequence of records, each a tag byte and its operands (see [`Op`] and
//! [`next_op`]): packets come raw (seeds are real packets, fuzz/seeds.py), raw with their
//! IPv4/IPv6 header and TCP/UDP/ICMP checksums made right (so mutations reach the
//! transports), or built from fields.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tunstack::stack::{Stack, StackConfig, StackEvent, TcpEvent, TcpLimits};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const MEM_MAX: usize = 256 * 1024;
const MAX_CONNS: usize = 16;
const MAX_QUEUED: usize = 64;

#[derive(Debug)]
enum Op {
    /// Raw bytes from the device; `true`: checksums made right first.
    Raw(Vec<u8>, bool),
    /// A TCP segment from the peer, checksums made right.
    Tcp(TcpFields),
    /// An IPv4 datagram with arbitrary protocol, flags and fragment offset.
    Ip(IpFields),
    Advance(u16),
    Timers,
    Connect(u8),
    Send(u8, u16),
    Close(u8),
    Abort(u8),
}

#[derive(Arbitrary, Debug)]
struct TcpFields {
    v6: bool,
    sport: u8,
    dport: u8,
    seq: u32,
    ack: u32,
    flags: u8,
    wnd: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct IpFields {
    proto: u8,
    frag: u16,
    ident: u16,
    payload: Vec<u8>,
}

/// One record: tag % 10 selects the operation; a packet is a big-endian u16 length and
/// that many bytes.
fn next_op(u: &mut Unstructured<'_>) -> arbitrary::Result<Op> {
    let tag = u.arbitrary::<u8>()?;
    let packet = |u: &mut Unstructured<'_>| -> arbitrary::Result<Vec<u8>> {
        let len = u16::from_be_bytes([u.arbitrary()?, u.arbitrary()?]);
        let n = usize::from(len).min(u.len());
        Ok(u.bytes(n)?.to_vec())
    };
    Ok(match tag % 10 {
        0 => Op::Raw(packet(u)?, false),
        1 => Op::Raw(packet(u)?, true),
        2 => Op::Tcp(u.arbitrary()?),
        3 => Op::Ip(u.arbitrary()?),
        4 => Op::Advance(u16::from_be_bytes([u.arbitrary()?, u.arbitrary()?])),
        5 => Op::Timers,
        6 => Op::Connect(u.arbitrary()?),
        7 => Op::Send(u.arbitrary()?, u.arbitrary()?),
        8 => Op::Close(u.arbitrary()?),
        _ => Op::Abort(u.arbitrary()?),
    })
}

/// Makes the IPv4 header checksum and the TCP, UDP, ICMP or ICMPv6 checksum of `p` right
/// (over whatever follows the header), so a mutated packet is not simply dropped for it.
fn fix_checksums(p: &mut [u8]) {
    let Some(&first) = p.first() else { return };
    let (src, dst, proto, start): (IpAddr, IpAddr, u8, usize) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 15) * 4;
            if ihl < 20 || p.len() < ihl {
                return;
            }
            p[10..12].copy_from_slice(&[0, 0]);
            let sum = tunstack::wire::internet_checksum(&[&p[..ihl]]);
            p[10..12].copy_from_slice(&sum);
            let src: [u8; 4] = p[12..16].try_into().unwrap();
            let dst: [u8; 4] = p[16..20].try_into().unwrap();
            (src.into(), dst.into(), p[9], ihl)
        }
        6 if p.len() >= 40 => {
            let src: [u8; 16] = p[8..24].try_into().unwrap();
            let dst: [u8; 16] = p[24..40].try_into().unwrap();
            (src.into(), dst.into(), p[6], 40)
        }
        _ => return,
    };
    let body = &mut p[start..];
    let at = match proto {
        6 => 16,
        17 => 6,
        1 | 58 => 2,
        _ => return,
    };
    if body.len() < at + 2 || body.len() > usize::from(u16::MAX) {
        return;
    }
    body[at..at + 2].copy_from_slice(&[0, 0]);
    let sum = if proto == 1 {
        tunstack::wire::internet_checksum(&[body])
    } else {
        PseudoHeader::new(src, dst, etherparse::IpNumber(proto)).checksum(&[body])
    };
    body[at..at + 2].copy_from_slice(&sum);
}

fn ports(p: u8) -> u16 {
    // A few ports so segments meet the listener, connections and nothing.
    [80, 7, 1024, 40000][usize::from(p % 4)]
}

fn tcp_packet(t: &TcpFields) -> Vec<u8> {
    let TcpFields {
        v6,
        sport,
        dport,
        seq,
        ack,
        flags,
        wnd,
        ref options,
        ref payload,
    } = *t;
    let (sport, dport) = (ports(sport), ports(dport));
    let opts = &options[..options.len().min(40) & !3];
    let mut tcp = Vec::with_capacity(20 + opts.len() + payload.len());
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.push((((20 + opts.len()) / 4) as u8) << 4);
    tcp.push(flags);
    tcp.extend_from_slice(&wnd.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(opts);
    tcp.extend_from_slice(&payload[..payload.len().min(1400)]);
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (PEER6.into(), US6.into())
    } else {
        (PEER.into(), US.into())
    };
    let sum = PseudoHeader::tcp(src, dst).checksum(&[&tcp]);
    tcp[16..18].copy_from_slice(&sum);
    if v6 {
        ipv6(6, &tcp)
    } else {
        ipv4(6, 0, 0, &tcp)
    }
}

fn ipv4(proto: u8, frag: u16, ident: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&PEER.octets());
    p.extend_from_slice(&US.octets());
    let sum = tunstack::wire::internet_checksum(&[&p]);
    p[10..12].copy_from_slice(&sum);
    p.extend_from_slice(payload);
    p
}

fn ipv6(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.extend_from_slice(&[next, 64]);
    p.extend_from_slice(&PEER6.octets());
    p.extend_from_slice(&US6.octets());
    p.extend_from_slice(payload);
    p
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let config = StackConfig {
        max_queued: MAX_QUEUED,
        tcp_limits: TcpLimits {
            mem_max: MEM_MAX,
            max_conns: Some(MAX_CONNS),
            max_conns_per_peer: None,
        },
        ..StackConfig::default()
    };
    let reassembly = config.reassembly;
    let max_time_wait = config.max_time_wait;
    let mut stack = Stack::new(config);
    stack.tcp_mut().listen(80, 8, None, 1).unwrap();
    let mut now = Instant::ZERO;
    let mut handles = Vec::new();
    let mut buf = vec![0u8; 65536];
    let (mut rx, mut tx, mut tx_bytes) = (0u64, 0u64, 0u64);
    for _ in 0..256 {
        let Ok(op) = next_op(&mut u) else { break };
        let packet = match op {
            Op::Raw(mut p, fix) => {
                if fix {
                    fix_checksums(&mut p);
                }
                Some(p)
            }
            Op::Tcp(t) => Some(tcp_packet(&t)),
            Op::Ip(i) => Some(ipv4(
                i.proto,
                i.frag,
                i.ident,
                &i.payload[..i.payload.len().min(1480)],
            )),
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms) * 16);
                None
            }
            Op::Timers => {
                if let Some(t) = stack.poll_timeout() {
                    now = now.max(t);
                }
                None
            }
            Op::Connect(p) => {
                let remote = SocketAddr::new(PEER.into(), ports(p));
                if let Ok(h) = stack.tcp_mut().connect(now, remote, None, 1) {
                    handles.push(h);
                }
                None
            }
            Op::Send(i, n) => {
                if let Some(&h) = handles.get(usize::from(i) % handles.len().max(1)) {
                    let _ = stack.tcp_mut().send(h, &vec![0x61; usize::from(n)]);
                }
                None
            }
            Op::Close(i) => {
                if let Some(&h) = handles.get(usize::from(i) % handles.len().max(1)) {
                    let _ = stack.tcp_mut().close(h);
                }
                None
            }
            Op::Abort(i) => {
                if let Some(&h) = handles.get(usize::from(i) % handles.len().max(1)) {
                    let _ = stack.tcp_mut().abort(h);
                }
                None
            }
        };
        if let Some(p) = packet {
            stack.handle_packet(now, &p);
            rx += 1;
        }
        stack.handle_timeout(now);
        while let Some(n) = stack.poll_transmit(now, &mut buf) {
            assert!(n > 0 && n <= 1500, "packet of {n} bytes over the MTU");
            tx += 1;
            tx_bytes += n as u64;
        }
        while let Some(StackEvent { event, .. }) = stack.poll_event() {
            match event {
                TcpEvent::Incoming { port } => {
                    while let Some(h) = stack.tcp_mut().accept(port) {
                        handles.push(h);
                    }
                }
                TcpEvent::Connection { handle, .. } => {
                    let mut data = [0u8; 4096];
                    while let Ok(k) = stack.tcp_mut().recv(handle, &mut data) {
                        if k == 0 {
                            break;
                        }
                        let _ = stack.tcp_mut().send(handle, &data[..k]);
                    }
                }
                _ => {}
            }
        }
        handles.retain(|h| stack.tcp().connection(*h).is_some());
        // Invariants.
        let c = stack.counters();
        assert_eq!(c.rx_packets, rx, "rx_packets");
        assert_eq!(c.tx_packets, tx, "tx_packets");
        assert_eq!(c.tx_bytes, tx_bytes, "tx_bytes");
        assert!(
            c.drops.total() <= rx + c.fragments_in + c.fragments6_in,
            "more drops than packets: {c:?}"
        );
        let (partial, held) = stack.reassembly_usage();
        assert!(
            partial <= reassembly.max_datagrams && held <= reassembly.max_bytes,
            "reassembly {partial} {held}"
        );
        let tcp = stack.tcp();
        assert!(
            tcp.memory().used() <= tcp.memory().max() + 64 * 1024,
            "memory {} of {}",
            tcp.memory().used(),
            tcp.memory().max()
        );
        assert!(tcp.time_wait_count() <= max_time_wait);
        assert!(
            tcp.len() <= MAX_CONNS + 8 + handles.len(),
            "{} connections",
            tcp.len()
        );
        for (_, conn) in tcp.connections() {
            let st = conn.stats();
            assert!(st.snd_una.before_eq(st.snd_nxt), "{st:?}");
        }
    }
});
