//! The stack's own counters: packets and octets in and out, ICMP, reassembly, and one
//! counter per drop reason (`tunstack stats` and the exit summary print them).

use super::UdpCounters;
use crate::wire::DropCounters;
use std::fmt;

/// What the stack has seen and done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets taken from the link, valid or not.
    pub rx_packets: u64,
    /// Octets of those packets, IP headers included.
    pub rx_bytes: u64,
    /// Packets handed to the link by `poll_transmit`.
    pub tx_packets: u64,
    /// Octets of those packets, IP headers included.
    pub tx_bytes: u64,
    /// Of `tx_packets`, TCP super-segments handed to a segmenting device (TSO), each
    /// standing for several wire segments.
    pub tx_super_segments: u64,
    /// Of `rx_packets`, UDP super-datagrams (USO) taken as the datagrams they stand for.
    pub rx_super_datagrams: u64,
    /// The datagrams those stood for.
    pub rx_uso_datagrams: u64,
    /// Output dropped because the link queue was full.
    pub tx_queue_drops: u64,
    /// IPv4 fragments received (MF set or a nonzero fragment offset, RFC 791).
    pub fragments_in: u64,
    /// Datagrams rebuilt from fragments.
    pub datagrams_reassembled: u64,
    /// Fragments sent of datagrams larger than the MTU (RFC 791); whole datagrams count
    /// none.
    pub fragments_out: u64,
    /// ICMP echo requests received (RFC 792 type 8).
    pub echo_requests: u64,
    /// ICMP echo replies sent (RFC 1122 §3.2.2.6).
    pub echo_replies: u64,
    /// ICMP port unreachable sent for UDP to a port with no service (RFC 1122 §4.1.3.1).
    pub port_unreachable_sent: u64,
    /// ICMP protocol unreachable sent for a protocol we do not implement (RFC 1122
    /// §3.2.2.1).
    pub protocol_unreachable_sent: u64,
    /// ICMP errors we would have sent but the rate limit held back.
    pub icmp_errors_rate_limited: u64,
    /// ICMP errors received (destination unreachable, time exceeded, ...).
    pub icmp_errors_in: u64,
    /// IPv6 packets taken from the link (version 6, IPv6 on).
    pub ipv6_packets_in: u64,
    /// IPv6 fragments received (a Fragment header that is not atomic, RFC 8200 §4.5).
    pub fragments6_in: u64,
    /// IPv6 packets rebuilt from fragments.
    pub datagrams6_reassembled: u64,
    /// IPv6 fragments sent of packets larger than the MTU.
    pub fragments6_out: u64,
    /// ICMPv6 Parameter Problems sent (RFC 4443 §3.4).
    pub parameter_problems_sent: u64,
    /// ICMPv6 Time Exceeded (reassembly) sent (RFC 8200 §4.5).
    pub time_exceeded_sent: u64,
    /// Packets dropped, by [`DropReason`].
    pub drops: DropCounters,
    /// The UDP layer's counters (a copy, brought up to date by every UDP call and delivery).
    pub udp: UdpCounters,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "packets: rx {} ({} bytes), tx {} ({} bytes), tx queue drops {}, \
            tx super-segments {}, rx super-datagrams {} ({} datagrams)",
            self.rx_packets,
            self.rx_bytes,
            self.tx_packets,
            self.tx_bytes,
            self.tx_queue_drops,
            self.tx_super_segments,
            self.rx_super_datagrams,
            self.rx_uso_datagrams
        )?;
        writeln!(
            f,
            "ipv4: fragments in {}, reassembled {}, fragments out {}",
            self.fragments_in, self.datagrams_reassembled, self.fragments_out
        )?;
        writeln!(
            f,
            "ipv6: packets in {}, fragments in {}, reassembled {}, fragments out {}, \
            parameter problems sent {}, time exceeded sent {}",
            self.ipv6_packets_in,
            self.fragments6_in,
            self.datagrams6_reassembled,
            self.fragments6_out,
            self.parameter_problems_sent,
            self.time_exceeded_sent
        )?;
        writeln!(
            f,
            "icmp: echo requests {}, echo replies {}, port unreachable sent {}, \
            protocol unreachable sent {}, rate limited {}, errors in {}",
            self.echo_requests,
            self.echo_replies,
            self.port_unreachable_sent,
            self.protocol_unreachable_sent,
            self.icmp_errors_rate_limited,
            self.icmp_errors_in
        )?;
        writeln!(
            f,
            "udp: datagrams in {}, out {}, receive queue full {}, icmp errors delivered {}",
            self.udp.datagrams_in,
            self.udp.datagrams_out,
            self.udp.queue_full_drops,
            self.udp.icmp_errors_delivered
        )?;
        write!(f, "drops: {} total", self.drops.total())?;
        for (reason, n) in self.drops.nonzero() {
            write!(f, "\n  {reason}: {n}")?;
        }
        Ok(())
    }
}
