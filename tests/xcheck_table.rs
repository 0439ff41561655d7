//! Keeps docs/xcheck.md, the smoltcp cross-check table, true to the tests and their results.
//!
//! Every test in `tests/xcheck_*.rs` (this file aside) carries one `/// xcheck: <scenario>`
//! line, optionally followed by ` | <intentional difference, with the RFC clause>`, and
//! records its outcome when it ends (`let _outcome = xcheck::outcome();`, see
//! `tests/xcheck/outcome.rs`) in `target/xcheck-outcomes/<suite>/<test>`, with the test
//! binary that ran it. The rows come from the `/// xcheck:` lines, the "vs smoltcp" column
//! from the outcomes: "pass" only for a test that recorded a pass from its current binary
//! (an outcome from a binary since rebuilt does not count), "fail (...)" for one that
//! recorded a failure, and "fail (<reason>)" for a test marked `#[ignore = "bug: ..."]`.
//!
//! `cargo test` runs the test binaries in alphabetical order, this one after the suites, so a
//! full `cargo test` checks the table against this build's results. Run alone, or after only
//! some suites, the statuses of the suites without outcomes are not checked (it says so) but
//! everything else is: every test has a row, the rows and differences are current. A suite
//! that ran must have recorded an outcome for each of its tests that is not ignored.
//! `XCHECK_BLESS=1 cargo test --test xcheck_table` rewrites the files, and refuses to unless
//! every test that is not ignored has an outcome: run `cargo test --test 'xcheck_*'` first.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

struct Row {
    suite: String,
    test: String,
    scenario: String,
    difference: Option<String>,
    ignored: Option<String>,
}

const SUITES: [(&str, &str); 5] = [
    (
        "xcheck_interop",
        "Interop: our stack and smoltcp on one simulated wire (1 ms each way)",
    ),
    (
        "xcheck_faults",
        "Interop through faults (seeded `link::Faults`, both directions)",
    ),
    (
        "xcheck_props",
        "Property tests (proptest, random seeds and sizes)",
    ),
    (
        "xcheck_ipv6",
        "Over IPv6: smoltcp at 2001:2::1/64, ours at 2001:2::2 (interop and faults)",
    ),
    (
        "xcheck_diff",
        "Differential: the same scripted segments to both, replies compared",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tests of one file, with their `/// xcheck:` rows.
fn rows(path: &Path) -> Result<Vec<Row>, String> {
    let suite = path.file_stem().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    let (mut docs, mut is_test, mut ignored) = (Vec::<String>::new(), false, None);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(doc) = line.strip_prefix("///") {
            docs.push(doc.trim().to_string());
        } else if line == "#[test]" {
            is_test = true;
        } else if let Some(reason) = line.strip_prefix("#[ignore") {
            ignored = Some(
                reason
                    .trim_start_matches([' ', '='])
                    .trim_end_matches(']')
                    .trim_matches('"')
                    .to_string(),
            );
        } else if line.starts_with("#[") {
        } else if let Some(rest) = line.strip_prefix("fn ").filter(|_| is_test) {
            let test = rest.split(['(', '<']).next().unwrap().trim().to_string();
            let spec = docs
                .iter()
                .find_map(|d| d.strip_prefix("xcheck:"))
                .ok_or_else(|| {
                    format!(
                        "{}:{}: test {test} has no `/// xcheck: <scenario>` line",
                        path.display(),
                        n + 1
                    )
                })?;
            let (scenario, difference) = match spec.split_once(" | ") {
                Some((s, d)) => (s.trim().to_string(), Some(d.trim().to_string())),
                None => (spec.trim().to_string(), None),
            };
            out.push(Row {
                suite: suite.clone(),
                test,
                scenario,
                difference,
                ignored: ignored.take(),
            });
            docs.clear();
            is_test = false;
        } else {
            docs.clear();
            is_test = false;
            ignored = None;
        }
    }
    Ok(out)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Every test's row, from the `/// xcheck:` lines.
fn catalogue() -> Result<Vec<Row>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests"))
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("xcheck_") && name.ends_with(".rs") && name != "xcheck_table.rs"
        })
        .collect();
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        all.extend(rows(f)?);
    }
    for r in &all {
        if !SUITES.iter().any(|(s, _)| *s == r.suite) {
            return Err(format!(
                "{}: add the suite to SUITES in xcheck_table.rs",
                r.suite
            ));
        }
    }
    Ok(all)
}

/// A test's recorded outcome, if the binary that recorded it is the one built now.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Recorded {
    Pass,
    Fail,
    /// None, or one from a binary since rebuilt.
    Missing,
}

/// Where tests/xcheck/outcome.rs records outcomes (keep in step with it).
fn outcomes_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
        .join("xcheck-outcomes")
}

