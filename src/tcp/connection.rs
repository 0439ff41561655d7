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

use std::collections::VecDeque;

use log::debug;

pub use super::config::{
    CloseReason, Config, ConnectionError, Event, FourTuple, IcmpError, Keepalive, Stats,
};
use super::congestion::Congestion;
use super::recv::RecvSpace;
use super::rtt::RttEstimator;
use super::segment::{Ctl, Segment};
use super::send::SendSpace;
use super::seq::SeqNum;
use super::state::State;
use super::timers::{TimerKind, Timers};
use crate::time::{Duration, Instant};

/// One TCP connection. See the module documentation for the contract.
#[derive(Debug)]
pub struct Connection {
    pub(super) tuple: FourTuple,
    pub(super) config: Config,
    pub(super) state: State,
    /// MUST-11: SYN-RECEIVED came from a passive OPEN.
    pub(super) passive: bool,
    pub(super) snd: SendSpace,
    pub(super) rcv: RecvSpace,
    pub(super) rtt: RttEstimator,
    pub(super) cc: Congestion,
    pub(super) timers: Timers,
    pub(super) events: VecDeque<Event>,
    pub(super) close_reason: Option<CloseReason>,
    /// Explicit segments to send first (RST, probes).
    pub(super) control: VecDeque<Segment>,
    /// (Re)send our SYN or SYN-ACK.
    pub(super) syn_pending: bool,
    /// An ACK is owed now.
    pub(super) ack_pending: bool,
    /// Octets received in order since we last sent an ACK.
    pub(super) unacked_bytes: u32,
    /// Largest payload seen from the peer (for "every second full-sized segment").
    pub(super) rcv_mss: u32,
    pub(super) fast_retransmit: bool,
    /// RFC 6675 HighRxt: one past the highest octet retransmitted in this recovery.
    pub(super) high_rxt: SeqNum,
    /// Persist timer fired with an open window: send one segment ignoring Nagle/SWS.
    pub(super) force_send: bool,
    /// RFC 8985 TLPRxtOut: a loss probe is out for the current tail.
    pub(super) tlp_out: bool,
    /// The next segment is a loss probe.
    pub(super) loss_probe: bool,
    pub(super) persist_backoff: u32,
    /// The user closed while in SYN-RECEIVED; the FIN is queued once ESTABLISHED.
    pub(super) close_deferred: bool,
    /// The user let go of the connection (`release`): nobody will read any more, so
    /// FIN-WAIT-2 is bounded by `Config::fin_wait_2_timeout`.
    pub(super) released: bool,
    pub(super) ws_enabled: bool,
    pub(super) sack_enabled: bool,
    pub(super) ts_enabled: bool,
    pub(super) ts_recent: u32,
    pub(super) last_recv_at: Instant,
    pub(super) keepalive_probes: u32,
    /// When the oldest outstanding sequence space was first sent (R2 clock).
    pub(super) retx_start: Option<Instant>,
    pub(super) retx_count: u32,
    pub(super) challenge_window: (Instant, u32),
    pub(super) soft_error: Option<IcmpError>,
    pub(super) want_writable: bool,
    pub(super) stats: Stats,
}

impl Connection {
    fn new(now: Instant, tuple: FourTuple, iss: SeqNum, config: Config, state: State) -> Self {
        let smss = u32::from(config.mss.min(536));
        Connection {
            tuple,
            snd: SendSpace::new(iss, config.send_buffer, smss),
            rcv: RecvSpace::new(SeqNum(0), config.recv_buffer, config.recv_buffer, 0),
            rtt: RttEstimator::new(config.rto_initial, config.rto_min, config.rto_max),
            cc: Congestion::new(config.congestion, smss),
            state,
            passive: false,
            timers: Timers::default(),
            events: VecDeque::new(),
            close_reason: None,
            control: VecDeque::new(),
            syn_pending: false,
            ack_pending: false,
            unacked_bytes: 0,
            rcv_mss: smss,
            fast_retransmit: false,
            high_rxt: iss,
            force_send: false,
            tlp_out: false,
            loss_probe: false,
            persist_backoff: 0,
            close_deferred: false,
            released: false,
            ws_enabled: false,
            sack_enabled: false,
            ts_enabled: false,
            ts_recent: 0,
            last_recv_at: now,
            keepalive_probes: 0,
            retx_start: None,
            retx_count: 0,
            challenge_window: (now, 0),
            soft_error: None,
            want_writable: false,
            stats: Stats::default(),
            config,
        }
    }

