//! Load-balancer pools inferred from connections (redundancy groups).

use cmdb_model::attrs;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_model::{
    Ci, CiClass, CiId, CiStatus, EvidenceKind, Record, RelType, Relationship, RelationshipObs,
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
    let procs_filter = CiFilter {
        classes: vec![CiClass::Process],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let procs: Vec<CiId> = find_all(store, &procs_filter, usize::MAX)
        .await?
        .0
        .into_iter()
        .map(|c| c.id)
        .collect();
    let mut conns = rels_of(store, &procs, Direction::Out, &[RelType::ConnectsTo]).await?;
    // Host-level connections (no owning process known) form pools of their own.
    let hosts_filter = CiFilter {
        classes: vec![CiClass::Host, CiClass::NetworkDevice],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let hosts: Vec<CiId> = find_all(store, &hosts_filter, usize::MAX)
        .await?
        .0
        .into_iter()
        .map(|c| c.id)
        .collect();
    let host_conns = rels_of(store, &hosts, Direction::Out, &[RelType::CommunicatesWith]).await?;
    let host_set: BTreeSet<&CiId> = hosts.iter().collect();
    conns.extend(
        host_conns
            .into_iter()
            .filter(|r| host_set.contains(&r.from)),
    );
    let targets: Vec<CiId> = conns
        .iter()
        .map(|r| r.to.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let endpoints = cis_of(store, &targets).await?;
    let homes = rels_of(store, &targets, Direction::In, &[RelType::Contains]).await?;
    let home_of: HashMap<&CiId, &CiId> = homes.iter().map(|r| (&r.to, &r.from)).collect();

    // (dependant, host-level, protocol, port) → endpoints per host.
    let mut groups: BTreeMap<(CiId, bool, String, u16), BTreeMap<CiId, BTreeSet<CiId>>> =
        BTreeMap::new();
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
    let wanted: BTreeMap<String, WantedPool> = groups
        .into_iter()
        .filter(|(_, hosts)| hosts.len() >= 2)
        .map(|((dependant, host_level, protocol, port), hosts)| {
            let backends = hosts.into_values().flatten().collect();
            (
                pool_key(&dependant, &protocol, port),
                WantedPool {
                    dependant,
                    host_level,
                    protocol,
                    port,
                    backends,
                },
            )
        })
        .collect();

    // Existing inferred pools, by key.
    let pool_filter = CiFilter {
        classes: vec![CiClass::Cluster],
        tags: vec![POOL_TAG.into()],
        ..Default::default()
    };
    let existing: Vec<Ci> = find_all(store, &pool_filter, usize::MAX).await?.0;
    let mut by_key: BTreeMap<String, Ci> = BTreeMap::new();
    for p in existing {
        if let Some(k) = p.attr_str(attrs::POOL_KEY) {
            by_key.insert(k.to_string(), p);
        }
    }
    let pool_ids: Vec<CiId> = by_key.values().map(|p| p.id.clone()).collect();
    let pool_rels = rels_of(
        store,
        &pool_ids,
        Direction::In,
        &[
            RelType::PartOf,
            RelType::DependsOn,
            RelType::CommunicatesWith,
        ],
    )
    .await?;
    let mut rels_by_pool: HashMap<&CiId, Vec<&Relationship>> = HashMap::new();
    for r in &pool_rels {
        rels_by_pool.entry(&r.to).or_default().push(r);
    }

    // Names for new pools: `pool <process>@<host> → :<port>`, or `pool <host> → :<port>` for a
    // host-level dependant.
    let new_deps: Vec<CiId> = wanted
        .iter()
        .filter(|(k, _)| !by_key.contains_key(*k))
        .map(|(_, w)| w.dependant.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let dep_cis = cis_of(store, &new_deps).await?;
    let runs_on = rels_of(store, &new_deps, Direction::Out, &[RelType::RunsOn]).await?;
    let proc_hosts: HashMap<&CiId, &CiId> = runs_on.iter().map(|r| (&r.from, &r.to)).collect();
    let host_ids: Vec<CiId> = proc_hosts.values().map(|h| (*h).clone()).collect();
    let host_cis = cis_of(store, &host_ids).await?;

    let mut taken_names: BTreeSet<String> =
        by_key.values().map(|p| p.name.to_lowercase()).collect();
    let mut obs = observation();
    for (n, (key, w)) in wanted.iter().enumerate() {
        let pkey = format!("proc{n}");
        let poolkey = format!("pool{n}");
        let present: BTreeSet<CiId> = match by_key.get(key) {
            Some(p) => rels_by_pool
                .get(&p.id)
                .map(|rs| {
                    rs.iter()
                        .filter(|r| r.rel_type == RelType::PartOf)
                        .map(|r| r.from.clone())
                        .collect()
                })
                .unwrap_or_default(),
            None => BTreeSet::new(),
        };
        let (dep_type, dep_kind) = w.edge();
        let depends = by_key.get(key).is_some_and(|p| {
            rels_by_pool.get(&p.id).is_some_and(|rs| {
                rs.iter()
                    .any(|r| r.rel_type == dep_type && r.from == w.dependant)
            })
        });
        let missing: Vec<&CiId> = w
            .backends
            .iter()
            .filter(|b| !present.contains(*b))
            .collect();
        let pool_rec = match by_key.get(key) {
            Some(p) if p.status == CiStatus::Active && p.attr(attrs::MIN_UP).is_some() => {
                if missing.is_empty() && depends {
                    continue;
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
                let dep_name = dep_cis
                    .get(&w.dependant)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| w.dependant.to_string());
                let mut name = if w.host_level {
                    format!("pool {dep_name} → :{}", w.port)
                } else {
                    let host_name = proc_hosts
                        .get(&w.dependant)
                        .and_then(|h| host_cis.get(*h))
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| "?".into());
                    format!("pool {dep_name}@{host_name} → :{}", w.port)
                };
                if w.protocol != "tcp" {
                    name = format!("{name}/{}", w.protocol);
                }
                if taken_names.contains(&name.to_lowercase()) {
                    name = format!("{name} ({})", w.dependant);
                }
                taken_names.insert(name.to_lowercase());
                report.pools_created += 1;
                Record::new(&poolkey, CiClass::Cluster)
                    .name(name.clone())
                    .ident("name", name)
                    .tag(POOL_TAG)
                    .attr(attrs::MIN_UP, 1)
                    .attr(attrs::INFERRED, true)
                    .attr(attrs::POOL_KEY, key.as_str())
                    .attr(attrs::PROTOCOL, w.protocol.as_str())
                    .attr(attrs::PORT, w.port)
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
        if obs.records.len() >= BATCH {
            ingest_checked(store, std::mem::replace(&mut obs, observation()), opts).await?;
        }
    }
    if !obs.records.is_empty() {
        ingest_checked(store, obs, opts).await?;
    }

    // Backends and pools that are gone.
    for (key, pool) in &by_key {
        let rels = rels_by_pool.get(&pool.id).cloned().unwrap_or_default();
        let w = wanted.get(key);
        let mut closed = 0usize;
        for r in &rels {
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
    Ok(report)
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
