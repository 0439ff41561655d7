//! One connection's transport: moves bytes between TCP and its [`Exchange`], plain or through
//! TLS, so the server's pump is written once for both.
//!
//! Plain copies the bytes. TLS passes them through a rustls `ServerConnection` with
//! `read_tls`/`process_new_packets`/`reader` on the way in and `writer`/`write_tls` on the
//! way out, all on in-memory buffers. Either way input is taken only while the exchange has
//! room, and output produced only while TCP's send buffer takes it (`Writable` brings the
//! rest).

use super::exchange::Exchange;
use super::request::Limits;
use super::tls::TlsSetup;
use crate::app::Sockets;
use crate::stack::SocketHandle;
use crate::time::Instant;
use std::io::{self, Read, Write};

/// Plaintext handed to rustls at a time (one record is at most 16 KiB).
const TLS_WRITE: usize = 16 * 1024;
/// Bound on read/process/write rounds in one pump.
pub(super) const ROUNDS: usize = 256;

/// What one pump works with: the time, the connection's socket, room to read into.
pub(super) struct Io<'p, 'a> {
    pub(super) now: Instant,
    pub(super) sockets: &'p mut Sockets<'a>,
    pub(super) h: SocketHandle,
    pub(super) scratch: &'p mut [u8],
}

/// Plain or TLS.
pub(super) enum Transport {
    Plain,
    Tls(Box<Tls>),
}

/// A TLS session over in-memory buffers.
pub(super) struct Tls {
    conn: rustls::ServerConnection,
    /// Bytes from TCP that rustls has not taken yet.
    tls_in: Vec<u8>,
    tls_in_pos: usize,
    /// Records rustls produced that TCP has not taken yet.
    tls_out: Vec<u8>,
    tls_out_pos: usize,
    failed: bool,
    close_notify_sent: bool,
}

/// What the transport says once the exchange has said everything.
pub(super) enum Finish {
    /// Everything is on TCP: the connection can be released.
    Flushed,
    /// Bytes are still on their way to TCP.
    Pending,
    /// There is something new to write (TLS close_notify): go round again.
    Again,
}

impl Transport {
    /// TLS when `tls` is given.
    pub(super) fn new(tls: Option<&TlsSetup>) -> Result<Transport, rustls::Error> {
        let Some(setup) = tls else {
            return Ok(Transport::Plain);
        };
        let conn = rustls::ServerConnection::new(setup.config.clone())?;
        Ok(Transport::Tls(Box::new(Tls {
            conn,
            tls_in: Vec::new(),
            tls_in_pos: 0,
            tls_out: Vec::new(),
            tls_out_pos: 0,
            failed: false,
            close_notify_sent: false,
        })))
    }

    /// The TLS handshake or a record failed: nothing more is read or written.
    #[inline]
    pub(super) fn failed(&self) -> bool {
        matches!(self, Transport::Tls(t) if t.failed)
    }

    /// In: bytes from TCP to the exchange, as it has room. `peer_eof` is set at the end of
    /// the peer's stream (FIN, or TLS close_notify). Returns whether anything moved.
    pub(super) fn receive(
        &mut self,
        io: &mut Io<'_, '_>,
        exchange: &mut Exchange,
        peer_eof: &mut bool,
        limits: &Limits,
    ) -> bool {
        match self {
            Transport::Plain => {
                let room = exchange.room(limits).min(io.scratch.len());
                if room == 0 || *peer_eof {
                    return false;
                }
                match io.sockets.recv(io.h, &mut io.scratch[..room]) {
                    Ok(0) => {
                        *peer_eof = true;
                        true
                    }
                    Ok(n) => {
                        exchange.input(io.now, &io.scratch[..n]);
                        true
                    }
                    Err(_) => false,
                }
            }
            Transport::Tls(t) if t.failed => discard(io, peer_eof),
            Transport::Tls(t) => t.receive(io, exchange, peer_eof, limits),
        }
    }

    /// Out: the exchange's output to TCP, as its send buffer takes it. Returns whether
    /// anything moved.
    pub(super) fn transmit(&mut self, io: &mut Io<'_, '_>, exchange: &mut Exchange) -> bool {
        match self {
            Transport::Plain => {
                let mut progress = false;
                loop {
                    let out = exchange.output();
                    if out.is_empty() {
                        break;
                    }
                    match io.sockets.send(io.h, out) {
                        Ok(n) if n > 0 => {
                            exchange.consume(io.now, n);
                            progress = true;
                        }
                        _ => break,
                    }
                }
                progress
            }
            Transport::Tls(t) => t.transmit(io, exchange),
        }
    }

