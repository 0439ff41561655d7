//! Startup errors of the HTTP/HTTPS flags: one clear sentence, before any device is touched
//! (so these run without root).

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tunstack"))
        .args(["--dev", "tsnotthere0"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn fails_with(args: &[&str], needle: &str) {
    let (ok, stderr) = run(args);
    assert!(!ok, "{args:?} should fail");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("tunstack:"))
        .collect();
    assert_eq!(lines.len(), 1, "one sentence:\n{stderr}");
    assert!(lines[0].contains(needle), "{needle:?} not in {stderr}");
}

#[test]
fn http_flags_report_one_clear_error() {
    fails_with(
        &["--www", "/nonexistent/site"],
        "--www /nonexistent/site: No such file or directory",
    );
    fails_with(&["--www", "/etc/hostname"], "is not a directory");
    fails_with(
        &[
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ],
        "cannot read the certificate /nonexistent.pem",
    );
    let dir = std::env::temp_dir().join(format!("tunstack-http-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, "not a certificate\n").unwrap();
    let cert = cert.to_str().unwrap();
    fails_with(
        &["--tls-cert", cert, "--tls-key", cert],
        "no CERTIFICATE block",
    );
    fails_with(
        &["--tls-cert-out", "/nonexistent/dir/cert.pem"],
        "cannot write the certificate to /nonexistent/dir/cert.pem",
    );
    fails_with(
        &["--keepalive", "https=1s,1s,2", "--services", "http"],
        "service https is not enabled",
    );
    fails_with(&["--services", "http,gopher"], "unknown service \"gopher\"");
    // --tls-cert needs --tls-key (clap's usage error).
    let (ok, stderr) = run(&["--tls-cert", cert]);
    assert!(!ok && stderr.contains("--tls-key"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
