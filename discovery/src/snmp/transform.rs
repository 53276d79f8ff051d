//! Pure transformation of a [`RawCollection`] into an [`Observation`] plus diagnostics,
//! following `docs/observations.md`. Never fails: odd or missing data becomes a diagnostic.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use cmdb_model::identify::canonical_if_name;
use cmdb_model::{
    CiClass, EvidenceKind, Observation, Record, RelType, RelationshipObs, RunId, Scope, Source,
};
use serde_json::{json, Value};

use super::collect::{RawCollection, WalkStatus, SUBTREES};
use super::value::{clean_text, mac_text, Oid, SnmpValue};
use super::vendors;
use crate::Diagnostic;

pub const PROBE: &str = "snmp";
pub const DEVICE_KEY: &str = "device";

/// Tunables of the pure transform.
#[derive(Debug, Clone)]
pub struct TransformOptions {
    /// A bridge port that learned more than this many MACs is a trunk/uplink (a downstream switch
    /// or a hypervisor uplink), not an edge port: its MACs are not attached to it.
    pub edge_port_max_macs: usize,
}

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions {
            edge_port_max_macs: EDGE_PORT_MAX_MACS,
        }
    }
}

/// Default edge-port threshold (see `docs/discovery-snmp.md`).
pub const EDGE_PORT_MAX_MACS: usize = 4;

type Vbs = BTreeMap<Oid, SnmpValue>;
/// index → column → value
type Table<'a> = BTreeMap<Vec<u32>, BTreeMap<u32, &'a SnmpValue>>;

fn table<'a>(vbs: &'a Vbs, entry: &[u32]) -> Table<'a> {
    let root = Oid::new(entry);
    let mut t: Table<'a> = BTreeMap::new();
    for (oid, v) in vbs.range(root.clone()..) {
        let Some(suffix) = oid.suffix(&root) else {
            break;
        };
        if let Some((col, idx)) = suffix.split_first() {
            t.entry(idx.to_vec()).or_default().insert(*col, v);
        }
    }
    t
}

fn scalar<'a>(vbs: &'a Vbs, oid: &[u32]) -> Option<&'a SnmpValue> {
    vbs.get(&Oid::new(oid))
}

fn text(v: Option<&&SnmpValue>) -> Option<String> {
    v.and_then(|v| v.as_text()).filter(|s| !s.is_empty())
}
fn int(v: Option<&&SnmpValue>) -> Option<i64> {
    v.and_then(|v| v.as_i64())
}

/// Decode an InetAddress given as `type.len.bytes…` inside an index, returning the address and
/// the remaining sub-identifiers.
fn inet_from_index(idx: &[u32]) -> Option<(IpAddr, &[u32])> {
    let (&ty, rest) = idx.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = len as usize;
    if rest.len() < len {
        return None;
    }
    let (bytes, rest) = rest.split_at(len);
    let bytes: Vec<u8> = bytes
        .iter()
        .map(|b| u8::try_from(*b).ok())
        .collect::<Option<_>>()?;
    let ip = inet_from_bytes(ty, &bytes)?;
    Some((ip, rest))
}

fn inet_from_bytes(ty: u32, b: &[u8]) -> Option<IpAddr> {
    match (ty, b.len()) {
        (1, 4) | (3, 8) => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        (2, 16) | (4, 20) => {
            let a: [u8; 16] = b[..16].try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(a)))
        }
        (0, 0) => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        _ => None,
    }
}

fn ipv4_from_index(idx: &[u32]) -> Option<(Ipv4Addr, &[u32])> {
    if idx.len() < 4 {
        return None;
    }
    let b: Vec<u8> = idx[..4]
        .iter()
        .map(|x| u8::try_from(*x).ok())
        .collect::<Option<_>>()?;
    Some((Ipv4Addr::new(b[0], b[1], b[2], b[3]), &idx[4..]))
}

fn mac_from_index(idx: &[u32]) -> Option<String> {
    if idx.len() != 6 {
        return None;
    }
    let b: Vec<u8> = idx
        .iter()
        .map(|x| u8::try_from(*x).ok())
        .collect::<Option<_>>()?;
    mac_text(&b)
}

