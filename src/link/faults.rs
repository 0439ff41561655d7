//! `Faults`: a seeded fault injector that wraps any link.
//!
//! Each direction has its own loss, duplication, reordering, corruption, delay and jitter.
//! Decisions come from one seeded RNG, so a run is replayed exactly by its seed and the order
//! of packets. Delayed packets are held in a queue ordered by delivery time; `poll_at` tells
//! the driver when the next one is due.
//!
//! The command-line form (`--faults`) is a comma-separated list such as
//! `loss=0.05,delay=10ms,seed=7` (both directions) or `rx.loss=0.2,tx.reorder=0.1`
//! (`rx` = towards the stack, `tx` = from the stack).

use super::gso;
use super::{ChecksumState, Gso, Link, PacketDesc};
use crate::time::{Duration, Instant, parse_duration};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::str::FromStr;

/// The faults applied to packets travelling in one direction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DirectionFaults {
    /// Probability that a packet is dropped.
    pub loss: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back by `reorder_delay`, letting later ones pass.
    pub reorder: f64,
    /// Probability that one random bit of the packet is flipped.
    pub corrupt: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra random delay, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
}

impl DirectionFaults {
    fn is_none(&self) -> bool {
        self.loss == 0.0
            && self.duplicate == 0.0
            && self.reorder == 0.0
            && self.corrupt == 0.0
            && self.delay.is_zero()
            && self.jitter.is_zero()
    }
}

/// Faults for both directions plus the seed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultSpec {
    /// Packets travelling towards the stack (received from the inner link).
    pub rx: DirectionFaults,
    /// Packets travelling from the stack (sent to the inner link).
    pub tx: DirectionFaults,
    /// Seed of the one RNG behind every decision: the same seed and packets, the same run.
    pub seed: u64,
}

impl FaultSpec {
    /// The same faults in both directions.
    #[must_use]
    pub fn symmetric(faults: DirectionFaults, seed: u64) -> FaultSpec {
        FaultSpec {
            rx: faults.clone(),
            tx: faults,
            seed,
        }
    }
}

fn parse_probability(key: &str, s: &str) -> Result<f64, String> {
    let p = s.strip_suffix('%').map_or_else(
        || s.parse::<f64>(),
        |pct| pct.parse::<f64>().map(|v| v / 100.0),
    );
    match p {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!(
            "{key}={s}: expected a probability between 0 and 1 (or 0%..100%)"
        )),
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<FaultSpec, String> {
        let mut spec = FaultSpec::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected key=value"))?;
            if key == "seed" {
                spec.seed = value.parse().map_err(|_| format!("bad seed {value:?}"))?;
                continue;
            }
            let (dirs, name): (&[bool], &str) = match key.split_once('.') {
                Some(("rx" | "in", name)) => (&[true], name),
                Some(("tx" | "out", name)) => (&[false], name),
                Some((dir, _)) => return Err(format!("unknown direction {dir:?} (use rx or tx)")),
                None => (&[true, false], key),
            };
            for &rx in dirs {
                let d = if rx { &mut spec.rx } else { &mut spec.tx };
                match name {
                    "loss" => d.loss = parse_probability(key, value)?,
                    "dup" | "duplicate" => d.duplicate = parse_probability(key, value)?,
                    "reorder" => d.reorder = parse_probability(key, value)?,
                    "corrupt" => d.corrupt = parse_probability(key, value)?,
                    "delay" => d.delay = parse_duration(value)?,
                    "jitter" => d.jitter = parse_duration(value)?,
                    "reorder-delay" => d.reorder_delay = parse_duration(value)?,
                    _ => {
                        return Err(format!(
                            "unknown fault {name:?} (known: loss, dup, reorder, corrupt, delay, \
                             jitter, reorder-delay, seed)"
                        ));
                    }
                }
            }
        }
        for d in [&mut spec.rx, &mut spec.tx] {
            if d.reorder > 0.0 && d.reorder_delay.is_zero() {
                d.reorder_delay = Duration::from_millis(1);
            }
        }
        Ok(spec)
    }
}

