//! The TCP memory budget and what the stack does under pressure (after Linux's `tcp_mem`),
//! with the connection limits.
//!
//! One [`MemoryBudget`] counts every octet TCP holds: each connection's struct and the memory
//! its send buffer, receive buffer and out-of-order queue have allocated
//! ([`Connection::memory`]), charged after each input and user call. Its level, a
//! [`Pressure`], reaches each connection as a [`MemoryGrant`] before its input and calls:
//!
//! | level | when | what happens |
//! |---|---|---|
//! | normal | below 3/4 of the budget | buffers as configured |
//! | soft | from 3/4 | auto-tuning stops, receive buffers shrink toward 16 KiB as they are read, send buffers stop growing, out-of-order queues are pruned first; new connections start with 16 KiB buffers |
//! | hard | from 7/8 | new connections refused (SYN and cookie ACK dropped, counted); then, at most every 100 ms, the connections holding the most memory with the least progress since the last pass are reset until 13/16 of the budget, each counted and logged |
//!
//! At every level no buffer grows past the budget itself (in-window data that would is
//! dropped, the peer resends it; `send` takes less), and a new connection is only admitted
//! below the hard mark. So TCP never holds more than the budget plus one connection's
//! struct; what the daemon adds on top is fixed (the binary, the apps' own buffers, the
//! packet buffers).

use super::sockets::SocketHandle;
use super::tcp::TcpLayer;
use crate::tcp::{MemoryGrant, Pressure, RECV_MIN, SEND_MIN};
use crate::time::{Duration, Instant};
use std::net::IpAddr;

/// Time between two passes that look for connections to prune or reset.
const RELIEF_INTERVAL: Duration = Duration::from_millis(100);

/// The library's default budget (the daemon derives its own from the machine's memory).
pub const DEFAULT_MEM_MAX: usize = 256 << 20;

/// The daemon's default budget on a machine with `total` octets of memory: 1/16 of it
/// (Linux's `tcp_mem` maximum is of the same order), in whole MiB, at least 64 MiB.
pub fn default_mem_max(total: usize) -> usize {
    (((total / 16) >> 20) << 20).max(64 << 20)
}

/// Limits on TCP's memory and connection count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpLimits {
    /// Octets of TCP memory at most (buffers and connection state).
    pub mem_max: usize,
    /// Connections (established and half-open, TIME-WAIT aside) a listener admits at most.
    pub max_conns: Option<usize>,
    /// Such connections from one peer address, at most.
    pub max_conns_per_peer: Option<usize>,
}

impl Default for TcpLimits {
    fn default() -> TcpLimits {
        TcpLimits {
            mem_max: DEFAULT_MEM_MAX,
            max_conns: None,
            max_conns_per_peer: None,
        }
    }
}

/// The budget: what TCP holds against its maximum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    max: usize,
    used: usize,
    peak: usize,
}

impl MemoryBudget {
    pub(super) fn new(max: usize) -> MemoryBudget {
        MemoryBudget {
            max,
            used: 0,
            peak: 0,
        }
    }

    /// The budget in octets.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Octets held now.
    pub fn used(&self) -> usize {
        self.used
    }

    /// The most ever held.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// The soft mark: 3/4 of the budget.
    pub fn soft_mark(&self) -> usize {
        self.max / 4 * 3
    }

    /// The hard mark: 7/8 of the budget.
    pub fn hard_mark(&self) -> usize {
        self.max / 8 * 7
    }

    /// Where a pass of resets stops: 13/16 of the budget.
    fn reset_target(&self) -> usize {
        self.max / 16 * 13
    }

    /// The level now.
    pub fn pressure(&self) -> Pressure {
        if self.used >= self.hard_mark() {
            Pressure::Hard
        } else if self.used >= self.soft_mark() {
            Pressure::Soft
        } else {
            Pressure::Normal
        }
    }

