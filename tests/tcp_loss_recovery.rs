//! Sending through loss, scenario by scenario in RFC notation: RACK-TLP (RFC 8985), PRR
//! (RFC 6937), byte counting (RFC 3465), DSACK (RFC 2883) and undoing spurious reductions
//! (RFC 3708, RFC 5682 F-RTO, RFC 4015). Segments of 1000 octets; Sn = [ISS+1+1000n,
//! ISS+1001+1000n). The path's round trip is 4 ms (loss probes, at 10 ms, stay out of the
//! way).

mod tcp_common;

use tcp_common::*;
use tunstack::tcp::{Algorithm, Config};
use tunstack::time::Duration;

const RTT: Duration = Duration::from_millis(4);

fn sack_config() -> Config {
    Config {
        sack: true,
        nodelay: true,
        send_buffer: 64 * 1024,
        congestion: Algorithm::NewReno,
        ..plain_config()
    }
}

fn s(n: u32) -> String {
    format!("ISS+{}", 1 + 1000 * n)
}

/// ESTABLISHED over a 4 ms path: the handshake's RTT sample is the path's.
fn established() -> Harness {
    established_sack(true)
}

/// The same with the peer agreeing to SACK or not.
fn established_sack(sack: bool) -> Harness {
    let mut h = Harness::client(sack_config());
    h.expect_sent("<SEQ=ISS><CTL=SYN>");
    h.advance(RTT);
    let sackok = if sack { "<SACKOK>" } else { "" };
    h.receive(&format!(
        "<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><MSS=1000>{sackok}<WND=60000>"
    ));
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.take_events();
    h
}

/// `<ACK=Sn>` with SACK blocks `[(a, b)]` meaning [Sa, Sb).
fn ack(n: u32, blocks: &[(u32, u32)]) -> String {
    let mut out = format!("<SEQ=IRS+1><ACK={}><CTL=ACK><WND=60000>", s(n));
    if !blocks.is_empty() {
        let b: Vec<String> = blocks
            .iter()
            .map(|&(a, b)| format!("{}-{}", s(a), s(b)))
            .collect();
        out += &format!("<SACK={}>", b.join(","));
    }
    out
}

/// Send `n` segments from S`first` and check them.
fn send_segments(h: &mut Harness, first: u32, n: u32) {
    h.send(&vec![7; 1000 * n as usize]);
    for i in first..first + n {
        h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(i)));
    }
    h.expect_nothing_sent();
}

/// RFC 8985 §3.3.2: reordering within the reordering window is tolerated. S2 arrives after
/// S3; the SACK for S3 arms the reordering timer (RACK.rtt + min_RTT/4 after S2 was sent)
/// instead of retransmitting, and S2's ACK before it fires means nothing is resent.
#[test]
fn rfc8985_reordering_within_reo_wnd_is_not_retransmitted() {
    let mut h = established();
    send_segments(&mut h, 0, 6);
    h.advance(RTT);
    h.receive(&ack(2, &[])); // S0, S1: RACK.min_RTT = 4 ms
    h.receive(&ack(2, &[(3, 4)])); // S3 before S2
    h.expect_nothing_sent();
    h.advance(Duration::from_micros(500)); // inside reo_wnd = 1 ms
    h.receive(&ack(4, &[])); // S2 was only late
    h.advance(Duration::from_millis(2));
    h.expect_nothing_sent();
    let st = h.conn.stats();
    assert_eq!((st.retransmits, st.fast_retransmits, st.lost), (0, 0, 0));
}

/// RFC 8985 §6.2 step 5 and §3.3.1: S1 is lost; the SACK of S2 arms the reordering timer,
/// which marks S1 lost and starts recovery (no third duplicate needed). Its retransmission
/// is lost too: once S12, sent after it, is SACKed, RACK marks the retransmission lost and
/// sends it again, without waiting for the RTO.
#[test]
fn rfc8985_detects_a_lost_retransmission_without_an_rto() {
    let mut h = established();
    send_segments(&mut h, 0, 10);
    h.send(&vec![8; 10_000]); // more data waits for the window
    h.advance(RTT);
    h.receive(&ack(1, &[])); // S0; slow start opens room for S10, S11
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(10)));
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(11)));
    h.receive(&ack(1, &[(2, 3)]));
    h.expect_nothing_sent();
    // The reordering window (min_RTT/4 = 1 ms) ends: S1 is lost.
    assert_eq!(h.advance_to_next_timer(), Some(Duration::from_millis(1)));
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(1)));
    assert_eq!(h.conn.stats().fast_retransmits, 1);
    // S3..S11 arrive (all sent before the retransmission): they mark nothing more; PRR
    // lets new data out as they are delivered.
    h.advance(Duration::from_millis(3));
    for n in 4..=12 {
        h.receive(&ack(1, &[(2, n)]));
    }
    let sent = h.take_sent();
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|seg| seg.seq.0 >= ISS.wrapping_add(1 + 12_000)),
        "only new data: {sent:?}"
    );
    assert_eq!(h.conn.stats().retransmits, 1);
    // Later, S12 (sent after the retransmission) is SACKed but S1 is not.
    h.advance(Duration::from_millis(2));
    h.receive(&ack(1, &[(2, 13)]));
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(1)));
    let st = h.conn.stats();
    assert_eq!((st.retransmits, st.rtos), (2, 0));
}

