//! Transform tests on recorded outputs: the real Debian 12 machine and the simulated estate.

use super::*;
use crate::linux::script::parse_sections;
use cmdb_model::{CiClass, Record, RelType, RelationshipObs, RunId};
use std::collections::{BTreeMap, BTreeSet};

fn recording(name: &str) -> String {
    let p = format!("{}/src/linux/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn run(name: &str) -> Transformed {
    let rid = RunId::new("run_test");
    let ctx = TransformContext {
        target: "t",
        source: "ssh",
        run_id: &rid,
        management_ip: None,
    };
    transform(&parse_sections(&recording(name)), &ctx)
}

fn rec<'a>(t: &'a Transformed, key: &str) -> &'a Record {
    t.observation
        .records
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no record {key}"))
}

fn count(t: &Transformed, class: CiClass, placeholder: bool) -> usize {
    t.observation
        .records
        .iter()
        .filter(|r| r.class == Some(class) && r.placeholder == placeholder)
        .count()
}

fn keys_unique_and_refs_valid(t: &Transformed) {
    let keys: BTreeSet<&str> = t
        .observation
        .records
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(keys.len(), t.observation.records.len(), "duplicate keys");
    for r in &t.observation.records {
        if let Some(p) = &r.parent {
            assert!(
                keys.contains(p.as_str()),
                "{} has unknown parent {p}",
                r.key
            );
        }
    }
    for rel in &t.observation.relationships {
        assert!(
            keys.contains(rel.from.as_str()) && keys.contains(rel.to.as_str()),
            "{rel:?}"
        );
    }
}

#[test]
fn real_debian12_machine() {
    let t = run("debian12-local.out");
    keys_unique_and_refs_valid(&t);
    assert!(t.observation.scope.complete);
    let dev = rec(&t, DEVICE_KEY);
    assert_eq!(dev.identifiers["hostname"], "vm");
    assert_eq!(dev.attributes["os_name"], "Debian GNU/Linux");
    assert_eq!(dev.attributes["os_version"], "12");
    assert_eq!(dev.attributes["cpu_count"], 2);
    assert!(dev.attributes["memory_bytes"].as_u64().unwrap() > 1 << 30);
    assert!(count(&t, CiClass::SoftwarePackage, false) > 500);
    assert!(t
        .observation
        .records
        .iter()
        .any(|r| r.key == "pkg:dpkg:bash"));
    assert!(count(&t, CiClass::Interface, false) >= 2);
    // no DMI in this VM: no serial, and that is only a diagnostic
    assert!(!dev.identifiers.contains_key("serial_number"));
    assert!(
        t.diagnostics.iter().all(|d| d.code != "linux.parse_error"),
        "{:?}",
        t.diagnostics
    );
}

