//! The one smoltcp `phy::Device` of the tests and examples: an in-memory pipe of whole IP
//! packets (`Medium::Ip`). Packets move as owned buffers, never copied between the ends, and
//! spent buffers are reused (as `link::Memory` reuses ours), so that a comparison between
//! smoltcp and our stack is fair.
//!
//! A pipe has two ends, made together by [`SmolPipe::pair`]. smoltcp drives one as its
//! device; the other is a second smoltcp interface's device (two back to back), or the
//! harness's side of the wire, which [`SmolPipe::send`]s and [`SmolPipe::recv`]s by hand.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::time::Instant as SInstant;
use tunstack::time::Instant;

type Queue = Rc<RefCell<VecDeque<Vec<u8>>>>;
type Spare = Rc<RefCell<Vec<Vec<u8>>>>;

/// One end of an in-memory packet pipe.
pub struct SmolPipe {
    /// Packets sent by the other end, for this one.
    rx: Queue,
    /// Packets sent by this end, for the other one.
    tx: Queue,
    /// Spent buffers, shared by both ends.
    spare: Spare,
    pub mtu: usize,
}

impl SmolPipe {
    /// Two connected ends: what one sends, the other receives, in order.
    pub fn pair(mtu: usize) -> (SmolPipe, SmolPipe) {
        let ab = Queue::default();
        let ba = Queue::default();
        let spare = Spare::default();
        (
            SmolPipe {
                rx: ba.clone(),
                tx: ab.clone(),
                spare: spare.clone(),
                mtu,
            },
            SmolPipe {
                rx: ab,
                tx: ba,
                spare,
                mtu,
            },
        )
    }

    /// Sends a packet to the other end (copied into a spent buffer).
    pub fn send(&mut self, packet: &[u8]) {
        let mut buf = self.spare.borrow_mut().pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(packet);
        self.tx.borrow_mut().push_back(buf);
    }

    /// Hands the next packet from the other end to `f`; its buffer is then reused.
    pub fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let packet = self.rx.borrow_mut().pop_front()?;
        let r = f(&packet);
        self.spare.borrow_mut().push(packet);
        Some(r)
    }

    /// Packets waiting to be received at this end.
    pub fn pending(&self) -> usize {
        self.rx.borrow().len()
    }

    /// Packets this end sent that the other end has not received yet.
    pub fn in_flight(&self) -> usize {
        self.tx.borrow().len()
    }
}

pub struct Rx(Vec<u8>, Spare);
pub struct Tx(Queue, Spare);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.0);
        self.1.borrow_mut().push(self.0);
        r
    }
}

impl TxToken for Tx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = self.1.borrow_mut().pop().unwrap_or_default();
        packet.clear();
        packet.resize(len, 0);
        let r = f(&mut packet);
        self.0.borrow_mut().push_back(packet);
        r
    }
}

impl Device for SmolPipe {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx;

    fn receive(&mut self, _t: SInstant) -> Option<(Rx, Tx)> {
        let p = self.rx.borrow_mut().pop_front()?;
        Some((
            Rx(p, self.spare.clone()),
            Tx(self.tx.clone(), self.spare.clone()),
        ))
    }

    fn transmit(&mut self, _t: SInstant) -> Option<Tx> {
        Some(Tx(self.tx.clone(), self.spare.clone()))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = self.mtu;
        c
    }
}

/// Our simulated time as smoltcp's.
pub fn s_now(t: Instant) -> SInstant {
    SInstant::from_micros(t.as_micros() as i64)
}

/// smoltcp's time as ours (never before zero).
pub fn from_s(t: SInstant) -> Instant {
    Instant::from_micros(t.total_micros().max(0) as u64)
}
