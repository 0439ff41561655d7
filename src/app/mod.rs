//! Applications that run inside the packet loop, sans-IO like the stack: they react to
//! [`TcpEvent`]s by calling the stack's socket functions, and never block.
//!
//! The runtime gives each app an [`Owner`] tag; listeners and connections the app opens carry
//! it, so events reach the app that owns them.

pub mod http;
pub mod services;

use crate::stack::{Owner, Stack, TcpEvent};
use crate::time::Instant;
use std::io;

/// An application in the loop.
pub trait App {
    /// Called once before the loop starts: open listeners here, tagged with `owner`.
    fn start(&mut self, now: Instant, stack: &mut Stack, owner: Owner) -> io::Result<()>;

    /// An event for a listener or connection this app owns.
    fn on_event(&mut self, now: Instant, stack: &mut Stack, event: TcpEvent);

    /// The app's own next deadline (e.g. an idle timeout).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Called when `poll_timeout` has passed (early calls are harmless).
    fn handle_timeout(&mut self, _now: Instant, _stack: &mut Stack) {}

    /// Called every turn of the loop, after the stack's events: for apps that also serve a
    /// descriptor of their own (see [`App::raw_fd`]).
    fn poll(&mut self, _now: Instant, _stack: &mut Stack) {}

    /// A descriptor whose readability should wake the loop (e.g. a control socket).
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Lines for the shutdown summary.
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }
}
