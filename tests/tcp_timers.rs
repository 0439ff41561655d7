//! Timelines replayed in simulated time: RTO backoff, SYN retransmission until R2,
//! keepalive, TIME-WAIT, zero-window probing, delayed ACK.

mod tcp_common;

use tcp_common::*;
use tunstack::tcp::{CloseReason, Config, Event, Keepalive, State};
use tunstack::time::Duration;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Collect the intervals between consecutive transmissions until the connection closes.
fn retransmission_intervals(h: &mut Harness, max: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut last = h.now;
    while out.len() < max {
        if h.advance_to_next_timer().is_none() {
            break;
        }
        let sent = h.take_sent();
        if h.state() == State::Closed {
            out.push(h.now - last); // time from the last transmission to giving up
            break;
        }
        if !sent.is_empty() {
            out.push(h.now - last);
            last = h.now;
        }
    }
    out
}

/// RTO doubles from 200 ms (the floor after a fast handshake) up to R2 = 100 s.
#[test]
fn must_18_must_19_must_20_rto_backoff_until_r2() {
    let mut h = Harness::established_client(plain_config());
    let start = h.now;
    h.send(b"data");
    h.expect_sent("<SEQ=ISS+1><DATA=4>");
    let iv = retransmission_intervals(&mut h, 20);
    let expected: Vec<Duration> = [200, 400, 800, 1600, 3200, 6400, 12800, 25600]
        .into_iter()
        .map(ms)
        .chain([Duration::from_secs(49)]) // 51 s elapsed; R2 = 100 s cuts the 51.2 s wait
        .collect();
    assert_eq!(iv, expected);
    assert_eq!(h.now - start, Duration::from_secs(100));
    h.expect_event(Event::RetransmitThreshold); // R1 = 3 (MUST-20)
    h.expect_event(Event::Closed(CloseReason::TimedOut));
    assert_eq!(h.conn.stats().rtos, 8);
}

/// MUST-21: the user timeout replaces R2.
#[test]
fn must_21_user_timeout() {
    let mut h = Harness::established_client(plain_config());
    h.conn.set_user_timeout(Some(Duration::from_secs(5)));
    let start = h.now;
    h.send(b"data");
    while h.state() != State::Closed {
        h.advance_to_next_timer().unwrap();
    }
    assert_eq!(h.now - start, Duration::from_secs(5));
    h.expect_event(Event::Closed(CloseReason::TimedOut));
}

/// MUST-22/MUST-23: SYN retransmissions back off from 1 s and give up after 3 minutes.
#[test]
fn must_22_must_23_syn_retransmissions_until_r2() {
    let mut h = Harness::client(plain_config());
    let start = h.now;
    h.expect_sent("<SEQ=ISS><CTL=SYN>");
    let iv = retransmission_intervals(&mut h, 20);
    let secs: Vec<u64> = iv.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 57]); // 123 s + 57 s = R2 of 180 s
    assert!(h.now - start >= Duration::from_secs(180));
    h.expect_event(Event::Closed(CloseReason::TimedOut));
}

/// MUST-25: keepalive is off by default; 3 idle hours send nothing.
#[test]
fn must_25_keepalive_off_by_default() {
    assert_eq!(Config::default().keepalive, None);
    let mut h = Harness::established_client(plain_config());
    h.advance(Duration::from_secs(3 * 3600));
    h.expect_nothing_sent();
    h.expect_state(State::Established);
}

