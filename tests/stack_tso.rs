//! TCP segmentation offload (issue 13, transmit): with `StackConfig::tso` new data leaves in
//! super-segments of up to 64 KB that the device cuts at the MSS. Offload must change how many
//! packets carry a burst, never the burst: each scenario runs twice, TSO on and off, and
//! the segments on the wire must be the same octet for octet.
//!
//! [`GsoSplit`] plays the kernel between each host and the wire: it cuts a super-segment
//! exactly as `tcp_gso_segment` with `inet_gso_segment`/`ipv6_gso_segment` do (pieces of
//! `gso_size`, the IP header copied with its length per piece, IPv4 identification + i and
//! its header checksum recomputed, SEQ + i × gso_size, FIN and PSH only on the last piece,
//! CWR only on the first, the partial checksum adjusted to the piece's length and completed,
//! and checked against one computed from scratch) and records every wire packet. Faults
//! sit under it, so loss, reordering and delay act on wire segments, as on a real path,
//! and with one seed act alike on both runs.

use etherparse::IpNumber;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tunstack::link::{
    ChecksumState, DirectionFaults, FaultSpec, Faults, Gso, Link, Memory, PacketDesc,
};
use tunstack::stack::{SocketHandle, Stack, StackConfig, StackEvent, TcpEvent};
use tunstack::tcp::{SeqNum, Stats};
use tunstack::time::{Duration, Instant};
use tunstack::wire::icmpv6::{self, ErrorMessage};
use tunstack::wire::ipv6::Ipv6Out;
use tunstack::wire::{PseudoHeader, internet_checksum};

#[path = "support/mod.rs"]
mod support;

use support::clock::Endpoint;
use support::clock::{self, AtLimit, Schedule, World};
use support::endpoints::{StackEnd, Way};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const A6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
/// A router on the path: the source of the Packet Too Big.
const ROUTER: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0xfe);
const PORT: u16 = 9;

const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// One super-segment as the device saw it.
#[derive(Clone, Debug)]
struct Super {
    /// SEG.SEQ of its first piece.
    #[allow(dead_code)]
    seq: u32,
    size: u16,
    pieces: usize,
    /// The last piece carried FIN.
    fin: bool,
    /// It started at or beyond the highest sequence number sent before: new data.
    new_data: bool,
}

/// One's-complement addition of 16-bit words (RFC 1071).
fn ones_add(a: u16, b: u16) -> u16 {
    let s = u32::from(a) + u32::from(b);
    ((s & 0xffff) + (s >> 16)) as u16
}

/// The kernel's side of a TUN device with TSO: splits super-segments, passes the rest.
struct GsoSplit {
    inner: Box<dyn Link>,
    /// Every packet put on the wire, after splitting.
    wire: Vec<Vec<u8>>,
    supers: Vec<Super>,
    /// The end of the highest sequence range sent so far (one connection per host).
    highest: Option<SeqNum>,
}

impl GsoSplit {
    fn new(inner: Box<dyn Link>) -> GsoSplit {
        GsoSplit {
            inner,
            wire: Vec::new(),
            supers: Vec::new(),
            highest: None,
        }
    }

