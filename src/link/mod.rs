//! Links: where IP packets enter and leave the stack.
//!
//! A [`Link`] moves whole IPv4 datagrams. [`Tun`] is the real device; [`Memory`] is an
//! in-memory pair for tests; [`Pcap`] and [`Faults`] wrap any link like the layers of an
//! onion (`Pcap<Faults<Tun>>` in the daemon, `Faults<Memory>` in the simulator).

use crate::time::Instant;
use std::io;
use std::os::fd::RawFd;

mod faults;
mod memory;
mod pcap;
mod tun;

pub use faults::{DirectionFaults, FaultSpec, Faults, FaultsStats};
pub use memory::Memory;
pub use pcap::{Pcap, PcapWriter};
pub use tun::{Tun, TunError, device_mtu, wait_readable};

/// A packet device. `now` is the driver's clock; links that delay packets use it.
pub trait Link {
    /// Reads one packet into `buf`. `Ok(None)` when nothing is ready now.
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Sends one packet. A link may drop it (as a real network may); an `Err` is an
    /// unexpected device failure.
    fn send(&mut self, now: Instant, packet: &[u8]) -> io::Result<()>;

    /// The earliest time this link has delayed work (a held packet) to do, if any.
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

/// Copies a whole packet into a receive buffer; a buffer too small for it is a caller bug
/// reported as `InvalidInput` (links never truncate).
pub(crate) fn deliver(packet: &[u8], buf: &mut [u8]) -> io::Result<Option<usize>> {
    let Some(dst) = buf.get_mut(..packet.len()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "receive buffer smaller than packet",
        ));
    };
    dst.copy_from_slice(packet);
    Ok(Some(packet.len()))
}

impl<L: Link + ?Sized> Link for Box<L> {
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).recv(now, buf)
    }
    fn send(&mut self, now: Instant, packet: &[u8]) -> io::Result<()> {
        (**self).send(now, packet)
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
