//! Receive offload (issue 13): the stack fed TCP super-segments the way an offload device
//! (`IFF_VNET_HDR` with `TUN_F_TSO4/6`) hands them over: one IP + TCP header in front of up
//! to 64 KB, the checksum field holding only the pseudo-header sum (virtio `NEEDS_CSUM`),
//! and a descriptor saying so. The peer is played by hand, like the kernel's TCP: in order,
//! out of order, over the window's edge, with a lost super-segment repaired by ordinary
//! segments. Each super-segment must reach TCP whole (one segment in), draw its ACK at once,
//! and the bytes must come out exact. Sequence numbers start just below 2^32, so the runs
//! cross the wrap.

use etherparse::IpNumber;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use tunstack::link::{ChecksumState, Gso, PacketDesc};
use tunstack::stack::{SocketHandle, Stack, StackConfig};
use tunstack::tcp::{Ctl, SeqNum};
use tunstack::time::Instant;
use tunstack::wire::ipv4::{self, Ipv4Out};
use tunstack::wire::tcp::{Options, Segment};
use tunstack::wire::{DropReason, PseudoHeader};

const K: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const K6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);
const PORT: u16 = 9;
const KPORT: u16 = 40_000;
/// The kernel's ISN: 4096 octets below the wrap.
const K_ISS: u32 = 0xffff_f000;
/// The MSS we announce at MTU 1500 over IPv4 (no timestamps offered by K).
const MSS: u16 = 1460;
/// A full super-segment's payload: 43 segments of 1460 (the kernel's 64 KB limit).
const SUPER: usize = 43 * MSS as usize;

/// What the kernel sends at offset `i` of the stream (not periodic in 64 KB, so a
/// misplaced super-segment shows).
fn byte_at(i: usize) -> u8 {
    ((i * 7 + i / 1000) % 251) as u8
}

/// An ACK we sent, as the kernel reads it.
#[derive(Debug)]
struct Ack {
    ack: u32,
    wnd: u32,
    sack: Vec<(u32, u32)>,
}

struct Peer {
    stack: Stack,
    now: Instant,
    conn: Option<SocketHandle>,
    ipv6: bool,
    /// SND.NXT of the kernel side's first data octet.
    data_start: u32,
    our_ack: u32,
    wscale: u8,
    received: Vec<u8>,
}

impl Peer {
    /// A stack listening on port 9 and the handshake from the kernel side (MSS 1460,
    /// window scale 7, SACK permitted, no timestamps).
    fn connected(ipv6: bool) -> Peer {
        let mut stack = Stack::new(StackConfig::default());
        stack.tcp_mut().listen(PORT, 4, None, 0).unwrap();
        let mut p = Peer {
            stack,
            now: Instant::from_secs(1),
            conn: None,
            ipv6,
            data_start: K_ISS.wrapping_add(1),
            our_ack: 0,
            wscale: 0,
            received: Vec::new(),
        };
        let syn = Segment {
            seq: SeqNum(K_ISS),
            ctl: Ctl::SYN,
            wnd: 65_535,
            options: Options {
                mss: Some(if ipv6 { MSS - 20 } else { MSS }),
                window_scale: Some(7),
                sack_permitted: true,
                ..Options::default()
            },
            ..Segment::default()
        };
        p.deliver(&syn, ChecksumState::Unverified, Gso::None);
        let synack = p.drain_segments().pop().expect("SYN-ACK");
        assert!(synack.ctl.contains(Ctl::SYN) && synack.ack.0 == K_ISS.wrapping_add(1));
        p.wscale = synack
            .options
            .window_scale
            .expect("we offer window scaling");
        p.our_ack = synack.seq.0.wrapping_add(1);
        let ack = p.data(0, 0);
        p.deliver(&ack, ChecksumState::Unverified, Gso::None);
        assert!(
            p.drain_segments().is_empty(),
            "nothing to answer the ACK with"
        );
        p.conn = Some(p.stack.tcp_mut().accept(PORT).expect("established"));
        p
    }

    fn mss(&self) -> usize {
        usize::from(if self.ipv6 { MSS - 20 } else { MSS })
    }

