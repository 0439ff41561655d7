//! hyper 1.x serving HTTP/1.1 over tunstack's async API (feature `tokio`).
//!
//!     hyper_server [--port 8080] [--dev tun0] [--threads 2]
//!
//! Creates and configures the TUN device like the daemon (kernel side 198.18.0.1/24 and
//! 2001:2::1/64; we answer at 198.18.0.2 and 2001:2::2), starts the stack's loop thread and
//! a multi-thread tokio runtime, and serves every connection accepted by
//! `tunstack::tokio::TcpListener` with hyper's HTTP/1 server (keep-alive on):
//!
//!     GET /            a short greeting
//!     GET /bytes/N     N octets streamed in 64 KiB frames; octet i is i mod 251
//!
//! Then from the kernel side: `curl http://198.18.0.2:8080/`. SIGINT or SIGTERM stops it
//! and prints the stack's counters.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tunstack::link::Tun;
use tunstack::stack::{Stack, StackConfig};
use tunstack::tokio::{TcpListener, Tunstack};

/// The streamed body: `remaining` octets of the pattern from `offset` on, made as they go
/// (a 100 MiB body never sits in memory).
struct Pattern {
    offset: u64,
    remaining: u64,
}

const FRAME: u64 = 64 * 1024;

impl Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(FRAME);
        let chunk: Vec<u8> = (self.offset..self.offset + n)
            .map(|i| (i % 251) as u8)
            .collect();
        self.offset += n;
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.remaining)
    }
}

type Reply = Response<Either<Full<Bytes>, Pattern>>;

async fn handle(req: Request<Incoming>) -> Result<Reply, Infallible> {
    let path = req.uri().path();
    let text = |status, body: &'static str| {
        let mut r = Response::new(Either::Left(Full::new(Bytes::from_static(body.as_bytes()))));
        *r.status_mut() = status;
        r
    };
    if path == "/" {
        return Ok(text(StatusCode::OK, "hello from hyper over tunstack\n"));
    }
    match path.strip_prefix("/bytes/").map(str::parse::<u64>) {
        Some(Ok(n)) => Ok(Response::new(Either::Right(Pattern {
            offset: 0,
            remaining: n,
        }))),
        _ => Ok(text(StatusCode::NOT_FOUND, "not found\n")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let mut dev = "tun0".to_string();
    let mut port: u16 = 8080;
    let mut threads: usize = 2;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--dev" => dev = args.next().ok_or("--dev NAME")?,
            "--port" => port = args.next().ok_or("--port PORT")?.parse()?,
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let tun = Tun::open(&dev)?;
    tun.configure_dual(
        ("198.18.0.1".parse()?, 24),
        ("2001:2::1".parse()?, 64),
        1500,
    )?;
    let mut secret = [0u8; 16];
    getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
    let config = StackConfig {
        isn_secret: secret,
        ..StackConfig::default()
    };
    let net = Tunstack::start(Stack::new(config), Box::new(tun))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .build()?;

    // SIGINT/SIGTERM: a plain thread waits for them and tells the runtime.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = stop_tx.send(());
        }
    });

    let listener = TcpListener::bind(&net, port, 128)?;
    println!("serving http://198.18.0.2:{port}/ and http://[2001:2::2]:{port}/");
    rt.block_on(async {
        let serve = async {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        eprintln!("accept: {e}");
                        return;
                    }
                };
                log::info!("{peer}: connected");
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle));
                    if let Err(e) = conn.await {
                        log::info!("{peer}: {e}");
                    }
                });
            }
        };
        tokio::select! {
            _ = serve => {}
            _ = stop_rx => {}
        }
    });
    drop(listener);
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    net.with_stack(|s| println!("{}", s.counters()));
    net.stop()?;
    Ok(())
}
