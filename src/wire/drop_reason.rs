//! Why a packet was dropped: one counter per reason, printed in the shutdown summary.

use std::fmt;

macro_rules! drop_reasons {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A reason to drop an incoming packet. Each has a counter in [`DropCounters`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DropReason {
            $($(#[$doc])* $variant,)*
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
    /// Shorter than a 20-octet IPv4 header, or than the header length (IHL) it claims.
    Ipv4Truncated => "ipv4-truncated",
    /// The version field is neither 4 nor 6.
    Ipv4BadVersion => "ipv4-bad-version",
    /// Version 6: the stack speaks IPv4 only.
    Ipv6NotSupported => "ipv6-not-supported",
    /// IHL below 5 words (RFC 791: a header is at least 20 octets).
    Ipv4BadHeaderLength => "ipv4-bad-header-length",
    /// Total Length below the header length or beyond the bytes received.
    Ipv4BadTotalLength => "ipv4-bad-total-length",
    /// The header checksum does not verify (RFC 1122 §3.2.1.2: silently discarded).
    Ipv4BadChecksum => "ipv4-bad-checksum",
    /// The destination is not the stack's address.
    Ipv4NotForUs => "ipv4-not-for-us",
    /// RFC 1122 §3.2.1.3: a source that cannot be a host (unspecified, broadcast, multicast,
    /// loopback, or our own address).
    Ipv4BadSource => "ipv4-bad-source",
    // Fragment reassembly (RFC 791, RFC 815)
    /// A fragment RFC 791 does not allow: a non-final one empty or not a multiple of 8 octets,
    /// or one contradicting the datagram's known end.
    FragmentBad => "fragment-bad",
    /// A fragment that would make the datagram, header included, exceed 65,535 octets.
    FragmentOversized => "fragment-oversized",
    /// A fragment overlapping one already held without being an exact copy of it; the whole
    /// partial datagram is discarded.
    FragmentOverlap => "fragment-overlap",
    /// An exact copy of a fragment already held.
    FragmentDuplicate => "fragment-duplicate",
    /// Reassembly is at its datagram or byte limit.
    FragmentNoMemory => "fragment-no-memory",
    /// A partial datagram whose reassembly timer ran out (RFC 791; counted once per datagram).
    FragmentTimeout => "fragment-timeout",
    // ICMP (RFC 792)
    /// Shorter than the 8-octet ICMP header.
    IcmpTruncated => "icmp-truncated",
    /// The ICMP checksum over the whole message does not verify (RFC 792).
    IcmpBadChecksum => "icmp-bad-checksum",
    /// An ICMP type or code the stack neither answers nor acts on.
    IcmpUnhandled => "icmp-unhandled-type",
    // Transport
    /// Shorter than the 8-octet UDP header, or than its length field (RFC 768).
    UdpTruncated => "udp-truncated",
    /// A UDP checksum that does not verify, or is zero over IPv6 (RFC 768, RFC 8200 §8.1).
    UdpBadChecksum => "udp-bad-checksum",
    /// Not a parseable TCP header (too short, or a data offset past the segment).
    TcpMalformed => "tcp-malformed",
    /// The TCP checksum over pseudo-header and segment does not verify (MUST-3).
    TcpBadChecksum => "tcp-bad-checksum",
    /// An option with a length of 0 or 1 or one running past the header (MUST-7).
    TcpBadOption => "tcp-bad-option",
    /// No connection or listener for the segment (RFC 9293 §3.10.7.1: answered with a RST
    /// unless it is one).
    TcpNoConnection => "tcp-no-connection",
    /// Reserved for a SYN a listener refuses as malformed; nothing raises it today.
    TcpBadSyn => "tcp-bad-syn",
    /// A SYN for a listener whose backlog (SYN-RECEIVED plus accept queue) is full.
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
    /// Counts one packet dropped for `reason`.
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason as usize] += 1;
    }

    /// Counts `n` drops for `reason` at once (e.g. the partial datagrams one timer run expired).
    pub fn add(&mut self, reason: DropReason, n: u64) {
        self.0[reason as usize] += n;
    }

    /// Packets dropped for `reason` so far.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason as usize]
    }

    /// Packets dropped for any reason so far.
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
