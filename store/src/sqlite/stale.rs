//! Scoped staleness after a complete run: the rule is `cmdb_model::StalePlan`; this reads the
//! sightings it needs and applies it.

use std::collections::HashSet;

use cmdb_model::{Actor, CiId, Delta, RelKey, StalePlan};
use rusqlite::{params, Transaction};

use super::codec::insert_history;
use super::EdgeChange;
use crate::StoreError;

/// After a complete run over a scope: what this source saw there before and not now loses
/// that sighting; what no source sees any more becomes STALE (CIs) or CLOSED (relationships).
pub(super) fn mark_stale(
    tx: &Transaction<'_>,
    d: &Delta,
    edges: &mut Vec<EdgeChange>,
) -> Result<(usize, usize), StoreError> {
    if !d.scope.marks_staleness() {
        return Ok((0, 0));
    }
    let gone = take_older_sightings(tx, d)?;
    let plan = StalePlan::new(&gone, &still_seen(tx, &gone)?);
    let mut staled: HashSet<CiId> = HashSet::new();
    for id in plan.cis() {
        let n = tx
            .prepare_cached("UPDATE cis SET status = 'STALE' WHERE id = ?1 AND status = 'ACTIVE'")?
            .execute([id.as_str()])?;
        if n > 0 {
            staled.insert(id.clone());
        }
    }
    let mut closed: HashSet<RelKey> = HashSet::new();
    for k in plan.relationships() {
        let n = tx
            .prepare_cached("UPDATE rels SET status = 'CLOSED' WHERE from_id = ?1 AND type = ?2 AND to_id = ?3 AND status = 'ACTIVE'")?
            .execute(params![k.from.as_str(), k.rel_type.as_str(), k.to.as_str()])?;
        if n > 0 {
            closed.insert(k.clone());
            edges.push((k.from.to_string(), k.rel_type, k.to.to_string(), false));
        }
    }
    let by = Actor::run(d.source.clone(), d.run_id.clone(), d.at);
    for h in &plan.outcome(&staled, &closed, &by).history {
        insert_history(tx, h)?;
    }
    Ok((staled.len(), closed.len()))
}

/// This source's sightings on the scope's targets from older runs, deleted; their entities
/// in the order found.
fn take_older_sightings(tx: &Transaction<'_>, d: &Delta) -> Result<Vec<String>, StoreError> {
    let mut gone = Vec::new();
    for target in &d.scope.targets {
        let p = params![d.source.as_str(), target, d.run_id.as_str()];
        let mut stmt = tx.prepare_cached(
            "SELECT entity FROM sightings WHERE source = ?1 AND target = ?2 AND run_id != ?3",
        )?;
        for r in stmt.query_map(p, |r| r.get::<_, String>(0))? {
            gone.push(r?);
        }
        tx.prepare_cached(
            "DELETE FROM sightings WHERE source = ?1 AND target = ?2 AND run_id != ?3",
        )?
        .execute(p)?;
    }
    Ok(gone)
}

/// Which of `entities` some sighting still names.
fn still_seen(tx: &Transaction<'_>, entities: &[String]) -> Result<HashSet<String>, StoreError> {
    let mut stmt =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM sightings WHERE entity = ?1)")?;
    let mut out = HashSet::new();
    for e in entities {
        if !out.contains(e) && stmt.query_row([e], |r| r.get::<_, bool>(0))? {
            out.insert(e.clone());
        }
    }
    Ok(out)
}
