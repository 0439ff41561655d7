//! Test harness for the TCP engine, named from our side: we `receive` segments written in
//! RFC notation, `expect_sent` what we should answer, and `advance` simulated time.
//!
//! Numbers in notation may be literals or `ISS`, `IRS`, `ISS+n`, `IRS-n`: our ISS and the
//! peer's ISN are just below 2^32, so ordinary tests cross the wrap.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};

use bytes::Bytes;
use tunstack::tcp::{Config, Connection, Ctl, Event, FourTuple, Options, Segment, SeqNum, State};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

/// Our initial send sequence number: 10 octets below the wrap.
pub const ISS: u32 = u32::MAX - 9;
/// The peer's initial sequence number: 5 octets below the wrap.
pub const IRS: u32 = u32::MAX - 4;

pub const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);
pub const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40000);

pub fn tuple() -> FourTuple {
    FourTuple {
        local: LOCAL.into(),
        remote: REMOTE.into(),
    }
}

/// Plain config for scenario tests: no WS/SACK/timestamps, so the notation stays short.
pub fn plain_config() -> Config {
    Config {
        window_scale: false,
        sack: false,
        timestamps: false,
        recv_buffer: 8192,
        send_buffer: 8192,
        mss: 1000,
        ..Config::default()
    }
}

fn value(v: &str) -> u32 {
    let v = v.trim();
    let (base, rest) = if let Some(r) = v.strip_prefix("ISS") {
        (ISS, r)
    } else if let Some(r) = v.strip_prefix("IRS") {
        (IRS, r)
    } else {
        return v.parse().unwrap_or_else(|_| panic!("bad number {v:?}"));
    };
    if let Some(n) = rest.strip_prefix('+') {
        base.wrapping_add(n.trim().parse::<u32>().unwrap())
    } else if let Some(n) = rest.strip_prefix('-') {
        base.wrapping_sub(n.trim().parse::<u32>().unwrap())
    } else {
        assert!(rest.is_empty(), "bad number {v:?}");
        base
    }
}

/// A parsed notation: every field that was written down.
#[derive(Clone, Debug, Default)]
pub struct Pattern {
    pub seq: Option<SeqNum>,
    pub ack: Option<SeqNum>,
    pub ctl: Option<Ctl>,
    pub wnd: Option<u16>,
    pub data: Option<usize>,
    pub up: Option<u16>,
    pub options: Options,
}

pub fn pattern(s: &str) -> Pattern {
    let mut p = Pattern::default();
    for tok in s.split('<').filter(|t| !t.trim().is_empty()) {
        let tok = tok.trim().trim_end_matches('>');
        let (k, v) = tok.split_once('=').unwrap_or((tok, ""));
        match k {
            "SEQ" => p.seq = Some(SeqNum(value(v))),
            "ACK" => p.ack = Some(SeqNum(value(v))),
            "CTL" => {
                let mut c = Ctl::NONE;
                for name in v.split(',') {
                    c = c | Ctl::from_name(name.trim()).unwrap_or_else(|| panic!("flag {name}"));
                }
                p.ctl = Some(c);
            }
            "WND" => p.wnd = Some(value(v) as u16),
            "DATA" => p.data = Some(value(v) as usize),
            "UP" => p.up = Some(value(v) as u16),
            "MSS" => p.options.mss = Some(value(v) as u16),
            "WS" => p.options.window_scale = Some(value(v) as u8),
            "SACKOK" => p.options.sack_permitted = true,
            "TS" => {
                let (a, b) = v.split_once(',').unwrap();
                p.options.timestamps = Some((value(a), value(b)));
            }
            "SACK" => {
                for blk in v.split(',') {
                    let (l, r) = blk.split_once('-').unwrap();
                    p.options.sack.push(SeqNum(value(l)), SeqNum(value(r)));
                }
            }
            _ => panic!("unknown notation field {k:?} in {s:?}"),
        }
    }
    p
}

