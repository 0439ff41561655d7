//! Features one at a time: MSS, options negotiation, Nagle, SWS avoidance, PSH, urgent data,
//! zero windows, ICMP soft errors, fast retransmit, bounded buffers.

mod tcp_common;

use tcp_common::*;
use tunstack::tcp::{CloseReason, Config, Connection, Event, IcmpError, SeqNum, State, reset_for};
use tunstack::time::Duration;
use tunstack::wire::tcp::Ctl;

fn nodelay() -> Config {
    Config {
        nodelay: true,
        ..plain_config()
    }
}

#[test]
fn must_14_must_67_mss_option_advertised_from_config() {
    let mut h = Harness::client(Config {
        mss: 1400,
        ..plain_config()
    });
    h.expect_sent("<SEQ=ISS><CTL=SYN><MSS=1400>");
    let mut s = Harness::server(Config {
        mss: 8960, // a 9000-octet MTU
        ..plain_config()
    });
    s.expect_sent("<CTL=SYN,ACK><MSS=8960>");
}

/// MUST-15: without the option the send MSS is 536; MUST-16: never above ours.
#[test]
fn must_15_must_16_effective_send_mss() {
    let mut h = Harness::server_from("<SEQ=IRS><CTL=SYN>", nodelay());
    h.expect_sent("<CTL=SYN,ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.send(&[1; 1200]);
    let lens: Vec<usize> = h.take_sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [536, 536, 128]);

    let mut h = Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=9000>", nodelay());
    h.expect_sent("<CTL=SYN,ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.send(&[1; 2500]);
    let lens: Vec<usize> = h.take_sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [1000, 1000, 500]); // our own MSS (1000) caps it
}

/// MUST-17: Nagle holds small segments while data is unacknowledged, unless disabled.
#[test]
fn must_17_nagle_and_nodelay() {
    let mut h = Harness::established_client(plain_config());
    h.send(b"0123456789");
    h.expect_sent("<SEQ=ISS+1><DATA=10>");
    h.send(b"abc");
    h.expect_nothing_sent(); // held: data outstanding
    h.send(b"def");
    h.expect_nothing_sent();
    h.receive("<SEQ=IRS+1><ACK=ISS+11><CTL=ACK>");
    h.expect_sent("<SEQ=ISS+11><DATA=6>");

    let mut h = Harness::established_client(plain_config());
    h.conn.set_nodelay(true);
    h.send(b"0123456789");
    h.expect_sent("<SEQ=ISS+1><DATA=10>");
    h.send(b"abc");
    h.expect_sent("<SEQ=ISS+11><DATA=3>");
}

/// MUST-17 with Minshall's refinement (as Linux): Nagle holds a short segment only while
/// another *short* segment is unacknowledged. The short tail of a write goes with the full
/// segments before it (instead of waiting a round trip, or a delayed ACK, for them); a
/// second short segment waits for the first one's ACK, so at most one is in flight.
#[test]
fn must_17_nagle_holds_a_short_segment_only_behind_another() {
    let mut h = Harness::established_client(plain_config());
    h.send(&[1; 2500]);
    h.expect_sent("<SEQ=ISS+1><DATA=1000>");
    h.expect_sent("<SEQ=ISS+1001><DATA=1000>");
    h.expect_sent("<SEQ=ISS+2001><CTL=ACK,PSH><DATA=500>"); // full ones outstanding only
    h.send(b"abc");
    h.expect_nothing_sent(); // a short segment (the 500) is unacknowledged
    h.receive("<SEQ=IRS+1><ACK=ISS+2001><CTL=ACK>");
    h.expect_nothing_sent(); // still: the ACK does not cover it
    h.receive("<SEQ=IRS+1><ACK=ISS+2501><CTL=ACK>");
    h.expect_sent("<SEQ=ISS+2501><DATA=3>");
    // Full segments are never held, short one outstanding or not.
    h.send(&[2; 1000]);
    h.expect_sent("<SEQ=ISS+2504><DATA=1000>");
}

