//! Transfers both ways over one connection between the two stacks, byte-exact.

use smoltcp::socket::tcp as stcp;
use tunstack::time::Duration;

use super::{Conn, SmolHandle, Xcheck};

/// Deterministic test data.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// A transfer in both directions over one connection, driven step by step.
pub struct Transfer {
    pub to_smol: Vec<u8>,
    pub to_ours: Vec<u8>,
    pub ours_sent: usize,
    pub smol_sent: usize,
    pub ours_got: Vec<u8>,
    pub smol_got: Vec<u8>,
    /// Each side closes once everything it has to send is queued.
    pub ours_close: bool,
    pub smol_close: bool,
    /// Whether each application reads (a receiver that stops reading makes a zero window).
    pub ours_reads: bool,
    pub smol_reads: bool,
    pub ours_eof: bool,
    pub smol_eof: bool,
    ours_closed: bool,
    smol_closed: bool,
    buf: Vec<u8>,
}

impl Transfer {
    pub fn new(to_smol: Vec<u8>, to_ours: Vec<u8>) -> Transfer {
        Transfer {
            to_smol,
            to_ours,
            ours_sent: 0,
            smol_sent: 0,
            ours_got: Vec::new(),
            smol_got: Vec::new(),
            ours_close: true,
            smol_close: true,
            ours_reads: true,
            smol_reads: true,
            ours_eof: false,
            smol_eof: false,
            ours_closed: false,
            smol_closed: false,
            buf: vec![0; 64 * 1024],
        }
    }

    /// One round of both applications: send what fits, read what is there, close when done.
    pub fn pump(&mut self, x: &mut Xcheck, c: Conn) {
        // Ours.
        if self.ours_sent < self.to_smol.len()
            && let Ok(n) = x
                .ours
                .tcp_mut()
                .send(c.ours, &self.to_smol[self.ours_sent..])
        {
            self.ours_sent += n;
        }
        if self.ours_close && !self.ours_closed && self.ours_sent == self.to_smol.len() {
            self.ours_closed = true;
            let _ = x.ours.tcp_mut().close(c.ours);
        }
        while self.ours_reads && !self.ours_eof {
            match x.ours.tcp_mut().recv(c.ours, &mut self.buf) {
                Ok(0) => self.ours_eof = true,
                Ok(n) => self.ours_got.extend_from_slice(&self.buf[..n]),
                Err(_) => break,
            }
        }
        self.pump_smol(x, c.smol);
    }

    /// One round of the smoltcp application alone (it may run before ours has accepted).
    pub fn pump_smol(&mut self, x: &mut Xcheck, smol: SmolHandle) {
        let s = x.sockets.get_mut::<stcp::Socket>(smol);
        if self.smol_sent < self.to_ours.len()
            && s.can_send()
            && let Ok(n) = s.send_slice(&self.to_ours[self.smol_sent..])
        {
            self.smol_sent += n;
        }
        if self.smol_close && !self.smol_closed && self.smol_sent == self.to_ours.len() {
            self.smol_closed = true;
            s.close();
        }
        while self.smol_reads && !self.smol_eof {
            match s.recv_slice(&mut self.buf) {
                Ok(0) | Err(stcp::RecvError::InvalidState) => break,
                Ok(n) => self.smol_got.extend_from_slice(&self.buf[..n]),
                Err(stcp::RecvError::Finished) => self.smol_eof = true,
            }
        }
    }

    /// Everything delivered both ways.
    pub fn delivered(&self) -> bool {
        self.ours_got.len() == self.to_ours.len() && self.smol_got.len() == self.to_smol.len()
    }

    /// Byte-exact both ways.
    #[track_caller]
    pub fn assert_exact(&self, name: &str) {
        assert_eq!(
            self.smol_got.len(),
            self.to_smol.len(),
            "{name}: smoltcp received {} of {} bytes",
            self.smol_got.len(),
            self.to_smol.len()
        );
        assert_eq!(
            self.ours_got.len(),
            self.to_ours.len(),
            "{name}: we received {} of {} bytes",
            self.ours_got.len(),
            self.to_ours.len()
        );
        assert!(
            self.smol_got == self.to_smol,
            "{name}: ours → smoltcp differs"
        );
        assert!(
            self.ours_got == self.to_ours,
            "{name}: smoltcp → ours differs"
        );
    }
}

impl Xcheck {
    /// Runs `t` to completion: everything delivered, both FINs seen by both applications,
    /// and both sides CLOSED (TIME-WAIT waited out). Returns the simulated time taken.
    #[track_caller]
    pub fn transfer(&mut self, c: Conn, t: &mut Transfer, limit: Duration) -> Duration {
        let start = self.now;
        let done = self.run_until(limit, |x| {
            t.pump(x, c);
            t.delivered()
                && t.ours_eof
                && t.smol_eof
                && x.ours_state(c.ours) == "CLOSED"
                && x.smol_state(c.smol) == "CLOSED"
        });
        assert!(
            done,
            "{}: transfer unfinished after {:?}: ours {} sent {}/{} got {}/{} eof {}; smoltcp {} \
             sent {}/{} got {}/{} eof {}; faults {:?}",
            self.name,
            self.now - start,
            self.ours_state(c.ours),
            t.ours_sent,
            t.to_smol.len(),
            t.ours_got.len(),
            t.to_ours.len(),
            t.ours_eof,
            self.smol_state(c.smol),
            t.smol_sent,
            t.to_ours.len(),
            t.smol_got.len(),
            t.to_smol.len(),
            t.smol_eof,
            self.link.stats(),
        );
        t.assert_exact(&self.name);
        self.now - start
    }
}
