//! Hostile load in the simulator (issue 14): SYN floods from spoofed sources answered with
//! SYN cookies (RFC 4987), bogus cookie ACKs, half-open connections giving up and evicted,
//! the TCP memory budget under slow readers, and the connection limits. Two of our stacks
//! talk through the simulator (tests/sim); the flood is raw packets put into B.

mod sim;

use etherparse::IpNumber;
use sim::{A, B, Sim};
use std::net::{Ipv4Addr, SocketAddrV4};
use tunstack::link::FaultSpec;
use tunstack::stack::{SocketHandle, StackConfig, TcpLimits};
use tunstack::tcp::{Ctl, Options, Pressure, Segment, SeqNum, State};
use tunstack::time::Duration;
use tunstack::wire::ipv4::{self, Ipv4Out};
use tunstack::wire::{DropReason, PseudoHeader};

/// A spoofed source in 198.18.0.10-250 for the `i`th packet of a flood.
fn spoofed(i: u32) -> (Ipv4Addr, u16) {
    (
        Ipv4Addr::new(198, 18, 0, 10 + (i % 241) as u8),
        1024 + (i / 241 % 60000) as u16,
    )
}

/// An IPv4 packet carrying `seg` from `src`:`sport` to B:`dport`.
fn packet(src: Ipv4Addr, sport: u16, dport: u16, seg: &Segment) -> Vec<u8> {
    let mut tcp = vec![0u8; seg.wire_len()];
    seg.emit(PseudoHeader::tcp(src, B), sport, dport, &mut tcp);
    let out = Ipv4Out {
        src,
        dst: B,
        protocol: IpNumber::TCP,
        ttl: 64,
        dscp: 0,
        ident: 1,
        dont_fragment: false,
    };
    let mut p = vec![0u8; 20 + tcp.len()];
    out.emit_header(tcp.len(), &mut p);
    p[20..].copy_from_slice(&tcp);
    p
}

/// A SYN as Linux sends it: MSS 1460, window scale 7, SACK-permitted and (when `ts`)
/// timestamps.
fn syn(seq: u32, ts: bool) -> Segment {
    Segment {
        seq: SeqNum(seq),
        ctl: Ctl::SYN,
        wnd: 64240,
        options: Options {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: ts.then_some((777_000, 0)),
            ..Options::default()
        },
        ..Segment::default()
    }
}

/// B's segments sent to `dst`, parsed.
fn sent_to(sim: &Sim, dst: Ipv4Addr) -> Vec<Segment> {
    sim.b
        .sent
        .iter()
        .filter_map(|p| {
            let ip = ipv4::parse(p).ok()?;
            (ip.dst() == dst && ip.protocol() == IpNumber::TCP).then(|| {
                Segment::parse(PseudoHeader::tcp(ip.src(), ip.dst()), ip.payload())
                    .unwrap()
                    .2
            })
        })
        .collect()
}

/// `len` octets each way over (c on A, s on B), read as they come; asserts both arrive
/// byte-exact within `limit` of simulated time.
fn exchange(sim: &mut Sim, c: SocketHandle, s: SocketHandle, len: usize, limit: Duration) {
    let a_data: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
    let b_data: Vec<u8> = (0..len).map(|i| (i * 17 % 253) as u8).collect();
    let (mut a_sent, mut b_sent) = (0, 0);
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 65536];
    let done = sim.run_until(limit, |sim| {
        a_sent += sim
            .a
            .stack
            .tcp_mut()
            .send(c, &a_data[a_sent..])
            .unwrap_or(0);
        b_sent += sim
            .b
            .stack
            .tcp_mut()
            .send(s, &b_data[b_sent..])
            .unwrap_or(0);
        while let Ok(n @ 1..) = sim.a.stack.tcp_mut().recv(c, &mut buf) {
            a_got.extend_from_slice(&buf[..n]);
        }
        while let Ok(n @ 1..) = sim.b.stack.tcp_mut().recv(s, &mut buf) {
            b_got.extend_from_slice(&buf[..n]);
        }
        a_got.len() == len && b_got.len() == len
    });
    assert!(done, "A got {} and B {} of {len}", a_got.len(), b_got.len());
    assert!(a_got == b_data && b_got == a_data, "byte-exact both ways");
}

