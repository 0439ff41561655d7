//! Memory pressure, as the engine sees it: the stack's accountant (`stack::memory`) passes a
//! [`MemoryGrant`] into each connection before its input and user calls, and reads back
//! [`Connection::memory`] after them. The engine never reads a global: what it may use is
//! the value passed in, so it stays deterministic.
//!
//! Behaviour, after Linux's `tcp_mem` (`net/ipv4/tcp_input.c`, `tcp_output.c`):
//! - [`Pressure::Soft`] and above: receive auto-tuning stops; the receive buffer shrinks
//!   toward [`RECV_MIN`] as the user reads (the edge already advertised stays, RFC 9293
//!   §3.8.6.2.2: no shrinking of the window); the send buffer stops growing (`send` takes
//!   only what fits in memory the buffer already holds, at least [`SEND_MIN`]); the
//!   out-of-order queue is dropped and no new out-of-order data is held (RFC 9293
//!   §3.10.7.4 seventh lets a receiver drop it; RFC 2018 §8: SACKed data may be reneged).
//! - [`Pressure::Hard`]: as Soft, and no buffer grows beyond the grant's headroom: data
//!   that would need more is dropped (the peer resends it) and `send` takes less.

use super::connection::Connection;

/// How close the stack is to its memory budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pressure {
    /// Below the soft mark: buffers behave as configured.
    #[default]
    Normal,
    /// Above the soft mark: buffers stop growing and shrink toward their minimum.
    Soft,
    /// At the budget: nothing grows beyond the headroom.
    Hard,
}

/// What the stack's memory accountant grants a connection for its next input or call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryGrant {
    /// The stack's pressure level.
    pub pressure: Pressure,
    /// Octets the connection's buffers may still grow by (the budget's remainder).
    pub headroom: usize,
}

impl Default for MemoryGrant {
    fn default() -> MemoryGrant {
        MemoryGrant {
            pressure: Pressure::Normal,
            headroom: usize::MAX,
        }
    }
}

/// The receive buffer a connection shrinks toward under pressure (octets).
pub const RECV_MIN: usize = 16 * 1024;
/// The send buffer that stays usable under pressure (octets).
pub const SEND_MIN: usize = 16 * 1024;

impl Connection {
    /// The stack's memory grant for the next input or user call (see the module docs).
    pub fn set_memory(&mut self, grant: MemoryGrant) {
        self.memory = grant;
    }

    /// Octets this connection holds: its own struct plus the memory its send buffer,
    /// receive buffer and out-of-order queue have allocated (not just what they hold).
    pub fn memory(&self) -> usize {
        std::mem::size_of::<Connection>() + self.snd.allocated() + self.rcv.allocated()
    }

    /// Drops the out-of-order queue (RFC 9293 §3.10.7.4 seventh permits it); returns the
    /// octets freed. The peer resends what it does not see acknowledged.
    pub fn prune_out_of_order(&mut self) -> usize {
        self.rcv.prune_out_of_order()
    }

    /// Payload octets moved both ways so far: the stack's measure of progress.
    pub fn progress(&self) -> u64 {
        self.stats.bytes_in + self.stats.bytes_out
    }

    /// How much of `want` octets `send` may take now under the grant.
    pub(super) fn send_allowance(&self, want: usize) -> usize {
        if self.memory.pressure == Pressure::Normal {
            return want;
        }
        // No growth: only what the buffer's memory already holds (at least SEND_MIN).
        let room = self
            .snd
            .allocated_buffer()
            .max(SEND_MIN)
            .saturating_sub(self.snd.buffered());
        want.min(room)
    }

    /// Whether `len` octets of in-order data may be taken under the grant.
    pub(super) fn recv_allows(&self, len: usize) -> bool {
        self.memory.pressure != Pressure::Hard || self.rcv.growth_for(len) <= self.memory.headroom
    }

    /// Under pressure after the user read: the receive buffer shrinks toward RECV_MIN.
    pub(super) fn on_read_under_pressure(&mut self) {
        if self.memory.pressure != Pressure::Normal {
            self.rcv.shrink_toward(RECV_MIN);
        }
    }
}
