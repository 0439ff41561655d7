//! The control socket: `tunstack ss` asks a running daemon for its connection table.
//!
//! The daemon listens on the abstract Unix socket `@tunstack/<dev>`. Abstract sockets belong
//! to the network namespace, so `ip netns exec NS tunstack ss` reaches the daemon of that
//! namespace, and two daemons in two namespaces never collide. A client sends one line (the
//! command) and reads the answer until the daemon closes the connection.
//!
//! This is runtime-level code (it does I/O); it plugs into the loop as an [`App`] whose
//! descriptor wakes the loop.

use crate::app::{App, Sockets};
use crate::stack::{Stack, TcpEvent};
use crate::time::{Duration, Instant};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

/// The abstract socket name for a device.
fn socket_name(dev: &str) -> String {
    format!("tunstack/{dev}")
}

/// Serves `ss` requests from inside the loop.
pub struct ControlServer {
    listener: UnixListener,
}

impl ControlServer {
    /// Listens on `@tunstack/<dev>` in this network namespace (non-blocking; served from
    /// [`App::poll`]).
    pub fn bind(dev: &str) -> io::Result<ControlServer> {
        let addr = SocketAddr::from_abstract_name(socket_name(dev).as_bytes())?;
        let listener = UnixListener::bind_addr(&addr)?;
        listener.set_nonblocking(true)?;
        Ok(ControlServer { listener })
    }

    fn serve(&mut self, stack: &Stack, mut stream: UnixStream) -> io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_millis(200)))?;
        stream.set_write_timeout(Some(Duration::from_millis(500)))?;
        let mut line = String::new();
        BufReader::new(stream.try_clone()?)
            .take(256)
            .read_line(&mut line)?;
        let answer = match line.trim() {
            "ss" | "" => connection_table(stack),
            "stats" => format!(
                "{}\n{}\n{}\n{}\n{}",
                stack.counters(),
                stack.tcp().counters(),
                memory_line(stack.tcp().memory()),
                slots_line(stack),
                heap_line()
            ),
            other => format!("unknown command {other:?} (known: ss, stats)\n"),
        };
        stream.write_all(answer.as_bytes())
    }
}

impl App for ControlServer {
    fn start(&mut self, _now: Instant, _sockets: &mut Sockets<'_>) -> io::Result<()> {
        Ok(())
    }

    fn on_event(&mut self, _now: Instant, _sockets: &mut Sockets<'_>, _event: TcpEvent) {}

    fn poll(&mut self, _now: Instant, sockets: &mut Sockets<'_>) {
        while let Ok((stream, _)) = self.listener.accept() {
            if let Err(e) = self.serve(sockets.stack(), stream) {
                log::debug!("control: {e}");
            }
        }
    }

    fn raw_fd(&self) -> Option<RawFd> {
        Some(self.listener.as_raw_fd())
    }
}

/// TCP's memory against its budget, one line (for `stats` and the exit summary).
pub fn memory_line(m: &crate::stack::MemoryBudget) -> String {
    format!(
        "tcp memory: {} in use, peak {}, budget {} (soft mark {}), pressure {:?}",
        crate::stack::human_size(m.used()),
        crate::stack::human_size(m.peak()),
        crate::stack::human_size(m.max()),
        crate::stack::human_size(m.soft_mark()),
        m.pressure()
    )
}

/// The connection slot table: live connections, slots, capacity, and what one slot takes.
fn slots_line(stack: &Stack) -> String {
    let (slots, capacity) = stack.tcp().slot_table();
    format!(
        "tcp slots: live {}, table {}, capacity {}, slot {} octets",
        stack.tcp().len(),
        slots,
        capacity,
        crate::stack::SLOT_SIZE
    )
}

/// The C allocator's view of the heap, in KiB (glibc's `mallinfo2`): what the program holds
/// (`held`: the arena's allocated chunks plus big blocks mapped on their own), what the
/// allocator keeps free in its arena (`kept-free`; `top` of it at the arena's end, which
/// it can give back), and the arena's size. RSS beyond `held` is code, stacks and pages the
/// allocator keeps.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn heap_line() -> String {
    // SAFETY: mallinfo2 takes nothing and returns a struct by value; it only reads the
    // allocator's statistics (under its locks).
    let m = unsafe { libc::mallinfo2() };
    format!(
        "heap KiB: held {}, kept-free {}, top {}, arena {}, mmapped {} in {} blocks\n",
        (m.uordblks + m.hblkhd) / 1024,
        m.fordblks / 1024,
        m.keepcost / 1024,
        m.arena / 1024,
        m.hblkhd / 1024,
        m.hblks
    )
}

