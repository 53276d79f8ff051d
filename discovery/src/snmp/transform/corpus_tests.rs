//! Transform tests on real recorded devices (snmpsim-data, BSD licence; filtered copies under
//! `tests/lab/snmp/data/corpus/`).

use std::collections::BTreeMap;

use cmdb_model::{CiClass, EvidenceKind, Observation, RelType, RunId};

use crate::snmp::collect::RawCollection;
use crate::snmp::transform::{transform, TransformOptions};
use crate::snmp::value::parse_snmprec;
use crate::Diagnostic;

fn load(name: &str) -> (Observation, Vec<Diagnostic>) {
    let path = format!(
        "{}/../tests/lab/snmp/data/corpus/{name}.snmprec",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let text = String::from_utf8_lossy(&bytes);
    let (vbs, _bad) = parse_snmprec(&text);
    let raw = RawCollection::from_recording(name, vbs);
    transform(&raw, &RunId::new("run_test"), &TransformOptions::default())
}

fn count(o: &Observation, c: CiClass) -> usize {
    o.records
        .iter()
        .filter(|r| r.class == Some(c) && !r.placeholder)
        .count()
}

fn links(o: &Observation, ev: EvidenceKind) -> usize {
    o.relationships
        .iter()
        .filter(|r| r.rel_type == RelType::LinkedTo && r.evidence == ev)
        .count()
}

fn device(o: &Observation) -> &cmdb_model::Record {
    o.records
        .iter()
        .find(|r| r.key == "device")
        .expect("device record")
}

#[test]
fn cisco_c3560_cdp() {
    let (o, d) = load("network_switch_cisco-c3560");
    let dev = device(&o);
    assert_eq!(dev.class, Some(CiClass::NetworkDevice));
    assert_eq!(dev.identifiers["hostname"], "DUMSYS-04");
    assert_eq!(dev.identifiers["serial_number"], "FOC1408Z61U");
    assert_eq!(dev.attributes["vendor"], "Cisco");
    assert_eq!(dev.attributes["os_name"], "IOS");
    assert_eq!(count(&o, CiClass::Interface), 57);
    assert_eq!(count(&o, CiClass::IpAddress), 4);
    assert_eq!(links(&o, EvidenceKind::Cdp), 9);
    assert!(o.scope.complete);
    assert!(d.is_empty(), "{d:?}");
    // every CDP neighbour is a placeholder NetworkDevice with an interface under it
    for r in o
        .relationships
        .iter()
        .filter(|r| r.evidence == EvidenceKind::Cdp)
    {
        let to = o.records.iter().find(|x| x.key == r.to).unwrap();
        assert!(to.placeholder && to.class == Some(CiClass::Interface));
        let p = o
            .records
            .iter()
            .find(|x| Some(&x.key) == to.parent.as_ref())
            .unwrap();
        assert!(p.placeholder && p.class == Some(CiClass::NetworkDevice));
        assert_eq!(r.confidence, 0.9);
    }
}

#[test]
fn cisco_n5000_lldp_and_cdp() {
    let (o, _) = load("network_switch_cisco-n5000");
    let dev = device(&o);
    assert_eq!(dev.identifiers["hostname"], "DUMSYS-52");
    assert_eq!(dev.attributes["os_name"], "NX-OS");
    assert_eq!(count(&o, CiClass::Interface), 61);
    assert_eq!(links(&o, EvidenceKind::Lldp), 9);
    assert_eq!(links(&o, EvidenceKind::Cdp), 4);
    // neighbours seen over both LLDP and CDP are one placeholder, not two
    let nbrs = o
        .records
        .iter()
        .filter(|r| r.placeholder && r.class == Some(CiClass::NetworkDevice))
        .count();
    assert_eq!(nbrs, 7);
}

#[test]
fn dlink_fdb_edge_ports() {
    let (o, _) = load("network_switch_dlink-des3038");
    assert_eq!(device(&o).class, Some(CiClass::NetworkDevice));
    assert_eq!(device(&o).attributes["vendor"], "D-Link");
    assert_eq!(count(&o, CiClass::Interface), 32);
    assert_eq!(links(&o, EvidenceKind::Fdb), 15);
    // no edge port carries more MACs than the threshold
    let mut per_port: BTreeMap<&str, usize> = BTreeMap::new();
    for r in o
        .relationships
        .iter()
        .filter(|r| r.evidence == EvidenceKind::Fdb)
    {
        *per_port.entry(r.from.as_str()).or_default() += 1;
        assert!(r.confidence == 0.6 || r.confidence == 0.7);
    }
    assert!(per_port
        .values()
        .all(|n| *n <= crate::snmp::EDGE_PORT_MAX_MACS));
}

#[test]
fn linux_host_processes_and_listeners() {
    let (o, _) = load("os_linux_unknown-007");
    let dev = device(&o);
    assert_eq!(dev.class, Some(CiClass::Host));
    assert_eq!(dev.attributes["os_name"], "Linux");
    assert_eq!(dev.identifiers["ip_addresses"].as_array().unwrap().len(), 6);
    assert_eq!(count(&o, CiClass::Interface), 8);
    assert_eq!(count(&o, CiClass::ListeningEndpoint), 11);
    let procs = count(&o, CiClass::Process);
    assert!(procs > 10 && procs < 481, "{procs}");
    // every process has executable + command_line identifiers and the device as parent
    for p in o
        .records
        .iter()
        .filter(|r| r.class == Some(CiClass::Process))
    {
        assert!(
            p.identifiers.contains_key("executable") && p.identifiers.contains_key("command_line")
        );
        assert_eq!(p.parent.as_deref(), Some("device"));
    }
    let ep = o
        .records
        .iter()
        .find(|r| r.key == "ep:tcp/22")
        .expect("ssh listener");
    assert_eq!(ep.name.as_deref(), Some("tcp/22"));
}

#[test]
fn windows_host_software() {
    let (o, _) = load("os_windows_server-2003-5-2");
    let dev = device(&o);
    assert_eq!(dev.class, Some(CiClass::Host));
    assert_eq!(dev.attributes["os_name"], "Windows");
    assert_eq!(dev.attributes["vendor"], "Microsoft");
    assert_eq!(count(&o, CiClass::SoftwarePackage), 29);
    assert!(dev.attributes.contains_key("memory_bytes"));
}

#[test]
fn juniper_lldp_and_sockets() {
    let (o, _) = load("network_router_juniper-mx960-12-3r6-6");
    let dev = device(&o);
    assert_eq!(dev.class, Some(CiClass::NetworkDevice));
    assert_eq!(dev.attributes["vendor"], "Juniper Networks");
    assert_eq!(dev.attributes["os_name"], "JUNOS");
    assert_eq!(links(&o, EvidenceKind::Lldp), 13);
    // every relationship refers to records of the observation
    for r in &o.relationships {
        assert!(o.records.iter().any(|x| x.key == r.from), "{}", r.from);
        assert!(o.records.iter().any(|x| x.key == r.to), "{}", r.to);
    }
    // keys are unique
    let keys: std::collections::BTreeSet<_> = o.records.iter().map(|r| &r.key).collect();
    assert_eq!(keys.len(), o.records.len());
}

#[test]
fn garbage_and_partial_input_never_panics() {
    // every fixture cut at arbitrary points, plus random junk values, must transform
    let path = format!(
        "{}/../tests/lab/snmp/data/corpus/network_switch_cisco-n5000.snmprec",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).to_string();
    let (vbs, _) = parse_snmprec(&text);
    let all: Vec<_> = vbs.into_iter().collect();
    for (step, cut) in [(3usize, 0usize), (7, 1), (11, 5)] {
        let mut m = BTreeMap::new();
        for (i, (k, v)) in all.iter().enumerate() {
            if i % step == cut {
                continue;
            }
            // corrupt types: integers become octets and vice versa
            let v = if i % 13 == 0 {
                match v {
                    crate::snmp::SnmpValue::Integer(_) => {
                        crate::snmp::SnmpValue::Octets(vec![0xff, 0, 0xfe])
                    }
                    _ => crate::snmp::SnmpValue::Integer(-1),
                }
            } else {
                v.clone()
            };
            m.insert(k.clone(), v);
        }
        let raw = RawCollection::from_recording("x", m);
        let _ = transform(&raw, &RunId::new("r"), &TransformOptions::default());
    }
    let empty = RawCollection::from_recording("x", BTreeMap::new());
    let (o, d) = transform(&empty, &RunId::new("r"), &TransformOptions::default());
    assert_eq!(o.records.len(), 1);
    assert!(d.iter().any(|d| d.code == "snmp.table_missing"));
}
