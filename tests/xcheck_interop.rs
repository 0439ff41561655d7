//! Our stack against smoltcp on one simulated wire (tests/xcheck): handshake, bulk data,
//! every way of closing, abort, refusal, keepalive, zero window, option negotiation. Each
//! scenario runs in both roles (we connect to a smoltcp listener, smoltcp connects to ours).
//! The `/// xcheck:` line above each test is its row in docs/xcheck.md.

mod xcheck;

use smoltcp::socket::tcp as stcp;
use tunstack::stack::TcpEvent;
use tunstack::tcp::{CloseReason, Ctl, Event, Keepalive, SeqNum};
use tunstack::time::Duration;
use xcheck::{Dir, Role, Setup, Transfer, Xcheck, pattern};

const PORT: u16 = 8080;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- handshake ------------------------------------------------------------------------------

fn handshake(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    match role {
        // An active open reports Connected; a passive one is announced by the listener.
        Role::OursClient => assert_eq!(x.ours_events(c.ours), vec![Event::Connected]),
        Role::SmolClient => assert!(
            x.events
                .iter()
                .any(|e| e.event == TcpEvent::Incoming { port: PORT })
        ),
    }
    let syns: Vec<_> = x
        .segments(Dir::ToSmol)
        .into_iter()
        .chain(x.segments(Dir::ToOurs))
        .filter(|(s, _)| s.syn())
        .collect();
    assert_eq!(syns.len(), 2, "one SYN and one SYN-ACK: {:#?}", x.trace());
    assert!(syns.iter().all(|(s, _)| s.options.mss == Some(1460)));
    // The handshake is three segments and nothing else.
    assert_eq!(x.trace().len(), 3, "{:#?}", x.trace());
    // Data flows once connected.
    x.ours.tcp_mut().send(c.ours, b"ping").unwrap();
    x.advance(Duration::from_millis(100));
    let mut buf = [0u8; 16];
    let n = x.smol(c.smol).recv_slice(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
}

/// xcheck: handshake, ours client / smoltcp server
#[test]
fn handshake_ours_client() {
    let _outcome = xcheck::outcome();
    handshake(Role::OursClient);
}

/// xcheck: handshake, smoltcp client / ours server
#[test]
fn handshake_smol_client() {
    let _outcome = xcheck::outcome();
    handshake(Role::SmolClient);
}

// ---- bulk data ------------------------------------------------------------------------------

fn bulk(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    let mut t = Transfer::new(pattern(4 << 20, 1), pattern(4 << 20, 2));
    let took = x.transfer(c, &mut t, secs(120));
    eprintln!(
        "{role:?}: 4 MiB each way in {took:?} simulated, {} steps",
        x.steps
    );
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
}

/// xcheck: 4 MiB each way, byte-exact, then both close; ours client
#[test]
fn bulk_4mib_each_way_ours_client() {
    let _outcome = xcheck::outcome();
    bulk(Role::OursClient);
}

/// xcheck: 4 MiB each way, byte-exact, then both close; smoltcp client
#[test]
fn bulk_4mib_each_way_smol_client() {
    let _outcome = xcheck::outcome();
    bulk(Role::SmolClient);
}

// ---- closing --------------------------------------------------------------------------------

/// We close first: smoltcp sees EOF and closes; we end in TIME-WAIT for 2×MSL (1 s MSL),
/// smoltcp in CLOSED straight from LAST-ACK.
fn ours_closes_first(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "FIN-WAIT-2");
    assert_eq!(x.smol_state(c.smol), "CLOSE-WAIT");
    assert_eq!(
        x.smol(c.smol).recv_slice(&mut [0u8; 8]),
        Err(stcp::RecvError::Finished)
    );
    x.smol(c.smol).close();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT");
    assert_eq!(x.smol_state(c.smol), "CLOSED");
    x.advance(Duration::from_millis(1700));
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT", "2×MSL = 2 s not over");
    x.advance(Duration::from_millis(300));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
}