    /// Cuts `packet` as `tcp_gso_segment` does; checks each piece's checksum.
    fn split(&mut self, packet: &[u8], size: u16, header_len: u16) -> Vec<Vec<u8>> {
        let size = usize::from(size);
        let v6 = packet[0] >> 4 == 6;
        let ihl = if v6 {
            40
        } else {
            usize::from(packet[0] & 0xf) * 4
        };
        let thl = usize::from(packet[ihl + 12] >> 4) * 4;
        let hl = ihl + thl;
        assert_eq!(usize::from(header_len), hl, "hdr_len = IP + TCP header");
        let payload = &packet[hl..];
        assert!(
            payload.len() > size,
            "a super-segment carries more than one piece"
        );
        if !v6 {
            assert_eq!(packet[6] & 0x40, 0x40, "DF on a super-segment");
            assert_eq!(
                usize::from(u16::from_be_bytes([packet[2], packet[3]])),
                packet.len()
            );
        } else {
            assert_eq!(
                usize::from(u16::from_be_bytes([packet[4], packet[5]])),
                packet.len() - 40
            );
        }
        let (src, dst): (IpAddr, IpAddr) = if v6 {
            let s: [u8; 16] = packet[8..24].try_into().unwrap();
            let d: [u8; 16] = packet[24..40].try_into().unwrap();
            (Ipv6Addr::from(s).into(), Ipv6Addr::from(d).into())
        } else {
            let s: [u8; 4] = packet[12..16].try_into().unwrap();
            let d: [u8; 4] = packet[16..20].try_into().unwrap();
            (Ipv4Addr::from(s).into(), Ipv4Addr::from(d).into())
        };
        let pseudo = PseudoHeader::new(src, dst, IpNumber::TCP);
        let partial = u16::from_be_bytes([packet[ihl + 16], packet[ihl + 17]]);
        // The partial sum covers the whole super-segment's TCP length.
        let mut zeros = packet[ihl..].to_vec();
        zeros.iter_mut().for_each(|b| *b = 0);
        assert_eq!(
            !u16::from_be_bytes(pseudo.checksum(&[&zeros])),
            partial,
            "the checksum field holds the pseudo-header sum over the whole length"
        );
        let total_tcp = (packet.len() - ihl) as u16;
        let seq = u32::from_be_bytes(packet[ihl + 4..ihl + 8].try_into().unwrap());
        let ident = u16::from_be_bytes([packet[4], packet[5]]);
        let n = payload.len().div_ceil(size);
        let mut out = Vec::new();
        for (i, chunk) in payload.chunks(size).enumerate() {
            let mut p = packet[..hl].to_vec();
            p.extend_from_slice(chunk);
            if v6 {
                p[4..6].copy_from_slice(&((thl + chunk.len()) as u16).to_be_bytes());
            } else {
                let len = p.len() as u16;
                p[2..4].copy_from_slice(&len.to_be_bytes());
                p[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
                p[10..12].copy_from_slice(&[0, 0]);
                let sum = internet_checksum(&[&p[..20]]);
                p[10..12].copy_from_slice(&sum);
            }
            let piece_seq = seq.wrapping_add((i * size) as u32);
            p[ihl + 4..ihl + 8].copy_from_slice(&piece_seq.to_be_bytes());
            if i + 1 < n {
                p[ihl + 13] &= !(FIN | PSH);
            }
            if i > 0 {
                p[ihl + 13] &= !CWR;
            }
            // tcp_gso_segment: the pseudo-header sum moves from the whole length to the
            // piece's; the device then sums the piece over it.
            let piece_tcp = (thl + chunk.len()) as u16;
            let adjusted = ones_add(ones_add(partial, !total_tcp), piece_tcp);
            p[ihl + 16..ihl + 18].copy_from_slice(&adjusted.to_be_bytes());
            let sum = internet_checksum(&[&p[ihl..]]);
            p[ihl + 16..ihl + 18].copy_from_slice(&sum);
            let mut scratch = p[ihl..].to_vec();
            scratch[16..18].copy_from_slice(&[0, 0]);
            assert_eq!(pseudo.checksum(&[&scratch]), sum, "piece {i}'s checksum");
            out.push(p);
        }
        self.supers.push(Super {
            seq,
            size: size as u16,
            pieces: n,
            fin: out.last().unwrap()[ihl + 13] & FIN != 0,
            new_data: self.highest.is_none_or(|h| SeqNum(seq).after_eq(h)),
        });
        out
    }

    /// Keeps `highest` up to date from a wire packet.
    fn note_sent(&mut self, p: &[u8]) {
        let ihl = if p[0] >> 4 == 6 {
            40
        } else {
            usize::from(p[0] & 0xf) * 4
        };
        let thl = usize::from(p[ihl + 12] >> 4) * 4;
        let seq = SeqNum(u32::from_be_bytes(p[ihl + 4..ihl + 8].try_into().unwrap()));
        let flags = p[ihl + 13];
        let end = seq + (p.len() - ihl - thl) as u32 + u32::from(flags & (FIN | 0x02) != 0);
        if self.highest.is_none_or(|h| end.after(h)) {
            self.highest = Some(end);
        }
    }
}

impl Link for GsoSplit {
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        self.inner.recv(now, buf)
    }