/// Build a segment from notation; `<DATA=n>` gives n octets of b'x'. Default window 8192.
pub fn segment(s: &str) -> Segment {
    let p = pattern(s);
    Segment {
        seq: p.seq.unwrap_or_default(),
        ack: p.ack.unwrap_or_default(),
        wnd: p.wnd.unwrap_or(8192),
        ctl: p.ctl.unwrap_or(Ctl::NONE),
        urgent: p.up.unwrap_or(0),
        options: p.options,
        payload: Bytes::from(vec![b'x'; p.data.unwrap_or(0)]),
    }
}

/// Check `seg` against the fields written in `pat`. PSH is ignored unless written.
#[track_caller]
pub fn assert_matches(seg: &Segment, pat: &str) {
    let p = pattern(pat);
    let mut ok = true;
    ok &= p.seq.is_none_or(|v| v == seg.seq);
    ok &= p.ack.is_none_or(|v| v == seg.ack && seg.has_ack());
    if let Some(c) = p.ctl {
        let mut got = seg.ctl;
        if !c.contains(Ctl::PSH) {
            got.set(Ctl::PSH, false);
        }
        ok &= got == c;
    }
    ok &= p.wnd.is_none_or(|v| v == seg.wnd);
    ok &= p.data.is_none_or(|v| v == seg.payload.len());
    ok &=
        p.up.is_none_or(|v| v == seg.urgent && seg.ctl.contains(Ctl::URG));
    let o = &p.options;
    ok &= o.mss.is_none_or(|v| Some(v) == seg.options.mss);
    ok &= o
        .window_scale
        .is_none_or(|v| Some(v) == seg.options.window_scale);
    ok &= !o.sack_permitted || seg.options.sack_permitted;
    ok &= o.sack.is_empty() || o.sack == seg.options.sack;
    assert!(ok, "sent {seg}\n  expected {pat}");
}

/// One connection under test, driven in simulated time.
pub struct Harness {
    pub conn: Connection,
    pub now: Instant,
    sent: VecDeque<Segment>,
    pub events: Vec<Event>,
}

impl Harness {
    pub fn start() -> Instant {
        Instant::from_secs(1000)
    }

    /// Active OPEN: we are in SYN-SENT and our SYN is waiting to be checked.
    pub fn client(config: Config) -> Harness {
        let now = Self::start();
        let conn = Connection::connect(now, tuple(), SeqNum(ISS), config);
        Harness::wrap(conn, now)
    }

    /// Passive OPEN from a SYN: we are in SYN-RECEIVED and our SYN-ACK waits to be checked.
    pub fn server_from(syn: &str, config: Config) -> Harness {
        let now = Self::start();
        let conn = Connection::accept(now, tuple(), SeqNum(ISS), &segment(syn), config);
        Harness::wrap(conn, now)
    }

    pub fn server(config: Config) -> Harness {
        Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=1000>", config)
    }

    fn wrap(conn: Connection, now: Instant) -> Harness {
        let mut h = Harness {
            conn,
            now,
            sent: VecDeque::new(),
            events: Vec::new(),
        };
        h.drain();
        h
    }

    /// A client that completed the three-way handshake (ESTABLISHED, nothing pending).
    pub fn established_client(config: Config) -> Harness {
        Harness::established_client_opts(config, "")
    }

    /// Like `established_client`, the peer's SYN-ACK also carrying `opts` (notation).
    pub fn established_client_opts(config: Config, opts: &str) -> Harness {
        let mut h = Harness::client(config);
        h.expect_sent("<SEQ=ISS><CTL=SYN>");
        h.receive(&format!(
            "<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><MSS=1000>{opts}"
        ));
        h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
        assert_eq!(h.conn.state(), State::Established);
        h.events.clear();
        h
    }

    /// A server that completed the three-way handshake (ESTABLISHED, nothing pending).
    pub fn established_server(config: Config) -> Harness {
        let mut h = Harness::server(config);
        h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>");
        h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
        h.expect_nothing_sent();
        assert_eq!(h.conn.state(), State::Established);
        h.events.clear();
        h
    }

