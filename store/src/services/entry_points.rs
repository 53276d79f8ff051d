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
    let mut walk = Walk {
        store,
        res: ServiceMapResult::default(),
        classes: HashMap::new(),
        visited: BTreeSet::new(),
        hosts: HostsOfMap::default(),
    };
    // Tier 1: the entry endpoints.
    let mut tier = walk.entry_endpoints(entry_points).await?;
    walk.visited = tier.clone();
    let mut t = 1;
    while !tier.is_empty() {
        let mut next = walk.expand_tier(&tier, t).await?;
        t += 1;
        if t > depth || walk.res.truncated {
            break;
        }
        next.retain(|id| !walk.visited.contains(id));
        for id in &next {
            if walk.visited.len() >= MAX_MAP_CIS {
                walk.res.truncated = true;
                break;
            }
            walk.visited.insert(id.clone());
        }
        tier = next;
    }
    let Walk {
        mut res,
        classes,
        visited,
        hosts,
        ..
    } = walk;
    res.members.extend(res.entry_endpoints.iter().cloned());
    res.host_level_deps = host_level_dependants(&hosts, &visited, &classes);
    res.nodes = visited;
    Ok(res)
}

/// What one entry point resolves to.
enum Resolved {
    /// Its ACTIVE listening endpoints (TCP preferred when a port is open for both).
    Endpoints(Vec<Ci>),
    /// Why nothing: the text shown as the entry point's `unresolved` reason.
    Unresolved(String),
}

async fn resolve_entry_point(store: &dyn GraphStore, raw: &str) -> Result<Resolved, StoreError> {
    let ep = match parse_entry_point(raw) {
        Ok(ep) => ep,
        Err(e) => return Ok(Resolved::Unresolved(e.to_string())),
    };
    let hosts = resolve_hosts(store, &ep.host).await?;
    if hosts.is_empty() {
        return Ok(Resolved::Unresolved(format!(
            "no active host named or addressed `{}`",
            ep.host
        )));
    }
    let contained = rels_of(store, &hosts, Direction::Out, &[RelType::Contains]).await?;
    let ids: Vec<CiId> = contained.iter().map(|r| r.to.clone()).collect();
    let mut found: Vec<Ci> = cis_of(store, &ids)
        .await?
        .into_values()
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
        return Ok(Resolved::Unresolved(format!(
            "`{}` has no active listening endpoint on port {}",
            ep.host, ep.port
        )));
    }
    Ok(Resolved::Endpoints(found))
}

/// The relationship types a tier's walk follows.
const WALKED: &[RelType] = &[
    RelType::ListensOn,
    RelType::Contains,
    RelType::PartOf,
    RelType::RunsOn,
    RelType::ConnectsTo,
    RelType::DependsOn,
];

/// One entry-point walk: what it found so far.
struct Walk<'a> {
    store: &'a dyn GraphStore,
    res: ServiceMapResult,
    classes: HashMap<CiId, CiClass>,
    visited: BTreeSet<CiId>,
    /// What the walk learns about each host of the map, for host-level connections.
    hosts: HostsOfMap,
}

