//! External tools a test needs (node, npm): present or, under `CI=true`, a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `tool --version` runs; outside CI a missing tool skips `what` loudly, under
/// `CI=true` it fails the test.
pub fn tool_present(tool: &str, what: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !crate::backends::in_ci(),
            "{tool} is required under CI=true ({what})"
        );
        eprintln!("SKIPPED: {tool} is not installed; {what} did not run");
    }
    ok
}

/// `npm ci` in `dir` when node_modules is missing or older than the lock file (as
/// clients/typescript/scripts/check.sh does).
pub fn npm_ci(dir: &Path) {
    // Tests of one binary run at once: two `npm ci` in one directory break each other's
    // install (each empties node_modules first).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(dir.join("node_modules/.package-lock.json"));
    let locked = modified(dir.join("package-lock.json"));
    if installed.is_some() && installed >= locked {
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("npm runs");
    assert!(status.success(), "npm ci failed in {}", dir.display());
}
