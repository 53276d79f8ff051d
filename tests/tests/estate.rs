//! One estate, every way of discovering it (issue 11): nine real hosts in network namespaces
//! (a load balancer in front of three web servers, two application servers, a database with a
//! replica, a cache) behind two top-of-rack and two core switches.
//!
//! Discovered over SSH alone, SNMP alone, or both (in one run, in either order across runs,
//! and re-run), the service map, the severity of every single host failure and the single
//! points of failure must be the same, with no CI twice. With the switches discovered too, a
//! top-of-rack failure takes single-homed hosts' services DOWN and leaves dual-homed ones
//! DEGRADED.
//!
//! Needs root (network namespaces); tests/run-all.sh runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use cmdb_tests::estate_lab::{estate, gql, Exported, Probes};
use serde_json::{json, Value};

use cmdb_tests::estate_lab::{define_service, SERVICE};
/// Hosts whose single failure the tests ask about, with the expected severity of the service.
const EXPECTED: &[(&str, Option<&str>)] = &[
    ("lb", Some("DOWN")),
    ("web1", Some("DEGRADED")),
    ("web2", Some("DEGRADED")),
    ("web3", Some("DEGRADED")),
    ("app1", Some("DEGRADED")),
    ("app2", Some("DEGRADED")),
    ("db", Some("DOWN")),
    ("cache", Some("DOWN")),
    ("replica", None),
];

/// What a user gets out of one discovered estate.
#[derive(Debug, Clone, PartialEq)]
struct Answers {
    /// `CLASS device/name` of every node of the service's map.
    map: BTreeSet<String>,
    map_hosts: BTreeSet<String>,
    /// Severity of the service when each host fails alone.
    severity: BTreeMap<String, Option<String>>,
    spof_hosts: BTreeSet<String>,
}

