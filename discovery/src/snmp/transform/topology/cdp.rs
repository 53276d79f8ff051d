//! CDP neighbours (CISCO-CDP-MIB cdpCacheTable).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use cmdb_model::{EvidenceKind, RelType};
use serde_json::json;

use super::super::interfaces::{if_key, IfInfo};
use super::super::rows::{ip_is_usable, table, Row, Vbs};
use super::super::Builder;
use super::{merge_ident, neighbour_if, Neighbours};
use crate::snmp::mib::cdp_cache_table as cdp_t;

/// Link each CDP neighbour's port to the local interface (the row's ifIndex) it was seen on.
pub(super) fn cdp(
    vbs: &Vbs,
    ifs: &BTreeMap<u32, IfInfo>,
    b: &mut Builder,
    nb: &mut Neighbours,
    linked_ports: &mut BTreeSet<u32>,
) {
    for (idx, c) in &table(vbs, cdp_t::TABLE) {
        if idx.len() != 2 {
            continue;
        }
        let local_if = idx[0];
        if !ifs.contains_key(&local_if) {
            b.diag(
                "snmp.cdp_port_unresolved",
                format!("CDP neighbour on ifIndex {local_if}: no such interface"),
            );
            continue;
        }
        let Some(dev) = remote_device(c, nb, b) else {
            continue;
        };
        let Some(rif) = neighbour_if(b, &dev, c.text(cdp_t::DEVICE_PORT), None) else {
            continue;
        };
        b.relate(
            RelType::LinkedTo,
            &if_key(local_if),
            &rif,
            EvidenceKind::Cdp,
            0.9,
        );
        linked_ports.insert(local_if);
    }
}

/// The neighbour's placeholder device from its address, device id (name and serial) and
/// capabilities.
fn remote_device(c: &Row<'_>, nb: &mut Neighbours, b: &mut Builder) -> Option<String> {
    let mut ips = Vec::new();
    if c.int(cdp_t::ADDRESS_TYPE) == Some(1) {
        if let Some(a) = c.bytes(cdp_t::ADDRESS).filter(|a| a.len() == 4) {
            let ip = IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
            if ip_is_usable(&ip) {
                ips.push(ip.to_string());
            }
        }
    }
    let (host, serial) = c
        .text(cdp_t::DEVICE_ID)
        .map(|d| cdp_device_id(&d))
        .unwrap_or((None, None));
    // cdpCacheCapabilities: 0x01 router, 0x02/0x04 bridge, 0x08 switch, 0x10 host, 0x80 phone
    let caps = c
        .bytes(cdp_t::CAPABILITIES)
        .filter(|b| b.len() == 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let end_system =
        caps.is_some_and(|c| c & (0x10 | 0x80) != 0 && c & (0x01 | 0x02 | 0x04 | 0x08) == 0);
    let dev = nb.device(b, host.as_deref(), None, &ips, end_system)?;
    if let (Some(serial), Some(r)) = (serial, b.record_mut(&dev)) {
        merge_ident(r, "serial_number", Some(json!(serial)));
    }
    Some(dev)
}

/// A CDP device id split into the neighbour's name and its serial number. Device ids come as
/// `sw2`, `sw2.example.com`, `sw2(FDO21120U0A)` (NX-OS: name, then the chassis serial) or
/// `JAE0713075W(sw2)` (CatOS: serial, then the name); which part is the serial is decided by
/// its shape, never by position alone.
fn cdp_device_id(raw: &str) -> (Option<String>, Option<String>) {
    let raw = raw.trim();
    let looks_serial = |s: &str| {
        (8..=14).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            && s.chars().any(|c| c.is_ascii_digit())
            && s.chars().any(|c| c.is_ascii_uppercase())
    };
    let split = match (raw.find('('), raw.ends_with(')')) {
        (Some(a), true) if a > 0 => Some((raw[..a].trim(), raw[a + 1..raw.len() - 1].trim())),
        _ => None,
    };
    let name = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match split {
        Some((outer, inner)) if looks_serial(inner) && !looks_serial(outer) => {
            (name(outer), name(inner))
        }
        Some((outer, inner)) if looks_serial(outer) && !looks_serial(inner) => {
            (name(inner), name(outer))
        }
        Some((outer, _)) => (name(outer), None),
        None => (name(raw), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdp_device_ids_keep_the_name_and_the_serial_apart() {
        let d = |s: &str| cdp_device_id(s);
        assert_eq!(
            d("core1(FDO21120U0A)"),
            (Some("core1".into()), Some("FDO21120U0A".into())),
            "NX-OS"
        );
        assert_eq!(
            d("JAE0713075W(sw-core)"),
            (Some("sw-core".into()), Some("JAE0713075W".into())),
            "CatOS"
        );
        assert_eq!(d("sw2.example.com"), (Some("sw2.example.com".into()), None));
        assert_eq!(
            d("N5K-1(SSI15210ABC)"),
            (Some("N5K-1".into()), Some("SSI15210ABC".into()))
        );
        assert_eq!(
            d("SEP001122334455"),
            (Some("SEP001122334455".into()), None),
            "an IP phone's id is its name"
        );
        assert_eq!(d("weird(thing)"), (Some("weird".into()), None));
    }
}