/// MUST-1: SEG.WND is an unsigned 16-bit number. Windows of 40000 and 65535 (negative when
/// read as signed, near 2^32 when sign-extended) are used as they are, by the sender up to
/// the octet, whichever segment carried them: the SYN-ACK of an active open, the ACK that
/// completes a passive one, the SYN-ACK of a simultaneous open, and later ACKs. We advertise
/// such windows as they are too. A 9000-octet MSS makes the initial cwnd (10 SMSS) larger
/// than either window, so only the peer's window limits the sender.
#[test]
fn must_1_window_is_unsigned() {
    for wnd in [40_000u32, 65_535] {
        let cfg = Config {
            mss: 9000,
            nodelay: true,
            send_buffer: 128 * 1024,
            recv_buffer: wnd as usize,
            recv_buffer_max: wnd as usize,
            ..plain_config()
        };
        // Active open: the window arrives on the SYN-ACK.
        let mut h = Harness::client(cfg.clone());
        h.expect_sent(&format!("<SEQ=ISS><CTL=SYN><MSS=9000><WND={wnd}>"));
        h.receive(&format!(
            "<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><MSS=9000><WND={wnd}>"
        ));
        h.expect_sent(&format!("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK><WND={wnd}>"));
        sender_fills_exactly(&mut h, wnd);
        // Passive open: on the ACK of our SYN-ACK.
        let mut h = Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=9000><WND=100>", cfg.clone());
        h.expect_sent(&format!("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK><WND={wnd}>"));
        h.receive(&format!("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND={wnd}>"));
        sender_fills_exactly(&mut h, wnd);
        // Simultaneous open: on the peer's SYN-ACK in SYN-RECEIVED.
        let mut h = Harness::client(cfg);
        h.expect_sent("<SEQ=ISS><CTL=SYN>");
        h.receive("<SEQ=IRS><CTL=SYN><MSS=9000><WND=100>");
        h.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>");
        h.receive(&format!(
            "<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><MSS=9000><WND={wnd}>"
        ));
        h.expect_state(State::Established);
        h.take_sent();
        sender_fills_exactly(&mut h, wnd);
    }
}

/// In ESTABLISHED with SND.UNA = ISS+1 and SND.WND = `wnd`: the sender sends exactly `wnd`
/// octets and not one beyond the right edge, before and after the edge slides with SEG.ACK.
#[track_caller]
fn sender_fills_exactly(h: &mut Harness, wnd: u32) {
    h.expect_state(State::Established);
    assert_eq!(h.conn.stats().snd_wnd, wnd);
    h.send(&vec![1; wnd as usize]);
    let sent: usize = h.take_sent().iter().map(|s| s.payload.len()).sum();
    assert_eq!(sent, wnd as usize, "window {wnd}");
    h.send(&[2]);
    h.expect_nothing_sent(); // SND.UNA + SND.WND reached
    // The first 9000 octets acknowledged, the same window: 9000 octets of room.
    h.receive(&format!("<SEQ=IRS+1><ACK=ISS+9001><CTL=ACK><WND={wnd}>"));
    h.expect_sent(&format!("<SEQ=ISS+{}><DATA=1>", 1 + wnd));
    h.send(&[3; 8999]);
    h.expect_sent(&format!("<SEQ=ISS+{}><DATA=8999>", 2 + wnd));
    h.send(&[4]);
    h.expect_nothing_sent();
    assert_eq!(h.conn.stats().snd_wnd, wnd);
}

/// MUST-60/MUST-61: PSH only on the segment that empties the send buffer.
#[test]
fn must_60_must_61_psh_on_last_segment() {
    let mut h = Harness::established_client(nodelay());
    h.send(&[7; 2500]);
    h.expect_sent("<SEQ=ISS+1><CTL=ACK,!PSH><DATA=1000>");
    h.expect_sent("<SEQ=ISS+1001><CTL=ACK,!PSH><DATA=1000>");
    h.expect_sent("<SEQ=ISS+2001><CTL=ACK,PSH><DATA=500>");
}