/// What the injector did, per direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultsStats {
    /// Packets delivered (each copy of a duplicate counts).
    pub passed: u64,
    /// Packets lost to `loss`.
    pub dropped: u64,
    /// Packets delivered twice.
    pub duplicated: u64,
    /// Packets held back by `reorder_delay`.
    pub reordered: u64,
    /// Packets (copies) with one bit flipped.
    pub corrupted: u64,
}

impl fmt::Display for FaultsStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "passed {} dropped {} duplicated {} reordered {} corrupted {}",
            self.passed, self.dropped, self.duplicated, self.reordered, self.corrupted
        )
    }
}

/// A held packet; ordered by delivery time, then arrival order (unique per packet).
struct Held {
    at: Instant,
    order: u64,
    packet: Vec<u8>,
    desc: PacketDesc,
}

impl Held {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.order)
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Held {}

impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Held) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Held {
    fn cmp(&self, other: &Held) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

#[derive(Default)]
struct Direction {
    faults: DirectionFaults,
    queue: BinaryHeap<Reverse<Held>>,
    stats: FaultsStats,
}

/// One copy of a packet that survived: the bit to flip, if corrupted, and when it is due.
struct Copy {
    flip: Option<(usize, u8)>,
    at: Instant,
    reordered: bool,
}

impl Direction {
    /// Applies the faults to one packet, queueing zero, one or two copies. A TCP
    /// super-segment (offload) meets them segment by segment, as on a wire (`gso.rs`): it is
    /// cut into its segments when any of them is struck, and travels whole otherwise.
    fn admit(
        &mut self,
        rng: &mut fastrand::Rng,
        order: &mut u64,
        now: Instant,
        packet: &[u8],
        desc: PacketDesc,
    ) {
        let f = &self.faults;
        let strikes = f.loss > 0.0 || f.duplicate > 0.0 || f.corrupt > 0.0 || f.reorder > 0.0;
        if strikes && let Some(pieces) = gso::segment(packet, desc) {
            let mut plans: Vec<Vec<Copy>> = pieces
                .iter()
                .map(|piece| self.plan(rng, now, piece.len()))
                .collect();
            let untouched = plans
                .iter()
                .all(|c| matches!(c.as_slice(), [c] if c.flip.is_none() && !c.reordered));
            if untouched {
                let at = plans[0][0].at;
                self.place(
                    order,
                    packet,
                    desc,
                    Copy {
                        flip: None,
                        at,
                        reordered: false,
                    },
                );
                return;
            }
            // The segments no fault touched travel on together, each run of two or more as
            // a super-segment again (TCP: what GRO would make of them; a sender's TSO pays
            // one write for them, not one each); the struck ones as planned, in order.
            let clean = |c: &[Copy]| matches!(c, [c] if c.flip.is_none() && !c.reordered);
            let mut i = 0;
            while i < pieces.len() {
                let mut j = i;
                while j < pieces.len() && clean(&plans[j]) {
                    j += 1;
                }
                if let Gso::Tcp { size, .. } = desc.gso
                    && j - i >= 2
                {
                    let run: Vec<&[u8]> = pieces[i..j].iter().map(Vec::as_slice).collect();
                    let (joined, joined_desc) = gso::join(&run, size);
                    let at = plans[i][0].at;
                    let copy = Copy {
                        flip: None,
                        at,
                        reordered: false,
                    };
                    self.place(order, &joined, joined_desc, copy);
                    i = j;
                    continue;
                }
                let end = j.max(i + 1);
                for (piece, copies) in pieces[i..end].iter().zip(&mut plans[i..end]) {
                    for copy in std::mem::take(copies) {
                        self.place(order, piece, PacketDesc::plain(piece.len()), copy);
                    }
                }
                i = end;
            }
            return;
        }
        for copy in self.plan(rng, now, packet.len()) {
            self.place(order, packet, desc, copy);
        }
    }

    /// The fate of one packet of `len` octets: no copy (lost), one, or two (duplicated).
    fn plan(&mut self, rng: &mut fastrand::Rng, now: Instant, len: usize) -> Vec<Copy> {
        let f = &self.faults;
        if rng.f64() < f.loss {
            self.stats.dropped += 1;
            return Vec::new();
        }
        let copies = if rng.f64() < f.duplicate {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                let flip = (len > 0 && rng.f64() < f.corrupt).then(|| {
                    self.stats.corrupted += 1;
                    (rng.usize(..len), rng.u8(..8))
                });
                let mut at = now + f.delay;
                if !f.jitter.is_zero() {
                    at += Duration::from_micros(rng.u64(..=f.jitter.as_micros() as u64));
                }
                let reordered = rng.f64() < f.reorder;
                if reordered {
                    at += f.reorder_delay;
                    self.stats.reordered += 1;
                }
                Copy {
                    flip,
                    at,
                    reordered,
                }
            })
            .collect()
    }

    /// Queues one copy, damaged as planned.
    fn place(&mut self, order: &mut u64, packet: &[u8], desc: PacketDesc, copy: Copy) {
        let mut packet = packet.to_vec();
        let mut desc = desc;
        if let Some((i, bit)) = copy.flip {
            // A partial checksum (offload) is completed first, so the damage is caught.
            if let ChecksumState::Partial { start, offset } = desc.checksum {
                super::complete_checksum(&mut packet, start, offset);
                desc.checksum = ChecksumState::Verified;
            }
            packet[i] ^= 1 << bit;
            // Damage on the wire happens after any device verified the checksum: the
            // receiver must check it again. Otherwise the descriptor passes unchanged.
            if desc.checksum == ChecksumState::Verified {
                desc.checksum = ChecksumState::Unverified;
            }
        }
        *order += 1;
        self.queue.push(Reverse(Held {
            at: copy.at,
            order: *order,
            packet,
            desc,
        }));
    }

    fn pop_due(&mut self, now: Instant) -> Option<(Vec<u8>, PacketDesc)> {
        if self.queue.peek()?.0.at > now {
            return None;
        }
        self.stats.passed += 1;
        self.queue.pop().map(|Reverse(h)| (h.packet, h.desc))
    }

    fn next_at(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse(h)| h.at)
    }
}

