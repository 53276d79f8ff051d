//! The lab estate (tests/lab/estate): nine real hosts as network namespaces — each with its own
//! PID, UTS and mount namespaces, sshd, net-snmp snmpd and a service holding real TCP
//! connections — and four switches answered by snmpsim. Started once per test process by
//! [`estate()`] (an estate already running from the same files is reused).
//!
//! Discovery runs from the `cmdbe-mgmt` namespace ([`Estate::discover`]); answers are read with
//! `cmdb graphql` and `cmdb export` against the data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{json, Value};

use crate::cli::{cmdb_bin, workspace_root};

/// One lab host as estate.conf describes it.
#[derive(Debug, Clone)]
pub struct LabHost {
    pub name: String,
    pub address: String,
}

#[derive(Debug)]
pub struct Estate {
    pub dir: PathBuf,
    pub community: String,
    pub hosts: Vec<LabHost>,
    pub switches: Vec<LabHost>,
    /// Discovery runs one at a time: two runs probing one host at once would each see the
    /// other's sessions in the process table.
    turn: Mutex<()>,
}

/// Which probes a discovery run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probes {
    Ssh,
    Snmp,
    Both,
}

impl Estate {
    /// The key authorised as root on every host.
    pub fn key(&self) -> PathBuf {
        self.dir.join("client_key")
    }
    pub fn host_addresses(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.address.clone()).collect()
    }
    pub fn switch_addresses(&self) -> Vec<String> {
        self.switches.iter().map(|h| h.address.clone()).collect()
    }
    pub fn address_of(&self, name: &str) -> &str {
        self.hosts
            .iter()
            .chain(&self.switches)
            .find(|h| h.name == name)
            .map(|h| h.address.as_str())
            .unwrap_or_else(|| panic!("no lab host {name}"))
    }
    /// Hold this while running discoveries that must not overlap another test's.
    pub fn turn(&self) -> MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `cmdb discover TARGETS` from the management namespace, as a user would run it. The SNMP
    /// community goes through the environment (it is a secret), the rest through flags.
    pub fn discover(&self, data_dir: &Path, targets: &[String], probes: Probes) -> Output {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", "cmdbe-mgmt"])
            .arg(cmdb_bin())
            .arg("--data-dir")
            .arg(data_dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("CMDB_") {
                c.env_remove(k);
            }
        }
        c.env("CMDB_LOG", "warn").arg("discover").args(targets);
        if matches!(probes, Probes::Snmp | Probes::Both) {
            c.env("CMDB_SNMP_COMMUNITY", &self.community);
        }
        if matches!(probes, Probes::Ssh | Probes::Both) {
            c.args(["--ssh-user", "root", "--ssh-key"]).arg(self.key());
        }
        c.output()
            .expect("running cmdb discover in the management namespace")
    }
}

fn lab_dir() -> PathBuf {
    workspace_root().join("tests/lab/estate")
}

/// The estate's topology, read from estate.conf (the one description the scripts share).
fn read_conf() -> (Vec<LabHost>, Vec<LabHost>, String) {
    let text = std::fs::read_to_string(lab_dir().join("estate.conf"))
        .expect("tests/lab/estate/estate.conf");
    let (mut hosts, mut switches, mut community) = (Vec::new(), Vec::new(), String::new());
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["host", name, addr, ..] => hosts.push(LabHost {
                name: name.to_string(),
                address: addr.to_string(),
            }),
            ["switch", name, addr, ..] => switches.push(LabHost {
                name: name.to_string(),
                address: addr.to_string(),
            }),
            ["community", c] => community = c.to_string(),
            _ => {}
        }
    }
    (hosts, switches, community)
}

/// The service binary the hosts run, built like the cmdb binary (same profile as the tests).
fn estate_svc_bin() -> PathBuf {
    let root = workspace_root();
    let release = !cfg!(debug_assertions);
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&root)
        .args(["build", "-q", "-p", "cmdb-tests", "--bin", "estate-svc"]);
    if release {
        cmd.arg("--release");
    }
    assert!(
        cmd.status().expect("cargo build estate-svc").success(),
        "building estate-svc failed"
    );
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    target
        .join(if release { "release" } else { "debug" })
        .join("estate-svc")
}

static ESTATE: OnceLock<Estate> = OnceLock::new();

/// Start the estate (once per process) and return it. Panics with instructions when the lab
/// is not set up or this is not root.
pub fn estate() -> &'static Estate {
    ESTATE.get_or_init(|| {
        let svc = estate_svc_bin();
        let out = Command::new("bash")
            .arg(lab_dir().join("start.sh"))
            .env("ESTATE_SVC", &svc)
            .output()
            .unwrap_or_else(|e| panic!("cannot run tests/lab/estate/start.sh: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(2) => panic!(
                "the estate lab cannot start here: it needs root and `tests/lab/estate/setup.sh` (iproute2, \
                 openssh-server, snmpd, the SNMP lab's snmpsim). Run tests/run-all.sh as root.\n{stderr}"
            ),
            _ => panic!("tests/lab/estate/start.sh failed ({}):\n{stderr}", out.status),
        }
        let dir = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().to_string();
        assert!(!dir.is_empty(), "start.sh printed no runtime dir");
        let (hosts, switches, community) = read_conf();
        Estate { dir: PathBuf::from(dir), community, hosts, switches, turn: Mutex::new(()) }
    })
}

