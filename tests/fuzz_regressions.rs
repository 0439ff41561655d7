//! Inputs the fuzz targets (fuzz/, cargo-fuzz) found, replayed as plain tests.

use std::net::{Ipv4Addr, SocketAddr};
use tunstack::stack::{Stack, StackConfig, TcpError, TcpLimits};
use tunstack::tcp::Pressure;
use tunstack::time::{Duration, Instant};

/// fuzz target `stack`: active opens (`connect`) were admitted at the hard mark, so
/// connections that each sent what their send buffer took drove TCP's memory past its
/// budget (328,596 octets held against 262,144). Now `connect` is refused there, as a
/// passive open is, and the budget holds.
#[test]
fn connect_refused_at_the_hard_mark() {
    const MAX: usize = 256 * 1024;
    let mut stack = Stack::new(StackConfig {
        tcp_limits: TcpLimits {
            mem_max: MAX,
            max_conns: None,
            max_conns_per_peer: None,
        },
        ..StackConfig::default()
    });
    let peer = Ipv4Addr::new(198, 18, 0, 1);
    let mut now = Instant::ZERO;
    let mut buf = vec![0u8; 65536];
    let mut refused = 0;
    for i in 0..64u16 {
        let remote = SocketAddr::new(peer.into(), 1000 + i);
        let hard = stack.tcp().memory().pressure() == Pressure::Hard;
        match stack.tcp_mut().connect(now, remote, None, 1) {
            Ok(h) => {
                assert!(!hard, "connect admitted at the hard mark");
                let _ = stack.tcp_mut().send(h, &vec![0x61; 65535]);
            }
            Err(e) => {
                assert_eq!(e, TcpError::NoMemory);
                refused += 1;
            }
        }
        while stack.poll_transmit(now, &mut buf).is_some() {}
        now += Duration::from_millis(10);
        stack.handle_timeout(now);
        let mem = stack.tcp().memory();
        assert!(
            mem.used() <= mem.max(),
            "{} octets held of {}",
            mem.used(),
            mem.max()
        );
    }
    assert!(refused > 0, "the hard mark was never reached");
    assert_eq!(stack.tcp().counters().mem_refused, refused);
}