/// A link wrapper that injects seeded faults in each direction.
pub struct Faults<L> {
    inner: L,
    rng: fastrand::Rng,
    order: u64,
    rx: Direction,
    tx: Direction,
    scratch: Vec<u8>,
}

impl<L: Link> Faults<L> {
    /// Wraps `inner` with the faults of `spec`, its RNG seeded with `spec.seed`.
    #[must_use]
    pub fn new(inner: L, spec: FaultSpec) -> Faults<L> {
        Faults {
            inner,
            rng: fastrand::Rng::with_seed(spec.seed),
            order: 0,
            rx: Direction {
                faults: spec.rx,
                ..Direction::default()
            },
            tx: Direction {
                faults: spec.tx,
                ..Direction::default()
            },
            scratch: vec![0; 65_536],
        }
    }

    /// Changes the faults from now on (a test "cuts the cable" with `loss = 1.0`).
    pub fn set_spec(&mut self, rx: DirectionFaults, tx: DirectionFaults) {
        self.rx.faults = rx;
        self.tx.faults = tx;
    }

    /// What was done so far: (towards the stack, from the stack).
    pub fn stats(&self) -> (FaultsStats, FaultsStats) {
        (self.rx.stats, self.tx.stats)
    }

    /// The wrapped link.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The wrapped link, mutably; packets sent through it directly bypass the faults.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }
}

