//! The record of the wire: every packet handed to either stack (after the faults), kept
//! in a pcap in memory and as segments in RFC notation.

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tunstack::link::PcapWriter;
use tunstack::tcp::Segment;
use tunstack::time::Instant;
use tunstack::wire::PseudoHeader;

/// A run's direction of travel, for the wire record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// smoltcp → us
    ToOurs,
    /// us → smoltcp
    ToSmol,
}

/// One packet as delivered to a stack (after the faults).
#[derive(Clone, Debug)]
pub struct Record {
    pub at: Instant,
    pub dir: Dir,
    /// `None`: the packet did not parse as IPv4+TCP or IPv6+TCP with a good checksum
    /// (corrupted).
    pub seg: Option<Segment>,
    pub payload_len: usize,
}

impl Record {
    pub fn line(&self) -> String {
        let arrow = match self.dir {
            Dir::ToOurs => "smoltcp -> ours",
            Dir::ToSmol => "ours -> smoltcp",
        };
        match &self.seg {
            // The record keeps no payload: print its length as `Display` would.
            Some(s) if self.payload_len > 0 => {
                format!("{} {arrow} {s}<DATA={}>", self.at, self.payload_len)
            }
            Some(s) => format!("{} {arrow} {s}", self.at),
            None => format!("{} {arrow} (corrupt, {} bytes)", self.at, self.payload_len),
        }
    }
}

/// Parses an IPv4+TCP or IPv6+TCP packet (no extension headers) into (src address, src
/// port, dst port, segment).
pub fn parse_packet(packet: &[u8]) -> Option<(IpAddr, u16, u16, Segment)> {
    let (src, dst, payload) = if packet.first()? >> 4 == 6 {
        let ip = tunstack::wire::ipv6::parse(packet).ok()?;
        if ip.next_header() != etherparse::IpNumber::TCP {
            return None;
        }
        (IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()), ip.payload())
    } else {
        let ip = tunstack::wire::ipv4::parse(packet).ok()?;
        if ip.protocol() != etherparse::IpNumber::TCP {
            return None;
        }
        (IpAddr::V4(ip.src()), IpAddr::V4(ip.dst()), ip.payload())
    };
    let (sp, dp, seg) = Segment::parse(PseudoHeader::tcp(src, dst), payload).ok()?;
    Some((src, sp, dp, seg))
}

#[derive(Clone, Default)]
pub(super) struct Sink(pub(super) Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The capture and the record of the wire, shared by both delivery points.
pub struct Tap {
    pcap: PcapWriter,
    pub(super) sink: Sink,
    pub records: Vec<Record>,
}

impl Tap {
    pub(super) fn new() -> Tap {
        let sink = Sink::default();
        let pcap = PcapWriter::new(Box::new(sink.clone()), 0).expect("pcap header");
        Tap {
            pcap,
            sink,
            records: Vec::new(),
        }
    }

    pub(super) fn record(&mut self, at: Instant, dir: Dir, packet: &[u8]) {
        self.pcap.write_packet(at, packet);
        let parsed = parse_packet(packet);
        let payload_len = parsed
            .as_ref()
            .map_or(packet.len(), |(_, _, _, s)| s.payload.len());
        let seg = parsed.map(|(_, _, _, mut s)| {
            s.payload = bytes::Bytes::new();
            s
        });
        self.records.push(Record {
            at,
            dir,
            seg,
            payload_len,
        });
    }
}