/// MUST-24/26/27/28/29: 2 h idle, probes 75 s apart with SEG.SEQ = SND.NXT-1, dead after 9.
#[test]
fn must_24_to_29_keepalive_timeline() {
    // MUST-24 (per connection), MUST-26 (idle only), MUST-27 (configurable interval),
    // MUST-28 (2 h default), MUST-29 (several unanswered probes before giving up)
    let k = Keepalive::default();
    assert_eq!(k.idle, Duration::from_secs(7200)); // MUST-28
    let mut h = Harness::established_client(plain_config());
    h.conn.set_keepalive(h.now, Some(k)); // MUST-24
    let start = h.now;
    h.advance(Duration::from_secs(7200) - ms(1));
    h.expect_nothing_sent();
    h.advance(ms(1));
    h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=ACK><DATA=0>");
    for i in 2..=9 {
        h.advance(Duration::from_secs(75));
        h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=ACK>");
        h.expect_state(State::Established); // MUST-29: not dead on one unanswered probe
        assert_eq!(h.now - start, Duration::from_secs(7200 + 75 * (i - 1)));
    }
    h.advance(Duration::from_secs(75));
    h.expect_nothing_sent();
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::TimedOut));
    assert_eq!(h.now - start, Duration::from_secs(7200 + 9 * 75));
}

/// MUST-27: the keepalive interval is the application's. Idle 10 s, interval 3 s, 4 probes:
/// probes (SEG.SEQ = SND.NXT − 1) at 10, 13, 16 and 19 s, and the connection is declared
/// dead one interval after the 4th, at 22 s. A fixed interval (75 s) fails this.
#[test]
fn must_27_keepalive_interval_is_configurable() {
    let mut h = Harness::established_client(plain_config());
    let start = h.now;
    let k = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(3),
        count: 4,
    };
    h.conn.set_keepalive(h.now, Some(k));
    let mut probes_at = Vec::new();
    while h.state() != State::Closed {
        h.advance_to_next_timer().unwrap();
        for seg in h.take_sent() {
            assert_matches(&seg, "<SEQ=ISS><ACK=IRS+1><CTL=ACK><DATA=0>");
            probes_at.push((h.now - start).as_millis());
        }
        assert!(h.now - start <= Duration::from_secs(60), "still open");
    }
    assert_eq!(probes_at, [10_000, 13_000, 16_000, 19_000]);
    assert_eq!(h.now - start, Duration::from_secs(22));
    h.expect_event(Event::Closed(CloseReason::TimedOut));
}

/// An answered probe restarts the idle period; keepalive can be turned off again.
#[test]
fn must_24_answered_keepalive_keeps_connection() {
    let mut h = Harness::established_client(plain_config());
    h.conn.set_keepalive(h.now, Some(Keepalive::default()));
    h.advance(Duration::from_secs(7200 + 75));
    assert_eq!(h.take_sent().len(), 2);
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.advance(Duration::from_secs(7199));
    h.expect_nothing_sent();
    h.advance(Duration::from_secs(1));
    h.expect_sent("<SEQ=ISS><CTL=ACK>");
    h.conn.set_keepalive(h.now, None);
    h.advance(Duration::from_secs(5 * 3600));
    h.expect_nothing_sent();
    h.expect_state(State::Established);
}

/// A peer's keepalive probe (SEQ = RCV.NXT-1) is answered with an ACK.
#[test]
fn peer_keepalive_probe_is_answered() {
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=ACK>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=ACK><DATA=1>"); // with one garbage octet
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    assert_eq!(h.conn.stats().recv_queue, 0);
}

/// MUST-13: TIME-WAIT lasts exactly 2×MSL and a retransmitted FIN restarts it.
#[test]
fn must_13_time_wait_restarts_on_retransmitted_fin() {
    let mut h = Harness::established_client(plain_config());
    h.close();
    h.expect_sent("<CTL=FIN,ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>");
    h.expect_state(State::TimeWait);
    h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
    h.advance(Duration::from_secs(50));
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>"); // our ACK was lost
    h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
    h.advance(Duration::from_secs(60) - Duration::from_micros(1));
    h.expect_state(State::TimeWait);
    h.advance(Duration::from_micros(1));
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Normal));
}

