//! The soak of issue 14, in its 60-second version for CI: `scripts/soak.sh --seconds 60`
//! runs wrk (keep-alive and `Connection: close`), bulk echo, a ping flood, 1% loss each way,
//! a SYN flood and two malformed barrages at once against this build's daemon in its own
//! namespace, and passes when memory is flat (the median of the RSS sampled every second over
//! 40-60 s is within 15% of the median over 20-40 s, these windows being inside the warm-up,
//! and the RSS once the clients have stopped within 10% of it), every connection to the clients is
//! gone within 2×MSL after they stop, every echoed byte came back and wrk got no non-2xx
//! answer. The 10-minute run is `sudo scripts/soak.sh` (README, "Soak").

mod live;

use live::figure;

use std::process::Command;

#[test]
fn live_soak_60s_memory_flat_no_stuck_connections_bytes_exact() {
    if !live::can_run(
        "live_soak_60s_memory_flat_no_stuck_connections_bytes_exact",
        &["python3", "wrk", "iptables", "timeout"],
    ) {
        return;
    }
    let out = Command::new(live::repo().join("scripts/soak.sh"))
        .current_dir(live::repo())
        .args(["--seconds", "60"])
        .env("TUNSTACK_BIN", env!("CARGO_BIN_EXE_tunstack"))
        .output()
        .expect("running scripts/soak.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("soak: PASS"),
        "soak failed ({}):\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    // The load really ran: one SYN flood (all its SYNs sent), two barrages, echo runs and
    // HTTP requests in both wrk modes.
    assert!(stdout.contains("SYN floods (1):"), "{stdout}");
    assert!(stdout.contains("sent 50000 in "), "{stdout}");
    assert!(stdout.contains("barrages (2):"), "{stdout}");
    assert!(figure(&stdout, "bulk echo:") >= 1, "{stdout}");
    // Memory was measured: 20 samples in each window, and the heap figures from `stats`
    // (what the daemon holds) in the series beside RSS.
    assert!(
        stdout.contains(", 20 samples), over the last 20 s "),
        "{stdout}"
    );
    assert!(stdout.contains(" rss_kib heap_kib free_kib "), "{stdout}");
    assert_eq!(
        stdout.matches(" requests in ").count(),
        2,
        "both wrk runs answered requests:\n{stdout}"
    );
}
