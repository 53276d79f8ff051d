//! Hosts on edge ports (BRIDGE-MIB and Q-BRIDGE-MIB forwarding tables) and the addresses a
//! network device's ARP table places on its ports (IP-MIB ipNetToMediaTable and
//! ipNetToPhysicalTable).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cmdb_model::{CiClass, EvidenceKind, Record, RelType, RelationshipObs};
use serde_json::json;

use super::super::interfaces::{if_key, IfInfo};
use super::super::rows::{inet_from_index, ip_is_usable, ipv4_from_index, mac_from_index, table};
use super::super::rows::{Row, Vbs};
use super::super::Builder;
use crate::snmp::mib::{dot1d_tp_fdb_table as fdb1d, dot1q_tp_fdb_table as fdb1q};
use crate::snmp::mib::{ip_net_to_media_table as media, ip_net_to_physical_table as phys};

/// One ARP/neighbour entry: the address, its MAC and the ifIndex the device learnt it on.
pub(super) struct ArpEntry {
    ip: IpAddr,
    mac: String,
    ifindex: u32,
}

/// ipNetToMediaTable / ipNetToPhysicalTable (dynamic/static entries only; type 2 is invalid).
pub(super) fn arp_entries(vbs: &Vbs) -> Vec<ArpEntry> {
    let mut out: BTreeMap<IpAddr, ArpEntry> = BTreeMap::new();
    for (idx, c) in table(vbs, media::TABLE) {
        if c.int(media::TYPE) == Some(2) {
            continue;
        }
        let ip = ipv4_from_index(idx.get(1..).unwrap_or(&[])).map(|(ip, _)| IpAddr::V4(ip));
        if let Some(e) = arp_entry(&idx, ip, c.mac(media::PHYS_ADDRESS)) {
            out.insert(e.ip, e);
        }
    }
    for (idx, c) in table(vbs, phys::TABLE) {
        if c.int(phys::TYPE) == Some(2) {
            continue;
        }
        let ip = inet_from_index(idx.get(1..).unwrap_or(&[])).map(|(ip, _)| ip);
        if let Some(e) = arp_entry(&idx, ip, c.mac(phys::PHYS_ADDRESS)) {
            out.entry(e.ip).or_insert(e);
        }
    }
    out.into_values().collect()
}

/// The entry of a row indexed by ifIndex, when it has a usable address and a MAC.
fn arp_entry(idx: &[u32], ip: Option<IpAddr>, mac: Option<String>) -> Option<ArpEntry> {
    let ifindex = idx.first().copied().unwrap_or(0);
    let (ip, mac) = (ip?, mac?);
    ip_is_usable(&ip).then_some(ArpEntry { ip, mac, ifindex })
}

/// MAC → IPs, from the ARP entries.
pub(super) fn arp_by_mac(entries: &[ArpEntry]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in entries {
        out.entry(e.mac.clone())
            .or_default()
            .insert(e.ip.to_string());
    }
    out
}

/// Every address in the device's ARP/neighbour table becomes an IpAddress CI (weak: it never
/// overwrites what the address's owner reports) that is LEARNED_ON the port the device learnt
/// it on — the FDB port of its MAC when the bridge table has it, else the interface the ARP
/// entry names. An address nothing else reports stays visible to an auditor this way.
pub(super) fn arp_addresses(
    entries: &[ArpEntry],
    fdb_ports: &BTreeMap<String, u32>,
    ifs: &BTreeMap<u32, IfInfo>,
    own_ips: &BTreeSet<String>,
    b: &mut Builder,
) {
    for e in entries {
        let ip = e.ip.to_string();
        if own_ips.contains(&ip) {
            continue;
        }
        let Some(port) = fdb_ports
            .get(&e.mac)
            .copied()
            .or(Some(e.ifindex))
            .filter(|i| ifs.contains_key(i))
        else {
            continue;
        };
        let key = format!("arp:{ip}");
        b.push(
            Record::new(&key, CiClass::IpAddress)
                .placeholder()
                .name(ip.clone())
                .ident("address", ip.clone())
                .attr("version", if e.ip.is_ipv4() { 4 } else { 6 })
                .attr("mac_address", e.mac.clone()),
        );
        let mut rel = RelationshipObs::new(
            RelType::LearnedOn,
            &key,
            if_key(port),
            EvidenceKind::Arp,
            0.7,
        );
        rel.attributes.insert("mac_address".into(), json!(e.mac));
        b.relate_obs(rel);
    }
}

/// What decides whether a port's MACs are hosts attached to it.
pub(super) struct EdgePorts<'a> {
    pub(super) ifs: &'a BTreeMap<u32, IfInfo>,
    /// Bridge port number → ifIndex.
    pub(super) bridge_to_if: &'a BTreeMap<u32, u32>,
    /// The device's own MACs: never a host on its ports.
    pub(super) own_macs: &'a BTreeSet<String>,
    /// Ports with an LLDP/CDP neighbour: links to other devices, not edge ports.
    pub(super) linked_ports: &'a BTreeSet<u32>,
    /// More MACs than this on a port make it a trunk.
    pub(super) max_macs: usize,
}

