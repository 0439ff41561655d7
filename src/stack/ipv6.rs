//! The stack's IPv6 side (RFC 8200, RFC 4443): ingress checks, the extension-header walk and
//! reassembly, ICMPv6 in and out, and IPv6 output of ICMPv6 messages.
//!
//! TCP over IPv6 is the same engine and the same TCP layer as over IPv4: this file hands it
//! the segment with its addresses, and `Transmit::emit_ipv6` writes what comes back.

use std::borrow::Cow;
use std::net::Ipv6Addr;

use etherparse::IpNumber;
use etherparse::icmpv6::{DestUnreachableCode, TimeExceededCode};

use super::{Reassembled, Stack};
use crate::tcp::IcmpError;
use crate::time::Instant;
use crate::wire::icmpv6::{self, ErrorMessage, Icmpv6In};
use crate::wire::ipv6::{self, Chain, Destination, Ipv6Out, Ipv6View};
use crate::wire::{DropReason, PseudoHeader, udp};

/// A reassembled packet may itself hold a Fragment header; at most this many rounds of
/// reassembly per packet from the link (a bound, not a feature).
const MAX_REASSEMBLY_ROUNDS: usize = 2;

impl Stack {
    /// One IPv6 packet from the link (its version nibble is 6).
    pub(super) fn handle_ipv6_packet(&mut self, now: Instant, packet: &[u8]) {
        let Some(ours) = self.config.addr6 else {
            return self.drop_packet(DropReason::Ipv6NotSupported, None);
        };
        self.counters.ipv6_packets_in += 1;
        let mut current = Cow::Borrowed(packet);
        for _ in 0..=MAX_REASSEMBLY_ROUNDS {
            match self.ipv6_step(now, &current, ours) {
                Some(whole) => current = Cow::Owned(whole),
                None => return,
            }
        }
        self.drop_packet(DropReason::FragmentBad, None);
    }

    /// Checks and delivers one packet; returns a reassembled packet to go round again.
    fn ipv6_step(&mut self, now: Instant, packet: &[u8], ours: Ipv6Addr) -> Option<Vec<u8>> {
        let view = match ipv6::parse(packet) {
            Ok(view) => view,
            Err(reason) => {
                self.drop_packet(reason, None);
                return None;
            }
        };
        // RFC 8200 / RFC 4291: ours or a group we are in; a source that names one node.
        let dest = match ipv6::check_addresses(&view, ours) {
            Ok(dest) => dest,
            Err(reason) => {
                self.drop_packet(reason, Some(view.src().into()));
                return None;
            }
        };
        match ipv6::walk(&view) {
            Err(e) => {
                self.drop_packet(e.reason, Some(view.src().into()));
                if let Some(problem) = e.problem {
                    let error = ErrorMessage::ParameterProblem(problem);
                    self.send_icmpv6_error(now, error, view.packet(), view.src(), ours);
                }
                None
            }
            Ok(Chain::NoNextHeader) => {
                self.drop_packet(DropReason::Ipv6NoNextHeader, Some(view.src().into()));
                None
            }
            Ok(Chain::Upper { protocol, offset }) => {
                self.handle_upper6(now, &view, dest, protocol, offset, ours);
                None
            }
            Ok(Chain::Fragment(fragment)) => {
                self.counters.fragments6_in += 1;
                self.rx_checksum_done = false; // a reassembled packet is verified whole
                match self.reassembler.insert_ipv6(now, &view, &fragment) {
                    Reassembled::Pending => None,
                    Reassembled::Dropped(reason) => {
                        self.drop_packet(reason, Some(view.src().into()));
                        None
                    }
                    Reassembled::Complete(whole) => {
                        self.counters.datagrams6_reassembled += 1;
                        Some(whole)
                    }
                }
            }
        }
    }