    fn send(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        assert_eq!(desc.len, packet.len());
        let pieces = match desc.gso {
            Gso::Tcp { size, header_len } => {
                let ip = if packet[0] >> 4 == 6 { 40 } else { 20 };
                assert_eq!(
                    desc.checksum,
                    ChecksumState::Partial {
                        start: ip,
                        offset: 16
                    },
                    "a super-segment's checksum is partial"
                );
                self.split(packet, size, header_len)
            }
            Gso::None => {
                assert_eq!(
                    desc,
                    PacketDesc::plain(packet.len()),
                    "plain packets are plain"
                );
                vec![packet.to_vec()]
            }
            Gso::Udp { .. } => panic!("the stack never sends a UDP super-datagram"),
        };
        for p in pieces {
            let proto = if p[0] >> 4 == 6 { p[6] } else { p[9] };
            if proto == 6 {
                self.note_sent(&p);
            }
            self.inner.send_plain(now, &p)?;
            self.wire.push(p);
        }
        Ok(())
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush(now)
    }
}

struct Host {
    stack: Stack,
    link: GsoSplit,
    events: Vec<StackEvent>,
    buf: Vec<u8>,
}

impl Host {
    fn new(addr: Ipv4Addr, addr6: Ipv6Addr, tso: bool, link: Box<dyn Link>) -> Host {
        let mut secret = [7u8; 16];
        secret[0] = addr.octets()[3];
        Host {
            stack: Stack::new(StackConfig {
                addr,
                addr6: Some(addr6),
                isn_secret: secret,
                tso,
                ..StackConfig::default()
            }),
            link: GsoSplit::new(link),
            events: Vec::new(),
            buf: vec![0; 65_535],
        }
    }

    fn poll(&mut self, now: Instant) -> bool {
        StackEnd {
            stack: &mut self.stack,
            link: &mut self.link,
            buf: &mut self.buf,
            events: &mut self.events,
            tap: |_: Way, _: Instant, _: &[u8]| {},
        }
        .poll(now)
    }

    fn poll_at(&self) -> Option<Instant> {
        Instant::min_opt(self.stack.poll_timeout(), self.link.poll_at())
    }
}

/// One side's application: writes its data `write` octets at a time (as often as the send
/// buffer takes them, at most 64 writes a turn), closes once all is queued, reads all.
struct App {
    data: Vec<u8>,
    sent: usize,
    write: usize,
    got: Vec<u8>,
    eof: bool,
    closed: bool,
    /// The connection's counters when last seen.
    stats: Option<Stats>,
}

impl App {
    fn new(len: usize, write: usize, seed: usize) -> App {
        App {
            data: (0..len)
                .map(|i| ((i * seed + i / 977) % 251) as u8)
                .collect(),
            sent: 0,
            write,
            got: Vec::new(),
            eof: false,
            closed: false,
            stats: None,
        }
    }

    fn turn(&mut self, stack: &mut Stack, h: SocketHandle) {
        let tcp = stack.tcp_mut();
        for _ in 0..64 {
            if self.sent == self.data.len() {
                break;
            }
            let end = (self.sent + self.write).min(self.data.len());
            match tcp.send(h, &self.data[self.sent..end]) {
                Ok(0) | Err(_) => break,
                Ok(n) => self.sent += n,
            }
        }
        if self.sent == self.data.len() && !self.closed {
            let _ = tcp.close(h);
            self.closed = true;
        }
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match tcp.recv(h, &mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if let Some(c) = tcp.connection(h) {
            self.stats = Some(c.stats());
        }
    }
}

/// What a scenario is.
#[derive(Clone, Debug)]
struct Case {
    v6: bool,
    /// Octets A sends, and B (0: one way).
    a_len: usize,
    b_len: usize,
    /// Octets per application write.
    write: usize,
    nodelay: bool,
    /// On A's end of the wire (rx: B → A, tx: A → B), under the splitter.
    faults: FaultSpec,
    /// A Packet Too Big (1280) reaches A once 1 MiB is acknowledged (IPv6).
    packet_too_big: bool,
}

impl Case {
    fn bulk(v6: bool, nodelay: bool) -> Case {
        Case {
            v6,
            a_len: 4 << 20,
            b_len: 0,
            write: 1 << 20,
            nodelay,
            faults: FaultSpec::default(),
            packet_too_big: false,
        }
    }
}

struct Run {
    a_wire: Vec<Vec<u8>>,
    b_wire: Vec<Vec<u8>>,
    a_supers: Vec<Super>,
    b_supers: Vec<Super>,
    a_stats: Stats,
    b_stats: Stats,
    a_tx_packets: u64,
    a_tx_super_segments: u64,
    /// A's send MSS (payload octets of a full segment without SACK blocks).
    a_mss: usize,
}

struct Tso {
    a: Host,
    b: Host,
    now: Instant,
    steps: u64,
}

impl World for Tso {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }
    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }
    fn schedule(&self) -> Schedule {
        Schedule {
            at_limit: AtLimit::Stop,
            ..Schedule::default()
        }
    }
    fn round(&mut self, now: Instant) -> bool {
        let a = self.a.poll(now);
        let b = self.b.poll(now);
        a || b
    }
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        // The applications write on every step; give them one at least every millisecond.
        let next = Instant::min_opt(self.a.poll_at(), self.b.poll_at());
        Some(next.map_or(now + Duration::from_millis(1), |t| {
            t.min(now + Duration::from_millis(1))
        }))
    }
}