/// xcheck: ours closes first: ours TIME-WAIT for 2×MSL, smoltcp CLOSED; ours client
#[test]
fn ours_closes_first_ours_client() {
    let _outcome = xcheck::outcome();
    ours_closes_first(Role::OursClient);
}

/// xcheck: ours closes first: ours TIME-WAIT for 2×MSL, smoltcp CLOSED; smoltcp client
#[test]
fn ours_closes_first_smol_client() {
    let _outcome = xcheck::outcome();
    ours_closes_first(Role::SmolClient);
}

/// smoltcp closes first: we see EOF and close; smoltcp ends in TIME-WAIT for its fixed 10 s.
fn smol_closes_first(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.smol(c.smol).close();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.smol_state(c.smol), "FIN-WAIT-2");
    assert_eq!(x.ours_state(c.ours), "CLOSE-WAIT");
    assert_eq!(x.ours.tcp_mut().recv(c.ours, &mut [0u8; 8]), Ok(0));
    assert!(x.ours_events(c.ours).contains(&Event::PeerClosed));
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
    assert_eq!(x.smol_state(c.smol), "TIME-WAIT");
    // Intentional difference: smoltcp's TIME-WAIT is a fixed 10 s (CLOSE_DELAY), where
    // RFC 9293 §3.6.1 asks for 2×MSL (we: 2×MSL, configurable).
    x.advance(secs(9));
    assert_eq!(x.smol_state(c.smol), "TIME-WAIT");
    x.advance(secs(1));
    assert_eq!(x.smol_state(c.smol), "CLOSED");
}

/// xcheck: smoltcp closes first: smoltcp TIME-WAIT, ours CLOSED; ours client | smoltcp's TIME-WAIT is a fixed 10 s, not 2×MSL (RFC 9293 §3.6.1)
#[test]
fn smol_closes_first_ours_client() {
    let _outcome = xcheck::outcome();
    smol_closes_first(Role::OursClient);
}

/// xcheck: smoltcp closes first: smoltcp TIME-WAIT, ours CLOSED; smoltcp client | smoltcp's TIME-WAIT is a fixed 10 s, not 2×MSL (RFC 9293 §3.6.1)
#[test]
fn smol_closes_first_smol_client() {
    let _outcome = xcheck::outcome();
    smol_closes_first(Role::SmolClient);
}

/// Both close at the same instant: the FINs cross, both pass CLOSING into TIME-WAIT
/// (RFC 9293 §3.6, figure 13), and both end CLOSED.
fn simultaneous_close(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.smol(c.smol).close();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT");
    assert_eq!(x.smol_state(c.smol), "TIME-WAIT");
    let fins = x.trace().iter().filter(|l| l.contains("FIN")).count();
    assert_eq!(fins, 2, "each side sent one FIN: {:#?}", x.trace());
    x.advance(secs(3));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Normal));
    x.advance(secs(8));
    assert_eq!(x.smol_state(c.smol), "CLOSED");
}

/// xcheck: simultaneous close: both TIME-WAIT, then both CLOSED; ours client
#[test]
fn simultaneous_close_ours_client() {
    let _outcome = xcheck::outcome();
    simultaneous_close(Role::OursClient);
}

/// xcheck: simultaneous close: both TIME-WAIT, then both CLOSED; smoltcp client
#[test]
fn simultaneous_close_smol_client() {
    let _outcome = xcheck::outcome();
    simultaneous_close(Role::SmolClient);
}

// ---- half-close -----------------------------------------------------------------------------