fn ip_is_usable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            !(a.is_loopback() || a.is_unspecified() || a.is_link_local() || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            !(a.is_loopback() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

fn ip_is_local_only(ip: &IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
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

fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Accumulates the observation.
struct Builder {
    target: String,
    obs: Observation,
    diags: Vec<Diagnostic>,
    keys: BTreeSet<String>,
    rel_seen: BTreeSet<(RelType, String, String)>,
}

impl Builder {
    fn diag(&mut self, code: &str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(&self.target, PROBE, code, msg));
    }
    fn push(&mut self, r: Record) -> bool {
        if self.keys.insert(r.key.clone()) {
            self.obs.records.push(r);
            true
        } else {
            false
        }
    }
    fn has(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
    fn relate(&mut self, t: RelType, from: &str, to: &str, ev: EvidenceKind, conf: f64) {
        if self.rel_seen.insert((t, from.to_string(), to.to_string())) {
            self.obs
                .relationships
                .push(RelationshipObs::new(t, from, to, ev, conf));
        }
    }
}

/// Interface facts the topology steps need.
#[derive(Default, Clone)]
struct IfInfo {
    name: Option<String>,
    descr: Option<String>,
    alias: Option<String>,
}

/// Turn a raw collection into an observation. `run_id` and the scope's target come from the
/// caller; `complete` mirrors [`RawCollection::complete`].
pub fn transform(
    raw: &RawCollection,
    run_id: &RunId,
    opts: &TransformOptions,
) -> (Observation, Vec<Diagnostic>) {
    let scope = if raw.complete() {
        Scope::complete([raw.target.clone()])
    } else {
        Scope::partial([raw.target.clone()])
    };
    let mut b = Builder {
        target: raw.target.clone(),
        obs: Observation::new(Source::new(Source::SNMP), run_id.clone(), scope),
        diags: Vec::new(),
        keys: BTreeSet::new(),
        rel_seen: BTreeSet::new(),
    };
    for st in SUBTREES {
        match raw.walks.get(st.name) {
            Some(WalkStatus::Missing) | None => {}
            Some(WalkStatus::Complete { .. }) => {}
            Some(WalkStatus::Truncated { limit }) => b.diag(
                "snmp.table_truncated",
                format!("{}: stopped at the limit of {limit} rows", st.name),
            ),
            Some(WalkStatus::Looping { at }) => b.diag(
                "snmp.oid_not_increasing",
                format!(
                    "{}: agent returned a non-increasing OID at {at}; walk stopped",
                    st.name
                ),
            ),
            Some(WalkStatus::Failed { code, message }) => b.diag(
                "snmp.walk_failed",
                format!("{}: {code}: {message}", st.name),
            ),
            Some(WalkStatus::Skipped) => b.diag(
                "snmp.walk_skipped",
                format!("{}: not walked after an earlier failure", st.name),
            ),
        }
    }
    let vbs = &raw.varbinds;
    let mut dev = Record::new(DEVICE_KEY, CiClass::Host);

    // --- system group
    let sys = |n: u32| scalar(vbs, &[1, 3, 6, 1, 2, 1, 1, n, 0]);
    let sys_descr = sys(1).and_then(|v| v.as_text()).unwrap_or_default();
    let sys_oid = sys(2).and_then(|v| v.as_oid()).cloned();
    let sys_name = sys(5).and_then(|v| v.as_text()).filter(|s| !s.is_empty());
    let sys_services = sys(7).and_then(|v| v.as_i64());
    if sys(1).is_none() && sys(5).is_none() {
        b.diag(
            "snmp.table_missing",
            "system group (SNMPv2-MIB) not readable",
        );
    }
    if !sys_descr.is_empty() {
        dev = dev.attr("sys_descr", sys_descr.clone());
    }
    if let Some(o) = &sys_oid {
        dev = dev.attr("sys_object_id", o.to_string());
    }
    if let Some(t) = sys(3).and_then(|v| v.as_i64()) {
        dev = dev.attr("uptime_seconds", t / 100);
    }
    if let Some(s) = sys(4).and_then(|v| v.as_text()).filter(|s| !s.is_empty()) {
        dev = dev.attr("sys_contact", s);
    }
    if let Some(s) = sys(6).and_then(|v| v.as_text()).filter(|s| !s.is_empty()) {
        dev = dev.attr("sys_location", s);
    }
    if let Some(n) = &sys_name {
        dev = dev.ident("hostname", n.clone());
        if n.contains('.') && !n.ends_with('.') {
            dev = dev.ident("fqdn", n.to_ascii_lowercase());
        }
        dev = dev.name(n.split('.').next().unwrap_or(n).to_string());
    }
    if let Some(ip) = &raw.management_ip {
        dev = dev.attr("management_ip", ip.clone());
    }
    let vendor = sys_oid.as_ref().and_then(|o| vendors::vendor(&o.0));
    if let Some((v, _)) = vendor {
        dev = dev.attr("vendor", v);
    }
    let dinfo = vendors::parse_sys_descr(&sys_descr);
    let mut model = dinfo.model.clone();
    if let Some(v) = &dinfo.os_name {
        dev = dev.attr("os_name", v.clone());
    }
    if let Some(v) = &dinfo.os_version {
        dev = dev.attr("os_version", v.clone());
    }
    if let Some(v) = &dinfo.kernel {
        dev = dev.attr("kernel", v.clone());
    }

    // --- ENTITY-MIB chassis
    let ent = table(vbs, &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1]);
    let chassis = ent
        .iter()
        .find(|(_, c)| int(c.get(&5)) == Some(3))
        .or_else(|| ent.iter().find(|(_, c)| int(c.get(&5)) == Some(11)));
    if let Some((_, c)) = chassis {
        if let Some(s) = text(c.get(&11)) {
            dev = dev.ident("serial_number", s);
        }
        if let Some(m) = text(c.get(&13)) {
            model = Some(m);
        } else if model.is_none() {
            model = text(c.get(&2));
        }
        if let Some(f) = text(c.get(&9)).or_else(|| text(c.get(&10))) {
            dev = dev.attr("firmware", f);
        }
        if let Some(h) = text(c.get(&8)) {
            dev = dev.attr("hardware_revision", h);
        }
        if let Some(m) = text(c.get(&12)) {
            if vendor.is_none() {
                dev = dev.attr("vendor", m);
            }
        }
    }
    if let Some(m) = model {
        dev = dev.attr("model", m);
    }

    // --- interfaces
    let if_t = table(vbs, &[1, 3, 6, 1, 2, 1, 2, 2, 1]);
    let ifx_t = table(vbs, &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1]);
    if if_t.is_empty() && ifx_t.is_empty() {
        b.diag(
            "snmp.table_missing",
            "IF-MIB ifTable/ifXTable empty or not readable",
        );
    }
    let mut ifs: BTreeMap<u32, IfInfo> = BTreeMap::new();
    let mut dev_macs: BTreeSet<String> = BTreeSet::new();
    let mut if_records = Vec::new();
    // names several interfaces share cannot identify one of them: keep them as display only
    let mut name_count: BTreeMap<String, usize> = BTreeMap::new();
    for (idx, c) in &if_t {
        if let [i] = idx.as_slice() {
            let n = ifx_t
                .get(&vec![*i])
                .and_then(|x| text(x.get(&1)))
                .or_else(|| text(c.get(&2)));
            if let Some(n) = n {
                *name_count.entry(n).or_default() += 1;
            }
        }
    }
    let all_idx: BTreeSet<u32> = if_t
        .keys()
        .chain(ifx_t.keys())
        .filter(|i| i.len() == 1)
        .map(|i| i[0])
        .collect();
    for idx in all_idx {
        let empty = BTreeMap::new();
        let c = if_t.get(&vec![idx]).unwrap_or(&empty);
        let x = ifx_t.get(&vec![idx]).unwrap_or(&empty);
        let descr = text(c.get(&2));
        let name = text(x.get(&1))
            .or_else(|| descr.clone())
            .unwrap_or_else(|| format!("ifIndex {idx}"));
        let alias = text(x.get(&18));
        let ty = int(c.get(&3));
        let mac = c.get(&6).and_then(|v| v.as_bytes()).and_then(mac_text);
        let key = format!("if:{idx}");
        let mut r = Record::new(&key, CiClass::Interface)
            .parent(DEVICE_KEY)
            .name(name.clone())
            .ident("if_index", idx);
        if name_count.get(&name).copied().unwrap_or(0) <= 1 {
            r = r.ident("if_name", name.clone());
        }
        if let Some(m) = &mac {
            r = r.ident("mac_address", m.clone());
            if is_physical_if_type(ty) {
                dev_macs.insert(m.clone());
            }
        }
        if let Some(d) = &descr {
            r = r.attr("if_descr", d.clone());
        }
        if let Some(a) = &alias {
            r = r.attr("if_alias", a.clone());
        }
        if let Some(t) = ty {
            r = r.attr("if_type", if_type_name(t));
        }
        let high = int(x.get(&15)).filter(|v| *v > 0);
        let speed = int(c.get(&5));
        match (speed, high) {
            (Some(s), Some(h)) if s >= u32::MAX as i64 || h * 1_000_000 > s => {
                r = r.attr("speed_bps", h * 1_000_000)
            }
            (Some(s), _) => r = r.attr("speed_bps", s),
            (None, Some(h)) => r = r.attr("speed_bps", h * 1_000_000),
            _ => {}
        }
        if let Some(m) = int(c.get(&4)) {
            r = r.attr("mtu", m);
        }
        if let Some(s) = status_name(int(c.get(&7)), false) {
            r = r.attr("admin_status", s);
        }
        if let Some(s) = status_name(int(c.get(&8)), true) {
            r = r.attr("oper_status", s);
        }
        ifs.insert(
            idx,
            IfInfo {
                name: Some(name),
                descr,
                alias,
            },
        );
        if_records.push(r);
    }

    // --- bridge / LLDP local identity
    let bridge_addr = scalar(vbs, &[1, 3, 6, 1, 2, 1, 17, 1, 1, 0])
        .and_then(|v| v.as_bytes())
        .and_then(mac_text);
    if let Some(m) = &bridge_addr {
        dev_macs.insert(m.clone());
    }
    let lldp_loc_subtype = scalar(vbs, &[1, 0, 8802, 1, 1, 2, 1, 3, 1, 0]).and_then(|v| v.as_i64());
    if lldp_loc_subtype == Some(4) {
        if let Some(m) = scalar(vbs, &[1, 0, 8802, 1, 1, 2, 1, 3, 2, 0])
            .and_then(|v| v.as_bytes())
            .and_then(mac_text)
        {
            dev_macs.insert(m);
        }
    }
    let base_ports = table(vbs, &[1, 3, 6, 1, 2, 1, 17, 1, 4, 1]);
    let base_num_ports = scalar(vbs, &[1, 3, 6, 1, 2, 1, 17, 1, 2, 0])
        .and_then(|v| v.as_i64())
        .unwrap_or(0);

    // --- IP addresses
    let mut ips: BTreeMap<IpAddr, (Option<u32>, Option<u8>)> = BTreeMap::new();
    let ipaddr_t = table(vbs, &[1, 3, 6, 1, 2, 1, 4, 20, 1]);
    for (idx, c) in &ipaddr_t {
        let Some((ip, _)) = ipv4_from_index(idx) else {
            continue;
        };
        let ifidx = int(c.get(&2)).and_then(|v| u32::try_from(v).ok());
        let prefix = c.get(&3).and_then(|v| v.as_bytes()).and_then(|m| {
            let m: [u8; 4] = m.try_into().ok()?;
            let bits = u32::from_be_bytes(m);
            (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones() as u8)
        });
        ips.insert(IpAddr::V4(ip), (ifidx, prefix));
    }
    let ipaddress_t = table(vbs, &[1, 3, 6, 1, 2, 1, 4, 34, 1]);
    for (idx, c) in &ipaddress_t {
        let Some((ip, _)) = inet_from_index(idx) else {
            continue;
        };
        // type 1 = unicast; skip anycast/broadcast
        if let Some(t) = int(c.get(&4)) {
            if t != 1 {
                continue;
            }
        }
        let ifidx = int(c.get(&3)).and_then(|v| u32::try_from(v).ok());
        // ipAddressPrefix is a RowPointer whose last sub-identifier is the prefix length.
        let prefix = c
            .get(&5)
            .and_then(|v| v.as_oid())
            .and_then(|o| o.0.last().copied())
            .and_then(|p| u8::try_from(p).ok());
        let e = ips.entry(ip).or_insert((None, None));
        if e.0.is_none() {
            e.0 = ifidx;
        }
        if e.1.is_none() {
            e.1 = prefix.filter(|p| *p > 0);
        }
    }
    let mut dev_ips: BTreeSet<String> = BTreeSet::new();
    let mut own_ips: BTreeSet<IpAddr> = BTreeSet::new();
    let mut ip_records = Vec::new();
    let mut ip_rels = Vec::new();
    for (ip, (ifidx, prefix)) in &ips {
        own_ips.insert(*ip);
        if !ip_is_usable(ip) {
            continue;
        }
        let s = ip.to_string();
        dev_ips.insert(s.clone());
        let key = format!("ip:{s}");
        let mut r = Record::new(&key, CiClass::IpAddress)
            .name(s.clone())
            .ident("address", s.clone())
            .attr("version", if ip.is_ipv4() { 4 } else { 6 });
        if let Some(p) = prefix {
            r = r.attr("prefix_length", *p);
            if let Ok(net) = ipnet::IpNet::new(*ip, *p) {
                let net = net.trunc();
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if *p < max {
                    let cidr = net.to_string();
                    let skey = format!("subnet:{cidr}");
                    ip_records.push(
                        Record::new(&skey, CiClass::Subnet)
                            .name(cidr.clone())
                            .ident("cidr", cidr),
                    );
                    ip_rels.push((RelType::Contains, skey, key.clone()));
                }
            }
        }
        ip_records.push(r);
        if let Some(i) = ifidx {
            if ifs.contains_key(i) {
                ip_rels.push((RelType::HasIp, format!("if:{i}"), key));
            }
        }
    }
    if ipaddr_t.is_empty() && ipaddress_t.is_empty() {
        b.diag(
            "snmp.table_missing",
            "IP-MIB ipAddrTable/ipAddressTable empty or not readable",
        );
    }

    // --- classification
    let has_bridge = !base_ports.is_empty() || base_num_ports > 0;
    let has_hr = scalar(vbs, &[1, 3, 6, 1, 2, 1, 25, 1, 1, 0]).is_some();
    let lldp_caps = scalar(vbs, &[1, 0, 8802, 1, 1, 2, 1, 3, 6, 0])
        .and_then(|v| v.as_bytes())
        .and_then(|b| b.first().copied());
    // LLDP capability bits (first octet, MSB first): other, repeater, bridge, wlanAP, router, …
    let lldp_net = lldp_caps
        .map(|c| c & 0b0010_1000 != 0 && c & 0b0000_0001 == 0)
        .unwrap_or(false);
    let services_net = sys_services
        .map(|s| s & 0x06 != 0 && s & 0x40 == 0)
        .unwrap_or(false);
    let class = match vendor {
        Some((_, true)) => CiClass::NetworkDevice,
        _ if has_bridge && !has_hr => CiClass::NetworkDevice,
        _ if lldp_net && !has_hr => CiClass::NetworkDevice,
        _ if services_net && !has_hr => CiClass::NetworkDevice,
        _ => CiClass::Host,
    };
    dev.class = Some(class);
    if !dev_macs.is_empty() {
        dev = dev.ident(
            "mac_addresses",
            dev_macs.iter().cloned().collect::<Vec<_>>(),
        );
    }
    if !dev_ips.is_empty() {
        dev = dev.ident("ip_addresses", dev_ips.iter().cloned().collect::<Vec<_>>());
    }

    // --- HOST-RESOURCES: system, storage, devices
    if let Some(mem) = scalar(vbs, &[1, 3, 6, 1, 2, 1, 25, 2, 2, 0]).and_then(|v| v.as_i64()) {
        dev = dev.attr("memory_bytes", mem * 1024);
    }
    let hr_dev = table(vbs, &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1]);
    let cpus: Vec<_> = hr_dev
        .values()
        .filter(|c| {
            c.get(&2)
                .and_then(|v| v.as_oid())
                .map(|o| o.0 == [1, 3, 6, 1, 2, 1, 25, 3, 1, 3])
                .unwrap_or(false)
        })
        .collect();
    if !cpus.is_empty() {
        dev = dev.attr("cpu_count", cpus.len());
        if let Some(m) = cpus.iter().find_map(|c| text(c.get(&3))) {
            dev = dev.attr("cpu_model", m);
        }
    }
    let storage = table(vbs, &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1]);
    let mut fss = Vec::new();
    for c in storage.values() {
        let is_disk = c
            .get(&2)
            .and_then(|v| v.as_oid())
            .map(|o| {
                o.0 == [1, 3, 6, 1, 2, 1, 25, 2, 1, 4] || o.0 == [1, 3, 6, 1, 2, 1, 25, 2, 1, 9]
            })
            .unwrap_or(false);
        if !is_disk {
            continue;
        }
        let units = int(c.get(&4)).unwrap_or(0).max(0) as u64;
        let size = int(c.get(&5)).unwrap_or(0).max(0) as u64;
        let used = int(c.get(&6)).unwrap_or(0).max(0) as u64;
        fss.push(json!({
            "mount": text(c.get(&3)).unwrap_or_default(),
            "size_bytes": units.saturating_mul(size),
            "used_bytes": units.saturating_mul(used),
        }));
    }
    if !fss.is_empty() {
        dev = dev.attr("filesystems", Value::Array(fss));
    }
    let dev_name = dev.name.clone();
    b.push(dev);
    for r in if_records {
        b.push(r);
    }
    for r in ip_records {
        b.push(r);
    }
    for (t, f, to) in ip_rels {
        b.relate(t, &f, &to, EvidenceKind::Inventory, 1.0);
    }

    // --- topology
    let mut neighbours = Neighbours::default();
    let mut ports_with_neighbours: BTreeSet<u32> = BTreeSet::new();
    let bridge_to_if: BTreeMap<u32, u32> = base_ports
        .iter()
        .filter_map(|(idx, c)| Some((*idx.first()?, u32::try_from(int(c.get(&2))?).ok()?)))
        .collect();
    lldp(
        vbs,
        &ifs,
        &bridge_to_if,
        &mut b,
        &mut neighbours,
        &mut ports_with_neighbours,
    );
    cdp(
        vbs,
        &ifs,
        &mut b,
        &mut neighbours,
        &mut ports_with_neighbours,
    );
    let arp = arp_entries(vbs);
    let fdb_ports = fdb(
        vbs,
        &ifs,
        &bridge_to_if,
        &arp_by_mac(&arp),
        &dev_macs,
        &ports_with_neighbours,
        opts,
        &mut b,
    );
    if class == CiClass::NetworkDevice {
        // A switch's or router's ARP table says where addresses live; a host's neighbour cache
        // only says whom it talked to lately.
        arp_addresses(&arp, &fdb_ports, &ifs, &dev_ips, &mut b);
    }

    // --- processes, software, sockets
    if class == CiClass::Host || has_hr {
        let procs = processes(vbs, &mut b);
        software(vbs, &mut b);
        sockets(vbs, &procs, &own_ips, &mut b);
    }
    let _ = dev_name;
    (b.obs, b.diags)
}