    /// What a connection may use for its next input or call.
    pub(super) fn grant(&self) -> MemoryGrant {
        MemoryGrant {
            pressure: self.pressure(),
            headroom: self.max.saturating_sub(self.used),
        }
    }

    /// A connection held `old` octets and now holds `new`.
    pub(super) fn charge(&mut self, old: usize, new: usize) {
        self.used = (self.used + new).saturating_sub(old);
        self.peak = self.peak.max(self.used);
    }
}

/// A size like `128M`, `1G`, `64k` or `1048576` (binary multiples), for `--mem-max`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{s}: unknown unit {c} (use K, M, G or T)")),
            };
            (&s[..i], shift)
        }
        _ => (s, 0),
    };
    let bad = || format!("{s}: not a size (like 128M, 1.5G or 1048576)");
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let n = v * (1u64 << shift) as f64;
    if !(1.0..=usize::MAX as f64).contains(&n)
        || !num.trim().starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(bad());
    }
    Ok(n as usize)
}

/// A size, exactly, in the largest unit that divides it: `1536M`, `1G`, `4K`, `100`
/// ([`parse_size`] reads it back to the same value).
pub fn format_size(n: usize) -> String {
    for (shift, unit) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// A size for people, to one decimal: `1.5G`, `117.7M`, `4.0K`, `100`.
pub fn human_size(n: usize) -> String {
    for (shift, unit) in [(30, 'G'), (20, 'M'), (10, 'K')] {
        if n >= 1 << shift {
            return format!("{:.1}{unit}", n as f64 / (1u64 << shift) as f64);
        }
    }
    n.to_string()
}

impl TcpLayer {
    /// The grant for a connection's next input or call.
    pub(super) fn grant(&self) -> MemoryGrant {
        self.memory.grant()
    }

    /// Charges `h`'s memory as it is now.
    pub(super) fn account(&mut self, h: SocketHandle) {
        if let Some(slot) = self.sockets.get_mut(h) {
            let now = slot.conn.memory();
            self.memory.charge(slot.mem, now);
            slot.mem = now;
        }
    }

    /// The configuration a new connection starts with: under pressure, the minimum buffers
    /// (the largest receive buffer, which sets the window scale, stays).
    pub(super) fn pressure_config(&self, mut config: crate::tcp::Config) -> crate::tcp::Config {
        if self.memory.pressure() != Pressure::Normal {
            config.recv_buffer_max = config.recv_buffer_cap();
            config.recv_buffer = config.recv_buffer.min(RECV_MIN);
            config.send_buffer = config.send_buffer.min(SEND_MIN);
        }
        config
    }

    /// Whether a new passive connection from `peer` is allowed: the hard mark and the
    /// connection limits. Counts and names the refusal.
    pub(super) fn admits_new(&mut self, peer: IpAddr) -> Result<(), crate::wire::DropReason> {
        use crate::wire::DropReason;
        if self.memory.pressure() == Pressure::Hard {
            self.counters.mem_refused += 1;
            return Err(DropReason::TcpMemoryPressure);
        }
        let open = self.demux.len().saturating_sub(self.time_wait.waiting());
        if self.limits.max_conns.is_some_and(|max| open >= max) {
            self.counters.conn_limit_drops += 1;
            return Err(DropReason::TcpConnLimit);
        }
        let from_peer = self.per_peer.get(&peer).copied().unwrap_or(0);
        if self
            .limits
            .max_conns_per_peer
            .is_some_and(|max| from_peer >= max)
        {
            self.counters.peer_limit_drops += 1;
            return Err(DropReason::TcpConnLimit);
        }
        Ok(())
    }

    /// `h` counts (or, leaving, no longer counts) against its peer's limit.
    pub(super) fn count_peer(&mut self, peer: IpAddr, delta: isize) {
        let n = self.per_peer.entry(peer).or_default();
        *n = n.saturating_add_signed(delta);
        if *n == 0 {
            self.per_peer.remove(&peer);
        }
    }

    /// When the next relief pass is due (only under pressure).
    pub(super) fn relief_deadline(&self) -> Option<Instant> {
        (self.memory.pressure() != Pressure::Normal).then_some(self.relief_at)
    }

    /// Under pressure, at most every 100 ms: prune out-of-order queues first; at the hard
    /// mark then reset the connections holding the most memory with the least progress
    /// since the last pass, until 13/16 of the budget.
    pub(super) fn relieve_pressure(&mut self, now: Instant) {
        if self.memory.pressure() == Pressure::Normal || now < self.relief_at {
            return;
        }
        self.relief_at = now + RELIEF_INTERVAL;
        let handles: Vec<SocketHandle> = self.sockets.iter().map(|(h, _)| h).collect();
        let mut pruned = 0;
        let mut candidates = Vec::new();
        for &h in &handles {
            let Some(slot) = self.sockets.get_mut(h) else {
                continue;
            };
            let freed = slot.conn.prune_out_of_order();
            if freed > 0 {
                pruned += freed;
                self.account(h);
            }
            let Some(slot) = self.sockets.get_mut(h) else {
                continue;
            };
            let progress = slot.conn.progress();
            let moved = progress - slot.progress_mark.min(progress);
            slot.progress_mark = progress;
            candidates.push((moved, slot.mem, h));
        }
        self.counters.ooo_pruned_bytes += pruned as u64;
        if self.memory.pressure() != Pressure::Hard {
            return;
        }
        // Least progress first, then the most memory.
        candidates.sort_by_key(|&(moved, mem, _)| (moved, std::cmp::Reverse(mem)));
        let mut used = self.memory.used();
        for (moved, mem, h) in candidates {
            if used <= self.memory.reset_target() {
                break;
            }
            let Some(slot) = self.sockets.get_mut(h) else {
                continue;
            };
            if mem < 2 * std::mem::size_of::<crate::tcp::Connection>() {
                continue; // no buffers to give back (half-open, TIME-WAIT)
            }
            log::warn!(
                "{} reset: TCP memory {} of {} budget; it held {} with {moved} octets of \
                 progress in the last {RELIEF_INTERVAL:?}",
                slot.conn.tuple(),
                human_size(used),
                human_size(self.memory.max()),
                human_size(mem),
            );
            slot.conn.abort();
            self.counters.mem_resets += 1;
            used = used.saturating_sub(mem);
            self.mark_active(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!(parse_size("128M"), Ok(128 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_size("1.5G"), Ok(1536 << 20));
        assert!(parse_size("-1M").is_err() && parse_size("NaN").is_err());
        assert_eq!(format_size(1536 << 20), "1536M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(parse_size(&format_size(1507 << 20)), Ok(1507 << 20));
        assert_eq!(format_size(128 << 20), "128M");
        assert_eq!(default_mem_max(24 << 30), 1536 << 20);
        assert_eq!(default_mem_max(512 << 20), 64 << 20);
    }

    /// The marks: soft from 3/4 of the budget, hard from 7/8; the headroom is what is left
    /// of the budget itself.
    #[test]
    fn pressure_levels_follow_the_marks() {
        let mut b = MemoryBudget::new(1600);
        assert_eq!(b.pressure(), Pressure::Normal);
        b.charge(0, 1199);
        assert_eq!(b.pressure(), Pressure::Normal);
        b.charge(0, 1);
        assert_eq!(b.pressure(), Pressure::Soft);
        assert_eq!(b.grant().headroom, 400);
        b.charge(0, 200);
        assert_eq!((b.pressure(), b.grant().headroom), (Pressure::Hard, 200));
        b.charge(0, 300);
        assert_eq!((b.grant().headroom, b.peak()), (0, 1700));
        b.charge(1700, 0);
        assert_eq!(
            (b.used(), b.pressure(), b.peak()),
            (0, Pressure::Normal, 1700)
        );
    }
}
