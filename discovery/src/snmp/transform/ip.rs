//! The device's IP addresses (IP-MIB ipAddrTable and ipAddressTable) and their subnets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cmdb_model::{CiClass, Record, RelType};

use super::interfaces::{if_key, IfInfo};
use super::rows::{inet_from_index, ip_is_usable, ipv4_from_index, table, Vbs};
use super::Builder;
use crate::snmp::mib::{ip_addr_table, ip_address_table};

/// Address → (ifIndex, prefix length).
type AddressTable = BTreeMap<IpAddr, (Option<u32>, Option<u8>)>;

/// What the address tables say.
pub(super) struct Addresses {
    /// IpAddress and Subnet records.
    pub(super) records: Vec<Record>,
    /// Subnet CONTAINS address, interface HAS_IP address.
    pub(super) relationships: Vec<(RelType, String, String)>,
    /// The usable addresses: the device's identifiers.
    pub(super) device_ips: BTreeSet<String>,
    /// Every address of the device, loopback included: a connection to one stays on the device.
    pub(super) own_ips: BTreeSet<IpAddr>,
}

pub(super) fn read(vbs: &Vbs, ifs: &BTreeMap<u32, IfInfo>, b: &mut Builder) -> Addresses {
    let mut ips = AddressTable::new();
    let v4 = ipv4_addresses(vbs, &mut ips);
    let inet = inet_addresses(vbs, &mut ips);
    if !v4 && !inet {
        b.diag(
            "snmp.table_missing",
            "IP-MIB ipAddrTable/ipAddressTable empty or not readable",
        );
    }
    let mut out = Addresses {
        records: Vec::new(),
        relationships: Vec::new(),
        device_ips: BTreeSet::new(),
        own_ips: BTreeSet::new(),
    };
    for (ip, (ifidx, prefix)) in &ips {
        out.own_ips.insert(*ip);
        if !ip_is_usable(ip) {
            continue;
        }
        let s = ip.to_string();
        out.device_ips.insert(s.clone());
        let key = format!("ip:{s}");
        let mut r = Record::new(&key, CiClass::IpAddress)
            .name(s.clone())
            .ident("address", s)
            .attr("version", if ip.is_ipv4() { 4 } else { 6 });
        if let Some(p) = prefix {
            r = r.attr("prefix_length", *p);
            if let Some(subnet) = subnet(ip, *p) {
                out.relationships
                    .push((RelType::Contains, subnet.key.clone(), key.clone()));
                out.records.push(subnet);
            }
        }
        out.records.push(r);
        if let Some(i) = ifidx.filter(|i| ifs.contains_key(i)) {
            out.relationships.push((RelType::HasIp, if_key(i), key));
        }
    }
    out
}

/// ipAddrTable rows into `ips` (the mask turned into a prefix length); false when it is empty.
fn ipv4_addresses(vbs: &Vbs, ips: &mut AddressTable) -> bool {
    let t = table(vbs, ip_addr_table::TABLE);
    for (idx, c) in &t {
        let Some((ip, _)) = ipv4_from_index(idx) else {
            continue;
        };
        let ifidx = c.index(ip_addr_table::IF_INDEX);
        let prefix = c.bytes(ip_addr_table::NET_MASK).and_then(|m| {
            let m: [u8; 4] = m.try_into().ok()?;
            let bits = u32::from_be_bytes(m);
            (bits.leading_ones() + bits.trailing_zeros() == 32).then(|| bits.leading_ones() as u8)
        });
        ips.insert(IpAddr::V4(ip), (ifidx, prefix));
    }
    !t.is_empty()
}

/// ipAddressTable's unicast rows into `ips`, filling what ipAddrTable left open; false when it
/// is empty.
fn inet_addresses(vbs: &Vbs, ips: &mut AddressTable) -> bool {
    let t = table(vbs, ip_address_table::TABLE);
    for (idx, c) in &t {
        let Some((ip, _)) = inet_from_index(idx) else {
            continue;
        };
        // type 1 = unicast; skip anycast/broadcast
        if c.int(ip_address_table::TYPE).is_some_and(|t| t != 1) {
            continue;
        }
        let ifidx = c.index(ip_address_table::IF_INDEX);
        // ipAddressPrefix is a RowPointer whose last sub-identifier is the prefix length.
        let prefix = c
            .oid(ip_address_table::PREFIX)
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
    !t.is_empty()
}

/// The subnet `ip/prefix` lies in, unless the prefix is a host route.
fn subnet(ip: &IpAddr, prefix: u8) -> Option<Record> {
    let net = ipnet::IpNet::new(*ip, prefix).ok()?.trunc();
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix >= max {
        return None;
    }
    let cidr = net.to_string();
    Some(
        Record::new(format!("subnet:{cidr}"), CiClass::Subnet)
            .name(cidr.clone())
            .ident("cidr", cidr),
    )
}