/// One side sends a little and closes its half; the other keeps sending 1 MiB after it has
/// seen the FIN, then closes. Everything arrives.
fn half_close(role: Role, ours_closes: bool) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    let (small, big) = (pattern(10_000, 3), pattern(1 << 20, 4));
    let mut t = if ours_closes {
        Transfer::new(small, big)
    } else {
        Transfer::new(big, small)
    };
    // The half-closed side's peer sends only after the FIN has arrived.
    let mut eof_seen_with_data_left = false;
    let done = x.run_until(secs(60), |x| {
        let (eof, left) = if ours_closes {
            (t.smol_eof, t.smol_sent < t.to_ours.len())
        } else {
            (t.ours_eof, t.ours_sent < t.to_smol.len())
        };
        eof_seen_with_data_left |= eof && left;
        t.pump(x, c);
        t.delivered()
            && t.ours_eof
            && t.smol_eof
            && x.ours_state(c.ours) == "CLOSED"
            && x.smol_state(c.smol) == "CLOSED"
    });
    assert!(done, "half-close transfer unfinished");
    t.assert_exact("half_close");
    assert!(
        eof_seen_with_data_left,
        "the FIN arrived while the other side still had data to send"
    );
}

/// xcheck: half-close: ours sends 10 kB and closes, smoltcp then sends 1 MiB; ours client
#[test]
fn half_close_ours_first_ours_client() {
    let _outcome = xcheck::outcome();
    half_close(Role::OursClient, true);
}

/// xcheck: half-close: ours sends 10 kB and closes, smoltcp then sends 1 MiB; smoltcp client
#[test]
fn half_close_ours_first_smol_client() {
    let _outcome = xcheck::outcome();
    half_close(Role::SmolClient, true);
}

/// xcheck: half-close: smoltcp sends 10 kB and closes, ours then sends 1 MiB; ours client
#[test]
fn half_close_smol_first_ours_client() {
    let _outcome = xcheck::outcome();
    half_close(Role::OursClient, false);
}

/// xcheck: half-close: smoltcp sends 10 kB and closes, ours then sends 1 MiB; smoltcp client
#[test]
fn half_close_smol_first_smol_client() {
    let _outcome = xcheck::outcome();
    half_close(Role::SmolClient, false);
}

// ---- abort ----------------------------------------------------------------------------------

fn ours_aborts(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.ours.tcp_mut().send(c.ours, &pattern(5000, 5)).unwrap();
    x.advance(Duration::from_millis(100));
    x.ours.tcp_mut().abort(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Aborted));
    assert_eq!(x.smol_state(c.smol), "CLOSED", "smoltcp took our RST");
    let rst = x
        .segments(Dir::ToSmol)
        .into_iter()
        .filter(|(s, _)| s.rst())
        .count();
    assert_eq!(rst, 1);
}

/// xcheck: ours aborts: smoltcp takes the RST and goes CLOSED; ours client
#[test]
fn ours_aborts_ours_client() {
    let _outcome = xcheck::outcome();
    ours_aborts(Role::OursClient);
}

/// xcheck: ours aborts: smoltcp takes the RST and goes CLOSED; smoltcp client
#[test]
fn ours_aborts_smol_client() {
    let _outcome = xcheck::outcome();
    ours_aborts(Role::SmolClient);
}

fn smol_aborts(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.smol(c.smol).send_slice(&pattern(5000, 6)).unwrap();
    x.advance(Duration::from_millis(100));
    x.smol(c.smol).abort();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.smol_state(c.smol), "CLOSED");
    assert_eq!(x.ours_state(c.ours), "CLOSED");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::Reset));
    assert!(matches!(
        x.ours.tcp_mut().recv(c.ours, &mut [0u8; 8]),
        Err(tunstack::stack::TcpError::NotConnected)
    ));
}

/// xcheck: smoltcp aborts: ours takes the RST, reports Closed(Reset); ours client
#[test]
fn smol_aborts_ours_client() {
    let _outcome = xcheck::outcome();
    smol_aborts(Role::OursClient);
}

/// xcheck: smoltcp aborts: ours takes the RST, reports Closed(Reset); smoltcp client
#[test]
fn smol_aborts_smol_client() {
    let _outcome = xcheck::outcome();
    smol_aborts(Role::SmolClient);
}

// ---- refused --------------------------------------------------------------------------------