/// Floods B's port 80 with `n` SYNs from spoofed sources (nobody answers them), the
/// `from`th source first.
fn flood(sim: &mut Sim, from: u32, n: u32) {
    let now = sim.now;
    for i in from..from + n {
        let (src, sport) = spoofed(i);
        let p = packet(src, sport, 80, &syn(i.wrapping_mul(2_654_435_761), true));
        sim.b.stack.handle_packet(now, &p);
        // Drain B's answers as the daemon's loop does between batches.
        if i % 64 == 63 {
            sim.settle();
        }
    }
    sim.settle();
}

/// RFC 4987 §3.6: a flood fills the SYN queue (bounded by the backlog) and is then answered
/// with cookies that cost no memory; a real client still connects through a cookie, keeps
/// its window scale (carried in TSval) and moves 1 MiB each way byte-exact.
#[test]
fn syn_flood_gets_cookies_and_a_real_client_connects_through_one() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 8, None, 0).unwrap();
    flood(&mut sim, 0, 8);
    let one_queue = sim.b.stack.tcp().memory().used();
    flood(&mut sim, 8, 5000);
    let tcp = sim.b.stack.tcp();
    assert_eq!(tcp.listeners()[0].syn_received, 8);
    assert_eq!(tcp.len(), 8, "cookies keep no state");
    let c = tcp.counters();
    assert_eq!(c.syn_queue_overflows, 5000);
    assert_eq!(c.syn_cookies_sent, 5000);
    assert_eq!(tcp.memory().used(), one_queue, "cookies cost no memory");

    let (client, server) = sim.connect(B, 80);
    let c = sim.b.stack.tcp().counters();
    assert_eq!((c.syn_cookies_sent, c.syn_cookies_validated), (5001, 1));
    let conn = sim.b.stack.tcp().connection(server).unwrap();
    assert_eq!(conn.state(), State::Established);
    // A advertises a 256 KiB buffer with window scaling: B sees it only if the scale
    // survived the cookie.
    exchange(&mut sim, client, server, 1 << 20, Duration::from_secs(30));
}

/// The cookie SYN-ACK answers a SYN with timestamps with the peer's options in TSval's low
/// bits; without timestamps it offers neither window scaling nor SACK (the cookie cannot
/// carry them), and the connection made from its ACK works with unscaled windows.
#[test]
fn cookie_carries_window_scale_and_sack_only_with_timestamps() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 1, None, 0).unwrap();
    flood(&mut sim, 0, 1);
    sim.b.record = true;
    let peer = Ipv4Addr::new(198, 18, 0, 7);
    let now = sim.now;
    sim.b
        .stack
        .handle_packet(now, &packet(peer, 5000, 80, &syn(100, true)));
    sim.b
        .stack
        .handle_packet(now, &packet(peer, 5001, 80, &syn(200, false)));
    sim.settle();
    let replies = sent_to(&sim, peer);
    assert_eq!(replies.len(), 2);
    let (with_ts, without) = (&replies[0], &replies[1]);
    assert!(with_ts.syn() && with_ts.has_ack());
    assert!(with_ts.options.window_scale.is_some());
    assert!(with_ts.options.sack_permitted);
    let (tsval, tsecr) = with_ts.options.timestamps.expect("timestamps answered");
    assert_eq!(tsecr, 777_000);
    assert_eq!(
        tsval & 0x1f,
        7 | 1 << 4,
        "wscale 7 and SACK in TSval's low bits"
    );
    assert_eq!(without.options.window_scale, None);
    assert!(!without.options.sack_permitted && without.options.timestamps.is_none());
    assert_eq!(without.options.mss, Some(1460));

    // Complete both handshakes by hand: each ACK carries the cookie back.
    for (reply, sport, seq, ts) in [(with_ts, 5000, 101, true), (without, 5001, 201, false)] {
        let ack = Segment {
            seq: SeqNum(seq),
            ack: reply.seq + 1,
            ctl: Ctl::ACK,
            wnd: 1000,
            options: Options {
                timestamps: ts.then(|| (777_100, reply.options.timestamps.unwrap().0)),
                ..Options::default()
            },
            ..Segment::default()
        };
        sim.b
            .stack
            .handle_packet(sim.now, &packet(peer, sport, 80, &ack));
    }
    sim.settle();
    assert_eq!(sim.b.stack.tcp().counters().syn_cookies_validated, 2);
    let tcp = sim.b.stack.tcp_mut();
    let mut wnd = [0; 2];
    while let Some(h) = tcp.accept(80) {
        let conn = tcp.connection(h).unwrap();
        wnd[usize::from(conn.tuple().remote.port() - 5000)] = conn.stats().snd_wnd;
    }
    assert_eq!(wnd[0], 1000 << 7, "the peer's shift came back from TSecr");
    assert_eq!(wnd[1], 1000, "no scaling without timestamps");
}

