//! Giving the allocator's free pages back to the kernel: glibc's `malloc` returns memory only
//! from the top of its heap (and whole `mmap`ed blocks); pages of free chunks in the middle
//! stay resident, so after each new peak of connections or buffers the daemon's RSS keeps
//! the peak (issue 14's soak measured it: the heap's free chunks held 1.1-2.9 MiB while the
//! program's own allocations were flat). `malloc_trim(0)` hands every whole free page back
//! (`MADV_DONTNEED`); this app calls it on a timer, in the loop, so RSS follows what the
//! daemon really holds.

use std::io;
use tunstack::app::{App, Sockets};
use tunstack::stack::TcpEvent;
use tunstack::time::{Duration, Instant};

/// How often the free pages go back: often enough that a peak's pages do not linger,
/// rarely enough to cost nothing (a trim of the daemon's ~10 MiB heap takes microseconds).
pub(crate) const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// Trims the C heap every [`TRIM_INTERVAL`].
pub(crate) struct HeapTrim {
    next_at: Instant,
    /// Trims done, those that gave pages back, and the time they took (wall clock, µs), for
    /// the summary.
    trims: u64,
    released: u64,
    spent_us: u64,
}

impl HeapTrim {
    pub(crate) fn new(now: Instant) -> HeapTrim {
        HeapTrim {
            next_at: now + TRIM_INTERVAL,
            trims: 0,
            released: 0,
            spent_us: 0,
        }
    }
}

/// Gives the heap's free pages back to the kernel; true when some were.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim takes a plain integer and works under the allocator's own locks;
    // it frees nothing that is allocated.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Other allocators give memory back themselves (or offer no such call).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

impl App for HeapTrim {
    fn start(&mut self, _now: Instant, _sockets: &mut Sockets<'_>) -> io::Result<()> {
        Ok(())
    }

    fn on_event(&mut self, _now: Instant, _sockets: &mut Sockets<'_>, _event: TcpEvent) {}

    fn poll_timeout(&self) -> Option<Instant> {
        Some(self.next_at)
    }

    fn handle_timeout(&mut self, now: Instant, _sockets: &mut Sockets<'_>) {
        if now < self.next_at {
            return;
        }
        let started = std::time::Instant::now();
        self.released += u64::from(trim());
        self.spent_us += started.elapsed().as_micros() as u64;
        self.trims += 1;
        self.next_at = now + TRIM_INTERVAL;
    }

    fn summary(&self) -> Vec<String> {
        vec![format!(
            "heap: {} trims (malloc_trim every {:?}), {} gave pages back, {} µs in all",
            self.trims, TRIM_INTERVAL, self.released, self.spent_us
        )]
    }
}
