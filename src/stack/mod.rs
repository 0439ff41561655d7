//! `Stack`: IPv4 in and out, fragment reassembly, ICMP, and the transport demux.
//!
//! The stack is sans-IO, shaped like the TCP engine one level down. It never reads a clock:
//! every call that needs time takes `now`.
//!
//! - in: [`Stack::handle_packet`] for each packet from the link, [`Stack::handle_timeout`]
//!   when [`Stack::poll_timeout`] has passed (calling it early is harmless), and the socket
//!   calls on [`Stack::tcp_mut`] (`listen`, `connect`, `send`, `recv`, `close`, ...) and
//!   the UDP socket calls (`udp_bind`, `udp_send_to`, `udp_recv_from`, ..., in `udp.rs`);
//! - out, drained in this order after any input:
//!   1. [`Stack::poll_transmit`] until it returns `None` (draining a connection's output
//!      also collects its events and its next deadline, so this comes first),
//!   2. [`Stack::poll_event`] until `None` (acting on an event with a socket call is input:
//!      go back to 1),
//!   3. [`Stack::poll_timeout`], the deadline to sleep until.
//!
//! Every byte from the link is untrusted. A packet that fails a check is dropped and counted
//! under its [`DropReason`], with a `debug!` line; nothing here panics on input or grows
//! without bound.

mod counters;
mod demux;
mod events;
mod ipv6;
mod listeners;
mod memory;
mod passive_open;
mod ratelimit;
mod reassembly;
mod sockets;
mod tcp;
mod time_wait;
mod timer_heap;
mod transmit;
mod udp;

pub use counters::Counters;
pub use listeners::ListenerInfo;
pub use memory::{
    DEFAULT_MEM_MAX, MemoryBudget, TcpLimits, default_mem_max, format_size, human_size, parse_size,
};
pub use reassembly::{Reassembled, Reassembler, ReassemblyConfig};
pub use sockets::{Owner, SLOT_SIZE, SocketHandle};
pub use tcp::{StackEvent, TcpCounters, TcpError, TcpEvent, TcpLayer};
pub use time_wait::DEFAULT_MAX_TIME_WAIT;
pub use udp::{
    MAX_PAYLOAD_V4, MAX_PAYLOAD_V6, UdpConfig, UdpCounters, UdpError, UdpEvent, UdpHandle, UdpLayer,
};

use crate::link::{ChecksumState, PacketDesc};
use crate::tcp::IcmpError;
use crate::time::Instant;
use crate::wire::icmp::{self, IcmpIn};
use crate::wire::ipv4::{self, Ipv4Out, Ipv4View};
use crate::wire::{DropReason, PseudoHeader};
use etherparse::IpNumber;
use etherparse::icmpv4::DestUnreachableHeader;
use ratelimit::TokenBucket;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use transmit::IpOptions;

