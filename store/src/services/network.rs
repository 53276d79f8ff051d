//! The physical network in impact. Discovery links interfaces (LLDP/CDP neighbours, FDB/ARP
//! edge-port attachments); this turns those links into dependencies the impact engine can use:
//! a device relies on the switches [`cmdb_model::topology`] puts upstream of it — a host on its
//! access switch, an access switch on its uplinks. One upstream device: `D DEPENDS_ON switch`.
//! Several: `D DEPENDS_ON` a group (Cluster tagged [`PATHS_TAG`], `min_up` 1, `at_risk_up` 0)
//! the switches are `PART_OF`, shared by every device with the same upstream set. So a
//! top-of-rack failure takes single-homed hosts DOWN and leaves dual-homed ones DEGRADED, and
//! a single-homed service's switch is one of its single points of failure.
//!
//! Written as observations of source [`NETWORK_SOURCE`] through reconciliation (history, no
//! sightings); only edges and groups that source alone supports are ever closed or retired.

use cmdb_model::attrs;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_model::topology::{upstreams, Device, Link, NETWORK_TIER_ATTR};
use cmdb_model::{
    Ci, CiClass, CiId, CiStatus, EvidenceKind, Observation, Record, RelType, Relationship,
    RelationshipObs, RunId, Scope, Source,
};

use super::io::{cis_of, find_all, ingest_checked, reference, rels_of};
use super::{MappingReport, BATCH};
use crate::{CiFilter, Direction, GraphStore, IngestOptions, StoreError};

/// The source the network mapper writes under.
pub const NETWORK_SOURCE: &str = "network-mapper";
/// Tag of the inferred groups of redundant network paths.
pub const PATHS_TAG: &str = "inferred-network-paths";
/// Attribute of a paths group: its members' ids, sorted, comma-separated (how it is found again).
pub use cmdb_model::attrs::PATHS_KEY as PATHS_KEY_ATTR;

const CONFIDENCE: f64 = 0.8;

fn observation() -> Observation {
    Observation::new(
        Source::new(NETWORK_SOURCE),
        RunId::generate(),
        Scope::none(),
    )
}

fn ours_only(r: &Relationship) -> bool {
    !r.evidence.is_empty()
        && r.evidence
            .iter()
            .all(|e| e.source.as_str() == NETWORK_SOURCE)
}

