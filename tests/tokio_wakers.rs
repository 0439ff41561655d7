//! The async API's waker paths (feature `tokio`): a task is woken by the packet loop exactly
//! when its socket makes progress (data arrives, the peer's window opens, the peer closes, a
//! connection is ready to accept, a datagram arrives), and never while nothing happens.
//!
//! Two of our stacks face each other over the in-memory link, each with its loop thread: the
//! one under test (198.18.0.2, the async API) and a peer (198.18.0.1, the blocking API)
//! that the test drives. Futures are polled by hand with a waker that counts its wakes.

#![cfg(feature = "tokio")]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tunstack::api;
use tunstack::link::Memory;
use tunstack::stack::{Stack, StackConfig};
use tunstack::tokio::{TcpListener, TcpStream, Tunstack, UdpSocket};

const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

fn wakes(c: &Count) -> usize {
    c.0.load(Ordering::SeqCst)
}

/// Waits (bounded) until `c` counts `n` wakes; then a little longer, to see no more come.
#[track_caller]
fn expect_wakes(c: &Count, n: usize) {
    let until = Instant::now() + Duration::from_secs(5);
    while wakes(c) < n && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(wakes(c), n, "woken exactly {n} time(s)");
}

/// Both stacks, each on its loop thread, joined by the in-memory link.
fn pair() -> (Tunstack, api::Tunstack) {
    pair_with(StackConfig::default())
}

fn pair_with(config: StackConfig) -> (Tunstack, api::Tunstack) {
    let (ours, theirs) = Memory::pair();
    let us = Tunstack::start(Stack::new(config), Box::new(ours)).unwrap();
    let peer = api::Tunstack::start(
        Stack::new(StackConfig {
            addr: PEER,
            addr6: None,
            isn_secret: [7; 16],
            ..StackConfig::default()
        }),
        Box::new(theirs),
    )
    .unwrap();
    (us, peer)
}

/// An established connection: ours (async, connected out) and the peer's (blocking).
fn connected(us: &Tunstack, peer: &api::Tunstack) -> (TcpStream, api::TcpStream) {
    let listener = api::TcpListener::bind(peer, 5000, 8).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ours = rt
        .block_on(TcpStream::connect(us, SocketAddr::from((PEER, 5000))))
        .unwrap();
    let (theirs, from) = listener.accept().unwrap();
    assert_eq!(from, ours.local_addr().unwrap());
    (ours, theirs)
}

fn poll_read(s: &mut TcpStream, waker: &Waker, buf: &mut [u8]) -> Poll<usize> {
    let mut cx = Context::from_waker(waker);
    let mut rb = ReadBuf::new(buf);
    match Pin::new(s).poll_read(&mut cx, &mut rb) {
        Poll::Ready(r) => {
            r.unwrap();
            Poll::Ready(rb.filled().len())
        }
        Poll::Pending => Poll::Pending,
    }
}

/// A reader is woken once, when data arrives, and not while the connection is idle.
#[test]
fn a_reader_is_woken_exactly_when_data_arrives() {
    let (us, peer) = pair();
    let (mut ours, mut theirs) = connected(&us, &peer);
    let (count, waker) = counter();
    let mut buf = [0; 64];
    assert_eq!(poll_read(&mut ours, &waker, &mut buf), Poll::Pending);
    std::thread::sleep(Duration::from_millis(100)); // ~100 idle loop turns
    assert_eq!(wakes(&count), 0, "no wake while nothing arrives");
    theirs.write_all(b"hello").unwrap();
    expect_wakes(&count, 1);
    assert_eq!(poll_read(&mut ours, &waker, &mut buf), Poll::Ready(5));
    assert_eq!(&buf[..5], b"hello");
}