    /// The kernel's data segment for stream offsets `from..to`.
    fn data(&self, from: usize, to: usize) -> Segment {
        let payload: Vec<u8> = (from..to).map(byte_at).collect();
        Segment {
            seq: SeqNum(self.data_start.wrapping_add(from as u32)),
            ack: SeqNum(self.our_ack),
            ctl: Ctl::ACK,
            wnd: 4096,
            payload: payload.into(),
            ..Segment::default()
        }
    }

    /// The IP packet of `seg` with a correct checksum, and with the partial one a
    /// NEEDS_CSUM packet carries (only the pseudo-header sum).
    fn packets(&self, seg: &Segment) -> (Vec<u8>, Vec<u8>) {
        let (src, dst): (IpAddr, IpAddr) = if self.ipv6 {
            (K6.into(), B6.into())
        } else {
            (K.into(), B.into())
        };
        let pseudo = PseudoHeader::new(src, dst, IpNumber::TCP);
        let mut tcp = vec![0u8; seg.wire_len()];
        seg.emit(pseudo, KPORT, PORT, &mut tcp);
        let ip = if self.ipv6 { 40 } else { 20 };
        let mut full = vec![0u8; ip + tcp.len()];
        if self.ipv6 {
            full[0] = 0x60;
            full[4..6].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
            full[6] = 6;
            full[7] = 64;
            full[8..24].copy_from_slice(&K6.octets());
            full[24..40].copy_from_slice(&B6.octets());
        } else {
            let out = Ipv4Out {
                src: K,
                dst: B,
                protocol: IpNumber::TCP,
                ttl: 64,
                dscp: 0,
                ident: 1,
                dont_fragment: true,
            };
            out.emit_header(tcp.len(), &mut full);
        }
        full[ip..].copy_from_slice(&tcp);
        // NEEDS_CSUM: the complement of the sum of a segment of zeros is the pseudo-header
        // sum over this length, which is what the kernel leaves in the field.
        let mut partial = full.clone();
        let zeros = vec![0u8; tcp.len()];
        let pseudo_only = !u16::from_be_bytes(pseudo.checksum(&[&zeros]));
        partial[ip + 16..ip + 18].copy_from_slice(&pseudo_only.to_be_bytes());
        (full, partial)
    }

    /// Hands `seg` to the stack as an offload device would describe it.
    fn deliver(&mut self, seg: &Segment, checksum: ChecksumState, gso: Gso) {
        let (full, partial) = self.packets(seg);
        let packet = match checksum {
            ChecksumState::Partial { .. } => partial,
            _ => full,
        };
        let desc = PacketDesc {
            len: packet.len(),
            checksum,
            gso,
        };
        self.stack.handle_packet_desc(self.now, &packet, desc);
    }

    /// Stream offsets `from..to` as one super-segment (NEEDS_CSUM, TCPV4/6).
    fn deliver_super(&mut self, from: usize, to: usize) {
        let ip = if self.ipv6 { 40 } else { 20 };
        let gso = Gso::Tcp {
            size: self.mss() as u16,
            header_len: ip + 20,
        };
        let csum = ChecksumState::Partial {
            start: ip,
            offset: 16,
        };
        let seg = self.data(from, to);
        self.deliver(&seg, csum, gso);
    }

