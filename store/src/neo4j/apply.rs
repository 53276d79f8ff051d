//! Applying a reconciled delta inside one explicit transaction, statement for statement the
//! same semantics as the embedded store's `apply_delta` / `apply_merge`; and applying a
//! lifecycle rule's delta (`apply_lifecycle`).
//!
//! Every write is a batched `UNWIND $rows … MERGE` keyed by our own ids (never elementId), so
//! applying the same rows twice changes nothing.

use std::collections::{BTreeMap, HashSet};

use cmdb_model::lifecycle;
use cmdb_model::{
    CiId, Delta, HistoryEntry, LifecycleDelta, RelKey, RelType, Relationship, Sighted, WriteKind,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::db::{q, run_batched, Tx};
use super::rows::{ci_row, history_row, rel_row, sighting_key, source_target, RelRow, REL_FIELDS};
use super::view::fetch_rels;
use crate::StoreError;

/// Statement texts (fixed; labels and types only from the model's enums).
const WRITE_CIS: &str = "UNWIND $rows AS r MERGE (n:CI {id: r.id}) SET n += r.props";
const WRITE_IDENTIFIERS: &str = "UNWIND $rows AS r MERGE (i:CiIdentifier {kc: r.kc}) \
    ON CREATE SET i.key = r.key, i.ci = r.ci, i.parent = r.parent";
const WRITE_HISTORY: &str = "UNWIND $rows AS r CREATE (h:History) SET h = r";
const WRITE_SIGHTINGS: &str = "UNWIND $rows AS r MERGE (s:Sighting {k: r.k}) \
    ON CREATE SET s.source = r.source, s.target = r.target, s.st = r.st, s.entity = r.entity \
    SET s.run_id = r.run_id, s.seen_at = r.seen_at";

fn write_rels_cypher(t: RelType) -> String {
    format!(
        "UNWIND $rows AS r MATCH (a:CI {{id: r.from}}) MATCH (b:CI {{id: r.to}}) MERGE (a)-[e:{}]->(b) SET e += r.props",
        t.as_str()
    )
}

pub(crate) fn identifier_kc(key: &str, ci: &str) -> String {
    format!("{key}\u{1f}{ci}")
}

/// Relationships touching one CI, each query anchored on the indexed end (a pattern with the
/// CI at the far end would scan on ArcadeDB); each relationship once, any status.
pub(crate) async fn touching(tx: &mut Tx, id: &str) -> Result<Vec<Relationship>, StoreError> {
    let mut rows: Vec<RelRow> = Vec::new();
    for pattern in [
        "(a:CI {id: $id})-[e]->(b:CI)",
        "(b:CI {id: $id})<-[e]-(a:CI)",
    ] {
        let stmt = format!("MATCH {pattern} RETURN {REL_FIELDS}");
        rows.extend(tx.rows::<RelRow>(q(&stmt, json!({ "id": id }))?).await?);
    }
    // A self-loop matches from both ends: each relationship once.
    let mut seen = HashSet::new();
    let mut rels = Vec::new();
    for r in rows {
        let r = r.into_rel()?;
        if seen.insert(r.key()) {
            rels.push(r);
        }
    }
    Ok(rels)
}

/// Allocates history sequence numbers (newest = highest) from the `CmdbMeta` counter.
pub(crate) struct HistoryWriter {
    rows: Vec<Value>,
}

impl HistoryWriter {
    pub(crate) fn new() -> Self {
        HistoryWriter { rows: Vec::new() }
    }
    pub(crate) fn push(&mut self, e: &HistoryEntry) -> Result<(), StoreError> {
        // seq is filled in at flush time.
        self.rows.push(history_row(0, e)?);
        Ok(())
    }
    pub(crate) async fn flush(mut self, tx: &mut Tx, batch: usize) -> Result<usize, StoreError> {
        if self.rows.is_empty() {
            return Ok(0);
        }
        #[derive(Deserialize)]
        struct Base {
            base: i64,
        }
        let n = self.rows.len() as i64;
        let base: Vec<Base> = tx
            .rows(q(
                "MERGE (m:CmdbMeta {key: 'history_seq'}) ON CREATE SET m.value = 0 \
                 WITH m, m.value AS base SET m.value = base + $n RETURN base",
                json!({ "n": n }),
            )?)
            .await?;
        let base = base.first().map(|b| b.base).unwrap_or(0);
        for (i, r) in self.rows.iter_mut().enumerate() {
            r["seq"] = json!(base + 1 + i as i64);
        }
        let count = self.rows.len();
        run_batched(
            tx,
            WRITE_HISTORY,
            std::mem::take(&mut self.rows),
            batch,
            &json!({}),
        )
        .await?;
        Ok(count)
    }
}

async fn write_rels(tx: &mut Tx, rels: &[&Relationship], batch: usize) -> Result<(), StoreError> {
    for t in RelType::ALL {
        let rows: Vec<Value> = rels
            .iter()
            .filter(|r| r.rel_type == t)
            .map(|r| rel_row(r))
            .collect::<Result<_, _>>()?;
        if !rows.is_empty() {
            run_batched(tx, &write_rels_cypher(t), rows, batch, &json!({})).await?;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct SightRow {
    source: String,
    target: String,
    run_id: String,
    seen_at: i64,
}

/// Rename sightings of `old` to `new` (a sighting already under `new` is replaced).
async fn rename_sightings(
    tx: &mut Tx,
    old: &str,
    new: &str,
    batch: usize,
) -> Result<(), StoreError> {
    let rows: Vec<SightRow> = tx
        .rows(q(
            "MATCH (s:Sighting {entity: $old}) WITH s, s.source AS source, s.target AS target, s.run_id AS run_id, s.seen_at AS seen_at \
             DELETE s RETURN source, target, run_id, seen_at",
            json!({ "old": old }),
        )?)
        .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let rows = rows
        .into_iter()
        .map(|s| {
            json!({
                "k": sighting_key(&s.source, &s.target, new), "source": s.source, "target": s.target,
                "st": source_target(&s.source, &s.target), "entity": new, "run_id": s.run_id, "seen_at": s.seen_at,
            })
        })
        .collect();
    run_batched(tx, WRITE_SIGHTINGS, rows, batch, &json!({})).await
}

async fn apply_merge(
    tx: &mut Tx,
    from: &CiId,
    into: &CiId,
    batch: usize,
) -> Result<(), StoreError> {
    // Re-point relationships: read them, delete them, write them back under the survivor.
    let rels = touching(tx, from.as_str()).await?;
    tx.run(q(
        "MATCH (n:CI {id: $id})-[e]-() DELETE e",
        json!({ "id": from.as_str() }),
    )?)
    .await?;
    for r in rels {
        let old_key = r.key();
        let Some(new_key) = lifecycle::repointed_key(&old_key, from, into) else {
            continue;
        };
        let existing = fetch_rels(tx, std::slice::from_ref(&new_key), batch)
            .await?
            .into_iter()
            .next();
        let moved = lifecycle::repoint(r, &new_key, existing);
        write_rels(tx, &[&moved], batch).await?;
        rename_sightings(
            tx,
            &Sighted::Relationship(old_key).encode(),
            &Sighted::Relationship(new_key).encode(),
            batch,
        )
        .await?;
    }
    rename_sightings(tx, from.as_str(), into.as_str(), batch).await?;
    let p = json!({ "from": from.as_str(), "into": into.as_str() });
    for stmt in [
        "MATCH (h:History {ci: $from}) SET h.ci = $into",
        "MATCH (h:History {other: $from}) SET h.other = $into",
        "MATCH (i:CiIdentifier {ci: $from}) DELETE i",
        "MATCH (i:CiIdentifier {parent: $from}) DELETE i",
        "MATCH (a:CiAlias {ci: $from}) SET a.ci = $into",
        "MERGE (a:CiAlias {id: $from}) SET a.ci = $into",
        "MATCH (n:CI {id: $from}) DETACH DELETE n",
    ] {
        tx.run(q(stmt, p.clone())?).await?;
    }
    Ok(())
}

/// The delta's CIs: created ones with their class label, the others merged on their id.
async fn write_cis(tx: &mut Tx, d: &Delta, batch: usize) -> Result<(), StoreError> {
    if d.cis.is_empty() {
        return Ok(());
    }
    // New CIs are created with their class label at once (`:CI:Host`): adding a label
    // later costs a record move on ArcadeDB, and adding it in the creating transaction
    // gives false duplicates there. Reconciliation found no CI with these ids, and a
    // retried ingest reconciles again, so CREATE never duplicates.
    for class in cmdb_model::CiClass::ALL {
        let rows = d
            .cis
            .iter()
            .filter(|w| w.kind == WriteKind::Created && w.ci.class == class)
            .map(|w| ci_row(&w.ci))
            .collect::<Result<Vec<_>, _>>()?;
        if !rows.is_empty() {
            let stmt = format!(
                "UNWIND $rows AS r CREATE (n:CI:{}) SET n = r.props, n.id = r.id",
                class.as_str()
            );
            run_batched(tx, &stmt, rows, batch, &json!({})).await?;
        }
    }
    let rows = d
        .cis
        .iter()
        .filter(|w| w.kind != WriteKind::Created)
        .map(|w| ci_row(&w.ci))
        .collect::<Result<Vec<_>, _>>()?;
    if !rows.is_empty() {
        run_batched(tx, WRITE_CIS, rows, batch, &json!({})).await?;
    }
    Ok(())
}

/// Write the delta. Returns the history writer so staleness can add to it.
pub(crate) async fn apply_delta(
    tx: &mut Tx,
    d: &Delta,
    batch: usize,
    hist: &mut HistoryWriter,
) -> Result<(), StoreError> {
    for m in &d.merges {
        apply_merge(tx, &m.from, &m.into, batch).await?;
    }
    if !d.rehomed.is_empty() {
        run_batched(
            tx,
            "UNWIND $rows AS id MATCH (i:CiIdentifier {ci: id}) DELETE i",
            d.rehomed
                .iter()
                .map(|id| Value::String(id.to_string()))
                .collect(),
            batch,
            &json!({}),
        )
        .await?;
    }
    write_cis(tx, d, batch).await?;
    if !d.identifiers.is_empty() {
        let mut seen = HashSet::new();
        let rows: Vec<Value> = d
            .identifiers
            .iter()
            .filter(|e| seen.insert((e.key.clone(), e.ci.clone())))
            .map(|e| json!({"kc": identifier_kc(&e.key, e.ci.as_str()), "key": e.key, "ci": e.ci.as_str(), "parent": e.parent.as_ref().map(CiId::as_str)}))
            .collect();
        run_batched(tx, WRITE_IDENTIFIERS, rows, batch, &json!({})).await?;
    }
    if !d.relationships.is_empty() {
        let rels: Vec<&Relationship> = d.relationships.iter().map(|w| &w.rel).collect();
        write_rels(tx, &rels, batch).await?;
    }
    for h in &d.history {
        hist.push(h)?;
    }
    if !d.scope.targets.is_empty() {
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        for target in &d.scope.targets {
            // Written CIs and relationships, plus what the observation saw unchanged
            // (seen_cis / seen_relationships: sightings only, nothing else is written).
            let entities = d.sighted().map(|s| s.encode());
            for entity in entities {
                let k = sighting_key(d.source.as_str(), target, &entity);
                if !seen.insert(k.clone()) {
                    continue;
                }
                rows.push(json!({
                    "k": k, "source": d.source.as_str(), "target": target, "st": source_target(d.source.as_str(), target),
                    "entity": entity, "run_id": d.run_id.as_str(), "seen_at": super::rows::ms(d.at),
                }));
            }
        }
        run_batched(tx, WRITE_SIGHTINGS, rows, batch, &json!({})).await?;
    }
    Ok(())
}

/// CIs whose class label may be missing or wrong: updated ones (their class may have
/// changed). Created ones got theirs at creation.
pub(crate) fn class_labels_needed(d: &Delta) -> Vec<(String, String)> {
    d.cis
        .iter()
        .filter(|w| w.kind == WriteKind::Updated)
        .map(|w| (w.ci.id.to_string(), w.ci.class.as_str().to_string()))
        .collect()
}

/// Apply a lifecycle rule's delta (`cmdb_model::lifecycle`) and queue its history.
pub(crate) async fn apply_lifecycle(
    tx: &mut Tx,
    d: &LifecycleDelta,
    batch: usize,
    hist: &mut HistoryWriter,
) -> Result<(), StoreError> {
    let none = json!({});
    let statuses = d
        .statuses
        .iter()
        .map(|(id, s)| json!({"id": id.as_str(), "status": s.as_str()}))
        .collect();
    run_batched(
        tx,
        "UNWIND $rows AS r MATCH (n:CI {id: r.id}) SET n.status = r.status",
        statuses,
        batch,
        &none,
    )
    .await?;
    for (keys, set) in [
        (&d.closed, "SET e.status = 'CLOSED'"),
        (&d.deleted_relationships, "DELETE e"),
    ] {
        for (t, rows) in by_type(keys) {
            // The relationship type is a label from the model's enum, never user text.
            let stmt = format!(
                "UNWIND $rows AS r MATCH (a:CI {{id: r.from}})-[e:{}]->(b:CI {{id: r.to}}) {set}",
                t.as_str()
            );
            run_batched(tx, &stmt, rows, batch, &none).await?;
        }
    }
    let forget = d.forget.iter().map(|s| Value::String(s.encode())).collect();
    run_batched(
        tx,
        "UNWIND $rows AS e MATCH (s:Sighting {entity: e}) DELETE s",
        forget,
        batch,
        &none,
    )
    .await?;
    if let Some(id) = &d.deleted_ci {
        for stmt in [
            "MATCH (i:CiIdentifier {ci: $id}) DELETE i",
            "MATCH (a:CiAlias {ci: $id}) DELETE a",
            "MATCH (n:CI {id: $id}) DETACH DELETE n",
        ] {
            tx.run(q(stmt, json!({ "id": id.as_str() }))?).await?;
        }
    }
    for h in &d.history {
        hist.push(h)?;
    }
    Ok(())
}

/// Relationship keys as `{from, to}` rows per type (a Cypher relationship type is a label).
pub(crate) fn by_type<'a>(
    keys: impl IntoIterator<Item = &'a RelKey>,
) -> BTreeMap<RelType, Vec<Value>> {
    let mut out: BTreeMap<RelType, Vec<Value>> = BTreeMap::new();
    for k in keys {
        out.entry(k.rel_type)
            .or_default()
            .push(json!({"from": k.from.as_str(), "to": k.to.as_str()}));
    }
    out
}
