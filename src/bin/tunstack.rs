//! The `tunstack` daemon: creates the TUN device, configures its kernel side, and runs the
//! stack on it until SIGINT/SIGTERM. The only place that reads the wall clock.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};
use tunstack::app::http::{HttpConfig, HttpServer, tls};
use tunstack::app::services::{Service, ServiceConfig, Services};
use tunstack::control::ControlServer;
use tunstack::link::{FaultSpec, Faults, Link, Pcap, PcapWriter, Tun, device_mtu};
use tunstack::runtime::Runtime;
use tunstack::stack::{MAX_MTU, MIN_MTU, Stack, StackConfig};
use tunstack::tcp::{Algorithm, Keepalive};
use tunstack::time::Instant;

/// A userspace TCP/IP stack behind a Linux TUN device.
///
/// By default tunstack creates the TUN device tun0, gives the kernel side 198.18.0.1/24,
/// brings it up, and answers as 198.18.0.2: `ping 198.18.0.2` from the same host (or network
/// namespace) reaches it. 198.18.0.0/15 is reserved for benchmarking (RFC 2544), so the
/// defaults never collide with a real network. Stop with Ctrl-C (SIGINT) or SIGTERM: the
/// capture is flushed and a summary of counters is printed.
#[derive(Parser, Debug)]
#[command(version, about, long_about, after_help = EXAMPLES)]
struct Cli {
    /// Name of the TUN device to create (or attach to, with --no-configure).
    #[arg(long, default_value = "tun0", value_name = "NAME")]
    dev: String,

    /// The stack's own IPv4 address.
    #[arg(long, default_value = "198.18.0.2", value_name = "IP")]
    addr: Ipv4Addr,

    /// Address and prefix given to the kernel side of the device.
    #[arg(long, default_value = "198.18.0.1/24", value_name = "IP/PREFIX")]
    kernel_addr: String,

    /// Link MTU (68..=65535). With --no-configure the device's own MTU is used unless given.
    #[arg(long, value_name = "BYTES")]
    mtu: Option<u32>,

    /// Use an existing, already configured device (e.g. a persistent one made with
    /// `ip tuntap add tun0 mode tun user $USER`), so no privilege is needed.
    #[arg(long)]
    no_configure: bool,

    /// Write every packet, both directions, to FILE (pcap, LINKTYPE_RAW; open in Wireshark).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,

    /// Inject seeded faults, e.g. `loss=0.05,delay=10ms,seed=7` or `rx.reorder=0.1`
    /// (rx = towards the stack, tx = from it; keys: loss, dup, reorder, corrupt, delay,
    /// jitter, reorder-delay, seed).
    #[arg(long, value_name = "SPEC")]
    faults: Option<FaultSpec>,

