//! RFC 6298 retransmission timeout estimator with Karn's algorithm (MUST-18).

use crate::time::{Duration, Instant};

use super::seq::SeqNum;

/// SRTT/RTTVAR/RTO per RFC 6298 §2, one timed segment at a time (Karn, §3).
#[derive(Clone, Debug)]
pub(super) struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The RTO before backoff.
    base_rto: Duration,
    /// Number of consecutive backoffs (RFC 6298 (5.5)).
    backoff: u32,
    min: Duration,
    max: Duration,
    /// The segment being timed: (sequence number that must be acknowledged, send time).
    timing: Option<(SeqNum, Instant)>,
}

/// RFC 6298 (2.4): clock granularity G; we measure in microseconds.
const G: Duration = Duration::from_millis(1);

impl RttEstimator {
    pub(super) fn new(initial: Duration, min: Duration, max: Duration) -> RttEstimator {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            base_rto: initial,
            backoff: 0,
            min,
            max,
            timing: None,
        }
    }

    /// The current RTO including backoff.
    pub(super) fn rto(&self) -> Duration {
        let mut rto = self.base_rto;
        for _ in 0..self.backoff {
            rto = rto.saturating_mul(2);
            if rto >= self.max {
                return self.max;
            }
        }
        rto.min(self.max)
    }

    pub(super) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    pub(super) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    pub(super) fn backoffs(&self) -> u32 {
        self.backoff
    }

    /// RFC 6298 (5.7): after a retransmitted SYN and no measurement, start data with an RTO
    /// of at least 3 s.
    pub(super) fn on_syn_lost(&mut self) {
        if self.srtt.is_none() {
            self.base_rto = self.base_rto.max(Duration::from_secs(3)).min(self.max);
        }
    }

    /// RFC 6298 (5.5): double the RTO after a timeout.
    pub(super) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1).min(32);
    }

    /// Start timing a segment ending at `end` unless one is being timed already.
    pub(super) fn on_send(&mut self, now: Instant, end: SeqNum) {
        if self.timing.is_none() {
            self.timing = Some((end, now));
        }
    }

    /// Karn's algorithm: a retransmission invalidates the measurement in progress.
    pub(super) fn on_retransmit(&mut self) {
        self.timing = None;
    }

    /// Whether a segment is being timed (none after a retransmission, until new data).
    pub(super) fn is_timing(&self) -> bool {
        self.timing.is_some()
    }

    /// Feed a new cumulative ACK; takes a sample if it covers the timed segment.
    pub(super) fn on_ack(&mut self, now: Instant, ack: SeqNum) {
        if let Some((end, sent)) = self.timing
            && ack.after_eq(end)
        {
            self.timing = None;
            self.sample(now - sent);
        }
        // RFC 6298 (5.7) spirit: new data acknowledged ends the backoff.
        self.backoff = 0;
    }

    /// RFC 6298 (2.2)/(2.3): update SRTT and RTTVAR with a measurement `r`.
    pub(super) fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let err = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + err) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        // RFC 6298 (2.2)/(2.3): RTO = SRTT + max(G, 4*RTTVAR), then (2.4)/(2.5) clamps.
        self.base_rto = (srtt + G.max(self.rttvar * 4)).clamp(self.min, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RttEstimator {
        RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn first_sample_and_smoothing() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rttvar(), Duration::from_millis(50));
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(100));
        assert_eq!(e.rto(), Duration::from_millis(250));
    }

    #[test]
    fn must_18_karn_ignores_retransmitted_and_backoff_caps() {
        let mut e = est();
        let t = Instant::from_secs(10);
        e.on_send(t, SeqNum(100));
        e.on_retransmit();
        e.on_ack(t + Duration::from_secs(3), SeqNum(100));
        assert_eq!(e.srtt(), None);
        for _ in 0..10 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(60));
    }
}