/// Without glibc there is no `mallinfo2`: an empty line.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_line() -> String {
    String::new()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// The table `tunstack ss` prints, in the manner of `ss -tni`.
fn connection_table(stack: &Stack) -> String {
    let tcp = stack.tcp();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>8}  {:<22} {:<22}",
        "State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port"
    );
    // A listener takes both families: one line per address, as `ss` shows a dual-stack one.
    let mut ours = vec![std::net::IpAddr::V4(stack.config().addr)];
    ours.extend(stack.config().addr6.map(std::net::IpAddr::V6));
    for l in tcp.listeners() {
        for addr in &ours {
            let _ = writeln!(
                out,
                "{:<12} {:>8} {:>8}  {:<22} {:<22}",
                "LISTEN",
                l.accept_queue,
                l.backlog,
                std::net::SocketAddr::new(*addr, l.port).to_string(),
                "*:*"
            );
        }
        let _ = writeln!(
            out,
            "\t syn_recv:{} accept_queue:{}/{}",
            l.syn_received, l.accept_queue, l.backlog
        );
    }
    let mut conns: Vec<_> = tcp.connections().collect();
    conns.sort_by_key(|(_, c)| (c.tuple().local.port(), c.tuple().remote));
    for (_, c) in conns {
        let s = c.stats();
        let t = c.tuple();
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>8}  {:<22} {:<22}",
            c.state().to_string(),
            s.recv_queue,
            s.send_queue,
            t.local.to_string(),
            t.remote.to_string()
        );
        let rtt = s.srtt.map_or("-".to_string(), |srtt| {
            format!("{}/{}", ms(srtt), ms(s.rttvar))
        });
        let _ = writeln!(
            out,
            "\t snd_una:{} snd_nxt:{} rcv_nxt:{} snd_wnd:{} rcv_wnd:{} rtt:{} rto:{} \
             cwnd:{} ssthresh:{} segs_in:{} segs_out:{} bytes_in:{} bytes_out:{} retrans:{} \
             rtos:{} fast_retrans:{} dup_acks:{} challenge_acks:{} lost:{} loss_probes:{} \
             undone:{} dsack_in:{} dsack_out:{} reo_wnd:{} prr:{}",
            s.snd_una.0,
            s.snd_nxt.0,
            s.rcv_nxt.0,
            s.snd_wnd,
            s.rcv_wnd,
            rtt,
            ms(s.rto),
            s.cwnd,
            s.ssthresh,
            s.segments_in,
            s.segments_out,
            s.bytes_in,
            s.bytes_out,
            s.retransmits,
            s.rtos,
            s.fast_retransmits,
            s.dup_acks,
            s.challenge_acks,
            s.lost,
            s.loss_probes,
            s.undos,
            s.dsacks_received,
            s.dsacks_sent,
            ms(s.reo_wnd),
            s.prr
                .map_or("-".to_string(), |(d, o)| format!("delivered/out {d}/{o}"))
        );
    }
    // UDP sockets, as `ss -u` shows them: UNCONN until connected to a peer.
    for (port, peer, datagrams, octets) in stack.udp().sockets() {
        let (state, remote) = match peer {
            Some(p) => ("UDP-ESTAB", p.to_string()),
            None => ("UDP-UNCONN", "*:*".to_string()),
        };
        for addr in ours
            .iter()
            .filter(|a| peer.is_none_or(|p| p.is_ipv4() == a.is_ipv4()))
        {
            let local = std::net::SocketAddr::new(*addr, port).to_string();
            let _ = writeln!(
                out,
                "{state:<12} {octets:>8} {:>8}  {local:<22} {remote:<22}",
                0
            );
        }
        let _ = writeln!(out, "\t datagrams_queued:{datagrams}");
    }
    out
}

/// The client side: sends `command` to the daemon on `dev` and returns its answer.
pub fn request(dev: &str, command: &str) -> io::Result<String> {
    let addr = SocketAddr::from_abstract_name(socket_name(dev).as_bytes())?;
    let mut stream = UnixStream::connect_addr(&addr).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "no tunstack daemon for {dev} in this network namespace ({e}); start one, or \
                 pass --dev, or run this inside the daemon's namespace (ip netns exec NS ...)"
            ),
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}
