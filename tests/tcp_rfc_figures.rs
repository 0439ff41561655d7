//! RFC 9293 §3.5/§3.6 figures replayed against our engine, from our side.

mod tcp_common;

use tcp_common::*;
use tunstack::tcp::{CloseReason, Event, State, reset_for};
use tunstack::time::Duration;

/// RFC 9293 Figure 6: basic three-way handshake, we are TCP A.
#[test]
fn must_14_figure_6_three_way_handshake_active() {
    let mut h = Harness::client(plain_config());
    h.expect_state(State::SynSent);
    h.expect_sent("<SEQ=ISS><CTL=SYN><MSS=1000>"); // MUST-14: MSS option sent
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK>");
    h.expect_state(State::Established);
    h.expect_event(Event::Connected);
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.send(b"hello world"); // crosses 2^32
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK,PSH><DATA=11>");
}

/// RFC 9293 Figure 6, we are TCP B (passive OPEN via a listener).
#[test]
fn must_11_figure_6_three_way_handshake_passive() {
    let mut h = Harness::server(plain_config());
    h.expect_state(State::SynReceived);
    assert!(h.conn.is_passive()); // MUST-11
    h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK><MSS=1000>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.expect_state(State::Established);
    h.expect_event(Event::Connected);
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=10>");
    assert_eq!(h.read_all(), vec![b'x'; 10]);
}

/// RFC 9293 Figure 7: simultaneous connection synchronization (MUST-10).
#[test]
fn must_10_must_11_figure_7_simultaneous_open() {
    let mut h = Harness::client(plain_config());
    h.expect_sent("<SEQ=ISS><CTL=SYN>");
    h.receive("<SEQ=IRS><CTL=SYN>");
    h.expect_state(State::SynReceived);
    assert!(!h.conn.is_passive()); // MUST-11: active SYN-RECEIVED
    h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>");
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK>");
    h.expect_state(State::Established);
    h.expect_event(Event::Connected);
    h.expect_nothing_sent();
}

/// Figure 7 with two of our connections on a wire.
#[test]
fn must_10_simultaneous_open_between_two_engines() {
    let mut p = Pair::simultaneous(plain_config());
    assert!(p.run_until(Duration::from_secs(10), |p| {
        p.a.state() == State::Established && p.b.state() == State::Established
    }));
    p.a.send(b"ping").unwrap();
    p.run_until(Duration::from_secs(1), |p| p.b.stats().recv_queue == 4);
    let mut buf = [0; 8];
    assert_eq!(p.b.recv(&mut buf), Ok(4));
}

/// RFC 9293 Figure 8: recovery from an old duplicate SYN, we are TCP A.
#[test]
fn figure_8_old_duplicate_syn_active_side() {
    let mut h = Harness::client(plain_config());
    h.expect_sent("<SEQ=ISS><CTL=SYN>");
    // B answered an old duplicate SYN (ISS-10): its ACK does not acknowledge our SYN.
    h.receive("<SEQ=IRS><ACK=ISS-9><CTL=SYN,ACK>");
    h.expect_sent("<SEQ=ISS-9><CTL=RST>");
    h.expect_state(State::SynSent);
    h.receive("<SEQ=IRS+100><ACK=ISS+1><CTL=SYN,ACK>");
    h.expect_state(State::Established);
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+101><CTL=ACK>");
}

/// RFC 9293 Figure 8, we are TCP B: the RST sends the passive SYN-RECEIVED back to LISTEN.
#[test]
fn must_11_figure_8_old_duplicate_syn_passive_side() {
    let mut h = Harness::server_from("<SEQ=IRS-10><CTL=SYN>", plain_config());
    h.expect_sent("<SEQ=ISS><ACK=IRS-9><CTL=SYN,ACK>");
    h.receive("<SEQ=IRS-9><CTL=RST>");
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::ResetInListen));
    h.expect_nothing_sent();
}

/// RFC 9293 Figure 9: half-open connection discovery. We are TCP B (ESTABLISHED); A crashed
/// and sends a fresh SYN outside our window.
#[test]
fn figure_9_half_open_discovery_established_side() {
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS+400000><CTL=SYN>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.expect_state(State::Established);
    // A answers with <SEQ=SEG.ACK><CTL=RST>: exactly RCV.NXT, so we abort.
    h.receive("<SEQ=IRS+1><CTL=RST>");
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Reset));
}

/// RFC 9293 Figure 9, we are TCP A (SYN-SENT) receiving B's ACK for the old connection.
#[test]
fn figure_9_half_open_discovery_syn_sent_side() {
    let mut h = Harness::client(plain_config());
    h.expect_sent("<SEQ=ISS><CTL=SYN>");
    h.receive("<SEQ=300><ACK=100><CTL=ACK>");
    h.expect_sent("<SEQ=100><CTL=RST>");
    h.expect_state(State::SynSent);
}