/// MUST-35/36/37 (SHLD-29/30): zero-window probes start after one RTO, back off to 60 s and
/// go on for 10 minutes while answered; data flows once the window opens.
#[test]
fn must_35_36_37_zero_window_probing_for_ten_minutes() {
    let mut h = Harness::established_client(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=0>");
    h.send(b"hello");
    h.expect_nothing_sent();
    let start = h.now;
    let mut last = h.now;
    let mut intervals = Vec::new();
    while h.now - start < Duration::from_secs(600) {
        h.advance_to_next_timer().unwrap();
        for seg in h.take_sent() {
            assert_matches(&seg, "<SEQ=ISS><ACK=IRS+1><CTL=ACK><DATA=0>");
            intervals.push((h.now - last).as_millis() as u64);
            last = h.now;
            h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=0>");
            h.expect_nothing_sent();
        }
    }
    assert_eq!(
        &intervals[..10],
        &[200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000]
    );
    assert!(intervals[10..].iter().all(|&i| i == 60000));
    h.expect_state(State::Established); // MUST-37
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=100>");
    h.expect_sent("<SEQ=ISS+1><DATA=5>");
}

/// Unanswered zero-window probes give up after R2.
#[test]
fn unanswered_zero_window_probes_time_out() {
    let mut h = Harness::established_client(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=0>");
    h.send(b"hello");
    let start = h.now;
    while h.state() != State::Closed {
        h.advance_to_next_timer().unwrap();
        assert!(h.now - start < Duration::from_secs(200));
    }
    h.expect_event(Event::Closed(CloseReason::TimedOut));
}

/// MUST-34/36: the window shrinks to zero under data in flight and the peer's later window
/// updates come from below our RCV.NXT (it rewound its SND.NXT after its own timeout), so
/// §3.10.7.4 drops them. Each RTO resends the segment at SND.UNA anyway, as the probe
/// (§3.8.6.1: "retransmit ... even if the send window is zero"): data at the peer's RCV.NXT
/// is acceptable to it, where a zero-length probe below its window only draws one more
/// unacceptable answer (the deadlock `xcheck_props` found against smoltcp).
#[test]
fn rto_under_a_zero_window_resends_the_head_as_the_probe() {
    let mut h = Harness::established_client(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=100>");
    h.send(&[1; 3000]);
    assert_eq!(h.take_sent().len(), 3);
    h.receive("<SEQ=IRS+101><ACK=ISS+1001><CTL=ACK><WND=0>");
    // First the tail loss probe (RFC 8985 §7.3: the last segment), then the RTOs.
    h.advance_to_next_timer().unwrap();
    h.expect_sent("<SEQ=ISS+2001><ACK=IRS+101><CTL=ACK><DATA=1000>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK><WND=2000>");
    h.expect_sent("<SEQ=ISS+3001><ACK=IRS+101><CTL=ACK>");
    let mut intervals = Vec::new();
    for _ in 0..3 {
        let waited = h.advance_to_next_timer().unwrap();
        intervals.push(waited.as_millis() as u64);
        h.expect_sent("<SEQ=ISS+1001><ACK=IRS+101><CTL=ACK><DATA=1000>");
        h.expect_nothing_sent();
        // The peer's answer from its rewound SND.NXT: unacceptable, answered, window ignored.
        h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK><WND=2000>");
        h.expect_sent("<SEQ=ISS+3001><ACK=IRS+101><CTL=ACK>");
    }
    // Backed off: the first counts from the original send, the TLP in between.
    assert!(
        intervals[0] <= 200 && intervals[1] == 400 && intervals[2] == 800,
        "{intervals:?}"
    );
    // Once the peer took the probe its answers are acceptable again: the window opens.
    h.receive("<SEQ=IRS+101><ACK=ISS+2001><CTL=ACK><WND=2000>");
    h.expect_sent("<SEQ=ISS+2001><DATA=1000>");
    h.expect_state(State::Established);
}

/// MUST-40: an ACK is delayed at most 40 ms; every second full segment is ACKed at once.
#[test]
fn must_40_delayed_ack_never_later_than_40ms() {
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=10>");
    h.expect_nothing_sent();
    h.advance(ms(40) - Duration::from_micros(1));
    h.expect_nothing_sent();
    h.advance(Duration::from_micros(1));
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+11><CTL=ACK>");
    // SHLD-19: two full-sized segments draw an immediate ACK.
    h.receive("<SEQ=IRS+11><ACK=ISS+1><CTL=ACK><DATA=1000>");
    h.expect_nothing_sent();
    h.receive("<SEQ=IRS+1011><ACK=ISS+1><CTL=ACK><DATA=1000>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+2011><CTL=ACK>");
}

/// Out-of-order data and the segment filling the gap are ACKed immediately.
#[test]
fn immediate_ack_for_out_of_order_and_gap_fill() {
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS+11><ACK=ISS+1><CTL=ACK><DATA=10>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=10>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+21><CTL=ACK>");
    assert_eq!(h.read_all().len(), 20);
}

/// FIN-WAIT-2 does not last forever once the user closed and the peer went silent.
#[test]
fn fin_wait_2_timeout() {
    let mut h = Harness::established_client(plain_config());
    h.close();
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>");
    h.expect_state(State::FinWait2);
    // A half-close: the user may still read, so an idle peer is waited for...
    h.advance(Duration::from_secs(120));
    h.expect_state(State::FinWait2);
    // ...until the user lets go of the connection; then 60 s without input end it.
    let now = h.now;
    h.conn.release(now);
    h.advance(Duration::from_secs(59));
    h.expect_state(State::FinWait2);
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>"); // the peer is alive: the timer restarts
    h.advance(Duration::from_secs(59));
    h.expect_state(State::FinWait2);
    h.advance(Duration::from_secs(1));
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::FinWait2Timeout));
}

/// Calling handle_timeout early or twice changes nothing.
#[test]
fn spurious_timeouts_are_harmless() {
    let mut h = Harness::established_client(plain_config());
    h.send(b"x");
    h.expect_sent("<DATA=1>");
    let deadline = h.conn.poll_timeout().unwrap();
    h.conn.handle_timeout(h.now);
    h.conn.handle_timeout(h.now);
    h.drain();
    h.expect_nothing_sent();
    assert_eq!(h.conn.poll_timeout(), Some(deadline));
}

/// MUST-26: no keepalive probe while data is outstanding (retransmission covers it).
#[test]
fn must_26_no_keepalive_while_data_outstanding() {
    let mut h = Harness::established_client(plain_config());
    let k = Keepalive {
        idle: Duration::from_secs(10),
        interval: Duration::from_secs(5),
        count: 3,
    };
    h.conn.set_keepalive(h.now, Some(k)); // MUST-27: interval configurable
    h.send(b"data");
    while h.state() != State::Closed {
        h.advance_to_next_timer().unwrap();
        for seg in h.take_sent() {
            assert_matches(&seg, "<SEQ=ISS+1><DATA=4>");
        }
    }
    h.expect_event(Event::Closed(CloseReason::TimedOut));
}

/// FIN-WAIT-2 does not time out while the user may still read (our own unread data holding
/// the peer back, here); once the user releases the connection, 60 s of silence end it.
#[test]
fn fin_wait_2_waits_for_our_reader() {
    let mut h = Harness::established_client(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=1000>");
    h.close();
    h.receive("<SEQ=IRS+1001><ACK=ISS+2><CTL=ACK>");
    h.expect_state(State::FinWait2);
    h.advance(Duration::from_secs(120));
    h.expect_state(State::FinWait2);
    assert_eq!(h.read_all().len(), 1000);
    let now = h.now;
    h.conn.release(now);
    h.advance(Duration::from_secs(60));
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::FinWait2Timeout));
}

