//! The `tunstack` daemon: creates the TUN device, configures its kernel side, and runs the
//! stack on it until SIGINT/SIGTERM. The only place that reads the wall clock.

mod cli;
mod heap;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command, Enabled, KernelSide, check_flags, check_www, enabled_services, needs};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{SystemTime, UNIX_EPOCH};
use tunstack::app::http::{HttpConfig, tls};
use tunstack::app::registry::Settings;
use tunstack::control::ControlServer;
use tunstack::link::{Faults, Link, OffloadState, Pcap, PcapWriter, Tun, device_mtu};
use tunstack::runtime::Runtime;
use tunstack::stack::{Stack, StackConfig};
use tunstack::time::Instant;

/// The HTTPS server's TLS configuration: the given certificate and key, or a self-signed
/// certificate for `--addr` written to `--tls-cert-out`.
fn tls_config(cli: &Cli) -> Result<tls::TlsSetup> {
    let identity = match (&cli.tls_cert, &cli.tls_key) {
        (Some(cert), Some(key)) => tls::load_identity(cert, key)?,
        _ => {
            let mut addrs = vec![std::net::IpAddr::V4(cli.addr)];
            if !cli.no_ipv6 {
                addrs.push(cli.addr6.into());
            }
            let (identity, pem) = tls::self_signed(&addrs)?;
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

/// The daemon's clocks: the loop's monotonic time, and the wall-clock time it started at.
struct Clock {
    mono_start: std::time::Instant,
    /// Since the Unix epoch.
    wall_start: std::time::Duration,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall_start: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
            mono_start: std::time::Instant::now(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.mono_start.elapsed().as_micros() as u64)
    }

    fn unix_start_us(&self) -> u64 {
        self.wall_start.as_micros() as u64
    }
}

/// Opens (and, unless --no-configure, configures) the device; returns it with its MTU.
fn open_tun(cli: &Cli, kernel: &KernelSide) -> Result<(Tun, u32)> {
    let mut tun = Tun::open_with(&cli.dev, cli.offload)?;
    let mtu = if cli.no_configure {
        match cli.mtu {
            Some(mtu) => mtu,
            None => device_mtu(tun.name())
                .with_context(|| format!("reading the MTU of {}", tun.name()))?,
        }
    } else {
        let mtu = cli.mtu.unwrap_or(1500);
        match kernel.v6 {
            Some(v6) => tun.configure_dual(kernel.v4, v6, mtu)?,
            None => tun.configure(kernel.v4.0, kernel.v4.1, mtu)?,
        }
        mtu
    };
    // Kernels 6.6.44 and 6.10.3 reject GSO writes with EINVAL: find out now (the probe goes
    // to the kernel side's address, inside the device's subnet, and is dropped there).
    if matches!(tun.offload(), OffloadState::On { .. }) {
        let name = tun.name().to_string();
        tun.probe_gso_write(cli.addr, kernel.v4.0)
            .with_context(|| format!("probing GSO writes on {name}"))?;
        // tests/live_offload.rs plays a kernel that refuses GSO writes with this.
        if std::env::var_os("TUNSTACK_TEST_REFUSE_GSO_WRITES").is_some() {
            tun.assume_gso_writes_refused();
        }
    }
    let uso = if tun.uso() {
        "; UDP super-datagrams in (USO), taken as their datagrams"
    } else {
        ""
    };
    log::info!("{}: offload {}{uso}", tun.name(), tun.offload());
    Ok((tun, mtu))
}

/// The device wrapped as the flags ask: `Pcap<Faults<Tun>>`.
fn link(cli: &Cli, tun: Tun, clock: &Clock) -> Result<Box<dyn Link>> {
    let mut link: Box<dyn Link> = Box::new(tun);
    if let Some(spec) = cli.faults.clone() {
        log::info!("injecting faults: {spec:?}");
        link = Box::new(Faults::new(link, spec));
    }
    if let Some(path) = &cli.pcap {
        let writer = PcapWriter::create(path, clock.unix_start_us())
            .with_context(|| format!("creating the capture file {}", path.display()))?;
        link = Box::new(Pcap::new(link, writer));
    }
    Ok(link)
}

/// The stack as the flags ask; `tso`: the device splits TCP super-segments.
fn stack_config(cli: &Cli, mtu: u32, tso: bool) -> Result<StackConfig> {
    let mut isn_secret = [0u8; 16];
    getrandom::fill(&mut isn_secret).map_err(|e| anyhow::anyhow!("drawing the ISN secret: {e}"))?;
    // RFC 8200 §5: no IPv6 on a link below 1280 (a device attached with --no-configure).
    let ipv6 = !cli.no_ipv6 && mtu >= 1280;
    if !cli.no_ipv6 && !ipv6 {
        log::warn!("the device's MTU {mtu} is below IPv6's 1280 (RFC 8200 §5): IPv4 only");
    }
    Ok(StackConfig {
        addr: cli.addr,
        addr6: ipv6.then_some(cli.addr6),
        mtu: mtu as usize,
        ttl: cli.ttl,
        isn_secret,
        max_time_wait: cli.max_time_wait,
        udp: tunstack::stack::UdpConfig {
            recv_queue_datagrams: cli.udp_recv_queue,
            recv_queue_bytes: cli.udp_recv_bytes,
        },
        tcp_limits: tunstack::stack::TcpLimits {
            mem_max: cli.mem_max.0,
            max_conns: cli.max_conns,
            max_conns_per_peer: cli.max_conns_per_peer,
        },
        tcp: tunstack::tcp::Config {
            msl: cli.msl,
            congestion: cli.congestion,
            send_buffer: cli.sndbuf,
            recv_buffer: cli.rcvbuf,
            recv_buffer_max: cli.rcvbuf_max,
            ..tunstack::tcp::Config::default()
        },
        tso,
        ..StackConfig::default()
    })
}

/// Starts the enabled services, each from its registry entry, then the control socket.
fn start_apps(
    runtime: &mut Runtime<Box<dyn Link>>,
    cli: &Cli,
    clock: &Clock,
    enabled: &Enabled,
    settings: &Settings,
    dev: &str,
) -> Result<()> {
    if !enabled.is_empty() {
        let names: Vec<String> = enabled
            .iter()
            .map(|(s, keepalive)| match keepalive {
                Some(k) => format!(
                    "{} (keepalive {:?}/{:?}/{})",
                    s.name, k.idle, k.interval, k.count
                ),
                None => s.name.to_string(),
            })
            .collect();
        log::info!("services: {}", names.join(", "));
    }
    for (service, keepalive) in enabled {
        let context = || format!("starting {} on {}:{}", service.name, cli.addr, service.port);
        let app = (service.build)(service, settings, *keepalive).with_context(context)?;
        runtime.add_app(clock.now(), app).with_context(context)?;
    }
    match ControlServer::bind(dev) {
        Ok(server) => {
            runtime.add_app(clock.now(), Box::new(server))?;
        }
        Err(e) => log::warn!("no control socket (tunstack ss will not reach this daemon): {e}"),
    }
    runtime.add_app(clock.now(), Box::new(heap::HeapTrim::new(clock.now())))?;
    Ok(())
}

fn run(cli: Cli) -> Result<()> {
    let kernel = check_flags(&cli)?;
    let enabled = enabled_services(&cli)?;
    let needs = needs(&enabled);
    if needs.site {
        check_www(&cli)?;
    }
    let tls = if needs.tls {
        Some(tls_config(&cli)?)
    } else {
        None
    };
    let (tun, mtu) = open_tun(&cli, &kernel)?;
    let dev = tun.name().to_string();
    let tso = tun.takes_gso_writes();
    let clock = Clock::start();
    let link = link(&cli, tun, &clock)?;
    let mut runtime = Runtime::new(Stack::new(stack_config(&cli, mtu, tso)?), link);
    let settings = Settings {
        tcp: runtime.stack.tcp().config().clone(),
        http: HttpConfig {
            www: cli.www.clone(),
            max_age: cli.http_max_age,
            unix_epoch_us: clock.unix_start_us(),
            ..HttpConfig::default()
        },
        tls,
    };
    start_apps(&mut runtime, &cli, &clock, &enabled, &settings, &dev)?;

    // The handler sets the flag, then writes a byte to a self-pipe the loop also waits on: a
    // signal that lands after the loop checked the flag but before it went to sleep still
    // wakes it (ppoll's EINTR alone would miss that one and sleep until the next packet).
    let stop = Arc::new(AtomicBool::new(false));
    let (wake_read, wake_write) =
        std::os::unix::net::UnixStream::pair().context("creating the signal self-pipe")?;
    wake_write
        .set_nonblocking(true)
        .context("creating the signal self-pipe")?;
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
        signal_hook::low_level::pipe::register(signal, wake_write.try_clone()?)
            .context("installing signal handlers")?;
    }
    let configured = if cli.no_configure {
        "as configured".to_string()
    } else {
        let (k4, p4) = kernel.v4;
        match kernel.v6 {
            Some((k6, p6)) => format!("kernel side {k4}/{p4} and {k6}/{p6}"),
            None => format!("kernel side {k4}/{p4}"),
        }
    };
    let answering = match runtime.stack.config().addr6 {
        Some(a6) => format!("{} and {a6}", cli.addr),
        None => format!("{} (IPv4 only)", cli.addr),
    };
    log::info!(
        "tunstack {} answering at {answering} on {dev} ({configured}, MTU {mtu}){}",
        env!("CARGO_PKG_VERSION"),
        cli.pcap
            .as_ref()
            .map(|p| format!(", capturing to {}", p.display()))
            .unwrap_or_default()
    );
    let limits = runtime.stack.config().tcp_limits;
    let per = |n: Option<usize>| n.map_or("no limit".to_string(), |n| n.to_string());
    log::info!(
        "TCP memory budget {} (--mem-max{}; soft mark {}), max conns {}, per peer {}",
        tunstack::stack::format_size(limits.mem_max),
        if cli.mem_max.0 == tunstack::stack::default_mem_max(cli::machine_memory().unwrap_or(0)) {
            ": 1/16 of the machine's memory"
        } else {
            ""
        },
        tunstack::stack::human_size(runtime.stack.tcp().memory().soft_mark()),
        per(limits.max_conns),
        per(limits.max_conns_per_peer),
    );

    let result = runtime.run(&|| clock.now(), &stop, &[wake_read.as_raw_fd()]);
    log::info!("shutting down");
    print_summary(runtime, &clock);
    result.with_context(|| format!("reading from or writing to {dev}"))
}

/// The shutdown summary: the stack's counters, TCP's, each app's, the link's. Dropping the
/// link flushes the capture.
fn print_summary(runtime: Runtime<Box<dyn Link>>, clock: &Clock) {
    let app_lines: Vec<String> = runtime.apps().iter().flat_map(|a| a.summary()).collect();
    let Runtime { stack, link, .. } = runtime;
    println!(
        "tunstack summary ({:.1} s)",
        clock.mono_start.elapsed().as_secs_f64()
    );
    println!("{}", stack.counters());
    println!("{}", stack.tcp().counters());
    println!("{}", tunstack::control::memory_line(stack.tcp().memory()));
    for line in app_lines {
        println!("{line}");
    }
    for line in link.summary() {
        println!("{line}");
    }
    drop(link);
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