/// RFC 9293 Figure 10: the crashed side answers data with a RST (the stack's `reset_for`),
/// and the established side aborts (MUST-12: reported as a reset, not a FIN).
#[test]
fn must_12_figure_10_active_side_causes_discovery() {
    let mut h = Harness::established_client(plain_config());
    h.send(b"0123456789");
    let data = h.expect_sent("<SEQ=ISS+1><CTL=ACK,PSH><DATA=10>");
    let rst = reset_for(&data).unwrap();
    assert_matches(&rst, "<SEQ=IRS+1><CTL=RST>");
    h.receive_segment(rst);
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Reset));
    assert!(!h.events.contains(&Event::PeerClosed));
}

/// RFC 9293 Figure 12: normal close sequence, we are TCP A (MUST-13 TIME-WAIT for 2 MSL).
#[test]
fn must_13_figure_12_normal_close_active() {
    let mut h = Harness::established_client(plain_config());
    h.close();
    h.expect_state(State::FinWait1);
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=FIN,ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>");
    h.expect_state(State::FinWait2);
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>");
    h.expect_state(State::TimeWait);
    h.expect_event(Event::PeerClosed);
    h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
    h.advance(Duration::from_secs(60) - Duration::from_micros(1));
    h.expect_state(State::TimeWait);
    h.advance(Duration::from_micros(1));
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Normal));
}

/// RFC 9293 Figure 12, we are TCP B (passive close: CLOSE-WAIT, LAST-ACK).
#[test]
fn figure_12_normal_close_passive() {
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>");
    h.expect_state(State::CloseWait);
    h.expect_event(Event::PeerClosed);
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>");
    let mut buf = [0u8; 4];
    assert_eq!(h.conn.recv(&mut buf), Ok(0)); // end of stream
    h.close();
    h.expect_state(State::LastAck);
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+2><CTL=FIN,ACK>");
    h.receive("<SEQ=IRS+2><ACK=ISS+2><CTL=ACK>");
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Normal));
}

/// RFC 9293 Figure 13: simultaneous close sequence (CLOSING).
#[test]
fn figure_13_simultaneous_close() {
    let mut h = Harness::established_client(plain_config());
    h.close();
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=FIN,ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>");
    h.expect_state(State::Closing);
    h.expect_sent("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
    h.receive("<SEQ=IRS+2><ACK=ISS+2><CTL=ACK>");
    h.expect_state(State::TimeWait);
    h.advance(Duration::from_secs(60));
    h.expect_state(State::Closed);
}

/// Figure 13 between two engines: both end in TIME-WAIT, then CLOSED.
#[test]
fn figure_13_simultaneous_close_between_two_engines() {
    let mut p = Pair::new(plain_config(), Faults::none(), 1);
    assert!(p.run_until(Duration::from_secs(5), |p| p.a.state()
        == State::Established
        && p.b.state() == State::Established));
    p.a.close();
    p.b.close();
    assert!(
        p.run_until(Duration::from_secs(5), |p| p.a.state() == State::TimeWait
            && p.b.state() == State::TimeWait)
    );
    assert!(
        p.run_until(Duration::from_secs(61), |p| p.a.state() == State::Closed
            && p.b.state() == State::Closed)
    );
}

/// Half-close: we closed our side, data keeps flowing towards us in FIN-WAIT-2.
#[test]
fn half_close_with_data_flowing_the_other_way() {
    let mut h = Harness::established_client(plain_config());
    h.close();
    h.expect_sent("<SEQ=ISS+1><CTL=FIN,ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>");
    h.expect_state(State::FinWait2);
    for i in 0..5u32 {
        h.receive(&format!(
            "<SEQ=IRS+{}><ACK=ISS+2><CTL=ACK><DATA=100>",
            1 + 100 * i
        ));
        h.advance(Duration::from_secs(30)); // the FIN-WAIT-2 timeout restarts on input
    }
    assert_eq!(h.read_all().len(), 500);
    h.expect_state(State::FinWait2);
    h.receive("<SEQ=IRS+501><ACK=ISS+2><CTL=FIN,ACK>");
    h.expect_state(State::TimeWait);
}

/// Abort sends <SEQ=SND.NXT><CTL=RST> and reports Aborted.
#[test]
fn abort_sends_rst() {
    let mut h = Harness::established_client(plain_config());
    h.conn.abort();
    h.drain();
    h.expect_sent("<SEQ=ISS+1><CTL=RST>");
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Aborted));
}

/// RFC 9293 §3.6.1: a new SYN with a higher sequence number may reuse a 4-tuple in TIME-WAIT
/// (the stack asks `time_wait_accepts_syn`); an old one may not.
#[test]
fn time_wait_reuse_by_new_syn() {
    let mut h = Harness::established_client(plain_config());
    h.close();
    h.receive("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>");
    h.expect_state(State::TimeWait);
    assert!(
        h.conn
            .time_wait_accepts_syn(&segment("<SEQ=IRS+100000><CTL=SYN>"))
    );
    assert!(
        !h.conn
            .time_wait_accepts_syn(&segment("<SEQ=IRS-5><CTL=SYN>"))
    );
    assert!(
        !h.conn
            .time_wait_accepts_syn(&segment("<SEQ=IRS+100000><ACK=1><CTL=SYN,ACK>"))
    );
}
