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
    // The virtio_net_hdr in front of every packet of an offload device (wire/vnet.rs)
    /// Shorter than the 10-octet virtio_net_hdr, or no packet after it.
    VirtioTruncated => "virtio-truncated",
    /// Flag bits other than NEEDS_CSUM and DATA_VALID, or both of those at once.
    VirtioBadFlags => "virtio-bad-flags",
    /// NEEDS_CSUM with csum_start/csum_offset outside the packet, or offsets without it.
    VirtioBadChecksumOffsets => "virtio-bad-csum-offsets",
    /// A gso_type that is not NONE, TCPV4, TCPV6, UDP (UFO) or UDP_L4, or the ECN bit
    /// without a TCP type.
    VirtioBadGsoType => "virtio-bad-gso-type",
    /// UDP segmentation (UFO or UDP_L4): never enabled on our device, so never expected.
    VirtioGsoUnsupported => "virtio-gso-unsupported",
    /// A GSO header the packet contradicts: gso_size zero for a TCP type or nonzero for
    /// NONE, an IP version or protocol other than the type says, or headers that do not fit.
    VirtioBadGso => "virtio-bad-gso",
    // IPv4 header checks (RFC 791, RFC 1122 §3.2.1)
    /// Shorter than a 20-octet IPv4 header, or than the header length (IHL) it claims.
    Ipv4Truncated => "ipv4-truncated",
    /// The version field is neither 4 nor 6.
    Ipv4BadVersion => "ipv4-bad-version",
    /// Version 6 given to the IPv4 parser (the stack speaks IPv4 only until IPv6 is wired in).
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
    // IPv6 header checks (RFC 8200 §3, RFC 4291)
    /// Shorter than the 40-octet IPv6 header.
    Ipv6Truncated => "ipv6-truncated",
    /// Handed to the IPv6 parser with a version field other than 6.
    Ipv6BadVersion => "ipv6-bad-version",
    /// Payload Length beyond the bytes received.
    Ipv6BadPayloadLength => "ipv6-bad-payload-length",
    /// Hop Limit 0: the packet should not have reached any node (RFC 8200 §3).
    Ipv6HopLimitZero => "ipv6-hop-limit-zero",
    /// A unicast destination that is not the stack's address.
    Ipv6NotForUs => "ipv6-not-for-us",
    /// A multicast destination the stack has not joined (MLD reports to ff02::16, router
    /// solicitations to ff02::2, ...): counted, never answered (RFC 4443 §2.4(e.3)).
    Ipv6MulticastNotOurs => "ipv6-multicast-not-ours",
    /// A source that cannot be a host: unspecified, multicast (RFC 4291 §2.7), loopback
    /// (§2.5.3), IPv4-mapped (§2.5.5.2) or our own address.
    Ipv6BadSource => "ipv6-bad-source",
    // IPv6 extension headers (RFC 8200 §4)
    /// An extension header, option or upper-layer header running past the packet.
    Ipv6ExtensionTruncated => "ipv6-extension-truncated",
    /// A Hop-by-Hop Options header anywhere but right after the IPv6 header (RFC 8200 §4.1;
    /// answered with Parameter Problem code 1).
    Ipv6HopByHopNotFirst => "ipv6-hop-by-hop-not-first",
    /// A Next Header value that is neither an extension header we walk nor TCP, UDP or ICMPv6
    /// (RFC 8200 §4; answered with Parameter Problem code 1).
    Ipv6UnknownNextHeader => "ipv6-unknown-next-header",
    /// A Routing header with Segments Left non-zero: we know no routing type, and type 0 is
    /// deprecated (RFC 8200 §4.4, RFC 5095; answered with Parameter Problem code 0).
    Ipv6RoutingHeader => "ipv6-routing-header",
    /// An unrecognized option whose type says discard (RFC 8200 §4.2: high bits 01, 10, 11;
    /// the last two answered with Parameter Problem code 2, 11 only to a unicast destination).
    Ipv6UnknownOption => "ipv6-unknown-option",
    /// A malformed options header: an option running past its header, or more than 7 octets
    /// of padding in a row (RFC 4942 §2.1.9.5, as Linux).
    Ipv6BadOption => "ipv6-bad-option",
    /// Next Header 59 (RFC 8200 §4.7): nothing to deliver.
    Ipv6NoNextHeader => "ipv6-no-next-header",
    // Fragment reassembly (RFC 791, RFC 815; RFC 8200 §4.5 for IPv6)
    /// A fragment the RFCs do not allow: a non-final one empty or not a multiple of 8 octets
    /// (IPv6: answered with Parameter Problem code 0 at the Payload Length), or one
    /// contradicting the datagram's known end.
    FragmentBad => "fragment-bad",
    /// A fragment that would make the datagram exceed 65,535 octets (IPv4: header included;
    /// IPv6: the reassembled Payload Length, answered with Parameter Problem code 0 at the
    /// Fragment Offset).
    FragmentOversized => "fragment-oversized",
    /// RFC 7112 / RFC 8200 §4.5: an IPv6 first fragment without the whole header chain up to
    /// the upper-layer header (answered with Parameter Problem code 3).
    Fragment6IncompleteChain => "fragment6-incomplete-chain",
    /// RFC 5722: a fragment of an IPv6 packet already discarded for overlapping fragments.
    Fragment6AfterOverlap => "fragment6-after-overlap",
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
    // ICMPv6 (RFC 4443)
    /// Shorter than the 4-octet ICMPv6 header, or than the fixed part of its type.
    Icmpv6Truncated => "icmpv6-truncated",
    /// The ICMPv6 checksum over pseudo-header and message does not verify (RFC 4443 §2.3).
    Icmpv6BadChecksum => "icmpv6-bad-checksum",
    /// An ICMPv6 type or code the stack neither answers nor acts on: echo replies, neighbor
    /// discovery, MLD, redirects, unknown types (RFC 4443 §2.4(a), (b)).
    Icmpv6Unhandled => "icmpv6-unhandled-type",
    // Transport
    /// Shorter than the 8-octet UDP header, or than its length field (RFC 768).
    UdpTruncated => "udp-truncated",
    /// A UDP checksum that does not verify, or is zero over IPv6 (RFC 768, RFC 8200 §8.1).
    UdpBadChecksum => "udp-bad-checksum",
    /// A datagram for a UDP socket whose receive queue is full (its datagram or octet
    /// limit, `StackConfig::udp`).
    UdpQueueFull => "udp-queue-full",
    /// UDP to a multicast group we are in: we have no UDP service there to answer.
    UdpToMulticast => "udp-to-multicast",
    /// TCP to a multicast group we are in (RFC 9293 MUST-57: a SYN to one is ignored).
    TcpToMulticast => "tcp-to-multicast",
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
    /// A SYN (or a cookie ACK) for a listener whose accept queue is full (its SYN queue
    /// overflows into SYN cookies instead).
    TcpQueueFull => "tcp-queue-full",
    /// A SYN or cookie ACK refused because the TCP memory budget is at its hard mark.
    TcpMemoryPressure => "tcp-memory-pressure",
    /// A SYN or cookie ACK refused by `--max-conns` or `--max-conns-per-peer`.
    TcpConnLimit => "tcp-conn-limit",
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

    #[test]
    fn names_are_unique_and_prefixed_by_their_layer() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        let prefixes = [
            "virtio-",
            "ipv4-",
            "ipv6-",
            "fragment-",
            "fragment6-",
            "icmp-",
            "icmpv6-",
            "udp-",
            "tcp-",
        ];
        assert!(
            names
                .iter()
                .all(|n| prefixes.iter().any(|p| n.starts_with(p))),
            "{names:?}"
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::ALL.len());
    }
}