    /// Active OPEN (RFC 9293 §3.10.1): SYN-SENT with a SYN queued.
    pub fn connect(now: Instant, tuple: FourTuple, iss: SeqNum, config: Config) -> Connection {
        let mut c = Connection::new(now, tuple, iss, config, State::SynSent);
        c.syn_pending = true;
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
        let mut c = Connection::new(now, tuple, iss, config, State::SynReceived);
        c.passive = true;
        c.on_peer_syn(syn);
        c.syn_pending = true;
        c.stats.segments_in += 1;
        debug!("{tuple} passive open, iss {iss} irs {}", syn.seq);
        c
    }

    /// Record the peer's SYN: IRS, RCV.NXT, and negotiate options (RFC 9293 §3.7.1,
    /// RFC 7323, RFC 2018). Options are enabled only when both sides offer them.
    pub(super) fn on_peer_syn<P: AsRef<[u8]>>(&mut self, syn: &Segment<P>) {
        let o = &syn.options;
        self.ws_enabled = self.config.window_scale && o.window_scale.is_some();
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
        self.sack_enabled = self.config.sack && o.sack_permitted;
        self.cc.set_sack(self.sack_enabled);
        self.ts_enabled = self.config.timestamps && o.timestamps.is_some();
        if let Some((val, _)) = o.timestamps {
            self.ts_recent = val;
        }
        // MUST-15: assume 536 without the option; MUST-16: never above our own MSS.
        let peer_mss = u32::from(o.mss.unwrap_or(536));
        // 65495 = 65535 - 40: a segment and its IPv4 header always fit a datagram.
        let mut mss = peer_mss.min(u32::from(self.config.mss)).clamp(64, 65495);
        if self.ts_enabled {
            mss -= 12; // the timestamps option rides on every segment
        }
        self.snd.mss = mss;
        self.cc.set_smss(mss);
        self.rcv_mss = mss;
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        self.snd.snd_wnd = u32::from(syn.wnd);
        self.snd.max_snd_wnd = self.snd.snd_wnd;
        self.snd.snd_wl1 = syn.seq;
        self.snd.snd_wl2 = syn.ack;
    }

    // ---- user calls (RFC 9293 §3.9.1) ----