/// A cookie ACK that already carries data and a FIN makes the connection too (in
/// CLOSE-WAIT), and the data is delivered before the end of stream.
#[test]
fn cookie_ack_with_data_and_fin_delivers_both() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 1, None, 0).unwrap();
    flood(&mut sim, 0, 1);
    sim.b.record = true;
    let peer = Ipv4Addr::new(198, 18, 0, 7);
    let now = sim.now;
    sim.b
        .stack
        .handle_packet(now, &packet(peer, 6000, 80, &syn(300, false)));
    sim.settle();
    let reply = sent_to(&sim, peer).pop().expect("a cookie SYN-ACK");
    let ack = Segment {
        seq: SeqNum(301),
        ack: reply.seq + 1,
        ctl: Ctl::ACK | Ctl::PSH | Ctl::FIN,
        wnd: 1000,
        payload: b"hello".to_vec().into(),
        ..Segment::default()
    };
    sim.b
        .stack
        .handle_packet(sim.now, &packet(peer, 6000, 80, &ack));
    sim.settle();
    assert_eq!(sim.b.stack.tcp().counters().syn_cookies_validated, 1);
    let h = sim
        .b
        .stack
        .tcp_mut()
        .accept(80)
        .expect("the cookie connection");
    let tcp = sim.b.stack.tcp_mut();
    assert_eq!(tcp.connection(h).unwrap().state(), State::CloseWait);
    let mut buf = [0u8; 16];
    assert_eq!(tcp.recv(h, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    assert_eq!(tcp.recv(h, &mut buf), Ok(0));
}

/// RFC 4987 / RFC 9293 §3.10.7.2: ACKs that carry no valid cookie create nothing, draw a
/// RST each, are counted, and cost no memory.
#[test]
fn bogus_cookie_acks_create_nothing_and_cost_no_memory() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    flood(&mut sim, 0, 100);
    let (len, used) = (sim.b.stack.tcp().len(), sim.b.stack.tcp().memory().used());
    sim.b.record = true;
    let now = sim.now;
    let mut x = 0x9e37_79b9u32;
    for i in 0..5000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let (src, sport) = spoofed(i + 7);
        let ack = Segment {
            seq: SeqNum(x.rotate_left(7)),
            ack: SeqNum(x),
            ctl: Ctl::ACK,
            wnd: 1000,
            ..Segment::default()
        };
        sim.b
            .stack
            .handle_packet(now, &packet(src, sport, 80, &ack));
        if i % 64 == 0 {
            sim.settle();
        }
    }
    sim.settle();
    let tcp = sim.b.stack.tcp();
    assert_eq!(tcp.counters().syn_cookies_failed, 5000);
    assert_eq!(tcp.counters().syn_cookies_validated, 0);
    assert_eq!((tcp.len(), tcp.memory().used()), (len, used));
    let rsts = sim.b.sent.len();
    assert_eq!(rsts, 5000, "one RST per bogus ACK");
}

