//! Building outgoing segments for a [`Connection`]: SYN/SYN-ACK, data with Nagle and sender
//! SWS avoidance, retransmissions, pure ACKs, and the timers that depend on what was sent.

use log::trace;

use super::connection::Connection;
use super::recv::our_wscale;
use super::segment::{Ctl, Options, SackBlocks, Segment};
use super::seq::SeqNum;
use super::state::Phase;
use super::timers::TimerKind;
use crate::time::Instant;

/// A segment to send and the number of payload octets it carries from the send buffer,
/// starting at its SEQ (the payload itself stays in the buffer until it is written out).
type Out = (Segment, usize);

/// One segment on its way out of [`Connection::poll_transmit_with`]: the header (its own
/// payload empty), the payload where it lies in the send buffer, and for a super-segment
/// (TCP segmentation offload, [`Config::max_burst`](super::Config::max_burst)) the payload
/// octets per wire segment the device cuts it into.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outgoing<'a> {
    /// Header fields and options.
    pub(crate) segment: &'a Segment,
    /// The payload, in at most two parts (the second often empty).
    pub(crate) payload: [&'a [u8]; 2],
    /// `Some(size)` when the payload is longer than one segment may carry: every wire
    /// segment carries `size` octets but the last, each behind a copy of this header.
    pub(crate) gso_size: Option<u16>,
}

