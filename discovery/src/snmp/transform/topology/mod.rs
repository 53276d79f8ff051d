//! Neighbours: LLDP and CDP neighbours as placeholder devices linked port to port, hosts on
//! edge ports from the bridge forwarding tables, and the addresses a network device's ARP
//! table places on its ports.

mod cdp;
mod fdb;
mod lldp;

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::identify::canonical_if_name;
use cmdb_model::{CiClass, Record};
use serde_json::{json, Value};

use super::interfaces::IfInfo;
use super::rows::{table, Vbs};
use super::{Builder, TransformOptions};
use crate::snmp::mib::dot1d_base_port_table;

/// Every neighbour the device's tables name, in order: LLDP, CDP, FDB, then (for a network
/// device) ARP.
pub(super) fn neighbours(
    vbs: &Vbs,
    ifs: &BTreeMap<u32, IfInfo>,
    own_macs: &BTreeSet<String>,
    own_ips: &BTreeSet<String>,
    class: CiClass,
    opts: &TransformOptions,
    b: &mut Builder,
) {
    let mut devices = Neighbours::default();
    let mut linked_ports: BTreeSet<u32> = BTreeSet::new();
    let bridge_to_if = bridge_ports(vbs);
    lldp::lldp(vbs, ifs, &bridge_to_if, b, &mut devices, &mut linked_ports);
    cdp::cdp(vbs, ifs, b, &mut devices, &mut linked_ports);
    let arp = fdb::arp_entries(vbs);
    let edge = fdb::EdgePorts {
        ifs,
        bridge_to_if: &bridge_to_if,
        own_macs,
        linked_ports: &linked_ports,
        max_macs: opts.edge_port_max_macs,
    };
    let fdb_ports = fdb::fdb(vbs, &edge, &fdb::arp_by_mac(&arp), b);
    if class == CiClass::NetworkDevice {
        // A switch's or router's ARP table says where addresses live; a host's neighbour cache
        // only says whom it talked to lately.
        fdb::arp_addresses(&arp, &fdb_ports, ifs, own_ips, b);
    }
}

/// Bridge port number → ifIndex (dot1dBasePortTable).
fn bridge_ports(vbs: &Vbs) -> BTreeMap<u32, u32> {
    table(vbs, dot1d_base_port_table::TABLE)
        .iter()
        .filter_map(|(idx, c)| Some((*idx.first()?, c.index(dot1d_base_port_table::IF_INDEX)?)))
        .collect()
}

#[derive(Default)]
pub(super) struct Neighbours {
    /// (kind, value) → device key
    by_ident: BTreeMap<(String, String), String>,
    n: usize,
}

impl Neighbours {
    /// Find or create the placeholder device for a neighbour, merging identifiers.
    /// `end_system`: the neighbour advertises itself as a station, host or phone rather than a
    /// bridge or router, so its placeholder is a Host (the network rule never relies on one).
    pub(super) fn device(
        &mut self,
        b: &mut Builder,
        hostname: Option<&str>,
        mac: Option<&str>,
        ips: &[String],
        end_system: bool,
    ) -> Option<String> {
        let idents = neighbour_idents(hostname, mac, ips);
        if idents.is_empty() {
            return None;
        }
        let key = self.key_for(&idents);
        if let Some(r) = b.record_mut(&key) {
            merge_ident(r, "hostname", hostname.map(|h| json!(h)));
            if let Some(h) = hostname.filter(|h| h.contains('.')) {
                merge_ident(r, "fqdn", Some(json!(h.to_ascii_lowercase())));
            }
            merge_array(
                r,
                "mac_addresses",
                mac.map(str::to_string).into_iter().collect(),
            );
            merge_array(r, "ip_addresses", ips.to_vec());
        } else {
            b.push(placeholder_device(&key, hostname, mac, ips, end_system));
        }
        Some(key)
    }

    /// The key of the neighbour any of `idents` already names, else a new one; remembers every
    /// ident for it.
    fn key_for(&mut self, idents: &[(String, String)]) -> String {
        let existing = idents.iter().find_map(|i| self.by_ident.get(i).cloned());
        let key = existing.unwrap_or_else(|| {
            self.n += 1;
            format!("nbr:{}", self.n)
        });
        for i in idents {
            self.by_ident
                .entry(i.clone())
                .or_insert_with(|| key.clone());
        }
        key
    }
}

