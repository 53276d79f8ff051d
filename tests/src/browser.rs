//! The browser lab: Debian's headless Chromium driven by playwright-core from Node.js
//! (setup: `tests/lab/browser/setup.sh`). Scenarios live in `tests/browser/console.mjs`;
//! screenshots land in `target/console-artifacts/`.

use std::path::PathBuf;
use std::process::Command;

use crate::cli::workspace_root;

/// Where the scenarios write their screenshots (kept after the run, as test artifacts).
pub fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("console-artifacts")
}

/// Run `node tests/browser/console.mjs SCENARIO` with `env`; panics with its output when a
/// check fails, or with setup instructions when Chromium or playwright-core is missing.
pub fn run_scenario(scenario: &str, env: &[(&str, &str)]) {
    let dir = workspace_root().join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists() && dir.join("node_modules/playwright-core").exists(),
        "the browser lab is not set up: run tests/lab/browser/setup.sh (Debian chromium, npm ci in tests/browser)"
    );
    let mut cmd = Command::new("node");
    cmd.current_dir(&dir)
        .arg("console.mjs")
        .arg(scenario)
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", artifacts());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .expect("running node (Node.js 18+ is required)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "browser scenario `{scenario}` failed (screenshots in {}):\n{text}",
        artifacts().display()
    );
}

/// JSON lines of a business service whose map has about `nodes` CIs (tests/browser/big-service.mjs).
pub fn big_service(nodes: usize, name: &str) -> String {
    let out = Command::new("node")
        .current_dir(workspace_root().join("tests/browser"))
        .args(["big-service.mjs", &nodes.to_string(), name])
        .output()
        .expect("node big-service.mjs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}
