//! The daemon's command line: its flags and help, and the checks that turn them into one
//! clear sentence at startup when something is wrong (before any device is touched).

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::LazyLock;
use tunstack::app::registry::{self, Needs, SERVICES, Service};
use tunstack::link::{FaultSpec, OffloadMode};
use tunstack::stack::{MAX_MTU, MIN_MTU};
use tunstack::tcp::{Algorithm, Keepalive};

/// A userspace TCP/IP stack behind a Linux TUN device.
///
/// By default tunstack creates the TUN device tun0, gives the kernel side 198.18.0.1/24 and
/// 2001:2::1/64, brings it up, and answers as 198.18.0.2 and 2001:2::2: `ping 198.18.0.2` or
/// `ping -6 2001:2::2` from the same host (or network namespace) reaches it. 198.18.0.0/15
/// and 2001:2::/48 are reserved for benchmarking (RFC 2544, RFC 5180), so the defaults never
/// collide with a real network. Stop with Ctrl-C (SIGINT) or SIGTERM: the
/// capture is flushed and a summary of counters is printed.
#[derive(Parser, Debug)]
#[command(version, about, long_about, after_help = EXAMPLES)]
pub(crate) struct Cli {
    /// Name of the TUN device to create (or attach to, with --no-configure).
    #[arg(long, default_value = "tun0", value_name = "NAME")]
    pub(crate) dev: String,

    /// The stack's own IPv4 address.
    #[arg(long, default_value = "198.18.0.2", value_name = "IP")]
    pub(crate) addr: Ipv4Addr,

    /// Address and prefix given to the kernel side of the device.
    #[arg(long, default_value = "198.18.0.1/24", value_name = "IP/PREFIX")]
    pub(crate) kernel_addr: String,

    /// The stack's own IPv6 address (dual stack; 2001:2::/48 is the IPv6 benchmarking
    /// prefix, RFC 5180).
    #[arg(long, default_value = "2001:2::2", value_name = "IP")]
    pub(crate) addr6: Ipv6Addr,

    /// IPv6 address and prefix given to the kernel side of the device.
    #[arg(long, default_value = "2001:2::1/64", value_name = "IP/PREFIX")]
    pub(crate) kernel_addr6: String,

    /// IPv4 only: no IPv6 address on either side; IPv6 packets are counted and dropped.
    #[arg(long)]
    pub(crate) no_ipv6: bool,

    /// Link MTU (68..=65535; with IPv6 at least 1280). With --no-configure the device's own
    /// MTU is used unless given.
    #[arg(long, value_name = "BYTES")]
    pub(crate) mtu: Option<u32>,

    /// Use an existing, already configured device (e.g. a persistent one made with
    /// `ip tuntap add tun0 mode tun user $USER`), so no privilege is needed.
    #[arg(long)]
    pub(crate) no_configure: bool,