    /// The upper-layer payload of a whole packet.
    fn handle_upper6(
        &mut self,
        now: Instant,
        view: &Ipv6View<'_>,
        dest: Destination,
        protocol: IpNumber,
        offset: usize,
        ours: Ipv6Addr,
    ) {
        let payload = &view.packet()[offset..];
        let (src, dst) = (view.src(), view.dst());
        match protocol {
            IpNumber::IPV6_ICMP => self.handle_icmpv6(now, view, payload, ours),
            // RFC 9293 MUST-57 / RFC 768: no TCP or UDP to a multicast group.
            IpNumber::TCP if dest == Destination::Multicast => {
                self.drop_packet(DropReason::TcpToMulticast, Some(src.into()));
            }
            IpNumber::UDP if dest == Destination::Multicast => {
                self.drop_packet(DropReason::UdpToMulticast, Some(src.into()));
            }
            IpNumber::TCP => {
                let pseudo = self.rx_pseudo(PseudoHeader::tcp(src, dst));
                if let Err(reason) =
                    self.tcp
                        .handle_segment(now, src.into(), dst.into(), pseudo, payload)
                {
                    self.drop_packet(reason, Some(src.into()));
                }
            }
            IpNumber::UDP => {
                let pseudo = self.rx_pseudo(PseudoHeader::udp(src, dst));
                let datagram = match udp::parse(pseudo, payload) {
                    Ok(datagram) => datagram,
                    Err(reason) => return self.drop_packet(reason, Some(src.into())),
                };
                if self.deliver_udp(src.into(), &datagram) {
                    return;
                }
                // No socket for it: RFC 4443 §3.1 code 4, port unreachable.
                let error = ErrorMessage::DestUnreachable(DestUnreachableCode::Port);
                if self.send_icmpv6_error(now, error, view.packet(), src, ours) {
                    self.counters.port_unreachable_sent += 1;
                }
            }
            // The walk answers any other Next Header with a Parameter Problem (code 1).
            _ => self.drop_packet(DropReason::Ipv6UnknownNextHeader, Some(src.into())),
        }
    }

    fn handle_icmpv6(&mut self, now: Instant, view: &Ipv6View<'_>, message: &[u8], ours: Ipv6Addr) {
        let src = view.src();
        let pseudo = PseudoHeader::icmpv6(src, view.dst());
        let message = match icmpv6::parse(pseudo, message) {
            Ok(m) => m,
            Err(reason) => return self.drop_packet(reason, Some(src.into())),
        };
        match message {
            Icmpv6In::EchoRequest { id, seq, data } => {
                self.counters.echo_requests += 1;
                // RFC 4443 §4.2: the reply comes from our unicast address, also when the
                // request went to a group we are in.
                let mut reply = std::mem::take(&mut self.scratch);
                reply.resize(icmpv6::FIXED_LEN + data.len(), 0);
                let pseudo = PseudoHeader::icmpv6(ours, src);
                let n = icmpv6::emit_echo_reply(pseudo, id, seq, data, &mut reply);
                self.send_packet6(src, IpNumber::IPV6_ICMP, &reply[..n]);
                self.scratch = reply;
                self.counters.echo_replies += 1;
            }
            Icmpv6In::PacketTooBig { mtu, original } => {
                self.counters.icmp_errors_in += 1;
                // RFC 8201 §4: never below the IPv6 minimum MTU of 1280.
                let mtu = mtu.clamp(ipv6::MIN_MTU as u32, u32::from(u16::MAX)) as u16;
                if let Some(quote) = icmpv6::parse_quote(original) {
                    self.tcp.handle_path_mtu(now, mtu, &quote);
                }
            }
            Icmpv6In::DestUnreachable { code, original } => {
                let error = IcmpError::DestinationUnreachable { code };
                self.handle_icmpv6_error(now, error, original);
            }
            Icmpv6In::TimeExceeded { original, .. } => {
                self.handle_icmpv6_error(now, IcmpError::TimeExceeded, original);
            }
            Icmpv6In::ParameterProblem { original, .. } => {
                self.handle_icmpv6_error(now, IcmpError::ParameterProblem, original);
            }
            Icmpv6In::Other { icmp_type, code } => {
                // Neighbor discovery, MLD, echo replies...: counted, never answered.
                log::debug!("{src}: ICMPv6 type {icmp_type} code {code} ignored");
                self.counters.drops.count(DropReason::Icmpv6Unhandled);
            }
        }
    }

