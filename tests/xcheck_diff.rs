//! Differential tests (tests/xcheck/script.rs): the same scripted segments, crafted as raw
//! IPv4+TCP packets, go to our stack and to smoltcp, each brought to the same state by a
//! real handshake from the same scripted peer; their replies are compared in RFC notation
//! with sequence numbers relative to each side's ISS (`<SEQ=1>` = target ISS + 1, `<ACK=1>`
//! = peer ISS + 1). Both have a 16 KiB receive buffer and the peer offers only MSS, so even
//! the windows compare.
//!
//! Where the two differ on purpose, the test asserts our RFC behaviour and smoltcp's actual
//! behaviour, and says which clause we follow. The `/// xcheck:` line above each test is its
//! row in docs/xcheck.md (after `|`: the intentional difference).

mod xcheck;

use tunstack::tcp::{Ctl, Options};
use tunstack::time::Duration;
use xcheck::script::{Script, both};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn v(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// The ACK both send for an unacceptable segment once 100 octets were received and read.
const ACK_101: &str = "<SEQ=1><ACK=101><CTL=ACK>";

/// Replies with the window field removed (where the two pick different windows on purpose).
fn no_wnd(replies: &[String]) -> Vec<String> {
    replies
        .iter()
        .map(|r| match r.find("<WND=") {
            Some(i) => {
                let end = i + r[i..].find('>').unwrap() + 1;
                format!("{}{}", &r[..i], &r[end..])
            }
            None => r.clone(),
        })
        .collect()
}

/// ESTABLISHED, then 100 octets from the peer, ACKed and read by the application.
fn with_100_read(s: &mut Script) {
    s.establish();
    let replies = s.send(&s.seg(1, Some(1), Ctl::PSH, 100), ms(100));
    assert_eq!(
        replies,
        v(&["<SEQ=1><ACK=101><CTL=ACK><WND=16284>"]),
        "{}",
        s.target.name()
    );
    assert_eq!(s.target.app_read(), 100);
}

/// xcheck: differential: data entirely beyond the receive window is dropped and ACKed
#[test]
fn diff_out_of_window_data() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        s.establish();
        let far = s.send(&s.seg(1 + 1_000_000, Some(1), Ctl::NONE, 10), ms(1));
        // Just past the right edge (RCV.NXT + RCV.WND).
        let edge = s.send(&s.seg(1 + 16_384, Some(1), Ctl::NONE, 10), ms(1));
        (far, edge, s.target.app_read(), s.target.state())
    });
    let expected = v(&["<SEQ=1><ACK=1><CTL=ACK><WND=16384>"]);
    for r in [&ours, &smol] {
        assert_eq!(
            r.0, expected,
            "immediate ACK, RFC 9293 §3.10.7.4 first check"
        );
        assert_eq!(r.1, expected);
        assert_eq!((r.2, r.3.as_str()), (0, "ESTABLISHED"));
    }
}

/// xcheck: differential: an old duplicate (already received and read) is ACKed at once | after the application reads 100 octets we keep the window's right edge (16284) until it can move by min(RCV.BUFF/2, MSS), smoltcp reopens at once (16384): receiver SWS avoidance, RFC 9293 §3.8.6.2.2
#[test]
fn diff_old_duplicate() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        s.send(&s.seg(1, Some(1), Ctl::PSH, 100), ms(1))
    });
    assert_eq!(no_wnd(&ours), v(&[ACK_101]));
    assert_eq!(no_wnd(&smol), v(&[ACK_101]));
    assert_eq!(ours, v(&["<SEQ=1><ACK=101><CTL=ACK><WND=16284>"]));
    assert_eq!(smol, v(&["<SEQ=1><ACK=101><CTL=ACK><WND=16384>"]));
}

/// xcheck: differential: an ACK of data never sent draws an ACK and is otherwise ignored
#[test]
fn diff_ack_of_unsent_data() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        let r = s.send(&s.seg(101, Some(50), Ctl::NONE, 0), ms(1));
        (no_wnd(&r), s.target.state())
    });
    // RFC 9293 §3.10.7.4 fifth check: "If the ACK acks something not yet sent (SEG.ACK >
    // SND.NXT), then send an ACK, drop the segment, and return."
    assert_eq!(ours, (v(&[ACK_101]), "ESTABLISHED".to_string()));
    assert_eq!(smol, ours);
}

