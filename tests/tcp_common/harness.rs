//! One connection under test, driven in simulated time by the shared clock.

use std::collections::VecDeque;

use bytes::Bytes;
use tunstack::tcp::{Config, Connection, Event, Segment, SeqNum, State};
use tunstack::time::{Duration, Instant};
use tunstack::wire::PseudoHeader;

use super::support::clock::{self, Endpoint, Schedule, World};
use super::support::endpoints::ConnectionEnd;
use super::{ISS, LOCAL, REMOTE, assert_matches, segment, tuple};

/// One connection under test, driven in simulated time.
pub struct Harness {
    pub conn: Connection,
    pub now: Instant,
    sent: VecDeque<Segment>,
    pub events: Vec<Event>,
    steps: u64,
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
            steps: 0,
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

    /// The connection as the clock sees it: what it sends is checked to survive the wire
    /// and kept for `expect_sent`.
    fn end(&mut self) -> ConnectionEnd<'_, impl FnMut(Instant, Segment) + '_> {
        let sent = &mut self.sent;
        ConnectionEnd {
            conn: &mut self.conn,
            events: &mut self.events,
            out: move |_, seg: Segment| {
                // Every segment must survive the wire.
                let mut buf = vec![0u8; seg.wire_len()];
                let n = seg.emit(
                    PseudoHeader::tcp(*LOCAL.ip(), *REMOTE.ip()),
                    80,
                    40000,
                    &mut buf,
                );
                let (_, _, back) =
                    Segment::parse(PseudoHeader::tcp(*LOCAL.ip(), *REMOTE.ip()), &buf[..n])
                        .unwrap();
                assert_eq!(back.seq, seg.seq);
                sent.push_back(seg);
            },
        }
    }

    pub fn drain(&mut self) {
        let now = self.now;
        self.end().drain(now);
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
        clock::advance(self, d);
    }

    /// Jump to the next deadline and fire it; returns the time elapsed.
    pub fn advance_to_next_timer(&mut self) -> Option<Duration> {
        let before = self.now;
        clock::step(self, None).then(|| self.now - before)
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

/// The connection alone on the clock; one timer fires per step.
impl World for Harness {
    fn now(&mut self) -> &mut Instant {
        &mut self.now
    }

    fn steps(&mut self) -> &mut u64 {
        &mut self.steps
    }

    fn schedule(&self) -> Schedule {
        Schedule {
            work_first: false,
            ask_every_round: true,
            settle_after_done: false,
            ..Schedule::default()
        }
    }

    fn round(&mut self, now: Instant) -> bool {
        self.end().poll(now)
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        self.conn.poll_timeout()
    }
}
