//! Listening endpoints and established TCP connections (`ss`), owned by the processes that
//! hold them (`ps`, `comm`, systemd units).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cmdb_model::{EvidenceKind, Observation, RelType, RelationshipObs};
use serde_json::json;

use super::processes::ProcTable;
use super::{Diags, DEVICE_KEY};
use crate::linux::parse::{self, Proc, Socket};
use crate::linux::script::Sections;
use crate::records;

/// Bound addresses and (command, pid) owners of one listening (protocol, port).
type Listener = (BTreeSet<String>, Vec<(String, u32)>);

/// What names the owners of sockets.
struct Owners {
    procs: BTreeMap<u32, Proc>,
    comms: BTreeMap<u32, String>,
    units: BTreeMap<u32, String>,
    table: ProcTable,
}

impl Owners {
    /// The process record key for socket owner `pid` (`comm` as `ss` shows it).
    fn key_for(&mut self, pid: u32, comm: &str) -> Option<String> {
        self.table
            .key_for(pid, comm, &self.procs, &self.comms, &self.units)
    }
}

/// Endpoints, the processes that own them, LISTENS_ON and one connection per (owner, remote
/// address, port), into `obs`.
pub(super) fn sockets(
    sections: &Sections,
    own_ips: &BTreeSet<IpAddr>,
    obs: &mut Observation,
    diags: &mut Diags<'_>,
) {
    let mut owners = owners(sections, diags);
    let (sockets, bad) = sections.body("ss").map(parse::parse_ss).unwrap_or_default();
    diags.unparsable("ss", bad);
    let listeners = listeners(&sockets);
    let mut endpoint_keys = BTreeSet::new();
    let mut missing_owner = 0usize;
    for ((proto, port), (binds, users)) in &listeners {
        let r = records::listener(proto, u32::from(*port), binds.iter().cloned());
        let key = r.key.clone();
        obs.push(r);
        endpoint_keys.insert(key.clone());
        if users.is_empty() {
            missing_owner += 1;
        }
        let mut seen = BTreeSet::new();
        for (comm, pid) in users {
            if let Some(pk) = owners.key_for(*pid, comm) {
                if seen.insert(pk.clone()) {
                    obs.relationships.push(RelationshipObs::new(
                        RelType::ListensOn,
                        pk,
                        &key,
                        EvidenceKind::Socket,
                        0.9,
                    ));
                }
            }
        }
    }
    let conns = outbound(&sockets, &listeners, &mut owners, &mut missing_owner);
    if missing_owner > 0 {
        diags.push(
            "linux.socket_owner_unknown",
            format!("{missing_owner} sockets without a visible owning process (needs root)"),
        );
    }
    connections(conns, own_ips, &mut endpoint_keys, obs);
    obs.records.append(&mut owners.table.records);
}

/// The process tables that name socket owners.
fn owners(sections: &Sections, diags: &mut Diags<'_>) -> Owners {
    let (procs, bad) = sections.body("ps").map(parse::parse_ps).unwrap_or_default();
    diags.unparsable("ps", bad);
    let pid_map = |name: &str| {
        sections
            .body(name)
            .map(parse::parse_pid_map)
            .unwrap_or_default()
    };
    Owners {
        procs: procs.into_iter().map(|p| (p.pid, p)).collect(),
        comms: pid_map("comm"),
        units: pid_map("ps_unit"),
        table: ProcTable::default(),
    }
}

/// TCP sockets in LISTEN and unconnected UDP sockets below the ephemeral range, per
/// (protocol, port).
fn listeners(sockets: &[Socket]) -> BTreeMap<(String, u16), Listener> {
    let mut listeners: BTreeMap<(String, u16), Listener> = BTreeMap::new();
    for s in sockets {
        let listening = (s.protocol == "tcp" && s.state == "LISTEN")
            || (s.protocol == "udp"
                && s.state == "UNCONN"
                && s.peer_ip.is_none()
                && s.local_port < 32768);
        if !listening {
            continue;
        }
        let e = listeners
            .entry((s.protocol.clone(), s.local_port))
            .or_default();
        e.0.insert(
            s.local_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "*".into()),
        );
        e.1.extend(s.users.iter().cloned());
    }
    listeners
}

/// Outbound connections, counted per (owner, remote ip, port). Connections `ss` shows without
/// an owner (not root: other users' sockets) belong to the host ([`DEVICE_KEY`]): host-level
/// evidence, which reconciliation hands to the owning process when another probe (or a later
/// run) knows it.
fn outbound(
    sockets: &[Socket],
    listeners: &BTreeMap<(String, u16), Listener>,
    owners: &mut Owners,
    missing_owner: &mut usize,
) -> BTreeMap<(String, IpAddr, u16), u64> {
    let tcp_listen_ports: BTreeSet<u16> = listeners
        .keys()
        .filter(|(p, _)| p == "tcp")
        .map(|(_, port)| *port)
        .collect();
    let mut conns: BTreeMap<(String, IpAddr, u16), u64> = BTreeMap::new();
    for s in sockets
        .iter()
        .filter(|s| s.protocol == "tcp" && s.state == "ESTAB")
    {
        let (Some(pip), Some(pport)) = (s.peer_ip, s.peer_port) else {
            continue;
        };
        if tcp_listen_ports.contains(&s.local_port) {
            continue; // we are the server side: the client's port is ephemeral, not an endpoint
        }
        let owner = match s.users.first() {
            Some((comm, pid)) => owners.key_for(*pid, comm),
            None => {
                *missing_owner += 1;
                None
            }
        };
        *conns
            .entry((owner.unwrap_or_else(|| DEVICE_KEY.to_string()), pip, pport))
            .or_default() += 1;
    }
    conns
}

/// One relationship per counted connection, to the host's own endpoint when the peer is the
/// host, else to the placeholder endpoint of a remote host.
fn connections(
    conns: BTreeMap<(String, IpAddr, u16), u64>,
    own_ips: &BTreeSet<IpAddr>,
    endpoint_keys: &mut BTreeSet<String>,
    obs: &mut Observation,
) {
    let mut remote_devices = BTreeSet::new();
    for ((pk, ip, port), count) in conns {
        let port32 = u32::from(port);
        let local = ip.is_loopback() || own_ips.contains(&ip);
        let endpoint = if local {
            // Only seen as the target of a connection: weak, unlike an SNMP agent's.
            records::endpoint("tcp", port32).placeholder()
        } else {
            let host = records::remote_host(&ip);
            if remote_devices.insert(host.key.clone()) {
                obs.push(host);
            }
            records::remote_endpoint(&ip, port32)
        };
        let ep_key = endpoint.key.clone();
        if endpoint_keys.insert(ep_key.clone()) {
            obs.push(endpoint);
        }
        let owner = (pk != DEVICE_KEY).then_some(pk.as_str());
        let mut rel = records::connection(owner, &ep_key);
        rel.attributes
            .insert("remote_ip".into(), json!(ip.to_string()));
        rel.attributes.insert("remote_port".into(), json!(port));
        rel.attributes.insert("connections".into(), json!(count));
        obs.relationships.push(rel);
    }
}
