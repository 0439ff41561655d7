//! `Memory`: two ends of an in-memory wire, for tests and the simulator.
//!
//! What one end sends, the other receives, in order, immediately. Wrap an end in
//! [`super::Faults`] to add loss, delay, reordering, duplication and corruption.

use super::{Link, PacketDesc};
use crate::time::Instant;
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

/// One direction of the wire: packets in flight, and the buffers of packets already
/// received, reused for the next ones (no allocation per packet once warm).
#[derive(Debug, Default)]
struct Wire {
    packets: VecDeque<(Vec<u8>, PacketDesc)>,
    spare: Vec<Vec<u8>>,
}

/// Buffers kept for reuse per direction.
const SPARE: usize = 256;

type Queue = Arc<Mutex<Wire>>;

/// One end of an in-memory wire.
#[derive(Debug)]
pub struct Memory {
    rx: Queue,
    tx: Queue,
}

impl Memory {
    /// Two connected ends.
    #[must_use]
    pub fn pair() -> (Memory, Memory) {
        let a: Queue = Arc::default();
        let b: Queue = Arc::default();
        (
            Memory {
                rx: a.clone(),
                tx: b.clone(),
            },
            Memory { rx: b, tx: a },
        )
    }

    /// Packets waiting to be received at this end.
    pub fn pending(&self) -> usize {
        self.rx.lock().expect("memory link poisoned").packets.len()
    }
}

impl Link for Memory {
    fn recv(&mut self, _now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        let mut wire = self.rx.lock().expect("memory link poisoned");
        let Some((packet, desc)) = wire.packets.pop_front() else {
            return Ok(None);
        };
        let got = super::deliver(&packet, desc, buf);
        if wire.spare.len() < SPARE {
            wire.spare.push(packet);
        }
        got
    }

    fn send(&mut self, _now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        let mut wire = self.tx.lock().expect("memory link poisoned");
        let mut v = wire.spare.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(packet);
        wire.packets.push_back((v, desc));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_delivers_in_order_both_ways() {
        let (mut a, mut b) = Memory::pair();
        let now = Instant::ZERO;
        a.send_plain(now, b"one").unwrap();
        a.send_plain(now, b"two").unwrap();
        b.send_plain(now, b"back").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(now, &mut buf).unwrap().map(|d| d.len), Some(3));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(b.recv(now, &mut buf).unwrap().map(|d| d.len), Some(3));
        assert_eq!(&buf[..3], b"two");
        assert_eq!(b.recv(now, &mut buf).unwrap(), None);
        assert_eq!(a.recv(now, &mut buf).unwrap().map(|d| d.len), Some(4));
    }
}
