//! Demultiplexing: which connection a segment's 4-tuple names, and free 4-tuples for active
//! opens (ephemeral ports).
//!
//! A hash map on the 4-tuple, never a scan of the connections. The map keeps SipHash because
//! peers choose the tuples; in front of it a one-entry cache of the last hit lets a bulk flow
//! skip hashing. The cache is cleared with its tuple's entry, so it never names a connection
//! that is gone.

use super::sockets::SocketHandle;
use crate::tcp::FourTuple;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

/// RFC 6335 dynamic ports, as Linux uses by default (32768..60999 there; the IANA range here).
const EPHEMERAL: RangeInclusive<u16> = 49152..=65535;

pub(super) struct Demux {
    map: HashMap<FourTuple, SocketHandle>,
    /// The connection the last segment went to.
    last: Option<(FourTuple, SocketHandle)>,
    /// Where the search for a free ephemeral port starts next.
    next_ephemeral: u16,
}

impl Demux {
    /// `seed` spreads the first ephemeral port over the range (from the ISN secret).
    pub fn new(seed: u16) -> Demux {
        Demux {
            map: HashMap::new(),
            last: None,
            next_ephemeral: *EPHEMERAL.start() + seed % 16384,
        }
    }

    /// Connections in the map.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The connection of an arriving segment's tuple (through the last-hit cache).
    pub fn lookup(&mut self, tuple: FourTuple) -> Option<SocketHandle> {
        if let Some((t, h)) = self.last
            && t == tuple
        {
            return Some(h);
        }
        let h = *self.map.get(&tuple)?;
        self.last = Some((tuple, h));
        Some(h)
    }

    /// The connection of `tuple`, leaving the cache alone (for ICMP errors).
    pub fn get(&self, tuple: &FourTuple) -> Option<SocketHandle> {
        self.map.get(tuple).copied()
    }

    /// Adds a connection; `tuple` must be free.
    pub fn insert(&mut self, tuple: FourTuple, h: SocketHandle) {
        let old = self.map.insert(tuple, h);
        debug_assert!(old.is_none(), "{tuple} demultiplexed twice");
    }

    pub fn remove(&mut self, tuple: &FourTuple) {
        self.map.remove(tuple);
        if self.last.is_some_and(|(t, _)| t == *tuple) {
            self.last = None;
        }
    }

    /// A free tuple from `local` to `remote` on an ephemeral port, searched round-robin from
    /// where the last search ended; `port_taken` excludes ports with a listener.
    pub fn ephemeral(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        port_taken: impl Fn(u16) -> bool,
    ) -> Option<FourTuple> {
        let span = EPHEMERAL.end() - EPHEMERAL.start() + 1;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            let t = FourTuple {
                local: SocketAddr::new(local, port),
                remote,
            };
            if !self.map.contains_key(&t) && !port_taken(port) {
                return Some(t);
            }
        }
        None
    }
}