#[derive(Default)]
struct Neighbours {
    /// (kind, value) → device key
    by_ident: BTreeMap<(String, String), String>,
    n: usize,
}

impl Neighbours {
    /// Find or create the placeholder device for a neighbour, merging identifiers.
    /// `end_system`: the neighbour advertises itself as a station, host or phone rather than a
    /// bridge or router, so its placeholder is a Host (the network rule never relies on one).
    fn device(
        &mut self,
        b: &mut Builder,
        hostname: Option<&str>,
        mac: Option<&str>,
        ips: &[String],
        end_system: bool,
    ) -> Option<String> {
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
        if idents.is_empty() {
            return None;
        }
        let existing = idents.iter().find_map(|i| self.by_ident.get(i).cloned());
        let key = existing.unwrap_or_else(|| {
            self.n += 1;
            format!("nbr:{}", self.n)
        });
        for i in &idents {
            self.by_ident
                .entry(i.clone())
                .or_insert_with(|| key.clone());
        }
        if let Some(r) = b.obs.records.iter_mut().find(|r| r.key == key) {
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
            let class = if end_system {
                CiClass::Host
            } else {
                CiClass::NetworkDevice
            };
            let mut r = Record::new(&key, class).placeholder();
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
            b.push(r);
        }
        Some(key)
    }
}