/// What tells neighbours apart: (kind, value) for the MAC, the short host name and each address.
fn neighbour_idents(
    hostname: Option<&str>,
    mac: Option<&str>,
    ips: &[String],
) -> Vec<(String, String)> {
    let mut idents: Vec<(String, String)> = Vec::new();
    if let Some(m) = mac {
        idents.push(("mac".into(), m.to_string()));
    }
    if let Some(h) = hostname {
        let short = h
            .trim_end_matches('.')
            .split('.')
            .next()
            .unwrap_or(h)
            .to_ascii_lowercase();
        if !short.is_empty() {
            idents.push(("host".into(), short));
        }
    }
    for ip in ips {
        idents.push(("ip".into(), ip.clone()));
    }
    idents
}

/// A new neighbour's placeholder record, named by its host name, else its MAC, else its first
/// address.
fn placeholder_device(
    key: &str,
    hostname: Option<&str>,
    mac: Option<&str>,
    ips: &[String],
    end_system: bool,
) -> Record {
    let class = if end_system {
        CiClass::Host
    } else {
        CiClass::NetworkDevice
    };
    let mut r = Record::new(key, class).placeholder();
    if let Some(h) = hostname {
        r = r
            .ident("hostname", h)
            .name(h.split('.').next().unwrap_or(h));
        if h.contains('.') {
            r = r.ident("fqdn", h.to_ascii_lowercase());
        }
    }
    if let Some(m) = mac {
        r = r.ident("mac_addresses", vec![m.to_string()]);
        if r.name.is_none() {
            r = r.name(m);
        }
    }
    if !ips.is_empty() {
        r = r.ident("ip_addresses", ips.to_vec());
        if r.name.is_none() {
            r = r.name(ips[0].clone());
        }
    }
    r
}

pub(super) fn merge_ident(r: &mut Record, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        r.identifiers.entry(k.to_string()).or_insert(v);
    }
}

fn merge_array(r: &mut Record, k: &str, vals: Vec<String>) {
    if vals.is_empty() {
        return;
    }
    let mut set: BTreeSet<String> = r
        .identifiers
        .get(k)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    set.extend(vals);
    r.identifiers
        .insert(k.to_string(), json!(set.into_iter().collect::<Vec<_>>()));
}

/// Placeholder interface under a neighbour device; returns its key.
pub(super) fn neighbour_if(
    b: &mut Builder,
    dev: &str,
    if_name: Option<String>,
    mac: Option<String>,
) -> Option<String> {
    let id = if_name.clone().or_else(|| mac.clone())?;
    let key = format!("{dev}:if:{id}");
    if !b.has(&key) {
        let mut r = Record::new(&key, CiClass::Interface)
            .parent(dev)
            .placeholder()
            .name(id);
        if let Some(n) = if_name {
            r = r.ident("if_name", n);
        }
        if let Some(m) = mac {
            r = r.ident("mac_address", m);
        }
        b.push(r);
    }
    Some(key)
}

/// The interface a neighbour table names: by ifName, ifDescr or ifAlias as written, then by
/// the canonical form, so `TenGigabitEthernet1/1/1` finds the port whose ifName is `Te1/1/1`.
pub(super) fn find_if_by_name(ifs: &BTreeMap<u32, IfInfo>, name: &str) -> Option<u32> {
    let n = name.trim();
    if n.is_empty() {
        return None;
    }
    let canon = canonical_if_name(n);
    let same = |v: &Option<String>| v.as_deref().is_some_and(|v| canonical_if_name(v) == canon);
    ifs.iter()
        .find(|(_, i)| i.name.as_deref() == Some(n))
        .or_else(|| ifs.iter().find(|(_, i)| i.descr.as_deref() == Some(n)))
        .or_else(|| ifs.iter().find(|(_, i)| i.alias.as_deref() == Some(n)))
        .or_else(|| ifs.iter().find(|(_, i)| same(&i.name)))
        .or_else(|| ifs.iter().find(|(_, i)| same(&i.descr)))
        .map(|(k, _)| *k)
}
