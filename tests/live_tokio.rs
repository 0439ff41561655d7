//! Live (feature `tokio`): real programs on the async API, each in its own namespace.
//! - examples/hyper_server.rs: curl from the kernel side, keep-alive (two requests, one
//!   connection) and a 100 MiB streamed body byte-exact, over IPv4 and IPv6;
//! - examples/async_client.rs: 100 MiB each way to a kernel-side server with SHA-256
//!   checked, then a DNS-style UDP round trip to a kernel-side UDP echo;
//! - examples/async_client.rs --tls: tokio-rustls over our TcpStream to `openssl s_server`.

#![cfg(feature = "tokio")]

mod live;

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // `cargo test` builds examples under hashed names; build the plain one (a no-op when it
    // is fresh) so the test never runs a stale copy.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--features", "tokio", "--example", name])
        .current_dir(live::repo())
        .status()
        .unwrap();
    assert!(status.success(), "building examples/{name}.rs");
    live::repo().join("target/debug/examples").join(name)
}

/// Runs `script` in a namespace whose "daemon" is the example `bin` started with `args`.
fn run(name: &str, bin: &str, args: &str, script: &str) -> String {
    let bin = example(bin);
    let ns = format!("ts-{}-{name}", std::process::id());
    let out = Command::new(live::repo().join("scripts/netns.sh"))
        .current_dir(live::repo())
        .args([
            "-n",
            &ns,
            "-w",
            "20",
            "-b",
            bin.to_str().unwrap(),
            "-d",
            args,
        ])
        .args(["--", "bash", "-c", script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// SHA-256 of hyper_server's /bytes/N body: octet i is i mod 251.
fn pattern_digest(n: usize) -> String {
    let block: Vec<u8> = (0..251 * 4096).map(|i| (i % 251) as u8).collect();
    let mut h = Sha256::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(block.len());
        h.update(&block[..k]);
        left -= k;
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits (at most `secs`) for `text` in the daemon's log.
fn wait_log(text: &str, secs: u32) -> String {
    format!(
        "for _ in $(seq 1 {}); do grep -q '{text}' \"$DAEMON_LOG\" && break; sleep 0.1; done",
        secs * 10
    )
}

#[test]
fn live_tokio_hyper_server_keep_alive_and_100_mib_streamed() {
    if !live::can_run("live_tokio_hyper_server", &["curl", "sha256sum"]) {
        return;
    }
    let n = 100usize << 20;
    let script = format!(
        "set -e
         curl -sS --max-time 10 -w 'connects=%{{num_connects}}\\n' \
           http://198.18.0.2:8080/ http://198.18.0.2:8080/
         curl -sS --max-time 10 'http://[2001:2::2]:8080/'
         echo \"body $(curl -sS --max-time 120 http://198.18.0.2:8080/bytes/{n} | sha256sum)\"
         curl -sS --max-time 10 -o /dev/null -w 'missing=%{{http_code}}\\n' \
           http://198.18.0.2:8080/nothing"
    );
    let out = run("hyper", "hyper_server", "--port 8080", &script);
    let greeting = "hello from hyper over tunstack";
    assert_eq!(out.matches(greeting).count(), 3, "{out}");
    assert!(out.contains("connects=1\n"), "{out}");
    assert!(
        out.contains("connects=0\n"),
        "keep-alive: the second request reused the connection\n{out}"
    );
    assert!(
        out.contains(&format!("body {}  -", pattern_digest(n))),
        "100 MiB byte-exact\n{out}"
    );
    assert!(out.contains("missing=404"), "{out}");
}

#[test]
fn live_tokio_async_client_100_mib_each_way_and_udp_round_trip() {
    if !live::can_run("live_tokio_async_client", &["python3"]) {
        return;
    }
    let bytes = 100u64 << 20;
    let echo = "import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('198.18.0.1', 5353))
s.settimeout(60)
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)";
    let script = format!(
        "set -e
         python3 -c \"{echo}\" &
         python3 scripts/tcpcheck.py serve --bind 198.18.0.1 --bytes {bytes} --timeout 240 --close-first
         {}
         grep -E 'udp round trip ok|all done' \"$DAEMON_LOG\"",
        wait_log("all done", 20)
    );
    let out = run(
        "async",
        "async_client",
        &format!("--connect 198.18.0.1:5000 --send {bytes} --udp-echo 198.18.0.1:5353"),
        &script,
    );
    let digest = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split("sha256=").nth(1))
            .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{out}"))
            .to_string()
    };
    assert_eq!(
        digest(&format!("sent {bytes} bytes")),
        digest(&format!("serve received {bytes} bytes")),
        "what we sent is what the kernel received"
    );
    assert_eq!(
        digest(&format!("serve sent {bytes} bytes")),
        digest(&format!("received {bytes} bytes")),
        "what the kernel sent is what we received"
    );
    assert!(
        out.contains("udp round trip ok: 31 bytes"),
        "DNS-style query echoed\n{out}"
    );
}

#[test]
fn live_tokio_rustls_client_to_openssl_s_server() {
    if !live::can_run("live_tokio_rustls_client", &["openssl"]) {
        return;
    }
    // A CA and a server certificate for 198.18.0.1 (rustls refuses a CA as end entity).
    let dir = live::repo().join("target/live/tokio-tls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let make = format!(
        "set -e
         openssl req -x509 {ec} -keyout ca.key -out ca.pem -subj /CN=tunstack-test-ca -days 1
         openssl req {ec} -keyout srv.key -out srv.csr -subj /CN=198.18.0.1
         printf 'subjectAltName=IP:198.18.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 -extfile ext"
    );
    let made = Command::new("sh")
        .args(["-c", &make])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let d = dir.display();
    let script = format!(
        "timeout 30 openssl s_server -accept 198.18.0.1:4433 -cert {d}/srv.pem -key {d}/srv.key \
           -www -naccept 1 > /dev/null 2>&1 &
         {}
         grep -E '^tls' \"$DAEMON_LOG\"",
        wait_log("all done", 25)
    );
    let out = run(
        "tls",
        "async_client",
        &format!("--tls 198.18.0.1:4433 --ca {d}/ca.pem"),
        &script,
    );
    assert!(out.contains("tls ok: TLSv1_3"), "{out}");
    assert!(out.contains("tls reply: HTTP/1.0 200 ok"), "{out}");
}