#[test]
fn web_server_from_the_estate() {
    let t = run("estate/web1.out");
    keys_unique_and_refs_valid(&t);
    assert!(t.observation.scope.complete, "{:?}", t.diagnostics);
    let dev = rec(&t, DEVICE_KEY);
    assert_eq!(dev.name.as_deref(), Some("web1"));
    assert_eq!(dev.identifiers["serial_number"], "4XK2WB1");
    assert_eq!(dev.identifiers["fqdn"], "web1.prod.example.com");
    assert_eq!(
        dev.identifiers["mac_addresses"],
        serde_json::json!(["14:18:77:0b:01:5e", "14:18:77:0b:01:5f"])
    );
    assert_eq!(
        dev.identifiers["ip_addresses"],
        serde_json::json!(["10.20.1.11"])
    );
    assert_eq!(dev.attributes["vendor"], "Dell Inc.");
    assert_eq!(dev.attributes["default_gateway"], "10.20.1.1");
    // nginx master + workers collapse into the master; sshd session child collapses into sshd
    let procs: Vec<&Record> = t
        .observation
        .records
        .iter()
        .filter(|r| r.class == Some(CiClass::Process))
        .collect();
    let names: BTreeSet<&str> = procs.iter().filter_map(|r| r.name.as_deref()).collect();
    assert_eq!(names, ["chronyd", "nginx", "sshd"].into_iter().collect());
    assert_eq!(procs.len(), 3);
    let nginx = procs
        .iter()
        .find(|r| r.name.as_deref() == Some("nginx"))
        .unwrap();
    assert_eq!(nginx.attributes["pid"], 811);
    assert_eq!(nginx.identifiers["service_unit"], "nginx.service");
    // endpoints: tcp/22, tcp/80, udp/323
    let eps: BTreeSet<&str> = t
        .observation
        .records
        .iter()
        .filter(|r| r.class == Some(CiClass::ListeningEndpoint) && !r.placeholder)
        .filter_map(|r| r.name.as_deref())
        .collect();
    assert_eq!(eps, ["tcp/22", "tcp/80", "udp/323"].into_iter().collect());
    assert_eq!(
        rec(&t, "ep:tcp/80").attributes["bind_addresses"],
        serde_json::json!(["*"])
    );
    // CONNECTS_TO: app1:8080, app2:8080 (two sockets each, aggregated) and its own tcp/80
    let conns: Vec<_> = t
        .observation
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::ConnectsTo)
        .collect();
    assert_eq!(conns.len(), 3, "{conns:?}");
    let to_app1 = conns
        .iter()
        .find(|r| r.to == "remote:10.20.2.21:tcp/8080")
        .unwrap();
    assert_eq!(to_app1.from, nginx.key);
    assert_eq!(to_app1.attributes["connections"], 2);
    assert_eq!(to_app1.confidence, 0.5);
    assert!(
        conns.iter().any(|r| r.to == "ep:tcp/80"),
        "loopback connection maps to the host's own endpoint"
    );
    let remote = rec(&t, "remote:10.20.2.21");
    assert!(remote.placeholder);
    assert_eq!(
        remote.identifiers["ip_addresses"],
        serde_json::json!(["10.20.2.21"])
    );
    assert!(rec(&t, "remote:10.20.2.21:tcp/8080").placeholder);
    // the inbound connection from the LB (server side) is not a dependency
    assert!(!t
        .observation
        .records
        .iter()
        .any(|r| r.key.contains("10.20.0.10")));
    // the operator's SSH session is server side too
    assert!(!t
        .observation
        .records
        .iter()
        .any(|r| r.key.contains("10.20.9.5")));
    let listens = t
        .observation
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::ListensOn)
        .count();
    assert_eq!(listens, 3);
    let has_ip: Vec<_> = t
        .observation
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::HasIp)
        .collect();
    assert_eq!(has_ip.len(), 1);
    assert_eq!(
        (has_ip[0].from.as_str(), has_ip[0].to.as_str()),
        ("if:eno1", "ip:10.20.1.11")
    );
    assert_eq!(count(&t, CiClass::Interface, false), 3);
    assert_eq!(count(&t, CiClass::SoftwarePackage, false), 10);
}

#[test]
fn replica_and_cache() {
    let db2 = run("estate/db2.out");
    keys_unique_and_refs_valid(&db2);
    let conns: Vec<_> = db2
        .observation
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::ConnectsTo)
        .collect();
    assert_eq!(conns.len(), 1);
    assert_eq!(conns[0].to, "remote:10.20.3.31:tcp/5432");
    assert_eq!(
        rec(&db2, &conns[0].from).name.as_deref(),
        Some("postgres"),
        "walreceiver collapses into the postmaster"
    );

    let db1 = run("estate/db1.out");
    assert!(
        db1.observation
            .relationships
            .iter()
            .all(|r| r.rel_type != RelType::ConnectsTo),
        "a server only has inbound sockets"
    );

    let cache = run("estate/cache1.out");
    keys_unique_and_refs_valid(&cache);
    let dev = rec(&cache, DEVICE_KEY);
    // docker0's 172.17.0.1 and the veth MAC are not the host's identity
    assert_eq!(
        dev.identifiers["ip_addresses"],
        serde_json::json!(["10.20.4.41"])
    );
    assert_eq!(
        dev.identifiers["mac_addresses"].as_array().unwrap().len(),
        2
    );
    assert!(!cache
        .observation
        .records
        .iter()
        .any(|r| r.key == "ip:172.17.0.1"));
    let c = rec(
        &cache,
        "ctr:docker:5f0c1bd7e2a94c53a3f0b8e1d2c4a6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e",
    );
    assert_eq!(c.name.as_deref(), Some("redis-exporter"));
    assert_eq!(c.identifiers["container_name"], "redis-exporter");
    assert_eq!(c.attributes["image"], "oliver006/redis_exporter:v1.62.0");

    let app = run("estate/app1.out");
    let conns: BTreeMap<&str, &RelationshipObs> = app
        .observation
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::ConnectsTo)
        .map(|r| (r.to.as_str(), r))
        .collect();
    assert_eq!(
        conns.keys().copied().collect::<Vec<_>>(),
        ["remote:10.20.3.31:tcp/5432", "remote:10.20.4.41:tcp/6379"]
    );
    assert_eq!(
        conns["remote:10.20.3.31:tcp/5432"].attributes["connections"], 3,
        "IPv4-mapped pooled sockets aggregate"
    );
}