    /// Called when the exchange is done and drained: TLS says close_notify once (unless it
    /// failed) and is flushed when its records are all on TCP.
    pub(super) fn finish(&mut self) -> Finish {
        let Transport::Tls(t) = self else {
            return Finish::Flushed;
        };
        if !t.close_notify_sent && !t.failed {
            t.conn.send_close_notify();
            t.close_notify_sent = true;
            return Finish::Again;
        }
        if t.tls_out_pos == t.tls_out.len() && !t.conn.wants_write() {
            Finish::Flushed
        } else {
            Finish::Pending
        }
    }
}

/// After a failed handshake: whatever still arrives is discarded until the peer's FIN.
fn discard(io: &mut Io<'_, '_>, peer_eof: &mut bool) -> bool {
    let mut progress = false;
    while !*peer_eof {
        match io.sockets.recv(io.h, io.scratch) {
            Ok(0) => *peer_eof = true,
            Ok(_) => progress = true,
            Err(_) => break,
        }
    }
    progress
}

impl Tls {
    /// Plaintext already decrypted goes to the exchange (as it has room); then, while
    /// rustls wants more, bytes from TCP go into rustls.
    fn receive(
        &mut self,
        io: &mut Io<'_, '_>,
        exchange: &mut Exchange,
        peer_eof: &mut bool,
        limits: &Limits,
    ) -> bool {
        let mut progress = false;
        for _ in 0..ROUNDS {
            progress |= self.deliver(io, exchange, peer_eof, limits);
            if self.tls_in_pos < self.tls_in.len() {
                if !self.conn.wants_read() {
                    break;
                }
                let mut rd = &self.tls_in[self.tls_in_pos..];
                match self.conn.read_tls(&mut rd) {
                    Ok(n) => {
                        self.tls_in_pos += n;
                        progress = true;
                    }
                    Err(_) => break, // rustls' buffers are full: later
                }
                if let Err(e) = self.conn.process_new_packets() {
                    log::debug!("https: {} TLS failed: {e}", io.h);
                    self.failed = true;
                    return true;
                }
                continue;
            }
            self.tls_in.clear();
            self.tls_in_pos = 0;
            if *peer_eof || !self.conn.wants_read() {
                break;
            }
            match io.sockets.recv(io.h, io.scratch) {
                Ok(0) => {
                    *peer_eof = true;
                    progress = true;
                    break;
                }
                Ok(n) => {
                    self.tls_in.extend_from_slice(&io.scratch[..n]);
                    progress = true;
                }
                Err(_) => break,
            }
        }
        progress
    }

    /// Decrypted plaintext to the exchange while it has room.
    fn deliver(
        &mut self,
        io: &mut Io<'_, '_>,
        exchange: &mut Exchange,
        peer_eof: &mut bool,
        limits: &Limits,
    ) -> bool {
        let mut progress = false;
        loop {
            let room = exchange.room(limits).min(io.scratch.len());
            if room == 0 {
                break;
            }
            match self.conn.reader().read(&mut io.scratch[..room]) {
                Ok(0) => {
                    // close_notify: the peer's end of the stream.
                    progress |= !*peer_eof;
                    *peer_eof = true;
                    break;
                }
                Ok(n) => {
                    exchange.input(io.now, &io.scratch[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    // TCP ended without close_notify.
                    progress |= !*peer_eof;
                    *peer_eof = true;
                    break;
                }
            }
        }
        progress
    }

    /// Flushes records to TCP, lets rustls produce more (handshake, alerts), and feeds it
    /// plaintext from the exchange once the handshake is done.
    fn transmit(&mut self, io: &mut Io<'_, '_>, exchange: &mut Exchange) -> bool {
        let mut progress = false;
        for _ in 0..ROUNDS {
            if self.tls_out_pos < self.tls_out.len() {
                match io.sockets.send(io.h, &self.tls_out[self.tls_out_pos..]) {
                    Ok(n) if n > 0 => {
                        self.tls_out_pos += n;
                        progress = true;
                        continue;
                    }
                    _ => break,
                }
            }
            self.tls_out.clear();
            self.tls_out_pos = 0;
            if self.conn.wants_write() {
                if self.conn.write_tls(&mut self.tls_out).is_err() {
                    break;
                }
                continue;
            }
            if self.failed || self.close_notify_sent || self.conn.is_handshaking() {
                break;
            }
            let out = exchange.output();
            if out.is_empty() {
                break;
            }
            let n = out.len().min(TLS_WRITE);
            match self.conn.writer().write(&out[..n]) {
                Ok(k) if k > 0 => {
                    exchange.consume(io.now, k);
                    progress = true;
                }
                _ => break,
            }
        }
        progress
    }
}