/// xcheck: differential: keepalive probes (SEQ = RCV.NXT − 1, with 0 or 1 octet) are ACKed
#[test]
fn diff_keepalive_probe() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        // Our style (no data) and BSD/smoltcp style (one garbage octet), 2 s apart so that
        // smoltcp's one-per-second challenge-ACK limit (which also paces its probe answers)
        // does not interfere.
        s.wait(ms(2000));
        let empty = no_wnd(&s.send(&s.seg(100, Some(1), Ctl::NONE, 0), ms(1)));
        s.wait(ms(2000));
        let one = no_wnd(&s.send(&s.seg(100, Some(1), Ctl::NONE, 1), ms(1)));
        (empty, one, s.target.app_read(), s.target.state())
    });
    let expected = (v(&[ACK_101]), v(&[ACK_101]), 0, "ESTABLISHED".to_string());
    assert_eq!(ours, expected);
    assert_eq!(smol, expected);
}

/// xcheck: differential: zero window: a window probe is ACKed with WND=0, the window reopens when the application reads | we delay the ACK that closes the window (40 ms), smoltcp ACKs it at once (it ACKs every MSS of data; RFC 9293 §3.8.6.3 allows either)
#[test]
fn diff_window_probe() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        s.establish();
        let mut seq = 1i64;
        let mut last = Vec::new();
        for len in [1460usize; 11].into_iter().chain([324]) {
            last = s.send(&s.seg(seq, Some(1), Ctl::NONE, len), ms(1));
            seq += len as i64;
        }
        let closing = last;
        let later = s.wait(ms(100));
        let probe = s.send(&s.seg(seq, Some(1), Ctl::NONE, 1), ms(1));
        // A zero-length segment at RCV.NXT is acceptable in a zero window: no answer.
        let empty = s.send(&s.seg(seq, Some(1), Ctl::NONE, 0), ms(100));
        let read = s.target.app_read();
        let update = s.wait(ms(1));
        (closing, later, probe, empty, read, update)
    });
    let zero = "<SEQ=1><ACK=16385><CTL=ACK><WND=0>";
    for (name, r) in [("ours", &ours), ("smoltcp", &smol)] {
        assert_eq!(r.2, v(&[zero]), "{name}: the probe is not accepted");
        assert!(r.3.is_empty(), "{name}");
        assert_eq!(r.4, 16_384, "{name}");
        assert_eq!(
            r.5,
            v(&["<SEQ=1><ACK=16385><CTL=ACK><WND=16384>"]),
            "{name}: window update"
        );
    }
    assert_eq!((ours.0.clone(), ours.1.clone()), (vec![], v(&[zero])));
    assert_eq!((smol.0.clone(), smol.1.clone()), (v(&[zero]), vec![]));
}

/// xcheck: differential: RST with SEQ = RCV.NXT closes silently; the next segment draws a RST
#[test]
fn diff_rst_exact() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        let rst = s.send(&s.seg(101, None, Ctl::RST, 0), ms(1));
        let state = s.target.state();
        let after = s.send(&s.seg(101, Some(1), Ctl::NONE, 5), ms(1));
        (rst, state, after)
    });
    let expected = (
        vec![],
        "CLOSED".to_string(),
        v(&["<SEQ=1><CTL=RST><WND=0>"]),
    );
    assert_eq!(ours, expected);
    assert_eq!(smol, expected);
}

/// xcheck: differential: RST inside the window but not at RCV.NXT | we send a challenge ACK and stay ESTABLISHED, smoltcp accepts it and goes CLOSED: RFC 5961 §3.2, RFC 9293 §3.10.7.4 (in-window, inexact RST: challenge ACK)
#[test]
fn diff_rst_in_window() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        let r = s.send(&s.seg(101 + 100, None, Ctl::RST, 0), ms(1));
        (no_wnd(&r), s.target.state())
    });
    assert_eq!(ours, (v(&[ACK_101]), "ESTABLISHED".to_string()));
    assert_eq!(smol, (vec![], "CLOSED".to_string()));
}

