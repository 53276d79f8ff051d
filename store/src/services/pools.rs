//! Load-balancer pools inferred from connections (redundancy groups).

use cmdb_model::attrs;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_model::{
    Ci, CiClass, CiId, CiStatus, EvidenceKind, Observation, Record, RelType, Relationship,
    RelationshipObs,
};

use crate::{CiFilter, Direction, GraphStore, IngestOptions, StoreError};

use super::io::{
    by_mapper, cis_of, find_all, ingest_checked, mapper_only, observation, port_of, protocol_of,
    reference, rels_of,
};
use super::{MappingReport, BATCH, MAPPER_SOURCE, POOL_TAG};

/// A pool wanted by the current connections: `dependant` connects to `backends` (same
/// protocol/port, ≥ 2 hosts). The dependant is a process, or a host whose connections there
/// have no known owner (host-level).
#[derive(Debug, Clone)]
pub(super) struct WantedPool {
    dependant: CiId,
    host_level: bool,
    protocol: String,
    port: u16,
    backends: BTreeSet<CiId>,
}

impl WantedPool {
    /// How the dependant is tied to the pool: a process DEPENDS_ON it; a host only
    /// COMMUNICATES_WITH it (which carries no failure: service mapping decides what on the host
    /// relies on it).
    fn edge(&self) -> (RelType, EvidenceKind) {
        if self.host_level {
            (RelType::CommunicatesWith, EvidenceKind::HostSocket)
        } else {
            (RelType::DependsOn, EvidenceKind::Inferred)
        }
    }
}

pub(super) fn pool_key(dependant: &CiId, protocol: &str, port: u16) -> String {
    format!("{dependant}|{protocol}|{port}")
}

/// Infer pools from connections and bring the graph in line: new pools, new backends, gone
/// backends and gone pools. Manual attributes (`min_up`) and edges someone else asserts stay.
pub async fn infer_pools(
    store: &dyn GraphStore,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let mut report = MappingReport::default();
    let wanted = wanted_pools(store).await?;
    let existing = ExistingPools::load(store).await?;
    let mut names = PoolNames::load(store, &wanted, &existing).await?;
    let mut obs = observation();
    for (n, (key, w)) in wanted.iter().enumerate() {
        add_pool(&mut obs, n, key, w, &existing, &mut names, &mut report);
        if obs.records.len() >= BATCH {
            ingest_checked(store, std::mem::replace(&mut obs, observation()), opts).await?;
        }
    }
    if !obs.records.is_empty() {
        ingest_checked(store, obs, opts).await?;
    }
    remove_gone(store, &wanted, &existing, &mut report).await?;
    Ok(report)
}

