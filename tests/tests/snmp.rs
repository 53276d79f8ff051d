//! SNMP discovery against the real lab (tests/lab/snmp): snmpsim devices, net-snmp snmpd for
//! this host, and misbehaving peers. Needs `tests/lab/snmp/setup.sh` once (root).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_discovery::run::{run, DiscoveryRequest, ProgressEvent, RunnerConfig, TargetOutcome};
use cmdb_discovery::snmp::{ClientConfig, SnmpConfig, SnmpProbe};
use cmdb_discovery::sweep::{sweep, CredentialAffinity, SweepConfig};
use cmdb_discovery::{Probe, ProbeError, ProbeOutput, SnmpCredential};
use cmdb_model::{CiClass, EvidenceKind, Observation, Record, RelType, RunId};
use cmdb_tests::snmp_lab::{self as lab, bad_agent, Misbehaviour};
use serde_json::{json, Value};

fn fast() -> SnmpConfig {
    SnmpConfig {
        client: ClientConfig {
            timeout_ms: 400,
            retries: 1,
            ..ClientConfig::default()
        },
        ..SnmpConfig::default()
    }
}

fn probe(creds: Vec<SnmpCredential>) -> SnmpProbe {
    lab::lab();
    SnmpProbe::with_config(creds, fast())
}

async fn discover(addr: &str, creds: Vec<SnmpCredential>) -> Result<ProbeOutput, ProbeError> {
    probe(creds)
        .discover(&lab::target(addr), &RunId::new("run_snmp_test"))
        .await
}

async fn sim(addr: &str) -> Observation {
    let out = discover(addr, vec![lab::v2c("sim", lab::SIM_COMMUNITY)])
        .await
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
    assert!(
        out.observation.scope.complete,
        "{addr}: {:?}",
        out.diagnostics
    );
    assert_eq!(out.credential.as_deref(), Some("sim"));
    out.observation
}

fn rec<'a>(o: &'a Observation, key: &str) -> &'a Record {
    o.records
        .iter()
        .find(|r| r.key == key)
        .unwrap_or_else(|| panic!("no record {key}"))
}