/// xcheck: differential: RST outside the window is dropped silently
#[test]
fn diff_rst_out_of_window() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        let before = s.send(&s.seg(100, None, Ctl::RST, 0), ms(1));
        let beyond = s.send(&s.seg(101 + 1_000_000, None, Ctl::RST, 0), ms(1));
        (before, beyond, s.target.state())
    });
    let expected = (vec![], vec![], "ESTABLISHED".to_string());
    assert_eq!(ours, expected);
    assert_eq!(smol, expected);
}

/// xcheck: differential: SYN in ESTABLISHED, in and out of the window | we send a challenge ACK for each, smoltcp drops them silently (both stay ESTABLISHED): RFC 5961 §4.2, RFC 9293 §3.10.7.4 ("If the SYN bit is set, irrespective of the sequence number, TCP endpoints MUST send a challenge ACK")
#[test]
fn diff_syn_in_established() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        let inside = no_wnd(&s.send(&s.seg(150, None, Ctl::SYN, 0), ms(1)));
        s.wait(ms(2000));
        let outside = no_wnd(&s.send(&s.seg(1_000_000, None, Ctl::SYN, 0), ms(1)));
        (inside, outside, s.target.state())
    });
    assert_eq!(
        ours,
        (v(&[ACK_101]), v(&[ACK_101]), "ESTABLISHED".to_string())
    );
    assert_eq!(smol, (vec![], vec![], "ESTABLISHED".to_string()));
}

/// xcheck: differential: FIN retransmitted in TIME-WAIT is re-ACKed and restarts the timer | we wait 2×MSL (2 s here) from the last FIN, smoltcp a fixed 10 s (CLOSE_DELAY): RFC 9293 §3.6.1 (TIME-WAIT lasts 2×MSL); the ACKs differ only in window (ours keeps the right edge after the FIN: 16383)
#[test]
fn diff_fin_retransmitted_in_time_wait() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        s.establish();
        s.target.app_close();
        let fin = s.wait(ms(1));
        let peer_fin = no_wnd(&s.send(&s.seg(1, Some(2), Ctl::FIN, 0), ms(1)));
        let entered = s.target.state();
        s.wait(ms(1500));
        let again = no_wnd(&s.send(&s.seg(1, Some(2), Ctl::FIN, 0), ms(1)));
        // 1.9 s after the retransmitted FIN: still TIME-WAIT (restarted), 2.1 s: ?
        s.wait(ms(1899));
        let at_1_9 = s.target.state();
        s.wait(ms(200));
        let at_2_1 = s.target.state();
        s.wait(ms(7800));
        let at_9_9 = s.target.state();
        s.wait(ms(200));
        let at_10_1 = s.target.state();
        (
            fin,
            peer_fin,
            entered,
            again,
            [at_1_9, at_2_1, at_9_9, at_10_1],
        )
    });
    let fin = v(&["<SEQ=1><ACK=1><CTL=FIN,ACK><WND=16384>"]);
    let ack = v(&["<SEQ=2><ACK=2><CTL=ACK>"]);
    for (name, r) in [("ours", &ours), ("smoltcp", &smol)] {
        assert_eq!(r.0, fin, "{name}");
        assert_eq!(r.1, ack, "{name}");
        assert_eq!(r.2, "TIME-WAIT", "{name}");
        assert_eq!(r.3, ack, "{name}: the retransmitted FIN is re-ACKed");
    }
    assert_eq!(ours.4, ["TIME-WAIT", "CLOSED", "CLOSED", "CLOSED"]);
    assert_eq!(smol.4, ["TIME-WAIT", "TIME-WAIT", "TIME-WAIT", "CLOSED"]);
}

/// xcheck: differential: bursts of SYNs and of ACKs of unsent data in ESTABLISHED draw rate-limited ACKs | we send at most 10 challenge ACKs per second for SYNs (and in-window RSTs) but answer every ACK of unsent data; smoltcp ignores the SYNs and answers one ACK of unsent data per second: RFC 5961 §7 (throttling is a SHOULD, its limit the implementation's)
#[test]
fn diff_challenge_ack_rate_limit() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        with_100_read(s);
        s.wait(ms(2000));
        let syns: usize = (0..20)
            .map(|i| s.send(&s.seg(150 + i, None, Ctl::SYN, 0), ms(1)).len())
            .sum();
        s.wait(ms(2000));
        let acks: usize = (0..20)
            .map(|_| s.send(&s.seg(101, Some(50), Ctl::NONE, 0), ms(1)).len())
            .sum();
        (syns, acks, s.target.state())
    });
    assert_eq!(ours, (10, 20, "ESTABLISHED".to_string()));
    assert_eq!(smol, (0, 1, "ESTABLISHED".to_string()));
}

