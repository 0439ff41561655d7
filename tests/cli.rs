//! The command line, as a newcomer meets it (no root needed: these fail before any device
//! is touched).

use std::process::Command;

fn tunstack(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tunstack"))
        .args(args)
        .output()
        .expect("running tunstack");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_mtu_or_address_is_one_clear_sentence() {
    for (args, needle) in [
        (&["--mtu", "40"][..], "--mtu 40 is out of range"),
        (&["--mtu", "70000"][..], "--mtu 70000 is out of range"),
        (
            &["--addr", "10.9.9.9"][..],
            "outside the kernel side's subnet",
        ),
        (
            &["--addr", "198.18.0.1"][..],
            "is the kernel side's address too",
        ),
        (
            &["--addr", "198.18.0.255"][..],
            "network or broadcast address",
        ),
        (&["--kernel-addr", "198.18.0.1"][..], "needs a prefix"),
        (
            &["--kernel-addr", "198.18.0.1/40"][..],
            "the prefix must be 1..=30",
        ),
    ] {
        let (ok, _, err) = tunstack(args);
        assert!(!ok, "{args:?} should fail");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[test]
fn bad_fault_spec_says_what_is_known() {
    let (ok, _, err) = tunstack(&["--faults", "los=0.1"]);
    assert!(!ok);
    assert!(err.contains("unknown fault \"los\""), "{err}");
    assert!(err.contains("known: loss"), "{err}");
}

#[test]
fn unknown_congestion_control_names_the_choices() {
    let (ok, _, err) = tunstack(&["--cc", "bbr"]);
    assert!(!ok);
    assert!(err.contains("expected cubic or newreno"), "{err}");
}

#[test]
fn help_explains_the_defaults() {
    let (ok, out, _) = tunstack(&["--help"]);
    assert!(ok);
    for needle in [
        "tun0",
        "198.18.0.2",
        "198.18.0.1/24",
        "--pcap",
        "--no-configure",
        "--faults",
        "--cc <ALGORITHM>",
        "[default: cubic]",
        "--rcvbuf-max",
        "--sndbuf <BYTES>",
        "Examples:",
    ] {
        assert!(out.contains(needle), "--help lacks {needle:?}:\n{out}");
    }
}