/// A writer that filled the send buffer while the peer does not read waits; every wake it
/// gets brings room (no wake for nothing: at most the trickle that zero-window probes move
/// while the peer's window is shut), and it is woken when the peer reads and the window
/// opens.
#[test]
fn a_writer_is_woken_exactly_when_the_window_opens() {
    let (us, peer) = pair();
    let (mut ours, mut theirs) = connected(&us, &peer);
    let (count, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    let chunk = vec![0x5a; 64 * 1024];
    let mut written = 0usize;
    // Fill until the stack says wait; the peer reads nothing (bounded: 64 MiB).
    while let Poll::Ready(n) = Pin::new(&mut ours).poll_write(&mut cx, &chunk) {
        written += n.unwrap();
        assert!(written < 64 << 20, "never blocked");
    }
    // For 600 ms the peer still reads nothing: each wake must find room, and the room the
    // wakes bring stays small (ACKs of data in flight, then probes of a shut window).
    let (mut seen, mut moved) = (0, 0usize);
    let quiet_until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < quiet_until {
        if wakes(&count) > seen {
            seen = wakes(&count);
            match Pin::new(&mut ours).poll_write(&mut cx, &chunk) {
                Poll::Ready(n) => moved += n.unwrap(),
                Poll::Pending => panic!("woken with no room: a wake for nothing"),
            }
            while let Poll::Ready(n) = Pin::new(&mut ours).poll_write(&mut cx, &chunk) {
                moved += n.unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let woken_while_shut = wakes(&count);
    eprintln!("peer not reading: {woken_while_shut} wakes, {moved} octets taken after them");
    assert!(
        moved < 1 << 20,
        "{moved} octets moved in {woken_while_shut} wakes while the peer read nothing"
    );
    // The peer reads: its window opens, our data moves, ACKs free our buffer.
    let mut sink = vec![0; 256 * 1024];
    theirs
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut read = 0;
    while read < 256 * 1024 {
        read += theirs.read(&mut sink).unwrap();
    }
    let until = Instant::now() + Duration::from_secs(5);
    while wakes(&count) == woken_while_shut && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        wakes(&count),
        woken_while_shut + 1,
        "woken once the window opened"
    );
    match Pin::new(&mut ours).poll_write(&mut cx, &chunk) {
        Poll::Ready(n) => assert!(n.unwrap() > 0),
        Poll::Pending => panic!("woken, but still no room"),
    }
}

/// A reader is woken once by the peer's FIN and then reads end of file.
#[test]
fn a_reader_is_woken_exactly_when_the_peer_closes() {
    let (us, peer) = pair();
    let (mut ours, theirs) = connected(&us, &peer);
    let (count, waker) = counter();
    let mut buf = [0; 64];
    assert_eq!(poll_read(&mut ours, &waker, &mut buf), Poll::Pending);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(wakes(&count), 0);
    theirs.shutdown(Shutdown::Write).unwrap();
    expect_wakes(&count, 1);
    assert_eq!(
        poll_read(&mut ours, &waker, &mut buf),
        Poll::Ready(0),
        "EOF"
    );
}

/// An acceptor is woken once, when a connection completes its handshake; a UDP receiver
/// once, when a datagram arrives.
#[test]
fn an_acceptor_and_a_udp_receiver_are_woken_by_their_own_events_only() {
    let (us, peer) = pair();
    let listener = TcpListener::bind(&us, 8080, 8).unwrap();
    let udp = UdpSocket::bind(&us, 5353).unwrap();
    let (accepts, accept_waker) = counter();
    let (datagrams, udp_waker) = counter();
    let mut buf = [0; 64];
    assert!(
        listener
            .poll_accept(&mut Context::from_waker(&accept_waker))
            .is_pending()
    );
    assert!(
        udp.poll_recv_from(&mut Context::from_waker(&udp_waker), &mut buf)
            .is_pending()
    );
    std::thread::sleep(Duration::from_millis(50));
    // A connection: only the acceptor wakes.
    let theirs = api::TcpStream::connect(&peer, SocketAddr::from((US, 8080))).unwrap();
    expect_wakes(&accepts, 1);
    assert_eq!(wakes(&datagrams), 0);
    match listener.poll_accept(&mut Context::from_waker(&accept_waker)) {
        Poll::Ready(Ok((_, from))) => assert_eq!(from, theirs.local_addr().unwrap()),
        other => panic!("{:?}", other.map(|r| r.map(|(_, a)| a))),
    }
    // A datagram: only the UDP receiver wakes.
    let sender = api::UdpSocket::bind(&peer, 40000).unwrap();
    sender
        .send_to(b"query", SocketAddr::from((US, 5353)))
        .unwrap();
    expect_wakes(&datagrams, 1);
    assert_eq!(wakes(&accepts), 1);
    match udp.poll_recv_from(&mut Context::from_waker(&udp_waker), &mut buf) {
        Poll::Ready(Ok((n, from))) => {
            assert_eq!((&buf[..n], from), (&b"query"[..], (PEER, 40000).into()));
        }
        other => panic!("{other:?}"),
    }
}

/// A UDP sender that finds the link queue full waits, and is woken once the loop has
/// drained it; the datagram then goes out whole and arrives.
#[test]
fn a_udp_sender_is_woken_when_the_link_queue_drains() {
    let (us, peer) = pair_with(StackConfig {
        max_queued: 4,
        ..StackConfig::default()
    });
    let receiver = api::UdpSocket::bind(&peer, 9000).unwrap();
    let sender = UdpSocket::bind(&us, 0).unwrap();
    let to = SocketAddr::from((PEER, 9000));
    let (count, waker) = counter();
    let mut cx = Context::from_waker(&waker);
    let big = vec![7u8; 4000]; // 3 fragments at MTU 1500
    let mut sent = 0;
    let mut pending = 0;
    // The loop thread drains the queue as fast as it can, so one datagram may well find
    // room again; keep sending (at most 60: the receiver's queue holds them all) until the
    // sender has had to wait at least once.
    while (sent < 3 || pending == 0) && sent < 60 {
        match sender.poll_send_to(&mut cx, &big, to) {
            Poll::Ready(n) => {
                assert_eq!(n.unwrap(), 4000);
                sent += 1;
            }
            Poll::Pending => {
                pending += 1;
                expect_wakes(&count, pending);
            }
        }
    }
    assert!(
        pending >= 1,
        "4 places for 3 fragments per datagram: {sent} datagrams and the sender never waited"
    );
    let mut buf = vec![0; 8192];
    let mut receiver = receiver;
    receiver
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    for _ in 0..sent {
        let (n, _) = receiver.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &big[..]);
    }
    assert_eq!(us.with_stack(|s| s.counters().tx_queue_drops), 0);
}

/// The whole async path on the multi-thread runtime: 8 MiB each way at once through
/// split halves, byte-exact, and a UDP round trip.
#[test]
fn bulk_both_ways_on_the_multi_thread_runtime() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (us, peer) = pair();
    let (ours, theirs) = connected(&us, &peer);
    const N: usize = 8 << 20;
    let pattern = |i: usize| (i % 251) as u8;
    // The peer echoes everything back (blocking API, its own thread).
    let echo = std::thread::spawn(move || {
        let mut theirs = theirs;
        let mut buf = vec![0; 64 * 1024];
        let mut total = 0;
        loop {
            let n = theirs.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            theirs.write_all(&buf[..n]).unwrap();
            total += n;
        }
        theirs.shutdown(Shutdown::Write).unwrap();
        total
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let received = rt.block_on(async move {
        let (mut r, mut w) = tokio::io::split(ours);
        let writer = tokio::spawn(async move {
            let data: Vec<u8> = (0..N).map(pattern).collect();
            w.write_all(&data).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::with_capacity(N);
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        got
    });
    assert_eq!(echo.join().unwrap(), N);
    assert_eq!(received.len(), N);
    assert!(received.iter().enumerate().all(|(i, &b)| b == pattern(i)));
}