/// MUST-60/MUST-61 over several writes: each write's last segment carries PSH and no other
/// does; data Nagle holds back is sent once the ACK comes (never buffered indefinitely) and
/// carries PSH as the last buffered segment; received data without PSH is readable at once.
#[test]
fn must_60_must_61_psh_ends_each_write_and_nothing_waits_for_it() {
    let mut h = Harness::established_client(nodelay());
    h.send(&[1; 1500]);
    h.expect_sent("<SEQ=ISS+1><CTL=ACK,!PSH><DATA=1000>");
    h.expect_sent("<SEQ=ISS+1001><CTL=ACK,PSH><DATA=500>");
    h.send(&[2; 2000]);
    h.expect_sent("<SEQ=ISS+1501><CTL=ACK,!PSH><DATA=1000>");
    h.expect_sent("<SEQ=ISS+2501><CTL=ACK,PSH><DATA=1000>");
    h.send(&[3; 10]);
    h.expect_sent("<SEQ=ISS+3501><CTL=ACK,PSH><DATA=10>");
    h.expect_nothing_sent();

    // With Nagle: the full segment goes at once without PSH, the 500-octet rest waits for
    // the ACK of what is outstanding and then goes with PSH.
    let mut h = Harness::established_client(plain_config());
    h.send(&[4; 10]);
    h.expect_sent("<SEQ=ISS+1><CTL=ACK,PSH><DATA=10>");
    h.send(&[5; 1500]);
    h.expect_sent("<SEQ=ISS+11><CTL=ACK,!PSH><DATA=1000>");
    h.expect_nothing_sent();
    h.receive("<SEQ=IRS+1><ACK=ISS+1011><CTL=ACK>");
    h.expect_sent("<SEQ=ISS+1011><CTL=ACK,PSH><DATA=500>");

    // Receiving: a segment without PSH is delivered to the user at once.
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=10>");
    h.expect_event(Event::Readable);
    assert_eq!(h.read_all(), vec![b'x'; 10]);
}

/// The notation checks PSH only when written, either way: `PSH` requires it, `!PSH` requires
/// it absent, and without either a segment matches with or without it.
#[test]
fn notation_checks_psh_either_way_when_written() {
    let with = segment("<SEQ=1><ACK=2><CTL=ACK,PSH><DATA=3>");
    let without = segment("<SEQ=1><ACK=2><CTL=ACK><DATA=3>");
    let matches = |seg: &tunstack::tcp::Segment, pat: &str| {
        let (seg, pat) = (seg.clone(), pat.to_string());
        std::panic::catch_unwind(move || assert_matches(&seg, &pat)).is_ok()
    };
    assert!(matches(&with, "<CTL=ACK,PSH>") && !matches(&without, "<CTL=ACK,PSH>"));
    assert!(matches(&without, "<CTL=ACK,!PSH>") && !matches(&with, "<CTL=ACK,!PSH>"));
    assert!(matches(&with, "<CTL=ACK>") && matches(&without, "<CTL=ACK>"));
    assert!(!matches(&with, "<CTL=!PSH>") && matches(&without, "<CTL=!URG>"));
}

/// MUST-38: the sender does not send a small segment into a small window until the SWS
/// override (persist) timer fires.
#[test]
fn must_38_sender_sws_avoidance() {
    let mut h = Harness::client(plain_config());
    h.expect_sent("<CTL=SYN>");
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><WND=2000>");
    h.expect_sent("<CTL=ACK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=300>");
    h.send(&[1; 1000]);
    h.expect_nothing_sent(); // 300 < min(MSS, max window / 2)
    h.advance_to_next_timer();
    h.expect_sent("<SEQ=ISS+1><DATA=300>");
}

/// MUST-39: the receiver opens its window only in steps of min(buffer/2, MSS).
#[test]
fn must_39_receiver_sws_avoidance() {
    let mut h = Harness::established_server(plain_config());
    let mut seq = 1;
    while seq <= 8192 {
        let n = 1000.min(8193 - seq);
        h.receive(&format!("<SEQ=IRS+{seq}><ACK=ISS+1><CTL=ACK><DATA={n}>"));
        seq += n;
    }
    h.advance(Duration::from_millis(40));
    let last = h.take_sent().pop().unwrap();
    assert_matches(&last, "<ACK=IRS+8193><WND=0>");
    let mut buf = [0u8; 100];
    assert_eq!(h.conn.recv(&mut buf), Ok(100));
    h.drain();
    h.expect_nothing_sent(); // 100 octets free: no window update
    let mut buf = [0u8; 4000];
    assert_eq!(h.conn.recv(&mut buf), Ok(4000));
    h.drain();
    h.expect_sent("<ACK=IRS+8193><WND=4100>");
    // A probe of the peer gets the true (SWS-limited) window.
    h.receive("<SEQ=IRS+8192><ACK=ISS+1><CTL=ACK>");
    h.expect_sent("<ACK=IRS+8193><WND=4100>");
}