/// The ids of the ACTIVE CIs of these classes.
async fn active_ids(store: &dyn GraphStore, classes: &[CiClass]) -> Result<Vec<CiId>, StoreError> {
    let filter = CiFilter {
        classes: classes.to_vec(),
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let (cis, _) = find_all(store, &filter, usize::MAX).await?;
    Ok(cis.into_iter().map(|c| c.id).collect())
}

/// The connections pools are inferred from: processes' `CONNECTS_TO`, and host-level
/// `COMMUNICATES_WITH` (no owning process known), which form pools of their own.
async fn pool_connections(store: &dyn GraphStore) -> Result<Vec<Relationship>, StoreError> {
    let procs = active_ids(store, &[CiClass::Process]).await?;
    let mut conns = rels_of(store, &procs, Direction::Out, &[RelType::ConnectsTo]).await?;
    let hosts = active_ids(store, &[CiClass::Host, CiClass::NetworkDevice]).await?;
    let host_conns = rels_of(store, &hosts, Direction::Out, &[RelType::CommunicatesWith]).await?;
    let host_set: BTreeSet<&CiId> = hosts.iter().collect();
    conns.extend(
        host_conns
            .into_iter()
            .filter(|r| host_set.contains(&r.from)),
    );
    Ok(conns)
}

/// What connections are grouped by into a candidate pool: (dependant, host-level, protocol,
/// port).
type PoolGroup = (CiId, bool, String, u16);

/// A candidate pool's endpoints, per host they live on.
type EndpointsByHost = BTreeMap<CiId, BTreeSet<CiId>>;

/// The pools the current connections call for, by pool key: a dependant connecting to ACTIVE
/// endpoints of one protocol/port on two hosts or more.
async fn wanted_pools(store: &dyn GraphStore) -> Result<BTreeMap<String, WantedPool>, StoreError> {
    let conns = pool_connections(store).await?;
    let targets: Vec<CiId> = conns
        .iter()
        .map(|r| r.to.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let endpoints = cis_of(store, &targets).await?;
    let homes = rels_of(store, &targets, Direction::In, &[RelType::Contains]).await?;
    let home_of: HashMap<&CiId, &CiId> = homes.iter().map(|r| (&r.to, &r.from)).collect();
    let mut groups: BTreeMap<PoolGroup, EndpointsByHost> = BTreeMap::new();
    for r in &conns {
        let Some(ep) = endpoints.get(&r.to) else {
            continue;
        };
        if ep.class != CiClass::ListeningEndpoint || ep.status != CiStatus::Active {
            continue;
        }
        let (Some(port), Some(host)) = (port_of(ep), home_of.get(&ep.id)) else {
            continue;
        };
        let host_level = r.rel_type == RelType::CommunicatesWith;
        groups
            .entry((r.from.clone(), host_level, protocol_of(ep), port))
            .or_default()
            .entry((*host).clone())
            .or_default()
            .insert(ep.id.clone());
    }
    Ok(groups
        .into_iter()
        .filter(|(_, hosts)| hosts.len() >= 2)
        .map(|((dependant, host_level, protocol, port), hosts)| {
            let backends = hosts.into_values().flatten().collect();
            let key = pool_key(&dependant, &protocol, port);
            let pool = WantedPool {
                dependant,
                host_level,
                protocol,
                port,
                backends,
            };
            (key, pool)
        })
        .collect())
}

/// The inferred pools in the graph, by pool key, with the relationships into each.
struct ExistingPools {
    by_key: BTreeMap<String, Ci>,
    rels: HashMap<CiId, Vec<Relationship>>,
}

impl ExistingPools {
    async fn load(store: &dyn GraphStore) -> Result<ExistingPools, StoreError> {
        let pool_filter = CiFilter {
            classes: vec![CiClass::Cluster],
            tags: vec![POOL_TAG.into()],
            ..Default::default()
        };
        let (existing, _) = find_all(store, &pool_filter, usize::MAX).await?;
        let mut by_key: BTreeMap<String, Ci> = BTreeMap::new();
        for p in existing {
            if let Some(k) = p.attr_str(attrs::POOL_KEY) {
                by_key.insert(k.to_string(), p);
            }
        }
        let pool_ids: Vec<CiId> = by_key.values().map(|p| p.id.clone()).collect();
        let types = [
            RelType::PartOf,
            RelType::DependsOn,
            RelType::CommunicatesWith,
        ];
        let mut rels: HashMap<CiId, Vec<Relationship>> = HashMap::new();
        for r in rels_of(store, &pool_ids, Direction::In, &types).await? {
            rels.entry(r.to.clone()).or_default().push(r);
        }
        Ok(ExistingPools { by_key, rels })
    }

    fn rels_of(&self, pool: &Ci) -> &[Relationship] {
        self.rels.get(&pool.id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The backends the pool under `key` has now (`PART_OF`).
    fn backends(&self, key: &str) -> BTreeSet<CiId> {
        let Some(p) = self.by_key.get(key) else {
            return BTreeSet::new();
        };
        self.rels_of(p)
            .iter()
            .filter(|r| r.rel_type == RelType::PartOf)
            .map(|r| r.from.clone())
            .collect()
    }

    /// Is the wanted pool's dependant tied to it already?
    fn ties(&self, key: &str, w: &WantedPool) -> bool {
        let (dep_type, _) = w.edge();
        self.by_key.get(key).is_some_and(|p| {
            self.rels_of(p)
                .iter()
                .any(|r| r.rel_type == dep_type && r.from == w.dependant)
        })
    }
}

/// Names for new pools: `pool <process>@<host> → :<port>`, or `pool <host> → :<port>` for a
/// host-level dependant; `/<protocol>` when not TCP; the dependant's id when taken.
struct PoolNames {
    dependants: HashMap<CiId, Ci>,
    host_of: HashMap<CiId, CiId>,
    hosts: HashMap<CiId, Ci>,
    taken: BTreeSet<String>,
}

impl PoolNames {
    async fn load(
        store: &dyn GraphStore,
        wanted: &BTreeMap<String, WantedPool>,
        existing: &ExistingPools,
    ) -> Result<PoolNames, StoreError> {
        let new_deps: Vec<CiId> = wanted
            .iter()
            .filter(|(k, _)| !existing.by_key.contains_key(*k))
            .map(|(_, w)| w.dependant.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let dependants = cis_of(store, &new_deps).await?.into_iter().collect();
        let runs_on = rels_of(store, &new_deps, Direction::Out, &[RelType::RunsOn]).await?;
        let host_of: HashMap<CiId, CiId> = runs_on.into_iter().map(|r| (r.from, r.to)).collect();
        let host_ids: Vec<CiId> = host_of.values().cloned().collect();
        let hosts = cis_of(store, &host_ids).await?.into_iter().collect();
        let taken = existing
            .by_key
            .values()
            .map(|p| p.name.to_lowercase())
            .collect();
        Ok(PoolNames {
            dependants,
            host_of,
            hosts,
            taken,
        })
    }

    fn name(&mut self, w: &WantedPool) -> String {
        let dep_name = self
            .dependants
            .get(&w.dependant)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| w.dependant.to_string());
        let mut name = if w.host_level {
            format!("pool {dep_name} → :{}", w.port)
        } else {
            let host_name = self
                .host_of
                .get(&w.dependant)
                .and_then(|h| self.hosts.get(h))
                .map(|c| c.name.clone())
                .unwrap_or_else(|| "?".into());
            format!("pool {dep_name}@{host_name} → :{}", w.port)
        };
        if w.protocol != "tcp" {
            name = format!("{name}/{}", w.protocol);
        }
        if self.taken.contains(&name.to_lowercase()) {
            name = format!("{name} ({})", w.dependant);
        }
        self.taken.insert(name.to_lowercase());
        name
    }
}

/// Add to `obs` what the wanted pool `n` (under `key`) lacks: the pool itself (new, or back
/// from STALE/RETIRED, or without `min_up`), its dependant's edge and its missing backends.
fn add_pool(
    obs: &mut Observation,
    n: usize,
    key: &str,
    w: &WantedPool,
    existing: &ExistingPools,
    names: &mut PoolNames,
    report: &mut MappingReport,
) {
    let pkey = format!("proc{n}");
    let poolkey = format!("pool{n}");
    let present = existing.backends(key);
    let (dep_type, dep_kind) = w.edge();
    let depends = existing.ties(key, w);
    let missing: Vec<&CiId> = w
        .backends
        .iter()
        .filter(|b| !present.contains(*b))
        .collect();
    let pool_rec = match existing.by_key.get(key) {
        Some(p) if p.status == CiStatus::Active && p.attr(attrs::MIN_UP).is_some() => {
            if missing.is_empty() && depends {
                return;
            }
            reference(&poolkey, &p.id)
        }
        Some(p) => {
            // Retired or STALE pool coming back, or `min_up` lost: an update reactivates it.
            let mut rec = Record::new(&poolkey, CiClass::Cluster);
            rec.id = Some(p.id.clone());
            if p.attr(attrs::MIN_UP).is_none() {
                rec = rec.attr(attrs::MIN_UP, 1);
            }
            rec
        }
        None => {
            report.pools_created += 1;
            new_pool_record(&poolkey, key, w, names.name(w))
        }
    };
    obs.push(pool_rec);
    obs.push(reference(&pkey, &w.dependant));
    if !depends {
        obs.relationships.push(RelationshipObs::new(
            dep_type, &pkey, &poolkey, dep_kind, 0.8,
        ));
        report.pool_edges_added += 1;
    }
    for (i, b) in missing.iter().enumerate() {
        let bkey = format!("{poolkey}.b{i}");
        obs.push(reference(&bkey, b));
        obs.relationships.push(RelationshipObs::new(
            RelType::PartOf,
            &bkey,
            &poolkey,
            EvidenceKind::Inferred,
            0.8,
        ));
        report.pool_edges_added += 1;
    }
}

fn new_pool_record(record: &str, key: &str, w: &WantedPool, name: String) -> Record {
    Record::new(record, CiClass::Cluster)
        .name(name.clone())
        .ident("name", name)
        .tag(POOL_TAG)
        .attr(attrs::MIN_UP, 1)
        .attr(attrs::INFERRED, true)
        .attr(attrs::POOL_KEY, key)
        .attr(attrs::PROTOCOL, w.protocol.as_str())
        .attr(attrs::PORT, w.port)
}

/// Backends and pools that are gone: the mapper's own edges no connection calls for are
/// closed, and a pool nothing else holds is retired.
async fn remove_gone(
    store: &dyn GraphStore,
    wanted: &BTreeMap<String, WantedPool>,
    existing: &ExistingPools,
    report: &mut MappingReport,
) -> Result<(), StoreError> {
    for (key, pool) in &existing.by_key {
        let rels = existing.rels_of(pool);
        let w = wanted.get(key);
        let mut closed = 0usize;
        for r in rels {
            let keep = match (w, r.rel_type) {
                (Some(w), RelType::PartOf) => w.backends.contains(&r.from),
                (Some(w), t) => w.edge().0 == t && w.dependant == r.from,
                _ => false,
            };
            if !keep && by_mapper(r) && mapper_only(r) {
                store.close_relationship(&r.key(), MAPPER_SOURCE).await?;
                closed += 1;
            }
        }
        report.pool_edges_removed += closed;
        if w.is_none() && pool.status != CiStatus::Retired && closed == rels.len() {
            // Nothing but the mapper's own edges held it: the pool is gone.
            let others =
                rels_of(store, std::slice::from_ref(&pool.id), Direction::Both, &[]).await?;
            if others.is_empty() {
                store.retire(&pool.id, MAPPER_SOURCE).await?;
                report.pools_retired += 1;
            }
        }
    }
    Ok(())
}

/// Members a group has (active `PART_OF`).
pub async fn group_members(store: &dyn GraphStore, group: &CiId) -> Result<Vec<CiId>, StoreError> {
    let rels = rels_of(
        store,
        std::slice::from_ref(group),
        Direction::In,
        &[RelType::PartOf],
    )
    .await?;
    Ok(rels
        .into_iter()
        .filter(|r| &r.to == group)
        .map(|r| r.from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

/// Inferred pools left with no active relationship at all (their backends' connections were
/// handed to processes, which have pools of their own) are retired.
pub(super) async fn retire_empty_pools(store: &dyn GraphStore) -> Result<usize, StoreError> {
    let pool_filter = CiFilter {
        classes: vec![CiClass::Cluster],
        tags: vec![POOL_TAG.into()],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let pools: Vec<CiId> = find_all(store, &pool_filter, usize::MAX)
        .await?
        .0
        .into_iter()
        .map(|c| c.id)
        .collect();
    let linked: BTreeSet<CiId> = rels_of(store, &pools, Direction::Both, &[])
        .await?
        .into_iter()
        .flat_map(|r| [r.from, r.to])
        .collect();
    let mut retired = 0;
    for p in pools.iter().filter(|p| !linked.contains(*p)) {
        store.retire(p, MAPPER_SOURCE).await?;
        retired += 1;
    }
    Ok(retired)
}
