//! RFC segment notation: `<SEQ=ISS+1><ACK=IRS+1><CTL=SYN,ACK><MSS=1000>`, parsed into a
//! [`Pattern`] to check a segment against, or built into a [`Segment`] to receive.

use bytes::Bytes;
use tunstack::tcp::{Ctl, Options, Segment, SeqNum};

use super::{IRS, ISS};

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
    /// The flags written in `<CTL=...>` without `!`: the segment carries exactly these
    /// (PSH aside: checked only when written, either way).
    pub ctl: Option<Ctl>,
    /// The flags written as `!FLAG` in `<CTL=...>`: the segment must not carry them
    /// (`<CTL=ACK,!PSH>`).
    pub ctl_absent: Ctl,
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
                let flag =
                    |name: &str| Ctl::from_name(name).unwrap_or_else(|| panic!("flag {name}"));
                for name in v.split(',').map(str::trim) {
                    match name.strip_prefix('!') {
                        Some(absent) => p.ctl_absent = p.ctl_absent | flag(absent.trim()),
                        None => p.ctl = Some(p.ctl.unwrap_or(Ctl::NONE) | flag(name)),
                    }
                }
                let both = p.ctl.unwrap_or(Ctl::NONE).bits() & p.ctl_absent.bits();
                assert!(both == 0, "a flag both required and excluded in {s:?}");
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

/// Check `seg` against the fields written in `pat`. PSH is ignored unless written: `PSH`
/// requires it, `!PSH` requires it absent (`<CTL=ACK,!PSH>`); any flag may be negated.
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
    ok &= seg.ctl.bits() & p.ctl_absent.bits() == 0;
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