/// Half-open connections give up after `synack_retries` (5) SYN-ACK retransmissions; when
/// the SYN queue is full, one that already retransmitted is evicted, oldest first, for a
/// new SYN (instead of a cookie).
#[test]
fn half_open_connections_are_evicted_oldest_first_and_give_up_after_five_retries() {
    let mut sim = Sim::clean();
    sim.b.stack.tcp_mut().listen(80, 4, None, 0).unwrap();
    sim.b.record = true;
    flood(&mut sim, 0, 4);
    // Each has retransmitted its SYN-ACK once after 1 s.
    sim.advance(Duration::from_millis(1500));
    let now = sim.now;
    let newcomer = Ipv4Addr::new(198, 18, 0, 9);
    sim.b
        .stack
        .handle_packet(now, &packet(newcomer, 4000, 80, &syn(5, true)));
    sim.settle();
    let c = sim.b.stack.tcp().counters();
    assert_eq!((c.half_open_evicted, c.syn_cookies_sent), (1, 0));
    assert_eq!(sim.b.stack.tcp().listeners()[0].syn_received, 4);
    let (oldest, _) = spoofed(0);
    let to_oldest = sent_to(&sim, oldest).len();
    assert_eq!(
        to_oldest, 2,
        "SYN-ACK and one retransmission, then evicted silently"
    );
    // The rest retransmit 5 times (1+2+4+8+16 s) and give up 32 s after the last.
    sim.advance(Duration::from_secs(70));
    assert_eq!(sim.b.stack.tcp().listeners()[0].syn_received, 0);
    assert_eq!(sim.b.stack.tcp().len(), 0);
    let (second, _) = spoofed(1);
    assert_eq!(
        sent_to(&sim, second).len(),
        6,
        "SYN-ACK + synack_retries (5)"
    );
    assert_eq!(sent_to(&sim, newcomer).len(), 6);
}

/// A stack with a small memory budget.
fn with_budget(mem_max: usize) -> Sim {
    Sim::new(
        sim::config(A),
        StackConfig {
            tcp_limits: TcpLimits {
                mem_max,
                ..TcpLimits::default()
            },
            ..sim::config(B)
        },
        FaultSpec::default(),
    )
}

/// The memory budget (like Linux's tcp_mem): 40 clients each send 1 MiB to a server that
/// never reads. B's TCP memory never exceeds the budget; the soft
/// mark gives later connections minimum buffers, the hard mark refuses new ones and resets
/// the connections holding the most memory without progress, counted.
#[test]
fn memory_budget_bounds_slow_readers() {
    let budget = 4 << 20;
    let mut sim = with_budget(budget);
    sim.b.stack.tcp_mut().listen(80, 64, None, 0).unwrap();
    let data = vec![7u8; 1 << 20];
    let mut clients = Vec::new();
    let mut saw = [false; 3];
    let mut probes = 0;
    // 20 clients first, then 20 more once the first have filled the budget.
    for wave in 0..2 {
        for _ in 0..20 {
            let now = sim.now;
            let c = sim
                .a
                .stack
                .tcp_mut()
                .connect(now, SocketAddrV4::new(B, 80), None, 0);
            clients.push((c.unwrap(), 0usize));
        }
        sim.run_until(Duration::from_secs(5 + 10 * wave), |sim| {
            while sim.b.stack.tcp_mut().accept(80).is_some() {}
            for (c, sent) in clients.iter_mut() {
                *sent += sim.a.stack.tcp_mut().send(*c, &data[*sent..]).unwrap_or(0);
            }
            let m = sim.b.stack.tcp().memory();
            saw[m.pressure() as usize] = true;
            assert!(m.used() <= budget, "{} over {budget}", m.used());
            if m.pressure() == Pressure::Hard && probes < 3 {
                // A SYN at the hard mark is refused, whoever sends it.
                let refused = sim.b.stack.tcp().counters().mem_refused;
                let (src, sport) = spoofed(probes);
                let (now, p) = (sim.now, packet(src, sport, 80, &syn(1, true)));
                sim.b.stack.handle_packet(now, &p);
                assert_eq!(sim.b.stack.tcp().counters().mem_refused, refused + 1);
                probes += 1;
            }
            false
        });
    }
    let tcp = sim.b.stack.tcp();
    let c = tcp.counters();
    assert!(
        tcp.memory().peak() <= budget,
        "peak {}",
        tcp.memory().peak()
    );
    assert!(
        saw[Pressure::Soft as usize] && saw[Pressure::Hard as usize],
        "{saw:?}"
    );
    assert!(
        c.mem_resets > 0,
        "the biggest stalled connections were reset"
    );
    assert_eq!(c.mem_refused, 3, "SYNs refused at the hard mark");
    assert_eq!(
        sim.b
            .stack
            .counters()
            .drops
            .get(DropReason::TcpMemoryPressure),
        3
    );
    // Below the hard mark again after the resets.
    assert!(tcp.memory().used() < tcp.memory().hard_mark());
}

