//! Applying a reconciled delta inside the write transaction: CI and relationship rows,
//! merges, identifier keys, history and sightings; and loading a whole-graph snapshot.

use std::collections::HashSet;

use cmdb_model::lifecycle;
use cmdb_model::{Ci, CiId, Delta, LifecycleDelta, RelStatus, Relationship, Sighted, WriteKind};
use rusqlite::{params, Transaction};

use super::codec::*;
use super::view::get_rel;
use super::EdgeChange;
use super::EmbeddedStore;
use crate::graph_changes;
use crate::StoreError;

impl EmbeddedStore {
    /// Insert a whole-graph snapshot verbatim (ids, provenance, evidence, history kept) in one
    /// transaction, then rebuild the adjacency index. For `cmdb migrate`; the store should be
    /// empty (existing rows with the same ids are overwritten).
    pub fn load_snapshot(&self, snap: &crate::snapshot::Snapshot) -> Result<(), StoreError> {
        if self.is_empty()? {
            // Into an empty store: sorted inserts, indexes after (`bulk_write.rs`). Should
            // someone write first, overwrite row by row as below.
            match self.write_empty(super::bulk_write::snapshot_tables(snap)) {
                Err(StoreError::Conflict(_)) => {}
                done => return done,
            }
        }
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for ci in &snap.cis {
                write_ci(&tx, ci, WriteKind::Created, false)?;
            }
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO identifiers (key, ci_id, parent) VALUES (?1, ?2, ?3)",
                )?;
                for e in &snap.identifiers {
                    stmt.execute(params![
                        e.key,
                        e.ci.as_str(),
                        e.parent.as_ref().map(CiId::as_str)
                    ])?;
                }
            }
            for r in &snap.relationships {
                write_rel(&tx, r)?;
            }
            for h in &snap.history {
                insert_history(&tx, h)?;
            }
            // Too much to list: every open store reloads its index.
            graph_changes::log(&tx, None)?;
            tx.commit()?;
            Ok(())
        })?;
        self.catch_up()
    }
}

pub(super) fn write_ci(
    tx: &Transaction<'_>,
    ci: &Ci,
    kind: WriteKind,
    touch_only: bool,
) -> Result<(), StoreError> {
    if touch_only {
        tx.prepare_cached("UPDATE cis SET last_seen = ?2 WHERE id = ?1")?
            .execute(params![ci.id.as_str(), ms(ci.last_seen)])?;
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO cis (id, class, name, status, placeholder, first_seen, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET class = excluded.class, name = excluded.name, status = excluded.status,
           placeholder = excluded.placeholder, first_seen = excluded.first_seen, last_seen = excluded.last_seen, body = excluded.body",
    )?;
    stmt.execute(rusqlite::params_from_iter(ci_row(ci)?))?;
    if kind != WriteKind::Unchanged {
        if kind == WriteKind::Updated {
            tx.prepare_cached("DELETE FROM ci_tags WHERE ci_id = ?1")?
                .execute([ci.id.as_str()])?;
            tx.prepare_cached("DELETE FROM ci_sources WHERE ci_id = ?1")?
                .execute([ci.id.as_str()])?;
        }
        let mut t =
            tx.prepare_cached("INSERT OR IGNORE INTO ci_tags (tag, ci_id) VALUES (?1, ?2)")?;
        for tag in &ci.tags {
            t.execute(params![tag, ci.id.as_str()])?;
        }
        let mut s =
            tx.prepare_cached("INSERT OR IGNORE INTO ci_sources (source, ci_id) VALUES (?1, ?2)")?;
        for src in &ci.sources {
            s.execute(params![src.as_str(), ci.id.as_str()])?;
        }
    }
    Ok(())
}

pub(super) fn write_rel(tx: &Transaction<'_>, r: &Relationship) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO rels (from_id, type, to_id, status, first_seen, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (from_id, type, to_id) DO UPDATE SET status = excluded.status, first_seen = excluded.first_seen,
           last_seen = excluded.last_seen, body = excluded.body",
    )?;
    stmt.execute(params![
        r.from.as_str(),
        r.rel_type.as_str(),
        r.to.as_str(),
        r.status.as_str(),
        ms(r.first_seen),
        ms(r.last_seen),
        rel_body_json(r)?
    ])?;
    Ok(())
}

pub(super) fn apply_merge(
    tx: &Transaction<'_>,
    from: &CiId,
    into: &CiId,
    dirty: &mut HashSet<String>,
) -> Result<(), StoreError> {
    dirty.insert(from.to_string());
    dirty.insert(into.to_string());
    // Re-point relationships.
    let rels = {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 OR to_id = ?1"
        ))?;
        let rows = stmt.query_map([from.as_str()], row_to_rel)?;
        collect(rows)?
    };
    for r in rels {
        let old_key = r.key();
        tx.prepare_cached("DELETE FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3")?
            .execute(params![
                old_key.from.as_str(),
                old_key.rel_type.as_str(),
                old_key.to.as_str()
            ])?;
        dirty.extend([r.from.to_string(), r.to.to_string()]);
        let Some(new_key) = lifecycle::repointed_key(&old_key, from, into) else {
            continue;
        };
        let existing = get_rel(tx, &new_key)?;
        let moved = lifecycle::repoint(r, &new_key, existing);
        write_rel(tx, &moved)?;
        tx.prepare_cached("UPDATE OR REPLACE sightings SET entity = ?2 WHERE entity = ?1")?
            .execute(params![
                Sighted::Relationship(old_key).encode(),
                Sighted::Relationship(new_key).encode()
            ])?;
    }
    tx.prepare_cached("UPDATE OR REPLACE sightings SET entity = ?2 WHERE entity = ?1")?
        .execute(params![from.as_str(), into.as_str()])?;
    tx.prepare_cached("UPDATE history SET ci_id = ?2 WHERE ci_id = ?1")?
        .execute(params![from.as_str(), into.as_str()])?;
    tx.prepare_cached("UPDATE history SET other_id = ?2 WHERE other_id = ?1")?
        .execute(params![from.as_str(), into.as_str()])?;
    tx.prepare_cached("DELETE FROM identifiers WHERE ci_id = ?1 OR parent = ?1")?
        .execute([from.as_str()])?;
    tx.prepare_cached("UPDATE aliases SET ci_id = ?2 WHERE ci_id = ?1")?
        .execute(params![from.as_str(), into.as_str()])?;
    tx.prepare_cached("INSERT OR REPLACE INTO aliases (old_id, ci_id) VALUES (?1, ?2)")?
        .execute(params![from.as_str(), into.as_str()])?;
    tx.prepare_cached("DELETE FROM ci_tags WHERE ci_id = ?1")?
        .execute([from.as_str()])?;
    tx.prepare_cached("DELETE FROM ci_sources WHERE ci_id = ?1")?
        .execute([from.as_str()])?;
    tx.prepare_cached("DELETE FROM cis WHERE id = ?1")?
        .execute([from.as_str()])?;
    Ok(())
}

