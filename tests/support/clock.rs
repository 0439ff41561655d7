//! The simulated clock: one event-driven driver for every simulation in `tests/` (after
//! quinn-proto's `Pair`). At each instant the endpoints are polled in a fixed order until
//! nothing moves; then time jumps to the earliest thing any of them waits for (a timer, a
//! packet held on the wire). Runs are bounded in rounds per instant, in steps, and by a limit
//! of simulated time.
//!
//! A suite describes its simulation as a [`World`] (its clock, one round of its endpoints,
//! their earliest deadline) and drives it with [`settle`], [`run_until`], [`advance`] and
//! [`step`]. Where the suites' drivers used to differ (whether the starting instant is
//! worked, when `done` is asked, what happens at the limit), a [`Schedule`] keeps each one's
//! choice, so seeded runs replay as before.

use tunstack::time::{Duration, Instant};

/// One participant of a simulation: our `Stack` on a link, our bare `Connection`, smoltcp's
/// `Interface`.
pub trait Endpoint {
    /// Does everything due at `now`: timers, packets in, packets out, events. Returns
    /// whether anything moved.
    fn poll(&mut self, now: Instant) -> bool;

    /// The next time it has something to do on its own, if any.
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;
}

/// A simulation as the driver sees it.
pub trait World {
    /// The simulated time (a field of the world: tests read it as `sim.now`).
    fn now(&mut self) -> &mut Instant;

    /// Steps taken so far (one step: work at an instant, ask `done`, jump).
    fn steps(&mut self) -> &mut u64;

    fn schedule(&self) -> Schedule;

    /// Names the world in panic messages.
    fn name(&self) -> String {
        "simulation".to_string()
    }

    /// One round at `now`: every endpoint polled once, in the world's order. Returns whether
    /// anything moved (then another round at the same instant follows).
    fn round(&mut self, now: Instant) -> bool;

    /// The earliest time anything is due: a deadline of an endpoint, a packet on the wire.
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;
}

/// What [`run_until`] does when the next event lies beyond the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtLimit {
    /// Returns false at once, the clock where it is.
    Stop,
    /// Moves the clock to the limit, works there and asks `done` once more.
    RunOut,
    /// Steps to that event all the same while the clock is within the limit, and asks
    /// `done` once more after the step that passed it (quinn-proto's `Pair`).
    StepPast,
}

/// How a world is driven: where the suites' drivers used to differ, each keeps its choice,
/// so that seeded runs replay exactly as before.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Work at the starting instant before `done` is first asked; otherwise the first work
    /// is at the first event, and what the test queued before leaves then.
    pub work_first: bool,
    /// Ask `done` after every round, not only once the instant has settled (an HTTP
    /// exchange may be complete before the wire is quiet).
    pub ask_every_round: bool,
    /// Settle again right after `done`, so that what its applications queued leaves at this
    /// instant; otherwise it leaves with the next event.
    pub settle_after_done: bool,
    pub at_limit: AtLimit,
    /// Rounds at one instant before it counts as a livelock.
    pub max_rounds: u32,
    /// Steps in the world's life before it counts as a livelock.
    pub max_steps: u64,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            work_first: true,
            ask_every_round: false,
            settle_after_done: true,
            at_limit: AtLimit::RunOut,
            max_rounds: 100_000,
            max_steps: 10_000_000,
        }
    }
}

/// Rounds at the current instant until nothing moves; returns whether anything did.
pub fn settle<W: World + ?Sized>(w: &mut W) -> bool {
    let now = *w.now();
    let mut any = false;
    for _ in 0..w.schedule().max_rounds {
        if !w.round(now) {
            return any;
        }
        any = true;
    }
    panic!("{}: the wire did not settle at {now}", w.name());
}

/// The work done at an instant before `done` is asked: a settle, or one round.
fn work<W: World + ?Sized>(w: &mut W) -> bool {
    if w.schedule().ask_every_round {
        let now = *w.now();
        w.round(now)
    } else {
        settle(w)
    }
}

fn tick<W: World + ?Sized>(w: &mut W) {
    let max = w.schedule().max_steps;
    *w.steps() += 1;
    let (steps, now) = (*w.steps(), *w.now());
    assert!(
        steps < max,
        "{}: more than {max} steps (livelock?) at {now}",
        w.name()
    );
}

/// Works, asks `done`, and jumps to the next event, until `done` returns true (then true)
/// or `limit` of simulated time has passed (then false, or what `done` says at the limit;
/// see [`AtLimit`]).
pub fn run_until<W: World + ?Sized>(
    w: &mut W,
    limit: Duration,
    mut done: impl FnMut(&mut W) -> bool,
) -> bool {
    let s = w.schedule();
    let end = *w.now() + limit;
    let mut first = true;
    loop {
        tick(w);
        let worked = (s.work_first || !first) && work(w);
        first = false;
        let finished = done(w);
        let queued = s.settle_after_done && settle(w);
        if finished {
            return true;
        }
        if queued || (worked && s.ask_every_round) {
            continue;
        }
        let now = *w.now();
        match (w.poll_at(now), s.at_limit) {
            (Some(t), _) if t <= end => *w.now() = now.max(t),
            (Some(t), AtLimit::StepPast) if now <= end => *w.now() = now.max(t),
            (_, AtLimit::Stop) => return false,
            (_, AtLimit::StepPast) => return done(w),
            (_, AtLimit::RunOut) => {
                *w.now() = now.max(end);
                work(w);
                return done(w);
            }
        }
    }
}

/// Moves the clock on by `d`, doing everything due on the way and at the end.
pub fn advance<W: World + ?Sized>(w: &mut W, d: Duration) {
    let end = *w.now() + d;
    run_until(w, d, |w| *w.now() >= end);
    let now = *w.now();
    *w.now() = now.max(end);
    settle(w);
}

/// Jumps to the next event, never past `limit` (with nothing due before it, to `limit`),
/// and works there. Returns false when nothing at all is pending and there is no limit.
pub fn step<W: World + ?Sized>(w: &mut W, limit: Option<Instant>) -> bool {
    let now = *w.now();
    let next = match (w.poll_at(now), limit) {
        (Some(n), Some(l)) => n.min(l),
        (None, Some(l)) => l,
        (Some(n), None) => n,
        (None, None) => return false,
    };
    *w.now() = now.max(next);
    work(w);
    true
}