/// Runs `case` with TSO on or off; asserts that the data arrived exact both ways.
fn run(case: &Case, tso: bool) -> Run {
    let (la, lb) = Memory::pair();
    let mut w = Tso {
        a: Host::new(A, A6, tso, Box::new(Faults::new(la, case.faults.clone()))),
        b: Host::new(B, B6, tso, Box::new(lb)),
        now: Instant::from_secs(1),
        steps: 0,
    };
    w.b.stack.tcp_mut().listen(PORT, 4, None, 0).unwrap();
    let server: IpAddr = if case.v6 { B6.into() } else { B.into() };
    let now = w.now;
    let c =
        w.a.stack
            .tcp_mut()
            .connect(now, SocketAddr::new(server, PORT), None, 0)
            .unwrap();
    assert!(clock::run_until(&mut w, Duration::from_secs(5), |w| {
        w.b.events
            .iter()
            .any(|e| e.event == TcpEvent::Incoming { port: PORT })
    }));
    let s = w.b.stack.tcp_mut().accept(PORT).expect("a connection");
    for (stack, h) in [(&mut w.a.stack, c), (&mut w.b.stack, s)] {
        stack
            .tcp_mut()
            .connection_mut(h)
            .unwrap()
            .set_nodelay(case.nodelay);
    }
    let mut app_a = App::new(case.a_len, case.write, 31);
    let mut app_b = App::new(case.b_len, case.write, 17);
    let start = w.a.stack.tcp().connection(c).unwrap().stats().snd_una;
    let mut too_big_sent = !case.packet_too_big;
    let done = clock::run_until(&mut w, Duration::from_secs(300), |w| {
        app_a.turn(&mut w.a.stack, c);
        app_b.turn(&mut w.b.stack, s);
        if !too_big_sent
            && let Some(conn) = w.a.stack.tcp().connection(c)
            && conn.stats().snd_una.distance(start) >= 1 << 20
            && conn.snd_max() != conn.stats().snd_una
        {
            let quoted = w.a.link.wire.last().unwrap().clone();
            let mut message = vec![0; icmpv6::ERROR_MAX_LEN];
            let n = icmpv6::emit_error(
                PseudoHeader::icmpv6(ROUTER, A6),
                ErrorMessage::PacketTooBig { mtu: 1280 },
                &quoted,
                &mut message,
            );
            let out = Ipv6Out {
                src: ROUTER,
                dst: A6,
                next_header: IpNumber::IPV6_ICMP,
                hop_limit: 64,
                dscp: 0,
                flow_label: 0,
            };
            let mut p = vec![0; 40 + n];
            out.emit_header(n, &mut p);
            p[40..].copy_from_slice(&message[..n]);
            let now = w.now;
            w.a.stack.handle_packet(now, &p);
            too_big_sent = true;
        }
        app_a.eof && app_b.eof && app_b.got.len() == case.a_len && app_a.got.len() == case.b_len
    });
    assert!(
        done,
        "transfer did not finish (tso {tso}): B got {} of {}, A got {} of {}",
        app_b.got.len(),
        case.a_len,
        app_a.got.len(),
        case.b_len
    );
    assert!(
        app_b.got == app_a.data,
        "B received A's bytes exactly (tso {tso})"
    );
    assert!(
        app_a.got == app_b.data,
        "A received B's bytes exactly (tso {tso})"
    );
    assert!(too_big_sent, "the Packet Too Big went out mid-transfer");
    let a_stats = app_a.stats.clone().expect("A's connection was seen");
    // Timestamps ride on every segment: 12 octets of options.
    let a_mss = w.a.stack.config().mtu - if case.v6 { 40 } else { 20 } - 20 - 12;
    Run {
        a_wire: std::mem::take(&mut w.a.link.wire),
        b_wire: std::mem::take(&mut w.b.link.wire),
        a_supers: std::mem::take(&mut w.a.link.supers),
        b_supers: std::mem::take(&mut w.b.link.supers),
        a_stats,
        b_stats: app_b.stats.clone().expect("B's connection was seen"),
        a_tx_packets: w.a.stack.counters().tx_packets,
        a_tx_super_segments: w.a.stack.counters().tx_super_segments,
        a_mss,
    }
}

