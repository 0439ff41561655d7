//! One TCP connection as a sans-IO state machine (RFC 9293).
//!
//! # Contract
//! A `Connection` never does I/O, never reads a clock and never draws randomness: the caller
//! passes `now` into every call that needs time and supplies the ISS (see
//! [`IsnGenerator`](super::IsnGenerator)).
//!
//! - Create it with [`Connection::connect`] (active OPEN, a SYN is queued) or
//!   [`Connection::accept`] (a listener in the stack received a SYN).
//! - Inputs: [`handle_segment`](Connection::handle_segment) for every segment of this
//!   4-tuple, [`handle_timeout`](Connection::handle_timeout) when the deadline from
//!   `poll_timeout` has passed (calling it early or twice is harmless),
//!   [`handle_icmp_error`](Connection::handle_icmp_error) and `handle_path_mtu`.
//! - User calls, named after RFC 9293 §3.9: `send`, `send_urgent`, `recv`,
//!   `urgent_remaining`, `close` (half-close: queues a FIN), `abort` (RST), `set_nodelay`,
//!   `set_keepalive`, `set_user_timeout`.
//! - Outputs, drained in this order after any input or user call:
//!   1. [`poll_transmit`](Connection::poll_transmit) until `None` (segments to send; the
//!      stack adds ports and the IPv4 header, see [`Segment::emit`]),
//!   2. [`poll_timeout`](Connection::poll_timeout) (the next deadline),
//!   3. [`poll_event`](Connection::poll_event) until `None`.
//! - After `Event::Closed` and `poll_transmit() == None` the stack drops the connection.
//!   `Closed(CloseReason::ResetInListen)` means a SYN-RECEIVED that came from a listener was
//!   reset: RFC 9293 says "return to LISTEN", which for us means drop it silently and leave
//!   the listener alone (MUST-11).
//!
//! All ACKs owed after a batch of input are merged into one (MUST-58, MUST-59): the stack
//! should feed every queued segment before draining `poll_transmit`.
//!
//! # Shape
//! The struct reads like the TCB of RFC 9293 §3.3.1: the 4-tuple, the state (a `Phase`:
//! data that only one state needs rides in its variant), the send and receive sequence
//! spaces, then one named part per job. Every state change goes through
//! `Connection::transition`, which logs it and counts it (`Stats::transitions`);
//! `input.rs` reacts to segments, `output.rs` builds them, `timeouts.rs` reacts to timers.

use std::collections::VecDeque;
use std::net::SocketAddr;

use log::debug;

use super::config::{
    CloseReason, Config, ConnectionError, Event, FourTuple, IcmpError, Keepalive, Stats,
};
use super::congestion::Congestion;
use super::pressure::MemoryGrant;
use super::recv::{RecvSpace, our_wscale};
use super::rtt::RttEstimator;
use super::segment::{Ctl, Segment};
use super::send::SendSpace;
use super::seq::SeqNum;
use super::state::{Phase, State, UserClose};
use super::tcb::{
    AckDebt, ChallengeAcks, LossRecovery, Negotiated, Probes, RetransmitClock, UserSide,
};
use super::timers::{TimerKind, Timers};
use crate::time::{Duration, Instant};
use crate::wire;