    /// An ICMPv6 error about one of our packets goes to the connection it quotes
    /// (MUST-54..56 as for IPv4).
    fn handle_icmpv6_error(&mut self, now: Instant, error: IcmpError, original: &[u8]) {
        self.counters.icmp_errors_in += 1;
        if let Some(quote) = icmpv6::parse_quote(original) {
            self.tcp.handle_icmp_error(now, error, &quote);
            self.udp_icmp_error(error, &quote);
        }
    }

    /// Sends `error` about `original` to `to` when RFC 4443 §2.4(e) allows one at all and
    /// the rate limit (§2.4(f)) has room; returns whether it went out.
    fn send_icmpv6_error(
        &mut self,
        now: Instant,
        error: ErrorMessage,
        original: &[u8],
        to: Ipv6Addr,
        ours: Ipv6Addr,
    ) -> bool {
        if !icmpv6::may_send_error(original, &error) {
            return false;
        }
        if !self.icmp_errors.take(now) {
            self.counters.icmp_errors_rate_limited += 1;
            log::debug!("{to}: ICMPv6 {error:?} rate-limited");
            return false;
        }
        match error {
            ErrorMessage::ParameterProblem(_) => self.counters.parameter_problems_sent += 1,
            ErrorMessage::TimeExceeded(_) => self.counters.time_exceeded_sent += 1,
            _ => {}
        }
        let mut message = std::mem::take(&mut self.scratch);
        message.resize(icmpv6::ERROR_MAX_LEN, 0);
        let pseudo = PseudoHeader::icmpv6(ours, to);
        let n = icmpv6::emit_error(pseudo, error, original, &mut message);
        self.send_packet6(to, IpNumber::IPV6_ICMP, &message[..n]);
        self.scratch = message;
        true
    }

    /// RFC 8200 §4.5: partial packets that timed out with their first fragment in hand get
    /// a Time Exceeded, code 1, quoting it.
    pub(super) fn send_reassembly_time_exceeded(&mut self, now: Instant) {
        let Some(ours) = self.config.addr6 else {
            return;
        };
        while let Some(expired) = self.reassembler.poll_time_exceeded() {
            let error =
                ErrorMessage::TimeExceeded(TimeExceededCode::FragmentReassemblyTimeExceeded);
            self.send_icmpv6_error(now, error, &expired.quote, expired.src, ours);
        }
    }

    /// Queues an IPv6 packet for `dst`, fragmented to the MTU when needed (RFC 8200 §4.5,
    /// with an identification nobody can predict, RFC 7739).
    pub(super) fn send_packet6(&mut self, dst: Ipv6Addr, next_header: IpNumber, payload: &[u8]) {
        let Some(src) = self.config.addr6 else {
            return;
        };
        let out = Ipv6Out {
            src,
            dst,
            next_header,
            hop_limit: self.config.ttl,
            dscp: self.config.dscp,
            flow_label: 0,
        };
        let ident = self.ident6.u32(..);
        let mut scratch = self.spare.pop().unwrap_or_default();
        let (queue, spare, counters) = (&mut self.queue, &mut self.spare, &mut self.counters);
        let max_queued = self.config.max_queued;
        let fragments = out.fragment(payload, self.config.mtu, ident, &mut scratch, |packet| {
            super::enqueue(queue, spare, counters, max_queued, packet);
        });
        if fragments > 1 {
            self.counters.fragments6_out += fragments as u64;
        }
        self.spare.push(scratch);
    }
}