/// The estate's business service: an entry-point service on the load balancer's address.
pub const SERVICE: &str = "Shop";
pub const ENTRY: &str = "10.77.0.10:443";

/// The entry-point service, defined on first use (answers are read more than once per store).
pub fn define_service(dir: &Path) -> String {
    let found = gql(
        dir,
        "query($n: String!) { cis(filter: {name: {equals: $n}, classes: [BUSINESS_SERVICE]}) { edges { node { id } } } }",
        json!({"n": SERVICE}),
    );
    if let Some(id) = found["cis"]["edges"][0]["node"]["id"].as_str() {
        return id.to_string();
    }
    let d = gql(
        dir,
        "mutation($n: String!, $e: [String!]!) { defineBusinessService(input: {name: $n, criticality: 1, entryPoints: $e}) { id } }",
        json!({"n": SERVICE, "e": [ENTRY]}),
    );
    d["defineBusinessService"]["id"]
        .as_str()
        .expect("service id")
        .to_string()
}

/// One GraphQL operation through `cmdb graphql` on a data directory; panics on errors.
pub fn gql(data_dir: &Path, query: &str, variables: Value) -> Value {
    let out = crate::cli::cmdb(
        data_dir,
        &[
            "graphql",
            "--compact",
            "-q",
            query,
            "-v",
            &variables.to_string(),
        ],
    );
    let body: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("cmdb graphql: {e}\n{}", crate::cli::stderr(&out)));
    assert!(
        body.get("errors").is_none_or(|e| e.is_null()),
        "GraphQL errors for {query}: {body}"
    );
    body["data"].clone()
}

/// The graph as `cmdb export` writes it: CIs by id and relationships.
#[derive(Debug, Default)]
pub struct Exported {
    pub cis: BTreeMap<String, Value>,
    pub rels: Vec<Value>,
}

impl Exported {
    pub fn read(data_dir: &Path) -> Exported {
        let out = crate::cli::cmdb(data_dir, &["export"]);
        assert!(
            out.status.success(),
            "cmdb export: {}",
            crate::cli::stderr(&out)
        );
        let mut e = Exported::default();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(line).expect("export line");
            match v["kind"].as_str() {
                Some("ci") => {
                    e.cis
                        .insert(v["id"].as_str().unwrap_or_default().to_string(), v);
                }
                Some("relationship") => e.rels.push(v),
                _ => {}
            }
        }
        e
    }
    pub fn active(&self, r: &Value) -> bool {
        r["status"] == "ACTIVE"
    }
    pub fn name(&self, id: &str) -> String {
        self.cis
            .get(id)
            .and_then(|c| c["name"].as_str())
            .unwrap_or(id)
            .to_string()
    }
    pub fn class(&self, id: &str) -> String {
        self.cis
            .get(id)
            .and_then(|c| c["class"].as_str())
            .unwrap_or("")
            .to_string()
    }
    /// The device a dependent CI belongs to (CONTAINS from it, or RUNS_ON to it).
    pub fn parent_of(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        for r in self.rels.iter().filter(|r| self.active(r)) {
            let (from, to) = (
                r["from"].as_str().unwrap_or(""),
                r["to"].as_str().unwrap_or(""),
            );
            match r["type"].as_str() {
                Some("CONTAINS") => {
                    p.entry(to.to_string()).or_insert_with(|| from.to_string());
                }
                Some("RUNS_ON") => {
                    p.entry(from.to_string()).or_insert_with(|| to.to_string());
                }
                _ => {}
            }
        }
        p
    }
    /// ACTIVE CIs that are the same thing twice: same class, same device, same name.
    pub fn duplicates(&self) -> Vec<String> {
        let parent = self.parent_of();
        let mut seen: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        for (id, c) in &self.cis {
            if c["status"] != "ACTIVE" {
                continue;
            }
            let p = parent.get(id).map(|p| self.name(p)).unwrap_or_default();
            seen.entry((self.class(id), p, self.name(id)))
                .or_default()
                .push(id.clone());
        }
        seen.into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|((c, p, n), ids)| format!("{c} {p}/{n} ×{}", ids.len()))
            .collect()
    }
    /// Active relationships of `rel_type` as (from name, to name, evidence sources+kinds).
    pub fn rels_of_type(&self, rel_type: &str) -> Vec<(String, String, BTreeSet<String>)> {
        self.rels
            .iter()
            .filter(|r| self.active(r) && r["type"] == rel_type)
            .map(|r| {
                let ev = r["evidence_detail"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| {
                                format!(
                                    "{}/{}",
                                    e["source"].as_str().unwrap_or(""),
                                    e["kind"].as_str().unwrap_or("")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (
                    self.name(r["from"].as_str().unwrap_or("")),
                    self.name(r["to"].as_str().unwrap_or("")),
                    ev,
                )
            })
            .collect()
    }
}