impl<L: Link> Link for Faults<L> {
    fn recv(&mut self, now: Instant, buf: &mut [u8]) -> io::Result<Option<PacketDesc>> {
        if self.rx.faults.is_none() && self.rx.queue.is_empty() {
            let got = self.inner.recv(now, buf)?;
            if got.is_some() {
                self.rx.stats.passed += 1;
            }
            return Ok(got);
        }
        while let Some(desc) = self.inner.recv(now, &mut self.scratch)? {
            let packet = &self.scratch[..desc.len];
            self.rx
                .admit(&mut self.rng, &mut self.order, now, packet, desc);
        }
        let Some((packet, desc)) = self.rx.pop_due(now) else {
            return Ok(None);
        };
        super::deliver(&packet, desc, buf)
    }

    fn send(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) -> io::Result<()> {
        if self.tx.faults.is_none() && self.tx.queue.is_empty() {
            self.tx.stats.passed += 1;
            return self.inner.send(now, packet, desc);
        }
        self.tx
            .admit(&mut self.rng, &mut self.order, now, packet, desc);
        self.flush(now)
    }

    fn poll_at(&self) -> Option<Instant> {
        Instant::min_opt(
            Instant::min_opt(self.rx.next_at(), self.tx.next_at()),
            self.inner.poll_at(),
        )
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        while let Some((packet, desc)) = self.tx.pop_due(now) {
            self.inner.send(now, &packet, desc)?;
        }
        self.inner.flush(now)
    }

    fn raw_fd(&self) -> Option<RawFd> {
        self.inner.raw_fd()
    }