/// xcheck: ours connects to a smoltcp port nobody listens on: RST, Closed(Refused)
#[test]
fn refused_ours_connects() {
    let _outcome = xcheck::outcome();
    let mut x = Xcheck::clean();
    let now = x.now;
    let h = x
        .ours
        .tcp_mut()
        .connect(now, std::net::SocketAddrV4::new(xcheck::SMOL, 9), None, 0)
        .unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(h), "CLOSED");
    assert_eq!(x.ours_closed(h), Some(CloseReason::Refused));
    let back = x.segments(Dir::ToOurs);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0.ctl, Ctl::RST | Ctl::ACK);
}

/// xcheck: smoltcp connects to a port of ours nobody listens on: RST,ACK, smoltcp CLOSED
#[test]
fn refused_smol_connects() {
    let _outcome = xcheck::outcome();
    let mut x = Xcheck::clean();
    let s = x.smol_socket();
    x.smol_connect(s, 9);
    x.advance(Duration::from_millis(100));
    assert_eq!(x.smol_state(s), "CLOSED");
    let back = x.segments(Dir::ToSmol);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].0.ctl, Ctl::RST | Ctl::ACK);
    assert_eq!(x.ours.tcp().counters().resets_sent_for_strays, 1);
}

// ---- keepalive ------------------------------------------------------------------------------

fn our_keepalive() -> Keepalive {
    Keepalive {
        idle: secs(5),
        interval: secs(1),
        count: 3,
    }
}

/// Our keepalive probes (SEQ = SND.NXT − 1, no data) are answered by smoltcp for a minute.
fn ours_probes(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    let now = x.now;
    x.ours
        .tcp_mut()
        .connection_mut(c.ours)
        .unwrap()
        .set_keepalive(now, Some(our_keepalive()));
    let start = x.now;
    x.advance(secs(60));
    assert_eq!(x.ours_state(c.ours), "ESTABLISHED");
    assert_eq!(x.smol_state(c.smol), "ESTABLISHED");
    let snd_nxt = x.ours.tcp().connection(c.ours).unwrap().stats().snd_nxt;
    let probes = x
        .segments_since(Dir::ToSmol, start)
        .iter()
        .filter(|(s, n)| s.seq == snd_nxt - 1 && *n == 0)
        .count();
    let answers = x.segments_since(Dir::ToOurs, start).len();
    assert!(probes >= 10, "probes every ~5 s for 60 s: {probes}");
    assert!(answers >= probes, "{answers} answers to {probes} probes");
}

/// xcheck: ours sends keepalive probes, smoltcp answers them; ours client
#[test]
fn keepalive_ours_probes_ours_client() {
    let _outcome = xcheck::outcome();
    ours_probes(Role::OursClient);
}

/// xcheck: ours sends keepalive probes, smoltcp answers them; smoltcp client
#[test]
fn keepalive_ours_probes_smol_client() {
    let _outcome = xcheck::outcome();
    ours_probes(Role::SmolClient);
}

/// smoltcp's keepalive (SEQ = SND.NXT − 1 with one garbage octet) is answered by us, and
/// its idle timeout never fires while we answer.
fn smol_probes(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.smol(c.smol)
        .set_keep_alive(Some(smoltcp::time::Duration::from_secs(5)));
    x.smol(c.smol)
        .set_timeout(Some(smoltcp::time::Duration::from_secs(12)));
    let before = x.segments(Dir::ToOurs).len();
    x.advance(secs(60));
    assert_eq!(x.ours_state(c.ours), "ESTABLISHED");
    assert_eq!(x.smol_state(c.smol), "ESTABLISHED");
    let probes = x.segments(Dir::ToOurs)[before..]
        .iter()
        .filter(|(_, n)| *n == 1)
        .count();
    assert!(probes >= 10, "probes every 5 s for 60 s: {probes}");
    let acks = x
        .segments(Dir::ToSmol)
        .iter()
        .filter(|(s, n)| *n == 0 && s.ctl == Ctl::ACK)
        .count();
    assert!(acks >= probes, "{acks} ACKs for {probes} probes");
}