impl Walk<'_> {
    /// Tier 1: every entry point's endpoints (the unresolved ones noted with their reason).
    async fn entry_endpoints(
        &mut self,
        entry_points: &[String],
    ) -> Result<BTreeSet<CiId>, StoreError> {
        let mut tier = BTreeSet::new();
        for raw in entry_points {
            match resolve_entry_point(self.store, raw).await? {
                Resolved::Unresolved(why) => self.res.unresolved.push((raw.clone(), why)),
                Resolved::Endpoints(found) => {
                    for c in found {
                        self.classes.insert(c.id.clone(), c.class);
                        self.res.entry_endpoints.insert(c.id.clone());
                        tier.insert(c.id);
                    }
                }
            }
        }
        Ok(tier)
    }

    /// Within a tier: endpoint → its listening processes and host; pool → its backends;
    /// process → the host it runs on. Outbound connections lead to the next tier, returned.
    async fn expand_tier(
        &mut self,
        tier: &BTreeSet<CiId>,
        t: u32,
    ) -> Result<BTreeSet<CiId>, StoreError> {
        let mut next: BTreeSet<CiId> = BTreeSet::new();
        let mut fresh: Vec<CiId> = tier.iter().cloned().collect();
        while !fresh.is_empty() {
            let rels = rels_of(self.store, &fresh, Direction::Both, WALKED).await?;
            let (same, mut outward) = links(&rels, &fresh, &self.classes);
            let unknown: Vec<CiId> = same.iter().chain(outward.iter()).cloned().collect();
            self.learn_classes(unknown).await?;
            for r in &rels {
                let (from, to) = (self.classes.get(&r.from), self.classes.get(&r.to));
                self.hosts.learn(r, from.copied(), to.copied());
            }
            let new_hosts;
            (fresh, new_hosts) = self.visit(same, &rels, t);
            self.host_level_targets(&new_hosts, &mut outward).await?;
            for id in outward {
                if self
                    .classes
                    .get(&id)
                    .is_some_and(|c| *c != CiClass::BusinessService)
                    && !self.visited.contains(&id)
                {
                    next.insert(id);
                }
            }
        }
        Ok(next)
    }

    /// Note the class of each of `ids` not known yet, when it is an ACTIVE CI.
    async fn learn_classes(&mut self, ids: Vec<CiId>) -> Result<(), StoreError> {
        let unknown: Vec<CiId> = ids
            .into_iter()
            .filter(|i| !self.classes.contains_key(i))
            .collect();
        for (id, ci) in cis_of(self.store, &unknown).await? {
            if ci.status == CiStatus::Active {
                self.classes.insert(id, ci.class);
            }
        }
        Ok(())
    }

    /// Visit what the tier reached within itself: the ones to expand further in this tier,
    /// and the hosts and devices it reached (walked no further, but their host-level
    /// connections are). A process listening on an entry endpoint is a member.
    fn visit(
        &mut self,
        same: BTreeSet<CiId>,
        rels: &[Relationship],
        t: u32,
    ) -> (Vec<CiId>, Vec<CiId>) {
        let (mut fresh, mut new_hosts) = (Vec::new(), Vec::new());
        for id in same {
            let Some(c) = self.classes.get(&id).copied() else {
                continue;
            };
            if c == CiClass::BusinessService || self.visited.contains(&id) {
                continue;
            }
            if is_device(c) {
                new_hosts.push(id.clone());
            }
            if self.visited.len() >= MAX_MAP_CIS {
                self.res.truncated = true;
                break;
            }
            self.visited.insert(id.clone());
            let entry = &self.res.entry_endpoints;
            if c == CiClass::Process
                && t == 1
                && rels.iter().any(|r| {
                    r.rel_type == RelType::ListensOn && r.from == id && entry.contains(&r.to)
                })
            {
                self.res.members.insert(id.clone());
            }
            if !is_device(c) {
                fresh.push(id);
            }
        }
        (fresh, new_hosts)
    }

    /// A host of the map that holds connections without a known owning process: what it
    /// connects to is the next tier too (what on the host relies on it is decided once the
    /// map is known).
    async fn host_level_targets(
        &mut self,
        new_hosts: &[CiId],
        outward: &mut BTreeSet<CiId>,
    ) -> Result<(), StoreError> {
        if new_hosts.is_empty() {
            return Ok(());
        }
        let host_level = rels_of(
            self.store,
            new_hosts,
            Direction::Out,
            &[RelType::CommunicatesWith],
        )
        .await?;
        self.learn_classes(host_level.iter().map(|r| r.to.clone()).collect())
            .await?;
        for r in host_level {
            if self
                .classes
                .get(&r.to)
                .is_some_and(|c| *c != CiClass::BusinessService)
            {
                self.hosts
                    .targets
                    .entry(r.from.clone())
                    .or_default()
                    .insert(r.to.clone());
                outward.insert(r.to);
            }
        }
        Ok(())
    }
}

/// Where a tier's relationships lead from its `fresh` CIs: within the tier (`same`: an
/// endpoint's listening processes and host, a pool's backends, a process's host) and to the
/// next tier (`outward`: a process's connections and dependencies).
fn links(
    rels: &[Relationship],
    fresh: &[CiId],
    classes: &HashMap<CiId, CiClass>,
) -> (BTreeSet<CiId>, BTreeSet<CiId>) {
    let fresh_set: BTreeSet<&CiId> = fresh.iter().collect();
    let mut same: BTreeSet<CiId> = BTreeSet::new();
    let mut outward: BTreeSet<CiId> = BTreeSet::new();
    for r in rels {
        let from_class = classes.get(&r.from).copied();
        let to_class = classes.get(&r.to).copied();
        let into = fresh_set.contains(&r.to);
        let out_of = fresh_set.contains(&r.from);
        match r.rel_type {
            // process LISTENS_ON endpoint: the endpoint's providers; host CONTAINS endpoint:
            // where the endpoint lives.
            RelType::ListensOn | RelType::Contains
                if into && to_class == Some(CiClass::ListeningEndpoint) =>
            {
                same.insert(r.from.clone());
            }
            // backend PART_OF pool.
            RelType::PartOf if into && to_class == Some(CiClass::Cluster) => {
                same.insert(r.from.clone());
            }
            RelType::RunsOn if out_of && from_class == Some(CiClass::Process) => {
                same.insert(r.to.clone());
            }
            RelType::ConnectsTo | RelType::DependsOn
                if out_of && from_class == Some(CiClass::Process) =>
            {
                outward.insert(r.to.clone());
            }
            _ => {}
        }
    }
    (same, outward)
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