/// Stack settings; the defaults are those of the daemon.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Our address (the daemon's `--addr`).
    pub addr: Ipv4Addr,
    /// Our IPv6 address (the daemon's `--addr6`); `None`: IPv4 only.
    pub addr6: Option<Ipv6Addr>,
    /// Link MTU: the largest packet we send; bigger datagrams are fragmented.
    pub mtu: usize,
    /// Time to live of datagrams we originate (RFC 9293 MUST-49).
    pub ttl: u8,
    /// DiffServ code point of datagrams we originate (MUST-48).
    pub dscp: u8,
    /// Limits of IPv4 fragment reassembly (RFC 791, RFC 815): memory, datagrams, timeout.
    pub reassembly: ReassemblyConfig,
    /// ICMP errors we send (port and protocol unreachable), sustained rate per second
    /// (RFC 1812 §4.3.2.8).
    pub icmp_error_rate: u32,
    /// ICMP errors we may send at once after a quiet spell (the token bucket's depth).
    pub icmp_error_burst: u32,
    /// Packets waiting for the link before further output is dropped.
    pub max_queued: usize,
    /// Connections kept in TIME-WAIT at most; beyond it the oldest ends early (counted).
    pub max_time_wait: usize,
    /// Defaults for TCP connections; the MSS is derived from `mtu` (MUST-67).
    pub tcp: crate::tcp::Config,
    /// Key of the RFC 6528 ISN function (MUST-9) and of SYN cookies (RFC 4987); the daemon
    /// draws it from the OS.
    pub isn_secret: [u8; 16],
    /// Limits of UDP sockets (receive queues).
    pub udp: UdpConfig,
    /// TCP's memory budget and connection limits.
    pub tcp_limits: TcpLimits,
    /// The link segments TCP itself (TSO: a TUN device with `IFF_VNET_HDR` that accepts GSO
    /// writes): new data leaves in super-segments of up to 64 KB, each with a
    /// [`PacketDesc`] saying how to cut it, and the buffer given to
    /// [`Stack::poll_transmit_desc`] must hold 65535 octets. Off by default.
    pub tso: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            addr: Ipv4Addr::new(198, 18, 0, 2),
            addr6: Some(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2)),
            mtu: 1500,
            ttl: ipv4::DEFAULT_TTL,
            dscp: 0,
            reassembly: ReassemblyConfig::default(),
            icmp_error_rate: 100,
            icmp_error_burst: 10,
            max_queued: 4096,
            max_time_wait: DEFAULT_MAX_TIME_WAIT,
            tcp: crate::tcp::Config::default(),
            isn_secret: [0x5a; 16],
            udp: UdpConfig::default(),
            tcp_limits: TcpLimits::default(),
            tso: false,
        }
    }
}

/// Smallest MTU an IPv4 link may have (RFC 791).
pub const MIN_MTU: usize = 68;
/// Largest MTU of a TUN device.
pub const MAX_MTU: usize = 65_535;

/// The longest TCP payload of a super-segment to or from `local`'s family: the whole
/// datagram (IP header, the longest TCP header with 40 octets of options, payload) within
/// 65535 octets, the most an IPv4 total length or a TUN write carries.
pub(crate) fn max_burst(local: IpAddr) -> u32 {
    (MAX_MTU - crate::wire::ip_header_len(local) - 60) as u32
}

/// The IPv4 host: one address, the link's MTU, TCP on top. See the module documentation
/// for the contract.
pub struct Stack {
    config: StackConfig,
    reassembler: Reassembler,
    icmp_errors: TokenBucket,
    counters: Counters,
    /// Packets ready for the link, oldest first.
    queue: VecDeque<Vec<u8>>,
    /// Spent packet buffers, reused so steady traffic allocates nothing.
    spare: Vec<Vec<u8>>,
    next_ident: u16,
    /// Identifications of IPv6 fragments: unpredictable (RFC 7739), from the seed we were
    /// given (sans-IO: never the OS).
    ident6: fastrand::Rng,
    scratch: Vec<u8>,
    tcp: TcpLayer,
    udp: UdpLayer,
    /// The packet being handled came from an offload device that verified its transport
    /// checksum (virtio DATA_VALID) or left it to us as a partial sum (NEEDS_CSUM): set by
    /// [`Stack::handle_packet_desc`] for one packet, never for a reassembled datagram.
    rx_checksum_done: bool,
}

/// Copies `packet` into a reused buffer at the back of the link queue, or counts a drop
/// when `max_queued` packets already wait (both families' output goes through here).
fn enqueue(
    queue: &mut VecDeque<Vec<u8>>,
    spare: &mut Vec<Vec<u8>>,
    counters: &mut Counters,
    max_queued: usize,
    packet: &[u8],
) {
    if queue.len() >= max_queued {
        counters.tx_queue_drops += 1;
        return;
    }
    let mut buf = spare.pop().unwrap_or_default();
    buf.clear();
    buf.extend_from_slice(packet);
    queue.push_back(buf);
}