    /// Services to run, comma-separated: echo (7), discard (9), qotd (17), chargen (19),
    /// http (80), https (443); an empty list runs none.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "echo,discard,qotd,chargen,http,https",
        value_name = "LIST"
    )]
    services: Vec<String>,

    /// Serve the files under DIR over HTTP and HTTPS (without it, a built-in page).
    #[arg(long, value_name = "DIR")]
    www: Option<PathBuf>,

    /// `Cache-Control: max-age` of HTTP responses, in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    http_max_age: u64,

    /// HTTPS certificate chain (PEM). Without it a self-signed certificate for --addr is
    /// generated at start and written to --tls-cert-out.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// HTTPS private key (PEM: PKCS#8, PKCS#1 or SEC1), with --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Where the generated self-signed certificate is written, for clients to trust
    /// (`curl --cacert FILE https://198.18.0.2/`).
    #[arg(long, default_value = "tunstack.pem", value_name = "FILE")]
    tls_cert_out: PathBuf,

    /// Append TLS secrets to FILE in SSLKEYLOGFILE format, so Wireshark can decrypt a
    /// capture (`-o tls.keylog_file:FILE`).
    #[arg(long, value_name = "FILE")]
    tls_keylog: Option<PathBuf>,

    /// TCP keepalive for one service's connections: SERVICE=IDLE,INTERVAL,COUNT, e.g.
    /// `echo=2s,1s,3` or `http=60s,10s,3` (repeatable; off by default, as RFC 9293
    /// requires). Not HTTP keep-alive, which is connection reuse and always on.
    #[arg(long, value_name = "SPEC")]
    keepalive: Vec<String>,

    /// Time to live of the datagrams we send.
    #[arg(long, default_value_t = 64, value_name = "HOPS")]
    ttl: u8,

    /// Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 §3.6.1).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    msl: std::time::Duration,

    /// Congestion control: `cubic` (RFC 9438) or `newreno` (RFC 5681/6582). Either way loss
    /// recovery follows RFC 6675 when the peer SACKs.
    #[arg(long = "cc", default_value = "cubic", value_name = "ALGORITHM", value_parser = parse_cc)]
    congestion: Algorithm,

    /// Receive buffer a TCP connection starts with (bytes).
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES")]
    rcvbuf: usize,

    /// Receive-buffer auto-tuning grows a connection's buffer up to this while the window
    /// limits its sender (bytes; at or below --rcvbuf turns auto-tuning off).
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    rcvbuf_max: usize,

    /// Connections kept in TIME-WAIT at most; beyond it the oldest one ends early (as
    /// Linux's tcp_max_tw_buckets), so a flood of short connections cannot pile them up.
    #[arg(long, default_value_t = tunstack::stack::DEFAULT_MAX_TIME_WAIT, value_name = "N")]
    max_time_wait: usize,

    /// More logging: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the running daemon's TCP connections and listeners, like `ss -tni` (state,
    /// queues, SND.UNA/NXT, RCV.NXT, windows, srtt/rto, cwnd/ssthresh, retransmits). Picks
    /// the daemon by --dev in the current network namespace.
    Ss,
    /// Show the running daemon's packet and drop counters.
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

/// The services asked for: the small ones, and whether http and https are on.
struct Enabled {
    small: Vec<(Service, ServiceConfig)>,
    http: bool,
    https: bool,
    /// TCP keepalive (not HTTP keep-alive) for the HTTP and HTTPS connections.
    http_keepalive: Option<Keepalive>,
    https_keepalive: Option<Keepalive>,
}

fn services(cli: &Cli) -> Result<Enabled> {
    let mut out: Vec<(Service, ServiceConfig)> = Vec::new();
    let (mut http, mut https) = (false, false);
    for name in cli
        .services
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        match name {
            "http" => {
                http = true;
                continue;
            }
            "https" => {
                https = true;
                continue;
            }
            _ => {}
        }
        let service = Service::from_name(name).with_context(|| {
            format!(
                "--services: unknown service {name:?} (available: echo, discard, qotd, chargen, http, https)"
            )
        })?;
        if !out.iter().any(|(s, _)| *s == service) {
            out.push((service, ServiceConfig::default()));
        }
    }
    let (mut http_keepalive, mut https_keepalive) = (None, None);
    for spec in &cli.keepalive {
        let (name, keepalive) = parse_keepalive(spec)?;
        let web = match name {
            "http" => Some((http, &mut http_keepalive)),
            "https" => Some((https, &mut https_keepalive)),
            _ => None,
        };
        if let Some((on, slot)) = web {
            if !on {
                bail!("--keepalive {spec:?}: service {name} is not enabled");
            }
            *slot = Some(keepalive);
            continue;
        }
        let service = Service::from_name(name)
            .with_context(|| format!("--keepalive: unknown service {name:?}"))?;
        let entry = out
            .iter_mut()
            .find(|(s, _)| *s == service)
            .with_context(|| {
                format!(
                    "--keepalive {spec:?}: service {} is not enabled",
                    service.name()
                )
            })?;
        entry.1.keepalive = Some(keepalive);
    }
    Ok(Enabled {
        small: out,
        http,
        https,
        http_keepalive,
        https_keepalive,
    })
}

