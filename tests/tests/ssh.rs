//! SSH and local discovery against real sshd instances (tests/lab/ssh).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_discovery::linux::DEVICE_KEY;
use cmdb_discovery::local::LocalProbe;
use cmdb_discovery::ssh::{CredentialAffinity, HostKeyPolicy, SshOptions, SshProbe};
use cmdb_discovery::transport::{CommandTransport, ExecLimits};
use cmdb_discovery::{Probe, ProbeError, ProbeOutput, SshCredential, Target};
use cmdb_model::{CiClass, Observation, Record, RelType, RunId};
use cmdb_tests::ssh_lab::{self, lab, target, ESTATE, ESTATE_IPS};

fn probe_with(creds: Vec<SshCredential>, policy: HostKeyPolicy) -> SshProbe {
    let mut o = SshOptions::new(creds, policy);
    o.connect_timeout = Duration::from_secs(5);
    o.command_timeout = Duration::from_secs(20);
    SshProbe::new(o).expect("probe")
}

fn key_probe() -> SshProbe {
    probe_with(vec![lab().key_credential("lab-key")], HostKeyPolicy::Off)
}

fn rec<'a>(o: &'a Observation, key: &str) -> &'a Record {
    o.records
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no record {key}"))
}

/// Discover `targets` concurrently (as a runner would), results in target order.
async fn discover_all(
    p: &Arc<SshProbe>,
    targets: &[Target],
) -> Vec<Result<ProbeOutput, ProbeError>> {
    let rid = RunId::generate();
    let handles: Vec<_> = targets
        .iter()
        .map(|t| {
            let (p, t, rid) = (p.clone(), t.clone(), rid.clone());
            tokio::spawn(async move { p.discover(&t, &rid).await })
        })
        .collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.expect("discovery task panicked"));
    }
    out
}

fn ip_to_host() -> BTreeMap<&'static str, &'static str> {
    ESTATE_IPS.iter().map(|(h, ip)| (*ip, *h)).collect()
}

/// Host-level dependency edges of one observation: (this host, remote host, port).
fn host_edges(o: &Observation) -> BTreeSet<(String, String, u64)> {
    let me = rec(o, DEVICE_KEY).name.clone().unwrap_or_default();
    let map = ip_to_host();
    let mut out = BTreeSet::new();
    for r in o
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::ConnectsTo)
    {
        let ep = rec(o, &r.to);
        let port = ep.identifiers["port"].as_u64().unwrap_or(0);
        let host = if ep.parent.as_deref() == Some(DEVICE_KEY) {
            me.clone()
        } else {
            let dev = rec(o, ep.parent.as_deref().unwrap_or(""));
            let ip = dev.identifiers["ip_addresses"][0]
                .as_str()
                .unwrap_or("")
                .to_string();
            map.get(ip.as_str()).map(|h| h.to_string()).unwrap_or(ip)
        };
        out.insert((me.clone(), host, port));
    }
    out
}