    /// Device offload (IFF_VNET_HDR: the kernel hands us TCP super-segments of up to 64 KB
    /// with checksums left to it): auto (on when the kernel accepts it), on (or fail), off.
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_offload)]
    pub(crate) offload: OffloadMode,

    /// Write every packet, both directions, to FILE (pcap, LINKTYPE_RAW; open in Wireshark).
    #[arg(long, value_name = "FILE")]
    pub(crate) pcap: Option<PathBuf>,

    /// Inject seeded faults, e.g. `loss=0.05,delay=10ms,seed=7` or `rx.reorder=0.1`
    /// (rx = towards the stack, tx = from it; keys: loss, dup, reorder, corrupt, delay,
    /// jitter, reorder-delay, seed).
    #[arg(long, value_name = "SPEC")]
    pub(crate) faults: Option<FaultSpec>,

    // The help and the default come from the registry: see `services_help`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = ALL_SERVICES.as_str(),
        help = services_help(),
        value_name = "LIST"
    )]
    pub(crate) services: Vec<String>,

    /// Serve the files under DIR over HTTP and HTTPS (without it, a built-in page).
    #[arg(long, value_name = "DIR")]
    pub(crate) www: Option<PathBuf>,

    /// `Cache-Control: max-age` of HTTP responses, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub(crate) http_max_age: u64,

    /// HTTPS certificate chain (PEM). Without it a self-signed certificate for --addr is
    /// generated at start and written to --tls-cert-out.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// HTTPS private key (PEM: PKCS#8, PKCS#1 or SEC1), with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,

    /// Where the generated self-signed certificate is written, for clients to trust
    /// (`curl --cacert FILE https://198.18.0.2/`).
    #[arg(long, default_value = "tunstack.pem", value_name = "FILE")]
    pub(crate) tls_cert_out: PathBuf,

    /// Append TLS secrets to FILE in SSLKEYLOGFILE format, so Wireshark can decrypt a
    /// capture (`-o tls.keylog_file:FILE`).
    #[arg(long, value_name = "FILE")]
    pub(crate) tls_keylog: Option<PathBuf>,

    /// TCP keepalive for one service's connections: SERVICE=IDLE,INTERVAL,COUNT, e.g.
    /// `echo=2s,1s,3` or `http=60s,10s,3` (repeatable; off by default, as RFC 9293
    /// requires). Not HTTP keep-alive, which is connection reuse and always on.
    #[arg(long, value_name = "SPEC")]
    pub(crate) keepalive: Vec<String>,

    /// Time to live of the datagrams we send.
    #[arg(long, default_value_t = 64, value_name = "HOPS")]
    pub(crate) ttl: u8,

    /// Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 §3.6.1).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) msl: std::time::Duration,

    /// Congestion control: `cubic` (RFC 9438) or `newreno` (RFC 5681/6582). Either way, when
    /// the peer SACKs, RACK-TLP finds losses (RFC 8985) and PRR paces recovery (RFC 6937).
    #[arg(long = "cc", default_value = "cubic", value_name = "ALGORITHM", value_parser = parse_cc)]
    pub(crate) congestion: Algorithm,

    /// Send buffer of a TCP connection (bytes): what the application may queue, sent and
    /// not yet acknowledged included (octets SACKed above a hole stay in it until the hole
    /// is repaired).
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES")]
    pub(crate) sndbuf: usize,

    /// Receive buffer a TCP connection starts with (bytes).
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES")]
    pub(crate) rcvbuf: usize,

    /// Receive-buffer auto-tuning grows a connection's buffer up to this while the window
    /// limits its sender (bytes; at or below --rcvbuf turns auto-tuning off).
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    pub(crate) rcvbuf_max: usize,

    /// Connections kept in TIME-WAIT at most; beyond it the oldest one ends early (as
    /// Linux's tcp_max_tw_buckets), so a flood of short connections cannot pile them up.
    #[arg(long, default_value_t = tunstack::stack::DEFAULT_MAX_TIME_WAIT, value_name = "N")]
    pub(crate) max_time_wait: usize,

    /// Datagrams a UDP socket's receive queue holds at most; more are dropped and counted
    /// (udp-queue-full).
    #[arg(long, default_value_t = tunstack::stack::UdpConfig::default().recv_queue_datagrams, value_name = "N")]
    pub(crate) udp_recv_queue: usize,

    /// Payload octets a UDP socket's receive queue holds at most (like Linux's rmem).
    #[arg(long, default_value_t = tunstack::stack::UdpConfig::default().recv_queue_bytes, value_name = "BYTES")]
    pub(crate) udp_recv_bytes: usize,

    /// One budget for all TCP memory: send, receive and out-of-order buffers and connection
    /// state (sizes like 128M, 1G). From 3/4 of it buffers shrink (Linux's tcp_mem pressure);
    /// at it new connections are refused and the connections holding the most memory with
    /// the least progress are reset. Default: 1/16 of the machine's memory, at least 64M.
    #[arg(long, value_name = "SIZE", default_value_t = Size(default_mem_max()))]
    pub(crate) mem_max: Size,

    /// Connections (established and half-open) a listener admits at most; beyond it SYNs are
    /// dropped and counted. Default: no limit but the memory budget.
    #[arg(long, value_name = "N")]
    pub(crate) max_conns: Option<usize>,

    /// Connections from one peer address a listener admits at most. Default: no limit.
    #[arg(long, value_name = "N")]
    pub(crate) max_conns_per_peer: Option<usize>,

    /// More logging: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,

    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// A size in octets, written like 128M or 1G.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Size(pub(crate) usize);

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&tunstack::stack::format_size(self.0))
    }
}

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        tunstack::stack::parse_size(s).map(Size)
    }
}

/// The machine's memory (MemTotal in /proc/meminfo), if it can be read.
pub(crate) fn machine_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `--mem-max`'s default: 1/16 of the machine's memory, at least 64M.
fn default_mem_max() -> usize {
    machine_memory().map_or(
        tunstack::stack::DEFAULT_MEM_MAX,
        tunstack::stack::default_mem_max,
    )
}

/// Queries to a running daemon over its control socket.
#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Show the running daemon's TCP connections and listeners, like `ss -tni` (state,
    /// queues, SND.UNA/NXT, RCV.NXT, windows, srtt/rto, cwnd/ssthresh, retransmits). Picks
    /// the daemon by --dev in the current network namespace.
    Ss,
    /// Show the running daemon's packet and drop counters, TCP's counters (SYN cookies,
    /// queue overflows, memory pressure) and its memory against the budget.
    Stats,
}