/// RFC 6937 §4 (Figure 1's shape): 20 segments in flight, S0 lost, ssthresh = 10 segments
/// (NewReno). PRR sends one segment for every two delivered: the fast retransmit on the
/// first ACK of recovery, then new data on every other ACK, so the window comes down to
/// ssthresh in step with the ACK clock (no stall, no burst).
#[test]
fn rfc6937_prr_sends_one_segment_per_two_delivered() {
    let mut h = established();
    // Grow cwnd to 20 segments: ten ACKs in slow start.
    send_segments(&mut h, 0, 10);
    h.advance(RTT);
    for n in 1..=10 {
        h.receive(&ack(n, &[]));
    }
    assert_eq!(h.conn.stats().cwnd, 20_000);
    h.take_sent();
    h.send(&vec![1; 40_000]);
    let burst = h.take_sent();
    assert_eq!(burst.len(), 20);
    h.advance(RTT);
    // S10 lost; S11, S12, S13 SACKed one per ACK: at the third, RACK's window is zero and
    // recovery starts with the fast retransmit. While pipe > ssthresh PRR sends one
    // segment per 2000 octets delivered; once pipe is down to ssthresh, one per segment
    // delivered (the slow start reduction bound keeps pipe at ssthresh).
    let mut pattern = Vec::new();
    for n in 12..=29 {
        h.receive(&ack(10, &[(11, n)]));
        pattern.push(h.take_sent().len());
    }
    assert_eq!(h.conn.stats().ssthresh, 10_000);
    assert_eq!(
        pattern,
        [0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1],
        "sends per ACK"
    );
}

/// RFC 3465 §2.2: in slow start cwnd grows by the octets acknowledged, up to L = 2·SMSS
/// per ACK, so a receiver that ACKs every other segment (RFC 9293 MUST-40's delayed ACK,
/// Linux's default) doubles the window per round trip as an ACK-every-segment one does.
#[test]
fn rfc3465_byte_counting_with_an_ack_every_other_segment() {
    let mut h = established();
    send_segments(&mut h, 0, 10);
    h.advance(RTT);
    for n in [2, 4, 6, 8, 10] {
        h.receive(&ack(n, &[]));
    }
    assert_eq!(h.conn.stats().cwnd, 20_000); // not 15 000 (one SMSS per ACK)
    h.send(&vec![1; 30_000]);
    assert_eq!(h.take_sent().len(), 20);
}

/// RFC 2883 §4 / RFC 3708 §3: a fast retransmit proves spurious (S0 was only delayed): the
/// DSACK for it shows every retransmission of the episode was a duplicate, and cwnd and
/// ssthresh return to what they were before the reduction.
#[test]
fn rfc3708_dsack_undoes_a_spurious_fast_retransmit() {
    let mut h = established();
    send_segments(&mut h, 0, 10);
    let before = h.conn.stats();
    h.advance(RTT);
    for n in 2..=4 {
        h.receive(&ack(0, &[(1, n)]));
    }
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(0))); // RACK: three SACKed, window 0
    let reduced = h.conn.stats();
    assert_eq!(reduced.ssthresh, 5000);
    h.receive(&ack(10, &[])); // the original S0 arrives late: everything acknowledged
    h.receive(&ack(10, &[(0, 1)])); // then the peer reports the retransmission's duplicate
    let st = h.conn.stats();
    assert_eq!(st.undos, 1);
    assert_eq!(st.dsacks_received, 1);
    assert_eq!(st.ssthresh, before.ssthresh);
    assert!(st.cwnd >= before.cwnd, "{} < {}", st.cwnd, before.cwnd);
}

