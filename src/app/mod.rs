//! Applications that run inside the packet loop, sans-IO like the stack: they react to
//! [`TcpEvent`]s by calling socket functions, and never block.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | the [`App`] trait |
//! | `sockets.rs` | [`Sockets`]: the socket view an app is lent for each call |
//! | `registry.rs` | the daemon's services: name, port, what each needs, its constructor |
//! | `services.rs` | echo, discard, qotd, chargen |
//! | `http/` | the HTTP/1.1 and HTTPS servers |
//!
//! The runtime gives each app an [`Owner`](crate::stack::Owner) tag, carried by its
//! [`Sockets`]; listeners and connections the app opens carry it, so events reach the app
//! that owns them.

pub mod http;
pub mod registry;
pub(crate) mod services;
mod sockets;

pub use sockets::Sockets;

use crate::stack::TcpEvent;
use crate::time::Instant;
use std::io;

/// An application in the loop.
pub trait App {
    /// Called once before the loop starts: open listeners here.
    fn start(&mut self, now: Instant, sockets: &mut Sockets<'_>) -> io::Result<()>;

    /// An event for a listener or connection this app owns.
    fn on_event(&mut self, now: Instant, sockets: &mut Sockets<'_>, event: TcpEvent);

    /// The app's own next deadline (e.g. an idle timeout).
    #[must_use]
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Called when `poll_timeout` has passed (early calls are harmless).
    fn handle_timeout(&mut self, _now: Instant, _sockets: &mut Sockets<'_>) {}

    /// Called every turn of the loop, after the stack's events: for apps that also serve a
    /// descriptor of their own (see [`App::raw_fd`]).
    fn poll(&mut self, _now: Instant, _sockets: &mut Sockets<'_>) {}

    /// A descriptor whose readability should wake the loop (e.g. a control socket).
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Lines for the shutdown summary.
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }
}
