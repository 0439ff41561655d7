//! A token bucket for rate-limiting the ICMP errors we originate (RFC 1812 §4.3.2.8).

use crate::time::Instant;

/// `rate` tokens per second, at most `burst` saved up. Time is passed in.
#[derive(Clone, Debug)]
pub(super) struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Tokens in millionths, so refill is exact in microseconds.
    micro_tokens: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket: `burst` tokens, refilled at `rate` per second.
    pub(super) fn new(rate: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            rate: u64::from(rate),
            burst: u64::from(burst),
            micro_tokens: u64::from(burst) * 1_000_000,
            last: None,
        }
    }

    /// Takes one token if there is one.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = (now - last).as_micros() as u64;
            self.micro_tokens =
                (self.micro_tokens + elapsed.saturating_mul(self.rate)).min(self.burst * 1_000_000);
        }
        self.last = Some(now);
        if self.micro_tokens >= 1_000_000 {
            self.micro_tokens -= 1_000_000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(100, 10);
        let t = Instant::from_secs(1);
        assert_eq!((0..50).filter(|_| b.take(t)).count(), 10);
        // 100/s: one token every 10 ms.
        assert!(!b.take(t + crate::time::Duration::from_millis(9)));
        assert!(b.take(t + crate::time::Duration::from_millis(19)));
        // A long pause refills only up to the burst.
        let later = t + crate::time::Duration::from_secs(60);
        assert_eq!((0..50).filter(|_| b.take(later)).count(), 10);
    }
}
