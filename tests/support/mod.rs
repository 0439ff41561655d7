//! What every simulated suite shares: one clock driver ([`clock`]) and one smoltcp device
//! ([`smoltcp_device`]), with the endpoints the driver polls ([`endpoints`]: our `Stack` on a
//! link, our bare `Connection`, smoltcp's `Interface`).
//!
//! Each `tests/*.rs` file is its own crate: a suite's harness module takes this tree in with
//! `#[path = "../support/mod.rs"] mod support;` and uses the part it needs.
#![allow(dead_code)]

pub mod clock;
pub mod endpoints;
pub mod smoltcp_device;