/// MUST-39 by the advertised window (RFC 9293 §3.8.6.2.2): as the user reads, the right
/// edge does not move until it can move by min(RCV.BUFF / 2, Eff.snd.MSS), and every ACK
/// in between (here answers to the peer's probes) advertises the old edge. With an 8192-octet
/// buffer and MSS 1000 the step is 1000 (the MSS); with a 1500-octet buffer it is 750 (half
/// the buffer). Auto-tuning is off so RCV.BUFF stays what it is.
#[test]
fn must_39_advertised_window_opens_only_in_steps_of_min_half_buffer_and_mss() {
    for (buffer, step) in [(8192u32, 1000u32), (1500, 750)] {
        let mut h = Harness::established_server(Config {
            recv_buffer: buffer as usize,
            recv_buffer_max: buffer as usize,
            ..plain_config()
        });
        // Fill the window; the last ACK shows it closed.
        let mut seq = 1;
        while seq <= buffer {
            let n = 1000.min(buffer + 1 - seq);
            h.receive(&format!("<SEQ=IRS+{seq}><ACK=ISS+1><CTL=ACK><DATA={n}>"));
            seq += n;
        }
        h.advance(Duration::from_millis(40));
        let last = h.take_sent().pop().unwrap();
        assert_matches(&last, &format!("<ACK=IRS+{}><WND=0>", buffer + 1));
        let probe = format!("<SEQ=IRS+{buffer}><ACK=ISS+1><CTL=ACK>");
        let ack = |wnd: u32| format!("<SEQ=ISS+1><ACK=IRS+{}><CTL=ACK><WND={wnd}>", buffer + 1);
        let read = |h: &mut Harness, n: usize| {
            let mut buf = vec![0u8; n];
            assert_eq!(h.conn.recv(&mut buf), Ok(n));
            h.drain();
        };
        // One octet short of a step: no update, and a probe is told the window is still 0.
        read(&mut h, step as usize - 1);
        h.expect_nothing_sent();
        h.receive(&probe);
        h.expect_sent(&ack(0));
        // The step completed: the window update advertises exactly one step.
        read(&mut h, 1);
        h.expect_sent(&ack(step));
        // Half a step more: the edge stays where it was advertised.
        read(&mut h, step as usize / 2);
        h.expect_nothing_sent();
        h.receive(&probe);
        h.expect_sent(&ack(step));
        // The rest of the second step: the edge moves by two steps in all (in a window
        // update of its own when the window was below half the buffer, else in the next ACK).
        read(&mut h, (step - step / 2) as usize);
        for update in h.take_sent() {
            assert_matches(&update, &ack(2 * step));
        }
        h.receive(&probe);
        h.expect_sent(&ack(2 * step));
    }
}

/// MUST-30/31/62: urgent data of any length; SEG.UP points after the last urgent octet.
#[test]
fn must_30_31_62_sending_urgent_data() {
    let mut h = Harness::established_client(nodelay());
    assert_eq!(h.conn.send_urgent(&[9; 2500]), Ok(2500));
    h.drain();
    h.expect_sent("<SEQ=ISS+1><CTL=ACK,URG><UP=2500><DATA=1000>");
    h.expect_sent("<SEQ=ISS+1001><CTL=ACK,URG><UP=1500><DATA=1000>");
    h.expect_sent("<SEQ=ISS+2001><CTL=ACK,URG,PSH><UP=500><DATA=500>");
    h.receive("<SEQ=IRS+1><ACK=ISS+2501><CTL=ACK>");
    h.send(b"normal");
    h.expect_sent("<SEQ=ISS+2501><CTL=ACK,PSH><DATA=6>");
}

/// MUST-32/33: the user is told about urgent data and can learn how much remains.
#[test]
fn must_32_33_receiving_urgent_data() {
    let mut h = Harness::established_server(plain_config());
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK,URG><UP=5><DATA=10>");
    h.expect_event(Event::Urgent);
    assert_eq!(h.conn.urgent_remaining(), 5);
    let mut buf = [0u8; 3];
    assert_eq!(h.conn.recv(&mut buf), Ok(3));
    assert_eq!(h.conn.urgent_remaining(), 2);
    let mut buf = [0u8; 10];
    assert_eq!(h.conn.recv(&mut buf), Ok(7));
    assert_eq!(h.conn.urgent_remaining(), 0);
}

/// Fill our 8192-octet window so it is zero.
fn zero_window_server() -> Harness {
    let mut h = Harness::established_server(plain_config());
    let mut seq = 1;
    while seq <= 8192 {
        let n = 1000.min(8193 - seq);
        h.receive(&format!("<SEQ=IRS+{seq}><ACK=ISS+1><CTL=ACK><DATA={n}>"));
        seq += n;
    }
    h.take_sent();
    h.events.clear();
    h
}