fn paths_key(members: &BTreeSet<CiId>) -> String {
    members
        .iter()
        .map(CiId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// The links between devices that discovery found, and the devices at their ends.
async fn links(store: &dyn GraphStore) -> Result<(HashMap<CiId, Ci>, Vec<Link>), StoreError> {
    // Every link that matters has a network device at one end: start from those.
    let filter = CiFilter {
        classes: vec![CiClass::NetworkDevice],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let netdevs: Vec<CiId> = find_all(store, &filter, usize::MAX)
        .await?
        .0
        .into_iter()
        .map(|c| c.id)
        .collect();
    let contains = rels_of(store, &netdevs, Direction::Out, &[RelType::Contains]).await?;
    let ports: Vec<CiId> = contains
        .iter()
        .map(|r| r.to.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let linked = rels_of(store, &ports, Direction::Both, &[RelType::LinkedTo]).await?;
    let far: Vec<CiId> = linked
        .iter()
        .flat_map(|r| [r.from.clone(), r.to.clone()])
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let homes = rels_of(store, &far, Direction::In, &[RelType::Contains]).await?;
    let device_of: HashMap<&CiId, &CiId> = homes
        .iter()
        .chain(contains.iter())
        .map(|r| (&r.to, &r.from))
        .collect();
    let device_ids: Vec<CiId> = device_of
        .values()
        .map(|d| (*d).clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let devices: HashMap<CiId, Ci> = cis_of(store, &device_ids)
        .await?
        .into_iter()
        .filter(|(_, c)| {
            c.status == CiStatus::Active
                && matches!(c.class, CiClass::Host | CiClass::NetworkDevice)
        })
        .collect();
    let mut out: BTreeSet<Link> = BTreeSet::new();
    for r in &linked {
        let (Some(a), Some(b)) = (device_of.get(&r.from), device_of.get(&r.to)) else {
            continue;
        };
        if a != b && devices.contains_key(*a) && devices.contains_key(*b) {
            out.insert(Link {
                a: (*a).clone(),
                b: (*b).clone(),
            });
        }
    }
    Ok((devices, out.into_iter().collect()))
}

fn tier_of(ci: &Ci) -> Option<u32> {
    let v = ci.attr(NETWORK_TIER_ATTR)?;
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .and_then(|n| u32::try_from(n).ok())
}

/// Bring the graph's network dependencies in line with the discovered links.
pub async fn infer_network_dependencies(
    store: &dyn GraphStore,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let mut report = MappingReport::default();
    let (devices, links) = links(store).await?;
    let roles: HashMap<CiId, Device> = devices
        .iter()
        .map(|(id, c)| {
            let device = Device {
                class: c.class,
                tier: tier_of(c),
            };
            (id.clone(), device)
        })
        .collect();
    let wanted_up = upstreams(&roles, &links);
    let groups = existing_groups(store).await?;
    let existing = existing_edges(store, &devices, &groups).await?;
    let mut plan = NetworkPlan {
        devices: &devices,
        groups: &groups,
        existing: existing
            .iter()
            .map(|r| (r.rel_type, r.from.clone(), r.to.clone()))
            .collect(),
        obs: observation(),
        wanted_keys: BTreeSet::new(),
        wanted_groups: BTreeSet::new(),
    };
    for (n, (dev, ups)) in wanted_up.iter().enumerate() {
        let n = n + 1;
        let Some(target) = plan.target(n, dev, ups, &mut report) else {
            continue;
        };
        let dkey = format!("d{n}");
        plan.obs.push(reference(&dkey, dev));
        plan.obs.relationships.push(RelationshipObs::new(
            RelType::DependsOn,
            &dkey,
            &target,
            EvidenceKind::Inferred,
            CONFIDENCE,
        ));
        report.network_edges_added += 1;
        if plan.obs.records.len() >= BATCH {
            ingest_checked(store, std::mem::replace(&mut plan.obs, observation()), opts).await?;
        }
    }
    let NetworkPlan {
        obs,
        wanted_keys,
        wanted_groups,
        ..
    } = plan;
    if !obs.relationships.is_empty() {
        ingest_checked(store, obs, opts).await?;
    }
    close_gone_links(
        store,
        &existing,
        &wanted_keys,
        &wanted_groups,
        &groups,
        &mut report,
    )
    .await?;
    retire_unused_groups(store, &groups, &wanted_groups, &mut report).await?;
    Ok(report)
}

/// The groups of redundant paths this mapper made, by their paths key.
async fn existing_groups(store: &dyn GraphStore) -> Result<BTreeMap<String, Ci>, StoreError> {
    let group_filter = CiFilter {
        classes: vec![CiClass::Cluster],
        tags: vec![PATHS_TAG.into()],
        ..Default::default()
    };
    let (groups, _) = find_all(store, &group_filter, usize::MAX).await?;
    let mut by_key: BTreeMap<String, Ci> = BTreeMap::new();
    for g in groups {
        if let Some(k) = g.attr_str(PATHS_KEY_ATTR) {
            by_key.insert(k.to_string(), g);
        }
    }
    Ok(by_key)
}

/// The edges this mapper wrote: into network devices and into its groups.
async fn existing_edges(
    store: &dyn GraphStore,
    devices: &HashMap<CiId, Ci>,
    groups: &BTreeMap<String, Ci>,
) -> Result<Vec<Relationship>, StoreError> {
    let mut targets: Vec<CiId> = devices
        .iter()
        .filter(|(_, c)| c.class == CiClass::NetworkDevice)
        .map(|(id, _)| id.clone())
        .collect();
    targets.extend(groups.values().map(|g| g.id.clone()));
    let types = [RelType::DependsOn, RelType::PartOf];
    Ok(rels_of(store, &targets, Direction::In, &types)
        .await?
        .into_iter()
        .filter(|r| {
            r.evidence
                .iter()
                .any(|e| e.source.as_str() == NETWORK_SOURCE)
        })
        .collect())
}

type EdgeKey = (RelType, CiId, CiId);

/// What is wanted: single upstreams directly, several through a group.
struct NetworkPlan<'a> {
    devices: &'a HashMap<CiId, Ci>,
    groups: &'a BTreeMap<String, Ci>,
    existing: BTreeSet<EdgeKey>,
    obs: Observation,
    wanted_keys: BTreeSet<EdgeKey>,
    wanted_groups: BTreeSet<String>,
}

impl NetworkPlan<'_> {
    /// The record key device `n` is to depend on (its upstream, or the group of its
    /// upstreams, added to the observation as needed); `None` when that is in place already.
    fn target(
        &mut self,
        n: usize,
        dev: &CiId,
        ups: &BTreeSet<CiId>,
        report: &mut MappingReport,
    ) -> Option<String> {
        if ups.len() == 1 {
            let up = ups.iter().next()?;
            let edge = (RelType::DependsOn, dev.clone(), up.clone());
            self.wanted_keys.insert(edge.clone());
            if self.existing.contains(&edge) {
                return None;
            }
            let ukey = format!("u{n}");
            self.obs.push(reference(&ukey, up));
            return Some(ukey);
        }
        let key = paths_key(ups);
        self.wanted_groups.insert(key.clone());
        let gkey = format!("g:{key}");
        let group = self.groups.get(&key);
        if let Some(g) = group {
            let depends = (RelType::DependsOn, dev.clone(), g.id.clone());
            let parts: Vec<EdgeKey> = ups
                .iter()
                .map(|u| (RelType::PartOf, u.clone(), g.id.clone()))
                .collect();
            let complete =
                self.existing.contains(&depends) && parts.iter().all(|p| self.existing.contains(p));
            self.wanted_keys.insert(depends);
            self.wanted_keys.extend(parts);
            if complete && g.status == CiStatus::Active {
                return None;
            }
        }
        if !self.obs.records.iter().any(|r| r.key == gkey) {
            let rec = self.group_record(&gkey, &key, group, ups, report);
            self.obs.push(rec);
            for (i, u) in ups.iter().enumerate() {
                let mkey = format!("{gkey}.m{i}");
                self.obs.push(reference(&mkey, u));
                self.obs.relationships.push(RelationshipObs::new(
                    RelType::PartOf,
                    &mkey,
                    &gkey,
                    EvidenceKind::Inferred,
                    CONFIDENCE,
                ));
            }
        }
        Some(gkey)
    }

    /// A known group: referenced, or updated when it must come back to life; else a new one.
    fn group_record(
        &self,
        gkey: &str,
        key: &str,
        group: Option<&Ci>,
        ups: &BTreeSet<CiId>,
        report: &mut MappingReport,
    ) -> Record {
        match group {
            Some(g) if g.status == CiStatus::Active => reference(gkey, &g.id),
            Some(g) => {
                let mut r = Record::new(gkey, CiClass::Cluster);
                r.id = Some(g.id.clone());
                r.attr(attrs::MIN_UP, 1)
            }
            None => {
                let names: Vec<&str> = ups
                    .iter()
                    .map(|u| {
                        self.devices
                            .get(u)
                            .map(|c| c.name.as_str())
                            .unwrap_or(u.as_str())
                    })
                    .collect();
                let name = format!("network paths {}", names.join(" | "));
                report.network_groups_created += 1;
                Record::new(gkey, CiClass::Cluster)
                    .name(name.clone())
                    .ident("name", name)
                    .tag(PATHS_TAG)
                    .attr(attrs::MIN_UP, 1)
                    .attr(attrs::AT_RISK_UP, 0)
                    .attr(attrs::INFERRED, true)
                    .attr(PATHS_KEY_ATTR, key)
            }
        }
    }
}

/// Links that are gone: their dependencies close (a wanted group keeps its members).
async fn close_gone_links(
    store: &dyn GraphStore,
    existing: &[Relationship],
    wanted_keys: &BTreeSet<EdgeKey>,
    wanted_groups: &BTreeSet<String>,
    groups: &BTreeMap<String, Ci>,
    report: &mut MappingReport,
) -> Result<(), StoreError> {
    for r in existing {
        if !wanted_keys.contains(&(r.rel_type, r.from.clone(), r.to.clone())) && ours_only(r) {
            let is_group_member = r.rel_type == RelType::PartOf;
            let group_wanted = groups
                .iter()
                .any(|(k, g)| g.id == r.to && wanted_groups.contains(k));
            if is_group_member && group_wanted {
                continue;
            }
            store.close_relationship(&r.key(), NETWORK_SOURCE).await?;
            report.network_edges_removed += 1;
        }
    }
    Ok(())
}

/// Groups nobody relies on any more (only this mapper's member edges left) retire.
async fn retire_unused_groups(
    store: &dyn GraphStore,
    groups: &BTreeMap<String, Ci>,
    wanted_groups: &BTreeSet<String>,
    report: &mut MappingReport,
) -> Result<(), StoreError> {
    for (key, g) in groups {
        if !wanted_groups.contains(key) && g.status == CiStatus::Active {
            let left = rels_of(store, std::slice::from_ref(&g.id), Direction::Both, &[]).await?;
            if left
                .iter()
                .all(|r| ours_only(r) && r.rel_type == RelType::PartOf)
            {
                for r in left {
                    store.close_relationship(&r.key(), NETWORK_SOURCE).await?;
                }
                store.retire(&g.id, NETWORK_SOURCE).await?;
                report.network_groups_retired += 1;
            }
        }
    }
    Ok(())
}