    /// SEND: queue data; returns how much fit in the send buffer (possibly 0, then an
    /// `Event::Writable` follows when space frees up).
    pub fn send(&mut self, data: &[u8]) -> Result<usize, ConnectionError> {
        match self.state {
            State::Closed => Err(ConnectionError::Closed(self.reason())),
            s if !s.can_send_data() || self.close_deferred => Err(ConnectionError::Closing),
            _ => {
                let n = self.snd.write(data);
                if n < data.len() {
                    self.want_writable = true;
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
            if self.state.is_synchronized() && self.rcv.window_update_due(self.snd.mss) {
                self.ack_pending = true; // window update (RFC 9293 §3.8.6.2.2)
            }
            return Ok(n);
        }
        if self.rcv.fin_received {
            return Ok(0);
        }
        match self.state {
            State::Closed => Err(ConnectionError::Closed(self.reason())),
            _ => Err(ConnectionError::WouldBlock),
        }
    }

    /// MUST-33: octets of urgent data not yet read.
    pub fn urgent_remaining(&self) -> usize {
        self.rcv.urgent_remaining()
    }

    /// CLOSE (RFC 9293 §3.10.4): half-close, our FIN follows the queued data. Idempotent.
    pub fn close(&mut self) {
        match self.state {
            State::SynSent | State::Listen => self.enter_closed(CloseReason::Normal),
            State::SynReceived => self.close_deferred = true,
            State::Established => {
                self.snd.queue_fin();
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.snd.queue_fin();
                self.set_state(State::LastAck);
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
        self.released = true;
        if self.state == State::FinWait2 && !self.timers.is_running(TimerKind::FinWait2) {
            self.timers
                .set(TimerKind::FinWait2, now + self.config.fin_wait_2_timeout);
        }
    }

    /// End TIME-WAIT now, as if its 2×MSL had passed: for a stack that must bound how
    /// many connections wait (MUST-13 bends here, as in Linux's `tcp_max_tw_buckets`).
    pub fn end_time_wait(&mut self) {
        if self.state == State::TimeWait {
            self.enter_closed(CloseReason::Normal);
        }
    }

    /// ABORT (RFC 9293 §3.10.5): send RST where the peer knows us, drop everything.
    pub fn abort(&mut self) {
        match self.state {
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
        self.keepalive_probes = 0;
        self.timers.stop(TimerKind::Keepalive);
        self.arm_keepalive(now);
    }

    /// MUST-21: the user timeout replaces R2 for data.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.config.user_timeout = timeout;
    }

    /// RFC 9293 §3.9.2.2: ICMP errors for this connection (MUST-54). Source quench is
    /// ignored (MUST-55); soft errors are recorded and reported, never fatal (MUST-56); a
    /// protocol or port unreachable (codes 2, 3) while opening aborts the attempt (SHLD-26;
    /// RFC 5461: once synchronized they are soft). Fragmentation needed (code 4) is soft
    /// here; pass its next-hop MTU to [`Connection::handle_path_mtu`].
    pub fn handle_icmp_error(&mut self, _now: Instant, error: IcmpError) {
        match error {
            IcmpError::SourceQuench => {}
            IcmpError::DestinationUnreachable { code: 2 | 3 }
                if matches!(self.state, State::SynSent | State::SynReceived) =>
            {
                debug!("{} hard ICMP error {error:?} while opening", self.tuple);
                self.enter_closed(CloseReason::Unreachable);
            }
            _ => {
                debug!("{} soft ICMP error {error:?}", self.tuple);
                self.soft_error = Some(error);
                self.events.push_back(Event::SoftError(error));
            }
        }
    }

    /// RFC 1191 path MTU discovery: the path takes at most `mtu` octets per IPv4 datagram.
    /// Lowers the effective send MSS (never below 88 octets of payload) and resends what is
    /// outstanding in the smaller size.
    pub fn handle_path_mtu(&mut self, _now: Instant, mtu: u16) {
        let overhead = 40 + if self.ts_enabled { 12 } else { 0 };
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
        self.soft_error
    }

    // ---- outputs and getters ----

    /// The earliest timer deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// RFC 9293 §3.6.1 (RFC 6191): whether `syn`, a new SYN for this 4-tuple, may open a
    /// new connection although this one is in TIME-WAIT: its sequence number (or, with
    /// timestamps, its TSval) must be beyond anything of the old incarnation. If so the
    /// stack drops this connection and treats the SYN like one for a listener; otherwise
    /// it passes the SYN to `handle_segment` (which answers with an ACK).
    pub fn time_wait_accepts_syn<P: AsRef<[u8]>>(&self, syn: &Segment<P>) -> bool {
        if self.state != State::TimeWait || !syn.syn() || syn.has_ack() || syn.rst() {
            return false;
        }
        match (self.ts_enabled, syn.options.timestamps) {
            (true, Some((val, _))) => (val.wrapping_sub(self.ts_recent) as i32) > 0,
            _ => syn.seq.after(self.rcv.rcv_nxt),
        }
    }

    /// MUST-11: whether a SYN-RECEIVED state came from a passive OPEN.
    pub fn is_passive(&self) -> bool {
        self.passive
    }

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
            ..self.stats.clone()
        }
    }

    /// SND.MAX, the highest sequence number sent plus one (for invariant checks).
    pub fn snd_max(&self) -> SeqNum {
        self.snd.snd_max
    }

    /// Free space in the send buffer.
    pub fn send_capacity(&self) -> usize {
        self.snd.free()
    }

    // ---- internal helpers ----

    fn reason(&self) -> CloseReason {
        self.close_reason.unwrap_or(CloseReason::Normal)
    }

    pub(super) fn set_state(&mut self, next: State) {
        if next != self.state {
            debug!("{} {} -> {}", self.tuple, self.state, next);
            self.state = next;
        }
    }

    pub(super) fn push_event(&mut self, e: Event) {
        if matches!(e, Event::Readable | Event::Writable) && self.events.contains(&e) {
            return;
        }
        self.events.push_back(e);
    }

    /// Enter CLOSED and report why (once).
    pub(super) fn enter_closed(&mut self, reason: CloseReason) {
        if self.state == State::Closed {
            return;
        }
        debug!("{} closed: {reason:?} (from {})", self.tuple, self.state);
        self.set_state(State::Closed);
        self.timers.stop_all();
        self.close_reason = Some(reason);
        self.ack_pending = false;
        self.syn_pending = false;
        self.fast_retransmit = false;
        self.control.retain(|s| s.rst()); // probes are moot; a RST from abort still goes
        if matches!(reason, CloseReason::Reset | CloseReason::Aborted) {
            // RFC 9293 §3.10.7.4: "all segment queues should be flushed".
            self.snd.clear();
            self.rcv.clear();
        }
        self.events.push_back(Event::Closed(reason));
    }

    /// RFC 9293 §3.6.1: TIME-WAIT lasts 2×MSL (MUST-13); entering or re-entering restarts it.
    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        // Everything sent is acknowledged and nothing more arrives: give back the buffers'
        // spare memory (unread data stays), so the 2×MSL wait costs little.
        self.snd.release_memory();
        self.rcv.release_memory();
        self.control.shrink_to_fit();
        self.timers.stop_all();
        self.timers
            .set(TimerKind::TimeWait, now + self.config.msl * 2);
    }

    pub(super) fn enter_established(&mut self, now: Instant) {
        if self.stats.rtos > 0 {
            self.rtt.on_syn_lost(); // RFC 6298 (5.7)
        }
        self.set_state(State::Established);
        self.push_event(Event::Connected);
        self.arm_keepalive(now);
        if self.close_deferred {
            self.close_deferred = false;
            self.close();
        }
    }

    pub(super) fn arm_keepalive(&mut self, now: Instant) {
        match self.config.keepalive {
            Some(k) if self.state.is_synchronized() && self.state != State::TimeWait => {
                self.timers.set(TimerKind::Keepalive, now + k.idle);
            }
            _ => self.timers.stop(TimerKind::Keepalive),
        }
    }

    /// R2 in force for what is outstanding (MUST-22/23: SYN uses its own, longer R2).
    pub(super) fn r2(&self) -> Duration {
        if !self.snd.syn_acked() || self.state == State::SynReceived {
            self.config
                .r2_syn
                .max(self.config.user_timeout.unwrap_or_default())
        } else {
            self.config.user_timeout.unwrap_or(self.config.r2)
        }
    }

    /// Arm the retransmission timer at RTO, but never past the R2 deadline.
    pub(super) fn arm_retransmit(&mut self, now: Instant) {
        let start = *self.retx_start.get_or_insert(now);
        let at = (now + self.rtt.rto()).min(start + self.r2());
        self.timers.set(TimerKind::Retransmit, at);
        // The probe is re-armed once the burst that follows is out (`poll_transmit`).
        self.timers.stop(TimerKind::LossProbe);
    }

    /// RFC 8985 §7.2, after a burst: PTO = 2·SRTT (at least 10 ms, as Linux), plus the
    /// peer's worst-case delayed ACK when a single segment is in flight; only when it beats
    /// the RTO, and one probe per tail.
    pub(super) fn arm_loss_probe(&mut self, now: Instant) {
        let Some(rto_at) = self.timers.get(TimerKind::Retransmit) else {
            return;
        };
        // Not during RTO recovery (backed off until new data is acknowledged).
        if !self.state.is_synchronized()
            || self.tlp_out
            || self.snd.outstanding() == 0
            || self.rtt.backoffs() > 0
            || self.timers.is_running(TimerKind::LossProbe)
        {
            return;
        }
        let Some(srtt) = self.rtt.srtt() else { return };
        let mut pto = (srtt * 2).max(Duration::from_millis(10));
        if self.snd.outstanding() <= self.snd.mss {
            pto += Duration::from_millis(200); // RFC 8985 WCDelAckT
        }
        if now + pto < rto_at {
            self.timers.set(TimerKind::LossProbe, now + pto);
        }
    }

    /// RFC 5961 §7: challenge ACKs are rate limited per connection.
    pub(super) fn challenge_ack(&mut self, now: Instant, why: &str) {
        let (start, count) = self.challenge_window;
        let (start, count) = if now - start >= Duration::from_secs(1) {
            (now, 0)
        } else {
            (start, count)
        };
        if count < self.config.challenge_ack_limit {
            debug!("{} challenge ACK: {why}", self.tuple);
            self.challenge_window = (start, count + 1);
            self.ack_pending = true;
            self.stats.challenge_acks += 1;
        } else {
            debug!(
                "{} challenge ACK suppressed (rate limit): {why}",
                self.tuple
            );
            self.challenge_window = (start, count);
        }
    }
}

/// Our window scale shift: the smallest that lets the buffer be advertised (at most 14).
pub(super) fn our_wscale(buffer: usize) -> u8 {
    let mut s = 0u8;
    while s < 14 && (buffer >> s) > 65535 {
        s += 1;
    }
    s
}