    /// Everything the stack sends now, as TCP segments (IPv4 or IPv6 as connected).
    fn drain_segments(&mut self) -> Vec<Segment> {
        let mut buf = vec![0u8; 65_535];
        let mut out = Vec::new();
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            let p = &buf[..n];
            let (pseudo, tcp) = if self.ipv6 {
                (PseudoHeader::tcp(B6, K6), &p[40..])
            } else {
                let ip = ipv4::parse(p).expect("valid IPv4");
                (PseudoHeader::tcp(B, K), ip.payload())
            };
            let (sport, dport, seg) = Segment::parse(pseudo, tcp).expect("valid TCP");
            assert_eq!((sport, dport), (PORT, KPORT));
            out.push(seg);
        }
        while self.stack.poll_event().is_some() {}
        out
    }

    /// The ACKs the stack sends now, relative to the start of the stream.
    fn acks(&mut self) -> Vec<Ack> {
        let (start, wscale) = (self.data_start, self.wscale);
        self.drain_segments()
            .into_iter()
            .map(|s| {
                assert!(s.payload.is_empty(), "discard sends no data");
                Ack {
                    ack: s.ack.0.wrapping_sub(start),
                    wnd: u32::from(s.wnd) << wscale,
                    sack: s
                        .options
                        .sack
                        .as_slice()
                        .iter()
                        .map(|(l, r)| (l.0.wrapping_sub(start), r.0.wrapping_sub(start)))
                        .collect(),
                }
            })
            .collect()
    }

    /// The application reads everything that is ready.
    fn read_all(&mut self) {
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match self.stack.tcp_mut().recv(self.conn.unwrap(), &mut buf) {
                Ok(0) | Err(_) => break, // nothing more now (WouldBlock)
                Ok(n) => n,
            };
            self.received.extend_from_slice(&buf[..n]);
        }
    }

    #[track_caller]
    fn assert_received(&self, len: usize) {
        assert_eq!(self.received.len(), len);
        let bad = (0..len).find(|&i| self.received[i] != byte_at(i));
        assert_eq!(bad, None, "first wrong octet");
    }

    fn tcp_segments_in(&self) -> u64 {
        self.stack
            .tcp()
            .connection(self.conn.unwrap())
            .unwrap()
            .stats()
            .segments_in
    }
}

#[test]
fn super_segments_in_order_reach_tcp_whole_and_draw_one_ack_each() {
    for ipv6 in [false, true] {
        let mut p = Peer::connected(ipv6);
        let sup = 43 * p.mss();
        let before = p.tcp_segments_in();
        for i in 0..16 {
            p.deliver_super(i * sup, (i + 1) * sup);
            let acks = p.acks();
            // MUST-40/SHLD-19 with offload: one ACK for the super-segment, at once (it
            // stands for 43 full-sized segments), covering all of it.
            assert_eq!(acks.len(), 1, "super-segment {i}: {acks:?}");
            assert_eq!(acks[0].ack as usize, (i + 1) * sup);
            p.read_all();
        }
        assert_eq!(p.tcp_segments_in() - before, 16, "never split");
        p.assert_received(16 * sup);
        assert_eq!(
            p.stack.counters().drops.total(),
            0,
            "partial checksums are not failed"
        );
    }
}

#[test]
fn a_super_segment_out_of_order_is_held_sacked_and_delivered_when_the_gap_fills() {
    let mut p = Peer::connected(false);
    p.deliver_super(SUPER, 2 * SUPER);
    let acks = p.acks();
    // RFC 5681 §4.2 / RFC 2018: an immediate duplicate ACK whose first SACK block is the
    // whole super-segment.
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].ack, 0);
    assert_eq!(acks[0].sack, vec![(SUPER as u32, 2 * SUPER as u32)]);
    p.deliver_super(3 * SUPER / 2 + 100, 5 * SUPER / 2); // overlaps the held one
    let acks = p.acks();
    assert_eq!(acks[0].sack, vec![(SUPER as u32, (5 * SUPER / 2) as u32)]);
    p.read_all();
    assert!(p.received.is_empty());
    p.deliver_super(0, SUPER);
    let acks = p.acks();
    assert_eq!(acks.len(), 1, "the gap fill is ACKed at once");
    assert_eq!(acks[0].ack as usize, 5 * SUPER / 2);
    assert!(acks[0].sack.is_empty());
    p.read_all();
    p.assert_received(5 * SUPER / 2);
}