/// xcheck: differential: the target sends; the peer's window is 1000 octets; three duplicate ACKs, then the window closes and reopens | smoltcp's fast retransmit ignores the window (1001 octets and FIN into a 1000-octet window) and, once the window reopens, never sends the last octet and FIN again (its zero-window-probe timer is stopped into idle): a smoltcp 0.14 bug; we stay inside SND.UNA + SND.WND (RFC 9293 §3.8.6, §3.3.1) and send the rest as soon as the window reopens
#[test]
fn diff_fast_retransmit_within_window() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        let mut syn = s.seg(0, None, Ctl::SYN, 0);
        syn.wnd = 1000;
        syn.options = Options {
            mss: Some(1460),
            ..Options::default()
        };
        s.send(&syn, ms(1));
        let mut ack = s.seg(1, Some(1), Ctl::NONE, 0);
        ack.wnd = 1000;
        s.send(&ack, ms(1));
        assert_eq!(s.target.app_send(&[7u8; 1001]), 1001);
        s.target.app_close();
        let first = s.wait(ms(1));
        let dups: Vec<String> = (0..3).flat_map(|_| s.send(&ack, ms(1))).collect();
        // The peer takes the 1000 octets in its window, then reads them.
        let mut took = s.seg(1, Some(1001), Ctl::NONE, 0);
        took.wnd = 0;
        let at_zero = s.send(&took, ms(1));
        took.wnd = 1000;
        let reopened = s.send(&took, ms(1));
        let minute = s.wait(Duration::from_secs(60));
        (
            first,
            dups,
            at_zero,
            reopened,
            minute.len(),
            s.target.state(),
        )
    });
    let first = v(&["<SEQ=1><ACK=1><CTL=ACK><WND=16384><DATA=1000>"]);
    assert_eq!(ours.0, first);
    assert_eq!(smol.0, first);
    assert_eq!(ours.1, first, "ours: the fast retransmit fits the window");
    assert_eq!(
        smol.1,
        v(&["<SEQ=1><ACK=1><CTL=FIN,ACK><WND=16384><DATA=1001>"]),
        "smoltcp: 1001 octets and FIN into a 1000-octet window"
    );
    assert!(ours.2.is_empty() && smol.2.is_empty());
    assert_eq!(
        ours.3,
        v(&["<SEQ=1001><ACK=1><CTL=FIN,ACK,PSH><WND=16384><DATA=1>"])
    );
    assert!(smol.3.is_empty());
    assert!(ours.4 > 0, "ours retransmits the last octet and FIN");
    assert_eq!(smol.4, 0, "smoltcp is silent for a minute");
    assert_eq!(ours.5, "FIN-WAIT-1");
    assert_eq!(smol.5, "FIN-WAIT-1");
}

/// The peer's SYN with MSS only.
fn syn(s: &Script) -> tunstack::tcp::Segment {
    let mut syn = s.seg(0, None, Ctl::SYN, 0);
    syn.options = Options {
        mss: Some(1460),
        ..Options::default()
    };
    syn
}

/// xcheck: differential: a segment with ACK for a listening port draws <SEQ=SEG.ACK><CTL=RST>
#[test]
fn diff_ack_to_listener() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        let r = s.send(&s.seg(5, Some(77), Ctl::NONE, 0), ms(1));
        (r, s.target.state())
    });
    // RFC 9293 §3.10.7.2 (LISTEN): "Any acknowledgment is bad if it arrives on a connection
    // still in the LISTEN state. An acceptable reset segment should be formed".
    let expected = (v(&["<SEQ=77><CTL=RST><WND=0>"]), "LISTEN".to_string());
    assert_eq!(ours, expected);
    assert_eq!(smol, expected);
}