fn names(o: &Observation, class: CiClass) -> BTreeSet<String> {
    o.records
        .iter()
        .filter(|r| r.class == Some(class) && !r.placeholder)
        .filter_map(|r| r.name.clone())
        .collect()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn ident_set(r: &Record, k: &str) -> BTreeSet<String> {
    r.identifiers
        .get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// (local interface name, neighbour device hostname/mac, neighbour interface name/mac, evidence, confidence)
fn links(o: &Observation) -> BTreeSet<(String, String, String, String, String)> {
    o.relationships
        .iter()
        .filter(|r| r.rel_type == RelType::LinkedTo)
        .map(|r| {
            let from = rec(o, &r.from);
            let to = rec(o, &r.to);
            let dev = rec(
                o,
                to.parent
                    .as_deref()
                    .expect("neighbour interface has a parent"),
            );
            assert!(to.placeholder && dev.placeholder);
            let dev_id = dev
                .identifiers
                .get("hostname")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    ident_set(dev, "mac_addresses")
                        .into_iter()
                        .next()
                        .unwrap_or_default()
                });
            let if_id = to
                .identifiers
                .get("if_name")
                .or_else(|| to.identifiers.get("mac_address"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (
                from.name.clone().unwrap_or_default(),
                dev_id,
                if_id,
                format!("{:?}", r.evidence),
                format!("{}", r.confidence),
            )
        })
        .collect()
}

fn l(a: &str, b: &str, c: &str, ev: &str, conf: &str) -> (String, String, String, String, String) {
    (a.into(), b.into(), c.into(), ev.into(), conf.into())
}

#[tokio::test]
async fn access_switch_sw1() {
    let o = sim(lab::SW1).await;
    let d = rec(&o, "device");
    assert_eq!(d.class, Some(CiClass::NetworkDevice));
    assert_eq!(d.name.as_deref(), Some("lab-sw1"));
    assert_eq!(d.identifiers["hostname"], "lab-sw1.lab.example");
    assert_eq!(d.identifiers["fqdn"], "lab-sw1.lab.example");
    assert_eq!(d.identifiers["serial_number"], "FOC2001L0A1");
    assert_eq!(d.identifiers["ip_addresses"], json!(["10.10.0.2"]));
    let macs = ident_set(d, "mac_addresses");
    assert!(
        macs.contains("00:1a:2b:01:00:00") && macs.contains("00:1a:2b:01:00:01"),
        "{macs:?}"
    );
    assert!(
        !macs.contains("00:1a:2b:01:00:64"),
        "the SVI is not a physical port"
    );
    assert_eq!(d.attributes["vendor"], "Cisco");
    assert_eq!(d.attributes["model"], "WS-C2960X-24TS-L");
    assert_eq!(d.attributes["os_name"], "IOS");
    assert_eq!(d.attributes["os_version"], "15.2(7)E3");
    assert_eq!(d.attributes["firmware"], "15.2(7)E3");
    assert_eq!(d.attributes["management_ip"], lab::SW1);
    assert_eq!(
        names(&o, CiClass::Interface),
        set(&["Gi1/0/1", "Gi1/0/2", "Gi1/0/3", "Gi1/0/4", "Gi1/0/5", "Gi1/0/6", "Vl1"])
    );
    let gi1 = rec(&o, "if:1");
    assert_eq!(gi1.identifiers["mac_address"], "00:1a:2b:01:00:01");
    assert_eq!(gi1.attributes["speed_bps"], 1_000_000_000i64);
    assert_eq!(gi1.attributes["if_descr"], "GigabitEthernet1/0/1");
    assert_eq!(gi1.attributes["oper_status"], "up");
    assert_eq!(names(&o, CiClass::IpAddress), set(&["10.10.0.2"]));
    assert_eq!(names(&o, CiClass::Subnet), set(&["10.10.0.0/24"]));
    assert!(o
        .relationships
        .iter()
        .any(|r| r.rel_type == RelType::HasIp && r.from == "if:100" && r.to == "ip:10.10.0.2"));
    assert_eq!(
        links(&o),
        BTreeSet::from([
            l("Gi1/0/5", "lab-sw2.lab.example", "Gi1/0/5", "Lldp", "0.9"),
            l("Gi1/0/6", "lab-rtr1", "ge-0/0/1", "Lldp", "0.9"),
            // edge ports only: the hub on Gi1/0/4 (6 MACs) and the LLDP uplinks carry none
            l(
                "Gi1/0/1",
                "52:54:00:00:00:31",
                "52:54:00:00:00:31",
                "Fdb",
                "0.7"
            ),
            l(
                "Gi1/0/2",
                "52:54:00:00:00:32",
                "52:54:00:00:00:32",
                "Fdb",
                "0.7"
            ),
            l(
                "Gi1/0/3",
                "52:54:00:00:00:a3",
                "52:54:00:00:00:a3",
                "Fdb",
                "0.6"
            ),
        ])
    );
    // the FDB host carries the IP the switch's ARP table gave it
    let h = rec(&o, "fdb:52:54:00:00:00:31");
    assert_eq!(h.class, Some(CiClass::Host));
    assert_eq!(ident_set(h, "ip_addresses"), set(&["10.10.0.31"]));
    // the LLDP neighbour placeholder carries chassis MAC and management address
    let n = o
        .records
        .iter()
        .find(|r| {
            r.placeholder && r.identifiers.get("hostname") == Some(&json!("lab-sw2.lab.example"))
        })
        .unwrap();
    assert_eq!(n.class, Some(CiClass::NetworkDevice));
    assert_eq!(ident_set(n, "mac_addresses"), set(&["00:1a:2b:02:00:00"]));
    assert_eq!(ident_set(n, "ip_addresses"), set(&["10.10.0.3"]));
}

#[tokio::test]
async fn access_switch_sw2_qbridge_cdp_non_utf8() {
    let o = sim(lab::SW2).await;
    let d = rec(&o, "device");
    assert_eq!(d.class, Some(CiClass::NetworkDevice));
    assert_eq!(d.identifiers["serial_number"], "FOC2001L0A2");
    assert_eq!(names(&o, CiClass::Interface).len(), 6);
    assert_eq!(
        links(&o),
        BTreeSet::from([
            l("Gi1/0/5", "lab-sw1.lab.example", "Gi1/0/5", "Lldp", "0.9"),
            l("Gi1/0/4", "SEP001122334455", "Port 1", "Cdp", "0.9"),
            l(
                "Gi1/0/1",
                "52:54:00:00:00:33",
                "52:54:00:00:00:33",
                "Fdb",
                "0.7"
            ),
            l(
                "Gi1/0/2",
                "52:54:00:00:00:34",
                "52:54:00:00:00:34",
                "Fdb",
                "0.6"
            ),
        ])
    );
    let phone = o
        .records
        .iter()
        .find(|r| r.identifiers.get("hostname") == Some(&json!("SEP001122334455")))
        .unwrap();
    assert_eq!(ident_set(phone, "ip_addresses"), set(&["10.10.0.60"]));
    let gi3 = rec(&o, "if:3");
    assert_eq!(gi3.attributes["if_alias"], "B\u{fffd}ro \u{fffd}\u{fffd}");
    assert_eq!(gi3.attributes["oper_status"], "down");
}

#[tokio::test]
async fn router_rtr1() {
    let o = sim(lab::RTR1).await;
    let d = rec(&o, "device");
    assert_eq!(d.class, Some(CiClass::NetworkDevice));
    assert_eq!(d.identifiers["hostname"], "lab-rtr1");
    assert!(d.identifiers.get("fqdn").is_none());
    assert_eq!(d.identifiers["serial_number"], "JN11F2AB3CDE");
    assert_eq!(d.attributes["vendor"], "Juniper Networks");
    assert_eq!(d.attributes["model"], "MX204");
    assert_eq!(d.attributes["os_name"], "JUNOS");
    assert_eq!(d.attributes["os_version"], "21.4R3-S2.3");
    assert_eq!(
        names(&o, CiClass::Interface),
        set(&["lo0", "ge-0/0/0", "ge-0/0/1"])
    );
    assert_eq!(
        names(&o, CiClass::IpAddress),
        set(&["10.10.0.1", "10.255.0.1", "203.0.113.2"])
    );
    assert_eq!(
        names(&o, CiClass::Subnet),
        set(&["10.10.0.0/24", "203.0.113.0/30"])
    );
    assert_eq!(rec(&o, "ip:203.0.113.2").attributes["prefix_length"], 30);
    assert_eq!(
        links(&o),
        BTreeSet::from([l(
            "ge-0/0/1",
            "lab-sw1.lab.example",
            "Gi1/0/6",
            "Lldp",
            "0.9"
        )])
    );
    assert_eq!(
        ident_set(d, "mac_addresses"),
        set(&[
            "00:1a:2b:03:00:00",
            "00:1a:2b:03:00:01",
            "00:1a:2b:03:00:02"
        ])
    );
}

#[tokio::test]
async fn host_web1_processes_listeners_connections() {
    let o = sim(lab::WEB1).await;
    let d = rec(&o, "device");
    assert_eq!(d.class, Some(CiClass::Host));
    assert_eq!(d.identifiers["hostname"], "lab-web1");
    assert_eq!(d.identifiers["mac_addresses"], json!(["52:54:00:00:00:31"]));
    assert_eq!(d.identifiers["ip_addresses"], json!(["10.10.0.31"]));
    assert_eq!(d.attributes["os_name"], "Linux");
    assert_eq!(d.attributes["kernel"], "6.1.0-18-amd64");
    assert_eq!(d.attributes["vendor"], "Net-SNMP");
    assert_eq!(d.attributes["memory_bytes"], 4_294_967_296i64);
    assert_eq!(d.attributes["cpu_count"], 2);
    assert_eq!(d.attributes["filesystems"][0]["mount"], "/");
    assert_eq!(
        d.attributes["filesystems"][0]["size_bytes"],
        4096 * 5_000_000i64
    );
    assert_eq!(names(&o, CiClass::Interface), set(&["lo", "eth0"]));
    // kernel threads skipped; the two nginx processes with the same command line are one CI
    assert_eq!(
        names(&o, CiClass::Process),
        set(&["systemd", "sshd", "nginx", "python3"])
    );
    let py = rec(&o, "proc:1000");
    assert_eq!(py.identifiers["executable"], "python3");
    assert_eq!(
        py.identifiers["command_line"],
        "/usr/bin/python3 /srv/app/app.py --port 8080"
    );
    assert_eq!(
        rec(&o, "proc:900").identifiers["command_line"],
        "/usr/sbin/nginx -g daemon off;"
    );
    assert_eq!(
        names(&o, CiClass::ListeningEndpoint),
        set(&["tcp/22", "tcp/80", "tcp/8080", "udp/123"])
    );
    assert_eq!(
        rec(&o, "ep:tcp/8080").attributes["bind_addresses"],
        json!(["127.0.0.1"])
    );
    let rels: BTreeSet<(String, String, String, String)> = o
        .relationships
        .iter()
        .filter(|r| matches!(r.rel_type, RelType::ListensOn | RelType::ConnectsTo))
        .map(|r| {
            (
                r.rel_type.as_str().to_string(),
                r.from.clone(),
                r.to.clone(),
                format!("{}", r.confidence),
            )
        })
        .collect();
    let t = |a: &str, b: &str, c: &str, d: &str| {
        (a.to_string(), b.to_string(), c.to_string(), d.to_string())
    };
    assert_eq!(
        rels,
        BTreeSet::from([
            t("LISTENS_ON", "proc:812", "ep:tcp/22", "0.9"),
            t("LISTENS_ON", "proc:900", "ep:tcp/80", "0.9"),
            t("LISTENS_ON", "proc:1000", "ep:tcp/8080", "0.9"),
            // to a remote server: placeholder device + endpoint
            t(
                "CONNECTS_TO",
                "proc:1000",
                "remote:10.10.0.32:tcp/5432",
                "0.5"
            ),
            // over loopback: the host's own endpoint; the inbound ssh session is not a dependency
            t("CONNECTS_TO", "proc:900", "ep:tcp/8080", "0.5"),
        ])
    );
    let remote = rec(&o, "remote:10.10.0.32");
    assert!(remote.placeholder);
    assert_eq!(remote.identifiers["ip_addresses"], json!(["10.10.0.32"]));
    let rep = rec(&o, "remote:10.10.0.32:tcp/5432");
    assert_eq!(
        (
            rep.identifiers["protocol"].clone(),
            rep.identifiers["port"].clone()
        ),
        (json!("tcp"), json!(5432))
    );
    assert_eq!(rep.parent.as_deref(), Some("remote:10.10.0.32"));
}

#[tokio::test]
async fn host_db1_old_style_tables() {
    let out = discover(lab::DB1, vec![lab::v2c("sim", lab::SIM_COMMUNITY)])
        .await
        .unwrap();
    let o = &out.observation;
    let d = rec(o, "device");
    assert_eq!(d.class, Some(CiClass::Host));
    assert_eq!(d.identifiers["ip_addresses"], json!(["10.10.0.32"]));
    assert_eq!(rec(o, "ip:10.10.0.32").attributes["prefix_length"], 24);
    assert_eq!(names(o, CiClass::Process), set(&["systemd", "postgres"]));
    assert_eq!(
        names(o, CiClass::ListeningEndpoint),
        set(&["tcp/22", "tcp/5432", "udp/161"])
    );
    assert_eq!(
        names(o, CiClass::SoftwarePackage),
        set(&["postgresql-15", "openssh-server"])
    );
    // tcpConnTable has no owning process: the outbound syslog connection is the device's,
    // host-level (it carries no failure; a process edge absorbs it once one is known)
    assert!(!o
        .relationships
        .iter()
        .any(|r| r.rel_type == RelType::ConnectsTo));
    let c: Vec<_> = o
        .relationships
        .iter()
        .filter(|r| r.rel_type == RelType::CommunicatesWith)
        .collect();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].evidence, cmdb_model::EvidenceKind::HostSocket);
    assert_eq!(
        (c[0].from.as_str(), c[0].to.as_str()),
        ("device", "remote:10.10.0.40:tcp/514")
    );
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == "snmp.connection_without_process"));
}

