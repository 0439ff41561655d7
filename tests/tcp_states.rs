//! One table per state (reached by a real handshake): incoming segment → our reply and the
//! next state. RFC 9293 §3.10.7, RFC 5961.

mod tcp_common;

use tcp_common::*;
use tunstack::tcp::State;

/// Each row: incoming segment, expected immediate reply (or none), next state.
#[track_caller]
fn table(state: State, rows: &[(&str, Option<&str>, State)]) {
    for (incoming, reply, next) in rows {
        let mut h = in_state(state);
        h.receive(incoming);
        if let Some(r) = reply {
            h.expect_sent(r);
        }
        h.expect_nothing_sent();
        assert_eq!(h.state(), *next, "{state} + {incoming}");
    }
}

use State::*;

#[test]
fn syn_sent_table() {
    table(
        SynSent,
        &[
            (
                "<SEQ=IRS><ACK=ISS+1><CTL=SYN,ACK>",
                Some("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>"),
                Established,
            ),
            (
                "<SEQ=IRS><CTL=SYN>",
                Some("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>"),
                SynReceived,
            ),
            (
                "<SEQ=IRS><ACK=ISS+5><CTL=ACK>",
                Some("<SEQ=ISS+5><CTL=RST>"),
                SynSent,
            ),
            (
                "<SEQ=IRS><ACK=ISS><CTL=SYN,ACK>",
                Some("<SEQ=ISS><CTL=RST>"),
                SynSent,
            ),
            ("<SEQ=0><ACK=ISS+1><CTL=RST,ACK>", None, Closed),
            ("<SEQ=0><CTL=RST>", None, SynSent),
            ("<SEQ=IRS><ACK=ISS+9><CTL=RST,ACK>", None, SynSent),
            ("<SEQ=IRS><ACK=ISS+1><CTL=ACK>", None, SynSent),
        ],
    );
}

#[test]
fn syn_received_table() {
    table(
        SynReceived,
        &[
            ("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK>", None, Established),
            (
                "<SEQ=IRS+1><ACK=ISS+7><CTL=ACK>",
                Some("<SEQ=ISS+7><CTL=RST>"),
                SynReceived,
            ),
            (
                "<SEQ=IRS><CTL=SYN>",
                Some("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>"),
                SynReceived,
            ),
            ("<SEQ=IRS+1><CTL=RST>", None, Closed),
            (
                "<SEQ=IRS+100><CTL=RST>",
                Some("<SEQ=ISS><ACK=IRS+1><CTL=SYN,ACK>"),
                SynReceived,
            ),
            ("<SEQ=IRS+1><CTL=SYN>", None, Closed),
            (
                "<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>",
                Some("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>"),
                CloseWait,
            ),
            ("<SEQ=IRS+1><CTL=FIN>", None, SynReceived),
        ],
    );
}

#[test]
fn established_table() {
    let ack = Some("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    table(
        Established,
        &[
            ("<SEQ=IRS+1><CTL=RST>", None, Closed),
            ("<SEQ=IRS+2><CTL=RST>", ack, Established), // RFC 5961 §3.2 challenge ACK
            ("<SEQ=IRS+100000><CTL=RST>", None, Established),
            ("<SEQ=IRS+1><CTL=SYN>", ack, Established), // RFC 5961 §4
            ("<SEQ=IRS+1><ACK=ISS+50><CTL=ACK>", ack, Established),
            (
                "<SEQ=IRS-100><ACK=ISS+1><CTL=ACK><DATA=10>",
                ack,
                Established,
            ),
            ("<SEQ=IRS+1><ACK=ISS-70000><CTL=ACK>", ack, Established), // RFC 5961 §5
            ("<SEQ=IRS+1><CTL=FIN>", None, Established),
            (
                "<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>",
                Some("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>"),
                CloseWait,
            ),
            ("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=5>", None, Established), // delayed ACK
            ("<SEQ=IRS+20><ACK=ISS+1><CTL=ACK><DATA=5>", ack, Established), // out of order
        ],
    );
}