/// A short description of a wire packet, for failure messages.
fn describe(p: &[u8]) -> String {
    let ihl = if p[0] >> 4 == 6 {
        40
    } else {
        usize::from(p[0] & 0xf) * 4
    };
    let t = &p[ihl..];
    let thl = usize::from(t[12] >> 4) * 4;
    format!(
        "len {} seq {} ack {} flags {:#04x} wnd {} opts {:02x?} data {}",
        p.len(),
        u32::from_be_bytes(t[4..8].try_into().unwrap()),
        u32::from_be_bytes(t[8..12].try_into().unwrap()),
        t[13],
        u16::from_be_bytes([t[14], t[15]]),
        &t[20..thl],
        t.len() - thl
    )
}

#[track_caller]
fn assert_same_wire(what: &str, tso: &[Vec<u8>], plain: &[Vec<u8>]) {
    if let Some(i) = (0..tso.len().min(plain.len())).find(|&i| tso[i] != plain[i]) {
        panic!(
            "{what}: wire packet {i} differs\n  tso:   {}\n  plain: {}",
            describe(&tso[i]),
            describe(&plain[i])
        );
    }
    assert_eq!(tso.len(), plain.len(), "{what}: wire packets");
}

/// Runs `case` both ways and checks the wire, the counters and the super-segments; returns
/// the TSO run.
#[track_caller]
fn compare(case: &Case) -> Run {
    let on = run(case, true);
    let off = run(case, false);
    assert_same_wire("A → B", &on.a_wire, &off.a_wire);
    assert_same_wire("B → A", &on.b_wire, &off.b_wire);
    for (name, t, p) in [
        ("A", &on.a_stats, &off.a_stats),
        ("B", &on.b_stats, &off.b_stats),
    ] {
        assert_eq!(
            (t.bytes_out, t.segments_out, t.retransmits),
            (p.bytes_out, p.segments_out, p.retransmits),
            "{name}'s counters (bytes_out, segments_out, retransmits)"
        );
    }
    assert!(
        off.a_supers.is_empty() && off.b_supers.is_empty(),
        "TSO off: plain only"
    );
    assert_eq!(off.a_tx_super_segments, 0);
    // TSO on: one packet per super-segment on the device, all wire segments counted by TCP.
    let folded: usize = on.a_supers.iter().map(|s| s.pieces - 1).sum();
    assert_eq!(on.a_tx_super_segments, on.a_supers.len() as u64);
    assert_eq!(on.a_tx_packets as usize + folded, on.a_wire.len());
    assert_eq!(off.a_tx_packets as usize, off.a_wire.len());
    for s in on.a_supers.iter().chain(&on.b_supers) {
        assert!(s.new_data, "a super-segment resent data: {s:?}");
        assert!(
            usize::from(s.size) <= on.a_mss,
            "gso_size within the MSS: {s:?}"
        );
    }
    on
}