#[test]
fn every_recording_transforms_without_parse_errors() {
    for h in [
        "lb1", "web1", "web2", "web3", "app1", "app2", "db1", "db2", "cache1",
    ] {
        let t = run(&format!("estate/{h}.out"));
        keys_unique_and_refs_valid(&t);
        assert!(t.observation.scope.complete, "{h}");
        let codes: Vec<&str> = t.diagnostics.iter().map(|d| d.code.as_str()).collect();
        assert!(codes.is_empty(), "{h}: {:?}", t.diagnostics);
        assert_eq!(rec(&t, DEVICE_KEY).name.as_deref(), Some(h));
    }
}

#[test]
fn hostile_input_never_panics() {
    let rid = RunId::new("r");
    let ctx = TransformContext {
        target: "t",
        source: "ssh",
        run_id: &rid,
        management_ip: None,
    };
    let web = recording("estate/web1.out");
    // truncate at every 97th byte boundary, mangle, and feed garbage into each section
    let bytes = web.as_bytes();
    for cut in (0..bytes.len()).step_by(97) {
        let s = String::from_utf8_lossy(&bytes[..cut]);
        let t = transform(&parse_sections(&s), &ctx);
        if cut < bytes.len() - 20 {
            assert!(!t.observation.scope.complete);
        }
    }
    let mut garbage = String::new();
    for s in crate::linux::script::SECTIONS {
        garbage.push_str(&format!("@@CMDB@@ BEGIN {s}\n\u{fffd}[{{\"ifname\":7}}]\ntcp ESTAB x y z w users:((\"\n1 2\n@@CMDB@@ END {s} 0\n"));
    }
    garbage.push_str("@@CMDB@@ DONE\n");
    let t = transform(&parse_sections(&garbage), &ctx);
    assert!(t.diagnostics.iter().any(|d| d.code == "linux.parse_error"));
}

#[test]
fn permission_limited_user() {
    // an unprivileged login: DMI serial unreadable (status 13), sockets without owners
    let text = "@@CMDB@@ BEGIN hostname\nweb9\n@@CMDB@@ END hostname 0\n\
        @@CMDB@@ BEGIN dmi\nsys_vendor=QEMU\n@@CMDB@@ END dmi 13\n\
        @@CMDB@@ BEGIN ss\ntcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:*\ntcp ESTAB 0 0 10.1.1.1:50000 10.1.1.2:5432\n@@CMDB@@ END ss 0\n@@CMDB@@ DONE\n";
    let rid = RunId::new("r");
    let ctx = TransformContext {
        target: "t",
        source: "local",
        run_id: &rid,
        management_ip: None,
    };
    let t = transform(&parse_sections(text), &ctx);
    let codes: BTreeSet<&str> = t.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains("linux.permission_denied"));
    assert!(codes.contains("linux.socket_owner_unknown"));
    assert!(codes.contains("linux.serial_unreadable"));
    assert_eq!(rec(&t, "ep:tcp/22").name.as_deref(), Some("tcp/22"));
    assert_eq!(t.observation.source.as_str(), "local");
}