fn merge_ident(r: &mut Record, k: &str, v: Option<Value>) {
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
fn neighbour_if(
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
fn find_if_by_name(ifs: &BTreeMap<u32, IfInfo>, name: &str) -> Option<u32> {
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

fn lldp(
    vbs: &Vbs,
    ifs: &BTreeMap<u32, IfInfo>,
    bridge_to_if: &BTreeMap<u32, u32>,
    b: &mut Builder,
    nb: &mut Neighbours,
    linked_ports: &mut BTreeSet<u32>,
) {
    let loc = table(vbs, &[1, 0, 8802, 1, 1, 2, 1, 3, 7, 1]);
    let rem = table(vbs, &[1, 0, 8802, 1, 1, 2, 1, 4, 1, 1]);
    let man = table(vbs, &[1, 0, 8802, 1, 1, 2, 1, 4, 2, 1]);
    // lldpLocPortNum → ifIndex
    let resolve_local = |port: u32| -> Option<u32> {
        if let Some(c) = loc.get(&vec![port]) {
            let sub = int(c.get(&2));
            let pid = c.get(&3).and_then(|v| v.as_bytes());
            if let (Some(5 | 1 | 7), Some(p)) = (sub, pid) {
                if let Some(i) = find_if_by_name(ifs, &clean_text(p)) {
                    return Some(i);
                }
            }
            if let (Some(3), Some(p)) = (sub, pid) {
                // MAC port id: not unique on many switches; fall through to the description.
                let _ = p;
            }
            if let Some(d) = text(c.get(&4)) {
                if let Some(i) = find_if_by_name(ifs, &d) {
                    return Some(i);
                }
            }
        }
        if let Some(i) = bridge_to_if.get(&port) {
            return Some(*i);
        }
        ifs.contains_key(&port).then_some(port)
    };
    // management addresses per (timeMark, localPort, remIndex)
    let mut man_ips: BTreeMap<Vec<u32>, Vec<String>> = BTreeMap::new();
    for idx in man.keys() {
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
    let mut count = 0;
    for (idx, c) in &rem {
        if idx.len() != 3 {
            continue;
        }
        let local_port = idx[1];
        let Some(local_if) = resolve_local(local_port) else {
            b.diag(
                "snmp.lldp_port_unresolved",
                format!("LLDP neighbour on local port {local_port}: no matching interface"),
            );
            continue;
        };
        let chassis_sub = int(c.get(&4));
        let chassis = c.get(&5).and_then(|v| v.as_bytes());
        let mut mac = None;
        let mut ips = man_ips.get(idx).cloned().unwrap_or_default();
        match (chassis_sub, chassis) {
            (Some(4), Some(ch)) => mac = mac_text(ch),
            (Some(5), Some(ch)) if ch.len() == 5 || ch.len() == 17 => {
                if let Some(ip) = inet_from_bytes(ch[0] as u32, &ch[1..]).filter(ip_is_usable) {
                    ips.push(ip.to_string());
                }
            }
            _ => {}
        }
        let sys_name = text(c.get(&9));
        // lldpRemSysCapEnabled, else lldpRemSysCapSupported (BITS: bit 0 is the first octet's MSB)
        let caps = c
            .get(&12)
            .or_else(|| c.get(&11))
            .and_then(|v| v.as_bytes())
            .and_then(|b| b.first().copied());
        let end_system = caps.is_some_and(|c| c != 0 && c & (0x40 | 0x20 | 0x10 | 0x08) == 0);
        let Some(dev) = nb.device(b, sys_name.as_deref(), mac.as_deref(), &ips, end_system) else {
            b.diag("snmp.lldp_neighbour_unidentified", format!("LLDP neighbour on interface {local_if} has no usable chassis id, name or address"));
            continue;
        };
        let port_sub = int(c.get(&6));
        let port_id = c.get(&7).and_then(|v| v.as_bytes());
        let port_desc = text(c.get(&8));
        let (if_name, if_mac) = match (port_sub, port_id) {
            (Some(3), Some(p)) => (port_desc.clone(), mac_text(p)),
            (Some(5 | 1), Some(p)) => (
                Some(clean_text(p))
                    .filter(|s| !s.is_empty())
                    .or(port_desc.clone()),
                None,
            ),
            (Some(7), Some(p)) => {
                let t = clean_text(p);
                if !t.is_empty() && !t.chars().all(|c| c.is_ascii_digit()) {
                    (Some(t), None)
                } else {
                    (port_desc.clone(), None)
                }
            }
            _ => (port_desc.clone(), None),
        };
        let Some(rif) = neighbour_if(b, &dev, if_name, if_mac) else {
            b.diag(
                "snmp.lldp_port_unidentified",
                format!("LLDP neighbour port on interface {local_if} has no id"),
            );
            continue;
        };
        b.relate(
            RelType::LinkedTo,
            &format!("if:{local_if}"),
            &rif,
            EvidenceKind::Lldp,
            0.9,
        );
        linked_ports.insert(local_if);
        count += 1;
    }
    let _ = count;
}

fn cdp(
    vbs: &Vbs,
    ifs: &BTreeMap<u32, IfInfo>,
    b: &mut Builder,
    nb: &mut Neighbours,
    linked_ports: &mut BTreeSet<u32>,
) {
    let t = table(vbs, &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1]);
    for (idx, c) in &t {
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
        let mut ips = Vec::new();
        if int(c.get(&3)) == Some(1) {
            if let Some(a) = c
                .get(&4)
                .and_then(|v| v.as_bytes())
                .filter(|a| a.len() == 4)
            {
                let ip = IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]));
                if ip_is_usable(&ip) {
                    ips.push(ip.to_string());
                }
            }
        }
        let (host, serial) = text(c.get(&6))
            .map(|d| cdp_device_id(&d))
            .unwrap_or((None, None));
        // cdpCacheCapabilities: 0x01 router, 0x02/0x04 bridge, 0x08 switch, 0x10 host, 0x80 phone
        let caps = c
            .get(&9)
            .and_then(|v| v.as_bytes())
            .filter(|b| b.len() == 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let end_system =
            caps.is_some_and(|c| c & (0x10 | 0x80) != 0 && c & (0x01 | 0x02 | 0x04 | 0x08) == 0);
        let Some(dev) = nb.device(b, host.as_deref(), None, &ips, end_system) else {
            continue;
        };
        if let (Some(serial), Some(r)) = (serial, b.obs.records.iter_mut().find(|r| r.key == dev)) {
            merge_ident(r, "serial_number", Some(json!(serial)));
        }
        let Some(rif) = neighbour_if(b, &dev, text(c.get(&7)), None) else {
            continue;
        };
        b.relate(
            RelType::LinkedTo,
            &format!("if:{local_if}"),
            &rif,
            EvidenceKind::Cdp,
            0.9,
        );
        linked_ports.insert(local_if);
    }
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

/// One ARP/neighbour entry: the address, its MAC and the ifIndex the device learnt it on.
struct ArpEntry {
    ip: IpAddr,
    mac: String,
    ifindex: u32,
}

/// ipNetToMediaTable / ipNetToPhysicalTable (dynamic/static entries only).
fn arp_entries(vbs: &Vbs) -> Vec<ArpEntry> {
    let mut out: BTreeMap<IpAddr, ArpEntry> = BTreeMap::new();
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 4, 22, 1]) {
        // type: 2 invalid
        if int(c.get(&4)) == Some(2) {
            continue;
        }
        let ifindex = idx.first().copied().unwrap_or(0);
        let ip = ipv4_from_index(idx.get(1..).unwrap_or(&[])).map(|(ip, _)| IpAddr::V4(ip));
        let mac = c.get(&2).and_then(|v| v.as_bytes()).and_then(mac_text);
        if let (Some(ip), Some(mac)) = (ip, mac) {
            if ip_is_usable(&ip) {
                out.insert(ip, ArpEntry { ip, mac, ifindex });
            }
        }
    }
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 4, 35, 1]) {
        if int(c.get(&6)) == Some(2) {
            continue;
        }
        let ifindex = idx.first().copied().unwrap_or(0);
        let ip = inet_from_index(idx.get(1..).unwrap_or(&[])).map(|(ip, _)| ip);
        let mac = c.get(&4).and_then(|v| v.as_bytes()).and_then(mac_text);
        if let (Some(ip), Some(mac)) = (ip, mac) {
            if ip_is_usable(&ip) {
                out.entry(ip).or_insert(ArpEntry { ip, mac, ifindex });
            }
        }
    }
    out.into_values().collect()
}

