//! Scoped staleness after a complete run: the rule is `cmdb_model::StalePlan`; this reads the
//! sightings it needs and applies it in batches.

use std::collections::{BTreeSet, HashSet};

use cmdb_model::{Actor, CiId, Delta, RelKey, StalePlan};
use serde::Deserialize;
use serde_json::{json, Value};

use super::apply::{by_type, HistoryWriter};
use super::db::{q, rows_batched, Tx};
use super::rows::source_target;
use crate::StoreError;

#[derive(Deserialize)]
struct Entity {
    entity: String,
}

/// After a complete run over a scope: what this source saw there before and not now loses
/// that sighting; what no source sees any more becomes STALE (CIs) or CLOSED (relationships).
pub(crate) async fn mark_stale(
    tx: &mut Tx,
    d: &Delta,
    batch: usize,
    hist: &mut HistoryWriter,
) -> Result<(usize, usize), StoreError> {
    if !d.scope.marks_staleness() {
        return Ok((0, 0));
    }
    let gone = take_older_sightings(tx, d).await?;
    if gone.is_empty() {
        return Ok((0, 0));
    }
    let plan = StalePlan::new(&gone, &still_seen(tx, &gone, batch).await?);
    let staled = stale_active_cis(tx, &plan, batch).await?;
    let closed = close_active_relationships(tx, &plan, batch).await?;
    let by = Actor::run(d.source.clone(), d.run_id.clone(), d.at);
    for e in &plan.outcome(&staled, &closed, &by).history {
        hist.push(e)?;
    }
    Ok((staled.len(), closed.len()))
}

/// This source's sightings on the scope's targets from older runs, deleted; their entities
/// in the order found.
async fn take_older_sightings(tx: &mut Tx, d: &Delta) -> Result<Vec<String>, StoreError> {
    let mut gone = Vec::new();
    for target in &d.scope.targets {
        let rows: Vec<Entity> = tx
            .rows(q(
                "MATCH (s:Sighting {st: $st}) WHERE s.run_id <> $run WITH s, s.entity AS entity DELETE s RETURN entity",
                json!({ "st": source_target(d.source.as_str(), target), "run": d.run_id.as_str() }),
            )?)
            .await?;
        gone.extend(rows.into_iter().map(|r| r.entity));
    }
    Ok(gone)
}

/// Which of `entities` some sighting still names.
async fn still_seen(
    tx: &mut Tx,
    entities: &[String],
    batch: usize,
) -> Result<HashSet<String>, StoreError> {
    let distinct: BTreeSet<&String> = entities.iter().collect();
    let still: Vec<Entity> = rows_batched(
        tx,
        "UNWIND $rows AS entity MATCH (s:Sighting {entity: entity}) RETURN DISTINCT entity",
        distinct.into_iter().cloned().map(Value::String).collect(),
        batch,
        &json!({}),
    )
    .await?;
    Ok(still.into_iter().map(|e| e.entity).collect())
}

/// The plan's CIs that were ACTIVE, now STALE.
async fn stale_active_cis(
    tx: &mut Tx,
    plan: &StalePlan,
    batch: usize,
) -> Result<HashSet<CiId>, StoreError> {
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let ids = plan.cis().map(|id| Value::String(id.to_string())).collect();
    let done: Vec<Id> = rows_batched(
        tx,
        "UNWIND $rows AS id MATCH (n:CI {id: id}) WHERE n.status = 'ACTIVE' SET n.status = 'STALE' RETURN n.id AS id",
        ids,
        batch,
        &json!({}),
    )
    .await?;
    Ok(done.into_iter().map(|r| CiId(r.id)).collect())
}

/// The plan's relationships that were ACTIVE, now CLOSED.
async fn close_active_relationships(
    tx: &mut Tx,
    plan: &StalePlan,
    batch: usize,
) -> Result<HashSet<RelKey>, StoreError> {
    #[derive(Deserialize)]
    struct Pair {
        f: String,
        t: String,
    }
    let mut closed = HashSet::new();
    for (t, rows) in by_type(plan.relationships()) {
        // The relationship type is a label from the model's enum, never user text.
        let done: Vec<Pair> = rows_batched(
            tx,
            &format!(
                "UNWIND $rows AS r MATCH (a:CI {{id: r.from}})-[e:{}]->(b:CI {{id: r.to}}) WHERE e.status = 'ACTIVE' \
                 SET e.status = 'CLOSED' RETURN a.id AS f, b.id AS t",
                t.as_str()
            ),
            rows,
            batch,
            &json!({}),
        )
        .await?;
        closed.extend(done.into_iter().map(|p| RelKey {
            rel_type: t,
            from: CiId(p.f),
            to: CiId(p.t),
        }));
    }
    Ok(closed)
}