    pub fn drain(&mut self) {
        while let Some(seg) = self.conn.poll_transmit(self.now) {
            // Every segment must survive the wire.
            let mut buf = vec![0u8; seg.wire_len()];
            let n = seg.emit(
                PseudoHeader::tcp(*LOCAL.ip(), *REMOTE.ip()),
                80,
                40000,
                &mut buf,
            );
            let (_, _, back) =
                Segment::parse(PseudoHeader::tcp(*LOCAL.ip(), *REMOTE.ip()), &buf[..n]).unwrap();
            assert_eq!(back.seq, seg.seq);
            self.sent.push_back(seg);
        }
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    #[track_caller]
    pub fn receive(&mut self, s: &str) {
        self.receive_segment(segment(s));
    }

    #[track_caller]
    pub fn receive_data(&mut self, s: &str, data: &[u8]) {
        let mut seg = segment(s);
        seg.payload = Bytes::copy_from_slice(data);
        self.receive_segment(seg);
    }

    pub fn receive_segment(&mut self, seg: Segment) {
        self.conn.handle_segment(self.now, &seg);
        self.drain();
    }

    /// The next segment we sent must match `pat`.
    #[track_caller]
    pub fn expect_sent(&mut self, pat: &str) -> Segment {
        let seg = self
            .sent
            .pop_front()
            .unwrap_or_else(|| panic!("nothing sent, expected {pat}"));
        assert_matches(&seg, pat);
        seg
    }

    #[track_caller]
    pub fn expect_nothing_sent(&mut self) {
        if let Some(seg) = self.sent.pop_front() {
            panic!("unexpected segment sent: {seg}");
        }
    }

    pub fn take_sent(&mut self) -> Vec<Segment> {
        self.sent.drain(..).collect()
    }

    /// Move simulated time forward by `d`, firing every timer due on the way.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        while let Some(t) = self.conn.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            self.conn.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
        self.conn.handle_timeout(self.now); // harmless when nothing is due
        self.drain();
    }

    /// Jump to the next deadline and fire it; returns the time elapsed.
    pub fn advance_to_next_timer(&mut self) -> Option<Duration> {
        let t = self.conn.poll_timeout()?;
        let before = self.now;
        self.now = self.now.max(t);
        self.conn.handle_timeout(self.now);
        self.drain();
        Some(self.now - before)
    }

    #[track_caller]
    pub fn send(&mut self, data: &[u8]) {
        let n = self.conn.send(data).unwrap();
        assert_eq!(n, data.len(), "send buffer full");
        self.drain();
    }

    pub fn read_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.conn.recv(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        self.drain();
        out
    }

    pub fn close(&mut self) {
        self.conn.close();
        self.drain();
    }

    pub fn state(&self) -> State {
        self.conn.state()
    }

    #[track_caller]
    pub fn expect_state(&self, s: State) {
        assert_eq!(self.conn.state(), s, "state");
    }

    #[track_caller]
    pub fn expect_event(&mut self, e: Event) {
        assert!(
            self.events.contains(&e),
            "missing {e:?} in {:?}",
            self.events
        );
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}

/// Faults applied to every packet on the simulated wire (seeded, deterministic).
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    pub loss: f64,
    pub duplicate: f64,
    pub corrupt: f64,
    /// Probability that a packet gets extra delay (and so is reordered).
    pub reorder: f64,
    pub delay: Duration,
    /// Link rate in octets per second (0: infinite); packets queue behind each other.
    pub bandwidth: u64,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            reorder: 0.0,
            delay: Duration::from_millis(10),
            bandwidth: 12_500_000, // 100 Mbit/s
        }
    }
}

pub const ADDR_A: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40000);
pub const ADDR_B: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 2), 80);

struct Packet {
    at: Instant,
    order: u64,
    to_b: bool,
    bytes: Vec<u8>,
}