/// MAC → IPs, from the ARP entries.
fn arp_by_mac(entries: &[ArpEntry]) -> BTreeMap<String, BTreeSet<String>> {
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
fn arp_addresses(
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
            format!("if:{port}"),
            EvidenceKind::Arp,
            0.7,
        );
        rel.attributes.insert("mac_address".into(), json!(e.mac));
        if b.rel_seen
            .insert((RelType::LearnedOn, key.clone(), format!("if:{port}")))
        {
            b.obs.relationships.push(rel);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fdb(
    vbs: &Vbs,
    ifs: &BTreeMap<u32, IfInfo>,
    bridge_to_if: &BTreeMap<u32, u32>,
    arp: &BTreeMap<String, BTreeSet<String>>,
    own_macs: &BTreeSet<String>,
    linked_ports: &BTreeSet<u32>,
    opts: &TransformOptions,
    b: &mut Builder,
) -> BTreeMap<String, u32> {
    // (mac, bridge port) from both FDB tables; status 3 = learned (1 other, 4 self, 5 mgmt)
    let mut entries: BTreeSet<(String, u32)> = BTreeSet::new();
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 17, 4, 3, 1]) {
        let status = int(c.get(&3));
        if matches!(status, Some(4) | Some(5) | Some(2)) {
            continue;
        }
        let mac = c
            .get(&1)
            .and_then(|v| v.as_bytes())
            .and_then(mac_text)
            .or_else(|| mac_from_index(&idx));
        let port = int(c.get(&2))
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
        if let (Some(m), Some(p)) = (mac, port) {
            entries.insert((m, p));
        }
    }
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2, 1]) {
        let status = int(c.get(&3));
        if matches!(status, Some(4) | Some(5) | Some(2)) {
            continue;
        }
        let mac = idx.get(1..).and_then(mac_from_index);
        let port = int(c.get(&2))
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p > 0);
        if let (Some(m), Some(p)) = (mac, port) {
            entries.insert((m, p));
        }
    }
    if entries.is_empty() {
        return BTreeMap::new();
    }
    if bridge_to_if.is_empty() {
        b.diag(
            "snmp.table_missing",
            "BRIDGE-MIB dot1dBasePortTable missing: bridge port numbers taken as ifIndex",
        );
    }
    // ifIndex → MACs
    let mut per_if: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    let mut port_of_mac: BTreeMap<String, u32> = BTreeMap::new();
    let mut unresolved = 0;
    for (mac, port) in entries {
        let ifidx = bridge_to_if
            .get(&port)
            .copied()
            .or_else(|| (bridge_to_if.is_empty() && ifs.contains_key(&port)).then_some(port));
        match ifidx {
            Some(i) if ifs.contains_key(&i) => {
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
    let mut skipped_trunks = 0;
    for (ifidx, macs) in per_if {
        if linked_ports.contains(&ifidx) || macs.len() > opts.edge_port_max_macs {
            skipped_trunks += 1;
            continue;
        }
        for mac in macs {
            if own_macs.contains(&mac) {
                continue;
            }
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
                    .ident("mac_address", mac.clone()),
            );
            let conf = if ips.is_empty() { 0.6 } else { 0.7 };
            b.relate(
                RelType::LinkedTo,
                &format!("if:{ifidx}"),
                &ikey,
                EvidenceKind::Fdb,
                conf,
            );
        }
    }
    let _ = skipped_trunks;
    port_of_mac
}

/// pid → process record key
fn processes(vbs: &Vbs, b: &mut Builder) -> BTreeMap<i64, String> {
    let t = table(vbs, &[1, 3, 6, 1, 2, 1, 25, 4, 2, 1]);
    let mut by_pid = BTreeMap::new();
    let mut by_ident: BTreeMap<(String, String), String> = BTreeMap::new();
    for (idx, c) in &t {
        let Some(&pid) = idx.first() else { continue };
        let pid = pid as i64;
        let Some(name) = text(c.get(&2)) else {
            continue;
        };
        let path = text(c.get(&4)).unwrap_or_default();
        let params = text(c.get(&5)).unwrap_or_default();
        // 2 operatingSystem, 3 deviceDriver: kernel threads and drivers are not processes here
        // kernel threads have neither path nor arguments
        if matches!(int(c.get(&6)), Some(2) | Some(3)) || (path.is_empty() && params.is_empty()) {
            continue;
        }
        let exe_path = if path.is_empty() {
            name.clone()
        } else {
            path.clone()
        };
        let cmd = normalize_ws(&format!("{exe_path} {params}"));
        // Login sessions come and go; the collection script is a discovery's own footprint.
        if is_login_session(&name, &cmd) || cmd.contains(crate::linux::script::MARKER) {
            continue;
        }
        let ident = (name.clone(), cmd.clone());
        if let Some(k) = by_ident.get(&ident) {
            by_pid.insert(pid, k.clone());
            continue;
        }
        let key = format!("proc:{pid}");
        b.push(
            Record::new(&key, CiClass::Process)
                .parent(DEVICE_KEY)
                .name(name.clone())
                .ident("executable", name)
                .ident("command_line", cmd)
                .attr("pid", pid),
        );
        by_ident.insert(ident, key.clone());
        by_pid.insert(pid, key);
    }
    by_pid
}

/// sshd's per-connection processes (the pre-auth child re-executed with `-R`, `sshd-session`,
/// `sshd: user [priv]`, `sshd: user@pts/0`): they live as long as one login, the SSH probe's
/// own included, so the process table catches them only by chance. The listener
/// (`sshd: /usr/sbin/sshd -D [listener] …`) is kept.
fn is_login_session(name: &str, cmd: &str) -> bool {
    if name == "sshd-session" || name == "sshd-auth" {
        return true;
    }
    if name != "sshd" {
        return false;
    }
    if cmd.contains("[listener]") {
        return false;
    }
    // A session's title names its user (`sshd: ops [priv]`, `sshd: ops@pts/0`, `sshd: ops`);
    // the listener's names the daemon's path.
    match cmd.strip_prefix("sshd:").map(str::trim) {
        Some(t) => !t.starts_with('/'),
        None => cmd.split_whitespace().any(|a| a == "-R"),
    }
}

fn software(vbs: &Vbs, b: &mut Builder) {
    let t = table(vbs, &[1, 3, 6, 1, 2, 1, 25, 6, 3, 1]);
    let mut seen = BTreeSet::new();
    for c in t.values() {
        let Some(raw) = text(c.get(&2)) else { continue };
        let pkg = InstalledPackage::parse(&raw);
        if !seen.insert((pkg.manager, pkg.name.clone())) {
            continue;
        }
        let key = format!("pkg:{}", seen.len());
        let mut r = Record::new(&key, CiClass::SoftwarePackage)
            .parent(DEVICE_KEY)
            .name(pkg.name.clone())
            .ident("package_manager", pkg.manager)
            .ident("package_name", pkg.name);
        if let Some(v) = pkg.version {
            r = r.attr("version", v);
        }
        if let Some(a) = pkg.arch {
            r = r.attr("architecture", a);
        }
        b.push(r);
    }
}

/// One hrSWInstalledName, read the way the agent's package database wrote it, so the package
/// is the same CI an SSH probe finds with `dpkg-query`/`rpm -qa`.
#[derive(Debug, PartialEq)]
struct InstalledPackage {
    manager: &'static str,
    name: String,
    version: Option<String>,
    arch: Option<String>,
}

impl InstalledPackage {
    /// net-snmp on Debian reports `name_version_arch` (dpkg), on RPM systems
    /// `name-version-release.arch`; anything else (Windows, appliances) is kept whole.
    fn parse(raw: &str) -> InstalledPackage {
        let raw = raw.trim();
        let parts: Vec<&str> = raw.split('_').collect();
        if parts.len() == 3
            && parts.iter().all(|p| !p.is_empty() && !p.contains(' '))
            && parts[1].starts_with(|c: char| c.is_ascii_digit())
        {
            return InstalledPackage {
                manager: "dpkg",
                name: parts[0].into(),
                version: Some(parts[1].into()),
                arch: Some(parts[2].into()),
            };
        }
        const RPM_ARCHES: &[&str] = &[
            "x86_64", "noarch", "i686", "i386", "aarch64", "ppc64le", "s390x", "armv7hl",
        ];
        if let Some((nvr, arch)) = raw.rsplit_once('.').filter(|(_, a)| RPM_ARCHES.contains(a)) {
            let mut it = nvr.rsplitn(3, '-');
            if let (Some(release), Some(version), Some(name)) = (it.next(), it.next(), it.next()) {
                if !name.is_empty()
                    && version.starts_with(|c: char| c.is_ascii_digit())
                    && !raw.contains(' ')
                {
                    return InstalledPackage {
                        manager: "rpm",
                        name: name.into(),
                        version: Some(format!("{version}-{release}")),
                        arch: Some(arch.into()),
                    };
                }
            }
        }
        InstalledPackage {
            manager: "hrSWInstalled",
            name: raw.into(),
            version: None,
            arch: None,
        }
    }
}

/// Bind addresses and owning pids of one (protocol, port).
type Listener = (BTreeSet<String>, BTreeSet<i64>);

/// One TCP connection: (local address, local port, remote address, remote port).
type ConnKey = (IpAddr, u32, IpAddr, u32);

fn sockets(vbs: &Vbs, procs: &BTreeMap<i64, String>, own_ips: &BTreeSet<IpAddr>, b: &mut Builder) {
    // listeners: (proto, port) → (bind addresses, pids)
    let mut listeners: BTreeMap<(&'static str, u32), Listener> = BTreeMap::new();
    // Established connections and their owning process when the agent names it. A socket is
    // in both tcpConnectionTable and the legacy tcpConnTable (IPv4): one row per socket, the
    // one with a process preferred.
    let mut conns: BTreeMap<ConnKey, Option<i64>> = BTreeMap::new();
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 6, 20, 1]) {
        if let Some((ip, rest)) = inet_from_index(&idx) {
            if let Some(&port) = rest.first() {
                let e = listeners.entry(("tcp", port)).or_default();
                e.0.insert(ip.to_string());
                // tcpListenerProcess
                if let Some(p) = int(c.get(&4)).filter(|p| *p > 0) {
                    e.1.insert(p);
                }
            }
        }
    }
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 6, 19, 1]) {
        let Some((local, rest)) = inet_from_index(&idx) else {
            continue;
        };
        let Some((&lport, rest)) = rest.split_first() else {
            continue;
        };
        let Some((remote, rest)) = inet_from_index(rest) else {
            continue;
        };
        let Some(&rport) = rest.first() else { continue };
        let pid = int(c.get(&8)).filter(|p| *p > 0);
        match int(c.get(&7)) {
            Some(2) => {
                let e = listeners.entry(("tcp", lport)).or_default();
                e.0.insert(local.to_string());
                if let Some(p) = pid {
                    e.1.insert(p);
                }
            }
            Some(5) => {
                let owner = conns.entry((local, lport, remote, rport)).or_default();
                *owner = owner.or(pid);
            }
            _ => {}
        }
    }
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 6, 13, 1]) {
        let Some((local, rest)) = ipv4_from_index(&idx) else {
            continue;
        };
        let Some((&lport, rest)) = rest.split_first() else {
            continue;
        };
        let Some((remote, rest)) = ipv4_from_index(rest) else {
            continue;
        };
        let Some(&rport) = rest.first() else { continue };
        match int(c.get(&1)) {
            Some(2) => {
                listeners
                    .entry(("tcp", lport))
                    .or_default()
                    .0
                    .insert(local.to_string());
            }
            Some(5) => {
                conns
                    .entry((local.into(), lport, remote.into(), rport))
                    .or_default();
            }
            _ => {}
        }
    }
    for idx in table(vbs, &[1, 3, 6, 1, 2, 1, 7, 5, 1]).keys() {
        if let Some((ip, rest)) = ipv4_from_index(idx) {
            if let Some(&port) = rest.first() {
                listeners
                    .entry(("udp", port))
                    .or_default()
                    .0
                    .insert(ip.to_string());
            }
        }
    }
    for (idx, c) in table(vbs, &[1, 3, 6, 1, 2, 1, 7, 7, 1]) {
        let Some((local, rest)) = inet_from_index(&idx) else {
            continue;
        };
        let Some((&lport, rest)) = rest.split_first() else {
            continue;
        };
        // only unconnected endpoints (remote unspecified) are listeners
        let remote_unspec = inet_from_index(rest)
            .map(|(r, _)| r.is_unspecified())
            .unwrap_or(true);
        if remote_unspec && lport > 0 {
            let e = listeners.entry(("udp", lport)).or_default();
            e.0.insert(local.to_string());
            if let Some(p) = int(c.get(&8)).filter(|p| *p > 0) {
                e.1.insert(p);
            }
        }
    }
    for ((proto, port), (binds, pids)) in &listeners {
        let key = format!("ep:{proto}/{port}");
        b.push(
            Record::new(&key, CiClass::ListeningEndpoint)
                .parent(DEVICE_KEY)
                .name(format!("{proto}/{port}"))
                .ident("protocol", *proto)
                .ident("port", *port)
                .attr("bind_addresses", binds.iter().cloned().collect::<Vec<_>>()),
        );
        for pid in pids {
            if let Some(p) = procs.get(pid) {
                b.relate(RelType::ListensOn, p, &key, EvidenceKind::Socket, 0.9);
            }
        }
    }
    let mut no_pid = 0;
    for ((local, lport, remote, rport), pid) in conns {
        // server side of our own listener: the peer is the client, nothing to record here
        if listeners.contains_key(&("tcp", lport)) {
            continue;
        }
        let to = if ip_is_local_only(&remote) || own_ips.contains(&remote) || remote == local {
            let key = format!("ep:tcp/{rport}");
            if !b.has(&key) {
                b.push(
                    Record::new(&key, CiClass::ListeningEndpoint)
                        .parent(DEVICE_KEY)
                        .name(format!("tcp/{rport}"))
                        .ident("protocol", "tcp")
                        .ident("port", rport),
                );
            }
            key
        } else {
            let r = remote.to_string();
            let dkey = format!("remote:{r}");
            if !b.has(&dkey) {
                b.push(
                    Record::new(&dkey, CiClass::Host)
                        .placeholder()
                        .name(r.clone())
                        .ident("ip_addresses", vec![r.clone()]),
                );
            }
            let ekey = format!("remote:{r}:tcp/{rport}");
            if !b.has(&ekey) {
                b.push(
                    Record::new(&ekey, CiClass::ListeningEndpoint)
                        .parent(&dkey)
                        .placeholder()
                        .name(format!("tcp/{rport}"))
                        .ident("protocol", "tcp")
                        .ident("port", rport),
                );
            }
            ekey
        };
        match pid.and_then(|p| procs.get(&p)).cloned() {
            Some(p) => b.relate(RelType::ConnectsTo, &p, &to, EvidenceKind::Socket, 0.5),
            None => {
                // The agent does not say which process holds the socket (TCP-MIB without
                // tcpConnectionProcess, or an agent without the privileges to find out): the
                // host holds it. Reconciliation hands it to the owning process when another
                // probe knows it.
                no_pid += 1;
                b.relate(
                    RelType::CommunicatesWith,
                    DEVICE_KEY,
                    &to,
                    EvidenceKind::HostSocket,
                    0.5,
                );
            }
        }
    }
    if no_pid > 0 {
        b.diag(
            "snmp.connection_without_process",
            format!("{no_pid} TCP connections without an owning process (the agent names none): recorded as the host's, not a process's"),
        );
    }
}