/// RFC 6298 (5.7): after a retransmitted SYN without an RTT sample, data starts with a
/// 3-second RTO.
#[test]
fn must_18_rto_three_seconds_after_lost_syn() {
    let mut h = Harness::client(plain_config());
    h.expect_sent("<SEQ=ISS><CTL=SYN>");
    h.advance(Duration::from_secs(1));
    h.expect_sent("<SEQ=ISS><CTL=SYN>"); // retransmitted: Karn allows no sample
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK>");
    h.expect_sent("<CTL=ACK>");
    h.send(b"x");
    h.expect_sent("<DATA=1>");
    assert_eq!(h.advance_to_next_timer(), Some(Duration::from_secs(3)));
    h.expect_sent("<SEQ=ISS+1><DATA=1>");
}

/// RFC 8985 §7: when the tail of a flight is lost, a loss probe goes out after
/// PTO = 2·SRTT + 2 ms, long before the 200 ms RTO. Its ACK SACKs the probe beyond the
/// hole, which is then repaired at once (§7.4), without a retransmission timeout.
#[test]
fn tail_loss_probe_reveals_the_hole_without_an_rto() {
    let config = Config {
        sack: true,
        ..plain_config()
    };
    let mut h = Harness::established_client_opts(config, "<SACKOK>");
    h.send(&[7u8; 3000]);
    h.expect_sent("<SEQ=ISS+1><DATA=1000>");
    h.expect_sent("<SEQ=ISS+1001><DATA=1000>");
    h.expect_sent("<SEQ=ISS+2001><DATA=1000>");
    // The first segment arrives; the other two (the tail) are lost: no duplicate ACKs.
    h.advance(ms(1));
    h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK><WND=8192>");
    h.expect_nothing_sent();
    h.send(&[8u8; 1000]); // more data waits, cwnd permitting
    h.take_sent();
    // PTO = 2 × SRTT + 2 ms (Linux's TCP_TIMEOUT_MIN) after the last ACK: one probe.
    let srtt = h.conn.stats().srtt.expect("measured");
    let pto = srtt * 2 + ms(2);
    assert!(pto < ms(200), "long before the RTO");
    h.advance(pto - Duration::from_micros(1));
    h.expect_nothing_sent();
    h.advance(Duration::from_micros(1));
    let probe = h.take_sent();
    assert_eq!(probe.len(), 1, "one loss probe: {probe:?}");
    assert_eq!(h.conn.stats().loss_probes, 1);
    assert_eq!(h.conn.stats().rtos, 0);
    // One RTT later the peer SACKs the probe (a retransmission of the last segment; an
    // ACK sooner than min_RTT could be for the original, RFC 8985 §6.2 step 2); RACK marks
    // the hole at ISS+1001 lost and it is retransmitted at once.
    let p = &probe[0];
    let (l, r) = (p.seq.0, p.seq.0.wrapping_add(p.payload.len() as u32));
    h.advance(ms(1));
    h.receive(&format!(
        "<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK><WND=8192><SACK={l}-{r}>"
    ));
    h.expect_sent("<SEQ=ISS+1001><DATA=1000>");
    assert_eq!(h.conn.stats().rtos, 0, "repaired without a timeout");
}

/// A loss probe is not sent while the RTO is backed off (RTO recovery), nor twice for the
/// same tail.
#[test]
fn one_loss_probe_per_tail_and_none_in_rto_recovery() {
    let mut h = Harness::established_client(plain_config());
    h.send(&[1u8; 2000]);
    h.take_sent();
    h.advance(ms(10));
    assert_eq!(h.take_sent().len(), 1, "the probe");
    h.advance(ms(190));
    assert_eq!(
        h.take_sent().len(),
        1,
        "then the RTO retransmission at 200 ms"
    );
    assert_eq!(h.conn.stats().rtos, 1);
    h.advance(ms(399));
    h.expect_nothing_sent();
    assert_eq!(h.conn.stats().loss_probes, 1);
}
