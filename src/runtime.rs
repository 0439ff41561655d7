//! The packet loop: one thread, poll(2) on the link's fd until the next deadline.
//!
//! Each turn reads every packet that is ready before producing any output (so ACKs and
//! replies for a burst are computed once the whole burst is in), runs the timers that are
//! due, lets the applications react to the stack's events, writes everything the stack has
//! queued, and then sleeps until the link (or an app's fd) is readable or the next deadline
//! of the stack, the link or an app arrives. There is no fixed tick and no busy loop.

use crate::app::{App, Sockets};
use crate::link::{self, Link};
use crate::stack::{MAX_MTU, Owner, Stack};
use crate::time::Instant;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

/// Packets read in one turn before output is produced; bounds the latency of a flood.
const MAX_BATCH: usize = 4096;
/// Rounds of "apps react, stack transmits" per turn; bounds a ping-pong between them.
const MAX_ROUNDS: usize = 64;
/// The receive buffer: the largest IP packet (a TUN MTU of 65535, or a 64 KB TCP
/// super-segment from an offload device, IPv6 header included) with room to spare.
const RX_BUF: usize = MAX_MTU + 1024;

/// A stack joined to a link, with its applications.
pub struct Runtime<L> {
    /// The stack; between turns the caller may use it directly (sockets, counters).
    pub stack: Stack,
    /// Where the stack's packets come from and go to.
    pub link: L,
    apps: Vec<Box<dyn App + Send>>,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl<L: Link> Runtime<L> {
    /// Joins `stack` to `link`, with no applications yet.
    #[must_use]
    pub fn new(stack: Stack, link: L) -> Runtime<L> {
        Runtime {
            stack,
            link,
            apps: Vec::new(),
            rx: vec![0; RX_BUF],
            tx: vec![0; MAX_MTU],
        }
    }

    /// Adds an application and starts it (it opens its listeners). Returns its owner tag.
    pub fn add_app(&mut self, now: Instant, mut app: Box<dyn App + Send>) -> io::Result<Owner> {
        let owner = self.apps.len() as Owner;
        app.start(now, &mut Sockets::new(&mut self.stack, owner))?;
        self.apps.push(app);
        Ok(owner)
    }

    /// The applications, in the order they were added (index = owner tag).
    pub fn apps(&self) -> &[Box<dyn App + Send>] {
        &self.apps
    }

    /// One turn of the loop. `clock` is read once for the input and again for the output,
    /// so a capture shows the time each packet really left. Returns the next deadline.
    pub fn turn(&mut self, clock: &dyn Fn() -> Instant) -> io::Result<Option<Instant>> {
        let now = clock();
        for _ in 0..MAX_BATCH {
            match self.link.recv(now, &mut self.rx)? {
                Some(desc) => self.stack.handle_packet_desc(now, &self.rx, desc),
                None => break,
            }
        }
        if self.stack.poll_timeout().is_some_and(|at| at <= now) {
            self.stack.handle_timeout(now);
        }
        for (owner, app) in self.apps.iter_mut().enumerate() {
            app.handle_timeout(now, &mut Sockets::new(&mut self.stack, owner as Owner));
        }
        let now = clock();
        for _ in 0..MAX_ROUNDS {
            while let Some(desc) = self.stack.poll_transmit_desc(now, &mut self.tx) {
                self.link.send(now, &self.tx[..desc.len], desc)?;
            }
            let mut reacted = false;
            while let Some(event) = self.stack.poll_event() {
                reacted = true;
                if let Some(app) = self.apps.get_mut(event.owner as usize) {
                    let mut sockets = Sockets::new(&mut self.stack, event.owner);
                    app.on_event(now, &mut sockets, event.event);
                }
            }
            if !reacted {
                break;
            }
        }
        for (owner, app) in self.apps.iter_mut().enumerate() {
            app.poll(now, &mut Sockets::new(&mut self.stack, owner as Owner));
        }
        while let Some(desc) = self.stack.poll_transmit_desc(now, &mut self.tx) {
            self.link.send(now, &self.tx[..desc.len], desc)?;
        }
        self.link.flush(now)?;
        let apps = self.apps.iter().filter_map(|a| a.poll_timeout()).min();
        Ok(Instant::min_opt(
            Instant::min_opt(self.stack.poll_timeout(), self.link.poll_at()),
            apps,
        ))
    }

    /// Runs until `stop` is set (by a signal handler). `clock` is the only clock; `fds` are
    /// extra descriptors that wake the loop (a control socket, an embedding API's wakeup).
    /// Whoever sets `stop` must also make one of `fds` readable (for a signal handler: a
    /// self-pipe), or a `stop` set after the check but before the wait goes unnoticed until
    /// the next packet or deadline.
    pub fn run(
        &mut self,
        clock: &dyn Fn() -> Instant,
        stop: &AtomicBool,
        fds: &[RawFd],
    ) -> io::Result<()> {
        let mut wait: Vec<RawFd> = self.link.raw_fd().into_iter().collect();
        wait.extend_from_slice(fds);
        wait.extend(self.apps.iter().filter_map(|a| a.raw_fd()));
        while !stop.load(Ordering::Relaxed) {
            let deadline = self.turn(clock)?;
            let timeout = deadline.map(|at| at - clock());
            if timeout.is_some_and(|t| t.is_zero()) {
                continue;
            }
            link::wait_readable(&wait, timeout)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Memory;
    use crate::stack::StackConfig;

    #[test]
    fn a_turn_answers_every_ready_packet() {
        let (ours, mut peer) = Memory::pair();
        let mut rt = Runtime::new(Stack::new(StackConfig::default()), ours);
        // Three pings, the second with a broken checksum.
        let mut ping = [
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2, 8, 0, 0, 0, 0,
            7, 0, 1,
        ];
        let sum = crate::wire::internet_checksum(&[&ping[..20]]);
        ping[10..12].copy_from_slice(&sum);
        let sum = crate::wire::internet_checksum(&[&ping[20..]]);
        ping[22..24].copy_from_slice(&sum);
        let mut bad = ping;
        bad[27] ^= 1;
        let now = Instant::ZERO;
        for p in [&ping[..], &bad[..], &ping[..]] {
            peer.send_plain(now, p).unwrap();
        }
        assert_eq!(rt.turn(&|| now).unwrap(), None);
        assert_eq!(peer.pending(), 2);
        assert_eq!(rt.stack.counters().echo_replies, 2);
        assert_eq!(
            rt.stack
                .counters()
                .drops
                .get(crate::wire::DropReason::IcmpBadChecksum),
            1
        );
    }
}
