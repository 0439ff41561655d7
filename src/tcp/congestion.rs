//! Congestion control behind a small enum: RFC 5681 slow start and congestion avoidance
//! with RFC 6582 NewReno fast recovery (MUST-19). CUBIC will be a second variant.

use super::seq::SeqNum;

/// Which algorithm a connection uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    #[default]
    NewReno,
}

/// What the sender should do after a duplicate ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DupAckAction {
    Nothing,
    /// RFC 5681 §3.2 step 2: retransmit the first unacknowledged segment.
    FastRetransmit,
}

/// The congestion controller's state (RFC 5681 §3.1 variables).
#[derive(Clone, Debug)]
pub struct Congestion {
    algorithm: Algorithm,
    smss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 §3.1 (3)).
    acked_in_ca: u32,
    dup_acks: u32,
    /// RFC 6582 `recover`: SND.MAX when fast recovery started; `None` outside recovery.
    recover: Option<SeqNum>,
}

impl Congestion {
    /// RFC 6928 initial window of 10 segments; ssthresh starts arbitrarily high (RFC 5681 §3.1).
    pub fn new(algorithm: Algorithm, smss: u32) -> Congestion {
        Congestion {
            algorithm,
            smss,
            cwnd: 10 * smss,
            ssthresh: u32::MAX,
            acked_in_ca: 0,
            dup_acks: 0,
            recover: None,
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    pub fn cwnd(&self) -> u32 {
        self.cwnd
    }
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    pub fn in_recovery(&self) -> bool {
        self.recover.is_some()
    }

    /// The MSS is known only after the handshake; the initial window follows it.
    pub fn set_smss(&mut self, smss: u32) {
        self.smss = smss.max(1);
        self.cwnd = 10 * self.smss;
    }

    /// A smaller MSS after path MTU discovery: cwnd stays, SMSS changes.
    pub fn set_mss_keep_window(&mut self, smss: u32) {
        self.smss = smss.max(1);
    }

    /// New data acknowledged: `acked` bytes, `flight` bytes still outstanding afterwards.
    /// Returns true when a partial ACK in recovery asks for a retransmission (RFC 6582 §3.2 (5)).
    pub fn on_ack(&mut self, ack: SeqNum, acked: u32, flight: u32) -> bool {
        self.dup_acks = 0;
        if let Some(recover) = self.recover {
            if ack.after_eq(recover) {
                // RFC 6582 §3.2 (5) full acknowledgment: deflate the window.
                self.cwnd = self.ssthresh.min(flight.max(self.smss) + self.smss);
                self.recover = None;
                return false;
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
            // RFC 5681 §3.1 (2): slow start, at most SMSS per ACK.
            self.cwnd = self.cwnd.saturating_add(acked.min(self.smss));
        } else {
            // RFC 5681 §3.1 (3): congestion avoidance by byte counting.
            self.acked_in_ca = self.acked_in_ca.saturating_add(acked);
            if self.acked_in_ca >= self.cwnd {
                self.acked_in_ca -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(self.smss);
            }
        }
        false
    }

    /// A duplicate ACK (RFC 5681 §2 definition, or an ACK that SACKed new data; checked by
    /// the caller). `sacked` is the number of octets SACKed above SND.UNA: like RFC 6675's
    /// DupThresh, DupThresh × SMSS of them also start recovery, since one ACK may stand for
    /// several segments (MUST-58 aggregation on the other side).
    pub fn on_dup_ack(&mut self, snd_max: SeqNum, flight: u32, sacked: u32) -> DupAckAction {
        self.dup_acks += 1;
        if self.recover.is_some() {
            // RFC 6582 §3.2 (4): inflate for each further duplicate.
            self.cwnd = self.cwnd.saturating_add(self.smss);
            return DupAckAction::Nothing;
        }
        if self.dup_acks >= 3 || sacked >= 3 * self.smss {
            // RFC 5681 §3.2 (2) and RFC 6582 §3.2 (2): enter fast recovery.
            self.ssthresh = (flight / 2).max(2 * self.smss);
            self.cwnd = self.ssthresh + 3 * self.smss;
            self.recover = Some(snd_max);
            return DupAckAction::FastRetransmit;
        }
        DupAckAction::Nothing
    }

    /// Enter fast recovery on other evidence of loss than three duplicates (a loss probe's
    /// ACK, RFC 8985 §7.4): the same reduction as RFC 5681 §3.2 (2), without inflation.
    pub fn enter_recovery(&mut self, snd_max: SeqNum, flight: u32) {
        if self.recover.is_some() {
            return;
        }
        self.ssthresh = (flight / 2).max(2 * self.smss);
        self.cwnd = self.ssthresh;
        self.recover = Some(snd_max);
    }

    /// RFC 5681 §3.1 (4): retransmission timeout.
    pub fn on_timeout(&mut self, flight: u32) {
        self.ssthresh = (flight / 2).max(2 * self.smss);
        self.cwnd = self.smss; // loss window
        self.acked_in_ca = 0;
        self.dup_acks = 0;
        self.recover = None;
    }

    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn must_19_slow_start_then_avoidance() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(SeqNum(1000), 1000, 0);
        assert_eq!(c.cwnd(), 11_000);
        c.on_timeout(20_000);
        assert_eq!((c.cwnd(), c.ssthresh()), (1000, 10_000));
        for i in 0..9 {
            c.on_ack(SeqNum(i), 1000, 0);
        }
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(SeqNum(10), 5000, 0);
        c.on_ack(SeqNum(11), 5000, 0);
        assert_eq!(c.cwnd(), 11_000); // one SMSS per cwnd of data acked
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

    #[test]
    fn newreno_fast_recovery() {
        let mut c = Congestion::new(Algorithm::NewReno, 1000);
        let max = SeqNum(10_000);
        assert_eq!(c.on_dup_ack(max, 10_000, 0), DupAckAction::Nothing);
        assert_eq!(c.on_dup_ack(max, 10_000, 0), DupAckAction::Nothing);
        assert_eq!(c.on_dup_ack(max, 10_000, 0), DupAckAction::FastRetransmit);
        assert_eq!((c.cwnd(), c.ssthresh()), (8000, 5000));
        assert!(c.on_ack(SeqNum(2000), 2000, 8000)); // partial
        assert!(c.in_recovery());
        assert!(!c.on_ack(SeqNum(10_000), 8000, 0)); // full
        assert!(!c.in_recovery());
        assert_eq!(c.cwnd(), 2000);
    }
}