impl Stack {
    /// A stack with no listeners or connections. Panics unless `config.mtu` is within
    /// [`MIN_MTU`]..=[`MAX_MTU`].
    pub fn new(config: StackConfig) -> Stack {
        assert!(
            (MIN_MTU..=MAX_MTU).contains(&config.mtu),
            "MTU out of range"
        );
        // MUST-67: advertise at most MMS_R - 20 = MTU - 40 (no IP or TCP options assumed).
        let tcp_config = crate::tcp::Config {
            mss: (config.mtu - ipv4::HEADER_LEN - crate::wire::tcp::HEADER_LEN)
                .min(usize::from(u16::MAX)) as u16,
            max_burst: if config.tso {
                max_burst(IpAddr::V4(config.addr))
            } else {
                0
            },
            ..config.tcp.clone()
        };
        let ip = IpOptions {
            ttl: config.ttl,
            dscp: config.dscp,
        };
        let mut addrs = vec![IpAddr::V4(config.addr)];
        addrs.extend(config.addr6.map(IpAddr::V6));
        let mut tcp = TcpLayer::new(&addrs, config.mtu, tcp_config, config.isn_secret, ip);
        tcp.set_max_time_wait(config.max_time_wait);
        tcp.set_limits(config.tcp_limits);
        let seed = u64::from_le_bytes(config.isn_secret[8..].try_into().expect("8 bytes"));
        let ident6 = fastrand::Rng::with_seed(seed);
        let udp = UdpLayer::new(
            config.udp,
            u16::from_le_bytes([config.isn_secret[2], config.isn_secret[3]]),
        );
        Stack {
            tcp,
            udp,
            reassembler: Reassembler::new(config.reassembly),
            icmp_errors: TokenBucket::new(config.icmp_error_rate, config.icmp_error_burst),
            config,
            counters: Counters::default(),
            queue: VecDeque::new(),
            spare: Vec::new(),
            next_ident: 0,
            ident6,
            scratch: Vec::with_capacity(MAX_MTU),
            rx_checksum_done: false,
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// What the IP and ICMP layers have counted so far (TCP's are in [`TcpLayer::counters`]).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Partial datagrams being reassembled and the bytes charged for them.
    pub fn reassembly_usage(&self) -> (usize, usize) {
        (self.reassembler.in_flight(), self.reassembler.bytes_held())
    }

    fn drop_packet(&mut self, reason: DropReason, src: Option<IpAddr>) {
        self.counters.drops.count(reason);
        match src {
            Some(src) => log::debug!("drop from {src}: {reason}"),
            None => log::debug!("drop: {reason}"),
        }
    }

    /// Takes one packet from the link with what the link knows about it ([`PacketDesc`]).
    ///
    /// From an offload device (`IFF_VNET_HDR`) a TCP packet may be a super-segment of up to
    /// 64 KB: it goes to TCP whole, as one segment (the engine takes segments longer than
    /// the MSS). Its transport checksum may be `Partial` (virtio `NEEDS_CSUM`: the local
    /// kernel made the packet and left only the pseudo-header sum in the checksum field, so
    /// there is nothing to verify: no wire lay between its memory and ours) or `Verified`
    /// (`DATA_VALID`). For those the TCP and UDP checksum checks are skipped (RFC 1122
    /// §4.2.2.7 / MUST-3 are met by the device, which is what the flags say); every other
    /// check (IPv4 header checksum, lengths, addresses, options) runs as for any packet.
    ///
    /// A UDP super-datagram (USO) is taken as the datagrams it stands for, cut as the
    /// kernel's `__udp_gso_segment` would (`link/gso.rs`, checksums computed, so verified
    /// as any); it counts as one packet received.
    pub fn handle_packet_desc(&mut self, now: Instant, packet: &[u8], desc: PacketDesc) {
        let packet = &packet[..desc.len.min(packet.len())];
        if let crate::link::Gso::Udp { .. } = desc.gso
            && let Some(datagrams) = crate::link::gso::segment(packet, desc)
        {
            self.counters.rx_packets += 1;
            self.counters.rx_bytes += packet.len() as u64;
            self.counters.rx_super_datagrams += 1;
            self.counters.rx_uso_datagrams += datagrams.len() as u64;
            for d in &datagrams {
                self.dispatch_packet(now, d);
            }
            return;
        }
        self.rx_checksum_done = desc.checksum != ChecksumState::Unverified;
        self.handle_packet(now, packet);
        self.rx_checksum_done = false;
    }

    /// The pseudo-header for the transport checksum of the packet being handled: marked
    /// done by the device when [`Stack::handle_packet_desc`] said so.
    fn rx_pseudo(&self, pseudo: PseudoHeader) -> PseudoHeader {
        pseudo.done_by_device(self.rx_checksum_done)
    }

    /// Takes one packet from the link.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.counters.rx_packets += 1;
        self.counters.rx_bytes += packet.len() as u64;
        self.dispatch_packet(now, packet);
    }

    /// One IP packet (counted by the caller) to its family's input.
    fn dispatch_packet(&mut self, now: Instant, packet: &[u8]) {
        if packet.first().is_some_and(|b| b >> 4 == 6) {
            return self.handle_ipv6_packet(now, packet);
        }
        let ip = match ipv4::parse(packet) {
            Ok(ip) => ip,
            Err(reason) => return self.drop_packet(reason, None),
        };
        if ip.dst() != self.config.addr {
            return self.drop_packet(DropReason::Ipv4NotForUs, Some(ip.src().into()));
        }
        // RFC 1122 §3.2.1.3: a host discards datagrams from a source that cannot be a host
        // (unspecified, broadcast, multicast, loopback, or our own address).
        let src = ip.src();
        if src.is_unspecified()
            || src.is_broadcast()
            || src.is_multicast()
            || src.is_loopback()
            || src == self.config.addr
        {
            return self.drop_packet(DropReason::Ipv4BadSource, Some(src.into()));
        }
        if !ip.is_fragment() {
            return self.handle_datagram(now, &ip);
        }
        self.counters.fragments_in += 1;
        self.rx_checksum_done = false; // a datagram of fragments is verified as a whole
        match self.reassembler.insert(now, &ip) {
            Reassembled::Pending => {}
            Reassembled::Dropped(reason) => self.drop_packet(reason, Some(src.into())),
            Reassembled::Complete(datagram) => {
                self.counters.datagrams_reassembled += 1;
                let ip = ipv4::parse(&datagram).expect("reassembler emits valid datagrams");
                self.handle_datagram(now, &ip);
            }
        }
    }

    /// One whole datagram addressed to us.
    fn handle_datagram(&mut self, now: Instant, ip: &Ipv4View<'_>) {
        match ip.protocol() {
            IpNumber::ICMP => self.handle_icmp(now, ip),
            IpNumber::UDP => self.handle_udp(now, ip),
            IpNumber::TCP => self.handle_tcp(now, ip),
            _ => self.send_unreachable(now, DestUnreachableHeader::Protocol, ip),
        }
    }

    fn handle_icmp(&mut self, now: Instant, ip: &Ipv4View<'_>) {
        let message = match icmp::parse(ip.payload()) {
            Ok(m) => m,
            Err(reason) => return self.drop_packet(reason, Some(ip.src().into())),
        };
        match message {
            IcmpIn::EchoRequest { id, seq, data } => {
                self.counters.echo_requests += 1;
                let mut reply = std::mem::take(&mut self.scratch);
                reply.resize(icmp::HEADER_LEN + data.len(), 0);
                let n = icmp::emit_echo_reply(id, seq, data, &mut reply);
                self.send_datagram(ip.src(), IpNumber::ICMP, &reply[..n]);
                self.scratch = reply;
                self.counters.echo_replies += 1;
            }
            IcmpIn::DestUnreachable {
                code: 4,
                next_hop_mtu,
                original,
            } if next_hop_mtu >= 68 => {
                self.counters.icmp_errors_in += 1;
                if let Some(quote) = icmp::parse_quote(original) {
                    self.tcp.handle_path_mtu(now, next_hop_mtu, &quote);
                }
            }
            IcmpIn::DestUnreachable { code, original, .. } => {
                let error = IcmpError::DestinationUnreachable { code };
                self.handle_icmp_error(now, error, original);
            }
            IcmpIn::TimeExceeded { original, .. } => {
                self.handle_icmp_error(now, IcmpError::TimeExceeded, original);
            }
            IcmpIn::ParameterProblem { original, .. } => {
                self.handle_icmp_error(now, IcmpError::ParameterProblem, original);
            }
            IcmpIn::SourceQuench { .. } => {
                // MUST-55: silently discarded (RFC 6633 deprecates source quench).
                self.counters.icmp_errors_in += 1;
            }
            IcmpIn::Other { icmp_type, code } => {
                log::debug!("{}: ICMP type {icmp_type} code {code} ignored", ip.src());
                self.counters.drops.count(DropReason::IcmpUnhandled);
            }
        }
    }

    /// An ICMP error about one of our datagrams goes to the connection it quotes.
    fn handle_icmp_error(&mut self, now: Instant, error: IcmpError, original: &[u8]) {
        self.counters.icmp_errors_in += 1;
        if let Some(quote) = icmp::parse_quote(original) {
            self.tcp.handle_icmp_error(now, error, &quote);
            self.udp_icmp_error(error, &quote);
        }
    }

    fn handle_udp(&mut self, now: Instant, ip: &Ipv4View<'_>) {
        let pseudo = self.rx_pseudo(PseudoHeader::udp(ip.src(), ip.dst()));
        let datagram = match crate::wire::udp::parse(pseudo, ip.payload()) {
            Ok(datagram) => datagram,
            Err(reason) => return self.drop_packet(reason, Some(ip.src().into())),
        };
        // No socket for it: RFC 1122 §4.1.3.1 says answer with port unreachable.
        if !self.deliver_udp(ip.src().into(), &datagram) {
            self.send_unreachable(now, DestUnreachableHeader::Port, ip);
        }
    }

    fn handle_tcp(&mut self, now: Instant, ip: &Ipv4View<'_>) {
        let pseudo = self.rx_pseudo(PseudoHeader::tcp(ip.src(), ip.dst()));
        if let Err(reason) =
            self.tcp
                .handle_segment(now, ip.src().into(), ip.dst().into(), pseudo, ip.payload())
        {
            self.drop_packet(reason, Some(ip.src().into()));
        }
    }

    /// RFC 1122 §3.2.2: port/protocol unreachable, rate-limited (RFC 1812 §4.3.2.8).
    fn send_unreachable(&mut self, now: Instant, reason: DestUnreachableHeader, ip: &Ipv4View<'_>) {
        if !self.icmp_errors.take(now) {
            self.counters.icmp_errors_rate_limited += 1;
            log::debug!("{}: ICMP {reason:?} unreachable rate-limited", ip.src());
            return;
        }
        match reason {
            DestUnreachableHeader::Port => self.counters.port_unreachable_sent += 1,
            _ => self.counters.protocol_unreachable_sent += 1,
        }
        let mut message = std::mem::take(&mut self.scratch);
        message.resize(icmp::ERROR_MAX_LEN, 0);
        let n = icmp::emit_dest_unreachable(reason, ip.datagram(), &mut message);
        self.send_datagram(ip.src(), IpNumber::ICMP, &message[..n]);
        self.scratch = message;
    }

    /// Queues a datagram for `dst`, fragmented to the MTU when needed.
    fn send_datagram(&mut self, dst: Ipv4Addr, protocol: IpNumber, payload: &[u8]) {
        let out = Ipv4Out {
            src: self.config.addr,
            dst,
            protocol,
            ttl: self.config.ttl,
            dscp: self.config.dscp,
            ident: self.next_ident,
            dont_fragment: false,
        };
        self.next_ident = self.next_ident.wrapping_add(1);
        let mut scratch = self.spare.pop().unwrap_or_default();
        let mut fragments = 0;
        let (queue, spare, counters) = (&mut self.queue, &mut self.spare, &mut self.counters);
        let max_queued = self.config.max_queued;
        out.fragment(payload, self.config.mtu, &mut scratch, |packet| {
            fragments += 1;
            enqueue(queue, spare, counters, max_queued, packet);
        });
        if fragments > 1 {
            self.counters.fragments_out += fragments as u64;
        }
        self.spare.push(scratch);
    }

    /// The next packet for the link, written into `buf` (which must hold an MTU); its
    /// length. Queued packets (ICMP) go first, then TCP segments, built straight into `buf`.
    /// Call until `None`. With [`StackConfig::tso`] use
    /// [`poll_transmit_desc`](Self::poll_transmit_desc), which says how to cut a
    /// super-segment.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_desc(now, buf).map(|desc| desc.len)
    }

