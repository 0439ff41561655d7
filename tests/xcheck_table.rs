//! Keeps docs/xcheck.md, the smoltcp cross-check table, true to the tests.
//!
//! Every test in `tests/xcheck_*.rs` (this file aside) carries one `/// xcheck: <scenario>`
//! line, optionally followed by ` | <intentional difference, with the RFC clause>`. The table
//! is generated from those lines; a test marked `#[ignore = "bug: ..."]` is listed as
//! failing against smoltcp with its reason, every other test as passing (the suite itself
//! proves it). This test fails when a test has no row or when docs/xcheck.md is stale;
//! `XCHECK_BLESS=1 cargo test --test xcheck_table` rewrites the file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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

fn table() -> Result<String, String> {
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
    let mut md = String::new();
    md.push_str(
        "# Cross-check against smoltcp\n\n\
         Generated from the `/// xcheck:` line above each test in `tests/xcheck_*.rs` by\n\
         `tests/xcheck_table.rs`; `cargo test --test xcheck_table` fails when this file is\n\
         stale, `XCHECK_BLESS=1 cargo test --test xcheck_table` rewrites it. \"pass\" means the\n\
         test runs in `cargo test` and passes; a scenario that fails against smoltcp because of a\n\
         bug of ours is kept as an ignored test and listed as \"fail\" with the bug.\n\n\
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
        let rows: Vec<&Row> = all.iter().filter(|r| r.suite == suite).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = write!(
            md,
            "\n## {title}\n\n| scenario | test | vs smoltcp | intentional difference (RFC) |\n|---|---|---|---|\n"
        );
        for r in rows {
            let status = match &r.ignored {
                Some(reason) => format!("fail ({})", cell(reason)),
                None => "pass".to_string(),
            };
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
    let expected = table().unwrap_or_else(|e| panic!("{e}"));
    let path = root().join("docs/xcheck.md");
    if std::env::var_os("XCHECK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
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
    let table = table().unwrap_or_else(|e| panic!("{e}"));
    let body = table
        .split_once("\n## ")
        .map(|(_, rest)| format!("### {rest}"))
        .unwrap_or_default()
        .replace("\n## ", "\n### ");
    let block = format!("<!-- xcheck:begin -->\n{body}<!-- xcheck:end -->");
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
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