/// Under pressure the receive buffer shrinks as the reader drains it, auto-tuning stops,
/// and a fresh client still gets through and moves its data byte-exact.
#[test]
fn under_pressure_a_fresh_client_still_transfers_byte_exact() {
    let budget = 4 << 20;
    let mut sim = with_budget(budget);
    sim.b.stack.tcp_mut().listen(80, 64, None, 0).unwrap();
    let data = vec![7u8; 1 << 20];
    let mut hogs = Vec::new();
    for _ in 0..12 {
        let now = sim.now;
        let c = sim
            .a
            .stack
            .tcp_mut()
            .connect(now, SocketAddrV4::new(B, 80), None, 0);
        hogs.push(c.unwrap());
    }
    sim.run_until(Duration::from_secs(2), |sim| {
        while sim.b.stack.tcp_mut().accept(80).is_some() {}
        for c in &hogs {
            let _ = sim.a.stack.tcp_mut().send(*c, &data);
        }
        false
    });
    assert_ne!(sim.b.stack.tcp().memory().pressure(), Pressure::Normal);
    let (client, server) = sim.connect(B, 80);
    exchange(&mut sim, client, server, 2 << 20, Duration::from_secs(60));
    assert!(sim.b.stack.tcp().memory().peak() <= budget);
}

/// `max_conns` and `max_conns_per_peer` refuse SYNs beyond them, counted by cause.
#[test]
fn connection_limits_refuse_and_count() {
    let mut sim = Sim::new(
        sim::config(A),
        StackConfig {
            tcp_limits: TcpLimits {
                max_conns: Some(5),
                max_conns_per_peer: Some(3),
                ..TcpLimits::default()
            },
            ..sim::config(B)
        },
        FaultSpec::default(),
    );
    sim.b.stack.tcp_mut().listen(80, 64, None, 0).unwrap();
    for _ in 0..4 {
        let now = sim.now;
        let c = sim
            .a
            .stack
            .tcp_mut()
            .connect(now, SocketAddrV4::new(B, 80), None, 0);
        c.unwrap();
    }
    sim.advance(Duration::from_millis(100));
    let mut accepted = 0;
    while sim.b.stack.tcp_mut().accept(80).is_some() {
        accepted += 1;
    }
    assert_eq!(accepted, 3, "three from A");
    assert!(sim.b.stack.tcp().counters().peer_limit_drops >= 1);
    let now = sim.now;
    for i in 0..4u8 {
        let src = Ipv4Addr::new(198, 18, 0, 20 + i);
        sim.b
            .stack
            .handle_packet(now, &packet(src, 999, 80, &syn(1, true)));
    }
    sim.settle();
    assert_eq!(sim.b.stack.tcp().listeners()[0].syn_received, 2, "5 in all");
    assert_eq!(sim.b.stack.tcp().counters().conn_limit_drops, 2);
}