/// xcheck: smoltcp sends keepalive probes, ours answers them; ours client
#[test]
fn keepalive_smol_probes_ours_client() {
    let _outcome = xcheck::outcome();
    smol_probes(Role::OursClient);
}

/// xcheck: smoltcp sends keepalive probes, ours answers them; smoltcp client
#[test]
fn keepalive_smol_probes_smol_client() {
    let _outcome = xcheck::outcome();
    smol_probes(Role::SmolClient);
}

/// The wire is cut: our keepalive gives up after idle + count × interval.
fn ours_keepalive_abort(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    let now = x.now;
    x.ours
        .tcp_mut()
        .connection_mut(c.ours)
        .unwrap()
        .set_keepalive(now, Some(our_keepalive()));
    x.cut();
    let start = x.now;
    let done = x.run_until(secs(60), |x| x.ours_state(c.ours) == "CLOSED");
    assert!(done, "keepalive never gave up");
    assert_eq!(x.ours_closed(c.ours), Some(CloseReason::TimedOut));
    let took = x.now - start;
    assert!(
        took >= secs(7) && took <= secs(10),
        "idle 5 s + 3 probes 1 s apart: {took:?}"
    );
    assert_eq!(x.smol_state(c.smol), "ESTABLISHED", "smoltcp heard nothing");
}

/// xcheck: link cut: ours' keepalive times out (Closed(TimedOut)); ours client
#[test]
fn keepalive_abort_ours_ours_client() {
    let _outcome = xcheck::outcome();
    ours_keepalive_abort(Role::OursClient);
}

/// xcheck: link cut: ours' keepalive times out (Closed(TimedOut)); smoltcp client
#[test]
fn keepalive_abort_ours_smol_client() {
    let _outcome = xcheck::outcome();
    ours_keepalive_abort(Role::SmolClient);
}

/// The wire is cut: smoltcp's keepalive + timeout closes its side.
fn smol_keepalive_abort(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.smol(c.smol)
        .set_keep_alive(Some(smoltcp::time::Duration::from_secs(5)));
    x.smol(c.smol)
        .set_timeout(Some(smoltcp::time::Duration::from_secs(12)));
    x.cut();
    let done = x.run_until(secs(60), |x| x.smol_state(c.smol) == "CLOSED");
    assert!(done, "smoltcp never gave up");
    assert!(x.elapsed() < secs(30));
    assert_eq!(x.ours_state(c.ours), "ESTABLISHED", "we heard nothing");
}

/// xcheck: link cut: smoltcp's keepalive + timeout closes it; ours client
#[test]
fn keepalive_abort_smol_ours_client() {
    let _outcome = xcheck::outcome();
    smol_keepalive_abort(Role::OursClient);
}

/// xcheck: link cut: smoltcp's keepalive + timeout closes it; smoltcp client
#[test]
fn keepalive_abort_smol_smol_client() {
    let _outcome = xcheck::outcome();
    smol_keepalive_abort(Role::SmolClient);
}

// ---- zero window ----------------------------------------------------------------------------

/// The receiver stops reading for 30 s while the sender has 1 MiB to send: the window
/// closes, the sender probes, the receiver resumes, everything arrives.
fn zero_window(role: Role, ours_stalls: bool) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    let (data, none) = (pattern(1 << 20, 7), Vec::new());
    let mut t = if ours_stalls {
        Transfer::new(none, data)
    } else {
        Transfer::new(data, none)
    };
    t.ours_reads = !ours_stalls;
    t.smol_reads = ours_stalls;
    x.run_until(secs(30), |x| {
        t.pump(x, c);
        false
    });
    let stalled_dir = if ours_stalls {
        Dir::ToSmol
    } else {
        Dir::ToOurs
    };
    let zero = x
        .segments(stalled_dir)
        .iter()
        .filter(|(s, _)| s.wnd == 0 && !s.rst())
        .count();
    assert!(zero > 0, "the receiver advertised a zero window");
    assert!(!t.delivered());
    // The sender probes while the window is shut (with backoff: a handful in 30 s).
    let probes_dir = if ours_stalls {
        Dir::ToOurs
    } else {
        Dir::ToSmol
    };
    let shut_at = x
        .tap
        .borrow()
        .records
        .iter()
        .find(|r| r.dir == stalled_dir && r.seg.as_ref().is_some_and(|s| s.wnd == 0))
        .unwrap()
        .at;
    let probes = x
        .segments_since(probes_dir, shut_at + Duration::from_millis(10))
        .len();
    assert!(
        (2..=12).contains(&probes),
        "window probes with backoff in 30 s: {probes}"
    );
    t.ours_reads = true;
    t.smol_reads = true;
    x.transfer(c, &mut t, secs(120));
}