/// Two of our connections over a simulated wire; time jumps to the next event.
pub struct Pair {
    pub a: Connection,
    pub b: Connection,
    pub now: Instant,
    pub faults: Faults,
    rng: fastrand::Rng,
    wire: Vec<Packet>,
    order: u64,
    /// When each direction's link finishes sending what is queued (to B, to A).
    busy_until: [Instant; 2],
    pub dropped_bad: u64,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
}

impl Pair {
    /// `a` connects to `b`, which was created from `a`'s SYN (as a listener would).
    pub fn new(config: Config, faults: Faults, seed: u64) -> Pair {
        let now = Instant::from_secs(1);
        let ta = FourTuple {
            local: ADDR_A.into(),
            remote: ADDR_B.into(),
        };
        let mut a = Connection::connect(now, ta, SeqNum(ISS), config.clone());
        let syn = a.poll_transmit(now).unwrap();
        let tb = FourTuple {
            local: ADDR_B.into(),
            remote: ADDR_A.into(),
        };
        let b = Connection::accept(now, tb, SeqNum(IRS), &syn, config);
        Pair {
            a,
            b,
            now,
            faults,
            rng: fastrand::Rng::with_seed(seed),
            wire: Vec::new(),
            order: 0,
            busy_until: [now; 2],
            dropped_bad: 0,
            events_a: Vec::new(),
            events_b: Vec::new(),
        }
    }

    /// Both ends created by `connect` (simultaneous open).
    pub fn simultaneous(config: Config) -> Pair {
        let now = Instant::from_secs(1);
        let a = Connection::connect(
            now,
            FourTuple {
                local: ADDR_A.into(),
                remote: ADDR_B.into(),
            },
            SeqNum(ISS),
            config.clone(),
        );
        let b = Connection::connect(
            now,
            FourTuple {
                local: ADDR_B.into(),
                remote: ADDR_A.into(),
            },
            SeqNum(IRS),
            config,
        );
        Pair {
            a,
            b,
            now,
            faults: Faults::none(),
            rng: fastrand::Rng::with_seed(0),
            wire: Vec::new(),
            order: 0,
            busy_until: [now; 2],
            dropped_bad: 0,
            events_a: Vec::new(),
            events_b: Vec::new(),
        }
    }

