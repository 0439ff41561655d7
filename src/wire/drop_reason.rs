//! Why a packet was dropped: one counter per reason, printed in the shutdown summary.

use std::fmt;

macro_rules! drop_reasons {
    ($($variant:ident => $name:literal,)*) => {
        /// A reason to drop an incoming packet. Each has a counter in [`DropCounters`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($variant,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];

            /// A stable, short name (used in logs, summaries and tests).
            pub fn name(self) -> &'static str {
                match self {
                    $(DropReason::$variant => $name,)*
                }
            }
        }
    };
}

drop_reasons! {
    // IPv4 header checks (RFC 791, RFC 1122 §3.2.1)
    Ipv4Truncated => "ipv4-truncated",
    Ipv4BadVersion => "ipv4-bad-version",
    Ipv6NotSupported => "ipv6-not-supported",
    Ipv4BadHeaderLength => "ipv4-bad-header-length",
    Ipv4BadTotalLength => "ipv4-bad-total-length",
    Ipv4BadChecksum => "ipv4-bad-checksum",
    Ipv4NotForUs => "ipv4-not-for-us",
    Ipv4BadSource => "ipv4-bad-source",
    // Fragment reassembly (RFC 791, RFC 815)
    FragmentBad => "fragment-bad",
    FragmentOversized => "fragment-oversized",
    FragmentOverlap => "fragment-overlap",
    FragmentDuplicate => "fragment-duplicate",
    FragmentNoMemory => "fragment-no-memory",
    FragmentTimeout => "fragment-timeout",
    // ICMP (RFC 792)
    IcmpTruncated => "icmp-truncated",
    IcmpBadChecksum => "icmp-bad-checksum",
    IcmpUnhandled => "icmp-unhandled-type",
    // Transport
    UdpTruncated => "udp-truncated",
    UdpBadChecksum => "udp-bad-checksum",
    TcpMalformed => "tcp-malformed",
    TcpBadChecksum => "tcp-bad-checksum",
    TcpBadOption => "tcp-bad-option",
    TcpNoConnection => "tcp-no-connection",
    TcpBadSyn => "tcp-bad-syn",
    TcpQueueFull => "tcp-queue-full",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One counter per [`DropReason`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropCounters([u64; DropReason::ALL.len()]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; DropReason::ALL.len()])
    }
}

impl DropCounters {
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }

    pub fn add(&mut self, reason: DropReason, n: u64) {
        self.0[reason as usize] += n;
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The non-zero counters, in declaration order.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.get(r)))
            .filter(|&(_, n)| n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_by_reason() {
        let mut c = DropCounters::default();
        c.count(DropReason::Ipv4BadChecksum);
        c.add(DropReason::FragmentTimeout, 2);
        assert_eq!(c.get(DropReason::Ipv4BadChecksum), 1);
        assert_eq!(c.total(), 3);
        let names: Vec<_> = c.nonzero().map(|(r, n)| format!("{r}={n}")).collect();
        assert_eq!(names, ["ipv4-bad-checksum=1", "fragment-timeout=2"]);
    }
}