#[test]
fn fin_wait_1_table() {
    let ack2 = Some("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
    table(
        FinWait1,
        &[
            ("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK>", None, FinWait2),
            ("<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>", ack2, Closing),
            ("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>", ack2, TimeWait),
            ("<SEQ=IRS+1><CTL=RST>", None, Closed),
            ("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=5>", None, FinWait1),
        ],
    );
}

#[test]
fn fin_wait_2_table() {
    table(
        FinWait2,
        &[
            (
                "<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>",
                Some("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>"),
                TimeWait,
            ),
            ("<SEQ=IRS+1><CTL=RST>", None, Closed),
            (
                "<SEQ=IRS+1><CTL=SYN>",
                Some("<SEQ=ISS+2><ACK=IRS+1><CTL=ACK>"),
                FinWait2,
            ),
            ("<SEQ=IRS+1><ACK=ISS+2><CTL=ACK><DATA=5>", None, FinWait2),
        ],
    );
}

#[test]
fn close_wait_table() {
    table(
        CloseWait,
        &[
            ("<SEQ=IRS+2><CTL=RST>", None, Closed),
            (
                "<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>",
                Some("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>"),
                CloseWait,
            ),
            ("<SEQ=IRS+2><ACK=ISS+1><CTL=ACK><DATA=5>", None, CloseWait),
            (
                "<SEQ=IRS+2><CTL=SYN>",
                Some("<SEQ=ISS+1><ACK=IRS+2><CTL=ACK>"),
                CloseWait,
            ),
        ],
    );
}

#[test]
fn closing_table() {
    table(
        Closing,
        &[
            ("<SEQ=IRS+2><ACK=ISS+2><CTL=ACK>", None, TimeWait),
            ("<SEQ=IRS+2><ACK=ISS+1><CTL=ACK>", None, Closing),
            ("<SEQ=IRS+2><CTL=RST>", None, Closed),
            (
                "<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>",
                Some("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>"),
                Closing,
            ),
        ],
    );
}

#[test]
fn last_ack_table() {
    table(
        LastAck,
        &[
            ("<SEQ=IRS+2><ACK=ISS+2><CTL=ACK>", None, Closed),
            ("<SEQ=IRS+2><ACK=ISS+1><CTL=ACK>", None, LastAck),
            (
                "<SEQ=IRS+1><ACK=ISS+1><CTL=FIN,ACK>",
                Some("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>"),
                LastAck,
            ),
            ("<SEQ=IRS+2><CTL=RST>", None, Closed),
        ],
    );
}

#[test]
fn time_wait_table() {
    let ack = Some("<SEQ=ISS+2><ACK=IRS+2><CTL=ACK>");
    table(
        TimeWait,
        &[
            ("<SEQ=IRS+1><ACK=ISS+2><CTL=FIN,ACK>", ack, TimeWait),
            ("<SEQ=IRS+2><CTL=RST>", None, Closed),
            ("<SEQ=IRS+2><ACK=ISS+2><CTL=SYN>", ack, TimeWait),
            ("<SEQ=IRS+2><ACK=ISS+2><CTL=ACK>", None, TimeWait),
        ],
    );
}

#[test]
fn closed_table() {
    table(
        Closed,
        &[
            ("<SEQ=IRS+1><ACK=ISS+1><CTL=ACK><DATA=5>", None, Closed),
            ("<SEQ=IRS+1><CTL=SYN>", None, Closed),
            ("<SEQ=IRS+1><CTL=RST>", None, Closed),
        ],
    );
}

/// RFC 5961 §7: challenge ACKs are rate limited per connection.
#[test]
fn challenge_ack_rate_limit() {
    let mut h = in_state(Established);
    for _ in 0..50 {
        h.receive("<SEQ=IRS+2><CTL=RST>");
    }
    assert_eq!(h.take_sent().len(), 10);
    assert_eq!(h.conn.stats().challenge_acks, 10);
    h.advance(tunstack::time::Duration::from_secs(1));
    h.receive("<SEQ=IRS+1><CTL=SYN>");
    h.expect_sent("<SEQ=ISS+1><ACK=IRS+1><CTL=ACK>");
    h.expect_state(Established);
}
