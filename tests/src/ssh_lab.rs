//! The SSH lab (tests/lab/ssh): real Debian sshd instances on loopback port 2222. Started once
//! per test binary by [`lab()`] (idempotent: an already running lab is reused).
//!
//! Addresses: `127.0.0.1` is this machine through a real shell; `127.0.3.1..=9` the simulated
//! estate answering from recordings; `127.0.3.20..=24` misbehaving hosts; `127.0.3.101..=150`
//! real shells for the benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cmdb_discovery::{Secret, SshAuth, SshCredential, Target};

pub const PORT: u16 = 2222;
pub const USER: &str = "cmdblab";
pub const PASSWORD: &str = "cmdb-lab-password";
pub const KEY_PASSPHRASE: &str = "lab-passphrase";

/// The simulated estate: (host name, lab address, role).
pub const ESTATE: &[(&str, &str, &str)] = &[
    ("lb1", "127.0.3.1", "haproxy"),
    ("web1", "127.0.3.2", "nginx"),
    ("web2", "127.0.3.3", "nginx"),
    ("web3", "127.0.3.4", "nginx"),
    ("app1", "127.0.3.5", "java"),
    ("app2", "127.0.3.6", "java"),
    ("db1", "127.0.3.7", "postgres"),
    ("db2", "127.0.3.8", "postgres"),
    ("cache1", "127.0.3.9", "redis"),
];

/// The estate's hosts' own (recorded, never contacted) addresses.
pub const ESTATE_IPS: &[(&str, &str)] = &[
    ("lb1", "10.20.0.10"),
    ("web1", "10.20.1.11"),
    ("web2", "10.20.1.12"),
    ("web3", "10.20.1.13"),
    ("app1", "10.20.2.21"),
    ("app2", "10.20.2.22"),
    ("db1", "10.20.3.31"),
    ("db2", "10.20.3.32"),
    ("cache1", "10.20.4.41"),
];

pub const GARBAGE: &str = "127.0.3.20";
pub const BIG: &str = "127.0.3.21";
pub const NON_UTF8: &str = "127.0.3.22";
pub const HUNG: &str = "127.0.3.23";
pub const ENDLESS: &str = "127.0.3.24";
/// Nothing listens here.
pub const UNREACHABLE: &str = "127.0.3.250";
/// This machine through a real login shell.
pub const LOCALHOST: &str = "127.0.0.1";

/// Addresses of the 50 real-shell benchmark hosts.
pub fn bench_addresses() -> Vec<String> {
    (101..=150).map(|i| format!("127.0.3.{i}")).collect()
}

#[derive(Debug)]
pub struct SshLab {
    pub dir: PathBuf,
}

impl SshLab {
    /// The unencrypted authorized client key.
    pub fn key(&self) -> PathBuf {
        self.dir.join("client_key")
    }
    /// The authorized client key protected by [`KEY_PASSPHRASE`].
    pub fn key_with_passphrase(&self) -> PathBuf {
        self.dir.join("client_key_pass")
    }
    /// A valid key that is not authorized.
    pub fn wrong_key(&self) -> PathBuf {
        self.dir.join("wrong_key")
    }
    /// The lab's real host key (public, OpenSSH one-line format).
    pub fn host_key_pub(&self) -> String {
        std::fs::read_to_string(self.dir.join("host_key.pub")).unwrap_or_default()
    }
    /// A different host key: known_hosts entries with it make the lab a "changed key" host.
    pub fn impostor_key_pub(&self) -> String {
        std::fs::read_to_string(self.dir.join("impostor_host_key.pub")).unwrap_or_default()
    }
    /// Write a known_hosts file giving `addr:PORT` the key `pubkey_line` (`type base64 comment`).
    pub fn write_known_hosts(&self, path: &Path, entries: &[(&str, &str)]) {
        let mut s = String::new();
        for (addr, pubkey_line) in entries {
            let mut parts = pubkey_line.split_whitespace();
            let (t, k) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            s.push_str(&format!("[{addr}]:{PORT} {t} {k}\n"));
        }
        std::fs::write(path, s).expect("write known_hosts");
    }

    /// Socket of the lab's ssh-agent, which holds the authorized client key.
    pub fn agent_socket(&self) -> PathBuf {
        self.dir.join("agent.sock")
    }
    pub fn agent_credential(&self, name: &str) -> SshCredential {
        SshCredential {
            name: name.into(),
            user: USER.into(),
            auth: SshAuth::Agent,
            scope: None,
        }
    }

    pub fn key_credential(&self, name: &str) -> SshCredential {
        SshCredential {
            name: name.into(),
            user: USER.into(),
            auth: SshAuth::Key {
                path: self.key().display().to_string(),
                passphrase: None,
            },
            scope: None,
        }
    }
    pub fn passphrase_key_credential(&self, name: &str) -> SshCredential {
        SshCredential {
            name: name.into(),
            user: USER.into(),
            auth: SshAuth::Key {
                path: self.key_with_passphrase().display().to_string(),
                passphrase: Some(Secret::new(KEY_PASSPHRASE)),
            },
            scope: None,
        }
    }
    pub fn wrong_key_credential(&self, name: &str) -> SshCredential {
        SshCredential {
            name: name.into(),
            user: USER.into(),
            auth: SshAuth::Key {
                path: self.wrong_key().display().to_string(),
                passphrase: None,
            },
            scope: None,
        }
    }
    pub fn password_credential(&self, name: &str, password: &str) -> SshCredential {
        SshCredential {
            name: name.into(),
            user: USER.into(),
            auth: SshAuth::Password {
                password: Secret::new(password),
            },
            scope: None,
        }
    }
}

pub fn target(addr: &str) -> Target {
    Target::new(addr, Some(PORT))
}

pub fn estate_targets() -> Vec<Target> {
    ESTATE.iter().map(|(_, a, _)| target(a)).collect()
}

fn lab_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lab/ssh")
        .join(name)
}

static LAB: OnceLock<SshLab> = OnceLock::new();

/// Start the lab (once per process) and return it. Panics with instructions when
/// `tests/lab/ssh/setup.sh` has not been run.
pub fn lab() -> &'static SshLab {
    LAB.get_or_init(|| {
        let out = Command::new("bash")
            .arg(lab_script("start.sh"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run tests/lab/ssh/start.sh: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(2) => panic!(
                "the SSH lab is not set up on this machine: run `tests/lab/ssh/setup.sh` as root \
                 (installs openssh-server, creates the `{USER}` lab user), then rerun the tests.\n{stderr}"
            ),
            _ => panic!("tests/lab/ssh/start.sh failed ({}):\n{stderr}", out.status),
        }
        let dir = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string();
        assert!(!dir.is_empty(), "start.sh printed no lab dir");
        SshLab { dir: PathBuf::from(dir) }
    })
}