/// RFC 5682 §2 F-RTO with the RFC 4015 response: the RTO fires though nothing was lost (the
/// path stalled). S0 is resent; the first ACK advances, so two new segments go out instead
/// of going back N; the next ACK acknowledges data that was never retransmitted: the
/// timeout was spurious, the reduction is undone and nothing else is resent.
#[test]
fn rfc5682_frto_undoes_a_spurious_timeout() {
    frto_undoes_a_spurious_timeout(true);
}

/// F-RTO was written for senders without SACK (RFC 5682 §2); §3's SACK variant is the
/// same here, as the ACKs carry no blocks.
#[test]
fn rfc5682_frto_undoes_a_spurious_timeout_without_sack() {
    frto_undoes_a_spurious_timeout(false);
}

fn frto_undoes_a_spurious_timeout(sack: bool) {
    let mut h = established_sack(sack);
    h.send(&vec![3; 20_000]);
    assert_eq!(h.take_sent().len(), 10); // the initial window
    h.advance_to_next_timer(); // the tail loss probe (RFC 8985 §7.3): new data, S10
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(10)));
    h.advance_to_next_timer(); // the RTO
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(0)));
    h.expect_nothing_sent();
    assert_eq!(h.conn.stats().rtos, 1);
    h.receive(&ack(2, &[])); // the originals' ACKs, late
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(11)));
    h.expect_sent(&format!("<SEQ={}><DATA=1000>", s(12)));
    h.expect_nothing_sent();
    h.receive(&ack(4, &[])); // S2, S3: never retransmitted
    let st = h.conn.stats();
    assert_eq!(st.undos, 1);
    assert_eq!(st.retransmits, 1);
    assert!(st.cwnd >= 10_000, "cwnd restored: {}", st.cwnd);
    // New data follows, no go-back-N of S4..S9.
    let more = h.take_sent();
    assert!(!more.is_empty());
    assert!(
        more.iter()
            .all(|seg| seg.seq.0 >= ISS.wrapping_add(1 + 13_000))
    );
}

