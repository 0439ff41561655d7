//! Congestion control: RFC 5681 slow start and congestion avoidance (MUST-19), with the
//! window growth of CUBIC (RFC 9438, the default) or NewReno, and two ways through loss:
//!
//! - with SACK: RACK (RFC 8985, `rack.rs`) decides what is lost and when recovery starts;
//!   cwnd is then set on every ACK by PRR (RFC 6937, `prr.rs`), and what may be sent is
//!   `cwnd − pipe` from the per-segment scoreboard;
//! - without SACK (RFC 6582 NewReno fast recovery): cwnd is inflated by one SMSS per
//!   duplicate ACK and deflated on partial ACKs, each of which resends one segment.
//!
//! Time is passed in (`now`, the smoothed RTT): the controller never reads a clock.

use super::seq::SeqNum;
use crate::time::{Duration, Instant};

/// Which window growth a connection uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// RFC 5681 / RFC 6582: halve on loss, one SMSS per RTT in congestion avoidance.
    NewReno,
    /// RFC 9438: multiply by 0.7 on loss, grow along a cubic function of the time since.
    #[default]
    Cubic,
}

impl Algorithm {
    /// The name the daemon's `--cc` flag takes: `"newreno"` or `"cubic"`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::NewReno => "newreno",
            Algorithm::Cubic => "cubic",
        }
    }

    /// Parses a [`name`](Algorithm::name) (`"reno"` too); `None` for anything else.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "newreno" | "reno" => Some(Algorithm::NewReno),
            "cubic" => Some(Algorithm::Cubic),
            _ => None,
        }
    }
}

/// What the sender should do after a duplicate ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DupAckAction {
    Nothing,
    /// RFC 5681 §3.2 step 2 / RFC 6675 §5 step 4.3: retransmit the first unacknowledged
    /// segment.
    FastRetransmit,
}

/// RFC 9438 §4.6: multiplicative decrease factor.
const BETA_CUBIC: f64 = 0.7;
/// RFC 9438 §5: C, in segments per second³.
const C_CUBIC: f64 = 0.4;

/// RFC 9438 state of the current congestion-avoidance epoch (units: segments, seconds).
#[derive(Clone, Debug, Default)]
struct Cubic {
    /// W_max: the window just before the last reduction.
    w_max: f64,
    /// cwnd before the last reduction (cwnd_prior, for the Reno-friendly α).
    cwnd_prior: f64,
    /// Start of the epoch (the first ACK in congestion avoidance) and K.
    epoch: Option<(Instant, f64)>,
    /// W_est: the Reno-friendly estimate.
    w_est: f64,
}

/// The congestion controller's state (RFC 5681 §3.1 variables).
#[derive(Clone, Debug)]
pub(super) struct Congestion {
    algorithm: Algorithm,
    smss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 §3.1 (3)).
    acked_in_ca: u32,
    dup_acks: u32,
    /// RFC 6582 `recover` / RFC 6675 RecoveryPoint: SND.MAX when recovery started; `None`
    /// outside recovery.
    recover: Option<SeqNum>,
    /// The peer SACKs: recover per RFC 6675 instead of RFC 6582.
    sack: bool,
    cubic: Cubic,
    /// cwnd, ssthresh and CUBIC's state before the last reduction, to restore when it
    /// proves spurious (RFC 3708 / RFC 4015 undo).
    prior: Option<(u32, u32, Cubic)>,
}

impl Congestion {
    /// RFC 6928 initial window of 10 segments; ssthresh starts arbitrarily high (RFC 5681 §3.1).
    pub(super) fn new(algorithm: Algorithm, smss: u32) -> Congestion {
        Congestion {
            algorithm,
            smss,
            cwnd: 10 * smss,
            ssthresh: u32::MAX,
            acked_in_ca: 0,
            dup_acks: 0,
            recover: None,
            sack: false,
            cubic: Cubic::default(),
            prior: None,
        }
    }

    pub(super) fn cwnd(&self) -> u32 {
        self.cwnd
    }
    pub(super) fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    pub(super) fn in_recovery(&self) -> bool {
        self.recover.is_some()
    }
    /// In RFC 6675 loss recovery: the sender paces by `cwnd − pipe`.
    pub(super) fn in_sack_recovery(&self) -> bool {
        self.sack && self.recover.is_some()
    }
    /// Whether the peer agreed to SACK (decided by the handshake).
    pub(super) fn set_sack(&mut self, sack: bool) {
        self.sack = sack;
    }