#[test]
fn tso_bulk_ipv4_and_ipv6_with_and_without_nagle_is_the_plain_stream() {
    for v6 in [false, true] {
        for nodelay in [false, true] {
            let on = compare(&Case::bulk(v6, nodelay));
            assert!(
                on.a_supers.len() > 10,
                "super-segments were built (v6 {v6}, nodelay {nodelay})"
            );
            let longest = on.a_supers.iter().map(|s| s.pieces).max().unwrap();
            assert!(
                longest >= 40,
                "64 KB super-segments: {longest} pieces at most"
            );
            assert!(
                on.a_supers.iter().all(|s| usize::from(s.size) == on.a_mss),
                "gso_size is the send MSS (no SACK blocks on one-way data)"
            );
        }
    }
}

/// RFC 9293 §3.7.4: Nagle and sender SWS avoidance judge the tail of a burst exactly as
/// they would judge the last plain segment, for every application write size.
#[test]
fn tso_application_write_sizes_leave_the_same_segments() {
    for write in [1, 100, 1459, 1460, 1461, 100_000] {
        for nodelay in [false, true] {
            let case = Case {
                a_len: (write * 4000).min(2 << 20),
                write,
                ..Case::bulk(false, nodelay)
            };
            compare(&case);
        }
    }
}

/// The FIN rides on the last piece of a super-segment when the stream ends in a burst (the
/// short tail goes at once: with `nodelay`, and with Nagle too by Minshall's refinement,
/// since the full pieces before it are not short segments; as on the plain path); the
/// device clears FIN and PSH on the other pieces.
#[test]
fn tso_fin_at_the_end_of_a_burst() {
    for nodelay in [false, true] {
        let case = Case {
            a_len: 2_000_000,
            write: 100_000,
            ..Case::bulk(false, nodelay)
        };
        let on = compare(&case);
        let last = on.a_supers.last().expect("super-segments");
        assert!(last.fin, "the last super-segment ends the stream: {last:?}");
        assert_eq!(on.a_supers.iter().filter(|s| s.fin).count(), 1);
    }
}

/// RFC 2018: with data held out of order, A's data segments carry SACK blocks, which take
/// room from the payload: `gso_size` is what fits with those options, below the MSS.
#[test]
fn tso_sack_blocks_on_data_shrink_gso_size() {
    let faults = FaultSpec {
        rx: DirectionFaults {
            reorder: 0.05,
            reorder_delay: Duration::from_millis(3),
            delay: Duration::from_millis(1),
            ..DirectionFaults::default()
        },
        tx: DirectionFaults {
            delay: Duration::from_millis(1),
            ..DirectionFaults::default()
        },
        seed: 3,
    };
    let case = Case {
        a_len: 4 << 20,
        b_len: 4 << 20,
        faults,
        ..Case::bulk(false, false)
    };
    let on = compare(&case);
    assert!(
        on.a_supers.iter().any(|s| usize::from(s.size) < on.a_mss),
        "a super-segment carried SACK blocks"
    );
    assert!(!on.b_supers.is_empty(), "B sent super-segments too");
}

/// RFC 8201: a Packet Too Big mid-transfer lowers the MSS; what follows is resent plain
/// (go-back-N) and new data is cut at the new, smaller MSS.
#[test]
fn tso_packet_too_big_mid_transfer() {
    let case = Case {
        packet_too_big: true,
        faults: FaultSpec::symmetric(
            DirectionFaults {
                delay: Duration::from_millis(2),
                ..DirectionFaults::default()
            },
            1,
        ),
        ..Case::bulk(true, false)
    };
    let on = compare(&case);
    let last = on.a_supers.last().expect("super-segments");
    assert_eq!(
        usize::from(last.size),
        1280 - 40 - 20 - 12,
        "cut at the new MSS"
    );
    assert!(on.a_wire.iter().all(|p| p.len() <= 1500));
}

/// 2% loss each way, one seed: the same wire segments both ways, the data exact, and no
/// retransmission ever leaves as a super-segment.
#[test]
fn tso_two_percent_loss_fixed_seed() {
    for v6 in [false, true] {
        let case = Case {
            a_len: 4 << 20,
            b_len: 1 << 20,
            faults: FaultSpec::symmetric(
                DirectionFaults {
                    loss: 0.02,
                    delay: Duration::from_millis(2),
                    ..DirectionFaults::default()
                },
                11,
            ),
            ..Case::bulk(v6, false)
        };
        let on = compare(&case);
        assert!(
            on.a_stats.retransmits > 10,
            "loss was repaired: {:?}",
            on.a_stats
        );
        assert!(on.a_supers.len() > 10);
    }
}