#[cfg(test)]
#[path = "corpus_tests.rs"]
mod corpus_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_read_like_the_package_manager_writes_them() {
        let p = |m: &'static str, n: &str, v: Option<&str>, a: Option<&str>| InstalledPackage {
            manager: m,
            name: n.into(),
            version: v.map(Into::into),
            arch: a.map(Into::into),
        };
        assert_eq!(
            InstalledPackage::parse("bash_5.2.15-2+b8_amd64"),
            p("dpkg", "bash", Some("5.2.15-2+b8"), Some("amd64"))
        );
        assert_eq!(
            InstalledPackage::parse("adduser_3.134_all"),
            p("dpkg", "adduser", Some("3.134"), Some("all"))
        );
        assert_eq!(
            InstalledPackage::parse("bash-5.1.8-6.el9.x86_64"),
            p("rpm", "bash", Some("5.1.8-6.el9"), Some("x86_64"))
        );
        assert_eq!(
            InstalledPackage::parse("python3-libs-3.9.18-1.el9.noarch"),
            p("rpm", "python3-libs", Some("3.9.18-1.el9"), Some("noarch"))
        );
        for whole in [
            "Microsoft Visual C++ 2019 X64 Minimum Runtime - 14.29.30133",
            "VMware Tools",
            "kernel_modules",
        ] {
            assert_eq!(
                InstalledPackage::parse(whole).manager,
                "hrSWInstalled",
                "{whole}"
            );
        }
    }

    #[test]
    fn login_sessions_are_not_processes_of_the_host() {
        for (n, c) in [
            ("sshd", "/usr/sbin/sshd -D -f /etc/ssh/sshd_config -R"),
            ("sshd", "sshd: root@notty"),
            ("sshd", "sshd: ops [priv]"),
            ("sshd", "sshd: [accepted]"),
            ("sshd", "sshd: root"),
            ("sshd-session", "sshd-session: root@notty"),
        ] {
            assert!(is_login_session(n, c), "{c}");
        }
        for (n, c) in [
            (
                "sshd",
                "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
            ),
            ("sshd", "/usr/sbin/sshd -D"),
            ("nginx", "nginx: worker process"),
        ] {
            assert!(!is_login_session(n, c), "{c}");
        }
    }

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