/// One TCP connection. See the module documentation for the contract.
#[derive(Debug)]
pub struct Connection {
    /// The local and remote sockets.
    pub(super) tuple: FourTuple,
    pub(super) config: Config,
    /// RFC 9293 §3.3.2: where we are, with what only that state needs. Replaced only by
    /// [`Connection::transition`].
    pub(super) phase: Phase,
    /// Send sequence variables (SND.UNA, SND.NXT, SND.WND, SND.WL1/WL2, ISS, ...), the send
    /// buffer (which doubles as the retransmission queue) and the SACK scoreboard.
    pub(super) snd: SendSpace,
    /// Receive sequence variables (RCV.NXT, RCV.WND, IRS, ...), the receive buffer and the
    /// out-of-order queue.
    pub(super) rcv: RecvSpace,
    /// What the handshake settled (RFC 7323, RFC 2018), and TS.Recent.
    pub(super) opts: Negotiated,
    /// The ACK we owe the peer.
    pub(super) ack: AckDebt,
    /// RFC 6298 SRTT/RTTVAR/RTO with Karn.
    pub(super) rtt: RttEstimator,
    /// RFC 9293 §3.8.3 R1/R2 bookkeeping for what is outstanding.
    pub(super) retx: RetransmitClock,
    /// RFC 5681 cwnd and ssthresh, CUBIC or NewReno.
    pub(super) cc: Congestion,
    /// Fast retransmit, RFC 6675 recovery and RFC 8985 tail loss probes.
    pub(super) recovery: LossRecovery,
    /// Zero-window probes and keepalives, and when the peer was last heard.
    pub(super) probes: Probes,
    pub(super) timers: Timers,
    /// Explicit segments to send before anything else (RST, probes).
    pub(super) control: VecDeque<Segment>,
    /// RFC 5961 §7 rate limit.
    pub(super) challenge: ChallengeAcks,
    /// What the user is told besides data.
    pub(super) user: UserSide,
    pub(super) stats: Stats,
    /// What the stack's memory budget allows now (see `pressure.rs`).
    pub(super) memory: MemoryGrant,
}

impl Connection {
    fn new(now: Instant, tuple: FourTuple, iss: SeqNum, config: Config, phase: Phase) -> Self {
        let smss = u32::from(config.mss.min(536));
        Connection {
            tuple,
            phase,
            snd: SendSpace::new(iss, config.send_buffer, smss),
            rcv: RecvSpace::new(SeqNum(0), config.recv_buffer, config.recv_buffer, 0),
            opts: Negotiated::default(),
            ack: AckDebt {
                pending: false,
                unacked_bytes: 0,
                rcv_mss: smss,
                dsack: None,
            },
            rtt: RttEstimator::new(config.rto_initial, config.rto_min, config.rto_max),
            retx: RetransmitClock::default(),
            cc: Congestion::new(config.congestion, smss),
            recovery: LossRecovery::new(iss),
            probes: Probes {
                last_recv_at: now,
                persist_backoff: 0,
                force_send: false,
                keepalives: 0,
            },
            timers: Timers::default(),
            control: VecDeque::new(),
            challenge: ChallengeAcks {
                window_start: now,
                count: 0,
            },
            user: UserSide::default(),
            stats: Stats::default(),
            memory: MemoryGrant::default(),
            config,
        }
    }

    /// Active OPEN (RFC 9293 §3.10.1): SYN-SENT with a SYN queued.
    pub fn connect(now: Instant, tuple: FourTuple, iss: SeqNum, config: Config) -> Connection {
        let c = Connection::new(
            now,
            tuple,
            iss,
            config,
            Phase::SynSent { syn_pending: true },
        );
        debug!("{tuple} active open, iss {iss}");
        c
    }

    /// Passive OPEN: a listener received `syn` (RFC 9293 §3.10.7.2); SYN-RECEIVED with a
    /// SYN-ACK queued. The stack must only pass a segment with SYN set and RST/ACK clear.
    /// Data in the SYN is not acknowledged (the peer sends it again).
    pub fn accept(
        now: Instant,
        tuple: FourTuple,
        iss: SeqNum,
        syn: &Segment<impl AsRef<[u8]>>,
        config: Config,
    ) -> Connection {
        let phase = Phase::SynReceived {
            passive: true,
            syn_pending: true,
            deferred_close: None,
        };
        let mut c = Connection::new(now, tuple, iss, config, phase);
        c.on_peer_syn(syn);
        c.stats.segments_in += 1;
        debug!("{tuple} passive open, iss {iss} irs {}", syn.seq);
        c
    }