    fn summary(&self) -> Vec<String> {
        let mut lines = vec![
            format!("faults rx (towards the stack): {}", self.rx.stats),
            format!("faults tx (from the stack): {}", self.tx.stats),
        ];
        lines.extend(self.inner.summary());
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::Memory;

    fn drain(link: &mut impl Link, now: Instant) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while let Some(n) = link.recv(now, &mut buf).unwrap().map(|d| d.len) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    #[test]
    fn parses_the_command_line_form() {
        let spec: FaultSpec = "loss=5%,rx.delay=10ms,tx.reorder=0.1,seed=7"
            .parse()
            .unwrap();
        assert_eq!(spec.seed, 7);
        assert_eq!(spec.rx.loss, 0.05);
        assert_eq!(spec.tx.loss, 0.05);
        assert_eq!(spec.rx.delay, Duration::from_millis(10));
        assert!(spec.tx.delay.is_zero());
        assert_eq!(spec.tx.reorder, 0.1);
        assert_eq!(spec.tx.reorder_delay, Duration::from_millis(1));
        assert!("loss=2".parse::<FaultSpec>().is_err());
        assert!("bogus=1".parse::<FaultSpec>().is_err());
        assert!("up.loss=0.1".parse::<FaultSpec>().is_err());
        assert!("delay=5parsecs".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn delay_holds_packets_until_due() {
        let (a, mut b) = Memory::pair();
        let spec: FaultSpec = "tx.delay=10ms".parse().unwrap();
        let mut f = Faults::new(a, spec);
        f.send_plain(Instant::ZERO, b"x").unwrap();
        assert!(drain(&mut b, Instant::ZERO).is_empty());
        assert_eq!(f.poll_at(), Some(Instant::from_millis(10)));
        f.flush(Instant::from_millis(9)).unwrap();
        assert!(drain(&mut b, Instant::ZERO).is_empty());
        f.flush(Instant::from_millis(10)).unwrap();
        assert_eq!(drain(&mut b, Instant::ZERO), vec![b"x".to_vec()]);
        assert_eq!(f.poll_at(), None);
    }

    #[test]
    fn loss_and_duplication_follow_the_seed() {
        let run = |seed| {
            let (a, mut b) = Memory::pair();
            let spec: FaultSpec = format!("loss=0.3,dup=0.2,seed={seed}").parse().unwrap();
            let mut f = Faults::new(a, spec);
            for i in 0..1000u32 {
                f.send_plain(Instant::ZERO, &i.to_be_bytes()).unwrap();
            }
            (drain(&mut b, Instant::ZERO), f.stats().1)
        };
        let (got, stats) = run(1);
        assert_eq!(run(1).0, got, "same seed, same packets");
        assert_ne!(run(2).0, got, "another seed, other packets");
        assert_eq!(got.len() as u64, stats.passed);
        assert_eq!(stats.passed, 1000 - stats.dropped + stats.duplicated);
        assert!((200..400).contains(&stats.dropped), "{stats}");
        assert!(stats.duplicated > 80, "{stats}");
        // Without reordering, order is preserved (duplicates adjacent).
        let seq: Vec<u32> = got
            .iter()
            .map(|p| u32::from_be_bytes(p[..4].try_into().unwrap()))
            .collect();
        assert!(seq.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Offload: loss strikes the segments a super-segment stands for, one by one. The
    /// super-segments no loss touched pass whole; of the others, each run of two or more
    /// segments left between losses travels as a super-segment again, a lone one plain.
    #[test]
    fn a_super_segment_meets_loss_segment_by_segment() {
        let (a, mut b) = Memory::pair();
        let mut f = Faults::new(a, "tx.loss=0.1,seed=5".parse().unwrap());
        let p = gso::super_v4(10_000);
        for _ in 0..1000 {
            f.send(Instant::ZERO, &p, gso::gso(p.len(), 1000)).unwrap();
        }
        let (mut whole, mut runs, mut segments) = (0u64, 0u64, 0u64);
        let mut buf = vec![0u8; 65_536];
        while let Some(desc) = b.recv(Instant::ZERO, &mut buf).unwrap() {
            let payload = desc.len - 40;
            match desc.gso {
                Gso::Tcp { size, .. } => {
                    assert_eq!(size, 1000);
                    assert!(payload > 1000, "a run is two segments or more");
                    if buf[..desc.len] == p[..] {
                        whole += 1;
                    } else {
                        runs += 1;
                    }
                }
                Gso::None => assert_eq!(payload, 1000, "one segment"),
                Gso::Udp { .. } => unreachable!("only TCP was sent"),
            }
            segments += payload.div_ceil(1000) as u64;
        }
        let dropped = f.stats().1.dropped;
        assert_eq!(segments + dropped, 10_000, "every segment accounted for");
        assert!(
            (800..1200).contains(&dropped),
            "10% of 10,000 segments: {dropped}"
        );
        // 0.9^10 of the super-segments meet no loss; most others leave runs.
        assert!((280..420).contains(&whole), "{whole} whole");
        assert!(runs > 500, "{runs} runs rejoined");
    }

    #[test]
    fn reordering_and_corruption_on_receive() {
        let (mut a, b) = Memory::pair();
        let spec: FaultSpec = "rx.reorder=0.5,rx.corrupt=0.5,seed=3".parse().unwrap();
        let mut f = Faults::new(b, spec);
        for i in 0..100u8 {
            a.send_plain(Instant::ZERO, &[i; 8]).unwrap();
        }
        let mut got = drain(&mut f, Instant::ZERO);
        assert!(f.poll_at().is_some(), "reordered packets are held");
        got.extend(drain(&mut f, Instant::from_millis(1)));
        assert_eq!(got.len(), 100);
        let (rx, _) = f.stats();
        assert!(rx.reordered > 20 && rx.corrupted > 20, "{rx}");
        let firsts: Vec<u8> = got.iter().map(|p| p[7]).collect();
        assert!(
            firsts.windows(2).any(|w| w[0] > w[1]),
            "some packets overtaken"
        );
        let flipped = got
            .iter()
            .filter(|p| p.iter().any(|&x| x != p[0]) || p[0] != p[1])
            .count();
        assert!(flipped > 0);
    }
}
