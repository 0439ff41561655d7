//! Two of our connections over a simulated wire with seeded faults and a link rate, on the
//! shared clock (quinn-proto's `Pair`).

use std::net::{Ipv4Addr, SocketAddrV4};

use tunstack::tcp::{Config, Connection, Event, FourTuple, Segment, SeqNum, State, reset_for};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

use super::support::clock::{self, AtLimit, Endpoint, Schedule, World};
use super::support::endpoints::ConnectionEnd;
use super::{IRS, ISS};

/// Faults applied to every packet on the simulated wire (seeded, deterministic).
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    /// Probability that a packet gets extra delay (and so is reordered).
    pub reorder: f64,
    pub delay: Duration,
    /// Link rate in octets per second (0: infinite); packets queue behind each other.
    pub bandwidth: u64,
    /// Loss decided by what is sent, not by when: the n-th copy of the data segment at a
    /// given sequence number (or of a segment without data carrying a given ACK) is lost
    /// by a hash of the seed, the direction, that number and n. Two senders that put the
    /// same segments on the wire meet the same losses, whatever the interleaving, so runs
    /// of different code with one seed compare segment for segment.
    pub keyed_loss: bool,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            reorder: 0.0,
            delay: Duration::from_millis(10),
            bandwidth: 12_500_000, // 100 Mbit/s
            keyed_loss: false,
        }
    }
}

pub const ADDR_A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40000);
pub const ADDR_B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);

struct Packet {
    at: Instant,
    order: u64,
    to_b: bool,
    bytes: Vec<u8>,
}

/// The wire between A and B: packets in flight, each direction's link rate, seeded faults.
struct Wire {
    faults: Faults,
    rng: fastrand::Rng,
    seed: u64,
    /// With `keyed_loss`: copies sent so far per (direction, data?, sequence or ACK number).
    sent: std::collections::HashMap<(bool, bool, u32), u32>,
    /// Segments carrying data (or SYN/FIN) the loss fault dropped: (to A, to B).
    lost_data: [u64; 2],
    packets: Vec<Packet>,
    order: u64,
    /// When each direction's link finishes sending what is queued (to B, to A).
    busy_until: [Instant; 2],
}

impl Wire {
    fn new(faults: Faults, seed: u64, now: Instant) -> Wire {
        Wire {
            faults,
            rng: fastrand::Rng::with_seed(seed),
            seed,
            sent: std::collections::HashMap::new(),
            lost_data: [0; 2],
            packets: Vec::new(),
            order: 0,
            busy_until: [now; 2],
        }
    }

    fn put(&mut self, now: Instant, seg: &Segment, to_b: bool) {
        let (src, dst) = if to_b {
            (ADDR_A, ADDR_B)
        } else {
            (ADDR_B, ADDR_A)
        };
        let mut bytes = vec![0u8; seg.wire_len()];
        seg.emit(
            PseudoHeader::tcp(*src.ip(), *dst.ip()),
            src.port(),
            dst.port(),
            &mut bytes,
        );
        let f = self.faults;
        let link = &mut self.busy_until[usize::from(!to_b)];
        match (bytes.len() as u64 * 1_000_000).checked_div(f.bandwidth) {
            Some(us) => *link = (*link).max(now) + Duration::from_micros(us),
            None => *link = now,
        }
        let departed = *link;
        let data = !seg.payload.is_empty() || seg.syn() || seg.fin();
        let lost = if f.keyed_loss {
            let number = if data { seg.seq.get() } else { seg.ack.get() };
            let n = self.sent.entry((to_b, data, number)).or_insert(0);
            *n += 1;
            let key = [
                self.seed,
                u64::from(to_b),
                u64::from(data),
                u64::from(number),
                u64::from(*n),
            ];
            unit_hash(&key) < f.loss
        } else {
            self.rng.f64() < f.loss
        };
        if lost {
            self.lost_data[usize::from(to_b)] += u64::from(data);
            return;
        }
        let copies = if self.rng.f64() < f.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let mut b = bytes.clone();
            if self.rng.f64() < f.corrupt {
                let i = self.rng.usize(..b.len());
                b[i] ^= 1 << self.rng.u8(..8);
            }
            let mut at = departed + f.delay;
            if self.rng.f64() < f.reorder {
                at += Duration::from_micros(self.rng.u64(..(3 * f.delay.as_micros() as u64)));
            }
            self.order += 1;
            self.packets.push(Packet {
                at,
                order: self.order,
                to_b,
                bytes: b,
            });
        }
    }

    /// Everything due at `now`, in arrival order.
    fn take_due(&mut self, now: Instant) -> Vec<Packet> {
        let mut due: Vec<Packet> = Vec::new();
        let mut i = 0;
        while i < self.packets.len() {
            if self.packets[i].at <= now {
                due.push(self.packets.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.order));
        due
    }
}