#[test]
fn a_super_segment_over_the_window_edge_is_trimmed_to_the_window() {
    let mut p = Peer::connected(false);
    // The application does not read: fill the window with super-segments.
    let mut sent = 0usize;
    let mut window_end;
    loop {
        p.deliver_super(sent, sent + SUPER);
        let ack = p.acks().pop().expect("an ACK per super-segment");
        window_end = ack.ack as usize + ack.wnd as usize;
        sent = ack.ack as usize;
        if window_end < sent + SUPER {
            break;
        }
    }
    // This one straddles the right edge: the part inside is taken, the rest trimmed, and
    // the ACK says so at once (RFC 9293 §3.10.7.4: trimmed to the window).
    assert!(window_end > sent, "window still open: {sent} {window_end}");
    p.deliver_super(sent, sent + SUPER);
    let ack = p
        .acks()
        .pop()
        .expect("an ACK for the trimmed super-segment");
    assert_eq!(ack.ack as usize, window_end, "accepted up to the edge");
    assert_eq!(ack.wnd, 0);
    // The application reads; the window reopens; the kernel resends the trimmed tail.
    p.read_all();
    let update = p
        .acks()
        .pop()
        .expect("a window update once the buffer drains");
    assert!(update.wnd as usize >= SUPER);
    p.deliver_super(window_end, sent + SUPER);
    assert_eq!(p.acks().pop().unwrap().ack as usize, sent + SUPER);
    p.read_all();
    p.assert_received(sent + SUPER);
}

#[test]
fn a_lost_super_segment_is_repaired_by_ordinary_segments() {
    let mut p = Peer::connected(false);
    // The first super-segment is lost; the next two arrive and are SACKed.
    p.deliver_super(SUPER, 2 * SUPER);
    let mut acks = p.acks();
    p.deliver_super(2 * SUPER, 3 * SUPER);
    acks.extend(p.acks());
    assert_eq!(acks.len(), 2, "a duplicate ACK for each");
    assert!(acks.iter().all(|a| a.ack == 0));
    assert_eq!(acks[1].sack[0], (SUPER as u32, 3 * SUPER as u32));
    p.read_all();
    assert!(p.received.is_empty());
    // The kernel retransmits the hole as it would: MSS-sized segments, checksums complete.
    let mss = p.mss();
    let mut off = 0;
    while off < SUPER {
        let end = (off + mss).min(SUPER);
        let seg = p.data(off, end);
        p.deliver(&seg, ChecksumState::Unverified, Gso::None);
        off = end;
    }
    let last = p.acks().pop().expect("ACK");
    assert_eq!(last.ack as usize, 3 * SUPER);
    assert!(last.sack.is_empty());
    p.read_all();
    p.assert_received(3 * SUPER);
}

#[test]
fn the_checksum_is_skipped_only_when_the_descriptor_says_the_device_did_it() {
    let mut p = Peer::connected(false);
    let seg = p.data(0, 1000);
    let (full, partial) = p.packets(&seg);
    let plain = PacketDesc::plain(partial.len());
    // A partial checksum on a packet described as plain is a bad checksum (MUST-3)...
    p.stack.handle_packet_desc(p.now, &partial, plain);
    assert_eq!(p.stack.counters().drops.get(DropReason::TcpBadChecksum), 1);
    assert!(p.acks().is_empty());
    // ...and so is a corrupted one.
    let mut corrupt = full.clone();
    corrupt[100] ^= 1;
    p.stack.handle_packet(p.now, &corrupt);
    assert_eq!(p.stack.counters().drops.get(DropReason::TcpBadChecksum), 2);
    // DATA_VALID: the device verified it, so it is not summed again.
    let verified = PacketDesc {
        checksum: ChecksumState::Verified,
        ..PacketDesc::plain(full.len())
    };
    p.stack.handle_packet_desc(p.now, &full, verified);
    p.read_all();
    p.assert_received(1000);
}

#[test]
fn a_short_super_segment_is_acked_at_once_too() {
    // Two segments' worth (one full, one short): less than two full-sized segments of data,
    // but a super-segment: its ACK goes at once, not after the delayed-ACK timeout.
    let mut p = Peer::connected(false);
    let len = usize::from(MSS) + 500;
    p.deliver_super(0, len);
    let acks = p.acks();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0].ack as usize, len);
    // An ordinary segment of the same stream waits for a second one (delayed ACK).
    let seg = p.data(len, len + 100);
    p.deliver(&seg, ChecksumState::Unverified, Gso::None);
    assert!(
        p.acks().is_empty(),
        "one small in-order segment is ACKed later"
    );
    p.read_all();
    p.assert_received(len + 100);
}
