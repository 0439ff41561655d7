//! Each cross-check test records its outcome, so that docs/xcheck.md's "vs smoltcp" column
//! comes from results rather than from the catalogue of tests (`tests/xcheck_table.rs` reads
//! them).
//!
//! `let _outcome = xcheck::outcome();` as a test's first line; when the guard drops at the end
//! of the test it writes `target/xcheck-outcomes/<suite>/<test>`: `pass`, or `fail` if the
//! test is panicking, followed by the path and modification time of the test binary that ran
//! it, so that the table only believes outcomes of the binary built from the current sources.
//! A property test creates the guard outside `proptest!` (the closure form), since proptest
//! runs the body once per case and panics only after shrinking.
//!
//! The file layout is shared with `tests/xcheck_table.rs` (which does not include this
//! harness): keep the two in step.

use std::path::PathBuf;
use std::time::UNIX_EPOCH;

/// Where outcomes are recorded: `<target>/xcheck-outcomes`.
pub fn outcomes_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("xcheck-outcomes")
}

/// Records the running test's outcome when dropped.
pub struct Outcome {
    suite: &'static str,
    test: String,
}

/// A guard for the running test (libtest names the thread after it).
pub fn outcome() -> Outcome {
    let test = std::thread::current()
        .name()
        .expect("a test thread has the test's name")
        .to_string();
    Outcome {
        suite: env!("CARGO_CRATE_NAME"),
        test,
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        let result = if std::thread::panicking() {
            "fail"
        } else {
            "pass"
        };
        let exe = std::env::current_exe().unwrap_or_default();
        let built = std::fs::metadata(&exe)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = outcomes_dir().join(self.suite);
        let path = dir.join(&self.test);
        let text = format!("{result}\nexe={}\nbuilt={built}\n", exe.display());
        if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            eprintln!(
                "{}: cannot record the outcome in {}: {e}",
                self.test,
                path.display()
            );
        }
    }
}
