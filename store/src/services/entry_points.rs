//! Top-down mapping from entry points: endpoint → listening process → its connections, tier by
//! tier, and what host-level connections on the map stand for.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_model::{Ci, CiClass, CiId, CiStatus, RelType, Relationship};
use serde_json::json;

use crate::{CiFilter, Direction, GraphStore, NameMatch, StoreError};

use super::io::{cis_of, find_all, port_of, protocol_of, rels_of};
use super::{parse_entry_point, MAX_ENTRY_HOSTS, MAX_MAP_CIS};

/// The CIs an entry-point service maps to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceMapResult {
    /// Entry endpoints and their listening processes: the service's members.
    pub members: BTreeSet<CiId>,
    pub entry_endpoints: BTreeSet<CiId>,
    /// Every CI of the map (members included), sorted.
    pub nodes: BTreeSet<CiId>,
    pub unresolved: Vec<(String, String)>,
    /// The map hit [`MAX_MAP_CIS`].
    pub truncated: bool,
    /// `(dependant, target)`: what on a host of the map relies on a connection the host holds
    /// without a known owning process (see [`host_level_dependants`]).
    pub host_level_deps: BTreeSet<(CiId, CiId)>,
}

pub(super) fn is_device(c: CiClass) -> bool {
    matches!(c, CiClass::Host | CiClass::NetworkDevice)
}

