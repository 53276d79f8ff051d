//! Dependencies that host-level connections (no owning process known) stand for on a service's
//! map: written and closed by the maps that want them.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::{Ci, CiId, EvidenceKind, RelType, Relationship, RelationshipObs};
use serde_json::Value;

use crate::{Direction, GraphStore, IngestOptions, StoreError};

use super::io::{ingest_checked, mapper_only, observation, reference, rels_of};
use super::BATCH;
use crate::services::MAPPER_SOURCE;

pub use cmdb_model::attrs::MAP_INFERRED_DEPENDENCIES;

/// The `(dependant, target)` pairs a service's map wrote for host-level connections.
pub(super) fn inferred_dependencies_of(svc: &Ci) -> BTreeSet<(CiId, CiId)> {
    let Some(Value::Array(items)) = svc.attr(MAP_INFERRED_DEPENDENCIES) else {
        return BTreeSet::new();
    };
    items
        .iter()
        .filter_map(|v| {
            let a = v.as_array()?;
            Some((
                CiId(a.first()?.as_str()?.to_string()),
                CiId(a.get(1)?.as_str()?.to_string()),
            ))
        })
        .collect()
}

/// Confidence of a dependency guessed from host-level connections: below the 0.5 that
/// change risk calls low, so answers resting on it say so.
pub const HOST_LEVEL_CONFIDENCE: f64 = 0.4;

/// Bring the graph's host-level DEPENDS_ON edges in line with what one map wants: write the
/// missing ones, close those it no longer wants that no other map keeps (`others`) and that
/// only the mapper supports. Returns (added, removed).
pub(super) async fn apply_host_level_dependencies(
    store: &dyn GraphStore,
    previous: &BTreeSet<(CiId, CiId)>,
    wanted: &BTreeSet<(CiId, CiId)>,
    others: &BTreeSet<(CiId, CiId)>,
    opts: &IngestOptions,
) -> Result<(usize, usize), StoreError> {
    let dependants: Vec<CiId> = wanted
        .iter()
        .chain(previous.iter())
        .map(|(d, _)| d.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let existing: BTreeMap<(CiId, CiId), Relationship> =
        rels_of(store, &dependants, Direction::Out, &[RelType::DependsOn])
            .await?
            .into_iter()
            .map(|r| ((r.from.clone(), r.to.clone()), r))
            .collect();
    let mut obs = observation();
    let mut added = 0;
    for (i, (d, t)) in wanted
        .iter()
        .filter(|k| !existing.contains_key(*k))
        .enumerate()
    {
        let (dk, tk) = (format!("d{i}"), format!("t{i}"));
        obs.push(reference(&dk, d));
        obs.push(reference(&tk, t));
        obs.relationships.push(RelationshipObs::new(
            RelType::DependsOn,
            dk,
            tk,
            EvidenceKind::HostSocket,
            HOST_LEVEL_CONFIDENCE,
        ));
        added += 1;
        if obs.records.len() >= BATCH {
            ingest_checked(store, std::mem::replace(&mut obs, observation()), opts).await?;
        }
    }
    if !obs.relationships.is_empty() {
        ingest_checked(store, obs, opts).await?;
    }
    let mut removed = 0;
    for k in previous
        .iter()
        .filter(|k| !wanted.contains(*k) && !others.contains(*k))
    {
        if let Some(r) = existing.get(k) {
            if mapper_only(r) && r.rests_on_host_level() {
                store.close_relationship(&r.key(), MAPPER_SOURCE).await?;
                removed += 1;
            }
        }
    }
    Ok((added, removed))
}