    /// Record the peer's SYN: IRS, RCV.NXT, and negotiate options (RFC 9293 §3.7.1,
    /// RFC 7323, RFC 2018). Options are enabled only when both sides offer them.
    pub(super) fn on_peer_syn<P: AsRef<[u8]>>(&mut self, syn: &Segment<P>) {
        let o = &syn.options;
        self.opts.window_scale = self.config.window_scale && o.window_scale.is_some();
        let ws = match o.window_scale {
            Some(peer) if self.config.window_scale => {
                self.snd.wscale = peer.min(14); // RFC 7323 §2.3: at most 14
                our_wscale(self.config.recv_buffer_cap())
            }
            _ => {
                self.snd.wscale = 0;
                0
            }
        };
        self.rcv = RecvSpace::new(
            syn.seq,
            self.config.recv_buffer,
            self.config.recv_buffer_cap(),
            ws,
        );
        self.opts.sack = self.config.sack && o.sack_permitted;
        self.cc.set_sack(self.opts.sack);
        self.opts.timestamps = self.config.timestamps && o.timestamps.is_some();
        if let Some((val, _)) = o.timestamps {
            self.opts.ts_recent = val;
        }
        // MUST-15: assume 536 without the option; MUST-16: never above our own MSS.
        let peer_mss = u32::from(o.mss.unwrap_or(536));
        // A segment and its IP header always fit a datagram of 65535 octets.
        let max = u32::from(u16::MAX) - self.header_overhead();
        let mut mss = peer_mss.min(u32::from(self.config.mss)).clamp(64, max);
        if self.opts.timestamps {
            mss -= 12; // the timestamps option rides on every segment
        }
        self.snd.mss = mss;
        self.cc.set_smss(mss);
        self.ack.rcv_mss = mss;
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        self.update_window(syn.seq, syn.ack, u32::from(syn.wnd));
    }

    // ---- user calls (RFC 9293 §3.9.1) ----

    /// SEND: queue data; returns how much fit in the send buffer (possibly 0, then an
    /// `Event::Writable` follows when space frees up; likewise when the buffer is left full,
    /// so `send(&[])` on a full buffer asks for the event).
    pub fn send(&mut self, data: &[u8]) -> Result<usize, ConnectionError> {
        match self.phase {
            Phase::Closed { reason } => Err(ConnectionError::Closed(reason)),
            Phase::SynReceived {
                deferred_close: Some(_),
                ..
            } => Err(ConnectionError::Closing),
            p if !p.state().can_send_data() => Err(ConnectionError::Closing),
            _ => {
                let n = self.snd.write(&data[..self.send_allowance(data.len())]);
                // Full (an empty `send` on a full buffer asks for Writable, too).
                if n < data.len() || self.send_capacity() == 0 {
                    self.user.want_writable = true;
                }
                Ok(n)
            }
        }
    }

    /// SEND with the URGENT flag: the urgent pointer will point to the octet after the last
    /// octet accepted here (MUST-30, MUST-31, MUST-62).
    pub fn send_urgent(&mut self, data: &[u8]) -> Result<usize, ConnectionError> {
        let n = self.send(data)?;
        if n > 0 {
            self.snd.snd_up = Some(self.snd.data_end());
        }
        Ok(n)
    }