    /// The next packet for the link, written into `buf`, with its descriptor: plain, or
    /// with [`StackConfig::tso`] a TCP super-segment of up to 65535 octets (`buf` must hold
    /// that much) carrying a partial checksum and `Gso::Tcp` for the device to split.
    /// Queued packets (ICMP, UDP, fragments: always plain) go first, then TCP segments,
    /// built straight into `buf`. Call until `None`.
    #[must_use]
    pub fn poll_transmit_desc(&mut self, now: Instant, buf: &mut [u8]) -> Option<PacketDesc> {
        let desc = match self.queue.pop_front() {
            Some(packet) => {
                let n = packet.len();
                buf[..n].copy_from_slice(&packet);
                self.spare.push(packet);
                PacketDesc::plain(n)
            }
            None => {
                let (next_ident, mtu) = (&mut self.next_ident, self.config.mtu);
                self.tcp.poll_transmit_with(now, &mut |t| {
                    debug_assert!(
                        t.gso_size.is_some()
                            || crate::wire::ip_header_len(t.tuple.local.ip()) + t.tcp_len() <= mtu,
                        "segment over the MTU"
                    );
                    match (t.tuple.local.ip(), t.tuple.remote.ip()) {
                        (IpAddr::V4(src), IpAddr::V4(dst)) => {
                            let ident = *next_ident;
                            *next_ident = ident.wrapping_add(t.wire_segments());
                            t.emit_ipv4(src, dst, ident, buf)
                        }
                        (IpAddr::V6(src), IpAddr::V6(dst)) => t.emit_ipv6(src, dst, buf),
                        // A tuple is made from one packet's addresses or from our address
                        // of the remote's family: both ends are always of one family.
                        _ => unreachable!("a 4-tuple mixes address families"),
                    }
                })?
            }
        };
        self.counters.tx_packets += 1;
        self.counters.tx_bytes += desc.len as u64;
        if desc.gso != crate::link::Gso::None {
            self.counters.tx_super_segments += 1;
        }
        Some(desc)
    }

    /// The next application event (connections accepted, readable, closed, ...). Call until
    /// `None`, after `poll_transmit` returned `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<StackEvent> {
        self.tcp.poll_event().or_else(|| self.udp.poll_event())
    }

    /// The TCP layer: listeners, connections, counters.
    pub fn tcp(&self) -> &TcpLayer {
        &self.tcp
    }

    /// The TCP layer, for socket calls (`listen`, `accept`, `connect`, `send`, `recv`, ...).
    pub fn tcp_mut(&mut self) -> &mut TcpLayer {
        &mut self.tcp
    }

    /// The next time [`Stack::handle_timeout`] has work to do.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        Instant::min_opt(self.reassembler.poll_timeout(), self.tcp.poll_timeout())
    }

    /// Runs whatever timers have expired at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tcp.handle_timeout(now);
        let expired = self.reassembler.handle_timeout(now);
        if expired > 0 {
            log::debug!("{expired} partial datagram(s) timed out in reassembly");
            self.counters
                .drops
                .add(DropReason::FragmentTimeout, expired as u64);
            self.send_reassembly_time_exceeded(now);
        }
    }
}
