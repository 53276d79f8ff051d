//! The Bolt lab for tests: an ArcadeDB server with its Bolt plugin (tests/lab/bolt), started
//! once per test binary by [`lab()`] (idempotent: a running lab is reused), and a fixture that
//! gives each test an empty graph. Tests sharing the one database run one at a time under
//! [`exclusive()`].
//!
//! Include with `#[path = "support/bolt_lab.rs"] mod bolt_lab;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cmdb_store::neo4j::{Neo4jConfig, Neo4jStore};

pub const PASSWORD: &str = "cmdb-lab-password";

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

pub fn port() -> u16 {
    env_or("BOLT_LAB_PORT", "17687").parse().unwrap_or(17687)
}

pub fn lab_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/lab/bolt")
}

/// Run a lab script, panicking with its output when it fails (test set-up, not product code).
pub fn script(name: &str, args: &[&str]) {
    script_env(name, args, &[]);
}

/// Run a lab script with extra environment (another instance: BOLT_LAB_PORT, BOLT_LAB_DIR…).
pub fn script_env(name: &str, args: &[&str], env: &[(&str, String)]) {
    let path = lab_dir().join(name);
    let mut cmd = Command::new("sh");
    cmd.arg(&path).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", path.display()));
    assert!(
        out.status.success(),
        "{} failed:\n{}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Start the lab once per process (reusing one that is already running).
pub fn lab() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| script("start.sh", &[]));
}

/// The lab's connection settings.
pub fn config() -> Neo4jConfig {
    Neo4jConfig {
        uri: format!("bolt://127.0.0.1:{}", port()),
        user: "root".into(),
        password: env_or("BOLT_LAB_PASSWORD", PASSWORD),
        database: env_or("BOLT_LAB_DATABASE", "cmdb"),
        batch_size: 5_000,
        max_connections: 4,
        connect_timeout: Duration::from_secs(20),
        query_timeout: Duration::from_secs(60),
        max_retries: 4,
    }
}

/// Serialises the tests of one binary that use the lab's database.
pub async fn exclusive() -> tokio::sync::OwnedMutexGuard<()> {
    static LOCK: OnceLock<Arc<tokio::sync::Mutex<()>>> = OnceLock::new();
    LOCK.get_or_init(|| Arc::new(tokio::sync::Mutex::new(())))
        .clone()
        .lock_owned()
        .await
}

/// An empty graph for one test, held exclusively until dropped.
pub struct Fixture {
    pub store: Neo4jStore,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl std::ops::Deref for Fixture {
    type Target = Neo4jStore;
    fn deref(&self) -> &Neo4jStore {
        &self.store
    }
}

pub async fn fresh() -> Fixture {
    let guard = exclusive().await;
    lab();
    let store = Neo4jStore::connect(&config())
        .await
        .unwrap_or_else(|e| panic!("connecting to the Bolt lab: {e}"));
    store
        .erase_everything()
        .await
        .unwrap_or_else(|e| panic!("emptying the Bolt lab database: {e}"));
    Fixture {
        store,
        _guard: guard,
    }
}

/// A second, private lab server (own port and data directory) for tests that kill, pause or
/// restart it. Stopped when dropped.
pub struct PrivateLab {
    pub port: u16,
    pub http_port: u16,
    pub dir: PathBuf,
}

impl PrivateLab {
    pub fn start(port: u16, http_port: u16, name: &str) -> PrivateLab {
        let lab = PrivateLab {
            port,
            http_port,
            dir: PathBuf::from(format!("/var/tmp/cmdb-bolt-lab/{name}")),
        };
        lab.run("start.sh", &["--fresh"]);
        lab
    }
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("BOLT_LAB_PORT", self.port.to_string()),
            ("BOLT_LAB_HTTP_PORT", self.http_port.to_string()),
            ("BOLT_LAB_DIR", self.dir.display().to_string()),
        ]
    }
    pub fn run(&self, script: &str, args: &[&str]) {
        script_env(script, args, &self.env());
    }
    /// Restart after a kill, keeping the data.
    pub fn restart(&self) {
        self.run("start.sh", &[]);
    }
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("server.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
    /// SIGKILL the server (a crash), by its recorded pid only.
    pub fn kill9(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            for _ in 0..100 {
                if !alive(pid) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = std::fs::remove_file(self.dir.join("server.pid"));
        }
    }
    /// SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing.
    pub fn pause(&self, paused: bool) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args([if paused { "-STOP" } else { "-CONT" }, &pid.to_string()])
                .status();
        }
    }
    pub fn config(&self) -> Neo4jConfig {
        Neo4jConfig {
            uri: format!("bolt://127.0.0.1:{}", self.port),
            ..config()
        }
    }
}

/// The process exists and is not a zombie (as tests/lab/alive.sh: where PID 1 does not reap, a
/// killed server lingers as a zombie that `kill -0` still reports).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X') | None
        ),
        Err(_) => false,
    }
}

impl Drop for PrivateLab {
    fn drop(&mut self) {
        self.pause(false);
        let env = self.env();
        let path = lab_dir().join("stop.sh");
        let mut cmd = Command::new("sh");
        cmd.arg(&path);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let _ = cmd.output();
    }
}