/// The HTTPS server's TLS configuration: the given certificate and key, or a self-signed
/// certificate for `--addr` written to `--tls-cert-out`.
fn tls_config(cli: &Cli) -> Result<tls::TlsSetup> {
    let identity = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => tls::load_identity(cert, key)?,
        _ => {
            let (identity, pem) = tls::self_signed(cli.addr)?;
            tls::write_cert(&cli.tls_cert_out, &pem)?;
            let path = cli
                .tls_cert_out
                .canonicalize()
                .unwrap_or_else(|_| cli.tls_cert_out.clone());
            log::info!(
                "https: self-signed certificate for {} written to {} (curl --cacert {} https://{}/)",
                cli.addr,
                path.display(),
                path.display(),
                cli.addr
            );
            identity
        }
    };
    let keylog = match &cli.tls_keylog {
        Some(path) => {
            log::info!(
                "https: writing TLS secrets to {} (SSLKEYLOGFILE format)",
                path.display()
            );
            Some(Arc::new(tls::KeyLogFile::open(path)?) as Arc<dyn rustls::KeyLog>)
        }
        None => None,
    };
    Ok(tls::server_config(identity, keylog)?)
}

/// Checks --www before anything else starts.
fn check_www(cli: &Cli) -> Result<()> {
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

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format_timestamp_micros()
        .init();
}

fn run(cli: Cli) -> Result<()> {
    let (kernel_addr, prefix) = parse_cidr(&cli.kernel_addr)?;
    if !cli.no_configure {
        check_addresses(cli.addr, kernel_addr, prefix)?;
    }
    if let Some(mtu) = cli.mtu
        && !(MIN_MTU as u32..=MAX_MTU as u32).contains(&mtu)
    {
        bail!(
            "--mtu {mtu} is out of range: IPv4 needs at least 68 and a TUN device carries at most 65535"
        );
    }

    let enabled = services(&cli)?;
    let services = enabled.small;
    if enabled.http || enabled.https {
        check_www(&cli)?;
    }
    let tls = if enabled.https {
        Some(tls_config(&cli)?)
    } else {
        None
    };
    let tun = Tun::open(&cli.dev)?;
    let mtu = if cli.no_configure {
        match cli.mtu {
            Some(mtu) => mtu,
            None => device_mtu(tun.name())
                .with_context(|| format!("reading the MTU of {}", tun.name()))?,
        }
    } else {
        let mtu = cli.mtu.unwrap_or(1500);
        tun.configure(kernel_addr, prefix, mtu)?;
        mtu
    };
    let dev = tun.name().to_string();

    let wall_start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mono_start = std::time::Instant::now();
    let clock = move || Instant::from_micros(mono_start.elapsed().as_micros() as u64);

    let mut link: Box<dyn Link> = Box::new(tun);
    if let Some(spec) = cli.faults.clone() {
        log::info!("injecting faults: {spec:?}");
        link = Box::new(Faults::new(link, spec));
    }
    if let Some(path) = &cli.pcap {
        let writer = PcapWriter::create(path, wall_start.as_micros() as u64)
            .with_context(|| format!("creating the capture file {}", path.display()))?;
        link = Box::new(Pcap::new(link, writer));
    }

    let mut isn_secret = [0u8; 16];
    getrandom::fill(&mut isn_secret).map_err(|e| anyhow::anyhow!("drawing the ISN secret: {e}"))?;
    let config = StackConfig {
        addr: cli.addr,
        mtu: mtu as usize,
        ttl: cli.ttl,
        isn_secret,
        max_time_wait: cli.max_time_wait,
        tcp: tunstack::tcp::Config {
            msl: cli.msl,
            congestion: cli.congestion,
            recv_buffer: cli.rcvbuf,
            recv_buffer_max: cli.rcvbuf_max,
            ..tunstack::tcp::Config::default()
        },
        ..StackConfig::default()
    };
    let mut runtime = Runtime::new(Stack::new(config), link);
    if !services.is_empty() {
        let names: Vec<String> = services
            .iter()
            .map(|(s, c)| match c.keepalive {
                Some(k) => format!(
                    "{} (keepalive {:?}/{:?}/{})",
                    s.name(),
                    k.idle,
                    k.interval,
                    k.count
                ),
                None => s.name().to_string(),
            })
            .collect();
        log::info!("services: {}", names.join(", "));
        runtime.add_app(clock(), Box::new(Services::new(services)))?;
    }

    let http = HttpConfig {
        www: cli.www.clone(),
        max_age: cli.http_max_age,
        unix_epoch_us: wall_start.as_micros() as u64,
        ..HttpConfig::default()
    };
    let with_keepalive = |keepalive: Option<Keepalive>| {
        keepalive.map(|k| tunstack::tcp::Config {
            keepalive: Some(k),
            ..runtime.stack.tcp().config().clone()
        })
    };
    let http_tcp = with_keepalive(enabled.http_keepalive);
    let https_tcp = with_keepalive(enabled.https_keepalive);
    if enabled.http {
        let server = HttpServer::new(HttpConfig {
            tcp: http_tcp,
            ..http.clone()
        })
        .with_context(|| format!("starting the HTTP server on {}", cli.addr))?;
        runtime.add_app(clock(), Box::new(server))?;
    }
    if let Some(tls) = tls {
        let server = HttpServer::new(HttpConfig {
            port: 443,
            tls: Some(tls),
            tcp: https_tcp,
            ..http
        })
        .with_context(|| format!("starting the HTTPS server on {}", cli.addr))?;
        runtime.add_app(clock(), Box::new(server))?;
    }

    match ControlServer::bind(&dev) {
        Ok(server) => {
            runtime.add_app(clock(), Box::new(server))?;
        }
        Err(e) => log::warn!("no control socket (tunstack ss will not reach this daemon): {e}"),
    }

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let configured = if cli.no_configure {
        "as configured".to_string()
    } else {
        format!("kernel side {kernel_addr}/{prefix}")
    };
    log::info!(
        "tunstack {} answering at {} on {dev} ({configured}, MTU {mtu}){}",
        env!("CARGO_PKG_VERSION"),
        cli.addr,
        cli.pcap
            .as_ref()
            .map(|p| format!(", capturing to {}", p.display()))
            .unwrap_or_default()
    );

    let result = runtime.run(&clock, &stop, &[]);
    log::info!("shutting down");
    let app_lines: Vec<String> = runtime.apps().iter().flat_map(|a| a.summary()).collect();
    let Runtime { stack, link, .. } = runtime;
    println!(
        "tunstack summary ({:.1} s)",
        mono_start.elapsed().as_secs_f64()
    );
    println!("{}", stack.counters());
    println!("{}", tcp_summary(stack.tcp().counters()));
    for line in app_lines {
        println!("{line}");
    }
    for line in link.summary() {
        println!("{line}");
    }
    drop(link); // flushes the capture
    result.with_context(|| format!("reading from or writing to {dev}"))
}