const EXAMPLES: &str = "Examples:
  sudo tunstack                          # tun0, kernel 198.18.0.1/24, stack 198.18.0.2
  ping 198.18.0.2
  sudo tunstack --pcap run.pcap -v       # capture everything; open run.pcap in Wireshark
  sudo tunstack --faults loss=0.05,seed=1
  sudo tunstack --www ./site             # then: curl -v http://198.18.0.2/
  curl --cacert tunstack.pem https://198.18.0.2/   # the self-signed certificate written at start
  ip tuntap add tun9 mode tun user $USER; ip addr add 198.18.0.1/24 dev tun9; ip link set tun9 up
  tunstack --dev tun9 --no-configure     # no root needed";

/// Every service's name, comma-separated: the default of --services.
static ALL_SERVICES: LazyLock<String> = LazyLock::new(|| {
    let names: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
    names.join(",")
});

/// `--services` in --help: each service with its port.
fn services_help() -> String {
    let list: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("{} ({})", s.name, s.port))
        .collect();
    format!(
        "Services to run, comma-separated: {}; an empty list runs none",
        list.join(", ")
    )
}

fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let (addr, prefix) = s
        .split_once('/')
        .with_context(|| format!("--kernel-addr {s:?} needs a prefix, e.g. 198.18.0.1/24"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .with_context(|| format!("--kernel-addr {s:?}: {addr:?} is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=30).contains(p))
        .with_context(|| format!("--kernel-addr {s:?}: the prefix must be 1..=30"))?;
    Ok((addr, prefix))
}

fn parse_cidr6(s: &str) -> Result<(Ipv6Addr, u8)> {
    let (addr, prefix) = s
        .split_once('/')
        .with_context(|| format!("--kernel-addr6 {s:?} needs a prefix, e.g. 2001:2::1/64"))?;
    let addr: Ipv6Addr = addr
        .parse()
        .with_context(|| format!("--kernel-addr6 {s:?}: {addr:?} is not an IPv6 address"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (1..=126).contains(p))
        .with_context(|| format!("--kernel-addr6 {s:?}: the prefix must be 1..=126"))?;
    Ok((addr, prefix))
}

fn check_addresses6(addr: Ipv6Addr, kernel: Ipv6Addr, prefix: u8) -> Result<()> {
    let mask = u128::MAX << (128 - u32::from(prefix));
    let (a, k) = (u128::from(addr), u128::from(kernel));
    if a == k {
        bail!(
            "--addr6 {addr} is the kernel side's address too: give the stack another one, e.g. 2001:2::2"
        );
    }
    if a & mask != k & mask {
        bail!(
            "--addr6 {addr} is outside the kernel side's prefix {kernel}/{prefix}: the kernel would not route to it; pick an address inside it"
        );
    }
    if addr.is_multicast() || addr.is_loopback() || addr.is_unspecified() {
        bail!("--addr6 {addr} cannot be a host address: pick a unicast address such as 2001:2::2");
    }
    Ok(())
}

fn check_addresses(addr: Ipv4Addr, kernel: Ipv4Addr, prefix: u8) -> Result<()> {
    let mask = u32::MAX << (32 - u32::from(prefix));
    let (a, k) = (u32::from(addr), u32::from(kernel));
    if a == k {
        bail!(
            "--addr {addr} is the kernel side's address too: give the stack another one, e.g. 198.18.0.2"
        );
    }
    if a & mask != k & mask {
        bail!(
            "--addr {addr} is outside the kernel side's subnet {kernel}/{prefix}: the kernel would not route to it; pick an address inside it"
        );
    }
    if a & !mask == 0 || a & !mask == !mask {
        bail!(
            "--addr {addr} is the network or broadcast address of {kernel}/{prefix}: pick a host address"
        );
    }
    if addr.is_multicast() || addr.is_loopback() || addr.is_unspecified() {
        bail!("--addr {addr} cannot be a host address: pick a unicast address such as 198.18.0.2");
    }
    Ok(())
}

fn parse_duration(s: &str) -> Result<std::time::Duration> {
    tunstack::time::parse_duration(s).map_err(anyhow::Error::msg)
}

fn parse_cc(name: &str) -> Result<Algorithm, String> {
    Algorithm::from_name(name).ok_or_else(|| format!("{name:?}: expected cubic or newreno"))
}

/// `echo=2s,1s,3` → ("echo", keepalive).
fn parse_keepalive(spec: &str) -> Result<(&str, Keepalive)> {
    let usage = || {
        format!("--keepalive {spec:?}: expected SERVICE=IDLE,INTERVAL,COUNT such as echo=2s,1s,3")
    };
    let (name, values) = spec.split_once('=').with_context(usage)?;
    let parts: Vec<&str> = values.split(',').collect();
    let [idle, interval, count] = parts[..] else {
        bail!(usage())
    };
    let count: u32 = count.parse().ok().filter(|&c| c > 0).with_context(usage)?;
    Ok((
        name,
        Keepalive {
            idle: parse_duration(idle)?,
            interval: parse_duration(interval)?,
            count,
        },
    ))
}

/// The services asked for, in the registry's order, each with its TCP keepalive if any.
pub(crate) type Enabled = Vec<(&'static Service, Option<Keepalive>)>;

/// The services `--services` names, with the `--keepalive` settings attached; fails on an
/// unknown name or a keepalive for a service that is not enabled.
pub(crate) fn enabled_services(cli: &Cli) -> Result<Enabled> {
    let mut asked: Vec<&str> = Vec::new();
    for name in cli
        .services
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        let service = registry::find(name).with_context(|| {
            format!(
                "--services: unknown service {name:?} (available: {})",
                ALL_SERVICES.replace(',', ", ")
            )
        })?;
        asked.push(service.name);
    }
    let mut enabled: Enabled = SERVICES
        .iter()
        .filter(|s| asked.contains(&s.name))
        .map(|s| (s, None))
        .collect();
    for spec in &cli.keepalive {
        let (name, keepalive) = parse_keepalive(spec)?;
        let service = registry::find(name)
            .with_context(|| format!("--keepalive: unknown service {name:?}"))?;
        let entry = enabled
            .iter_mut()
            .find(|(s, _)| s.name == service.name)
            .with_context(|| {
                format!(
                    "--keepalive {spec:?}: service {} is not enabled",
                    service.name
                )
            })?;
        entry.1 = Some(keepalive);
    }
    Ok(enabled)
}

/// What the enabled services need prepared.
pub(crate) fn needs(enabled: &Enabled) -> Needs {
    enabled.iter().fold(Needs::NOTHING, |acc, (s, _)| Needs {
        site: acc.site || s.needs.site,
        tls: acc.tls || s.needs.tls,
    })
}

/// The kernel side's addresses, as the flags give them.
pub(crate) struct KernelSide {
    /// IPv4 address and prefix.
    pub(crate) v4: (Ipv4Addr, u8),
    /// IPv6 address and prefix; `None` with --no-ipv6.
    pub(crate) v6: Option<(Ipv6Addr, u8)>,
}

/// Checks the address and MTU flags before anything is touched; returns the kernel side's
/// addresses.
pub(crate) fn check_flags(cli: &Cli) -> Result<KernelSide> {
    let (kernel_addr, prefix) = parse_cidr(&cli.kernel_addr)?;
    let v6 = if cli.no_ipv6 {
        None
    } else {
        Some(parse_cidr6(&cli.kernel_addr6)?)
    };
    if !cli.no_configure {
        check_addresses(cli.addr, kernel_addr, prefix)?;
        if let Some((kernel6, prefix6)) = v6 {
            check_addresses6(cli.addr6, kernel6, prefix6)?;
        }
    }
    if let Some(mtu) = cli.mtu {
        if !(MIN_MTU as u32..=MAX_MTU as u32).contains(&mtu) {
            bail!(
                "--mtu {mtu} is out of range: IPv4 needs at least 68 and a TUN device carries at most 65535"
            );
        }
        // RFC 8200 §5: every link that carries IPv6 has an MTU of 1280 or more.
        if v6.is_some() && mtu < 1280 {
            bail!(
                "--mtu {mtu} is too small for IPv6 (RFC 8200 §5 needs 1280): raise it or add --no-ipv6"
            );
        }
    }
    Ok(KernelSide {
        v4: (kernel_addr, prefix),
        v6,
    })
}

/// Checks --www before anything else starts.
pub(crate) fn check_www(cli: &Cli) -> Result<()> {
    if let Some(dir) = &cli.www {
        let meta = std::fs::metadata(dir).map_err(|e| {
            anyhow::anyhow!("--www {}: {e}: give an existing directory", dir.display())
        })?;
        if !meta.is_dir() {
            bail!(
                "--www {} is not a directory: give the directory to serve",
                dir.display()
            );
        }
    }
    Ok(())
}

/// `--offload auto|on|off`.
fn parse_offload(s: &str) -> Result<OffloadMode, String> {
    match s {
        "auto" => Ok(OffloadMode::Auto),
        "on" => Ok(OffloadMode::On),
        "off" => Ok(OffloadMode::Off),
        _ => Err(format!("{s:?} is not an offload mode (auto, on, off)")),
    }
}