impl Connection {
    /// The next segment to send, if any, its payload copied out of the send buffer. Call
    /// until it returns `None`.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        let (mut seg, len) = self.poll_segment(now)?;
        if len > 0 {
            seg.payload = self.snd.read(seg.seq, len);
        }
        Some(seg)
    }

    /// Like [`poll_transmit`](Self::poll_transmit) without the copy: `emit` gets the segment
    /// with an empty payload and the payload where it lies, as the one or two slices of the
    /// send buffer it spans, to write straight into the output packet.
    #[must_use]
    pub(crate) fn poll_transmit_with<R>(
        &mut self,
        now: Instant,
        emit: &mut impl FnMut(Outgoing<'_>) -> R,
    ) -> Option<R> {
        let (seg, len) = self.poll_segment(now)?;
        let limit = self.payload_limit() as usize;
        Some(emit(Outgoing {
            segment: &seg,
            payload: self.snd.slices(seg.seq, len),
            gso_size: (len > limit).then_some(limit as u16),
        }))
    }

    fn poll_segment(&mut self, now: Instant) -> Option<Out> {
        let retransmits = self.stats.retransmits;
        let Some((seg, len)) = self.next_segment(now) else {
            self.probes.force_send = false;
            self.arm_idle_timers(now);
            self.arm_loss_probe(now);
            return None;
        };
        if len > 0 {
            trace!("{} > {seg}<DATA={len}>", self.tuple);
        } else {
            trace!("{} > {seg}", self.tuple);
        }
        self.stats.bytes_out += len as u64;
        // A super-segment (only new data builds one) is counted and recorded for RACK and
        // PRR as the wire segments the device cuts it into, so both paths count alike.
        let limit = self.payload_limit() as usize;
        let pieces = if len > limit { len.div_ceil(limit) } else { 1 };
        self.stats.segments_out += pieces as u64;
        if !seg.syn() && (len > 0 || seg.fin()) {
            let end = seg.seq + len as u32 + u32::from(seg.fin());
            let rexmit = self.stats.retransmits > retransmits;
            for i in 0..pieces {
                let start = seg.seq + (i * limit) as u32;
                let piece_end = if i + 1 == pieces {
                    end
                } else {
                    start + limit as u32
                };
                self.on_transmit(now, start, piece_end, rexmit);
            }
        }
        Some((seg, len))
    }

    fn next_segment(&mut self, now: Instant) -> Option<Out> {
        if let Some(mut seg) = self.control.pop_front() {
            if !seg.rst() {
                self.fill_ack(&mut seg, now);
            }
            return Some((seg, 0));
        }
        match self.phase {
            Phase::Closed { .. } => None,
            Phase::SynSent { syn_pending } => syn_pending.then(|| (self.build_syn(now, false), 0)),
            // In SYN-RECEIVED every ACK we owe is a SYN-ACK (it also answers a duplicate SYN).
            Phase::SynReceived { syn_pending, .. } => {
                (syn_pending || self.ack.pending).then(|| (self.build_syn(now, true), 0))
            }
            _ => {
                if self.recovery.loss_probe {
                    self.recovery.loss_probe = false;
                    if let Some(seg) = self.build_probe(now) {
                        return Some(seg);
                    }
                }
                if self.recovery.resend_una {
                    self.recovery.resend_una = false;
                    if let Some(seg) = self.build_retransmit_una(now) {
                        return Some(seg);
                    }
                }
                if self.cc.in_sack_recovery()
                    && let Some(seg) = self.build_sack_retransmit(now)
                {
                    return Some(seg);
                }
                if let Some(seg) = self.build_data(now) {
                    return Some(seg);
                }
                // A pure ACK carries SND.MAX, not a pulled-back SND.NXT: after a timeout
                // SND.NXT may lie below the peer's RCV.NXT and the ACK would be unacceptable.
                self.ack.pending.then(|| {
                    let mut seg = Segment {
                        seq: self.snd.snd_max,
                        ..Segment::default()
                    };
                    self.fill_ack(&mut seg, now);
                    (seg, 0)
                })
            }
        }
    }

    /// RFC 7323 §3: TSval from a millisecond clock.
    pub(super) fn ts_val(now: Instant) -> u32 {
        (now.as_micros() / 1000) as u32
    }

    /// Set ACK, SEG.ACK = RCV.NXT, the window (after receiver SWS avoidance), timestamps and
    /// SACK blocks; an ACK owed is now paid.
    fn fill_ack(&mut self, seg: &mut Segment, now: Instant) {
        seg.ctl = seg.ctl | Ctl::ACK;
        seg.ack = self.rcv.rcv_nxt;
        self.rcv.update_window(self.snd.mss);
        seg.wnd = self.rcv.wnd_field();
        if self.opts.timestamps {
            seg.options.timestamps = Some((Self::ts_val(now), self.opts.ts_recent));
        }
        if self.opts.sack {
            seg.options.sack = self.sack_option();
            if self.ack.dsack.take().is_some() {
                self.stats.dsacks_sent += 1;
            }
        }
        self.ack.pending = false;
        self.ack.unacked_bytes = 0;
        self.timers.stop(TimerKind::DelayedAck);
    }

    /// SYN (active open) or SYN-ACK, with our options (RFC 9293 §3.7.1 MUST-14: MSS always).
    fn build_syn(&mut self, now: Instant, with_ack: bool) -> Segment {
        let c = &self.config;
        let mut options = Options {
            mss: Some(c.mss),
            ..Options::default()
        };
        if with_ack {
            // Answer only what the peer offered (RFC 7323 §1.3, RFC 2018 §2).
            if self.opts.window_scale {
                options.window_scale = Some(self.rcv.wscale);
            }
            options.sack_permitted = self.opts.sack;
            if self.opts.timestamps {
                options.timestamps = Some((Self::ts_val(now), self.opts.ts_recent));
            }
        } else {
            if c.window_scale {
                options.window_scale = Some(our_wscale(c.recv_buffer_cap()));
            }
            options.sack_permitted = c.sack;
            if c.timestamps {
                options.timestamps = Some((Self::ts_val(now), 0));
            }
        }
        let mut seg = Segment {
            seq: self.snd.iss,
            ctl: Ctl::SYN,
            wnd: self.rcv.syn_wnd_field(),
            options,
            ..Segment::default()
        };
        if with_ack {
            seg.ctl = Ctl::SYN | Ctl::ACK;
            seg.ack = self.rcv.rcv_nxt;
        }
        if self.snd.snd_max.after(self.snd.iss) {
            self.stats.retransmits += 1;
            self.rtt.on_retransmit();
        } else {
            self.rtt.on_send(now, self.snd.iss + 1);
        }
        self.snd.on_sent(self.snd.iss + 1);
        self.phase.set_syn_pending(false);
        self.ack.pending = false;
        if !self.timers.is_running(TimerKind::Retransmit) {
            self.arm_retransmit(now);
        }
        seg
    }

    /// New data or a go-back-N retransmission from SND.NXT, within min(SND.WND, cwnd). New
    /// data may leave as one super-segment of several MSS (see [`Self::burst_limit`]).
    fn build_data(&mut self, now: Instant) -> Option<Out> {
        let seq = self.snd.snd_nxt;
        let mss = self.payload_limit() as usize;
        let avail = self.snd.available_from(seq) as usize;
        let usable = self.usable_window() as usize;
        let retransmission = seq.before(self.snd.snd_max);
        let burst = self.burst_limit(seq, mss, retransmission);
        let len = self.trim_burst_tail(seq, avail.min(burst).min(usable), mss);
        let data_end = self.snd.data_end();
        // The FIN follows the last octet and needs one octet of window.
        let fin = self
            .snd
            .fin_seq()
            .is_some_and(|f| seq + len as u32 == f && usable > len);
        if len == 0 && !fin {
            return None;
        }
        if !retransmission && !self.probes.force_send {
            // RFC 9293 §3.7.4 Nagle (MUST-17, with Minshall's refinement: see
            // `short_segment_allowed`) and §3.8.6.2.1 sender SWS avoidance (MUST-38).
            let full = len >= mss;
            let all = seq + len as u32 == data_end;
            let nagle_ok = self.config.nodelay || self.snd.short_segment_allowed();
            let big = len > 0 && len as u32 >= self.snd.max_snd_wnd / 2;
            if !(full || (all && nagle_ok) || big || (len == 0 && fin)) {
                return None;
            }
        }
        self.probes.force_send = false;
        let mut seg = Segment {
            seq,
            ..Segment::default()
        };
        if fin {
            seg.ctl = Ctl::FIN;
        }
        if len > 0 && seq + len as u32 == data_end {
            seg.ctl = seg.ctl | Ctl::PSH; // MUST-61: PSH on the last buffered segment
        }
        self.fill_ack(&mut seg, now);
        self.set_urgent(&mut seg);
        let end = seq + len as u32 + u32::from(fin);
        if retransmission {
            self.stats.retransmits += 1;
            self.rtt.on_retransmit();
        } else {
            // A burst is timed by its first wire segment, as the plain path's first one.
            self.rtt
                .on_send(now, if len > mss { seq + mss as u32 } else { end });
            // Minshall: the last short segment sent (a burst's short tail is its last piece).
            if !len.is_multiple_of(mss) {
                self.snd.snd_sml = seq + len as u32;
            }
        }
        self.snd.on_sent(end);
        if !self.timers.is_running(TimerKind::Retransmit) {
            self.arm_retransmit(now);
        }
        Some((seg, len))
    }

    /// The most payload the next new-data segment at `seq` may carry: one MSS (`mss`, the
    /// payload limit with this turn's options), or with segmentation offload
    /// (`Config::max_burst`) as many whole MSS as fit in `max_burst`, which the device cuts
    /// at `mss`. Everything that bounds a burst still bounds it (the caller takes the
    /// minimum with the data and the windows). Retransmissions and what they touch stay one
    /// segment: a go-back-N resend, a forced probe, a DSACK (it rides on the first segment
    /// only), urgent data (the device would not move the urgent pointer). New data in SACK
    /// recovery may burst: RFC 6675 §5 sends it one segment per step while cwnd − pipe
    /// allows, and nothing is marked lost within a turn, so the pieces within the usable
    /// window are the segments that loop would send.
    fn burst_limit(&self, seq: SeqNum, mss: usize, retransmission: bool) -> usize {
        let max = self.config.max_burst as usize;
        let plain = retransmission
            || max < 2 * mss
            || self.probes.force_send
            || self.ack.dsack.is_some()
            || self.snd.snd_up.is_some_and(|up| up.after(seq));
        if plain { mss } else { max / mss * mss }
    }

    /// A super-segment of `len` octets at `seq` goes out as the plain path would send the
    /// same octets in this turn: its whole-MSS pieces always (each is a full segment), its
    /// short tail only if the plain path would send that tail now: at the end of the queued
    /// data when RFC 9293 §3.7.4 Nagle (MUST-17) allows it (`nodelay`, or with Minshall's
    /// refinement no short segment unacknowledged; the full pieces before it do not
    /// count), or by §3.8.6.2.1 sender SWS avoidance (MUST-38) because it fills half the
    /// largest window the peer offered.
    fn trim_burst_tail(&self, seq: SeqNum, len: usize, mss: usize) -> usize {
        let tail = len % mss;
        if len <= mss || tail == 0 {
            return len;
        }
        let all = seq + len as u32 == self.snd.data_end();
        let nagle_ok = self.config.nodelay || self.snd.short_segment_allowed();
        let big = tail as u32 >= self.snd.max_snd_wnd / 2;
        if (all && nagle_ok) || big {
            len
        } else {
            len - tail
        }
    }

    /// What the windows allow beyond SND.NXT: min(SND.WND, cwnd) less what is in flight, or
    /// in SACK recovery less `pipe` (RFC 6675 §5, cwnd from PRR) for cwnd.
    fn usable_window(&self) -> u32 {
        if !self.cc.in_sack_recovery() {
            return self.snd.usable_window(self.cc.cwnd());
        }
        let peer = self.snd.snd_wnd.saturating_sub(self.snd.in_flight());
        let pipe = self.recovery.rack.pipe();
        peer.min(self.cc.cwnd().saturating_sub(pipe))
    }

    /// RFC 6675 §5 (C): while cwnd − pipe ≥ 1 SMSS, NextSeg(): rule 1, a segment RACK
    /// marked lost (RFC 8985 §6.2 step 5); rule 2, new data (left to `build_data`).
    fn build_sack_retransmit(&mut self, now: Instant) -> Option<Out> {
        let limit = self.payload_limit();
        let pipe = self.recovery.rack.pipe();
        if self.cc.cwnd().saturating_sub(pipe) < limit.min(self.snd.mss) {
            return None;
        }
        let (seq, len) = self.recovery.rack.next_lost(limit)?;
        let data = self.snd.available_from(seq);
        let fin = self.snd.fin_sent() && self.snd.fin_seq() == Some(seq + len.min(data));
        self.resend(now, seq, len.min(data) as usize, fin)
    }

    /// RFC 8985 §7.3: the loss probe is one new segment when the peer's window has room
    /// (whatever cwnd says), otherwise the last segment sent, again.
    fn build_probe(&mut self, now: Instant) -> Option<Out> {
        let room = self.snd.snd_wnd.saturating_sub(self.snd.in_flight());
        let unsent =
            self.snd.snd_nxt == self.snd.snd_max && self.snd.available_from(self.snd.snd_nxt) > 0;
        if unsent && room > 0 {
            let seq = self.snd.snd_nxt;
            let len = (self
                .snd
                .available_from(seq)
                .min(self.payload_limit())
                .min(room)) as usize;
            let mut seg = Segment {
                seq,
                ..Segment::default()
            };
            if seq + len as u32 == self.snd.data_end() {
                seg.ctl = Ctl::PSH;
            }
            self.fill_ack(&mut seg, now);
            self.set_urgent(&mut seg);
            self.rtt.on_send(now, seq + len as u32);
            self.snd.on_sent(seq + len as u32);
            return Some((seg, len));
        }
        // The last segment again: data up to SND.MAX, with the FIN if it was sent.
        let fin_sent = self.snd.fin_sent();
        let data_end = if fin_sent {
            self.snd.snd_max - 1
        } else {
            self.snd.snd_max
        };
        let seq = if data_end - self.snd.snd_una > self.payload_limit() {
            data_end - self.payload_limit()
        } else {
            self.snd.snd_una
        };
        let len = self.snd.available_from(seq).min(data_end - seq) as usize;
        self.resend(now, seq, len, fin_sent)
    }

    /// RFC 5681 §3.2 fast retransmit / RFC 6582 partial ACK: resend at SND.UNA.
    fn build_retransmit_una(&mut self, now: Instant) -> Option<Out> {
        let seq = self.snd.snd_una;
        let mut len =
            (self.snd.available_from(seq).min(self.payload_limit())).min(self.snd.outstanding());
        if let Some(sacked) = self.snd.next_sacked(seq) {
            len = len.min(sacked - seq); // resend only the hole
        }
        let len = len as usize;
        let fin = self.snd.fin_sent() && self.snd.fin_seq() == Some(seq + len as u32);
        let out = self.resend(now, seq, len, fin)?;
        self.recovery.high_rxt = self
            .recovery
            .high_rxt
            .max(seq + len as u32 + u32::from(fin));
        self.arm_retransmit(now);
        Some(out)
    }

    /// A retransmission of `len` octets at `seq`, with the FIN when it ends there (Karn: no
    /// RTT sample from it).
    fn resend(&mut self, now: Instant, seq: SeqNum, len: usize, fin: bool) -> Option<Out> {
        if len == 0 && !fin {
            return None;
        }
        let mut seg = Segment {
            seq,
            ..Segment::default()
        };
        if fin {
            seg.ctl = Ctl::FIN;
        }
        self.fill_ack(&mut seg, now);
        self.set_urgent(&mut seg);
        self.stats.retransmits += 1;
        self.rtt.on_retransmit();
        Some((seg, len))
    }

    /// Payload octets that fit in the next segment: the effective send MSS (which already
    /// accounts for timestamps) less any SACK option it will carry (MUST-16: TCP options
    /// count against the MSS).
    fn payload_limit(&self) -> u32 {
        if !self.opts.sack || (self.rcv.reassembly.is_empty() && self.ack.dsack.is_none()) {
            return self.snd.mss;
        }
        let opts = Options {
            sack: self.sack_option(),
            timestamps: self.opts.timestamps.then_some((0, 0)),
            ..Options::default()
        };
        let extra = opts.wire_len() as u32 - if self.opts.timestamps { 12 } else { 0 };
        self.snd.mss.saturating_sub(extra).max(1)
    }

    /// The SACK blocks of our next ACK: a DSACK first (RFC 2883 §4: the duplicate range,
    /// once), then what we hold beyond RCV.NXT (RFC 2018 §4).
    fn sack_option(&self) -> SackBlocks {
        let held = self.rcv.reassembly.sack_blocks();
        let Some((l, r)) = self.ack.dsack else {
            return held;
        };
        let mut blocks = SackBlocks::default();
        blocks.push(l, r);
        for &(a, b) in held.as_slice() {
            blocks.push(a, b);
        }
        blocks
    }

    /// RFC 9293 §3.8.5: URG and SEG.UP while urgent data is unacknowledged (MUST-62).
    fn set_urgent(&self, seg: &mut Segment) {
        if let Some(up) = self.snd.snd_up
            && up.after(seg.seq)
        {
            seg.ctl = seg.ctl | Ctl::URG;
            seg.urgent = (up - seg.seq).min(65535) as u16;
        }
    }

    /// After the last segment: the persist timer runs when data waits, nothing is in flight
    /// and nothing was sent (zero or unusably small window); SHLD-29/30 timing.
    fn arm_idle_timers(&mut self, now: Instant) {
        let waiting = self.state().is_synchronized()
            && self.snd.has_unsent()
            && self.snd.outstanding() == 0
            && !self.timers.is_running(TimerKind::Retransmit);
        if waiting {
            let mut d = self.rtt.rto();
            for _ in 0..self.probes.persist_backoff {
                d = (d * 2).min(self.config.rto_max);
            }
            self.timers.set_if_idle(TimerKind::Persist, now + d);
        } else {
            self.timers.stop(TimerKind::Persist);
        }
    }
}