fn discover(dir: &Path, targets: &[String], probes: Probes) {
    let e = estate();
    let out = e.discover(dir, targets, probes);
    assert!(
        out.status.success(),
        "cmdb discover ({probes:?}) failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

fn id_of(dir: &Path, name: &str) -> String {
    let d = gql(
        dir,
        "query($n: String!) { cis(filter: {name: {equals: $n}, classes: [HOST, NETWORK_DEVICE], statuses: [ACTIVE]}) { totalCount edges { node { id } } } }",
        json!({"n": name}),
    );
    assert_eq!(
        d["cis"]["totalCount"], 1,
        "exactly one active device named {name}: {d}"
    );
    d["cis"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn impact_on_service(dir: &Path, failing: &str) -> Value {
    let id = id_of(dir, failing);
    let d = gql(
        dir,
        "query($ids: [ID!]!) { impact(ids: $ids) { services { name severity depth paths hostLevelEdges { from type to } restsOnHostLevelEvidence } } }",
        json!({"ids": [id]}),
    );
    d["impact"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == SERVICE)
        .cloned()
        .unwrap_or(Value::Null)
}

fn answers(dir: &Path) -> Answers {
    let svc = define_service(dir);
    let map = gql(
        dir,
        "query($s: ID!) { serviceMap(serviceId: $s) { truncated nodes { id class name } } }",
        json!({"s": svc}),
    );
    assert_eq!(map["serviceMap"]["truncated"], false);
    let export = Exported::read(dir);
    let parent = export.parent_of();
    let mut nodes = BTreeSet::new();
    let mut map_hosts = BTreeSet::new();
    for n in map["serviceMap"]["nodes"].as_array().unwrap() {
        let (id, class, name) = (
            n["id"].as_str().unwrap(),
            n["class"].as_str().unwrap(),
            n["name"].as_str().unwrap(),
        );
        if class == "HOST" || class == "NETWORK_DEVICE" {
            map_hosts.insert(name.to_string());
        }
        let device = parent.get(id).map(|p| export.name(p)).unwrap_or_default();
        nodes.insert(format!("{class} {device}/{name}"));
    }
    let severity = EXPECTED
        .iter()
        .map(|(h, _)| {
            (
                h.to_string(),
                impact_on_service(dir, h)["severity"]
                    .as_str()
                    .map(str::to_string),
            )
        })
        .collect();
    let spof = gql(
        dir,
        "query($s: ID!) { singlePointsOfFailure(serviceId: $s) { ci { class name } } }",
        json!({"s": svc}),
    );
    let spof_hosts = spof["singlePointsOfFailure"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["ci"]["class"] == "HOST")
        .map(|p| p["ci"]["name"].as_str().unwrap().to_string())
        .collect();
    Answers {
        map: nodes,
        map_hosts,
        severity,
        spof_hosts,
    }
}

fn assert_right(a: &Answers, how: &str) {
    let on_path: BTreeSet<String> = ["lb", "web1", "web2", "web3", "app1", "app2", "db", "cache"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        a.map_hosts, on_path,
        "{how}: the map holds every host on the request path and none off it"
    );
    for (h, want) in EXPECTED {
        assert_eq!(
            a.severity[*h].as_deref(),
            *want,
            "{how}: severity of {SERVICE} when {h} fails"
        );
    }
    let spof: BTreeSet<String> = ["lb", "db", "cache"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        a.spof_hosts, spof,
        "{how}: single points of failure among hosts"
    );
}

fn no_duplicates(dir: &Path, how: &str) {
    let d = Exported::read(dir).duplicates();
    assert!(d.is_empty(), "{how}: CIs found twice: {d:?}");
}

/// The SSH-only answers, computed once: every other way must give the same.
fn ssh_baseline() -> &'static Answers {
    static BASE: OnceLock<Answers> = OnceLock::new();
    BASE.get_or_init(|| {
        let e = estate();
        let _turn = e.turn();
        let dir = tempfile::tempdir().unwrap();
        discover(dir.path(), &e.host_addresses(), Probes::Ssh);
        let a = answers(dir.path());
        no_duplicates(dir.path(), "SSH only");
        a
    })
}

#[test]
fn ssh_alone_maps_the_estate_right() {
    assert_right(ssh_baseline(), "SSH only");
}

#[test]
fn snmp_and_ssh_in_one_run_and_re_runs_give_the_ssh_answers() {
    let base = ssh_baseline().clone();
    let e = estate();
    let _turn = e.turn();
    let dir = tempfile::tempdir().unwrap();
    discover(dir.path(), &e.host_addresses(), Probes::Both);
    let a = answers(dir.path());
    assert_eq!(a, base, "SNMP+SSH in one run");
    no_duplicates(dir.path(), "SNMP+SSH in one run");

    // The load balancer's connections: one edge per backend, from nginx, carrying both
    // protocols' sightings; nothing left at host level.
    let x = Exported::read(dir.path());
    let lb_conns: Vec<_> = x
        .rels_of_type("CONNECTS_TO")
        .into_iter()
        .filter(|(f, _, _)| f == "nginx")
        .collect();
    assert_eq!(
        lb_conns.len(),
        3,
        "nginx → three web endpoints: {lb_conns:?}"
    );
    for (_, to, ev) in &lb_conns {
        assert_eq!(to, "tcp/8080");
        assert!(
            ev.contains("ssh/socket") && ev.iter().any(|e| e.starts_with("snmp/")),
            "both protocols' evidence on one edge: {ev:?}"
        );
    }
    let host_level = x.rels_of_type("COMMUNICATES_WITH");
    assert!(
        host_level.is_empty(),
        "with SSH as root every connection has its process: {host_level:?}"
    );
    let confidence = gql(
        dir.path(),
        "query($id: ID!) { ci(id: $id) { relationships(types: [CONNECTS_TO], direction: OUT) { edges { node { confidence evidence { source } } } } } }",
        json!({"id": nginx_of(dir.path())}),
    );
    for edge in confidence["ci"]["relationships"]["edges"]
        .as_array()
        .unwrap()
    {
        assert!(
            edge["node"]["confidence"].as_f64().unwrap() > 0.5,
            "corroborated evidence is more certain than one sighting: {edge}"
        );
    }

    // Three more runs change nothing a user sees.
    for i in 1..=3 {
        discover(dir.path(), &e.host_addresses(), Probes::Both);
        no_duplicates(dir.path(), &format!("re-run {i}"));
    }
    assert_eq!(answers(dir.path()), base, "after three re-runs");
}

fn nginx_of(dir: &Path) -> String {
    let d = gql(dir, "{ cis(filter: {name: {equals: \"nginx\"}, classes: [PROCESS]}) { edges { node { id } } } }", json!({}));
    d["cis"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn separate_snmp_and_ssh_runs_in_either_order_give_the_ssh_answers() {
    let base = ssh_baseline().clone();
    let e = estate();
    let _turn = e.turn();
    for (first, second) in [(Probes::Snmp, Probes::Ssh), (Probes::Ssh, Probes::Snmp)] {
        let how = format!("{first:?} then {second:?}");
        let dir = tempfile::tempdir().unwrap();
        discover(dir.path(), &e.host_addresses(), first);
        discover(dir.path(), &e.host_addresses(), second);
        assert_eq!(answers(dir.path()), base, "{how}");
        no_duplicates(dir.path(), &how);
        let host_level = Exported::read(dir.path()).rels_of_type("COMMUNICATES_WITH");
        assert!(
            host_level.is_empty(),
            "{how}: host-level sightings were handed to their processes: {host_level:?}"
        );
    }
}

#[test]
fn snmp_alone_gives_the_same_severities_and_says_what_rests_on_host_level_evidence() {
    let base = ssh_baseline().clone();
    let e = estate();
    let _turn = e.turn();
    let dir = tempfile::tempdir().unwrap();
    discover(dir.path(), &e.host_addresses(), Probes::Snmp);
    let a = answers(dir.path());
    // Debian's snmpd runs as Debian-snmp and cannot name connection owners: every connection
    // but web3's (its snmpd runs as root) is host-level evidence.
    assert_eq!(
        a.severity, base.severity,
        "SNMP only: the same severity for every single failure"
    );
    assert_eq!(
        a.spof_hosts, base.spof_hosts,
        "SNMP only: the same single points of failure"
    );
    assert_eq!(
        a.map_hosts, base.map_hosts,
        "SNMP only: the same hosts on the map"
    );
    no_duplicates(dir.path(), "SNMP only");

    let web1 = impact_on_service(dir.path(), "web1");
    assert_eq!(
        web1["restsOnHostLevelEvidence"], true,
        "the answer says it rests on host-level evidence: {web1}"
    );
    let hops = web1["hostLevelEdges"].as_array().unwrap();
    assert!(
        !hops.is_empty() && hops.iter().all(|h| h["type"] == "DEPENDS_ON"),
        "{web1}"
    );
    // The hosts themselves do not depend on what they talk to.
    let x = Exported::read(dir.path());
    let lb_host_deps: Vec<_> = x
        .rels_of_type("CONNECTS_TO")
        .into_iter()
        .filter(|(f, _, _)| f == "lb")
        .collect();
    assert!(
        lb_host_deps.is_empty(),
        "no Host CONNECTS_TO edge: {lb_host_deps:?}"
    );
    assert!(x
        .rels_of_type("COMMUNICATES_WITH")
        .iter()
        .any(|(f, _, ev)| f == "lb" && ev.contains("snmp/host_socket")));
    let risk = gql(
        dir.path(),
        "query($ids: [ID!]!) { changeRisk(ids: $ids) { restsOnHostLevelEvidence caveats } }",
        json!({"ids": [id_of(dir.path(), "web1")]}),
    );
    assert_eq!(
        risk["changeRisk"]["restsOnHostLevelEvidence"], true,
        "{risk}"
    );
}

#[test]
fn switches_in_impact_single_homed_down_dual_homed_degraded() {
    let e = estate();
    let _turn = e.turn();
    let dir = tempfile::tempdir().unwrap();
    discover(dir.path(), &e.host_addresses(), Probes::Both);
    discover(dir.path(), &e.switch_addresses(), Probes::Snmp);
    let svc = define_service(dir.path());
    no_duplicates(dir.path(), "hosts and switches");

    // The database is single-homed on tor1; everything else on the request path has a NIC on
    // each top-of-rack switch; each ToR has an uplink to each core switch.
    for (sw, want) in [
        ("tor1", "DOWN"),
        ("tor2", "DEGRADED"),
        ("core1", "DEGRADED"),
        ("core2", "DEGRADED"),
    ] {
        let s = impact_on_service(dir.path(), sw);
        assert_eq!(s["severity"], want, "{sw} fails: {s}");
    }
    let spof = gql(
        dir.path(),
        "query($s: ID!) { singlePointsOfFailure(serviceId: $s) { ci { class name } } }",
        json!({"s": svc}),
    );
    let names: BTreeSet<String> = spof["singlePointsOfFailure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ci"]["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        names.contains("tor1"),
        "the single-homed database's switch is a SPOF: {names:?}"
    );
    for sw in ["tor2", "core1", "core2"] {
        assert!(!names.contains(sw), "{sw} is redundant: {names:?}");
    }
    // The replica (single-homed on tor2) is off the request path.
    let replica_sw = gql(
        dir.path(),
        "query($ids: [ID!]!) { impact(ids: $ids) { affected(class: HOST) { ci { name } severity } } }",
        json!({"ids": [id_of(dir.path(), "tor2")]}),
    );
    let affected: BTreeMap<String, String> = replica_sw["impact"]["affected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["ci"]["name"].as_str().unwrap().to_string(),
                a["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        affected.get("replica").map(String::as_str),
        Some("DOWN"),
        "{affected:?}"
    );
    assert_eq!(
        affected.get("web1").map(String::as_str),
        Some("DEGRADED"),
        "{affected:?}"
    );

    // Fidelity on the switches' own data.
    let x = Exported::read(dir.path());
    let parent = x.parent_of();
    let ports_of = |dev: &str| -> Vec<String> {
        x.cis
            .iter()
            .filter(|(id, c)| {
                c["class"] == "Interface"
                    && parent.get(*id).map(|p| x.name(p)).as_deref() == Some(dev)
            })
            .map(|(_, c)| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    // Long (LLDP from the other end) and short (ifName) names of one port are one Interface.
    for (dev, long) in [
        ("core1", "Ethernet1/1"),
        ("tor1", "TenGigabitEthernet1/1/1"),
    ] {
        assert!(
            !ports_of(dev).iter().any(|p| p == long),
            "{dev} has no second interface named {long}"
        );
    }
    let links = x.rels_of_type("LINKED_TO");
    let uplinks: Vec<_> = links
        .iter()
        .filter(|(a, b, _)| a.starts_with("Te1/1") || b.starts_with("Te1/1"))
        .collect();
    assert_eq!(uplinks.len(), 4, "four ToR uplinks, each once: {uplinks:?}");
    // NX-OS CDP device id `core1(SERIAL)`: the name is the name, the serial an identifier.
    let core1 = x
        .cis
        .values()
        .find(|c| c["name"] == "core1")
        .expect("core1");
    assert_eq!(
        core1["attributes"]["serial_number"], "FDO21120U03",
        "{core1}"
    );
    assert!(
        !x.cis.values().any(|c| c["name"] == "FDO21120U03"),
        "no device named after core1's serial"
    );
    // An address only a switch's ARP table knows: an IpAddress with its MAC, on its port.
    let printer = x
        .cis
        .values()
        .find(|c| c["class"] == "IpAddress" && c["name"] == "10.77.0.99")
        .expect("ARP-only address");
    assert_eq!(printer["attributes"]["mac_address"], "00:00:aa:12:34:99");
    let learned = x.rels_of_type("LEARNED_ON");
    assert!(
        learned.iter().any(|(ip, port, ev)| ip == "10.77.0.99"
            && port == "Gi1/0/20"
            && ev.contains("snmp/arp")),
        "learned on tor2's port 20: {learned:?}"
    );
}