    /// RECEIVE: read in-order data. `Ok(0)` means the peer closed (FIN) and everything was
    /// read; `Err(WouldBlock)` means nothing yet.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, ConnectionError> {
        if self.rcv.buffered() > 0 && !buf.is_empty() {
            let n = self.rcv.read(buf);
            self.on_read_under_pressure();
            if self.state().is_synchronized() && self.rcv.window_update_due(self.snd.mss) {
                self.ack.pending = true; // window update (RFC 9293 §3.8.6.2.2)
            }
            return Ok(n);
        }
        if self.rcv.fin_received {
            return Ok(0);
        }
        match self.phase {
            Phase::Closed { reason } => Err(ConnectionError::Closed(reason)),
            _ => Err(ConnectionError::WouldBlock),
        }
    }

    /// MUST-33: octets of urgent data not yet read.
    pub fn urgent_remaining(&self) -> usize {
        self.rcv.urgent_remaining()
    }

    /// CLOSE (RFC 9293 §3.10.4): half-close, our FIN follows the queued data. Idempotent.
    pub fn close(&mut self) {
        match &mut self.phase {
            Phase::SynSent { .. } => self.enter_closed(CloseReason::Normal),
            Phase::SynReceived { deferred_close, .. } => {
                deferred_close.get_or_insert(UserClose::Close);
            }
            Phase::Established => {
                self.snd.queue_fin();
                self.transition(Phase::FinWait1 { released: false });
            }
            Phase::CloseWait => {
                self.snd.queue_fin();
                self.transition(Phase::LastAck);
            }
            _ => {}
        }
    }

    /// The user is done with the connection (a dropped socket): CLOSE if not yet closed,
    /// and since nobody will read any more, FIN-WAIT-2 now ends after
    /// `Config::fin_wait_2_timeout` without input (as Linux does for orphaned sockets). A
    /// plain `close` is a half-close: the user may go on reading for as long as the peer
    /// sends (RFC 9293 §3.10.4), so no timeout cuts it short.
    pub fn release(&mut self, now: Instant) {
        self.close();
        match &mut self.phase {
            Phase::SynReceived { deferred_close, .. } => {
                *deferred_close = Some(UserClose::Release);
            }
            Phase::FinWait1 { released } => *released = true,
            Phase::FinWait2 { released } => {
                *released = true;
                if !self.timers.is_running(TimerKind::FinWait2) {
                    self.timers
                        .set(TimerKind::FinWait2, now + self.config.fin_wait_2_timeout);
                }
            }
            _ => {}
        }
    }

    /// End TIME-WAIT now, as if its 2×MSL had passed: for a stack that must bound how
    /// many connections wait (MUST-13 bends here, as in Linux's `tcp_max_tw_buckets`).
    pub(crate) fn end_time_wait(&mut self) {
        if self.state() == State::TimeWait {
            self.enter_closed(CloseReason::Normal);
        }
    }

    /// ABORT (RFC 9293 §3.10.5): send RST where the peer knows us, drop everything.
    pub fn abort(&mut self) {
        match self.state() {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                let rst = Segment {
                    seq: self.snd.snd_nxt,
                    ctl: Ctl::RST,
                    ..Segment::default()
                };
                debug!("{} abort: sending RST", self.tuple);
                self.control.push_back(rst);
                self.enter_closed(CloseReason::Aborted);
            }
            State::Closed => {}
            _ => self.enter_closed(CloseReason::Aborted),
        }
    }

    /// MUST-17: disable (true) or enable (false) the Nagle algorithm.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.config.nodelay = nodelay;
    }

    /// MUST-24: turn keepalives on (with parameters) or off.
    pub fn set_keepalive(&mut self, now: Instant, keepalive: Option<Keepalive>) {
        self.config.keepalive = keepalive;
        self.probes.keepalives = 0;
        self.timers.stop(TimerKind::Keepalive);
        self.arm_keepalive(now);
    }

    /// MUST-21: the user timeout replaces R2 for data.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.config.user_timeout = timeout;
    }

    /// RFC 9293 §3.9.2.2: ICMP and ICMPv6 errors for this connection (MUST-54). Source
    /// quench is ignored (MUST-55); soft errors are recorded and reported, never fatal
    /// (MUST-56); a protocol or port unreachable (ICMP codes 2, 3 on IPv4, ICMPv6 code 4 on
    /// IPv6) while opening aborts the attempt (SHLD-26; RFC 5461: once synchronized they are
    /// soft).
    /// Fragmentation needed (ICMP code 4) is soft here; pass its next-hop MTU to
    /// [`Connection::handle_path_mtu`].
    pub fn handle_icmp_error(&mut self, _now: Instant, error: IcmpError) {
        match error {
            IcmpError::SourceQuench => {}
            IcmpError::DestinationUnreachable { code }
                if self.is_hard_unreachable(code)
                    && matches!(self.state(), State::SynSent | State::SynReceived) =>
            {
                debug!("{} hard ICMP error {error:?} while opening", self.tuple);
                self.enter_closed(CloseReason::Unreachable);
            }
            _ => {
                debug!("{} soft ICMP error {error:?}", self.tuple);
                self.user.soft_error = Some(error);
                self.user.events.push_back(Event::SoftError(error));
            }
        }
    }

    /// Whether a Destination Unreachable `code` is a hard error (SHLD-26), read in the
    /// family of this connection: ICMP's protocol and port unreachable (2, 3) on IPv4,
    /// ICMPv6's port unreachable (4) on IPv6. Every other code is soft; RFC 9293 §3.9.2.2
    /// names ICMP's 0, 1 and 5 and ICMPv6's 0 (no route) and 3 (address unreachable).
    fn is_hard_unreachable(&self, code: u8) -> bool {
        match self.tuple.remote {
            SocketAddr::V4(_) => matches!(code, 2 | 3),
            SocketAddr::V6(_) => code == 4,
        }
    }

    /// IP and TCP header octets in front of every segment's data (no IP options, no TCP
    /// options), from the network header of this connection's address family.
    fn header_overhead(&self) -> u32 {
        (wire::ip_header_len(self.tuple.remote.ip()) + wire::tcp::HEADER_LEN) as u32
    }

    /// RFC 1191 path MTU discovery: the path takes at most `mtu` octets per IP datagram.
    /// Lowers the effective send MSS (never below 88 octets of payload) and resends what is
    /// outstanding in the smaller size.
    pub fn handle_path_mtu(&mut self, _now: Instant, mtu: u16) {
        let overhead = self.header_overhead() + if self.opts.timestamps { 12 } else { 0 };
        let mss = u32::from(mtu).saturating_sub(overhead).max(88);
        if mss < self.snd.mss {
            debug!(
                "{} path MTU {mtu}: send MSS {} -> {mss}",
                self.tuple, self.snd.mss
            );
            self.snd.mss = mss;
            self.cc.set_mss_keep_window(mss);
            // Resend from SND.UNA in the new size (the big segments were dropped).
            self.snd.snd_nxt = self.snd.snd_una.max(self.snd.iss + 1);
        }
    }

    /// MUST-47: the last soft error reported by IP.
    pub fn soft_error(&self) -> Option<IcmpError> {
        self.user.soft_error
    }

    // ---- outputs and getters ----

    /// The earliest timer deadline: call [`handle_timeout`](Connection::handle_timeout) once
    /// it has passed. `None` when no timer runs.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// The next event for the user, oldest first; call until `None`.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.user.events.pop_front()
    }

    /// The current state (RFC 9293 §3.3.2).
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// The local and remote sockets of this connection.
    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        match self.phase {
            Phase::Closed { reason } => Some(reason),
            _ => None,
        }
    }

    /// RFC 9293 §3.6.1 (RFC 6191): whether `syn`, a new SYN for this 4-tuple, may open a
    /// new connection although this one is in TIME-WAIT: its sequence number (or, with
    /// timestamps, its TSval) must be beyond anything of the old incarnation. If so the
    /// stack drops this connection and treats the SYN like one for a listener; otherwise
    /// it passes the SYN to `handle_segment` (which answers with an ACK).
    pub fn time_wait_accepts_syn<P: AsRef<[u8]>>(&self, syn: &Segment<P>) -> bool {
        if self.state() != State::TimeWait || !syn.syn() || syn.has_ack() || syn.rst() {
            return false;
        }
        match (self.opts.timestamps, syn.options.timestamps) {
            (true, Some((val, _))) => (val.wrapping_sub(self.opts.ts_recent) as i32) > 0,
            _ => syn.seq.after(self.rcv.rcv_nxt),
        }
    }

    /// MUST-11: whether a SYN-RECEIVED state came from a passive OPEN (false in any other
    /// state).
    pub fn is_passive(&self) -> bool {
        matches!(self.phase, Phase::SynReceived { passive: true, .. })
    }

    /// The counters so far and the current values of SRTT, RTO, cwnd and the sequence
    /// variables.
    pub fn stats(&self) -> Stats {
        Stats {
            srtt: self.rtt.srtt(),
            rttvar: self.rtt.rttvar(),
            rto: self.rtt.rto(),
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            snd_una: self.snd.snd_una,
            snd_nxt: self.snd.snd_nxt,
            snd_wnd: self.snd.snd_wnd,
            rcv_nxt: self.rcv.rcv_nxt,
            rcv_wnd: self.rcv.rcv_wnd(),
            send_queue: self.snd.buffered(),
            recv_queue: self.rcv.buffered(),
            lost: self.recovery.rack.lost_total,
            reo_wnd: self.recovery.rack.reo_wnd_now(),
            prr: self.recovery.prr.state(),
            ..self.stats.clone()
        }
    }

    /// SND.MAX, the highest sequence number sent plus one (for invariant checks).
    pub fn snd_max(&self) -> SeqNum {
        self.snd.snd_max
    }

    /// What `send` would take now: free space in the send buffer, less under memory
    /// pressure.
    pub fn send_capacity(&self) -> usize {
        self.send_allowance(self.snd.free())
    }

    // ---- state transitions (RFC 9293 §3.3.2 Figure 5) ----

    /// The one place the state changes: logs `FROM -> TO` and counts it. Re-entering the
    /// same state (TIME-WAIT restarting its timer) is neither. Entry actions live in the
    /// `enter_*` functions that call this; returns the state left.
    pub(super) fn transition(&mut self, next: Phase) -> Phase {
        let (from, to) = (self.phase.state(), next.state());
        if from != to {
            debug!("{} {from} -> {to}", self.tuple);
            self.stats.transitions += 1;
        }
        std::mem::replace(&mut self.phase, next)
    }

    pub(super) fn push_event(&mut self, e: Event) {
        if matches!(e, Event::Readable | Event::Writable) && self.user.events.contains(&e) {
            return;
        }
        self.user.events.push_back(e);
    }

    /// Enter CLOSED and report why (once).
    pub(super) fn enter_closed(&mut self, reason: CloseReason) {
        if self.state() == State::Closed {
            return;
        }
        debug!("{} closed: {reason:?} (from {})", self.tuple, self.state());
        self.transition(Phase::Closed { reason });
        self.timers.stop_all();
        self.ack.pending = false;
        self.recovery.resend_una = false;
        self.control.retain(|s| s.rst()); // probes are moot; a RST from abort still goes
        if matches!(reason, CloseReason::Reset | CloseReason::Aborted) {
            // RFC 9293 §3.10.7.4: "all segment queues should be flushed".
            self.snd.clear();
            self.rcv.clear();
        }
        self.user.events.push_back(Event::Closed(reason));
    }

    /// RFC 9293 §3.6.1: TIME-WAIT lasts 2×MSL (MUST-13); entering or re-entering restarts it.
    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.transition(Phase::TimeWait);
        // Everything sent is acknowledged and nothing more arrives: give back the buffers'
        // spare memory (unread data stays), so the 2×MSL wait costs little.
        self.snd.release_memory();
        self.rcv.release_memory();
        self.recovery.rack.release_memory();
        self.control.shrink_to_fit();
        self.timers.stop_all();
        self.timers
            .set(TimerKind::TimeWait, now + self.config.msl * 2);
    }

    /// The handshake completed (from SYN-SENT or SYN-RECEIVED); a close the user asked for
    /// in SYN-RECEIVED happens now.
    pub(super) fn enter_established(&mut self, now: Instant) {
        if self.stats.rtos > 0 {
            self.rtt.on_syn_lost(); // RFC 6298 (5.7)
        }
        let left = self.transition(Phase::Established);
        self.push_event(Event::Connected);
        self.arm_keepalive(now);
        if let Phase::SynReceived {
            deferred_close: Some(how),
            ..
        } = left
        {
            self.close();
            if how == UserClose::Release
                && let Phase::FinWait1 { released } = &mut self.phase
            {
                *released = true;
            }
        }
    }
}
