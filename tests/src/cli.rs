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

/// The workspace's packages and targets: `cargo metadata --no-deps` as JSON.
pub fn cargo_metadata() -> serde_json::Value {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON")
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
        // `cargo test` sets these for the test process; build scripts that watch them (ring's)
        // would otherwise be rebuilt here and again by the next outer `cargo test`, every time.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if [
                "CARGO_PKG_",
                "CARGO_MANIFEST_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
            ]
            .iter()
            .any(|p| k.starts_with(p))
            {
                cmd.env_remove(k);
            }
        }
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

/// A real `cmdb serve` child process on 127.0.0.1 (port chosen by the OS), with its log in
/// `<data-dir>/../serve-N.log`. Killed (SIGKILL) when dropped.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub url: String,
    pub log: PathBuf,
    client: reqwest::blocking::Client,
}

impl ServeProcess {
    /// `cmdb --data-dir DIR serve --bind 127.0.0.1:0` with `env` added (e.g. config
    /// overrides); local discovery at start is off unless `env` turns it on.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> ServeProcess {
        use std::io::BufRead;
        std::fs::create_dir_all(data_dir.parent().unwrap_or(data_dir))
            .expect("parent of the data dir");
        let mut n = 0;
        let log = loop {
            let p = data_dir.with_file_name(format!("serve-{n}.log"));
            if !p.exists() {
                break p;
            }
            n += 1;
        };
        let mut cmd = base_command(data_dir);
        cmd.env("CMDB_SERVER_DISCOVER_LOCAL_ON_START", "false")
            .env("CMDB_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("serve log file"))
            .spawn()
            .expect("starting cmdb serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading the address line");
        let Some(url) = line
            .trim()
            .strip_prefix("listening on ")
            .map(str::to_string)
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cmdb serve did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        ServeProcess {
            child,
            url,
            log,
            client: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    /// POST a GraphQL operation; returns the whole response body.
    pub fn post(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        self.client
            .post(format!("{}/graphql", self.url))
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .expect("request sent")
            .json()
            .expect("JSON response")
    }

    /// POST and insist on no errors; returns `data`.
    pub fn ok(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        let body = self.post(query, variables);
        assert!(body["errors"].is_null(), "errors for {query}: {body}");
        body["data"].clone()
    }

    /// SIGKILL, no warning, and reap.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let st = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
        self.child.wait().expect("wait")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cmdb graphql --compact -q QUERY [-v VARS]` on the data directory; the whole response.
pub fn cli_graphql(
    data_dir: &Path,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let vars = variables.to_string();
    let out = cmdb(
        data_dir,
        &["graphql", "--compact", "-q", query, "-v", &vars],
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("cmdb graphql printed no JSON ({e}): {}", stderr(&out)))
}
