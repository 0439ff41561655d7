//! Live HTTP and HTTPS: curl, openssl s_client, wrk and tshark against the daemon's servers
//! on ports 80 and 443, inside a fresh network namespace each (traffic only to 198.18.0.2).
//! Root only; each test skips with a visible message otherwise.

mod live;

use live::site;
use std::path::Path;

#[track_caller]
fn expect(stdout: &str, line: &str) {
    assert!(
        stdout.lines().any(|l| l.trim() == line),
        "missing {line:?} in:\n{stdout}"
    );
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// curl: 200 with the right fields; two URLs in one command reuse one connection (one SYN
/// in the capture, which tshark decodes as HTTP); If-None-Match and If-Modified-Since →
/// 304; `-r 0-99` → 206; `-C -` resumes a partial download; errors 404 and 405.
#[test]
fn live_http_curl_keep_alive_conditional_and_ranges() {
    if !live::can_run(
        "live_http_curl_keep_alive_conditional_and_ranges",
        &["curl", "tshark", "sha256sum"],
    ) {
        return;
    }
    let www = site("www-http", 3_000_000);
    let out = live::artefact("http-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let pcap = live::artefact("http-reuse.pcap");
    let script = format!(
        r#"
        set -e
        cd {out}
        curl -sS -v -o index.out http://198.18.0.2/ 2> v.txt
        grep -q '< HTTP/1.1 200 OK' v.txt && echo "index 200"
        grep -qi '< content-type: text/html' v.txt && echo "index html"
        grep -qi '< date: ' v.txt && grep -qi '< server: tunstack/' v.txt && echo "index date server"
        cmp -s index.out {www}/index.html && echo "index body"
        curl -sS -v -o /dev/null -o /dev/null http://198.18.0.2/a.txt http://198.18.0.2/b.txt 2> reuse.txt
        echo "reused $(grep -c 'Re-using existing connection' reuse.txt)"
        curl -sSI http://198.18.0.2/a.txt | tr -d '\r' > head.txt
        etag=$(grep -i '^etag:' head.txt | cut -d' ' -f2-)
        lm=$(grep -i '^last-modified:' head.txt | cut -d' ' -f2-)
        echo "etag $(echo "$etag" | grep -c '^".*"$')"
        curl -sS -o inm.out -w 'inm %{{http_code}} %{{size_download}}\n' -H "If-None-Match: $etag" http://198.18.0.2/a.txt
        curl -sS -o ims.out -w 'ims %{{http_code}} %{{size_download}}\n' -H "If-Modified-Since: $lm" http://198.18.0.2/a.txt
        curl -sS -o im.out -w 'if-match %{{http_code}}\n' -H 'If-Match: "nope"' http://198.18.0.2/a.txt
        curl -sS -r 0-99 -o range.out -w 'range %{{http_code}} %{{size_download}}\n' http://198.18.0.2/big.bin
        head -c 100 {www}/big.bin | cmp -s - range.out && echo "range body"
        head -c 1000000 {www}/big.bin > resumed.bin
        curl -sS -C - -o resumed.bin -w 'resume %{{http_code}}\n' http://198.18.0.2/big.bin
        cmp -s resumed.bin {www}/big.bin && echo "resume complete"
        curl -sS -o /dev/null -w 'missing %{{http_code}}\n' http://198.18.0.2/nope
        curl -sS -o /dev/null -w 'post %{{http_code}}\n' -d x=1 http://198.18.0.2/
        curl -sS -o /dev/null -w 'dir %{{http_code}} %{{redirect_url}}\n' http://198.18.0.2/sub
        curl -sS -o /dev/null -w 'traversal %{{http_code}}\n' --path-as-is http://198.18.0.2/../../etc/passwd
        "#,
        out = p(&out),
        www = p(&www),
    );
    let daemon = format!("--www {} --services http --pcap {}", p(&www), p(&pcap));
    let s = live::session("http", &daemon, &script);
    s.assert_ok();
    for line in [
        "index 200",
        "index html",
        "index date server",
        "index body",
        "reused 1",
        "etag 1",
        "inm 304 0",
        "ims 304 0",
        "if-match 412",
        "range 206 100",
        "range body",
        "resume 206",
        "resume complete",
        "missing 404",
        "post 405",
        "dir 301 http://198.18.0.2/sub/",
        "traversal 404",
    ] {
        expect(&s.stdout, line);
    }
    live::assert_clean_capture(&pcap, 20);
    let requests = live::tshark_matching(&pcap, "http.request");
    let responses = live::tshark_matching(&pcap, "http.response");
    assert!(requests.len() >= 12, "{}", requests.join("\n"));
    assert_eq!(requests.len(), responses.len());
    // The two-URL command: its two requests share one TCP stream.
    let syns = live::tshark_matching(&pcap, "tcp.flags.syn == 1 && tcp.flags.ack == 0");
    let a_b = live::tshark_matching(
        &pcap,
        r#"http.request.uri == "/a.txt" || http.request.uri == "/b.txt""#,
    );
    assert!(a_b.len() >= 2);
    assert_eq!(
        syns.len(),
        requests.len() - 1,
        "one request reused a connection"
    );
}

/// A 50 MiB file over HTTP and over HTTPS, SHA-256 checked.
#[test]
fn live_http_and_https_50_mib_sha256() {
    if !live::can_run("live_http_and_https_50_mib_sha256", &["curl", "sha256sum"]) {
        return;
    }
    let www = site("www-big", 50 << 20);
    let out = live::artefact("big-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let cert = live::artefact("big-cert.pem");
    let script = format!(
        r#"
        set -e
        cd {out}
        want=$(sha256sum < {www}/big.bin)
        curl -sS -o http.bin http://198.18.0.2/big.bin
        [ "$(sha256sum < http.bin)" = "$want" ] && echo "http sha256 ok"
        curl -sS --cacert {cert} -o https.bin https://198.18.0.2/big.bin
        [ "$(sha256sum < https.bin)" = "$want" ] && echo "https sha256 ok"
        rm -f http.bin https.bin
        "#,
        out = p(&out),
        www = p(&www),
        cert = p(&cert),
    );
    let daemon = format!(
        "--www {} --services http,https --tls-cert-out {}",
        p(&www),
        p(&cert)
    );
    let s = live::session("http-big", &daemon, &script);
    s.assert_ok();
    expect(&s.stdout, "http sha256 ok");
    expect(&s.stdout, "https sha256 ok");
    let _ = std::fs::remove_dir_all(&www);
}

/// HTTPS with the generated certificate: curl verifies it with TLS 1.3 and with TLS 1.2,
/// openssl s_client completes a handshake (verify OK), plain HTTP to 443 is turned away
/// without disturbing anything, and with --tls-keylog tshark decrypts the HTTP inside.
#[test]
fn live_https_curl_openssl_and_decrypted_capture() {
    if !live::can_run(
        "live_https_curl_openssl_and_decrypted_capture",
        &["curl", "openssl", "tshark"],
    ) {
        return;
    }
    let www = site("www-https", 10_000);
    let cert = live::artefact("https-cert.pem");
    let keylog = live::artefact("https-keys.log");
    let pcap = live::artefact("https.pcap");
    let script = format!(
        r#"
        set -e
        cd {dir}
        curl -sS --cacert {cert} --tlsv1.3 -o /dev/null -w 'tls13 %{{http_code}}\n' https://198.18.0.2/
        curl -sS --cacert {cert} --tlsv1.2 --tls-max 1.2 -o /dev/null -w 'tls12 %{{http_code}}\n' https://198.18.0.2/a.txt
        curl -sS -v --cacert {cert} -o /dev/null https://198.18.0.2/ 2>&1 | grep -q 'ALPN: server accepted http/1.1' && echo "alpn http/1.1"
        curl -sS --cacert {cert} -o /dev/null -o /dev/null -w 'pair %{{http_code}} %{{num_connects}}\n' https://198.18.0.2/a.txt https://198.18.0.2/b.txt
        echo | openssl s_client -connect 198.18.0.2:443 -CAfile {cert} 2>&1 > sclient.txt || true
        grep -q 'Verify return code: 0 (ok)' sclient.txt && echo "s_client verified"
        grep -Eq 'Protocol *: TLSv1.3|New, TLSv1.3' sclient.txt && echo "s_client tls1.3"
        if curl -sS --max-time 5 -o /dev/null http://198.18.0.2:443/ 2>/dev/null; then echo "plain http on 443 answered"; else echo "plain http on 443 refused"; fi
        curl -sS -o /dev/null -w 'insecure-check %{{http_code}}\n' https://198.18.0.2/ 2>/dev/null || echo "untrusted rejected"
        curl -sS --cacert {cert} -o /dev/null -w 'after %{{http_code}}\n' https://198.18.0.2/
        "#,
        cert = p(&cert),
        dir = p(&live::repo().join("target/live")),
    );
    let daemon = format!(
        "--www {} --services https --tls-cert-out {} --tls-keylog {} --pcap {}",
        p(&www),
        p(&cert),
        p(&keylog),
        p(&pcap)
    );
    let s = live::session("https", &daemon, &script);
    s.assert_ok();
    for line in [
        "tls13 200",
        "tls12 200",
        "alpn http/1.1",
        "pair 200 1",
        "s_client verified",
        "s_client tls1.3",
        "plain http on 443 refused",
        "untrusted rejected",
        "after 200",
    ] {
        expect(&s.stdout, line);
    }
    assert!(
        s.stdout
            .contains("self-signed certificate for 198.18.0.2 written to"),
        "{}",
        s.stdout
    );
    live::assert_clean_capture(&pcap, 20);
    // Without the key log tshark sees only TLS (and the one plain request sent to 443, which
    // got an alert, not a response); with it, the HTTP inside.
    let opaque = live::tshark_matching(&pcap, "http.response");
    assert!(opaque.is_empty(), "{}", opaque.join("\n"));
    let keys = format!("tls.keylog_file:{}", p(&keylog));
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-o", &keys, "-Y", "http"])
        .output()
        .unwrap();
    let decrypted = String::from_utf8_lossy(&out.stdout);
    let requests = decrypted.lines().filter(|l| l.contains("GET /")).count();
    let responses = decrypted
        .lines()
        .filter(|l| l.contains("HTTP/1.1 200 OK"))
        .count();
    assert!(requests >= 5 && responses >= 5, "decrypted:\n{decrypted}");
}

/// wrk: 10 s of keep-alive load on 20 connections; zero socket errors, all 2xx.
#[test]
fn live_http_wrk_keep_alive_load() {
    if !live::can_run("live_http_wrk_keep_alive_load", &["wrk"]) {
        return;
    }
    let www = site("www-wrk", 1000);
    let script = "wrk -t 2 -c 20 -d 10s --timeout 5s http://198.18.0.2/a.txt";
    let daemon = format!("--www {} --services http", p(&www));
    let s = live::session("wrk", &daemon, script);
    s.assert_ok();
    let requests: u64 = s
        .stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .and_then(|(n, _)| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no request count:\n{}", s.stdout));
    assert!(requests > 100, "{}", s.stdout);
    // Figures for the reader (never asserted on).
    for line in s.stdout.lines().filter(|l| {
        l.contains("Requests/sec") || l.contains("requests in") || l.starts_with("http (port")
    }) {
        eprintln!("wrk: {}", line.trim());
    }
    assert!(!s.stdout.contains("Socket errors"), "{}", s.stdout);
    assert!(!s.stdout.contains("Non-2xx"), "{}", s.stdout);
    // Keep-alive: far fewer connections than requests.
    let conns: u64 = s
        .stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("http (port 80): ")
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no summary:\n{}", s.stdout));
    assert!(conns <= 40, "{conns} connections for {requests} requests");
}
