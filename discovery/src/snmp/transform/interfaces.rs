//! Interfaces (IF-MIB ifTable and ifXTable) and the device's own MACs.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::{CiClass, Record};

use super::rows::{scalar, table, Row, Table, Vbs};
use super::{Builder, DEVICE_KEY};
use crate::snmp::mib::{dot1d_base, if_table as ift, if_x_table as ifx, lldp_local};
use crate::snmp::value::mac_text;

/// Interface facts the topology steps need.
#[derive(Default, Clone)]
pub(super) struct IfInfo {
    pub(super) name: Option<String>,
    pub(super) descr: Option<String>,
    pub(super) alias: Option<String>,
}

/// What the interface tables say.
pub(super) struct Interfaces {
    /// ifIndex → names.
    pub(super) info: BTreeMap<u32, IfInfo>,
    pub(super) records: Vec<Record>,
    /// MACs of the physical ports: the device's own.
    pub(super) physical_macs: BTreeSet<String>,
}

/// Key of the interface record with `if_index`.
pub(super) fn if_key(if_index: u32) -> String {
    format!("if:{if_index}")
}

/// One record per ifIndex of ifTable or ifXTable.
pub(super) fn read(vbs: &Vbs, b: &mut Builder) -> Interfaces {
    let if_t = table(vbs, ift::TABLE);
    let ifx_t = table(vbs, ifx::TABLE);
    if if_t.is_empty() && ifx_t.is_empty() {
        b.diag(
            "snmp.table_missing",
            "IF-MIB ifTable/ifXTable empty or not readable",
        );
    }
    let name_count = name_counts(&if_t, &ifx_t);
    let all_idx: BTreeSet<u32> = if_t
        .keys()
        .chain(ifx_t.keys())
        .filter(|i| i.len() == 1)
        .map(|i| i[0])
        .collect();
    let mut out = Interfaces {
        info: BTreeMap::new(),
        records: Vec::new(),
        physical_macs: BTreeSet::new(),
    };
    let empty = Row::default();
    for idx in all_idx {
        let c = if_t.get(&vec![idx]).unwrap_or(&empty);
        let x = ifx_t.get(&vec![idx]).unwrap_or(&empty);
        let (r, info) = interface(idx, c, x, &name_count);
        if let Some(m) = c.mac(ift::PHYS_ADDRESS) {
            if is_physical_if_type(c.int(ift::TYPE)) {
                out.physical_macs.insert(m);
            }
        }
        out.info.insert(idx, info);
        out.records.push(r);
    }
    out
}

/// How many interfaces carry each name: names several share cannot identify one of them, they
/// are kept as display only.
fn name_counts(if_t: &Table<'_>, ifx_t: &Table<'_>) -> BTreeMap<String, usize> {
    let mut name_count: BTreeMap<String, usize> = BTreeMap::new();
    for (idx, c) in if_t {
        if let [i] = idx.as_slice() {
            let n = ifx_t
                .get(&vec![*i])
                .and_then(|x| x.text(ifx::NAME))
                .or_else(|| c.text(ift::DESCR));
            if let Some(n) = n {
                *name_count.entry(n).or_default() += 1;
            }
        }
    }
    name_count
}

/// The record of interface `idx` from its ifTable row `c` and ifXTable row `x`.
fn interface(
    idx: u32,
    c: &Row<'_>,
    x: &Row<'_>,
    name_count: &BTreeMap<String, usize>,
) -> (Record, IfInfo) {
    let descr = c.text(ift::DESCR);
    let name = x
        .text(ifx::NAME)
        .or_else(|| descr.clone())
        .unwrap_or_else(|| format!("ifIndex {idx}"));
    let alias = x.text(ifx::ALIAS);
    let mut r = Record::new(if_key(idx), CiClass::Interface)
        .parent(DEVICE_KEY)
        .name(name.clone())
        .ident("if_index", idx);
    if name_count.get(&name).copied().unwrap_or(0) <= 1 {
        r = r.ident("if_name", name.clone());
    }
    if let Some(m) = c.mac(ift::PHYS_ADDRESS) {
        r = r.ident("mac_address", m);
    }
    if let Some(d) = &descr {
        r = r.attr("if_descr", d.clone());
    }
    if let Some(a) = &alias {
        r = r.attr("if_alias", a.clone());
    }
    if let Some(t) = c.int(ift::TYPE) {
        r = r.attr("if_type", if_type_name(t));
    }
    if let Some(s) = speed_bps(c.int(ift::SPEED), x.int(ifx::HIGH_SPEED)) {
        r = r.attr("speed_bps", s);
    }
    if let Some(m) = c.int(ift::MTU) {
        r = r.attr("mtu", m);
    }
    if let Some(s) = status_name(c.int(ift::ADMIN_STATUS), false) {
        r = r.attr("admin_status", s);
    }
    if let Some(s) = status_name(c.int(ift::OPER_STATUS), true) {
        r = r.attr("oper_status", s);
    }
    let info = IfInfo {
        name: Some(name),
        descr,
        alias,
    };
    (r, info)
}

/// ifSpeed, or ifHighSpeed (Mb/s) when ifSpeed is saturated or lower.
fn speed_bps(speed: Option<i64>, high: Option<i64>) -> Option<i64> {
    let high = high.filter(|v| *v > 0);
    match (speed, high) {
        (Some(s), Some(h)) if s >= u32::MAX as i64 || h * 1_000_000 > s => Some(h * 1_000_000),
        (Some(s), _) => Some(s),
        (None, Some(h)) => Some(h * 1_000_000),
        _ => None,
    }
}

/// The bridge's base address and the LLDP chassis id when it is a MAC: the device's own.
pub(super) fn bridge_identity_macs(vbs: &Vbs) -> BTreeSet<String> {
    let mac = |oid: &[u32]| {
        scalar(vbs, oid)
            .and_then(|v| v.as_bytes())
            .and_then(mac_text)
    };
    let mut macs = BTreeSet::new();
    macs.extend(mac(dot1d_base::BRIDGE_ADDRESS));
    let lldp_loc_subtype = scalar(vbs, lldp_local::CHASSIS_ID_SUBTYPE).and_then(|v| v.as_i64());
    if lldp_loc_subtype == Some(4) {
        macs.extend(mac(lldp_local::CHASSIS_ID));
    }
    macs
}

fn if_type_name(t: i64) -> String {
    match t {
        1 => "other".into(),
        6 => "ethernetCsmacd".into(),
        24 => "softwareLoopback".into(),
        53 => "propVirtual".into(),
        71 => "ieee80211".into(),
        117 => "gigabitEthernet".into(),
        131 => "tunnel".into(),
        135 => "l2vlan".into(),
        136 => "l3ipvlan".into(),
        161 => "ieee8023adLag".into(),
        other => other.to_string(),
    }
}

fn is_physical_if_type(t: Option<i64>) -> bool {
    matches!(t, Some(6) | Some(62) | Some(69) | Some(71) | Some(117))
}

fn status_name(v: Option<i64>, oper: bool) -> Option<&'static str> {
    Some(match v? {
        1 => "up",
        2 => "down",
        3 => "testing",
        4 if oper => "unknown",
        5 if oper => "dormant",
        6 if oper => "notPresent",
        7 if oper => "lowerLayerDown",
        _ => return None,
    })
}
