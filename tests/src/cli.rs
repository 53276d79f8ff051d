//! Running the real `cmdb` binary from integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// Path to a freshly built `cmdb` binary (built once per test process, same profile as the
/// tests, so `cargo test` alone is enough).
pub fn cmdb_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let release = !cfg!(debug_assertions);
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&root)
            .args(["build", "-q", "-p", "cmdb-server", "--bin", "cmdb"]);
        if release {
            cmd.arg("--release");
        }
        let status = cmd
            .status()
            .expect("running cargo build for the cmdb binary");
        assert!(status.success(), "building the cmdb binary failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        target
            .join(if release { "release" } else { "debug" })
            .join("cmdb")
    })
    .clone()
}

/// `cmdb --data-dir DIR ARGS…`, with no ambient config or env overrides.
pub fn cmdb(data_dir: &Path, args: &[&str]) -> Output {
    base_command(data_dir)
        .args(args)
        .output()
        .expect("running cmdb")
}

/// A `Command` for `cmdb --data-dir DIR` with a clean environment for config.
pub fn base_command(data_dir: &Path) -> Command {
    let mut c = Command::new(cmdb_bin());
    c.arg("--data-dir").arg(data_dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("CMDB_") {
            c.env_remove(k);
        }
    }
    c.current_dir(data_dir.parent().unwrap_or(data_dir));
    c.env("CMDB_LOG", "warn");
    c
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