/// A number in [0, 1) from `words` (SplitMix64 steps over each word).
fn unit_hash(words: &[u64]) -> f64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    for w in words {
        h = (h ^ w).wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Two of our connections over a simulated wire; time jumps to the next event.
pub struct Pair {
    pub a: Connection,
    pub b: Connection,
    pub now: Instant,
    wire: Wire,
    pub dropped_bad: u64,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    steps: u64,
}

impl Pair {
    /// `a` connects to `b`, which was created from `a`'s SYN (as a listener would).
    pub fn new(config: Config, faults: Faults, seed: u64) -> Pair {
        let now = Instant::from_secs(1);
        let ta = FourTuple {
            local: ADDR_A.into(),
            remote: ADDR_B.into(),
        };
        let mut a = Connection::connect(now, ta, SeqNum(ISS), config.clone());
        let syn = a.poll_transmit(now).unwrap();
        let tb = FourTuple {
            local: ADDR_B.into(),
            remote: ADDR_A.into(),
        };
        let b = Connection::accept(now, tb, SeqNum(IRS), &syn, config);
        Pair::of(a, b, Wire::new(faults, seed, now), now)
    }

    /// Both ends created by `connect` (simultaneous open).
    pub fn simultaneous(config: Config) -> Pair {
        let now = Instant::from_secs(1);
        let a = Connection::connect(
            now,
            FourTuple {
                local: ADDR_A.into(),
                remote: ADDR_B.into(),
            },
            SeqNum(ISS),
            config.clone(),
        );
        let b = Connection::connect(
            now,
            FourTuple {
                local: ADDR_B.into(),
                remote: ADDR_A.into(),
            },
            SeqNum(IRS),
            config,
        );
        Pair::of(a, b, Wire::new(Faults::none(), 0, now), now)
    }

    fn of(a: Connection, b: Connection, wire: Wire, now: Instant) -> Pair {
        Pair {
            a,
            b,
            now,
            wire,
            dropped_bad: 0,
            events_a: Vec::new(),
            events_b: Vec::new(),
            steps: 0,
        }
    }

    /// Move every pending segment onto the wire and collect events.
    pub fn flush(&mut self) {
        let (now, wire) = (self.now, &mut self.wire);
        ConnectionEnd {
            conn: &mut self.a,
            events: &mut self.events_a,
            out: |now, seg: Segment| wire.put(now, &seg, true),
        }
        .drain(now);
        ConnectionEnd {
            conn: &mut self.b,
            events: &mut self.events_b,
            out: |now, seg: Segment| wire.put(now, &seg, false),
        }
        .drain(now);
    }

    /// Data-carrying segments (SYN and FIN included) the wire's loss dropped on their way
    /// to B (`to_b`) or to A.
    pub fn lost_data(&self, to_b: bool) -> u64 {
        self.wire.lost_data[usize::from(to_b)]
    }

    /// Advance to the next event (delivery or timer) and process it. Returns false when
    /// nothing at all is pending.
    pub fn step(&mut self) -> bool {
        self.step_until(None)
    }

    /// `step`, but never beyond `limit`: with nothing due before it, time moves to `limit`.
    pub fn step_until(&mut self, limit: Option<Instant>) -> bool {
        clock::step(self, limit)
    }

    /// Let time pass with nothing on the wire until `t` (an application's own timer).
    pub fn idle_until(&mut self, t: Instant) {
        if self.wire.packets.is_empty() {
            self.now = self.now.max(t);
            let now = self.now;
            self.round(now);
        }
    }

    /// Step until `done` or until `limit` of simulated time passed; returns whether done.
    pub fn run_until(&mut self, limit: Duration, done: impl FnMut(&mut Pair) -> bool) -> bool {
        clock::run_until(self, limit, done)
    }

    /// Delivers everything due at `now`, in arrival order; all of a batch before any reply
    /// (MUST-59). A segment for an end that is CLOSED is answered with a RST, as the stack
    /// answers a segment for no connection (RFC 9293 §3.10.7.1): a peer whose last
    /// retransmissions outlive our TIME-WAIT is reset rather than left to run into R2.
    fn deliver(&mut self, now: Instant) -> bool {
        let due = self.wire.take_due(now);
        let delivered = !due.is_empty();
        for p in due {
            let (src, dst) = if p.to_b {
                (ADDR_A, ADDR_B)
            } else {
                (ADDR_B, ADDR_A)
            };
            match Segment::parse(PseudoHeader::tcp(*src.ip(), *dst.ip()), &p.bytes) {
                Ok((sp, dp, seg)) => {
                    assert_eq!((sp, dp), (src.port(), dst.port()));
                    let c = if p.to_b { &mut self.b } else { &mut self.a };
                    if c.state() == State::Closed {
                        if let Some(rst) = reset_for(&seg) {
                            self.wire.put(now, &rst, !p.to_b);
                        }
                        continue;
                    }
                    c.handle_segment(now, &seg);
                }
                Err(_) => self.dropped_bad += 1,
            }
        }
        delivered
    }
}

/// The wire delivers, then A and B fire their timers and send; `done` is asked first, then
/// after each step, and a step is taken while the clock is within the limit.
impl World for Pair {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            work_first: false,
            settle_after_done: false,
            at_limit: AtLimit::StepPast,
            max_steps: u64::MAX,
            ..Schedule::default()
        }
    }

    fn round(&mut self, now: Instant) -> bool {
        let delivered = self.deliver(now);
        let wire = &mut self.wire;
        let a = ConnectionEnd {
            conn: &mut self.a,
            events: &mut self.events_a,
            out: |now, seg: Segment| wire.put(now, &seg, true),
        }
        .poll(now);
        let b = ConnectionEnd {
            conn: &mut self.b,
            events: &mut self.events_b,
            out: |now, seg: Segment| wire.put(now, &seg, false),
        }
        .poll(now);
        delivered || a || b
    }

    /// What the applications queued goes onto the wire first, so its arrival counts.
    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.flush();
        let next_packet = self.wire.packets.iter().map(|p| p.at).min();
        Instant::min_opt(
            next_packet,
            Instant::min_opt(self.a.poll_timeout(), self.b.poll_timeout()),
        )
    }
}
