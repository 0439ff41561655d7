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
    pub(super) fn new(seed: u16) -> Demux {
        Demux {
            map: HashMap::new(),
            last: None,
            next_ephemeral: *EPHEMERAL.start() + seed % 16384,
        }
    }

    /// Connections in the map.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The connection of an arriving segment's tuple (through the last-hit cache).
    pub(super) fn lookup(&mut self, tuple: FourTuple) -> Option<SocketHandle> {
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
    pub(super) fn get(&self, tuple: &FourTuple) -> Option<SocketHandle> {
        self.map.get(tuple).copied()
    }

    /// Adds a connection; `tuple` must be free.
    pub(super) fn insert(&mut self, tuple: FourTuple, h: SocketHandle) {
        let old = self.map.insert(tuple, h);
        debug_assert!(old.is_none(), "{tuple} demultiplexed twice");
    }

    pub(super) fn remove(&mut self, tuple: &FourTuple) {
        self.map.remove(tuple);
        if self.last.is_some_and(|(t, _)| t == *tuple) {
            self.last = None;
        }
    }

    /// A free tuple from `local` to `remote` on an ephemeral port, searched round-robin from
    /// where the last search ended; `port_taken` excludes ports with a listener.
    pub(super) fn ephemeral(
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const US: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

    fn tuple(local: u16, remote: u16) -> FourTuple {
        FourTuple {
            local: SocketAddr::new(US, local),
            remote: SocketAddr::new(Ipv4Addr::new(198, 18, 0, 1).into(), remote),
        }
    }

    #[test]
    fn the_last_hit_cache_goes_with_its_entry() {
        let mut d = Demux::new(0);
        let (t, h) = (tuple(80, 40000), SocketHandle::for_test(0, 0));
        d.insert(t, h);
        assert_eq!(d.lookup(t), Some(h));
        assert_eq!(d.lookup(t), Some(h), "from the cache");
        d.remove(&t);
        assert_eq!(d.lookup(t), None);
        let newer = SocketHandle::for_test(0, 1);
        d.insert(t, newer);
        assert_eq!(d.lookup(t), Some(newer));
        assert_eq!(d.lookup(tuple(80, 40001)), None);
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn ephemeral_ports_skip_taken_ones_and_wrap() {
        let mut d = Demux::new(16383); // starts at the last port
        let remote = tuple(0, 7).remote;
        let t = d.ephemeral(US, remote, |_| false).unwrap();
        assert_eq!(t.local.port(), 65535);
        d.insert(t, SocketHandle::for_test(0, 0));
        let t = d.ephemeral(US, remote, |port| port == 49152).unwrap();
        assert_eq!(t.local.port(), 49153, "wrapped, past a listener's port");
        assert_eq!(d.ephemeral(US, remote, |_| true), None, "all taken");
    }
}
