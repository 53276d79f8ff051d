//! Listening endpoints and established TCP connections (TCP-MIB, UDP-MIB), owned by the
//! processes the agent names.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cmdb_model::{EvidenceKind, RelType};

use super::rows::{inet_from_index, ipv4_from_index, table, Vbs};
use super::Builder;
use crate::records;
use crate::snmp::mib::{tcp_conn_table, tcp_connection_table, tcp_listener_table, tcp_state};
use crate::snmp::mib::{udp_endpoint_table, udp_table};

/// Bind addresses and owning pids of one (protocol, port).
type Listener = (BTreeSet<String>, BTreeSet<i64>);

/// One TCP connection: (local address, local port, remote address, remote port).
type ConnKey = (IpAddr, u32, IpAddr, u32);

/// What the socket tables say.
#[derive(Default)]
struct Sockets {
    /// (protocol, port) → (bind addresses, pids).
    listeners: BTreeMap<(&'static str, u32), Listener>,
    /// Established connections and their owning process when the agent names it. A socket is
    /// in both tcpConnectionTable and the legacy tcpConnTable (IPv4): one row per socket, the
    /// one with a process preferred.
    conns: BTreeMap<ConnKey, Option<i64>>,
}

impl Sockets {
    fn listen(&mut self, proto: &'static str, port: u32, bind: IpAddr, pid: Option<i64>) {
        let e = self.listeners.entry((proto, port)).or_default();
        e.0.insert(bind.to_string());
        e.1.extend(pid);
    }
}

/// Endpoint records, LISTENS_ON from their processes, and a connection per established socket
/// that is not the server side of one of our listeners. `procs`: pid → process record key.
pub(super) fn sockets(
    vbs: &Vbs,
    procs: &BTreeMap<i64, String>,
    own_ips: &BTreeSet<IpAddr>,
    b: &mut Builder,
) {
    let mut s = Sockets::default();
    tcp_listeners(vbs, &mut s);
    tcp_connections(vbs, &mut s);
    legacy_tcp_connections(vbs, &mut s);
    udp_listeners(vbs, &mut s);
    for ((proto, port), (binds, pids)) in &s.listeners {
        let r = records::listener(proto, *port, binds.iter().cloned());
        let key = r.key.clone();
        b.push(r);
        for p in pids.iter().filter_map(|pid| procs.get(pid)) {
            b.relate(RelType::ListensOn, p, &key, EvidenceKind::Socket, 0.9);
        }
    }
    connections(&s, procs, own_ips, b);
}

/// A port and the rest of an index.
fn split_port(rest: &[u32]) -> Option<(u32, &[u32])> {
    rest.split_first().map(|(p, r)| (*p, r))
}

/// An address decoder for index sub-identifiers: the address and the rest of the index.
type AddrIndex = fn(&[u32]) -> Option<(IpAddr, &[u32])>;

/// An IPv4 address index as an [`IpAddr`].
fn ipv4_index(idx: &[u32]) -> Option<(IpAddr, &[u32])> {
    ipv4_from_index(idx).map(|(a, rest)| (IpAddr::V4(a), rest))
}

/// A connection table's index: local address, local port, remote address, remote port.
fn connection_index(idx: &[u32], addr: AddrIndex) -> Option<ConnKey> {
    let (local, rest) = addr(idx)?;
    let (lport, rest) = split_port(rest)?;
    let (remote, rest) = addr(rest)?;
    Some((local, lport, remote, *rest.first()?))
}

/// A process column: only positive values name one.
fn pid(v: Option<i64>) -> Option<i64> {
    v.filter(|p| *p > 0)
}

/// tcpListenerTable: (local address, port) → listener.
fn tcp_listeners(vbs: &Vbs, s: &mut Sockets) {
    for (idx, c) in table(vbs, tcp_listener_table::TABLE) {
        if let Some((ip, rest)) = inet_from_index(&idx) {
            if let Some(&port) = rest.first() {
                s.listen("tcp", port, ip, pid(c.int(tcp_listener_table::PROCESS)));
            }
        }
    }
}

/// tcpConnectionTable: listeners and established connections with their process.
fn tcp_connections(vbs: &Vbs, s: &mut Sockets) {
    for (idx, c) in table(vbs, tcp_connection_table::TABLE) {
        let Some((local, lport, remote, rport)) = connection_index(&idx, inet_from_index) else {
            continue;
        };
        let pid = pid(c.int(tcp_connection_table::PROCESS));
        match c.int(tcp_connection_table::STATE) {
            Some(tcp_state::LISTEN) => s.listen("tcp", lport, local, pid),
            Some(tcp_state::ESTABLISHED) => {
                let owner = s.conns.entry((local, lport, remote, rport)).or_default();
                *owner = owner.or(pid);
            }
            _ => {}
        }
    }
}

/// tcpConnTable (IPv4, no process): listeners and established connections.
fn legacy_tcp_connections(vbs: &Vbs, s: &mut Sockets) {
    for (idx, c) in table(vbs, tcp_conn_table::TABLE) {
        let Some((local, lport, remote, rport)) = connection_index(&idx, ipv4_index) else {
            continue;
        };
        match c.int(tcp_conn_table::STATE) {
            Some(tcp_state::LISTEN) => s.listen("tcp", lport, local, None),
            Some(tcp_state::ESTABLISHED) => {
                s.conns.entry((local, lport, remote, rport)).or_default();
            }
            _ => {}
        }
    }
}

/// udpTable and udpEndpointTable: unconnected endpoints (remote unspecified) are listeners.
fn udp_listeners(vbs: &Vbs, s: &mut Sockets) {
    for idx in table(vbs, udp_table::TABLE).keys() {
        if let Some((ip, rest)) = ipv4_from_index(idx) {
            if let Some(&port) = rest.first() {
                s.listen("udp", port, ip.into(), None);
            }
        }
    }
    for (idx, c) in table(vbs, udp_endpoint_table::TABLE) {
        let Some((local, rest)) = inet_from_index(&idx) else {
            continue;
        };
        let Some((lport, rest)) = split_port(rest) else {
            continue;
        };
        let remote_unspec = inet_from_index(rest)
            .map(|(r, _)| r.is_unspecified())
            .unwrap_or(true);
        if remote_unspec && lport > 0 {
            s.listen("udp", lport, local, pid(c.int(udp_endpoint_table::PROCESS)));
        }
    }
}

/// Each established connection as the client side sees it: to an endpoint of this device when
/// the peer is the device itself, else to the placeholder endpoint of a remote host.
fn connections(
    s: &Sockets,
    procs: &BTreeMap<i64, String>,
    own_ips: &BTreeSet<IpAddr>,
    b: &mut Builder,
) {
    let mut no_pid = 0;
    for ((local, lport, remote, rport), pid) in &s.conns {
        // server side of our own listener: the peer is the client, nothing to record here
        if s.listeners.contains_key(&("tcp", *lport)) {
            continue;
        }
        let peer_is_self = remote.is_loopback()
            || remote.is_unspecified()
            || own_ips.contains(remote)
            || remote == local;
        let to = if peer_is_self {
            let r = records::endpoint("tcp", *rport);
            let key = r.key.clone();
            b.push(r);
            key
        } else {
            b.push(records::remote_host(remote));
            let r = records::remote_endpoint(remote, *rport);
            let key = r.key.clone();
            b.push(r);
            key
        };
        // Without tcpConnectionProcess (or the privileges to fill it) the agent does not say
        // which process holds the socket: the host holds it.
        let owner = pid.and_then(|p| procs.get(&p));
        if owner.is_none() {
            no_pid += 1;
        }
        b.relate_obs(records::connection(owner.map(String::as_str), &to));
    }
    if no_pid > 0 {
        b.diag(
            "snmp.connection_without_process",
            format!("{no_pid} TCP connections without an owning process (the agent names none): recorded as the host's, not a process's"),
        );
    }
}
