//! The async embedding API (feature `tokio`): the stack's sockets as tokio I/O objects.
//!
//! [`TcpStream`] implements tokio's [`AsyncRead`](::tokio::io::AsyncRead) and
//! [`AsyncWrite`](::tokio::io::AsyncWrite) (`poll_shutdown` sends our FIN), so hyper, axum,
//! tonic and tokio-rustls take it as it is; [`TcpListener::accept`], [`TcpStream::connect`]
//! and [`UdpSocket`]'s `send_to`/`recv_from` are `async`.
//!
//! ```no_run
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tunstack::link::Tun;
//! use tunstack::stack::{Stack, StackConfig};
//! use tunstack::tokio::{TcpStream, Tunstack};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let tun = Tun::open("tun0")?;
//! tun.configure("198.18.0.1".parse().unwrap(), 24, 1500)?;
//! let net = Tunstack::start(Stack::new(StackConfig::default()), Box::new(tun))?;
//! let mut s = TcpStream::connect(&net, "198.18.0.1:8080".parse::<std::net::SocketAddr>()?).await?;
//! s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
//! let mut reply = Vec::new();
//! s.read_to_end(&mut reply).await?;
//! # Ok(()) }
//! ```
//!
//! How it works: the packet loop runs on its own thread, as for the blocking API (one
//! [`Tunstack`] serves both kinds of socket). A poll that finds nothing to do (no data, no
//! room in the send buffer, no connection to accept, no datagram) registers the task's waker
//! with the loop while it holds the stack's lock, so no event slips in between; the loop
//! wakes exactly that task when the stack reports the matching event for that socket
//! (Readable/PeerClosed/Closed for a reader, Writable/Connected/Closed for a writer, Incoming
//! for an acceptor, a datagram or ICMP error for a UDP receiver) and forgets the waker. No
//! task polls, spins or is woken for another socket's event. Wakers are `Send`, so this works
//! on the multi-thread runtime; the stack's lock is held only for the length of one call
//! (or one loop turn, which reads at most a bounded batch of packets).
//!
//! Backpressure is the stack's own: `poll_write` takes what the send buffer has room for and
//! waits (Writable) when it is full, so a writer that outruns the peer's window waits; a
//! reader that stops reading leaves the receive buffer full and our advertised window
//! closes.
//!
//! Cancel safety, per call:
//! - [`TcpListener::accept`]: cancel safe (a connection is taken only by the poll that
//!   returns it).
//! - [`TcpStream::connect`]: not cancel safe in the sense that dropping the future aborts
//!   the attempt (the half-open connection is reset).
//! - `AsyncRead::poll_read` / `AsyncReadExt::read`: cancel safe (data leaves the receive
//!   buffer only in the poll that returns it). `AsyncWrite::poll_write` /
//!   `AsyncWriteExt::write`: cancel safe (bytes are queued only by the poll that returns
//!   their count); `write_all` is not, as with any tokio stream.
//! - [`UdpSocket::recv_from`] / [`UdpSocket::recv`]: cancel safe (a datagram is taken only
//!   by the poll that returns it). [`UdpSocket::send_to`] / [`UdpSocket::send`]: cancel
//!   safe (a datagram is queued whole by the poll that returns, or not at all).

mod tcp;
mod udp;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;

/// A running stack with its loop thread: the same as the blocking API's
/// [`crate::api::Tunstack`], so blocking and async sockets can share one stack.
pub use crate::api::Tunstack;

/// Wakes counted by the loop so far: every task wake-up it caused (for tests and figures).
pub fn wakes(net: &Tunstack) -> u64 {
    net.shared().wakers().woken()
}