    fn put_on_wire(&mut self, seg: &Segment, to_b: bool) {
        let (src, dst) = if to_b {
            (ADDR_A, ADDR_B)
        } else {
            (ADDR_B, ADDR_A)
        };
        let mut bytes = vec![0u8; seg.wire_len()];
        seg.emit(
            PseudoHeader::tcp(*src.ip(), *dst.ip()),
            src.port(),
            dst.port(),
            &mut bytes,
        );
        let f = self.faults;
        let link = &mut self.busy_until[usize::from(!to_b)];
        match (bytes.len() as u64 * 1_000_000).checked_div(f.bandwidth) {
            Some(us) => *link = (*link).max(self.now) + Duration::from_micros(us),
            None => *link = self.now,
        }
        let departed = *link;
        if self.rng.f64() < f.loss {
            return;
        }
        let copies = if self.rng.f64() < f.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let mut b = bytes.clone();
            if self.rng.f64() < f.corrupt {
                let i = self.rng.usize(..b.len());
                b[i] ^= 1 << self.rng.u8(..8);
            }
            let mut at = departed + f.delay;
            if self.rng.f64() < f.reorder {
                at += Duration::from_micros(self.rng.u64(..(3 * f.delay.as_micros() as u64)));
            }
            self.order += 1;
            self.wire.push(Packet {
                at,
                order: self.order,
                to_b,
                bytes: b,
            });
        }
    }

    /// Move every pending segment onto the wire and collect events.
    pub fn flush(&mut self) {
        while let Some(seg) = self.a.poll_transmit(self.now) {
            self.put_on_wire(&seg, true);
        }
        while let Some(seg) = self.b.poll_transmit(self.now) {
            self.put_on_wire(&seg, false);
        }
        while let Some(e) = self.a.poll_event() {
            self.events_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.events_b.push(e);
        }
    }

    /// Advance to the next event (delivery or timer) and process it. Returns false when
    /// nothing at all is pending.
    pub fn step(&mut self) -> bool {
        self.step_until(None)
    }

    /// `step`, but never beyond `limit`: with nothing due before it, time moves to `limit`.
    pub fn step_until(&mut self, limit: Option<Instant>) -> bool {
        self.flush();
        let next_pkt = self.wire.iter().map(|p| p.at).min();
        let next = Instant::min_opt(
            next_pkt,
            Instant::min_opt(self.a.poll_timeout(), self.b.poll_timeout()),
        );
        let next = match (next, limit) {
            (Some(n), Some(l)) => n.min(l),
            (None, Some(l)) => l,
            (n, None) => match n {
                Some(n) => n,
                None => return false,
            },
        };
        self.now = self.now.max(next);
        // Deliver everything due, in arrival order; all of a batch before any reply (MUST-59).
        let mut due: Vec<Packet> = Vec::new();
        let mut i = 0;
        while i < self.wire.len() {
            if self.wire[i].at <= self.now {
                due.push(self.wire.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.order));
        for p in due {
            let (src, dst) = if p.to_b {
                (ADDR_A, ADDR_B)
            } else {
                (ADDR_B, ADDR_A)
            };
            match Segment::parse(PseudoHeader::tcp(*src.ip(), *dst.ip()), &p.bytes) {
                Ok((sp, dp, seg)) => {
                    assert_eq!((sp, dp), (src.port(), dst.port()));
                    let c = if p.to_b { &mut self.b } else { &mut self.a };
                    c.handle_segment(self.now, &seg);
                }
                Err(_) => self.dropped_bad += 1,
            }
        }
        self.a.handle_timeout(self.now);
        self.b.handle_timeout(self.now);
        self.flush();
        true
    }

    /// Let time pass with nothing on the wire until `t` (an application's own timer).
    pub fn idle_until(&mut self, t: Instant) {
        if self.wire.is_empty() {
            self.now = self.now.max(t);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.flush();
        }
    }

    /// Step until `done` or until `limit` of simulated time passed; returns whether done.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return done(self);
            }
        }
    }
}

/// Reach `state` the way a real connection would.
pub fn in_state(state: State) -> Harness {
    in_state_with(state, plain_config(), "")
}

/// `in_state` with a config of our own and options (notation) on the peer's SYN/SYN-ACK.
pub fn in_state_with(state: State, cfg: Config, opts: &str) -> Harness {
    let mut h = match state {
        State::SynSent => {
            let mut h = Harness::client(cfg);
            h.expect_sent("<SEQ=ISS><CTL=SYN>");
            h
        }
        State::SynReceived => {
            let mut h = Harness::server_from(&format!("<SEQ=IRS><CTL=SYN><MSS=1000>{opts}"), cfg);
            h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>");
            h
        }
        State::Established => Harness::established_client_opts(cfg, opts),
        State::FinWait1 => {
            let mut h = in_state_with(State::Established, cfg, opts);
            h.close();
            h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=FIN,ACK>");
            h
        }
        State::FinWait2 => {
            let mut h = in_state_with(State::FinWait1, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>");
            h
        }
        State::CloseWait => {
            let mut h = in_state_with(State::Established, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>");
            h.expect_sent("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>");
            h
        }
        State::Closing => {
            let mut h = in_state_with(State::FinWait1, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>");
            h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
            h
        }
        State::LastAck => {
            let mut h = in_state_with(State::CloseWait, cfg, opts);
            h.close();
            h.expect_sent("<SEQ=ISS+1><ACK=IRS+2><CTL=FIN,ACK>");
            h
        }
        State::TimeWait => {
            let mut h = in_state_with(State::FinWait2, cfg, opts);
            h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>");
            h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
            h
        }
        State::Closed => {
            let mut h = in_state_with(State::Established, cfg, opts);
            h.conn.abort();
            h.drain();
            h.expect_sent("<CTL=RST>");
            h
        }
        State::Listen => unreachable!("listeners live in the stack"),
    };
    h.expect_state(state);
    h.events.clear();
    h
}