/// RFC 2883 §4: a duplicate segment is reported in the first SACK block of the next ACK,
/// once: below RCV.NXT alone; above it, followed by the block that holds it.
#[test]
fn rfc2883_dsack_blocks_for_duplicate_segments() {
    let cfg = Config {
        sack: true,
        ..plain_config()
    };
    let mut h = Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=1000><SACKOK>", cfg);
    h.expect_sent("<CTL=SYN,ACK><SACKOK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.receive_data("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>", &[1; 100]);
    h.advance(Duration::from_millis(50)); // the delayed ACK
    h.expect_sent("<ACK=IRS+101>");
    h.receive_data("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>", &[1; 100]);
    h.expect_sent("<ACK=IRS+101><SACK=IRS+1-IRS+101>");
    h.receive_data("<SEQ=IRS+201><ACK=ISS+1><CTL=ACK>", &[2; 100]); // out of order
    h.expect_sent("<ACK=IRS+101><SACK=IRS+201-IRS+301>");
    h.receive_data("<SEQ=IRS+201><ACK=ISS+1><CTL=ACK>", &[2; 100]); // and again
    h.expect_sent("<ACK=IRS+101><SACK=IRS+201-IRS+301,IRS+201-IRS+301>");
    h.receive_data("<SEQ=IRS+101><ACK=ISS+1><CTL=ACK>", &[3; 100]); // the gap
    h.expect_sent("<ACK=IRS+301>");
    assert_eq!(h.conn.stats().dsacks_sent, 2);
}

/// ESTABLISHED without SACK, with timestamps (RFC 7323): segments of 988 octets (the MSS
/// less the option's 12); the peer's TSval starts at 100.
fn established_ts() -> Harness {
    let cfg = Config {
        sack: false,
        timestamps: true,
        ..sack_config()
    };
    let mut h = Harness::client(cfg);
    let syn = h.expect_sent("<SEQ=ISS><CTL=SYN>");
    let (syn_ts, _) = syn.options.timestamps.expect("SYN carries timestamps");
    h.advance(RTT);
    h.receive(&format!(
        "<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><MSS=1000><WND=60000><TS=100,{syn_ts}>"
    ));
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.take_events();
    h
}

/// RFC 7323 §4.1 RTTM against an echo of an earlier copy. S0 is sent, the RTO resends it
/// (backed off: the next RTO is twice as long); the peer had the original and its ACK was
/// lost, so it answers the duplicate with the original's TSval (§5.3: R2 acknowledges a
/// duplicate before R3 would record its timestamp). That echo measures the RTO, not the
/// path: no RTT sample from it, and SRTT stays the handshake's.
#[test]
fn rfc7323_no_rtt_sample_from_an_echo_older_than_the_retransmission() {
    let mut h = established_ts();
    let srtt = h.conn.stats().srtt;
    h.send(&[1; 988]);
    let original = h.expect_sent("<SEQ=ISS+1><DATA=988>");
    let (tsval, _) = original.options.timestamps.unwrap();
    while h.conn.stats().rtos == 0 {
        h.advance_to_next_timer(); // a loss probe, if one beats the RTO, then the RTO
    }
    let resent = h.take_sent();
    assert!(
        resent
            .last()
            .is_some_and(|s| s.seq.0 == ISS.wrapping_add(1)),
        "the RTO resends S0"
    );
    h.advance(RTT);
    h.receive(&format!(
        "<SEQ=IRS+1><ACK=ISS+989><CTL=ACK><WND=60000><TS=101,{tsval}>"
    ));
    let st = h.conn.stats();
    assert_eq!(st.snd_una.0, ISS.wrapping_add(989), "acknowledged");
    assert_eq!(st.srtt, srtt, "no sample: the echo is of the first copy");
    // The retransmission's own echo is a sample again.
    h.send(&[2; 988]);
    let next = h.expect_sent("<SEQ=ISS+989><DATA=988>");
    let (tsval, _) = next.options.timestamps.unwrap();
    h.advance(RTT * 2);
    h.receive(&format!(
        "<SEQ=IRS+1><ACK=ISS+1977><CTL=ACK><WND=60000><TS=102,{tsval}>"
    ));
    assert_ne!(
        h.conn.stats().srtt,
        srtt,
        "a new segment is timed as before"
    );
}

/// RFC 4015 §2 (with RFC 3522 detection) for a peer without SACK: every fast retransmit is
/// judged on its own. The first one was needed (the ACK echoes the retransmission's
/// timestamp): nothing is undone. The second was spurious (the ACK echoes the original's):
/// undone, which needs the first episode's record forgotten when the second reduced the
/// window.
#[test]
fn rfc4015_eifel_judges_each_fast_retransmit_without_sack() {
    let mut h = established_ts();
    let at = |n: u32| format!("ISS+{}", 1 + 988 * n);
    let mut peer_ts = 100;
    let mut ack_echoing = |h: &mut Harness, n: u32, ecr: u32| {
        peer_ts += 1;
        h.receive(&format!(
            "<SEQ=IRS+1><ACK={}><CTL=ACK><WND=60000><TS={peer_ts},{ecr}>",
            at(n)
        ));
    };
    let tsval = |seg: &tunstack::tcp::Segment| seg.options.timestamps.unwrap().0;

    // Episode 1: S0 lost; its retransmission repairs the hole.
    h.send(&vec![7; 9880]);
    let sent = h.take_sent();
    assert_eq!(sent.len(), 10);
    let original = tsval(&sent[1]);
    h.advance(RTT);
    for _ in 0..3 {
        ack_echoing(&mut h, 0, original);
    }
    let rexmit = h.expect_sent(&format!("<SEQ={}><DATA=988>", at(0)));
    assert!(tsval(&rexmit) > original, "time moved between the two");
    h.advance(RTT);
    ack_echoing(&mut h, 10, tsval(&rexmit));
    assert_eq!(h.conn.stats().undos, 0, "the retransmission was needed");
    let reduced = h.conn.stats().ssthresh;
    h.take_sent();

    // Episode 2, once the window has grown back to four segments: the first of them only
    // delayed; its original arrives after three duplicates.
    h.send(&vec![8; 988 * 20]);
    let mut next = 10;
    let (first, original) = loop {
        let sent = h.take_sent();
        next += sent.len() as u32;
        if sent.len() >= 4 {
            break (next - sent.len() as u32, tsval(&sent[0]));
        }
        h.advance(RTT);
        ack_echoing(
            &mut h,
            next,
            tsval(sent.last().expect("the window lets one out")),
        );
    };
    h.advance(RTT);
    for _ in 0..3 {
        ack_echoing(&mut h, first, original);
    }
    let rexmit = h.expect_sent(&format!("<SEQ={}><DATA=988>", at(first)));
    assert!(tsval(&rexmit) > original);
    ack_echoing(&mut h, next, original);
    let st = h.conn.stats();
    assert_eq!(st.undos, 1, "the second fast retransmit was spurious");
    assert_eq!(
        st.ssthresh, reduced,
        "undone to what held before the second"
    );
}