/// xcheck: smoltcp stops reading (zero window) for 30 s, then resumes; ours client
#[test]
fn zero_window_smol_stalls_ours_client() {
    let _outcome = xcheck::outcome();
    zero_window(Role::OursClient, false);
}

/// xcheck: smoltcp stops reading (zero window) for 30 s, then resumes; smoltcp client
#[test]
fn zero_window_smol_stalls_smol_client() {
    let _outcome = xcheck::outcome();
    zero_window(Role::SmolClient, false);
}

/// xcheck: ours stops reading (zero window) for 30 s, then resumes; ours client
#[test]
fn zero_window_ours_stalls_ours_client() {
    let _outcome = xcheck::outcome();
    zero_window(Role::OursClient, true);
}

/// xcheck: ours stops reading (zero window) for 30 s, then resumes; smoltcp client
#[test]
fn zero_window_ours_stalls_smol_client() {
    let _outcome = xcheck::outcome();
    zero_window(Role::SmolClient, true);
}

// ---- options --------------------------------------------------------------------------------

/// MSS from each side's MTU and window scaling both ways: each side's SYN carries its MSS
/// (MTU − 40) and shift; each sends segments of at most the smaller MSS, and reaches it;
/// each scales the other's window by the other's shift.
fn mss_and_window_scale(role: Role, ours_mtu: usize, smol_mtu: usize) {
    let mut x = Xcheck::new(Setup {
        ours_mtu,
        smol_mtu,
        ..Setup::default()
    });
    let c = x.connect(role, PORT);
    let our_syn = x.segments(Dir::ToSmol)[0].0.clone();
    let their_syn = x.segments(Dir::ToOurs)[0].0.clone();
    assert!(our_syn.syn() && their_syn.syn());
    assert_eq!(our_syn.options.mss, Some((ours_mtu - 40) as u16));
    assert_eq!(their_syn.options.mss, Some((smol_mtu - 40) as u16));
    // 256 KiB receive buffers on both sides; ours may auto-tune to 4 MiB: shift 7 for ours
    // (65535 << 7 covers 4 MiB), 3 for smoltcp's fixed 256 KiB.
    assert_eq!(our_syn.options.window_scale, Some(7));
    assert_eq!(their_syn.options.window_scale, Some(3));
    // smoltcp offers SACK but no timestamps (no TSval generator), so no TS on the wire.
    assert!(their_syn.options.timestamps.is_none());
    // 4 MiB, so that smoltcp's Reno congestion window grows past 64 KiB.
    let mut t = Transfer::new(pattern(4 << 20, 8), pattern(4 << 20, 9));
    t.ours_close = false;
    t.smol_close = false;
    let done = x.run_until(secs(60), |x| {
        t.pump(x, c);
        t.delivered()
    });
    assert!(done);
    t.assert_exact("mss");
    let mss = ours_mtu.min(smol_mtu) - 40;
    let max_ours = x.segments(Dir::ToSmol).iter().map(|s| s.1).max().unwrap();
    let max_smol = x.segments(Dir::ToOurs).iter().map(|s| s.1).max().unwrap();
    assert_eq!(max_ours, mss, "our largest segment");
    assert_eq!(max_smol, mss, "smoltcp's largest segment");
    // We scale smoltcp's window by its shift: SND.WND = last SEG.WND << 3.
    x.advance(Duration::from_millis(200));
    let last_wnd = x.segments(Dir::ToOurs).last().unwrap().0.wnd;
    let stats = x.ours.tcp().connection(c.ours).unwrap().stats();
    assert_eq!(stats.snd_wnd, u32::from(last_wnd) << 3);
    assert!(stats.snd_wnd > 65_535, "a window only scaling can express");
    // smoltcp scales ours: it has more than 64 KiB in flight at some point.
    let mut max_flight = 0u32;
    let mut acked = None::<SeqNum>;
    let mut highest = None::<SeqNum>;
    for r in x.tap.borrow().records.iter() {
        let Some(s) = &r.seg else { continue };
        match r.dir {
            Dir::ToOurs if r.payload_len > 0 => {
                let end = s.seq + r.payload_len as u32;
                highest = Some(highest.map_or(end, |h| h.max(end)));
            }
            Dir::ToSmol if s.has_ack() => acked = Some(acked.map_or(s.ack, |a| a.max(s.ack))),
            _ => {}
        }
        if let (Some(h), Some(a)) = (highest, acked) {
            max_flight = max_flight.max(h.distance(a).max(0) as u32);
        }
    }
    assert!(
        max_flight > 65_535,
        "smoltcp's flight peaked at {max_flight}"
    );
}