/// MUST-66: RST and URG are processed even with a zero receive window.
#[test]
fn must_66_rst_and_urg_with_zero_window() {
    let mut h = zero_window_server();
    assert_eq!(h.conn.stats().rcv_wnd, 0);
    h.receive("<SEQ=IRS+8193><ACK=ISS+1><CTL=ACK,URG><UP=3><DATA=10>");
    h.expect_event(Event::Urgent);
    h.expect_sent("<ACK=IRS+8193><WND=0>"); // the data itself did not fit
    h.receive("<SEQ=IRS+8193><CTL=RST>");
    h.expect_state(State::Closed);
    h.expect_event(Event::Closed(CloseReason::Reset));
}

/// MUST-34: a window that shrinks under outstanding data does not break the sender.
#[test]
fn must_34_window_shrinking() {
    let mut h = Harness::established_client(nodelay());
    h.send(&[1; 3000]);
    assert_eq!(h.take_sent().len(), 3);
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=1000>"); // right edge moved left
    h.send(&[2; 100]);
    h.expect_nothing_sent();
    h.receive("<SEQ=IRS+1><ACK=ISS+3001><CTL=ACK><WND=1000>");
    h.expect_sent("<SEQ=ISS+3001><DATA=100>");
    assert!(h.conn.stats().snd_una == SeqNum(ISS).wrapping_add_for_test(3001));
}

