//! The daemon's built-in services, in one table: each [`Service`] has its name, its port,
//! what the daemon must prepare for it, and its constructor. The command line (`--services`,
//! `--keepalive SERVICE=...`, `--help`), the startup lines and the summary all draw from
//! [`SERVICES`]; adding a service is adding an entry.

use super::App;
use super::http::{HttpConfig, HttpServer, tls::TlsSetup};
use super::services::{Classic, ClassicServer};
use crate::tcp::{self, Keepalive};
use std::io;

/// What the daemon prepares before a service's constructor runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Serves the site (`--www`, checked at start).
    pub site: bool,
    /// Speaks TLS: a certificate is loaded or made at start ([`Settings::tls`]).
    pub tls: bool,
}

impl Needs {
    /// Nothing to prepare (the classic services).
    pub const NOTHING: Needs = Needs {
        site: false,
        tls: false,
    };
    /// The site only (HTTP).
    pub(crate) const SITE: Needs = Needs {
        site: true,
        tls: false,
    };
    /// The site and a TLS certificate (HTTPS).
    pub(crate) const SITE_AND_TLS: Needs = Needs {
        site: true,
        tls: true,
    };
}

/// What the constructors take, settled from the command line.
#[derive(Clone)]
pub struct Settings {
    /// The stack's TCP defaults; a service's TCP keepalive goes on top of them.
    pub tcp: tcp::Config,
    /// The site, caching and clock of the HTTP servers; each sets its own port, TLS and TCP.
    pub http: HttpConfig,
    /// The HTTPS certificate and rustls config: `Some` when a service [`Needs::tls`].
    pub tls: Option<TlsSetup>,
}

/// Builds a service's app: its own entry, the settings, its TCP keepalive (if asked).
pub type Constructor =
    fn(&Service, &Settings, Option<Keepalive>) -> io::Result<Box<dyn App + Send>>;

/// One built-in service.
pub struct Service {
    /// What `--services` and `--keepalive` call it, and its label in logs and the summary.
    pub name: &'static str,
    /// The TCP port it listens on (its well-known port).
    pub port: u16,
    /// What the daemon prepares before building it.
    pub needs: Needs,
    /// Builds its app.
    pub build: Constructor,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.port)
    }
}

/// Every built-in service, in the order they start (and print).
pub const SERVICES: &[Service] = &[
    Service {
        name: "echo",
        port: 7,
        needs: Needs::NOTHING,
        build: |s, settings, keepalive| Ok(classic(s, settings, keepalive, Classic::Echo)),
    },
    Service {
        name: "discard",
        port: 9,
        needs: Needs::NOTHING,
        build: |s, settings, keepalive| Ok(classic(s, settings, keepalive, Classic::Discard)),
    },
    Service {
        name: "qotd",
        port: 17,
        needs: Needs::NOTHING,
        build: |s, settings, keepalive| Ok(classic(s, settings, keepalive, Classic::Qotd)),
    },
    Service {
        name: "chargen",
        port: 19,
        needs: Needs::NOTHING,
        build: |s, settings, keepalive| Ok(classic(s, settings, keepalive, Classic::Chargen)),
    },
    Service {
        name: "http",
        port: 80,
        needs: Needs::SITE,
        build: http,
    },
    Service {
        name: "https",
        port: 443,
        needs: Needs::SITE_AND_TLS,
        build: http,
    },
];

/// The service called `name`.
pub fn find(name: &str) -> Option<&'static Service> {
    SERVICES.iter().find(|s| s.name == name)
}

/// The stack's defaults with `keepalive` on, or `None` (the defaults as they are).
fn with_keepalive(settings: &Settings, keepalive: Option<Keepalive>) -> Option<tcp::Config> {
    keepalive.map(|k| tcp::Config {
        keepalive: Some(k),
        ..settings.tcp.clone()
    })
}

fn classic(
    s: &Service,
    settings: &Settings,
    keepalive: Option<Keepalive>,
    kind: Classic,
) -> Box<dyn App + Send> {
    let tcp = with_keepalive(settings, keepalive);
    Box::new(ClassicServer::new(s.name, s.port, kind, tcp))
}

/// HTTP, or HTTPS when the entry needs TLS. Fails when the site cannot be read.
fn http(
    s: &Service,
    settings: &Settings,
    keepalive: Option<Keepalive>,
) -> io::Result<Box<dyn App + Send>> {
    let tls = match (s.needs.tls, &settings.tls) {
        (false, _) => None,
        (true, Some(tls)) => Some(tls.clone()),
        (true, None) => {
            return Err(io::Error::other(format!(
                "{} needs a TLS certificate and none was set up",
                s.name
            )));
        }
    };
    let server = HttpServer::new(HttpConfig {
        port: s.port,
        tls,
        tcp: with_keepalive(settings, keepalive),
        ..settings.http.clone()
    })?;
    Ok(Box::new(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ports_are_unique() {
        for (i, a) in SERVICES.iter().enumerate() {
            for b in &SERVICES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.port, b.port);
            }
            assert_eq!(find(a.name).map(|s| s.port), Some(a.port));
        }
        assert!(find("gopher").is_none());
    }
}