    /// The MSS is known only after the handshake; the initial window follows it.
    pub(super) fn set_smss(&mut self, smss: u32) {
        self.smss = smss.max(1);
        self.cwnd = 10 * self.smss;
    }

    /// A smaller MSS after path MTU discovery: cwnd stays, SMSS changes.
    pub(super) fn set_mss_keep_window(&mut self, smss: u32) {
        self.smss = smss.max(1);
    }

    /// New data acknowledged: `acked` bytes, `flight` bytes still outstanding afterwards,
    /// `srtt` the current smoothed RTT. Returns true when a partial ACK in NewReno recovery
    /// asks for a retransmission (RFC 6582 §3.2 (5)).
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        srtt: Option<Duration>,
        ack: SeqNum,
        acked: u32,
        flight: u32,
    ) -> bool {
        self.dup_acks = 0;
        if let Some(recover) = self.recover {
            if ack.after_eq(recover) {
                // RFC 6582 §3.2 (5) full acknowledgment: deflate the window. With SACK it
                // was never inflated: RFC 6675 leaves cwnd at ssthresh.
                self.cwnd = if self.sack {
                    self.ssthresh
                } else {
                    self.ssthresh.min(flight.max(self.smss) + self.smss)
                };
                self.recover = None;
                self.acked_in_ca = 0;
                return false;
            }
            if self.sack {
                return false; // RFC 6675: pipe, not cwnd, reflects the partial ACK
            }
            // RFC 6582 §3.2 (5) partial acknowledgment: deflate by the amount acked, add one SMSS.
            self.cwnd = self.cwnd.saturating_sub(acked);
            if acked >= self.smss {
                self.cwnd += self.smss;
            }
            self.cwnd = self.cwnd.max(self.smss);
            return true;
        }
        if self.cwnd < self.ssthresh {
            // RFC 3465 §2.2 byte counting in slow start, L = 2·SMSS: an ACK for two segments
            // (a delayed ACK) grows cwnd by two (also CUBIC, RFC 9438 §4.10).
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * self.smss));
            return false;
        }
        match self.algorithm {
            Algorithm::NewReno => {
                // RFC 5681 §3.1 (3): congestion avoidance by byte counting.
                self.acked_in_ca = self.acked_in_ca.saturating_add(acked);
                if self.acked_in_ca >= self.cwnd {
                    self.acked_in_ca -= self.cwnd;
                    self.cwnd = self.cwnd.saturating_add(self.smss);
                }
            }
            Algorithm::Cubic => self.cubic_on_ack(now, srtt.unwrap_or(Duration::ZERO), acked),
        }
        false
    }

    /// RFC 9438 §4.2–§4.5: one ACK in congestion avoidance.
    fn cubic_on_ack(&mut self, now: Instant, srtt: Duration, acked: u32) {
        let smss = f64::from(self.smss);
        let cwnd = f64::from(self.cwnd) / smss;
        let c = &mut self.cubic;
        let (start, k) = *c.epoch.get_or_insert_with(|| {
            // RFC 9438 §4.2: a new epoch; K from the distance to W_max (Figure 2).
            if c.w_max < cwnd {
                c.w_max = cwnd;
                c.cwnd_prior = cwnd;
            }
            c.w_est = cwnd;
            (now, ((c.w_max - cwnd) / C_CUBIC).cbrt())
        });
        let t = (now - start).as_secs_f64();
        let rtt = srtt.as_secs_f64();
        let w_cubic = |t: f64| C_CUBIC * (t - k).powi(3) + c.w_max;
        // RFC 9438 §4.3: the Reno-friendly estimate, α = 3(1−β)/(1+β) until it reaches
        // cwnd_prior, then 1.
        let alpha = if c.w_est >= c.cwnd_prior {
            1.0
        } else {
            3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC)
        };
        let segments = f64::from(acked) / smss;
        c.w_est += alpha * segments / cwnd;
        let new = if w_cubic(t) < c.w_est {
            c.w_est // §4.3 Reno-friendly region
        } else {
            // §4.4/§4.5: approach W_cubic(t + RTT), at most 1.5 × cwnd ahead.
            let target = w_cubic(t + rtt).clamp(cwnd, 1.5 * cwnd);
            cwnd + (target - cwnd) * segments / cwnd
        };
        // Carry fractions of a segment in bytes: cwnd is kept in bytes.
        let bytes = (new * smss).min(f64::from(u32::MAX)) as u32;
        self.cwnd = bytes.max(self.cwnd);
    }

    /// ssthresh after a congestion event with `flight` bytes outstanding (RFC 5681 eq. (4)
    /// for NewReno; RFC 9438 §4.6 for CUBIC, which also records W_max).
    fn reduce(&mut self, flight: u32) -> u32 {
        self.prior = Some((self.cwnd, self.ssthresh, self.cubic.clone()));
        let floor = 2 * self.smss;
        match self.algorithm {
            Algorithm::NewReno => (flight / 2).max(floor),
            Algorithm::Cubic => {
                let smss = f64::from(self.smss);
                let cwnd = f64::from(self.cwnd) / smss;
                let c = &mut self.cubic;
                // §4.7 fast convergence: release bandwidth to newer flows.
                c.w_max = if cwnd < c.w_max {
                    cwnd * (1.0 + BETA_CUBIC) / 2.0
                } else {
                    cwnd
                };
                c.cwnd_prior = cwnd;
                c.epoch = None;
                let ss = (f64::from(self.cwnd.min(flight.max(self.smss))) * BETA_CUBIC) as u32;
                ss.max(floor)
            }
        }
    }

    /// A duplicate ACK (RFC 5681 §2 definition, or an ACK that SACKed new data; checked by
    /// the caller). `sacked` is the number of octets SACKed above SND.UNA: like RFC 6675's
    /// DupThresh, DupThresh × SMSS of them also start recovery, since one ACK may stand for
    /// several segments (MUST-58 aggregation on the other side).
    pub(super) fn on_dup_ack(&mut self, snd_max: SeqNum, flight: u32, sacked: u32) -> DupAckAction {
        self.dup_acks += 1;
        if self.recover.is_some() {
            if !self.sack {
                // RFC 6582 §3.2 (4): inflate for each further duplicate.
                self.cwnd = self.cwnd.saturating_add(self.smss);
            }
            return DupAckAction::Nothing;
        }
        if self.dup_acks >= 3 || sacked >= 3 * self.smss {
            // RFC 5681 §3.2 (2), RFC 6582 §3.2 (2), RFC 6675 §5 step 4: enter recovery.
            self.ssthresh = self.reduce(flight);
            self.cwnd = if self.sack {
                self.ssthresh
            } else {
                self.ssthresh + 3 * self.smss
            };
            self.recover = Some(snd_max);
            return DupAckAction::FastRetransmit;
        }
        DupAckAction::Nothing
    }

    /// Enter recovery on other evidence of loss than three duplicates (a loss probe's ACK,
    /// RFC 8985 §7.4): the same reduction as RFC 5681 §3.2 (2), without inflation.
    pub(super) fn enter_recovery(&mut self, snd_max: SeqNum, flight: u32) {
        if self.recover.is_some() {
            return;
        }
        self.ssthresh = self.reduce(flight);
        self.cwnd = self.ssthresh;
        self.recover = Some(snd_max);
    }

    /// PRR (RFC 6937) sets cwnd on every ACK of a recovery.
    pub(super) fn set_recovery_cwnd(&mut self, cwnd: u32) {
        if self.recover.is_some() {
            self.cwnd = cwnd.max(self.smss);
        }
    }

    /// RFC 5682 §2 F-RTO: room for two new segments (step 2b), or at most three segments
    /// when the timeout proves real (step 3a).
    pub(super) fn set_cwnd_for_probe(&mut self, cwnd: u32) {
        self.cwnd = cwnd.max(self.smss);
    }

    /// Whether a reduction could still be undone.
    pub(super) fn can_undo(&self) -> bool {
        self.prior.is_some()
    }

    /// RFC 4015 §3.2 (Eifel response) / RFC 3708: the last reduction was spurious; restore
    /// cwnd, ssthresh and CUBIC's epoch as they were, and leave recovery.
    pub(super) fn undo(&mut self) -> bool {
        let Some((cwnd, ssthresh, cubic)) = self.prior.take() else {
            return false;
        };
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = self.ssthresh.max(ssthresh);
        self.cubic = cubic;
        self.recover = None;
        self.dup_acks = 0;
        true
    }

    /// RFC 5681 §3.1 (4): retransmission timeout (CUBIC: RFC 9438 §4.8, same ssthresh as
    /// for a loss, then the loss window).
    /// RFC 5681 §4: "the value of ssthresh is held constant" on a repeated timeout of the
    /// same segment (`repeated`); and a timeout during recovery keeps the reduction (and the
    /// state to undo it) made on entering recovery, as Linux does.
    pub(super) fn on_timeout(&mut self, flight: u32, repeated: bool) {
        if !repeated && self.recover.is_none() {
            self.ssthresh = self.reduce(flight);
        }
        self.cwnd = self.smss; // loss window
        self.acked_in_ca = 0;
        self.dup_acks = 0;
        self.recover = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Instant = Instant::ZERO;

    fn ack(c: &mut Congestion, at: Instant, seq: u32, acked: u32, flight: u32) -> bool {
        c.on_ack(
            at,
            Some(Duration::from_millis(10)),
            SeqNum(seq),
            acked,
            flight,
        )
    }

    #[test]
    fn must_19_slow_start_then_avoidance() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        assert_eq!(c.cwnd(), 10_000);
        ack(&mut c, T0, 1000, 1000, 0);
        assert_eq!(c.cwnd(), 11_000);
        c.on_timeout(20_000, false);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 10_000));
        for i in 0..9 {
            ack(&mut c, T0, i, 1000, 0);
        }
        assert_eq!(c.cwnd(), 10_000);
        ack(&mut c, T0, 10, 5000, 0);
        ack(&mut c, T0, 11, 5000, 0);
        assert_eq!(c.cwnd(), 11_000); // one SMSS per cwnd of data acked
    }

    /// RFC 5681 §3.1 byte counting in congestion avoidance: one SMSS per cwnd of octets
    /// acknowledged, the octets beyond cwnd carried over to the next increase.
    #[test]
    fn congestion_avoidance_carries_the_overshoot() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        c.on_timeout(20_000, false); // ssthresh 10 000
        while c.cwnd() < 10_000 {
            ack(&mut c, T0, 0, 1000, 0);
        }
        assert_eq!(c.cwnd(), 10_000);
        for _ in 0..5 {
            ack(&mut c, T0, 0, 900, 0); // 4 500
        }
        ack(&mut c, T0, 0, 2000, 0); // 6 500
        ack(&mut c, T0, 0, 4000, 0); // 10 500: +1 SMSS, 500 carried over
        assert_eq!(c.cwnd(), 11_000);
        ack(&mut c, T0, 0, 10_000, 0); // 10 500 of 11 000
        assert_eq!(c.cwnd(), 11_000);
        ack(&mut c, T0, 0, 500, 0); // 11 000
        assert_eq!(c.cwnd(), 12_000);
    }

    /// A smaller MSS from path MTU discovery keeps cwnd but counts growth in the new SMSS
    /// (RFC 3465 §2.2: at most L = 2·SMSS per ACK in slow start).
    #[test]
    fn smaller_mss_keeps_the_window_and_grows_by_the_new_smss() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        c.set_mss_keep_window(500);
        assert_eq!(c.cwnd(), 10_000);
        ack(&mut c, T0, 0, 3000, 0);
        assert_eq!(c.cwnd(), 11_000);
    }

    #[test]
    fn sacked_octets_start_recovery_early() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        let max = SeqNum(10_000);
        assert_eq!(
            c.on_dup_ack(max, 10_000, 3000),
            DupAckAction::FastRetransmit
        );
        assert!(c.in_recovery());
    }

    /// Fewer than DupThresh × SMSS octets SACKed, with fewer than three duplicates, is not
    /// yet a loss (RFC 6675 §5 step 4's IsLost threshold in octets).
    #[test]
    fn two_segments_sacked_are_not_a_loss_yet() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        let max = SeqNum(10_000);
        assert_eq!(c.on_dup_ack(max, 10_000, 2000), DupAckAction::Nothing);
        assert!(!c.in_recovery());
        assert_eq!(c.on_dup_ack(max, 10_000, 2999), DupAckAction::Nothing);
        assert!(!c.in_recovery());
    }

    /// RFC 5681 §4: a repeated timeout holds ssthresh, and so does a timeout during
    /// recovery (the reduction made on entering it stands); a first timeout reduces.
    #[test]
    fn timeouts_reduce_once() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        c.on_timeout(20_000, false);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 10_000));
        c.on_timeout(1000, true); // the same segment again
        assert_eq!(c.ssthresh(), 10_000);
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        c.enter_recovery(SeqNum(10_000), 10_000);
        assert_eq!(c.ssthresh(), 5000);
        c.on_timeout(2000, false); // in recovery
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 5000));
    }

    #[test]
    fn newreno_fast_recovery() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        let max = SeqNum(10_000);
        assert_eq!(c.on_dup_ack(max, 10_000, 0), DupAckAction::Nothing);
        assert_eq!(c.on_dup_ack(max, 10_000, 0), DupAckAction::Nothing);
        assert_eq!(c.on_dup_ack(max, 10_000, 0), DupAckAction::FastRetransmit);
        assert_eq!((c.cwnd(), c.ssthresh()), (8000, 5000));
        // RFC 6582 §3.2 (5) partial ACK: deflate by the amount acked, add back one SMSS if
        // at least one SMSS was acked.
        assert!(ack(&mut c, T0, 2000, 2000, 8000)); // partial
        assert!(c.in_recovery());
        assert_eq!(c.cwnd(), 8000 - 2000 + 1000);
        assert!(ack(&mut c, T0, 2500, 500, 7500)); // partial, less than one SMSS
        assert_eq!(c.cwnd(), 7000 - 500);
        assert!(!ack(&mut c, T0, 10_000, 7500, 0)); // full
        assert!(!c.in_recovery());
        assert_eq!(c.cwnd(), 2000);
    }

    #[test]
    fn rfc6675_recovery_holds_cwnd_at_ssthresh() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        c.set_sack(true);
        let max = SeqNum(10_000);
        assert_eq!(
            c.on_dup_ack(max, 10_000, 3000),
            DupAckAction::FastRetransmit
        );
        assert!(c.in_sack_recovery());
        assert_eq!((c.cwnd(), c.ssthresh()), (5000, 5000)); // no inflation by 3 SMSS
        c.on_dup_ack(max, 10_000, 4000);
        assert_eq!(c.cwnd(), 5000); // nor per duplicate
        assert!(!ack(&mut c, T0, 2000, 2000, 8000)); // partial: pipe does the work
        assert!(!ack(&mut c, T0, 10_000, 8000, 0));
        assert!(!c.in_recovery());
        assert_eq!(c.cwnd(), 5000);
    }

    /// RFC 9438 §4.3: on a short path the Reno-friendly estimate decides. After a loss at
    /// W_max = 100 segments (1 ms RTT, so the cubic curve sits near β·W_max for seconds)
    /// W_est grows by α = 3(1−β)/(1+β) ≈ 0.53 segment per RTT until it reaches cwnd_prior
    /// (100), then by one segment per RTT, as Reno would.
    #[test]
    fn cubic_reno_friendly_region_alpha_then_one() {
        let smss = 1000;
        let rtt = Duration::from_millis(1);
        let mut c = Congestion::new(Algorithm::Cubic, smss);
        while c.cwnd() < 100 * smss {
            c.on_ack(T0, Some(rtt), SeqNum(0), smss, 0);
        }
        assert_eq!(c.cwnd(), 100 * smss);
        c.enter_recovery(SeqNum(1), 100 * smss);
        c.on_ack(T0, Some(rtt), SeqNum(1), smss, 70 * smss); // recovery ends
        assert_eq!(c.cwnd(), 70 * smss);
        let mut at = T0;
        let mut per_rtt = Vec::new();
        while per_rtt.len() < 80 {
            let before = c.cwnd();
            for _ in 0..before / smss {
                c.on_ack(at, Some(rtt), SeqNum(2), smss, 0);
            }
            per_rtt.push(f64::from(c.cwnd() - before) / f64::from(smss));
            at += rtt;
        }
        let alpha = 3.0 * (1.0 - BETA_CUBIC) / (1.0 + BETA_CUBIC);
        for g in &per_rtt[..40] {
            assert!((g - alpha).abs() < 0.02, "α phase: {per_rtt:?}");
        }
        for g in &per_rtt[65..] {
            assert!((g - 1.0).abs() < 0.02, "Reno phase: {per_rtt:?}");
        }
    }

    /// RFC 9438 §4.7 fast convergence: a loss below the previous W_max records
    /// W_max = cwnd·(1+β)/2, releasing bandwidth; a loss at or above it records cwnd.
    #[test]
    fn cubic_fast_convergence() {
        let smss = 1000;
        let mut c = Congestion::new(Algorithm::Cubic, smss);
        while c.cwnd() < 100 * smss {
            c.on_ack(T0, Some(Duration::from_millis(1)), SeqNum(0), smss, 0);
        }
        c.enter_recovery(SeqNum(1), 100 * smss);
        assert_eq!(c.cubic.w_max, 100.0);
        assert_eq!(c.cwnd(), 70 * smss);
        c.on_ack(T0, None, SeqNum(1), smss, 70 * smss);
        c.enter_recovery(SeqNum(2), 70 * smss); // below W_max = 100
        assert!((c.cubic.w_max - 70.0 * (1.0 + BETA_CUBIC) / 2.0).abs() < 1e-9);
        assert_eq!(c.cwnd(), 49 * smss);
        c.on_ack(T0, None, SeqNum(2), smss, 49 * smss);
        c.enter_recovery(SeqNum(3), 49 * smss); // below 59.5 again
        assert!((c.cubic.w_max - 49.0 * (1.0 + BETA_CUBIC) / 2.0).abs() < 1e-9);
        // A loss exactly at W_max is not below it: W_max stays the window.
        let mut c = Congestion::new(Algorithm::Cubic, smss);
        c.enter_recovery(SeqNum(1), 10 * smss);
        assert_eq!(c.cubic.w_max, 10.0);
        c.on_ack(T0, None, SeqNum(1), smss, 0);
        c.set_cwnd_for_probe(10 * smss);
        c.enter_recovery(SeqNum(2), 10 * smss);
        assert_eq!(c.cubic.w_max, 10.0);
    }

    /// RFC 9438 §4.4: in the concave region each ACK moves cwnd by
    /// (W_cubic(t+RTT) − cwnd)/cwnd, so one RTT of ACKs closes most of the gap to
    /// W_cubic(t+RTT) and never passes it.
    #[test]
    fn cubic_one_rtt_of_acks_approaches_w_cubic_of_t_plus_rtt() {
        let smss = 1000;
        let rtt = Duration::from_millis(100);
        let mut c = Congestion::new(Algorithm::Cubic, smss);
        while c.cwnd() < 100 * smss {
            c.on_ack(T0, Some(rtt), SeqNum(0), smss, 0);
        }
        c.enter_recovery(SeqNum(1), 100 * smss);
        c.on_ack(T0, Some(rtt), SeqNum(1), smss, 70 * smss);
        c.on_ack(T0, Some(rtt), SeqNum(2), smss, 0); // the epoch starts at T0
        let k = (30.0f64 / C_CUBIC).cbrt();
        let w_cubic = |t: f64| C_CUBIC * (t - k).powi(3) + 100.0;
        let at = T0 + Duration::from_secs(1);
        let before = f64::from(c.cwnd()) / 1000.0;
        let target = w_cubic(1.0 + 0.1);
        assert!(target > before + 1.0, "{target} {before}");
        // A delayed ACK for two segments each time (RFC 9438 §4.4 counts segments
        // acknowledged): cwnd += (W_cubic(t + RTT) − cwnd) · 2 / cwnd per ACK.
        let mut expected = before;
        for _ in 0..c.cwnd() / (2 * smss) {
            c.on_ack(at, Some(rtt), SeqNum(3), 2 * smss, 0);
            expected += (target - expected) * 2.0 / expected;
        }
        let after = f64::from(c.cwnd()) / 1000.0;
        assert!(
            (after - expected).abs() < 0.05 && after > before + 0.5 * (target - before),
            "cwnd {before} -> {after}, expected {expected}, W_cubic(t+RTT) = {target}"
        );
    }

    /// RFC 9438 Figure 1: after a loss at W_max the window drops to β·W_max, grows in a
    /// concave curve back to W_max at time K, plateaus, then probes beyond it (convex). With
    /// a 100 ms RTT and W_max = 1000 segments the cubic curve, not the Reno-friendly
    /// estimate, decides: K = cbrt(1000 × 0.3 / 0.4) ≈ 9.1 s.
    #[test]
    fn cubic_concave_then_convex_around_w_max() {
        let smss = 1000;
        let rtt = Duration::from_millis(100);
        let mut c = Congestion::new(Algorithm::Cubic, smss);
        while c.cwnd() < 1000 * smss {
            c.on_ack(T0, Some(rtt), SeqNum(0), smss, 0);
        }
        c.enter_recovery(SeqNum(1), 1000 * smss);
        assert_eq!(c.cwnd(), 700 * smss); // β = 0.7
        c.on_ack(T0, Some(rtt), SeqNum(1), smss, 700 * smss); // recovery ends
        assert_eq!(c.cwnd(), 700 * smss);
        let mut at = T0;
        let mut samples = Vec::new();
        for step in 0..200 {
            if step % 20 == 0 {
                samples.push(c.cwnd() / smss);
            }
            // One window of ACKs per RTT, one ACK per segment.
            for _ in 0..c.cwnd() / smss {
                c.on_ack(at, Some(rtt), SeqNum(2), smss, 0);
            }
            at += rtt;
        }
        // Every 2 s: fast growth first, slow around W_max near K, faster again after.
        let growth: Vec<u32> = samples.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(samples[0] == 700, "{samples:?}");
        assert!(
            growth[0] > 100 && growth[0] > 10 * growth[4],
            "concave: {samples:?}"
        );
        assert!(
            (995..=1020).contains(&samples[5]),
            "plateau at W_max: {samples:?}"
        );
        assert!(growth[8] > 10 * growth[4], "convex after K: {samples:?}");
    }

    /// RFC 9438 §4.3–§4.5 with delayed ACKs: the per-ACK update scales with the octets the
    /// ACK covers, so a receiver that ACKs every other segment (half the ACKs, two segments
    /// each) moves CUBIC's window as one that ACKs every segment, in the Reno-friendly
    /// region and along the cubic curve; slow start too (RFC 3465, L = 2 SMSS).
    #[test]
    fn cubic_growth_does_not_depend_on_the_ack_ratio() {
        let smss = 1000;
        let rtt = Duration::from_millis(20);
        let run = |per_ack: u32| {
            let mut c = Congestion::new(Algorithm::Cubic, smss);
            let mut at = T0;
            let mut trace = Vec::new();
            for round in 0..120 {
                if round == 8 {
                    c.enter_recovery(SeqNum(1), c.cwnd()); // a loss at 2560 segments
                    c.on_ack(at, Some(rtt), SeqNum(1), smss, 0);
                }
                for _ in 0..c.cwnd() / (per_ack * smss) {
                    c.on_ack(at, Some(rtt), SeqNum(2), per_ack * smss, 0);
                }
                at += rtt;
                trace.push(c.cwnd() / smss);
            }
            trace
        };
        let (every, every_other) = (run(1), run(2));
        for (round, (a, b)) in every.iter().zip(&every_other).enumerate() {
            let diff = a.abs_diff(*b) as f64 / f64::from(*a);
            assert!(diff < 0.02, "round {round}: {a} vs {b} segments");
        }
        assert!(every[7] >= 1000 && every[119] > every[9], "{every:?}");
    }

    #[test]
    fn cubic_timeout_uses_beta_and_loss_window() {
        let mut c = Congestion::new(Algorithm::Cubic, 1000);
        c.on_timeout(20_000, false);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 7000)); // min(cwnd, flight) × 0.7
    }

    #[test]
    fn algorithm_names_round_trip() {
        for a in [Algorithm::NewReno, Algorithm::Cubic] {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
        }
        assert_eq!(Algorithm::default(), Algorithm::Cubic);
    }
}