/// xcheck: MSS and window scale: ours MTU 1500, smoltcp MTU 1200; ours client
#[test]
fn mss_wscale_smol_smaller_ours_client() {
    let _outcome = xcheck::outcome();
    mss_and_window_scale(Role::OursClient, 1500, 1200);
}

/// xcheck: MSS and window scale: ours MTU 1500, smoltcp MTU 1200; smoltcp client
#[test]
fn mss_wscale_smol_smaller_smol_client() {
    let _outcome = xcheck::outcome();
    mss_and_window_scale(Role::SmolClient, 1500, 1200);
}

/// xcheck: MSS and window scale: ours MTU 1000, smoltcp MTU 1500; ours client
#[test]
fn mss_wscale_ours_smaller_ours_client() {
    let _outcome = xcheck::outcome();
    mss_and_window_scale(Role::OursClient, 1000, 1500);
}

/// xcheck: MSS and window scale: ours MTU 1000, smoltcp MTU 1500; smoltcp client
#[test]
fn mss_wscale_ours_smaller_smol_client() {
    let _outcome = xcheck::outcome();
    mss_and_window_scale(Role::SmolClient, 1000, 1500);
}

// ---- timestamps -----------------------------------------------------------------------------

/// With a TSval generator smoltcp offers RFC 7323 timestamps; both sides then carry them on
/// every segment (12 octets less payload each) and 1 MiB each way arrives intact.
fn timestamps(role: Role) {
    let mut x = Xcheck::new(Setup {
        smol_timestamps: true,
        ..Setup::default()
    });
    let c = x.connect(role, PORT);
    let mut t = Transfer::new(pattern(1 << 20, 10), pattern(1 << 20, 11));
    x.transfer(c, &mut t, secs(60));
    for dir in [Dir::ToOurs, Dir::ToSmol] {
        let segs = x.segments(dir);
        assert!(
            segs.iter()
                .all(|(s, _)| s.rst() || s.options.timestamps.is_some()),
            "{dir:?}: every segment carries timestamps"
        );
        let max = segs.iter().map(|s| s.1).max().unwrap();
        assert_eq!(max, 1460 - 12, "{dir:?}: MSS less the option");
    }
}

/// xcheck: timestamps negotiated (smoltcp with a TSval generator), 1 MiB each way; ours client
#[test]
fn timestamps_ours_client() {
    let _outcome = xcheck::outcome();
    timestamps(Role::OursClient);
}

