//! Reading walked varbinds as MIB scalars and table rows, and decoding the addresses SNMP
//! tables put into their indexes.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::snmp::value::{mac_text, Oid, SnmpValue};

/// All walked varbinds.
pub(super) type Vbs = BTreeMap<Oid, SnmpValue>;

/// One conceptual row of a table: column → value.
#[derive(Default)]
pub(super) struct Row<'a>(BTreeMap<u32, &'a SnmpValue>);

impl<'a> Row<'a> {
    pub(super) fn get(&self, col: u32) -> Option<&'a SnmpValue> {
        self.0.get(&col).copied()
    }
    /// Text of a column; an empty string is no value.
    pub(super) fn text(&self, col: u32) -> Option<String> {
        self.get(col)
            .and_then(|v| v.as_text())
            .filter(|s| !s.is_empty())
    }
    pub(super) fn int(&self, col: u32) -> Option<i64> {
        self.get(col).and_then(|v| v.as_i64())
    }
    pub(super) fn bytes(&self, col: u32) -> Option<&'a [u8]> {
        self.get(col).and_then(|v| v.as_bytes())
    }
    pub(super) fn oid(&self, col: u32) -> Option<&'a Oid> {
        self.get(col).and_then(|v| v.as_oid())
    }
    /// A MAC address column (PhysAddress / MacAddress).
    pub(super) fn mac(&self, col: u32) -> Option<String> {
        self.bytes(col).and_then(mac_text)
    }
    /// A column holding an ifIndex or a port number.
    pub(super) fn index(&self, col: u32) -> Option<u32> {
        self.int(col).and_then(|v| u32::try_from(v).ok())
    }
}

/// index → row
pub(super) type Table<'a> = BTreeMap<Vec<u32>, Row<'a>>;

/// The rows of the table at `table` (its entry is `table.1`).
pub(super) fn table<'a>(vbs: &'a Vbs, table: &[u32]) -> Table<'a> {
    let mut entry = table.to_vec();
    entry.push(1);
    let root = Oid::new(&entry);
    let mut t: Table<'a> = BTreeMap::new();
    for (oid, v) in vbs.range(root.clone()..) {
        let Some(suffix) = oid.suffix(&root) else {
            break;
        };
        if let Some((col, idx)) = suffix.split_first() {
            t.entry(idx.to_vec()).or_default().0.insert(*col, v);
        }
    }
    t
}

pub(super) fn scalar<'a>(vbs: &'a Vbs, oid: &[u32]) -> Option<&'a SnmpValue> {
    vbs.get(&Oid::new(oid))
}

/// Sub-identifiers as octets, when every one is an octet.
fn octets(ids: &[u32]) -> Option<Vec<u8>> {
    ids.iter().map(|b| u8::try_from(*b).ok()).collect()
}

/// Decode an InetAddress given as `type.len.bytes…` inside an index, returning the address and
/// the remaining sub-identifiers.
pub(super) fn inet_from_index(idx: &[u32]) -> Option<(IpAddr, &[u32])> {
    let (&ty, rest) = idx.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = len as usize;
    if rest.len() < len {
        return None;
    }
    let (bytes, rest) = rest.split_at(len);
    let ip = inet_from_bytes(ty, &octets(bytes)?)?;
    Some((ip, rest))
}

/// An InetAddress of InetAddressType `ty` (1 ipv4, 2 ipv6, 3/4 with zone index; 0 unknown).
pub(super) fn inet_from_bytes(ty: u32, b: &[u8]) -> Option<IpAddr> {
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

/// An IPv4 address as four index sub-identifiers, and the rest of the index.
pub(super) fn ipv4_from_index(idx: &[u32]) -> Option<(Ipv4Addr, &[u32])> {
    if idx.len() < 4 {
        return None;
    }
    let b = octets(&idx[..4])?;
    Some((Ipv4Addr::new(b[0], b[1], b[2], b[3]), &idx[4..]))
}

/// A MAC address as six index sub-identifiers.
pub(super) fn mac_from_index(idx: &[u32]) -> Option<String> {
    if idx.len() != 6 {
        return None;
    }
    mac_text(&octets(idx)?)
}

/// An address worth a record: a host address that is not the IPv4 broadcast.
pub(super) fn ip_is_usable(ip: &IpAddr) -> bool {
    crate::records::is_host_address(ip) && !matches!(ip, IpAddr::V4(a) if a.is_broadcast())
}
