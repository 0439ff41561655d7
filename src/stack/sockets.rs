//! Connection slots and the handles that name them.
//!
//! A [`SocketHandle`] is a slot index plus the slot's generation: removing a connection bumps
//! the generation, so a stale handle can never reach a newer connection that reuses the slot.
//! Each slot holds the engine's [`Connection`] and what the stack keeps beside it: its
//! [`Owner`], the listener it still belongs to, events held until `accept`, its place in the
//! timer heap and the active list, TIME-WAIT accounting, and the network layer's
//! [`IpOptions`] for its datagrams (MUST-48/49), which are no TCP state.

use super::transmit::IpOptions;
use crate::tcp::{Connection, Event};
use crate::time::Instant;
use std::fmt;

/// Names one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketHandle {
    index: u32,
    generation: u32,
}

impl fmt::Display for SocketHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}.{}", self.index, self.generation)
    }
}

#[cfg(test)]
impl SocketHandle {
    /// A handle for tests of the parts that only store handles.
    pub(super) fn for_test(index: u32, generation: u32) -> SocketHandle {
        SocketHandle { index, generation }
    }
}

/// Which application a connection or listener belongs to (the runtime's routing tag).
pub type Owner = u32;

/// One connection and the stack's bookkeeping for it.
pub(super) struct Slot {
    /// Boxed, so a free slot costs a few words, not a whole connection: the table is as long
    /// as the most connections ever held at once (TIME-WAIT included), and a free slot's
    /// memory is never given back (issue 14's soak).
    pub(super) conn: Box<Connection>,
    generation: u32,
    pub(super) owner: Owner,
    /// Set while the connection belongs to a listener (SYN-RECEIVED or not yet accepted).
    pub(super) listener: Option<u16>,
    /// Events held for a connection not yet accepted; handed over by `accept`.
    pub(super) held: Vec<Event>,
    /// The deadline this connection has in the timer heap.
    pub(super) timer_at: Option<Instant>,
    /// In the active list (has output or events to collect).
    pub(super) active: bool,
    /// TTL and DSCP of this connection's datagrams: network-layer fields, handed to the
    /// emitter with each segment.
    pub(super) ip: IpOptions,
    /// Counted by the TIME-WAIT cap (and queued in its order).
    pub(super) in_time_wait: bool,
    /// Octets charged to the memory budget for this connection.
    pub(super) mem: usize,
    /// Its progress (octets moved) at the last pressure-relief pass.
    pub(super) progress_mark: u64,
}

/// Octets one slot of the table takes, live or free.
pub const SLOT_SIZE: usize = std::mem::size_of::<Option<Slot>>();

// The table keeps as many slots as connections were ever held at once (a TIME-WAIT peak of
// the soak: 1,500) and never gives a free slot's memory back, so a slot must cost a few
// words, not a connection (issue 14's soak: 1.6 KB slots grew RSS by megabytes).
const _: () = assert!(
    SLOT_SIZE <= 128,
    "a free slot costs a few words, not a connection"
);

/// The slot table: slots, their generations, and the free list.
#[derive(Default)]
pub(super) struct Sockets {
    slots: Vec<Option<Slot>>,
    /// The generation each slot has (while live) or will have (when reused).
    generations: Vec<u32>,
    free: Vec<u32>,
}

impl Sockets {
    /// Puts a new connection in a free slot.
    pub(super) fn insert(
        &mut self,
        conn: Connection,
        owner: Owner,
        listener: Option<u16>,
        ip: IpOptions,
    ) -> SocketHandle {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.generations.push(0);
            (self.slots.len() - 1) as u32
        });
        let generation = self.generations[index as usize];
        self.slots[index as usize] = Some(Slot {
            conn: Box::new(conn),
            generation,
            owner,
            listener,
            held: Vec::new(),
            timer_at: None,
            active: false,
            ip,
            in_time_wait: false,
            mem: 0,
            progress_mark: 0,
        });
        SocketHandle { index, generation }
    }

    pub(super) fn get(&self, h: SocketHandle) -> Option<&Slot> {
        self.slots
            .get(h.index as usize)?
            .as_ref()
            .filter(|s| s.generation == h.generation)
    }

    pub(super) fn get_mut(&mut self, h: SocketHandle) -> Option<&mut Slot> {
        self.slots
            .get_mut(h.index as usize)?
            .as_mut()
            .filter(|s| s.generation == h.generation)
    }

    /// Takes the connection out; its handle goes stale and its slot is free for reuse.
    pub(super) fn remove(&mut self, h: SocketHandle) -> Option<Slot> {
        self.get(h)?;
        let slot = self.slots[h.index as usize].take()?;
        self.generations[h.index as usize] = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        Some(slot)
    }

    /// Slots in the table (live or free) and the table's allocated capacity, in slots.
    pub(super) fn table_size(&self) -> (usize, usize) {
        (self.slots.len(), self.slots.capacity())
    }

    /// Every live slot with its handle, in slot order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (SocketHandle, &Slot)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.as_ref().map(|s| {
                let h = SocketHandle {
                    index: i as u32,
                    generation: s.generation,
                };
                (h, s)
            })
        })
    }
}