fn recorded(row: &Row) -> Recorded {
    let path = outcomes_dir().join(&row.suite).join(&row.test);
    let Ok(text) = std::fs::read_to_string(path) else {
        return Recorded::Missing;
    };
    let mut lines = text.lines();
    let result = lines.next().unwrap_or("");
    let (mut exe, mut built) = (None, None);
    for line in lines {
        if let Some(v) = line.strip_prefix("exe=") {
            exe = Some(PathBuf::from(v));
        } else if let Some(v) = line.strip_prefix("built=") {
            built = v.parse::<u128>().ok();
        }
    }
    let current = exe
        .and_then(|exe| std::fs::metadata(exe).and_then(|m| m.modified()).ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .is_some_and(|t| Some(t.as_nanos()) == built);
    match result {
        "pass" if current => Recorded::Pass,
        "fail" if current => Recorded::Fail,
        _ => Recorded::Missing,
    }
}

/// Every row's status ("pass", "fail (...)"), or `None` where this build recorded no outcome
/// for it. Fails when a suite that ran lacks an outcome for one of its tests, and when
/// blessing with any outcome missing.
fn statuses(all: &[Row], bless: bool) -> Result<Vec<Option<String>>, String> {
    let got: Vec<(Recorded, Option<String>)> = all
        .iter()
        .map(|r| match &r.ignored {
            // An ignored test needs no outcome: its row is the bug it documents.
            Some(reason) => (Recorded::Pass, Some(format!("fail ({})", cell(reason)))),
            None => match recorded(r) {
                Recorded::Pass => (Recorded::Pass, Some("pass".to_string())),
                Recorded::Fail => (
                    Recorded::Fail,
                    Some("fail (failed in this build's run)".to_string()),
                ),
                Recorded::Missing => (Recorded::Missing, None),
            },
        })
        .collect();
    let ran = |suite: &str| {
        all.iter()
            .zip(&got)
            .any(|(r, (g, _))| r.suite == suite && r.ignored.is_none() && *g != Recorded::Missing)
    };
    let missing: Vec<&Row> = all
        .iter()
        .zip(&got)
        .filter(|(_, (g, _))| *g == Recorded::Missing)
        .map(|(r, _)| r)
        .collect();
    let names = |rows: &[&Row]| {
        rows.iter()
            .map(|r| format!("{}::{}", r.suite, r.test))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unexplained: Vec<&Row> = missing.iter().copied().filter(|r| ran(&r.suite)).collect();
    if !unexplained.is_empty() {
        return Err(format!(
            "no outcome recorded by this build for {} although their suites ran: run them \
             (cargo test --test 'xcheck_*'), and check that each test starts with \
             `let _outcome = xcheck::outcome();`",
            names(&unexplained)
        ));
    }
    if bless && !missing.is_empty() {
        return Err(format!(
            "not blessing: no outcome recorded by this build for {}; run \
             cargo test --test 'xcheck_*' first",
            names(&missing)
        ));
    }
    if !missing.is_empty() {
        let mut suites: Vec<&str> = missing.iter().map(|r| r.suite.as_str()).collect();
        suites.dedup();
        // Straight to stderr, past libtest's capture (which hides eprintln! of a passing
        // test), once for both tests.
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| {
            let _ = writeln!(
                std::io::stderr(),
                "xcheck_table: no outcomes recorded by this build for {}: their statuses are \
                 not checked, only that every test has its row (cargo test --test 'xcheck_*' \
                 checks them)",
                suites.join(", ")
            );
        });
    }
    Ok(got.into_iter().map(|(_, s)| s).collect())
}

/// The status column of `suite::test`'s row in a table already written, if any.
fn written_status(text: &str, suite: &str, test: &str) -> Option<String> {
    let key = format!("| `{suite}::{test}` | ");
    let line = text.lines().find(|l| l.contains(&key))?;
    let rest = &line[line.find(&key)? + key.len()..];
    Some(rest.split(" | ").next()?.to_string())
}

/// The table, statuses from the outcomes; where a suite recorded none, from `written` (the
/// file being checked), so that only the catalogue is checked there.
fn table(written: &str) -> Result<String, String> {
    let all = catalogue()?;
    let bless = std::env::var_os("XCHECK_BLESS").is_some();
    let statuses = statuses(&all, bless)?;
    let mut md = String::new();
    md.push_str(
        "# Cross-check against smoltcp\n\n\
         Generated from the `/// xcheck:` line above each test in `tests/xcheck_*.rs` by\n\
         `tests/xcheck_table.rs`, the status of each row from the outcome its test recorded\n\
         (`tests/xcheck/outcome.rs`): \"pass\" means the test ran and passed, from the test binary\n\
         built from these sources. A scenario that fails against smoltcp because of a bug of ours\n\
         is kept as an ignored test and listed as \"fail\" with the bug. `cargo test`, which runs\n\
         `xcheck_table` after the suites, fails when this file is stale or a status differs from\n\
         the results; `XCHECK_BLESS=1 cargo test --test xcheck_table` rewrites it after\n\
         `cargo test --test 'xcheck_*'`.\n\n\
         The harness (`tests/xcheck/mod.rs`) joins our `Stack` (198.18.0.2) and a smoltcp 0.14\n\
         `Interface` (198.18.0.1, `Medium::Ip`), or over IPv6 ours at 2001:2::2 and smoltcp at\n\
         2001:2::1/64 (smoltcp's `proto-ipv6`), through `link::Memory` wrapped in seeded\n\
         `link::Faults`, on one simulated clock that jumps to the next deadline of either stack or\n\
         the wire; a failing test leaves a capture in `target/xcheck/<test>.pcap`. The differential\n\
         tests (`tests/xcheck/script.rs`) craft raw IPv4+TCP packets for either implementation in\n\
         the same state and compare the replies in RFC notation, sequence numbers relative to each\n\
         side's ISS. smoltcp runs with its Reno congestion control (`socket-tcp-reno`).\n",
    );
    for (suite, title) in SUITES {
        let rows: Vec<(&Row, &Option<String>)> = all
            .iter()
            .zip(&statuses)
            .filter(|(r, _)| r.suite == suite)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = write!(
            md,
            "\n## {title}\n\n| scenario | test | vs smoltcp | intentional difference (RFC) |\n|---|---|---|---|\n"
        );
        for (r, status) in rows {
            let status = status
                .clone()
                .or_else(|| written_status(written, &r.suite, &r.test))
                .unwrap_or_else(|| "no outcome recorded".to_string());
            let _ = writeln!(
                md,
                "| {} | `{}::{}` | {} | {} |",
                cell(&r.scenario),
                r.suite,
                r.test,
                status,
                r.difference.as_deref().map(cell).unwrap_or_default()
            );
        }
    }
    let diffs: Vec<&Row> = all.iter().filter(|r| r.difference.is_some()).collect();
    if !diffs.is_empty() {
        md.push_str("\n## Intentional differences\n\n");
        let mut seen: Vec<&str> = Vec::new();
        for r in diffs {
            let d = r.difference.as_deref().unwrap();
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            let tests: Vec<String> = all
                .iter()
                .filter(|x| x.difference.as_deref() == Some(d))
                .map(|x| format!("`{}::{}`", x.suite, x.test))
                .collect();
            let _ = writeln!(md, "- {d} ({})", tests.join(", "));
        }
    }
    Ok(md)
}

/// docs/xcheck.md is the table generated from the tests.
#[test]
fn docs_xcheck_md_matches_the_tests() {
    let path = root().join("docs/xcheck.md");
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    let expected = table(&actual).unwrap_or_else(|e| panic!("{e}"));
    if std::env::var_os("XCHECK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    if actual != expected {
        let first = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(actual.lines().count().min(expected.lines().count()));
        panic!(
            "docs/xcheck.md is stale (first difference at line {}: {:?} should be {:?}); \
             run XCHECK_BLESS=1 cargo test --test xcheck_table",
            first + 1,
            actual.lines().nth(first).unwrap_or(""),
            expected.lines().nth(first).unwrap_or("")
        );
    }
}

/// README.md carries the same table, between `<!-- xcheck:begin -->` and
/// `<!-- xcheck:end -->`, with its headings one level down.
#[test]
fn readme_carries_the_xcheck_table() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let table = table(&readme).unwrap_or_else(|e| panic!("{e}"));
    let body = table
        .split_once("\n## ")
        .map(|(_, rest)| format!("### {rest}"))
        .unwrap_or_default()
        .replace("\n## ", "\n### ");
    let block = format!("<!-- xcheck:begin -->\n{body}<!-- xcheck:end -->");
    let (start, end) = (
        readme
            .find("<!-- xcheck:begin -->")
            .expect("README.md has an xcheck:begin marker"),
        readme
            .find("<!-- xcheck:end -->")
            .expect("README.md has an xcheck:end marker"),
    );
    let current = &readme[start..end + "<!-- xcheck:end -->".len()];
    if std::env::var_os("XCHECK_BLESS").is_some() {
        std::fs::write(&path, readme.replace(current, &block)).unwrap();
        return;
    }
    assert!(
        current == block,
        "README.md's cross-check table is stale; run XCHECK_BLESS=1 cargo test --test xcheck_table"
    );
}
