//! Proportional Rate Reduction (RFC 6937), the PRR-SSRB variant: during loss recovery the
//! window follows the ACK clock. While `pipe` is above ssthresh, the sender sends in
//! proportion to what was delivered (ssthresh/RecoverFS of it); once `pipe` is below
//! ssthresh, slow start (bounded by what was delivered plus one SMSS) brings it up to
//! ssthresh. No stall, then burst, as when cwnd drops to ssthresh at once.

/// RFC 6937 §3 variables of one recovery episode.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Prr {
    /// RecoverFS: the flight size when recovery started.
    recover_fs: u32,
    /// prr_delivered: octets delivered to the receiver since recovery started.
    delivered: u32,
    /// prr_out: octets sent since recovery started.
    out: u32,
    /// In a recovery episode.
    active: bool,
}

impl Prr {
    /// RFC 6937 §3 "on entering recovery": RecoverFS = SND.NXT − SND.UNA.
    pub(super) fn start(&mut self, flight: u32) {
        *self = Prr {
            recover_fs: flight.max(1),
            delivered: 0,
            out: 0,
            active: true,
        };
    }

    pub(super) fn stop(&mut self) {
        self.active = false;
    }

    /// Octets sent during recovery (new data or retransmissions).
    pub(super) fn on_sent(&mut self, len: u32) {
        if self.active {
            self.out = self.out.saturating_add(len);
        }
    }

    /// RFC 6937 §3 "on every ACK during recovery": `delivered` octets newly acknowledged
    /// (cumulatively or by SACK), `pipe` after the ACK. Returns cwnd = pipe + sndcnt.
    pub(super) fn on_ack(&mut self, delivered: u32, pipe: u32, ssthresh: u32, smss: u32) -> u32 {
        self.delivered = self.delivered.saturating_add(delivered);
        let sndcnt = if pipe > ssthresh {
            // Proportional part: CEIL(prr_delivered * ssthresh / RecoverFS) − prr_out.
            let target = (u64::from(self.delivered) * u64::from(ssthresh))
                .div_ceil(u64::from(self.recover_fs));
            (target.min(u64::from(u32::MAX)) as u32).saturating_sub(self.out)
        } else {
            // Slow start reduction bound (PRR-SSRB).
            let limit = self.delivered.saturating_sub(self.out).max(delivered) + smss;
            (ssthresh - pipe).min(limit)
        };
        // The fast retransmit goes out on the first ACK whatever the proportion says
        // (as Linux: sndcnt ≥ 1 segment while prr_out is 0).
        let sndcnt = if self.out == 0 {
            sndcnt.max(smss)
        } else {
            sndcnt
        };
        pipe.saturating_add(sndcnt)
    }

    /// For `ss`: (prr_delivered, prr_out) while active.
    pub(super) fn state(&self) -> Option<(u32, u32)> {
        self.active.then_some((self.delivered, self.out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6937 §4 Figure 1 shape: 20 segments in flight, one lost, ssthresh = 10: PRR
    /// sends one segment for every other ACK (ssthresh/RecoverFS = 1/2).
    #[test]
    fn proportional_while_pipe_above_ssthresh() {
        let mut p = Prr::default();
        p.start(20);
        let mut pattern = Vec::new();
        let mut pipe = 19; // one lost
        for _ in 0..10 {
            pipe -= 1; // an ACK (a SACK) delivers one segment
            let cwnd = p.on_ack(1, pipe, 10, 1);
            let send = cwnd.saturating_sub(pipe);
            p.on_sent(send);
            pipe += send;
            pattern.push(send);
        }
        assert_eq!(pattern, [1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    }

    /// RFC 6937 §4 Figure 3 shape: after heavy loss pipe is below ssthresh; SSRB sends at
    /// most one more than delivered per ACK (slow start) until pipe reaches ssthresh.
    #[test]
    fn slow_start_reduction_bound_below_ssthresh() {
        let mut p = Prr::default();
        p.start(20);
        let mut pipe = 4; // most of the window lost
        let mut pattern = Vec::new();
        for _ in 0..4 {
            pipe -= 1;
            let cwnd = p.on_ack(1, pipe, 10, 1);
            let send = cwnd.saturating_sub(pipe);
            p.on_sent(send);
            pipe += send;
            pattern.push(send);
        }
        assert_eq!(pattern, [2, 2, 2, 2]);
        assert_eq!(pipe, 8);
    }
}
