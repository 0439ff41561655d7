//! Links: where IP packets enter and leave the stack.
//!
//! A [`Link`] moves whole IP datagrams, each with a [`PacketDesc`]: its length and what is
//! known about it besides its bytes (checksum state, segmentation offload). [`Tun`] is the
//! real device; [`Memory`] is an in-memory pair for tests; [`Pcap`] and [`Faults`] wrap any
//! link like the layers of an onion (`Pcap<Faults<Tun>>` in the daemon, `Faults<Memory>` in
//! the simulator) and pass the descriptor through unchanged.

use crate::time::Instant;
use std::io;
use std::os::fd::RawFd;

mod faults;
pub(crate) mod gso;
mod memory;
mod pcap;
mod tun;

pub use faults::{DirectionFaults, FaultSpec, Faults, FaultsStats};
pub use memory::Memory;
pub use pcap::{Pcap, PcapWriter};
pub use tun::{OffloadMode, OffloadState, Tun, TunError, device_mtu, wait_readable};

/// What is known about a packet's transport checksum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChecksumState {
    /// Nothing: the receiver verifies it (every packet today).
    #[default]
    Unverified,
    /// The device verified it already (virtio `DATA_VALID`).
    Verified,
    /// Only the pseudo-header sum is in place; the checksum over the data starting at
    /// `start` is still to be computed and stored at `start + offset` (virtio `NEEDS_CSUM`).
    Partial {
        /// Where the checksummed data starts, in octets from the start of the packet.
        start: u16,
        /// Where the checksum goes, in octets from `start`.
        offset: u16,
    },
}

/// Segmentation offload: whether a packet is a super-segment the device splits (transmit)
/// or merged (receive).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Gso {
    /// An ordinary packet.
    #[default]
    None,
    /// A TCP super-segment (over IPv4 or IPv6, as its IP header says) of segments carrying
    /// `size` payload octets each (the last may be shorter); `header_len` is IP + TCP header.
    Tcp {
        /// Payload octets per segment (the MSS the device splits at).
        size: u16,
        /// Octets of IP header plus TCP header, repeated in front of each segment.
        header_len: u16,
    },
    /// A UDP super-datagram (USO, received only): datagrams of `size` payload octets each
    /// (the last may be shorter) behind one IP and UDP header of `header_len` octets.
    Udp {
        /// Payload octets per datagram.
        size: u16,
        /// Octets of IP header plus UDP header.
        header_len: u16,
    },
}

/// The descriptor that travels with every packet through a [`Link`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketDesc {
    /// Bytes of the packet (from the start of the buffer).
    pub len: usize,
    /// How far the transport checksum is computed or verified.
    pub checksum: ChecksumState,
    /// Whether this is a super-segment to split or a merged one.
    pub gso: Gso,
}

impl PacketDesc {
    /// An ordinary packet of `len` bytes, nothing known beyond its bytes.
    #[must_use]
    pub fn plain(len: usize) -> PacketDesc {
        PacketDesc {
            len,
            ..PacketDesc::default()
        }
    }
}

/// A packet device. `now` is the driver's clock; links that delay packets use it.
pub trait Link {
    /// Reads one packet into `buf` and returns its descriptor (the packet is
    /// `buf[..desc.len]`). `Ok(None)` when nothing is ready now.
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>>;

    /// Sends one packet described by `desc` (`packet.len() == desc.len`). A link may drop it
    /// (as a real network may); an `Err` is an unexpected device failure.
    fn send(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()>;

    /// Sends an ordinary packet.
    fn send_plain(&mut self, now: Instant, packet: &[u8]) -> io::Result<()> {
        self.send(now, packet, PacketDesc::plain(packet.len()))
    }

    /// The earliest time this link has delayed work (a held packet) to do, if any.
    #[must_use]
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// Releases delayed outgoing packets that are due at `now`.
    fn flush(&mut self, _now: Instant) -> io::Result<()> {
        Ok(())
    }

    /// The file descriptor to wait on with poll(2), for links backed by the kernel.
    fn raw_fd(&self) -> Option<RawFd> {
        None
    }

    /// Lines for the shutdown summary (what a wrapper did), outermost first.
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Completes a partial transport checksum in place (what the kernel does for a virtio
/// `NEEDS_CSUM` packet): the field at `start + offset` holds the pseudo-header sum; the sum
/// over `packet[start..]` with it in place, complemented, is the checksum (RFC 1071).
/// Offsets outside the packet leave it unchanged (links check them before trusting them).
pub(crate) fn complete_checksum(packet: &mut [u8], start: u16, offset: u16) {
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    if at + 2 > packet.len() {
        return;
    }
    let sum = crate::wire::internet_checksum(&[&packet[start..]]);
    packet[at..at + 2].copy_from_slice(&sum);
}

/// Copies a whole packet into a receive buffer; a buffer too small for it is a caller bug
/// reported as `InvalidInput` (links never truncate).
pub(crate) fn deliver(
    packet: &[u8],
    desc: PacketDesc,
    buf: &mut [u8],
) -> io::Result<Option<PacketDesc>> {
    let Some(dst) = buf.get_mut(..packet.len()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "receive buffer smaller than packet",
        ));
    };
    dst.copy_from_slice(packet);
    Ok(Some(PacketDesc {
        len: packet.len(),
        ..desc
    }))
}

impl<L: Link + ?Sized> Link for Box<L> {
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        (**self).recv(now, buf)
    }
    fn send(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        (**self).send(now, packet, desc)
    }
    fn poll_at(&self) -> Option<Instant> {
        (**self).poll_at()
    }
    fn flush(&mut self, now: Instant) -> io::Result<()> {
        (**self).flush(now)
    }
    fn raw_fd(&self) -> Option<RawFd> {
        (**self).raw_fd()
    }
    fn summary(&self) -> Vec<String> {
        (**self).summary()
    }
}
