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
//! - [`Pressure::Hard`]: as Soft (the stack refuses new connections and resets some).
//! - At every level no buffer grows beyond the grant's headroom: data that would need more is
//!   dropped (the peer resends it) and `send` takes less.

use super::connection::Connection;

/// How close the stack is to its memory budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pressure {
    /// Below the soft mark: buffers behave as configured.
    #[default]
    Normal,
    /// Above the soft mark: buffers stop growing and shrink toward their minimum.
    Soft,
    /// Above the hard mark: as Soft; the stack refuses new connections and resets the
    /// biggest ones without progress.
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

    /// How much of `want` octets `send` may take now under the grant: under pressure only
    /// what the buffer's memory already holds (at least SEND_MIN); at any level no growth
    /// beyond the headroom.
    pub(super) fn send_allowance(&self, want: usize) -> usize {
        let (allocated, buffered) = (self.snd.allocated_buffer(), self.snd.buffered());
        let spare = allocated.saturating_sub(buffered);
        let room = if self.memory.pressure == Pressure::Normal {
            want
        } else {
            allocated.max(SEND_MIN).saturating_sub(buffered)
        };
        let want = want.min(room);
        if want <= spare {
            return want;
        }
        // Growing: the ring grows to max(what it must hold, twice its size), and that growth
        // must fit the headroom. Take as much as fits: a large request gets what a smaller
        // one would (`send_capacity` asks with the free space), never less.
        if allocated > self.memory.headroom {
            return spare; // even doubling does not fit
        }
        want.min(allocated.saturating_add(self.memory.headroom) - buffered)
    }

    /// Whether `len` octets of data may be taken under the grant: the growth of the
    /// receive buffer they need fits the headroom.
    pub(super) fn recv_allows(&self, len: usize) -> bool {
        self.rcv.growth_for(len) <= self.memory.headroom
    }

    /// Under pressure after the user read: the receive buffer shrinks toward RECV_MIN.
    pub(super) fn on_read_under_pressure(&mut self) {
        if self.memory.pressure != Pressure::Normal {
            self.rcv.shrink_toward(RECV_MIN);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Ctl, FourTuple, Options, Segment, SeqNum, State};
    use super::*;
    use crate::time::Instant;

    const IRS: u32 = u32::MAX - 100; // the peer's sequence numbers cross the wrap

    /// A connection established by a real handshake (no window scaling, SACK on).
    fn established(config: Config) -> Connection {
        let now = Instant::from_secs(1);
        let tuple = FourTuple {
            local: "198.18.0.2:7".parse().unwrap(),
            remote: "198.18.0.1:5000".parse().unwrap(),
        };
        let syn: Segment = Segment {
            seq: SeqNum(IRS),
            ctl: Ctl::SYN,
            wnd: 65535,
            options: Options {
                mss: Some(1000),
                sack_permitted: true,
                ..Options::default()
            },
            ..Segment::default()
        };
        let mut c = Connection::accept(now, tuple, SeqNum(5000), &syn, config);
        c.poll_transmit(now).expect("SYN-ACK");
        c.handle_segment(now, &data(0, 0));
        assert_eq!(c.state(), State::Established);
        c
    }

    /// `len` octets from the peer, `off` octets into its data, acknowledging our SYN.
    fn data(off: u32, len: usize) -> Segment {
        Segment {
            seq: SeqNum(IRS) + 1 + off,
            ack: SeqNum(5001),
            ctl: Ctl::ACK,
            wnd: 65535,
            payload: vec![1u8; len].into(),
            ..Segment::default()
        }
    }

    fn soft() -> MemoryGrant {
        MemoryGrant {
            pressure: Pressure::Soft,
            headroom: 1 << 30,
        }
    }

    fn config() -> Config {
        Config {
            recv_buffer: 64 * 1024,
            recv_buffer_max: 64 * 1024,
            window_scale: false,
            timestamps: false,
            ..Config::default()
        }
    }

    /// The window we advertise after taking 60,000 octets and reading them all.
    fn window_after_reading(grant: MemoryGrant) -> u16 {
        let now = Instant::from_secs(1);
        let mut c = established(config());
        c.set_memory(grant);
        for i in 0..60 {
            c.handle_segment(now, &data(i * 1000, 1000));
        }
        let mut buf = vec![0u8; 65536];
        assert_eq!(c.recv(&mut buf), Ok(60_000));
        let mut wnd = 0;
        while let Some(seg) = c.poll_transmit(now) {
            wnd = seg.wnd;
        }
        wnd
    }

    /// Soft pressure: the receive buffer shrinks toward RECV_MIN as it is read (the window
    /// reopens only that far), where without pressure it reopens in full.
    #[test]
    fn soft_pressure_shrinks_the_receive_buffer_as_it_is_read() {
        assert_eq!(window_after_reading(MemoryGrant::default()), 65535);
        assert_eq!(usize::from(window_after_reading(soft())), RECV_MIN);
    }

    /// Soft pressure: `send` takes only what the buffer's memory already holds, at least
    /// SEND_MIN; without pressure the configured buffer.
    #[test]
    fn soft_pressure_stops_the_send_buffer_growing() {
        let big = vec![0u8; 200_000];
        let mut c = established(config());
        assert_eq!(c.send(&big), Ok(200_000));
        let mut c = established(config());
        c.set_memory(soft());
        assert_eq!(c.send(&big), Ok(SEND_MIN));
        assert_eq!(c.send(&big), Ok(0));
    }

    /// A send that leaves the buffer exactly full asks for `Event::Writable`, which comes
    /// once an ACK frees space: an application that stops reading when the buffer is full
    /// (echo, which reads only what its send buffer takes; without this it stalled for good
    /// in `live_ipv6` at 5% loss).
    #[test]
    fn a_full_send_buffer_asks_for_writable() {
        let now = Instant::from_secs(1);
        let mut c = established(config());
        c.set_memory(soft());
        assert_eq!(c.send(&[7u8; SEND_MIN]), Ok(SEND_MIN));
        assert_eq!(c.send_capacity(), 0);
        while c.poll_event().is_some() {}
        let mut sent = 0;
        while let Some(seg) = c.poll_transmit(now) {
            sent += seg.payload.len() as u32;
        }
        assert!(sent > 0);
        c.handle_segment(
            now,
            &Segment {
                ack: SeqNum(5001) + sent,
                ..data(0, 0)
            },
        );
        let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
        assert!(
            events.contains(&super::super::Event::Writable),
            "{events:?}"
        );
    }

    /// `send` takes what `send_capacity` promised, whatever the grant: the two ask the same
    /// question (a larger request must not get less because its own growth would not fit).
    #[test]
    fn send_takes_what_send_capacity_promises() {
        let big = vec![0u8; 100_000];
        for pressure in [Pressure::Normal, Pressure::Soft, Pressure::Hard] {
            for headroom in (0..80).map(|k| k * 1024) {
                let mut c = established(Config {
                    send_buffer: 24 * 1024,
                    ..config()
                });
                assert_eq!(c.send(&[1u8; 5000]), Ok(5000));
                c.set_memory(MemoryGrant { pressure, headroom });
                let cap = c.send_capacity();
                assert_eq!(
                    c.send(&big),
                    Ok(cap.min(big.len())),
                    "{pressure:?}, headroom {headroom}"
                );
            }
        }
    }

    /// Under pressure out-of-order data is not held (RFC 9293 §3.10.7.4 seventh) and any
    /// held is pruned; without pressure it is held.
    #[test]
    fn pressure_prunes_the_out_of_order_queue() {
        let now = Instant::from_secs(1);
        let mut c = established(config());
        let base = c.memory();
        c.handle_segment(now, &data(2000, 1000));
        assert!(c.memory() > base, "held out of order");
        c.set_memory(soft());
        c.handle_segment(now, &data(4000, 1000));
        assert_eq!(c.memory(), base, "pruned, and the new one not held");
        c.set_memory(MemoryGrant::default());
        c.handle_segment(now, &data(6000, 1000));
        assert!(c.memory() > base);
        assert!(c.prune_out_of_order() > 0);
        assert_eq!(c.memory(), base);
    }

    /// No growth past the headroom: in-order data that needs more memory is dropped (the
    /// peer resends it), and RCV.NXT stays.
    #[test]
    fn data_beyond_the_headroom_is_dropped() {
        let now = Instant::from_secs(1);
        let mut c = established(config());
        c.set_memory(MemoryGrant {
            pressure: Pressure::Hard,
            headroom: 100,
        });
        let before = c.stats().rcv_nxt;
        c.handle_segment(now, &data(0, 1000));
        assert_eq!(c.stats().rcv_nxt, before);
        c.set_memory(soft());
        c.handle_segment(now, &data(0, 1000));
        assert_eq!(c.stats().rcv_nxt, before + 1000);
    }
}