/// Hosts on edge ports, from the forwarding tables: a placeholder host and interface per MAC,
/// LINKED_TO the port. Returns MAC → ifIndex for every learnt MAC with a port.
pub(super) fn fdb(
    vbs: &Vbs,
    edge: &EdgePorts<'_>,
    arp: &BTreeMap<String, BTreeSet<String>>,
    b: &mut Builder,
) -> BTreeMap<String, u32> {
    let entries = fdb_entries(vbs);
    if entries.is_empty() {
        return BTreeMap::new();
    }
    if edge.bridge_to_if.is_empty() {
        b.diag(
            "snmp.table_missing",
            "BRIDGE-MIB dot1dBasePortTable missing: bridge port numbers taken as ifIndex",
        );
    }
    let (per_if, port_of_mac) = macs_per_interface(entries, edge, b);
    for (ifidx, macs) in per_if {
        if edge.linked_ports.contains(&ifidx) || macs.len() > edge.max_macs {
            continue; // a trunk or uplink
        }
        for mac in macs.into_iter().filter(|m| !edge.own_macs.contains(m)) {
            attach_host(ifidx, mac, arp, b);
        }
    }
    port_of_mac
}

/// (MAC, bridge port) of every learnt entry of both forwarding tables (status 3 = learned;
/// 2 invalid, 4 self and 5 mgmt are left out).
fn fdb_entries(vbs: &Vbs) -> BTreeSet<(String, u32)> {
    let learned = |c: &Row<'_>, status: u32| !matches!(c.int(status), Some(4) | Some(5) | Some(2));
    let port = |c: &Row<'_>, col: u32| c.index(col).filter(|p| *p > 0);
    let mut entries: BTreeSet<(String, u32)> = BTreeSet::new();
    for (idx, c) in table(vbs, fdb1d::TABLE) {
        if !learned(&c, fdb1d::STATUS) {
            continue;
        }
        let mac = c.mac(fdb1d::ADDRESS).or_else(|| mac_from_index(&idx));
        if let (Some(m), Some(p)) = (mac, port(&c, fdb1d::PORT)) {
            entries.insert((m, p));
        }
    }
    for (idx, c) in table(vbs, fdb1q::TABLE) {
        if !learned(&c, fdb1q::STATUS) {
            continue;
        }
        let mac = idx.get(1..).and_then(mac_from_index);
        if let (Some(m), Some(p)) = (mac, port(&c, fdb1q::PORT)) {
            entries.insert((m, p));
        }
    }
    entries
}

/// ifIndex → MACs learnt on it, and MAC → ifIndex. Without a dot1dBasePortTable a bridge
/// port number is taken as the ifIndex.
type MacsPerInterface = (BTreeMap<u32, BTreeSet<String>>, BTreeMap<String, u32>);

fn macs_per_interface(
    entries: BTreeSet<(String, u32)>,
    edge: &EdgePorts<'_>,
    b: &mut Builder,
) -> MacsPerInterface {
    let mut per_if: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut port_of_mac: BTreeMap<String, u32> = BTreeMap::new();
    let mut unresolved = 0;
    for (mac, port) in entries {
        let ifidx = edge.bridge_to_if.get(&port).copied().or_else(|| {
            (edge.bridge_to_if.is_empty() && edge.ifs.contains_key(&port)).then_some(port)
        });
        match ifidx {
            Some(i) if edge.ifs.contains_key(&i) => {
                port_of_mac.insert(mac.clone(), i);
                per_if.entry(i).or_default().insert(mac);
            }
            _ => unresolved += 1,
        }
    }
    if unresolved > 0 {
        b.diag(
            "snmp.fdb_port_unresolved",
            format!("{unresolved} FDB entries on bridge ports without an interface"),
        );
    }
    (per_if, port_of_mac)
}

/// The host with `mac` (and the addresses ARP knows for it) on edge port `ifidx`.
fn attach_host(ifidx: u32, mac: String, arp: &BTreeMap<String, BTreeSet<String>>, b: &mut Builder) {
    let ips: Vec<String> = arp
        .get(&mac)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let dkey = format!("fdb:{mac}");
    let mut d = Record::new(&dkey, CiClass::Host)
        .placeholder()
        .name(mac.clone())
        .ident("mac_addresses", vec![mac.clone()]);
    if !ips.is_empty() {
        d = d.ident("ip_addresses", ips.clone());
    }
    b.push(d);
    let ikey = format!("fdb:{mac}:if");
    b.push(
        Record::new(&ikey, CiClass::Interface)
            .parent(&dkey)
            .placeholder()
            .name(mac.clone())
            .ident("mac_address", mac),
    );
    let conf = if ips.is_empty() { 0.6 } else { 0.7 };
    b.relate(
        RelType::LinkedTo,
        &if_key(ifidx),
        &ikey,
        EvidenceKind::Fdb,
        conf,
    );
}
