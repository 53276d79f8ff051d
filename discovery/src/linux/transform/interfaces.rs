//! Interfaces and their addresses (`ip -j addr`), and the MACs and addresses that identify
//! the host.

use std::collections::BTreeSet;
use std::net::IpAddr;

use cmdb_model::{CiClass, EvidenceKind, Record, RelType, RelationshipObs};

use super::{Diags, DEVICE_KEY};
use crate::linux::parse::{self, Link};
use crate::linux::script::Sections;
use crate::records::is_host_address;

/// What the interface sections say.
pub(super) struct Interfaces {
    /// Interface records, then IpAddress records.
    pub(super) records: Vec<Record>,
    /// Interface HAS_IP address.
    pub(super) relationships: Vec<RelationshipObs>,
    /// MACs of physical interfaces: the host's own.
    macs: BTreeSet<String>,
    /// Addresses that identify the host.
    host_ips: BTreeSet<String>,
    /// Every address of the host, loopback included: a connection to one stays on the host.
    pub(super) own_ips: BTreeSet<IpAddr>,
}

/// Interfaces whose addresses are not the host's identity (the same 172.17.0.1 exists on every
/// Docker host).
fn is_container_bridge(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "docker", "veth", "br-", "cni", "cali", "flannel", "virbr", "podman", "lxcbr", "kube-",
        "tunl", "vxlan", "weave", "cilium",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

fn valid_mac(mac: &str) -> bool {
    mac.len() == 17 && mac != "00:00:00:00:00:00" && mac != "ff:ff:ff:ff:ff:ff"
}

pub(super) fn read(sections: &Sections, diags: &mut Diags<'_>) -> Interfaces {
    let virtual_ifs: BTreeSet<String> = sections
        .body("virtual_net")
        .map(|b| b.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let links: Vec<Link> = match sections
        .body("ip_addr")
        .or_else(|| sections.body("ip_link"))
    {
        Some(body) => parse::parse_ip_links(body).unwrap_or_else(|e| {
            diags.push("linux.parse_error", format!("ip addr: {e}"));
            Vec::new()
        }),
        None => Vec::new(),
    };
    let mut out = Interfaces {
        records: Vec::new(),
        relationships: Vec::new(),
        macs: BTreeSet::new(),
        host_ips: BTreeSet::new(),
        own_ips: BTreeSet::new(),
    };
    let mut ip_records = Vec::new();
    for l in &links {
        let physical = l.link_type.as_deref() == Some("ether")
            && !virtual_ifs.contains(&l.if_name)
            && !is_container_bridge(&l.if_name);
        if let Some(m) = l.mac.as_deref().filter(|m| valid_mac(m) && physical) {
            out.macs.insert(m.to_string());
        }
        out.records.push(interface(l));
        addresses(l, &mut out, &mut ip_records);
    }
    out.records.extend(ip_records);
    out
}

/// The record of one link.
fn interface(l: &Link) -> Record {
    let mut r = Record::new(format!("if:{}", l.if_name), CiClass::Interface)
        .name(l.if_name.clone())
        .parent(DEVICE_KEY)
        .ident("if_name", l.if_name.clone());
    if let Some(m) = l.mac.as_deref().filter(|m| valid_mac(m)) {
        r = r.ident("mac_address", m.to_string());
    }
    if let Some(i) = l.if_index {
        r = r.ident("if_index", i);
    }
    if let Some(t) = &l.link_type {
        r = r.attr("if_type", t.clone());
    }
    if let Some(m) = l.mtu {
        r = r.attr("mtu", m);
    }
    if let Some(s) = &l.oper_state {
        r = r.attr("oper_status", s.clone());
    }
    r = r.attr("admin_status", if l.admin_up { "up" } else { "down" });
    if let Some(a) = &l.alias {
        r = r.attr("if_alias", a.clone());
    }
    r
}

/// The link's addresses: every one is the host's own; the usable ones outside container
/// bridges get a record (once) and HAS_IP from the interface.
fn addresses(l: &Link, out: &mut Interfaces, ip_records: &mut Vec<Record>) {
    let key = format!("if:{}", l.if_name);
    for a in &l.addrs {
        out.own_ips.insert(parse::canonical_ip(a.address));
        if !is_host_address(&a.address) || is_container_bridge(&l.if_name) {
            continue;
        }
        let text = a.address.to_string();
        out.host_ips.insert(text.clone());
        let ikey = format!("ip:{text}");
        if !ip_records.iter().any(|r: &Record| r.key == ikey) {
            ip_records.push(
                Record::new(&ikey, CiClass::IpAddress)
                    .name(text.clone())
                    .ident("address", text)
                    .attr("prefix_length", a.prefix_len)
                    .attr("version", if a.address.is_ipv4() { 4 } else { 6 }),
            );
        }
        out.relationships.push(RelationshipObs::new(
            RelType::HasIp,
            &key,
            &ikey,
            EvidenceKind::Inventory,
            1.0,
        ));
    }
}

/// The host's MACs and addresses as its identifiers; a diagnostic when it has no identifier
/// at all.
pub(super) fn identify_device(mut dev: Record, nics: &Interfaces, diags: &mut Diags<'_>) -> Record {
    if !nics.macs.is_empty() {
        dev = dev.ident(
            "mac_addresses",
            nics.macs.iter().cloned().collect::<Vec<_>>(),
        );
    }
    if !nics.host_ips.is_empty() {
        dev = dev.ident(
            "ip_addresses",
            nics.host_ips.iter().cloned().collect::<Vec<_>>(),
        );
    }
    if dev.identifiers.is_empty() {
        diags.push(
            "linux.no_identity",
            "no hostname, serial, MAC or address could be read",
        );
    }
    dev
}