pub(super) fn apply_delta(
    tx: &Transaction<'_>,
    d: &Delta,
    dirty: &mut HashSet<String>,
    edges: &mut Vec<EdgeChange>,
) -> Result<(), StoreError> {
    for m in &d.merges {
        apply_merge(tx, &m.from, &m.into, dirty)?;
    }
    for id in &d.rehomed {
        tx.prepare_cached("DELETE FROM identifiers WHERE ci_id = ?1")?
            .execute([id.as_str()])?;
    }
    for w in &d.cis {
        write_ci(tx, &w.ci, w.kind, w.touch_only)?;
    }
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO identifiers (key, ci_id, parent) VALUES (?1, ?2, ?3)",
        )?;
        for e in &d.identifiers {
            stmt.execute(params![
                e.key,
                e.ci.as_str(),
                e.parent.as_ref().map(CiId::as_str)
            ])?;
        }
    }
    for w in &d.relationships {
        if w.kind == WriteKind::Unchanged {
            // Evidence is unchanged too (same run or asserted evidence): only last-seen moves.
            tx.prepare_cached(
                "UPDATE rels SET last_seen = ?4 WHERE from_id = ?1 AND type = ?2 AND to_id = ?3",
            )?
            .execute(params![
                w.rel.from.as_str(),
                w.rel.rel_type.as_str(),
                w.rel.to.as_str(),
                ms(w.rel.last_seen)
            ])?;
        } else {
            write_rel(tx, &w.rel)?;
            edges.push((
                w.rel.from.to_string(),
                w.rel.rel_type,
                w.rel.to.to_string(),
                w.rel.status == RelStatus::Active,
            ));
        }
    }
    for h in &d.history {
        insert_history(tx, h)?;
    }
    write_sightings(tx, d)
}

/// Sightings: which targets of which source saw what, for scoped staleness.
fn write_sightings(tx: &Transaction<'_>, d: &Delta) -> Result<(), StoreError> {
    if d.scope.targets.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        "INSERT INTO sightings (source, target, entity, run_id, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source, target, entity) DO UPDATE SET run_id = excluded.run_id, seen_at = excluded.seen_at",
    )?;
    for target in &d.scope.targets {
        for sighted in d.sighted() {
            stmt.execute(params![
                d.source.as_str(),
                target,
                sighted.encode(),
                d.run_id.as_str(),
                ms(d.at)
            ])?;
        }
    }
    Ok(())
}

/// Every relationship touching `id` (either end, any status).
pub(super) fn touching(tx: &Transaction<'_>, id: &CiId) -> Result<Vec<Relationship>, StoreError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 OR to_id = ?1"
    ))?;
    let rows = stmt.query_map([id.as_str()], row_to_rel)?;
    collect(rows)
}

/// Apply a lifecycle rule's delta (`cmdb_model::lifecycle`) and store its history.
pub(super) fn apply_lifecycle(tx: &Transaction<'_>, d: &LifecycleDelta) -> Result<(), StoreError> {
    for (id, status) in &d.statuses {
        tx.prepare_cached("UPDATE cis SET status = ?2 WHERE id = ?1")?
            .execute(params![id.as_str(), status.as_str()])?;
    }
    for (keys, sql) in [
        (
            &d.closed,
            "UPDATE rels SET status = 'CLOSED' WHERE from_id = ?1 AND type = ?2 AND to_id = ?3",
        ),
        (
            &d.deleted_relationships,
            "DELETE FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3",
        ),
    ] {
        for k in keys {
            tx.prepare_cached(sql)?.execute(params![
                k.from.as_str(),
                k.rel_type.as_str(),
                k.to.as_str()
            ])?;
        }
    }
    for s in &d.forget {
        tx.prepare_cached("DELETE FROM sightings WHERE entity = ?1")?
            .execute([s.encode()])?;
    }
    if let Some(id) = &d.deleted_ci {
        for sql in [
            "DELETE FROM rels WHERE from_id = ?1 OR to_id = ?1",
            "DELETE FROM identifiers WHERE ci_id = ?1",
            "DELETE FROM ci_tags WHERE ci_id = ?1",
            "DELETE FROM ci_sources WHERE ci_id = ?1",
            "DELETE FROM aliases WHERE ci_id = ?1",
            "DELETE FROM cis WHERE id = ?1",
        ] {
            tx.prepare_cached(sql)?.execute([id.as_str()])?;
        }
    }
    for h in &d.history {
        insert_history(tx, h)?;
    }
    Ok(())
}
