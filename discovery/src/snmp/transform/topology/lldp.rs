//! LLDP neighbours (LLDP-MIB lldpRemTable and lldpRemManAddrTable).

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::{EvidenceKind, RelType};

use super::super::interfaces::{if_key, IfInfo};
use super::super::rows::{inet_from_bytes, ip_is_usable, table, Row, Table, Vbs};
use super::super::Builder;
use super::{find_if_by_name, neighbour_if, Neighbours};
use crate::snmp::mib::{lldp_loc_port_table as loc_port, lldp_rem_man_addr_table, lldp_rem_table};
use crate::snmp::value::{clean_text, mac_text};

/// Link each LLDP neighbour's port to the local interface it was seen on.
pub(super) fn lldp(
    vbs: &Vbs,
    ifs: &BTreeMap<u32, IfInfo>,
    bridge_to_if: &BTreeMap<u32, u32>,
    b: &mut Builder,
    nb: &mut Neighbours,
    linked_ports: &mut BTreeSet<u32>,
) {
    let loc = table(vbs, loc_port::TABLE);
    let man_ips = management_addresses(vbs);
    for (idx, c) in &table(vbs, lldp_rem_table::TABLE) {
        if idx.len() != 3 {
            continue;
        }
        let local_port = idx[1];
        let Some(local_if) = local_interface(&loc, ifs, bridge_to_if, local_port) else {
            b.diag(
                "snmp.lldp_port_unresolved",
                format!("LLDP neighbour on local port {local_port}: no matching interface"),
            );
            continue;
        };
        let ips = man_ips.get(idx).cloned().unwrap_or_default();
        let Some(dev) = remote_device(c, ips, nb, b) else {
            b.diag("snmp.lldp_neighbour_unidentified", format!("LLDP neighbour on interface {local_if} has no usable chassis id, name or address"));
            continue;
        };
        let (if_name, if_mac) = remote_port(c);
        let Some(rif) = neighbour_if(b, &dev, if_name, if_mac) else {
            b.diag(
                "snmp.lldp_port_unidentified",
                format!("LLDP neighbour port on interface {local_if} has no id"),
            );
            continue;
        };
        b.relate(
            RelType::LinkedTo,
            &if_key(local_if),
            &rif,
            EvidenceKind::Lldp,
            0.9,
        );
        linked_ports.insert(local_if);
    }
}

/// The ifIndex of lldpLocPortNum `port`: by its port id (interface name, alias or local
/// subtype), else its description, else the bridge port of that number, else the ifIndex.
fn local_interface(
    loc: &Table<'_>,
    ifs: &BTreeMap<u32, IfInfo>,
    bridge_to_if: &BTreeMap<u32, u32>,
    port: u32,
) -> Option<u32> {
    if let Some(c) = loc.get(&vec![port]) {
        let sub = c.int(loc_port::ID_SUBTYPE);
        let pid = c.bytes(loc_port::ID);
        // A MAC port id (subtype 3) is not unique on many switches: the description decides.
        if let (Some(5 | 1 | 7), Some(p)) = (sub, pid) {
            if let Some(i) = find_if_by_name(ifs, &clean_text(p)) {
                return Some(i);
            }
        }
        if let Some(i) = c
            .text(loc_port::DESC)
            .and_then(|d| find_if_by_name(ifs, &d))
        {
            return Some(i);
        }
    }
    if let Some(i) = bridge_to_if.get(&port) {
        return Some(*i);
    }
    ifs.contains_key(&port).then_some(port)
}

/// Management addresses per neighbour (timeMark, localPort, remIndex).
fn management_addresses(vbs: &Vbs) -> BTreeMap<Vec<u32>, Vec<String>> {
    let mut man_ips: BTreeMap<Vec<u32>, Vec<String>> = BTreeMap::new();
    for idx in table(vbs, lldp_rem_man_addr_table::TABLE).keys() {
        if idx.len() < 4 {
            continue;
        }
        let (head, rest) = idx.split_at(3);
        // subtype (IANA family: 1 IPv4, 2 IPv6), then the length-prefixed address octets
        let ty = rest[0];
        let Some((&len, addr)) = rest[1..].split_first() else {
            continue;
        };
        if addr.len() != len as usize {
            continue;
        }
        let bytes: Option<Vec<u8>> = addr.iter().map(|x| u8::try_from(*x).ok()).collect();
        if let Some(ip) = bytes.and_then(|b| inet_from_bytes(ty, &b)) {
            if ip_is_usable(&ip) {
                man_ips
                    .entry(head.to_vec())
                    .or_default()
                    .push(ip.to_string());
            }
        }
    }
    man_ips
}

/// The neighbour's placeholder device from its chassis id (a MAC or an address), system name,
/// management addresses and capabilities.
fn remote_device(
    c: &Row<'_>,
    mut ips: Vec<String>,
    nb: &mut Neighbours,
    b: &mut Builder,
) -> Option<String> {
    let mut mac = None;
    match (
        c.int(lldp_rem_table::CHASSIS_ID_SUBTYPE),
        c.bytes(lldp_rem_table::CHASSIS_ID),
    ) {
        (Some(4), Some(ch)) => mac = mac_text(ch),
        (Some(5), Some(ch)) if ch.len() == 5 || ch.len() == 17 => {
            if let Some(ip) = inet_from_bytes(ch[0] as u32, &ch[1..]).filter(ip_is_usable) {
                ips.push(ip.to_string());
            }
        }
        _ => {}
    }
    let sys_name = c.text(lldp_rem_table::SYS_NAME);
    // lldpRemSysCapEnabled, else lldpRemSysCapSupported (BITS: bit 0 is the first octet's MSB)
    let caps = c
        .get(lldp_rem_table::SYS_CAP_ENABLED)
        .or_else(|| c.get(lldp_rem_table::SYS_CAP_SUPPORTED))
        .and_then(|v| v.as_bytes())
        .and_then(|b| b.first().copied());
    let end_system = caps.is_some_and(|c| c != 0 && c & (0x40 | 0x20 | 0x10 | 0x08) == 0);
    nb.device(b, sys_name.as_deref(), mac.as_deref(), &ips, end_system)
}

/// The neighbour's port as (interface name, MAC) from its port id and description.
fn remote_port(c: &Row<'_>) -> (Option<String>, Option<String>) {
    let port_desc = c.text(lldp_rem_table::PORT_DESC);
    match (
        c.int(lldp_rem_table::PORT_ID_SUBTYPE),
        c.bytes(lldp_rem_table::PORT_ID),
    ) {
        (Some(3), Some(p)) => (port_desc, mac_text(p)),
        (Some(5 | 1), Some(p)) => (
            Some(clean_text(p)).filter(|s| !s.is_empty()).or(port_desc),
            None,
        ),
        (Some(7), Some(p)) => {
            let t = clean_text(p);
            if !t.is_empty() && !t.chars().all(|c| c.is_ascii_digit()) {
                (Some(t), None)
            } else {
                (port_desc, None)
            }
        }
        _ => (port_desc, None),
    }
}
