//! RSTs for segments that reach no connection (RFC 9293 §3.10.7.1).

use crate::wire::tcp::{Ctl, Segment};

use super::SeqNum;

/// RFC 9293 §3.10.7.1: the reply to a segment that arrives for no connection (CLOSED).
///
/// A RST is never answered. Otherwise, without ACK: `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`;
/// with ACK: `<SEQ=SEG.ACK><CTL=RST>`. The stack sends it back with the ports swapped.
pub fn reset_for<P: AsRef<[u8]>>(seg: &Segment<P>) -> Option<Segment> {
    if seg.rst() {
        return None;
    }
    Some(if seg.has_ack() {
        Segment {
            seq: seg.ack,
            ctl: Ctl::RST,
            ..Segment::default()
        }
    } else {
        Segment {
            seq: SeqNum(0),
            ack: seg.seq + seg.seg_len(),
            ctl: Ctl::RST | Ctl::ACK,
            ..Segment::default()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn reset_for_strays() {
        let syn = Segment {
            seq: SeqNum(10),
            ctl: Ctl::SYN,
            payload: Bytes::from_static(b"ab"),
            ..Segment::default()
        };
        let r = reset_for(&syn).unwrap();
        assert_eq!(r.to_string(), "<SEQ=0><ACK=13><CTL=RST,ACK><WND=0>");
        let ack: Segment = Segment {
            seq: SeqNum(10),
            ack: SeqNum(77),
            ctl: Ctl::ACK,
            ..Segment::default()
        };
        assert_eq!(
            reset_for(&ack).unwrap().to_string(),
            "<SEQ=77><CTL=RST><WND=0>"
        );
        let rst: Segment = Segment {
            ctl: Ctl::RST,
            ..Segment::default()
        };
        assert!(reset_for(&rst).is_none());
    }
}