fn expected_edges() -> BTreeSet<(String, String, u64)> {
    let mut e = BTreeSet::new();
    let mut add = |a: &str, b: &str, p: u64| {
        e.insert((a.to_string(), b.to_string(), p));
    };
    for w in ["web1", "web2", "web3"] {
        add("lb1", w, 80);
        add(w, "app1", 8080);
        add(w, "app2", 8080);
        add(w, w, 80); // loopback health check → its own endpoint
    }
    for a in ["app1", "app2"] {
        add(a, "db1", 5432);
        add(a, "cache1", 6379);
    }
    add("db2", "db1", 5432);
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn estate_is_discovered_into_the_expected_observations_and_graph() {
    let p = Arc::new(key_probe());
    let targets = ssh_lab::estate_targets();
    let results = discover_all(&p, &targets).await;
    let mut observations = Vec::new();
    for ((name, addr, _), r) in ESTATE.iter().zip(results) {
        let out = r.unwrap_or_else(|e| panic!("{name} ({addr}): {e}"));
        let o = &out.observation;
        assert_eq!(o.source.as_str(), "ssh");
        assert!(o.scope.complete, "{name}: {:?}", out.diagnostics);
        assert_eq!(
            o.scope.targets,
            [format!("{addr}:2222")].into_iter().collect()
        );
        assert!(out.diagnostics.is_empty(), "{name}: {:?}", out.diagnostics);
        assert_eq!(out.credential.as_deref(), Some("lab-key"));
        let dev = rec(o, DEVICE_KEY);
        assert_eq!(dev.name.as_deref(), Some(*name));
        assert_eq!(dev.class, Some(CiClass::Host));
        assert!(!dev.placeholder);
        assert!(dev.identifiers["serial_number"]
            .as_str()
            .unwrap()
            .starts_with("4XK2"));
        // the expected processes per role, exactly
        let procs: BTreeSet<String> = o
            .records
            .iter()
            .filter(|r| r.class == Some(CiClass::Process))
            .filter_map(|r| r.name.clone())
            .collect();
        let mut want: BTreeSet<String> =
            ["chronyd", "sshd"].iter().map(|s| s.to_string()).collect();
        let role_procs: &[&str] = match *name {
            "lb1" => &["haproxy"],
            n if n.starts_with("web") => &["nginx"],
            n if n.starts_with("app") => &["java"],
            n if n.starts_with("db") => &["postgres"],
            _ => &["redis-server", "docker-proxy"],
        };
        want.extend(role_procs.iter().map(|s| s.to_string()));
        assert_eq!(procs, want, "{name}");
        let n_containers = o
            .records
            .iter()
            .filter(|r| r.class == Some(CiClass::Container))
            .count();
        assert_eq!(n_containers, usize::from(*name == "cache1"), "{name}");
        observations.push(o.clone());
    }
    // the dependency chain lb → web → app → db (+ cache, + replica), exactly
    let edges: BTreeSet<_> = observations.iter().flat_map(host_edges).collect();
    assert_eq!(edges, expected_edges());
    // affinity remembered for every host
    let aff = p.affinity().snapshot().entries;
    assert_eq!(aff.len(), ESTATE.len());
    assert!(aff.values().all(|c| c == "lab-key"));

    // merged into the store, in any scan order, the graph is the same
    let forward = store_graph(&observations).await;
    let mut rev = observations.clone();
    rev.reverse();
    let reversed = store_graph(&rev).await;
    let mut inter = Vec::new();
    for i in [4, 0, 8, 2, 6, 1, 7, 3, 5] {
        inter.push(observations[i].clone());
    }
    let interleaved = store_graph(&inter).await;
    assert_eq!(forward, reversed, "scan order changed the graph");
    assert_eq!(forward, interleaved, "scan order changed the graph");
    check_store_graph(&forward);
}

/// A store-independent canonical form of a graph: CIs by (class, name, placeholder, host) and
/// relationships between those.
#[derive(Debug, PartialEq, Eq)]
struct Graph {
    cis: BTreeSet<CiShape>,
    rels: BTreeSet<(String, CiShape, CiShape)>,
}

/// A CI as the comparison sees it: (class, name, placeholder, host).
type CiShape = (String, String, bool, String);

async fn store_graph(observations: &[Observation]) -> Graph {
    use cmdb_store::{
        CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, PageRequest,
    };
    let dir = tempfile::tempdir().unwrap();
    let store =
        EmbeddedStore::open(&dir.path().join("g.db"), EmbeddedOptions::default()).expect("store");
    for o in observations {
        store
            .ingest(o.clone(), &IngestOptions::default())
            .await
            .expect("ingest");
    }
    let page = store
        .find(
            &CiFilter::default(),
            CiOrder::default(),
            &PageRequest::first(100_000),
        )
        .await
        .unwrap();
    let cis: BTreeMap<_, _> = page
        .items
        .into_iter()
        .map(|(_, c)| (c.id.clone(), c))
        .collect();
    let (rels, _) = store.all_relationships(None, 1_000_000).await.unwrap();
    // the device each CI hangs off, for a readable canonical name
    let mut owner: BTreeMap<_, String> = BTreeMap::new();
    for r in &rels {
        let (dev, child) = match r.rel_type {
            RelType::Contains => (&r.from, &r.to),
            RelType::RunsOn => (&r.to, &r.from),
            _ => continue,
        };
        if let Some(d) = cis.get(dev) {
            owner.insert(child.clone(), d.name.clone());
        }
    }
    let canon = |id: &cmdb_model::CiId| {
        let c = &cis[id];
        (
            c.class.to_string(),
            c.name.clone(),
            c.placeholder,
            owner.get(id).cloned().unwrap_or_default(),
        )
    };
    Graph {
        cis: cis.keys().map(canon).collect(),
        rels: rels
            .iter()
            .filter(|r| cis.contains_key(&r.from) && cis.contains_key(&r.to))
            .map(|r| (r.rel_type.to_string(), canon(&r.from), canon(&r.to)))
            .collect(),
    }
}

fn check_store_graph(g: &Graph) {
    let hosts: BTreeSet<_> = g
        .cis
        .iter()
        .filter(|c| c.0 == "Host")
        .map(|c| (c.1.clone(), c.2))
        .collect();
    let want: BTreeSet<_> = ESTATE
        .iter()
        .map(|(n, _, _)| (n.to_string(), false))
        .collect();
    assert_eq!(
        hosts, want,
        "placeholders for far ends merged into the real hosts"
    );
    assert!(
        g.cis.iter().all(|c| !c.2),
        "no placeholder left: {:?}",
        g.cis.iter().filter(|c| c.2).collect::<Vec<_>>()
    );
    // process → endpoint on the other host, by host names
    let conn: BTreeSet<(String, String, String)> = g
        .rels
        .iter()
        .filter(|r| r.0 == "CONNECTS_TO")
        .map(|r| (r.1 .3.clone(), r.2 .3.clone(), r.2 .1.clone()))
        .collect();
    let want: BTreeSet<(String, String, String)> = expected_edges()
        .into_iter()
        .map(|(a, b, p)| (a, b, format!("tcp/{p}")))
        .collect();
    assert_eq!(conn, want);
    // the endpoint web1 connects to on app1 is the one app1's java LISTENS_ON
    assert!(g.rels.iter().any(|r| r.0 == "LISTENS_ON"
        && r.1 .1 == "java"
        && r.1 .3 == "app1"
        && r.2 .1 == "tcp/8080"));
}

#[tokio::test]
async fn password_and_passphrase_key_authentication_work() {
    let l = lab();
    let rid = RunId::new("auth");
    let p = probe_with(
        vec![l.password_credential("lab-password", ssh_lab::PASSWORD)],
        HostKeyPolicy::Off,
    );
    let out = p
        .discover(&target("127.0.3.2"), &rid)
        .await
        .expect("password auth");
    assert_eq!(out.credential.as_deref(), Some("lab-password"));
    let p = probe_with(
        vec![l.passphrase_key_credential("lab-key-pass")],
        HostKeyPolicy::Off,
    );
    let out = p
        .discover(&target("127.0.3.3"), &rid)
        .await
        .expect("key with passphrase");
    assert_eq!(out.credential.as_deref(), Some("lab-key-pass"));
}

#[tokio::test]
async fn agent_authentication_works() {
    let l = lab();
    // libssh2 finds the agent through SSH_AUTH_SOCK; only this test uses an agent.
    std::env::set_var("SSH_AUTH_SOCK", l.agent_socket());
    let p = probe_with(vec![l.agent_credential("lab-agent")], HostKeyPolicy::Off);
    let out = p
        .discover(&target("127.0.3.5"), &RunId::new("agent"))
        .await
        .expect("agent auth");
    assert_eq!(out.credential.as_deref(), Some("lab-agent"));
}

#[tokio::test]
async fn wrong_credentials_fail_per_target_without_leaking_secrets() {
    let l = lab();
    let rid = RunId::new("auth");
    let p = probe_with(
        vec![l.wrong_key_credential("not-authorized")],
        HostKeyPolicy::Off,
    );
    let e = p.discover(&target("127.0.3.2"), &rid).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_FAILED", "{e}");
    let p = probe_with(
        vec![l.password_credential("bad-pw", "hunter2-wrong")],
        HostKeyPolicy::Off,
    );
    let e = p.discover(&target("127.0.3.2"), &rid).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_FAILED", "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(!format!("{e:?}").contains("hunter2"));
    // a wrong passphrase
    let mut c = l.passphrase_key_credential("bad-passphrase");
    if let cmdb_discovery::SshAuth::Key { passphrase, .. } = &mut c.auth {
        *passphrase = Some(cmdb_discovery::Secret::new("wrong-passphrase-xyz"));
    }
    let p = probe_with(vec![c], HostKeyPolicy::Off);
    let e = p.discover(&target("127.0.3.2"), &rid).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_FAILED", "{e}");
    assert!(!e.to_string().contains("wrong-passphrase-xyz"));
}

#[tokio::test]
async fn credentials_are_tried_in_order_and_affinity_is_remembered() {
    let l = lab();
    let rid = RunId::new("aff");
    let creds = vec![
        l.wrong_key_credential("a-wrong-key"),
        l.password_credential("b-wrong-password", "nope"),
        l.key_credential("c-good-key"),
    ];
    let mut o = SshOptions::new(creds.clone(), HostKeyPolicy::Off);
    o.command_timeout = Duration::from_secs(20);
    let p = SshProbe::new(o.clone()).unwrap();
    let t = target("127.0.3.4");
    let out = p.discover(&t, &rid).await.unwrap();
    assert_eq!(out.credential.as_deref(), Some("c-good-key"));
    let refused: Vec<_> = out
        .diagnostics
        .iter()
        .filter(|d| d.code == "ssh.credential_refused")
        .collect();
    assert_eq!(refused.len(), 2, "{:?}", out.diagnostics);
    assert!(out.diagnostics.iter().all(|d| !d.message.contains("nope")));
    // persisted and restored: the next run goes straight to the good credential
    let saved = serde_json::to_string(p.affinity()).unwrap();
    assert_eq!(saved, r#"{"127.0.3.4:2222":"c-good-key"}"#);
    let restored: CredentialAffinity = serde_json::from_str(&saved).unwrap();
    let p2 = SshProbe::with_affinity(o, restored).unwrap();
    let out = p2.discover(&t, &rid).await.unwrap();
    assert!(
        out.diagnostics
            .iter()
            .all(|d| d.code != "ssh.credential_refused"),
        "{:?}",
        out.diagnostics
    );
}

#[tokio::test]
async fn host_key_policies() {
    let l = lab();
    let rid = RunId::new("hk");
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    let cred = || vec![l.key_credential("k")];
    // strict: unknown host refused, known host accepted, changed key refused
    let strict = probe_with(
        cred(),
        HostKeyPolicy::Strict {
            known_hosts: kh.clone(),
        },
    );
    let e = strict
        .discover(&target("127.0.3.5"), &rid)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "HOST_KEY_REJECTED", "{e}");
    l.write_known_hosts(
        &kh,
        &[
            ("127.0.3.5", &l.host_key_pub()),
            ("127.0.3.6", &l.impostor_key_pub()),
        ],
    );
    strict
        .discover(&target("127.0.3.5"), &rid)
        .await
        .expect("known key accepted");
    let e = strict
        .discover(&target("127.0.3.6"), &rid)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "HOST_KEY_REJECTED", "{e}");
    assert!(e.to_string().contains("does not match"), "{e}");

    // accept-new: first contact remembered, then a changed key is refused
    let kh2 = dir.path().join("sub/tofu_known_hosts");
    let tofu = probe_with(
        cred(),
        HostKeyPolicy::AcceptNew {
            known_hosts: kh2.clone(),
        },
    );
    tofu.discover(&target("127.0.3.7"), &rid)
        .await
        .expect("first use accepted");
    let saved = std::fs::read_to_string(&kh2).unwrap();
    assert!(saved.contains("[127.0.3.7]:2222"), "{saved}");
    tofu.discover(&target("127.0.3.7"), &rid)
        .await
        .expect("same key accepted again");
    l.write_known_hosts(&kh2, &[("127.0.3.7", &l.impostor_key_pub())]);
    let e = tofu.discover(&target("127.0.3.7"), &rid).await.unwrap_err();
    assert_eq!(e.code(), "HOST_KEY_REJECTED", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_are_per_target_and_the_run_continues() {
    let l = lab();
    let dir = tempfile::tempdir().unwrap();
    let kh = dir.path().join("known_hosts");
    // strict known_hosts: good hosts with the real key, 127.0.3.3 with an impostor key
    l.write_known_hosts(
        &kh,
        &[
            ("127.0.3.1", &l.host_key_pub()),
            ("127.0.3.2", &l.host_key_pub()),
            ("127.0.3.3", &l.impostor_key_pub()),
            (ssh_lab::GARBAGE, &l.host_key_pub()),
            ("127.0.3.9", &l.host_key_pub()),
        ],
    );
    let p = Arc::new(probe_with(
        vec![l.key_credential("k")],
        HostKeyPolicy::Strict { known_hosts: kh },
    ));
    let targets = vec![
        target("127.0.3.1"),
        target(ssh_lab::UNREACHABLE),
        target("127.0.3.3"),
        target(ssh_lab::GARBAGE),
        target("127.0.3.2"),
        target("127.0.3.9"),
    ];
    let results = discover_all(&p, &targets).await;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| match r {
            Ok(_) => "OK",
            Err(e) => e.code(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "OK",
            "UNREACHABLE",
            "HOST_KEY_REJECTED",
            "PROTOCOL_ERROR",
            "OK",
            "OK"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn misbehaving_hosts_are_bounded() {
    let l = lab();
    let rid = RunId::new("bad");
    let mut o = SshOptions::new(vec![l.key_credential("k")], HostKeyPolicy::Off);
    o.command_timeout = Duration::from_secs(3);
    o.max_output = 1024 * 1024;
    let p = SshProbe::new(o).unwrap();

    // garbage: no sections → protocol error, no panic
    let e = p
        .discover(&target(ssh_lab::GARBAGE), &rid)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PROTOCOL_ERROR", "{e}");

    // 10 MB: cut at the 1 MiB cap; what came before is kept, the scope is incomplete
    let t0 = Instant::now();
    let out = p
        .discover(&target(ssh_lab::BIG), &rid)
        .await
        .expect("big host gives a partial result");
    assert!(!out.observation.scope.complete);
    assert!(
        out.diagnostics
            .iter()
            .any(|d| d.code == "linux.output_truncated"),
        "{:?}",
        out.diagnostics
    );
    assert_eq!(
        rec(&out.observation, DEVICE_KEY).name.as_deref(),
        Some("big1")
    );
    assert!(t0.elapsed() < Duration::from_secs(10));

    // non-UTF-8: decoded lossily, complete, reported
    let out = p
        .discover(&target(ssh_lab::NON_UTF8), &rid)
        .await
        .expect("non-utf8 host");
    assert!(out.observation.scope.complete);
    assert!(out.diagnostics.iter().any(|d| d.code == "linux.non_utf8"));
    let nginx = out
        .observation
        .records
        .iter()
        .find(|r| r.name.as_deref() == Some("nginx"))
        .unwrap();
    assert!(nginx.identifiers["command_line"]
        .as_str()
        .unwrap()
        .starts_with("nginx: master"));

    // hung: the 3 s command timeout is honoured
    let t0 = Instant::now();
    let e = p.discover(&target(ssh_lab::HUNG), &rid).await.unwrap_err();
    assert_eq!(e.code(), "TIMEOUT", "{e}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "{took:?}"
    );

    // endless: cut at the cap, no sections → protocol error, quickly
    let t0 = Instant::now();
    let e = p
        .discover(&target(ssh_lab::ENDLESS), &rid)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "PROTOCOL_ERROR", "{e}");
    assert!(e.to_string().contains("truncated"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(8));
}

#[test]
fn ssh_transport_caps_output_and_kills_at_timeout_on_a_real_shell() {
    let l = lab();
    let p = probe_with(vec![l.key_credential("k")], HostKeyPolicy::Off);
    let (mut t, cred) = p
        .connect_blocking(&target(ssh_lab::LOCALHOST))
        .expect("connect");
    assert_eq!(cred, "k");
    let lim = ExecLimits {
        timeout: Duration::from_secs(10),
        max_output: 256 * 1024,
    };
    let o = t
        .run("printf 'a\\377b'; echo oops >&2; exit 7", &lim)
        .unwrap();
    assert_eq!(o.stdout, b"a\xffb");
    assert_eq!(o.stderr, b"oops\n");
    assert_eq!(o.exit_status, Some(7));
    let o = t.run("head -c 10000000 /dev/zero", &lim).unwrap();
    assert!(o.truncated);
    assert_eq!(o.stdout.len(), 256 * 1024);
    // a truncated command poisons the session (it was abandoned mid-stream): reconnect
    let (mut t, _) = p
        .connect_blocking(&target(ssh_lab::LOCALHOST))
        .expect("connect");
    let t0 = Instant::now();
    let o = t
        .run(
            "echo started; sleep 60",
            &ExecLimits {
                timeout: Duration::from_millis(800),
                ..lim
            },
        )
        .unwrap();
    assert!(o.timed_out);
    assert_eq!(o.stdout, b"started\n");
    assert!(t0.elapsed() < Duration::from_secs(4));
    t.disconnect();
}

#[tokio::test]
async fn this_machine_over_ssh_and_through_the_local_transport_agree() {
    let l = lab();
    let rid = RunId::new("local");
    let p = probe_with(vec![l.key_credential("k")], HostKeyPolicy::Off);
    let over_ssh = p
        .discover(&target(ssh_lab::LOCALHOST), &rid)
        .await
        .expect("ssh to 127.0.0.1");
    let local = LocalProbe::default()
        .discover(&LocalProbe::target(), &rid)
        .await
        .expect("local");
    assert_eq!(over_ssh.observation.source.as_str(), "ssh");
    assert_eq!(local.observation.source.as_str(), "local");
    assert!(local.observation.scope.targets.contains("local"));
    let a = rec(&over_ssh.observation, DEVICE_KEY);
    let b = rec(&local.observation, DEVICE_KEY);
    assert_eq!(a.identifiers.get("hostname"), b.identifiers.get("hostname"));
    assert_eq!(
        a.identifiers.get("mac_addresses"),
        b.identifiers.get("mac_addresses")
    );
    assert_eq!(a.attributes.get("os_name"), b.attributes.get("os_name"));
    assert_eq!(a.attributes.get("kernel"), b.attributes.get("kernel"));
    let pkgs = |o: &Observation| {
        o.records
            .iter()
            .filter(|r| r.class == Some(CiClass::SoftwarePackage))
            .count()
    };
    assert!(pkgs(&local.observation) > 100);
    assert_eq!(pkgs(&local.observation), pkgs(&over_ssh.observation));
    // the lab's sshd listening on 127.0.0.1:2222 is visible locally
    assert!(local
        .observation
        .records
        .iter()
        .any(|r| r.name.as_deref() == Some("tcp/2222")));
}

/// The same machine seen by SNMP (net-snmp's snmpd for this host in the SNMP lab) and by SSH
/// (a real shell on 127.0.0.1) is one Host CI, in either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_machine_by_snmp_and_by_ssh_is_one_host() {
    use cmdb_discovery::snmp::SnmpProbe;
    use cmdb_store::{
        CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, PageRequest,
    };
    use cmdb_tests::snmp_lab;
    let l = lab();
    snmp_lab::lab();
    let rid = RunId::new("cross");
    let snmp = SnmpProbe::new(vec![snmp_lab::v2c("lab", snmp_lab::SNMPD_COMMUNITY)])
        .discover(&snmp_lab::target(snmp_lab::SNMPD), &rid)
        .await
        .expect("snmp discovery of this host");
    let ssh = probe_with(vec![l.key_credential("k")], HostKeyPolicy::Off)
        .discover(&target(ssh_lab::LOCALHOST), &rid)
        .await
        .expect("ssh discovery of this host");
    let hostname = rec(&ssh.observation, DEVICE_KEY).identifiers["hostname"]
        .as_str()
        .unwrap()
        .to_string();
    for order in [[&snmp, &ssh], [&ssh, &snmp]] {
        let dir = tempfile::tempdir().unwrap();
        let store =
            EmbeddedStore::open(&dir.path().join("g.db"), EmbeddedOptions::default()).unwrap();
        for o in order {
            store
                .ingest(o.observation.clone(), &IngestOptions::default())
                .await
                .expect("ingest");
        }
        let filter = CiFilter {
            classes: vec![CiClass::Host, CiClass::NetworkDevice],
            ..Default::default()
        };
        let page = store
            .find(&filter, CiOrder::default(), &PageRequest::first(1000))
            .await
            .unwrap();
        let mine: Vec<_> = page
            .items
            .iter()
            .map(|(_, c)| c)
            .filter(|c| !c.placeholder && c.name.eq_ignore_ascii_case(&hostname))
            .collect();
        assert_eq!(mine.len(), 1, "one device CI for this machine: {mine:#?}");
        let sources: BTreeSet<&str> = mine[0].sources.iter().map(|s| s.as_str()).collect();
        assert!(
            sources.contains("snmp") && sources.contains("ssh"),
            "{sources:?}"
        );
    }
}

/// The protocol-neutral runner drives the SSH probe: the estate plus a hung and an unreachable
/// host in one run; the failures stay per target and are bounded by the probe's timeouts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_runner_drives_the_ssh_probe() {
    use cmdb_discovery::run::{run, DiscoveryRequest, RunnerConfig};
    let l = lab();
    let mut o = SshOptions::new(vec![l.key_credential("k")], HostKeyPolicy::Off);
    o.command_timeout = Duration::from_secs(2);
    let probe: Arc<dyn Probe> = Arc::new(SshProbe::new(o).unwrap());
    let mut targets: Vec<String> = ESTATE.iter().map(|(_, a, _)| format!("{a}:2222")).collect();
    targets.push(format!("{}:2222", ssh_lab::HUNG));
    targets.push(format!("{}:2222", ssh_lab::UNREACHABLE));
    let req = DiscoveryRequest::new(targets);
    let t0 = Instant::now();
    let report = run(&req, &[probe], &RunnerConfig::default(), None)
        .await
        .expect("run");
    assert!(t0.elapsed() < Duration::from_secs(15));
    assert_eq!(report.ok_count(), ESTATE.len());
    let failed: BTreeMap<String, &str> = report
        .failed()
        .map(|r| {
            (
                r.target.clone(),
                r.result.as_ref().err().map(|e| e.code()).unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        failed.get(&format!("{}:2222", ssh_lab::HUNG)).copied(),
        Some("TIMEOUT")
    );
    assert_eq!(
        failed
            .get(&format!("{}:2222", ssh_lab::UNREACHABLE))
            .copied(),
        Some("UNREACHABLE")
    );
    assert!(report.results.iter().all(|r| r.probe == "ssh"));
}