pub(super) async fn resolve_hosts(
    store: &dyn GraphStore,
    host: &str,
) -> Result<Vec<CiId>, StoreError> {
    let base = CiFilter {
        classes: vec![CiClass::Host, CiClass::NetworkDevice],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let mut filters = Vec::new();
    if host.parse::<std::net::IpAddr>().is_ok() {
        filters.push(CiFilter {
            ip_address: Some(host.to_string()),
            ..base.clone()
        });
    } else {
        let short = host.split('.').next().unwrap_or(host).to_string();
        filters.push(CiFilter {
            name: Some((NameMatch::Equals, host.to_string())),
            ..base.clone()
        });
        filters.push(CiFilter {
            attributes: vec![("fqdn".into(), json!(host))],
            ..base.clone()
        });
        filters.push(CiFilter {
            attributes: vec![("hostname".into(), json!(host))],
            ..base.clone()
        });
        if short != host {
            // A short name matches only when no FQDN-qualified host answered.
            filters.push(CiFilter {
                attributes: vec![("hostname".into(), json!(short))],
                ..base.clone()
            });
            filters.push(CiFilter {
                name: Some((NameMatch::Equals, short)),
                ..base.clone()
            });
        }
    }
    let mut out = BTreeSet::new();
    let last_exact = if filters.len() > 3 { 3 } else { filters.len() };
    for (i, f) in filters.iter().enumerate() {
        if i == last_exact && !out.is_empty() {
            break;
        }
        let (found, _) = find_all(store, f, MAX_ENTRY_HOSTS).await?;
        out.extend(found.into_iter().map(|c| c.id));
    }
    Ok(out.into_iter().take(MAX_ENTRY_HOSTS).collect())
}

/// Resolve entry points and follow connections from them, `depth` tiers deep.
pub async fn map_entry_points(
    store: &dyn GraphStore,
    entry_points: &[String],
    depth: u32,
) -> Result<ServiceMapResult, StoreError> {
    let mut res = ServiceMapResult::default();
    let mut classes: HashMap<CiId, CiClass> = HashMap::new();
    // Tier 1: the entry endpoints.
    let mut tier: BTreeSet<CiId> = BTreeSet::new();
    for raw in entry_points {
        let ep = match parse_entry_point(raw) {
            Ok(ep) => ep,
            Err(e) => {
                res.unresolved.push((raw.clone(), e.to_string()));
                continue;
            }
        };
        let hosts = resolve_hosts(store, &ep.host).await?;
        if hosts.is_empty() {
            res.unresolved.push((
                raw.clone(),
                format!("no active host named or addressed `{}`", ep.host),
            ));
            continue;
        }
        let contained = rels_of(store, &hosts, Direction::Out, &[RelType::Contains]).await?;
        let ids: Vec<CiId> = contained.iter().map(|r| r.to.clone()).collect();
        let cis = cis_of(store, &ids).await?;
        let mut found: Vec<&Ci> = cis
            .values()
            .filter(|c| {
                c.class == CiClass::ListeningEndpoint
                    && c.status == CiStatus::Active
                    && port_of(c) == Some(ep.port)
            })
            .collect();
        // Prefer TCP when a port is open for both.
        if found.iter().any(|c| protocol_of(c) == "tcp") {
            found.retain(|c| protocol_of(c) == "tcp");
        }
        if found.is_empty() {
            res.unresolved.push((
                raw.clone(),
                format!(
                    "`{}` has no active listening endpoint on port {}",
                    ep.host, ep.port
                ),
            ));
            continue;
        }
        for c in found {
            classes.insert(c.id.clone(), c.class);
            res.entry_endpoints.insert(c.id.clone());
            tier.insert(c.id.clone());
        }
    }
    let mut visited: BTreeSet<CiId> = tier.clone();
    let mut t = 1;
    let entry = res.entry_endpoints.clone();
    // What the walk learns about each host of the map, for host-level connections.
    let mut hosts = HostsOfMap::default();
    while !tier.is_empty() {
        // Within a tier: endpoint → its listening processes and host; pool → its backends;
        // process → the host it runs on. Outbound connections lead to the next tier.
        let mut next: BTreeSet<CiId> = BTreeSet::new();
        let mut fresh: Vec<CiId> = tier.iter().cloned().collect();
        while !fresh.is_empty() {
            let rels = rels_of(
                store,
                &fresh,
                Direction::Both,
                &[
                    RelType::ListensOn,
                    RelType::Contains,
                    RelType::PartOf,
                    RelType::RunsOn,
                    RelType::ConnectsTo,
                    RelType::DependsOn,
                ],
            )
            .await?;
            let fresh_set: BTreeSet<&CiId> = fresh.iter().collect();
            let mut same: BTreeSet<CiId> = BTreeSet::new();
            let mut outward: BTreeSet<CiId> = BTreeSet::new();
            for r in &rels {
                let from_class = classes.get(&r.from).copied();
                let to_class = classes.get(&r.to).copied();
                match r.rel_type {
                    // process LISTENS_ON endpoint: the endpoint's providers.
                    RelType::ListensOn
                        if fresh_set.contains(&r.to)
                            && to_class == Some(CiClass::ListeningEndpoint) =>
                    {
                        same.insert(r.from.clone());
                    }
                    // host CONTAINS endpoint: where the endpoint lives.
                    RelType::Contains
                        if fresh_set.contains(&r.to)
                            && to_class == Some(CiClass::ListeningEndpoint) =>
                    {
                        same.insert(r.from.clone());
                    }
                    // backend PART_OF pool.
                    RelType::PartOf
                        if fresh_set.contains(&r.to) && to_class == Some(CiClass::Cluster) =>
                    {
                        same.insert(r.from.clone());
                    }
                    RelType::RunsOn
                        if fresh_set.contains(&r.from) && from_class == Some(CiClass::Process) =>
                    {
                        same.insert(r.to.clone());
                    }
                    RelType::ConnectsTo | RelType::DependsOn
                        if fresh_set.contains(&r.from) && from_class == Some(CiClass::Process) =>
                    {
                        outward.insert(r.to.clone());
                    }
                    _ => {}
                }
            }
            let unknown: Vec<CiId> = same
                .iter()
                .chain(outward.iter())
                .filter(|i| !classes.contains_key(*i))
                .cloned()
                .collect();
            for (id, ci) in cis_of(store, &unknown).await? {
                if ci.status == CiStatus::Active {
                    classes.insert(id, ci.class);
                }
            }
            for r in &rels {
                hosts.learn(
                    r,
                    classes.get(&r.from).copied(),
                    classes.get(&r.to).copied(),
                );
            }
            fresh = Vec::new();
            let mut new_hosts: Vec<CiId> = Vec::new();
            for id in same {
                let Some(c) = classes.get(&id).copied() else {
                    continue;
                };
                if c == CiClass::BusinessService || visited.contains(&id) {
                    continue;
                }
                if is_device(c) {
                    new_hosts.push(id.clone());
                }
                if visited.len() >= MAX_MAP_CIS {
                    res.truncated = true;
                    break;
                }
                visited.insert(id.clone());
                // A process listening on an entry endpoint is a member.
                if c == CiClass::Process
                    && t == 1
                    && rels.iter().any(|r| {
                        r.rel_type == RelType::ListensOn && r.from == id && entry.contains(&r.to)
                    })
                {
                    res.members.insert(id.clone());
                }
                if !is_device(c) {
                    fresh.push(id);
                }
            }
            // A host of the map that holds connections without a known owning process: what
            // it connects to is the next tier too (what on the host relies on it is decided
            // below, once the map is known).
            if !new_hosts.is_empty() {
                let host_level = rels_of(
                    store,
                    &new_hosts,
                    Direction::Out,
                    &[RelType::CommunicatesWith],
                )
                .await?;
                let unknown: Vec<CiId> = host_level
                    .iter()
                    .map(|r| r.to.clone())
                    .filter(|i| !classes.contains_key(i))
                    .collect();
                for (id, ci) in cis_of(store, &unknown).await? {
                    if ci.status == CiStatus::Active {
                        classes.insert(id, ci.class);
                    }
                }
                for r in host_level {
                    if classes
                        .get(&r.to)
                        .is_some_and(|c| *c != CiClass::BusinessService)
                    {
                        hosts
                            .targets
                            .entry(r.from.clone())
                            .or_default()
                            .insert(r.to.clone());
                        outward.insert(r.to);
                    }
                }
            }
            for id in outward {
                if classes
                    .get(&id)
                    .is_some_and(|c| *c != CiClass::BusinessService)
                    && !visited.contains(&id)
                {
                    next.insert(id);
                }
            }
        }
        t += 1;
        if t > depth || res.truncated {
            break;
        }
        next.retain(|id| !visited.contains(id));
        for id in &next {
            if visited.len() >= MAX_MAP_CIS {
                res.truncated = true;
                break;
            }
            visited.insert(id.clone());
        }
        tier = next;
    }
    res.members.extend(res.entry_endpoints.iter().cloned());
    res.host_level_deps = host_level_dependants(&hosts, &visited, &classes);
    res.nodes = visited;
    Ok(res)
}

/// What an entry-point walk learnt about the hosts of a map.
#[derive(Default)]
pub(super) struct HostsOfMap {
    /// Endpoints and processes of the map, by the host they live on.
    on_host: BTreeMap<CiId, BTreeSet<CiId>>,
    /// Endpoints with a known listening process, and processes listening on something.
    listened: BTreeSet<CiId>,
    listening: BTreeSet<CiId>,
    /// Host-level connection targets (endpoints, host-level pools) of each host.
    targets: BTreeMap<CiId, BTreeSet<CiId>>,
    /// Backends of the pools seen, by pool.
    pool_members: BTreeMap<CiId, BTreeSet<CiId>>,
}

impl HostsOfMap {
    fn learn(&mut self, r: &Relationship, from: Option<CiClass>, to: Option<CiClass>) {
        match (r.rel_type, from, to) {
            (RelType::Contains, Some(f), Some(CiClass::ListeningEndpoint)) if is_device(f) => {
                self.on_host
                    .entry(r.from.clone())
                    .or_default()
                    .insert(r.to.clone());
            }
            (RelType::RunsOn, Some(CiClass::Process), Some(t)) if is_device(t) => {
                self.on_host
                    .entry(r.to.clone())
                    .or_default()
                    .insert(r.from.clone());
            }
            (RelType::ListensOn, Some(CiClass::Process), _) => {
                self.listening.insert(r.from.clone());
                self.listened.insert(r.to.clone());
            }
            (RelType::PartOf, _, Some(CiClass::Cluster)) => {
                self.pool_members
                    .entry(r.to.clone())
                    .or_default()
                    .insert(r.from.clone());
            }
            _ => {}
        }
    }
}

/// The dependencies host-level connections stand for on one service's map. A host of the map
/// that talks to something without the probe knowing which process does (TCP-MIB rows without
/// a process, `ss` without root) serves the service through what it runs on the map: its
/// processes that listen on the map's endpoints, or — when no process is known — those
/// endpoints themselves. Each of them is taken to rely on every host-level target of that host
/// that is on the map (a host-level pool standing in for its backends). These are guesses
/// from host-level evidence: they are written as DEPENDS_ON with `host_socket` evidence only,
/// so answers say they rest on host-level evidence, and they disappear when the owning
/// process becomes known (the host-level connection is then folded into its CONNECTS_TO).
pub(super) fn host_level_dependants(
    hosts: &HostsOfMap,
    map: &BTreeSet<CiId>,
    classes: &HashMap<CiId, CiClass>,
) -> BTreeSet<(CiId, CiId)> {
    let mut out = BTreeSet::new();
    for (host, targets) in &hosts.targets {
        let targets: BTreeSet<&CiId> = targets.iter().filter(|t| map.contains(*t)).collect();
        let pooled: BTreeSet<&CiId> = targets
            .iter()
            .filter_map(|t| hosts.pool_members.get(*t))
            .flatten()
            .collect();
        let targets: Vec<&CiId> = targets
            .into_iter()
            .filter(|t| !pooled.contains(t))
            .collect();
        let Some(local) = hosts.on_host.get(host) else {
            continue;
        };
        for d in local.iter().filter(|d| map.contains(*d)) {
            let serves = match classes.get(d) {
                Some(CiClass::Process) => hosts.listening.contains(d),
                Some(CiClass::ListeningEndpoint) => !hosts.listened.contains(d),
                _ => false,
            };
            if serves {
                for t in &targets {
                    if *t != d {
                        out.insert((d.clone(), (*t).clone()));
                    }
                }
            }
        }
    }
    out
}