/// xcheck: differential: SYN-RECEIVED: an unacceptable ACK draws a RST, a RST returns to LISTEN, a new SYN is answered
#[test]
fn diff_syn_received_bad_ack_and_rst() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        let synack = s.send(&syn(s), ms(1));
        let bad = s.send(&s.seg(1, Some(77), Ctl::NONE, 0), ms(1));
        let after_bad = s.target.state();
        let rst = s.send(&s.seg(1, None, Ctl::RST, 0), ms(1));
        let after_rst = s.target.state();
        let stray = s.send(&s.seg(1, Some(1), Ctl::NONE, 0), ms(1));
        let again = s.send(&syn(s), ms(1));
        let ack = s.send(&s.seg(1, Some(1), Ctl::NONE, 0), ms(1));
        (
            synack,
            bad,
            after_bad,
            rst,
            after_rst,
            stray,
            again,
            ack,
            s.target.state(),
        )
    });
    let synack = v(&["<SEQ=0><ACK=1><CTL=SYN,ACK><WND=16384>"]);
    // RFC 9293 §3.10.7.4 SYN-RECEIVED: a bad ACK draws <SEQ=SEG.ACK><CTL=RST>; a RST on a
    // passive open returns to LISTEN (MUST remember the passive origin, §3.5).
    let expected = (
        synack.clone(),
        v(&["<SEQ=77><CTL=RST><WND=0>"]),
        "SYN-RECEIVED".to_string(),
        vec![],
        "LISTEN".to_string(),
        v(&["<SEQ=1><CTL=RST><WND=0>"]),
        synack,
        vec![],
        "ESTABLISHED".to_string(),
    );
    assert_eq!(ours, expected);
    assert_eq!(smol, expected);
}

/// xcheck: differential: out-of-order data and a FIN beyond a gap, then the gap filled, then the FIN again | we keep the out-of-order FIN and take it when the gap fills (CLOSE-WAIT at once), smoltcp drops a FIN beyond a gap and takes it only when it is sent again: both allowed by RFC 9293 §3.10.7.4 (segments beyond RCV.NXT may be held for later processing)
#[test]
fn diff_out_of_order_data_and_fin() {
    let _outcome = xcheck::outcome();
    let ((ours, _), (smol, _)) = both(|s| {
        s.establish();
        let ooo = s.send(&s.seg(101, Some(1), Ctl::NONE, 100), ms(1));
        let ooo_fin = s.send(&s.seg(201, Some(1), Ctl::FIN, 50), ms(1));
        let fill = no_wnd(&s.send(&s.seg(1, Some(1), Ctl::NONE, 100), ms(1)));
        let after_fill = s.target.state();
        let fin_again = no_wnd(&s.send(&s.seg(251, Some(1), Ctl::FIN, 0), ms(1)));
        let fin_again_40ms = no_wnd(&s.wait(ms(40)));
        (
            ooo,
            ooo_fin,
            fill,
            after_fill,
            fin_again,
            fin_again_40ms,
            s.target.app_read(),
            s.target.state(),
        )
    });
    // Out-of-order data draws an immediate duplicate ACK (RFC 9293 §3.8.6.3, RFC 5681 §4.2).
    let dup = v(&["<SEQ=1><ACK=1><CTL=ACK><WND=16384>"]);
    for r in [&ours, &smol] {
        assert_eq!((&r.0, &r.1), (&dup, &dup));
        assert_eq!(r.6, 250);
        assert_eq!(r.7, "CLOSE-WAIT");
    }
    let ack_fin = v(&["<SEQ=1><ACK=252><CTL=ACK>"]);
    assert_eq!(ours.2, ack_fin);
    assert_eq!(ours.3, "CLOSE-WAIT");
    // For us the FIN sent again is old: re-ACKed at once. For smoltcp it is the first FIN it
    // takes: ACKed by its delayed-ACK timer (10 ms).
    assert_eq!((ours.4.clone(), ours.5.clone()), (ack_fin.clone(), vec![]));
    assert_eq!(smol.2, v(&["<SEQ=1><ACK=251><CTL=ACK>"]));
    assert_eq!(smol.3, "ESTABLISHED");
    assert_eq!((smol.4.clone(), smol.5.clone()), (vec![], ack_fin));
}
