//! The real `cmdb serve` binary as a test fixture: started on 127.0.0.1:0 with a config file
//! of the test's choosing, its address read from the line it prints, stopped with SIGTERM (or
//! killed) when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::base_command;

pub struct Served {
    pub url: String,
    pub addr: std::net::SocketAddr,
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl Served {
    /// `cmdb serve --bind 127.0.0.1:0` over a fresh data dir with `config` as its cmdb.toml
    /// (local discovery at start is off unless the config turns it on).
    pub fn start(config: &str) -> Served {
        Self::start_after(config, |_, _| {})
    }

    /// As [`Served::start`], running `before(data_dir, config_file)` first (e.g. `cmdb import`).
    pub fn start_after(config: &str, before: impl FnOnce(&Path, &Path)) -> Served {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("cmdb.toml");
        let text = if config.contains("[server]") {
            config.to_string()
        } else {
            format!("[server]\ndiscover_local_on_start = false\n{config}")
        };
        std::fs::write(&cfg, text).expect("write config");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        before(&data, &cfg);
        let log = std::fs::File::create(dir.path().join("serve.log")).expect("log file");
        let mut child = base_command(&data)
            .arg("--config")
            .arg(&cfg)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("cmdb serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the address line");
        let url = match line.trim().strip_prefix("listening on ") {
            Some(u) => u.to_string(),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "cmdb serve did not start: {line:?}\n{}",
                    std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
                );
            }
        };
        let addr = url.trim_start_matches("http://").parse().expect("address");
        Served {
            url,
            addr,
            child: Some(child),
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// CPU seconds (user + system) the server has used so far, from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.pid())
    }

    /// SIGTERM, then wait up to `within`; returns how long it took to exit and whether it
    /// exited successfully (killed if it did not exit in time).
    pub fn terminate(&mut self, within: Duration) -> (Duration, bool) {
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, false);
        };
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return (started.elapsed(), st.success());
            }
            if started.elapsed() > within {
                let _ = child.kill();
                let _ = child.wait();
                return (started.elapsed(), false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// CPU seconds (user + system) a process has used, from /proc/PID/stat (0 if unreadable).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
    else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 (1-based) of the whole line: 12 and 13 here.
    let ticks: f64 = f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let hz = 100.0; // USER_HZ on Linux
    ticks / hz
}