#[tokio::test]
async fn topology_neighbours_resolve_to_the_real_devices() {
    // every placeholder neighbour's identifiers match the identifiers the real device reports
    // hostname → (MACs, IPs, interface name → its identifiers)
    type Identity = (
        BTreeSet<String>,
        BTreeSet<String>,
        BTreeMap<String, BTreeSet<String>>,
    );
    let mut devices: BTreeMap<String, Identity> = BTreeMap::new();
    let mut observations = Vec::new();
    for a in lab::topology() {
        let o = sim(a).await;
        let d = rec(&o, "device");
        let host = d.identifiers["hostname"].as_str().unwrap().to_string();
        let ifs: BTreeMap<String, BTreeSet<String>> = o
            .records
            .iter()
            .filter(|r| r.class == Some(CiClass::Interface) && !r.placeholder)
            .map(|r| {
                (
                    r.name.clone().unwrap(),
                    [
                        r.identifiers.get("if_name"),
                        r.identifiers.get("mac_address"),
                    ]
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                )
            })
            .collect();
        devices.insert(
            host,
            (
                ident_set(d, "mac_addresses"),
                ident_set(d, "ip_addresses"),
                ifs,
            ),
        );
        observations.push(o);
    }
    let mut checked = 0;
    for o in &observations {
        for r in o
            .relationships
            .iter()
            .filter(|r| r.evidence == EvidenceKind::Lldp)
        {
            let nif = rec(o, &r.to);
            let ndev = rec(o, nif.parent.as_deref().unwrap());
            let host = ndev.identifiers["hostname"].as_str().unwrap();
            let (macs, ips, ifs) = devices
                .get(host)
                .unwrap_or_else(|| panic!("neighbour {host} is not a lab device"));
            assert!(
                !ident_set(ndev, "mac_addresses").is_disjoint(macs),
                "{host}: chassis MAC not among the device's MACs"
            );
            assert!(
                !ident_set(ndev, "ip_addresses").is_disjoint(ips),
                "{host}: management IP not among the device's IPs"
            );
            let if_name = nif.identifiers["if_name"].as_str().unwrap();
            assert!(ifs.contains_key(if_name), "{host}: no interface {if_name}");
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
}

#[tokio::test]
async fn shipped_recordings_classify() {
    let o = sim("127.0.1.10").await;
    assert_eq!(rec(&o, "device").class, Some(CiClass::Host));
    assert!(names(&o, CiClass::Interface).len() >= 2);
    let o = sim("127.0.1.11").await;
    assert_eq!(rec(&o, "device").attributes["os_name"], "Windows");
    assert!(!names(&o, CiClass::Process).is_empty());
    // a partial walk of a UPS and system-only recordings degrade to diagnostics, not failures
    for a in ["127.0.1.12", "127.0.1.13", "127.0.1.14"] {
        let out = discover(a, vec![lab::v2c("sim", lab::SIM_COMMUNITY)])
            .await
            .unwrap();
        assert!(out.observation.scope.complete);
        assert!(
            out.diagnostics
                .iter()
                .any(|d| d.code == "snmp.table_missing"),
            "{a}"
        );
    }
}

async fn local_host(cred: SnmpCredential) {
    let name = cred.name.clone();
    let out = discover(lab::SNMPD, vec![cred])
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let o = &out.observation;
    assert!(o.scope.complete, "{name}: {:?}", out.diagnostics);
    assert_eq!(out.credential.as_deref(), Some(name.as_str()));
    let d = rec(o, "device");
    assert_eq!(d.class, Some(CiClass::Host), "{name}");
    assert_eq!(d.identifiers["hostname"], "lab-localhost");
    assert_eq!(d.attributes["os_name"], "Linux");
    assert!(names(o, CiClass::Interface).contains("lo"), "{name}");
    assert!(
        !names(o, CiClass::Process).is_empty(),
        "{name}: processes from hrSWRunTable"
    );
    assert!(
        names(o, CiClass::ListeningEndpoint).contains("udp/1161"),
        "{name}: snmpd's own listener"
    );
}

#[tokio::test]
async fn snmpd_v1() {
    local_host(lab::v1("v1", lab::SNMPD_COMMUNITY)).await;
}

#[tokio::test]
async fn snmpd_v2c() {
    local_host(lab::v2c("v2c", lab::SNMPD_COMMUNITY)).await;
}

#[tokio::test]
async fn snmpd_v3_sha_aes_auth_priv() {
    local_host(lab::v3_sha_aes()).await;
}

#[tokio::test]
async fn snmpd_v3_md5_des_auth_priv() {
    local_host(lab::v3_md5_des()).await;
}

#[tokio::test]
async fn snmpd_v3_sha256_aes_auth_priv() {
    local_host(lab::v3_sha256_aes()).await;
}

#[tokio::test]
async fn snmpd_v3_auth_no_priv() {
    local_host(lab::v3_auth_only()).await;
}

#[tokio::test]
async fn credentials_tried_in_order_with_affinity() {
    let p = probe(vec![
        lab::v2c("wrong", "nope"),
        lab::v2c("right", lab::SNMPD_COMMUNITY),
    ]);
    let t = lab::target(lab::SNMPD);
    let out = p.discover(&t, &RunId::new("r1")).await.unwrap();
    assert_eq!(out.credential.as_deref(), Some("right"));
    assert_eq!(p.affinity().get(&t.name()).as_deref(), Some("right"));
    // second time the remembered credential goes first: no timeout (2 × 400 ms) on `wrong`
    let started = Instant::now();
    let (_session, cred) = p.connect(&t).await.unwrap();
    assert_eq!(cred, "right");
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wrong_community_is_a_clear_timeout() {
    let started = Instant::now();
    let e = discover(lab::SNMPD, vec![lab::v2c("bad", "not-the-community")])
        .await
        .unwrap_err();
    assert_eq!(e.code(), "TIMEOUT", "{e}");
    assert!(e.to_string().contains("wrong community"), "{e}");
    assert!(
        !e.to_string().contains("not-the-community"),
        "secret leaked: {e}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn wrong_v3_keys_are_auth_failures() {
    use cmdb_discovery::{SnmpAuthProto, SnmpPrivProto};
    let wrong_auth = lab::v3(
        "bad-auth",
        "labsha",
        Some((SnmpAuthProto::Sha1, "wrongwrong1")),
        Some((SnmpPrivProto::Aes128, "labprivpass1")),
    );
    let e = discover(lab::SNMPD, vec![wrong_auth]).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_FAILED", "{e}");
    assert!(!format!("{e:?}").contains("wrongwrong1"));
    let unknown_user = lab::v3(
        "bad-user",
        "nosuchuser",
        Some((SnmpAuthProto::Sha1, "whatever12")),
        None,
    );
    let e = discover(lab::SNMPD, vec![unknown_user]).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_FAILED", "{e}");
    let wrong_priv = lab::v3(
        "bad-priv",
        "labsha",
        Some((SnmpAuthProto::Sha1, "labauthpass1")),
        Some((SnmpPrivProto::Aes128, "wrongpriv99")),
    );
    let e = discover(lab::SNMPD, vec![wrong_priv]).await.unwrap_err();
    assert_eq!(e.code(), "AUTH_FAILED", "{e}");
    assert!(e.to_string().contains("privacy"), "{e}");
    assert!(!format!("{e:?}").contains("wrongpriv99"));
}

#[tokio::test]
async fn closed_port_is_unreachable_fast() {
    let started = Instant::now();
    let e = discover(
        lab::CLOSED,
        vec![lab::v2c("a", "public"), lab::v2c("b", "other")],
    )
    .await
    .unwrap_err();
    assert_eq!(e.code(), "UNREACHABLE", "{e}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn silent_address_times_out_within_bound() {
    // a socket that never answers (a filtered agent)
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let t = cmdb_discovery::Target::new("127.0.0.1", Some(sink.local_addr().unwrap().port()));
    let p = probe(vec![lab::v2c("a", "public"), lab::v2c("b", "other")]);
    let started = Instant::now();
    let e = p.discover(&t, &RunId::new("r")).await.unwrap_err();
    assert_eq!(e.code(), "TIMEOUT");
    // 2 credentials × 400 ms × 2 attempts
    let el = started.elapsed();
    assert!(
        el >= Duration::from_millis(1500) && el < Duration::from_millis(4000),
        "{el:?}"
    );
}

#[tokio::test]
async fn agent_dying_mid_walk_gives_incomplete_scope() {
    let agent = bad_agent(Misbehaviour::DieAfter(6)).await;
    let p = probe(vec![lab::v2c("c", "public")]);
    let out = p
        .discover(&agent.target(), &RunId::new("r"))
        .await
        .expect("partial data is still an observation");
    assert!(!out.observation.scope.complete);
    assert!(
        out.diagnostics.iter().any(|d| d.code == "snmp.walk_failed"),
        "{:?}",
        out.diagnostics
    );
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == "snmp.walk_skipped"));
    assert_eq!(
        rec(&out.observation, "device").identifiers["hostname"],
        "bad-agent"
    );
}

#[tokio::test]
async fn looping_agent_is_stopped_with_a_diagnostic() {
    let agent = bad_agent(Misbehaviour::Looping).await;
    let started = Instant::now();
    let out = probe(vec![lab::v2c("c", "public")])
        .discover(&agent.target(), &RunId::new("r"))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == "snmp.oid_not_increasing"));
    // v1 (GETNEXT) too
    let out = probe(vec![lab::v1("c", "public")])
        .discover(&agent.target(), &RunId::new("r"))
        .await
        .unwrap();
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == "snmp.oid_not_increasing"));
}