/// RFC 9293 §3.10.7.4 fifth, with Linux's refinement (tcp_may_update_window): an ACK of new
/// data updates the window even when its SEQ lies below SND.WL1. A peer that rewound its
/// SND.NXT after a timeout sends such ACKs; with the RFC's test alone the stale window would
/// move on with SND.UNA and we would send past the peer's right edge.
#[test]
fn an_ack_of_new_data_updates_the_window_below_wl1() {
    let mut h = Harness::established_client(plain_config());
    // The peer's out-of-order data moves SND.WL1 up to its SEQ.
    h.receive("<SEQ=IRS+501><ACK=ISS+1><CTL=ACK><WND=4000><DATA=100>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.send(&[1; 4000]);
    assert_eq!(h.take_sent().len(), 4);
    // Its ACK of the first segment, sent from below: the window is now 1500, right edge
    // ISS+2501, below SND.NXT.
    h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK><WND=1500>");
    h.send(&[2; 1000]);
    h.expect_nothing_sent();
    h.receive("<SEQ=IRS+1><ACK=ISS+4001><CTL=ACK><WND=1500>");
    h.expect_sent("<SEQ=ISS+4001><DATA=1000>");
    h.expect_nothing_sent();
}

trait SeqExt {
    fn wrapping_add_for_test(self, n: u32) -> SeqNum;
}
impl SeqExt for SeqNum {
    fn wrapping_add_for_test(self, n: u32) -> SeqNum {
        self + n
    }
}

/// MUST-47/54/55/56: soft ICMP errors are reported, never fatal; source quench is ignored.
#[test]
fn must_47_54_55_56_icmp_soft_errors() {
    let mut h = Harness::established_client(plain_config());
    let now = h.now;
    h.conn.handle_icmp_error(now, IcmpError::SourceQuench);
    assert_eq!(h.conn.soft_error(), None);
    for e in [
        IcmpError::DestinationUnreachable { code: 0 },
        IcmpError::DestinationUnreachable { code: 1 },
        IcmpError::DestinationUnreachable { code: 5 },
        IcmpError::TimeExceeded,
        IcmpError::ParameterProblem,
        IcmpError::DestinationUnreachable { code: 3 },
    ] {
        h.conn.handle_icmp_error(now, e);
        h.drain();
        h.expect_event(Event::SoftError(e));
        assert_eq!(h.conn.soft_error(), Some(e));
        h.expect_state(State::Established);
    }
    // While opening, port unreachable is a hard error.
    let mut c = Harness::client(plain_config());
    c.conn
        .handle_icmp_error(c.now, IcmpError::DestinationUnreachable { code: 3 });
    c.drain();
    c.expect_event(Event::Closed(CloseReason::Unreachable));
}

/// Window scale, SACK-permitted and timestamps are used only when the peer offers them.
#[test]
fn options_negotiated_only_when_offered() {
    // We offer everything; the peer offers nothing.
    let mut h = Harness::client(Config::default());
    let syn = h.expect_sent("<SEQ=ISS><CTL=SYN><MSS=1460><SACKOK>");
    assert!(syn.options.window_scale.is_some() && syn.options.timestamps.is_some());
    h.receive("<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK><MSS=1460>");
    let ack = h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    assert_eq!(ack.options.timestamps, None);
    assert_eq!(ack.wnd, 65535); // unscaled window, capped

    // The peer offers everything: we answer in kind.
    let mut s = Harness::server_from(
        "<SEQ=IRS><CTL=SYN><MSS=1460><WS=7><SACKOK><TS=500,0>",
        Config::default(),
    );
    // The scale suits the 4 MiB auto-tuning may grow the receive buffer to.
    let synack = s.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK><SACKOK><WS=7>");
    assert_eq!(synack.options.timestamps.unwrap().1, 500);
    s.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=100><TS=501,1>");
    assert_eq!(s.conn.stats().snd_wnd, 100 << 7); // MUST-1: 32-bit unsigned window
    s.send(b"hi");
    let data = s.expect_sent("<SEQ=ISS+1><DATA=2>");
    assert_eq!(data.options.timestamps.unwrap().1, 501);
    assert_eq!(data.wnd, ((256 * 1024) >> 7) as u16);
    // Our effective MSS leaves room for the timestamps option.
    s.conn.set_nodelay(true);
    s.receive("<SEQ=IRS+1><ACK=ISS+3><CTL=ACK><WND=1000><TS=502,1>");
    s.send(&[0; 3000]);
    assert_eq!(s.expect_sent("<SEQ=ISS+3>").payload.len(), 1448);
}

/// RFC 7323 §1.3 and RFC 2018 §2: an option is used only when both sides want it; a peer
/// that offers window scaling, SACK and timestamps to a host configured without them gets
/// none of them back, and its window is read unscaled.
#[test]
fn options_declined_when_our_config_turns_them_off() {
    let mut s = Harness::server_from(
        "<SEQ=IRS><CTL=SYN><MSS=1460><WS=7><SACKOK><TS=500,0>",
        plain_config(),
    );
    let synack = s.expect_sent("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK><MSS=1000>");
    assert_eq!(synack.options.window_scale, None);
    assert!(!synack.options.sack_permitted);
    assert_eq!(synack.options.timestamps, None);
    s.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=100>");
    assert_eq!(s.conn.stats().snd_wnd, 100); // not 100 << 7
    // Out-of-order data draws a duplicate ACK without SACK blocks.
    s.receive_data("<SEQ=IRS+11><ACK=ISS+1><CTL=ACK>", &[7; 10]);
    let dup = s.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    assert!(dup.options.sack.is_empty());
}

/// RFC 9293 §3.7.1: the send MSS never makes a datagram longer than 65,535 octets, even
/// when both sides announce the largest MSS the option can carry.
#[test]
fn send_mss_fits_the_largest_ipv4_datagram() {
    let config = Config {
        mss: u16::MAX,
        send_buffer: 256 * 1024,
        ..nodelay()
    };
    let mut s = Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=65535>", config);
    s.expect_sent("<CTL=SYN,ACK>");
    s.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><WND=65535>");
    s.send(&[1; 70_000]);
    let first = s.expect_sent("<SEQ=ISS+1>");
    assert_eq!(first.payload.len(), 65535 - 40); // IPv4 and TCP headers
}

/// Every segment that arrives is counted, the SYN that opened a passive connection too.
#[test]
fn segments_in_counts_the_opening_syn() {
    let mut s = Harness::server(plain_config());
    assert_eq!(s.conn.stats().segments_in, 1);
    s.expect_sent("<CTL=SYN,ACK>");
    s.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    assert_eq!(s.conn.stats().segments_in, 2);
}

/// RFC 2018: out-of-order data is reported in SACK blocks once SACK was negotiated.
#[test]
fn sack_blocks_for_out_of_order_data() {
    let cfg = Config {
        timestamps: false,
        ..plain_config()
    };
    let cfg = Config { sack: true, ..cfg };
    let mut h = Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=1000><SACKOK>", cfg);
    h.expect_sent("<CTL=SYN,ACK><SACKOK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.receive("<SEQ=IRS+11><ACK=ISS+1><CTL=ACK><DATA=10>");
    h.expect_sent("<ACK=IRS+1><SACK=IRS+11-IRS+21>");
    h.receive("<SEQ=IRS+31><ACK=ISS+1><CTL=ACK><DATA=10>");
    h.expect_sent("<ACK=IRS+1><SACK=IRS+31-IRS+41,IRS+11-IRS+21>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=10>");
    let ack = h.expect_sent("<ACK=IRS+21><SACK=IRS+31-IRS+41>");
    assert_eq!(ack.options.sack.len(), 1);
}

/// MUST-58/MUST-59: a batch of segments processed before output draws one ACK.
#[test]
fn must_58_must_59_acks_aggregated() {
    let mut h = Harness::established_server(plain_config());
    for i in 0..4u32 {
        let seg = segment(&format!(
            "<SEQ=IRS+{}><ACK=ISS+1><CTL=ACK><DATA=100>",
            1001 + 100 * i
        ));
        h.conn.handle_segment(h.now, &seg); // out of order: each owes an immediate ACK
    }
    h.drain();
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.expect_nothing_sent();
}

/// RFC 5681 §3.2 fast retransmit after three duplicate ACKs, RFC 6582 partial ACK.
#[test]
fn fast_retransmit_and_newreno_partial_ack() {
    let mut h = Harness::established_client(nodelay());
    h.send(&[1; 5000]);
    assert_eq!(h.take_sent().len(), 5);
    h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK>"); // new data acknowledged
    for _ in 0..3 {
        h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK>"); // the duplicates
    }
    h.expect_sent("<SEQ=ISS+1001><DATA=1000>");
    h.expect_nothing_sent();
    h.receive("<SEQ=IRS+1><ACK=ISS+3001><CTL=ACK>"); // partial: 3001 was lost too
    h.expect_sent("<SEQ=ISS+3001><DATA=1000>");
    let st = h.conn.stats();
    assert_eq!((st.fast_retransmits, st.dup_acks, st.rtos), (2, 3, 0));
}

/// The send buffer is bounded: partial writes, then Writable once ACKs free space.
#[test]
fn bounded_send_buffer_and_writable() {
    let mut h = Harness::established_client(nodelay());
    assert_eq!(h.conn.send(&[0; 10_000]), Ok(8192));
    assert_eq!(h.conn.send(&[0; 10]), Ok(0));
    h.drain();
    let n = h.take_sent().len();
    assert_eq!(n, 9);
    h.receive("<SEQ=IRS+1><ACK=ISS+1001><CTL=ACK>");
    h.expect_event(Event::Writable);
    assert_eq!(h.conn.send_capacity(), 1000);
}

/// Writable is owed only to a user whose SEND did not fit: a write taken whole asks for
/// nothing, and no event follows when its data is acknowledged.
#[test]
fn writable_only_after_a_short_send() {
    let mut h = Harness::established_client(nodelay());
    assert_eq!(h.conn.send(&[0; 3000]), Ok(3000));
    h.drain();
    assert_eq!(h.take_sent().len(), 3);
    h.receive("<SEQ=IRS+1><ACK=ISS+3001><CTL=ACK>");
    assert!(!h.take_events().contains(&Event::Writable));
}

/// MUST-30/31: the urgent pointer marks only data the user handed over; a SEND with URGENT
/// that found the buffer full moved nothing and marks nothing (a retransmission carries no
/// URG).
#[test]
fn urgent_send_that_fits_nothing_marks_nothing() {
    let mut h = Harness::established_client(nodelay());
    assert_eq!(h.conn.send(&[0; 8192]), Ok(8192));
    assert_eq!(h.conn.send_urgent(b"!"), Ok(0));
    h.drain();
    assert_eq!(h.take_sent().len(), 9);
    h.advance_to_next_timer(); // a loss probe or the RTO: data sent again
    let again = h.take_sent();
    assert!(!again.is_empty());
    assert!(again.iter().all(|seg| !seg.ctl.contains(Ctl::URG)));
}

/// RFC 9293 §3.10.7.1: a SYN to a port with no listener is refused with RST,ACK.
#[test]
fn reset_for_syn_without_listener() {
    let rst = reset_for(&segment("<SEQ=IRS><CTL=SYN>")).unwrap();
    assert_matches(&rst, "<SEQ=0><ACK=IRS+1><CTL=RST,ACK>");
    // and a client sees it as "connection refused"
    let mut h = Harness::client(plain_config());
    let syn = h.expect_sent("<CTL=SYN>");
    h.receive_segment(reset_for(&syn).unwrap());
    h.expect_event(Event::Closed(CloseReason::Refused));
}

/// send after close is an error; recv after a reset reports it.
#[test]
fn user_call_errors() {
    use tunstack::tcp::ConnectionError;
    let mut h = Harness::established_client(plain_config());
    h.close();
    assert_eq!(h.conn.send(b"x"), Err(ConnectionError::Closing));
    h.receive("<SEQ=IRS+1><CTL=RST>");
    let mut buf = [0u8; 4];
    assert_eq!(
        h.conn.recv(&mut buf),
        Err(ConnectionError::Closed(CloseReason::Reset))
    );
    // RFC 9293 §3.10.2 SEND in CLOSED: the user learns why the connection is gone.
    assert_eq!(
        h.conn.send(b"x"),
        Err(ConnectionError::Closed(CloseReason::Reset))
    );
    // §3.10.2: after CLOSE, SEND is "connection closing", also while CLOSE waits in
    // SYN-RECEIVED for the handshake to end (§3.10.4).
    let mut s = Harness::server(plain_config());
    s.expect_sent("<CTL=SYN,ACK>");
    s.close();
    s.expect_state(State::SynReceived);
    assert_eq!(s.conn.send(b"x"), Err(ConnectionError::Closing));
    let e: std::io::Error = ConnectionError::Closed(CloseReason::Reset).into();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    let _ = Connection::connect; // the API the stack uses
}

/// RFC 1191: a smaller path MTU lowers the send MSS and outstanding data is resent in the
/// smaller size; fragmentation-needed is otherwise a soft error.
#[test]
fn path_mtu_lowers_send_mss() {
    let mut h = Harness::established_client(nodelay());
    h.send(&[5; 2000]);
    assert_eq!(h.take_sent().len(), 2);
    let now = h.now;
    h.conn
        .handle_icmp_error(now, IcmpError::DestinationUnreachable { code: 4 });
    h.expect_state(State::Established);
    h.conn.handle_path_mtu(now, 576);
    h.drain();
    let lens: Vec<usize> = h.take_sent().iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [536, 536, 536, 392]);
}

/// MUST-16: SACK blocks on a data segment come out of the MSS, so segments never exceed
/// what the peer can take.
#[test]
fn must_16_sack_option_counts_against_mss() {
    let cfg = Config {
        sack: true,
        nodelay: true,
        ..plain_config()
    };
    let mut h = Harness::server_from("<SEQ=IRS><CTL=SYN><MSS=1000><SACKOK>", cfg);
    h.expect_sent("<CTL=SYN,ACK><SACKOK>");
    h.receive("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>");
    h.receive("<SEQ=IRS+11><ACK=ISS+1><CTL=ACK><DATA=10>"); // out of order
    h.expect_sent("<ACK=IRS+1><SACK=IRS+11-IRS+21>");
    h.send(&[3; 1500]);
    let first = h.expect_sent("<SEQ=ISS+1><SACK=IRS+11-IRS+21>");
    assert_eq!(first.payload.len(), 1000 - 12);
    assert!(first.wire_len() <= 1000 + 20);
}

/// RFC 7323 §4.1 RTTM: after a retransmission Karn's rule (MUST-18) forbids timing the
/// retransmitted segment, but the ACK's TSecr names the transmission it answers, so the
/// timestamps still give an RTT sample. Without timestamps there is none.
#[test]
fn rfc7323_timestamps_measure_rtt_across_a_retransmission() {
    for timestamps in [true, false] {
        let cfg = Config {
            timestamps,
            ..plain_config()
        };
        let opts = if timestamps { "<TS=100,0>" } else { "" };
        let mut h = Harness::established_client_opts(cfg, opts);
        let before = h.conn.stats().srtt;
        h.send(&[1; 100]);
        h.expect_sent("<SEQ=ISS+1><DATA=100>");
        h.advance_to_next_timer(); // RTO: the segment again
        let again = h.expect_sent("<SEQ=ISS+1><DATA=100>");
        h.advance(Duration::from_millis(80));
        let ack = match again.options.timestamps {
            Some((val, _)) => format!("<SEQ=IRS+1><ACK=ISS+101><CTL=ACK><TS=101,{val}>"),
            None => "<SEQ=IRS+1><ACK=ISS+101><CTL=ACK>".to_string(),
        };
        h.receive(&ack);
        let after = h.conn.stats().srtt;
        if timestamps {
            // SRTT ← 7/8 SRTT + 1/8 × 80 ms, from a handshake sample of 0.
            assert_eq!(after, Some(Duration::from_millis(10)), "{before:?}");
        } else {
            assert_eq!(
                after, before,
                "Karn: no sample from a retransmitted segment"
            );
        }
    }
}