/// xcheck: timestamps negotiated (smoltcp with a TSval generator), 1 MiB each way; smoltcp client
#[test]
fn timestamps_smol_client() {
    let _outcome = xcheck::outcome();
    timestamps(Role::SmolClient);
}

// ---- half-close with a slow peer ------------------------------------------------------------

/// We close our half; smoltcp, in CLOSE-WAIT, thinks for 61 s and then sends its answer and
/// closes (an HTTP/1.0-style exchange after `shutdown(SHUT_WR)`). RFC 9293 §3.10.4: after
/// CLOSE "the user can continue to RECEIVE until he is told that the remote side has CLOSED";
/// FIN-WAIT-2 has no timeout of its own (§3.6).
fn half_close_slow_peer(role: Role) {
    let mut x = Xcheck::clean();
    let c = x.connect(role, PORT);
    x.ours.tcp_mut().close(c.ours).unwrap();
    x.advance(Duration::from_millis(100));
    assert_eq!(x.ours_state(c.ours), "FIN-WAIT-2");
    assert_eq!(x.smol_state(c.smol), "CLOSE-WAIT");
    x.advance(secs(61));
    let answer = pattern(1000, 12);
    assert_eq!(x.smol(c.smol).send_slice(&answer), Ok(1000));
    x.smol(c.smol).close();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    let done = x.run_until(secs(10), |x| {
        while let Ok(n) = x.ours.tcp_mut().recv(c.ours, &mut buf) {
            if n == 0 {
                return true;
            }
            got.extend_from_slice(&buf[..n]);
        }
        false
    });
    assert!(
        done && got == answer,
        "we read {} of 1000 bytes and {} EOF; our connection: {:?}",
        got.len(),
        if done { "an" } else { "no" },
        x.ours_closed(c.ours)
    );
    assert_eq!(x.ours_state(c.ours), "TIME-WAIT");
}

/// xcheck: half-close: ours closes, smoltcp answers after 61 s of silence, then closes; ours client
#[test]
fn half_close_slow_peer_ours_client() {
    let _outcome = xcheck::outcome();
    half_close_slow_peer(Role::OursClient);
}

/// xcheck: half-close: ours closes, smoltcp answers after 61 s of silence, then closes; smoltcp client
#[test]
fn half_close_slow_peer_smol_client() {
    let _outcome = xcheck::outcome();
    half_close_slow_peer(Role::SmolClient);
}

// ---- simultaneous open ----------------------------------------------------------------------

/// xcheck: simultaneous open: both send SYNs at the same instant, both reach ESTABLISHED, data flows both ways
#[test]
fn simultaneous_open() {
    let _outcome = xcheck::outcome();
    let mut x = Xcheck::clean();
    let now = x.now;
    let ours = x
        .ours
        .tcp_mut()
        .connect(
            now,
            std::net::SocketAddrV4::new(xcheck::SMOL, PORT),
            None,
            0,
        )
        .unwrap();
    let our_port = x.ours.tcp().connection(ours).unwrap().tuple().local.port();
    let smol = x.smol_socket();
    let cx = x.iface.context();
    x.sockets
        .get_mut::<stcp::Socket>(smol)
        .connect(
            cx,
            (smoltcp::wire::IpAddress::Ipv4(xcheck::OURS), our_port),
            PORT,
        )
        .unwrap();
    let c = xcheck::Conn { ours, smol };
    let done = x.run_until(secs(10), |x| {
        x.ours_state(ours) == "ESTABLISHED" && x.smol_state(smol) == "ESTABLISHED"
    });
    assert!(
        done,
        "ours {}, smoltcp {}",
        x.ours_state(ours),
        x.smol_state(smol)
    );
    let syns = x.trace().iter().filter(|l| l.contains("CTL=SYN>")).count();
    assert_eq!(syns, 2, "two crossing SYNs: {:#?}", x.trace());
    let mut t = Transfer::new(pattern(100_000, 13), pattern(100_000, 14));
    x.transfer(c, &mut t, secs(60));
}