#[tokio::test]
async fn garbage_and_truncated_ber_are_protocol_errors() {
    for mode in [Misbehaviour::Garbage, Misbehaviour::Truncated] {
        let agent = bad_agent(mode).await;
        let started = Instant::now();
        let e = probe(vec![lab::v2c("c", "public")])
            .discover(&agent.target(), &RunId::new("r"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "PROTOCOL_ERROR", "{mode:?}: {e}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}

#[tokio::test]
async fn non_utf8_strings_survive() {
    let agent = bad_agent(Misbehaviour::NonUtf8).await;
    let out = probe(vec![lab::v2c("c", "public")])
        .discover(&agent.target(), &RunId::new("r"))
        .await
        .unwrap();
    let d = rec(&out.observation, "device");
    assert_eq!(d.identifiers["hostname"], "bad-\u{fffd}\u{fffd}agent");
    // 200 rows sharing 10 (lossy) names: all kept, identified by ifIndex, not by a shared name
    let ifs: Vec<_> = out
        .observation
        .records
        .iter()
        .filter(|r| r.class == Some(CiClass::Interface))
        .collect();
    assert_eq!(ifs.len(), 200);
    assert!(ifs
        .iter()
        .all(|r| !r.identifiers.contains_key("if_name") && r.identifiers.contains_key("if_index")));
}

#[tokio::test]
async fn huge_table_is_bounded() {
    let mut cfg = fast();
    cfg.client.max_rows_per_table = 5000;
    lab::lab();
    let p = SnmpProbe::with_config(vec![lab::v2c("sim", lab::SIM_COMMUNITY)], cfg);
    let (raw, _) = p.collect(&lab::target(lab::HUGE)).await.unwrap();
    assert_eq!(
        raw.walks["ifTable"],
        cmdb_discovery::snmp::WalkStatus::Truncated { limit: 5000 }
    );
    let out = p
        .discover(&lab::target(lab::HUGE), &RunId::new("r"))
        .await
        .unwrap();
    assert_eq!(names(&out.observation, CiClass::Interface).len(), 5000);
    assert!(out
        .diagnostics
        .iter()
        .any(|d| d.code == "snmp.table_truncated"));
    // truncation is bounded data, not a failed collection
    assert!(out.observation.scope.complete);
}

#[tokio::test]
async fn sweep_finds_agents_and_remembers_credentials() {
    lab::lab();
    let creds = vec![
        lab::v2c("wrong", "nope"),
        lab::v2c("sim", lab::SIM_COMMUNITY),
        lab::v2c("host", lab::SNMPD_COMMUNITY),
    ];
    let aff = CredentialAffinity::default();
    let cfg = SweepConfig {
        port: Some(lab::PORT),
        client: ClientConfig {
            timeout_ms: 300,
            retries: 0,
            ..ClientConfig::default()
        },
        ..SweepConfig::default()
    };
    let started = Instant::now();
    let res = sweep(&["127.0.1.0/26".to_string()], &creds, &aff, &cfg)
        .await
        .unwrap();
    let first = started.elapsed();
    assert_eq!(res.scanned, 62);
    let found: BTreeMap<String, String> = res
        .found
        .iter()
        .map(|h| (h.target.clone(), h.credential.clone()))
        .collect();
    let mut expect: BTreeMap<String, String> = BTreeMap::new();
    expect.insert("127.0.1.1:1161".into(), "host".into());
    for a in [
        "10", "11", "12", "13", "14", "20", "21", "22", "30", "31", "40",
    ] {
        expect.insert(format!("127.0.1.{a}:1161"), "sim".into());
    }
    assert_eq!(found, expect);
    assert_eq!(
        res.found
            .iter()
            .find(|h| h.target == "127.0.1.20:1161")
            .unwrap()
            .sys_name
            .as_deref(),
        Some("lab-sw1.lab.example")
    );
    // affinity is plain serialisable data
    let snap = aff.snapshot();
    assert_eq!(snap.entries, expect);
    let json = serde_json::to_string(&snap).unwrap();
    assert!(!json.contains("nope") && !json.contains(lab::SNMPD_COMMUNITY));
    // next sweep uses it: no time lost on the wrong credential for known agents
    let started = Instant::now();
    let again = sweep(
        &["127.0.1.0/26".to_string()],
        &creds,
        &CredentialAffinity::from_map(snap),
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(again.found.len(), expect.len());
    assert!(
        started.elapsed() < first + Duration::from_secs(1),
        "{:?} vs {first:?}",
        started.elapsed()
    );
    // bounded: at worst 3 credentials × 300 ms per address, all 62 addresses in parallel
    assert!(first < Duration::from_secs(5), "{first:?}");
}

#[tokio::test]
async fn runner_reports_per_target_and_streams_progress() {
    lab::lab();
    let p: Arc<dyn Probe> = Arc::new(SnmpProbe::with_config(
        vec![lab::v2c("sim", lab::SIM_COMMUNITY)],
        fast(),
    ));
    let mut req = DiscoveryRequest::new([
        format!("{}:1161", lab::SW1),
        format!("{}:1161", lab::CLOSED),
        format!("{}:1161", lab::WEB1),
    ]);
    req.probes = vec!["snmp".into()];
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let rep = run(
        &req,
        &[p],
        &RunnerConfig {
            concurrency: 4,
            target_timeout_ms: 10_000,
        },
        Some(tx),
    )
    .await
    .unwrap();
    assert_eq!(rep.results.len(), 3);
    assert!(rep.results[0].result.is_ok());
    assert_eq!(
        rep.results[1].result.as_ref().unwrap_err().code(),
        "UNREACHABLE"
    );
    assert!(rep.results[2].result.is_ok());
    let mut ready = 0;
    let mut finished = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            ProgressEvent::ObservationReady { output, .. } => {
                assert!(output.observation.scope.complete);
                ready += 1
            }
            ProgressEvent::TargetFinished {
                target, outcome, ..
            } => finished.push((target, outcome)),
            _ => {}
        }
    }
    assert_eq!(ready, 2);
    assert_eq!(finished.len(), 3);
    assert!(finished.iter().any(|(t, o)| t == "127.0.1.250:1161"
        && matches!(o, TargetOutcome::Error { code, .. } if code == "UNREACHABLE")));
}

#[tokio::test]
async fn rediscovery_three_times_creates_no_duplicates() {
    use cmdb_store::{
        CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, PageRequest,
    };
    lab::lab();
    let dir = tempfile::tempdir().unwrap();
    let store =
        EmbeddedStore::open(&dir.path().join("g.db"), EmbeddedOptions::default()).expect("store");
    let p = SnmpProbe::with_config(vec![lab::v2c("sim", lab::SIM_COMMUNITY)], fast());
    let mut counts = Vec::new();
    for i in 0..3 {
        for a in lab::topology() {
            let out = p
                .discover(&lab::target(a), &RunId::new(format!("run_{i}")))
                .await
                .unwrap();
            let rep = store
                .ingest(out.observation, &IngestOptions::default())
                .await
                .expect("ingest");
            assert!(rep.errors.is_empty(), "{a}: {:?}", rep.errors);
            if i > 0 {
                assert_eq!(rep.created, 0, "run {i} {a} created CIs");
            }
        }
        let page = store
            .find(
                &CiFilter::default(),
                CiOrder::default(),
                &PageRequest::first(100_000),
            )
            .await
            .unwrap();
        let (rels, _) = store.all_relationships(None, 1_000_000).await.unwrap();
        counts.push((page.items.len(), rels.len()));
    }
    assert_eq!(counts[0], counts[1]);
    assert_eq!(counts[1], counts[2]);
}

#[tokio::test]
async fn per_target_rate_limit_paces_requests() {
    lab::lab();
    let mut cfg = fast();
    cfg.client.max_requests_per_sec = 20;
    let p = SnmpProbe::with_config(vec![lab::v2c("sim", lab::SIM_COMMUNITY)], cfg);
    let started = Instant::now();
    let out = p
        .discover(&lab::target(lab::SW1), &RunId::new("r"))
        .await
        .unwrap();
    // one GET + at least one GETBULK per walked subtree (25), 50 ms apart
    assert!(
        started.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    assert!(out.observation.scope.complete);
}
