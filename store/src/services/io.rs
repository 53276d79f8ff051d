//! Reading and writing the graph the way every mapper does: paginated finds, relationships of
//! many CIs in batches, and writes as observations of the mapper's source through reconciliation.

use cmdb_model::attrs;
use std::collections::HashMap;

use cmdb_model::{
    Ci, CiId, Observation, Record, RelStatus, RelType, Relationship, RunId, Scope, Source,
};
use serde_json::Value;

use crate::{
    CiFilter, CiOrder, Direction, GraphStore, IngestOptions, PageRequest, RelQuery, StoreError,
};

use super::{BATCH, MAPPER_SOURCE, PAGE};

pub(super) fn mapper() -> Source {
    Source::new(MAPPER_SOURCE)
}

pub(super) fn observation() -> Observation {
    Observation::new(mapper(), RunId::generate(), Scope::none())
}

/// A bare reference: a relationship end that reconciliation never modifies or sights.
pub(super) fn reference(key: &str, id: &CiId) -> Record {
    Record {
        key: key.into(),
        class: None,
        id: Some(id.clone()),
        ..Default::default()
    }
}

pub(super) async fn find_all(
    store: &dyn GraphStore,
    filter: &CiFilter,
    cap: usize,
) -> Result<(Vec<Ci>, bool), StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .find(
                filter,
                CiOrder::default(),
                &PageRequest {
                    first: Some(PAGE),
                    after,
                    ..Default::default()
                },
            )
            .await?;
        let next = page.items.last().map(|(c, _)| c.clone());
        out.extend(page.items.into_iter().map(|(_, ci)| ci));
        if out.len() > cap {
            out.truncate(cap);
            return Ok((out, true));
        }
        if !page.has_next_page || next.is_none() {
            return Ok((out, false));
        }
        after = next;
    }
}

pub(super) async fn rels_of(
    store: &dyn GraphStore,
    ids: &[CiId],
    direction: Direction,
    types: &[RelType],
) -> Result<Vec<Relationship>, StoreError> {
    let q = RelQuery {
        direction,
        types: types.to_vec(),
        include_closed: false,
    };
    let mut out = Vec::new();
    for chunk in ids.chunks(BATCH) {
        out.extend(
            store
                .relationships(chunk, &q)
                .await?
                .into_iter()
                .filter(|r| r.status == RelStatus::Active),
        );
    }
    Ok(out)
}

pub(super) async fn cis_of(
    store: &dyn GraphStore,
    ids: &[CiId],
) -> Result<HashMap<CiId, Ci>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        for ci in store.get_many(chunk).await? {
            out.insert(ci.id.clone(), ci);
        }
    }
    Ok(out)
}

/// Only the mapper supports this relationship.
pub(super) fn mapper_only(r: &Relationship) -> bool {
    !r.evidence.is_empty()
        && r.evidence
            .iter()
            .all(|e| e.source.as_str() == MAPPER_SOURCE)
}

pub(super) fn by_mapper(r: &Relationship) -> bool {
    r.evidence
        .iter()
        .any(|e| e.source.as_str() == MAPPER_SOURCE)
}

pub(super) async fn ingest_checked(
    store: &dyn GraphStore,
    obs: Observation,
    opts: &IngestOptions,
) -> Result<crate::IngestReport, StoreError> {
    let report = store
        .ingest(
            obs,
            &IngestOptions {
                dry_run: false,
                ..opts.clone()
            },
        )
        .await?;
    if let Some(e) = report.errors.first() {
        return Err(StoreError::InvalidInput(format!(
            "service mapping was rejected: {} ({}): {}",
            e.record, e.code, e.message
        )));
    }
    Ok(report)
}

pub(super) fn port_of(ci: &Ci) -> Option<u16> {
    match ci.attr(attrs::PORT)? {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn protocol_of(ci: &Ci) -> String {
    ci.attr_str(attrs::PROTOCOL)
        .unwrap_or("tcp")
        .to_ascii_lowercase()
}
