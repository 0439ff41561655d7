//! `Pcap`: a tap that writes every packet, in both directions, to a capture file.
//!
//! The format is classic libpcap with LINKTYPE_RAW (101: each record is a bare IPv4 packet),
//! which Wireshark and tshark open directly. Timestamps come from the loop's clock: the
//! daemon passes wall time, tests pass simulated time, and `epoch_us` maps one onto the other.
//!
//! Offload devices: the capture shows what crossed the device. A TCP super-segment is one
//! large TCP packet (up to 64 KB, its IP length covering it all), as tcpdump shows TSO and
//! GRO traffic. A packet whose transport checksum the kernel left partial (virtio
//! `NEEDS_CSUM`, [`ChecksumState::Partial`]) is written with the checksum completed, so
//! Wireshark's and tshark's checksum validation pass; the stack itself never computes it.

use super::{ChecksumState, Link, PacketDesc};
use crate::time::Instant;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::path::Path;

/// LINKTYPE_RAW: raw IPv4/IPv6, no link-layer header.
const LINKTYPE_RAW: u32 = 101;
/// Largest packet a TUN device carries.
const SNAPLEN: u32 = 65_535;

/// Writes packets in libpcap format to any `Write`.
pub struct PcapWriter {
    out: Box<dyn Write + Send>,
    epoch_us: u64,
    packets: u64,
    failed: bool,
}

impl PcapWriter {
    /// Starts a capture on `out`. Timestamps are `epoch_us + now` microseconds since the Unix
    /// epoch.
    pub fn new(out: Box<dyn Write + Send>, epoch_us: u64) -> io::Result<PcapWriter> {
        let mut writer = PcapWriter {
            out,
            epoch_us,
            packets: 0,
            failed: false,
        };
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, microseconds
        header.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        writer.out.write_all(&header)?;
        Ok(writer)
    }

    /// Creates (truncating) a capture file.
    pub fn create(path: &Path, epoch_us: u64) -> io::Result<PcapWriter> {
        let file = File::create(path)?;
        PcapWriter::new(Box::new(BufWriter::with_capacity(1 << 16, file)), epoch_us)
    }

    /// Appends one packet. A write error is logged once and the capture stops; the stack
    /// keeps running.
    pub fn write_packet(&mut self, now: Instant, packet: &[u8]) {
        if self.failed {
            return;
        }
        let ts = self.epoch_us + now.as_micros();
        let caplen = packet.len().min(SNAPLEN as usize);
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        record[4..8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        record[8..12].copy_from_slice(&(caplen as u32).to_le_bytes());
        record[12..16].copy_from_slice(&(packet.len() as u32).to_le_bytes());
        let result = self
            .out
            .write_all(&record)
            .and_then(|()| self.out.write_all(&packet[..caplen]));
        match result {
            Ok(()) => self.packets += 1,
            Err(e) => {
                log::error!("packet capture stopped: {e}");
                self.failed = true;
            }
        }
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Pushes buffered records to the output (dropping the writer does so too).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for PcapWriter {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// A link wrapper that records every packet received from and sent to `inner`.
pub struct Pcap<L> {
    inner: L,
    writer: PcapWriter,
    /// A copy of a packet whose checksum is completed for the record.
    scratch: Vec<u8>,
}

impl<L: Link> Pcap<L> {
    /// Records what passes through `inner` with `writer`.
    #[must_use]
    pub fn new(inner: L, writer: PcapWriter) -> Pcap<L> {
        Pcap {
            inner,
            writer,
            scratch: Vec::new(),
        }
    }

    /// The capture writer (to count packets or flush).
    pub fn writer(&mut self) -> &mut PcapWriter {
        &mut self.writer
    }

    /// The wrapped link.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The wrapped link, mutably; packets sent through it directly are not recorded.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }
}

impl<L> Pcap<L> {
    /// Writes `packet`, its transport checksum completed first when `desc` says it is
    /// partial (the offsets were checked against the packet by the link).
    fn record(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) {
        let ChecksumState::Partial { start, offset } = desc.checksum else {
            return self.writer.write_packet(now, packet);
        };
        self.scratch.clear();
        self.scratch.extend_from_slice(packet);
        super::complete_checksum(&mut self.scratch, start, offset);
        self.writer.write_packet(now, &self.scratch);
    }
}

impl<L: Link> Link for Pcap<L> {
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        let got = self.inner.recv(now, buf)?;
        if let Some(desc) = got {
            self.record(now, &buf[..desc.len], desc);
        }
        Ok(got)
    }

    fn send(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        self.record(now, packet, desc);
        self.inner.send(now, packet, desc)
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        self.inner.flush(now)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        self.inner.raw_fd()
    }

    fn summary(&self) -> Vec<String> {
        let mut lines = vec![format!("capture: {} packets written", self.writer.packets)];
        lines.extend(self.inner.summary());
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Memory;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_both_directions_with_timestamps() {
        let sink = Shared::default();
        let writer = PcapWriter::new(Box::new(sink.clone()), 1_000_000).unwrap();
        let (a, mut b) = Memory::pair();
        let mut tap = Pcap::new(a, writer);
        tap.send_plain(Instant::from_micros(250), b"abc").unwrap();
        b.send_plain(Instant::ZERO, b"hello").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            tap.recv(Instant::from_secs(2), &mut buf)
                .unwrap()
                .map(|d| d.len),
            Some(5)
        );
        let bytes = sink.0.lock().unwrap().clone();
        assert_eq!(&bytes[0..4], &0xa1b2_c3d4u32.to_le_bytes());
        assert_eq!(
            u32::from_le_bytes(bytes[20..24].try_into().unwrap()),
            LINKTYPE_RAW
        );
        // First record: t = 1 s + 250 µs, 3 bytes.
        let r1 = &bytes[24..40];
        assert_eq!(u32::from_le_bytes(r1[0..4].try_into().unwrap()), 1);
        assert_eq!(u32::from_le_bytes(r1[4..8].try_into().unwrap()), 250);
        assert_eq!(u32::from_le_bytes(r1[8..12].try_into().unwrap()), 3);
        assert_eq!(&bytes[40..43], b"abc");
        // Second record: t = 3 s, 5 bytes.
        let r2 = &bytes[43..59];
        assert_eq!(u32::from_le_bytes(r2[0..4].try_into().unwrap()), 3);
        assert_eq!(&bytes[59..64], b"hello");
        assert_eq!(bytes.len(), 64);
        assert_eq!(tap.writer().packets(), 2);
    }
}