fn tcp_summary(c: &tunstack::stack::TcpCounters) -> String {
    let mut closed: Vec<_> = c.closed.iter().map(|(k, v)| format!("{k} {v}")).collect();
    closed.sort();
    format!(
        "tcp: active opens {}, passive opens {}, SYN backlog drops {}, RSTs for strays {}, \
         TIME-WAITs ended early {}\n\
         tcp: segments in {}, out {}, bytes in {}, out {}, retransmits {} (RTO {}, fast {}), \
         dup ACKs {}, challenge ACKs {}\n\
         tcp: closed: {}",
        c.active_opens,
        c.passive_opens,
        c.syn_backlog_drops,
        c.resets_sent_for_strays,
        c.time_wait_recycled,
        c.totals.segments_in,
        c.totals.segments_out,
        c.totals.bytes_in,
        c.totals.bytes_out,
        c.totals.retransmits,
        c.totals.rtos,
        c.totals.fast_retransmits,
        c.totals.dup_acks,
        c.totals.challenge_acks,
        if closed.is_empty() {
            "none".to_string()
        } else {
            closed.join(", ")
        }
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(command) = &cli.command {
        let word = match command {
            Command::Ss => "ss",
            Command::Stats => "stats",
        };
        return match tunstack::control::request(&cli.dev, word) {
            Ok(answer) => {
                print!("{answer}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tunstack {word}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(cli.verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tunstack: {e:#}");
            ExitCode::FAILURE
        }
    }
}
