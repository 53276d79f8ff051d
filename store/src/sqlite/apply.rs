//! Applying a reconciled delta inside the write transaction: CI and relationship rows,
//! merges, identifier keys, history and sightings; and loading a whole-graph snapshot.

use std::collections::{BTreeSet, HashSet};

use cmdb_model::{
    reconcile, Ci, CiClass, CiId, Delta, Observation, Policy, RelKey, RelStatus, Relationship,
    WriteKind,
};
use rusqlite::{params, Transaction};

use super::codec::*;
use super::schema::{optimize, OPTIMIZE_AFTER_CREATED};
use super::stale::mark_stale;
use super::view::{get_rel, TxView};
use super::EdgeChange;
use super::EmbeddedStore;
use crate::graph_changes;
use crate::types::*;
use crate::StoreError;

impl EmbeddedStore {
    /// Synchronous ingest (the async trait method runs this on the blocking pool).
    pub fn ingest_blocking(
        &self,
        obs: &Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError> {
        let policy = Policy {
            precedence: opts.precedence.clone(),
        };
        let (report, changes) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let reconciled = {
                let view = TxView { tx: &tx };
                reconcile(obs, &view, &policy)?
            };
            let mut report = IngestReport {
                created: reconciled.delta.count(WriteKind::Created),
                updated: reconciled.delta.count(WriteKind::Updated),
                unchanged: reconciled.delta.count(WriteKind::Unchanged)
                    + reconciled.delta.seen_cis.len(),
                merged: reconciled.delta.merges.len(),
                relationships_created: reconciled.delta.rel_count(WriteKind::Created),
                relationships_updated: reconciled.delta.rel_count(WriteKind::Updated),
                explanations: reconciled.explanations,
                errors: reconciled.errors,
                dry_run: opts.dry_run,
                ..Default::default()
            };
            if opts.dry_run {
                tx.rollback()?;
                report.delta = Some(reconciled.delta);
                return Ok((report, (HashSet::new(), Vec::new(), Vec::new(), None)));
            }
            let mut dirty = HashSet::new();
            let mut edges = Vec::new();
            apply_delta(&tx, &reconciled.delta, &mut dirty, &mut edges)?;
            let classes: Vec<(String, CiClass)> = reconciled
                .delta
                .cis
                .iter()
                .filter(|w| !w.touch_only)
                .map(|w| (w.ci.id.0.clone(), w.ci.class))
                .collect();
            let (staled, closed) = mark_stale(&tx, &reconciled.delta, &mut edges)?;
            report.staled = staled;
            report.relationships_closed = closed;
            let mut touched: BTreeSet<String> = dirty.iter().cloned().collect();
            touched.extend(classes.iter().map(|(id, _)| id.clone()));
            for (f, _, d, _) in &edges {
                touched.insert(f.clone());
                touched.insert(d.clone());
            }
            let logged = graph_changes::log(&tx, Some(&touched))?;
            tx.commit()?;
            if report.created >= OPTIMIZE_AFTER_CREATED {
                optimize(conn);
            }
            Ok((report, (dirty, edges, classes, logged)))
        })?;
        let (dirty, edges, classes, logged) = changes;
        // Patch the adjacency index from what was written; only merges (which re-point many
        // edges at once) re-read their nodes from the database.
        self.after_commit(logged, |adj| {
            for (id, class) in &classes {
                adj.set_class(id, *class);
            }
            for (f, t, d, active) in &edges {
                if *active {
                    adj.add(f, *t, d);
                } else {
                    adj.remove(f, *t, d);
                }
            }
            if !dirty.is_empty() {
                let nodes = self.read(|c| graph_changes::read_nodes(c, &dirty))?;
                graph_changes::apply_nodes(adj, nodes);
            }
            Ok(())
        })?;
        Ok(report)
    }

    /// Insert a whole-graph snapshot verbatim (ids, provenance, evidence, history kept) in one
    /// transaction, then rebuild the adjacency index. For `cmdb migrate`; the store should be
    /// empty (existing rows with the same ids are overwritten).
    pub fn load_snapshot(&self, snap: &crate::snapshot::Snapshot) -> Result<(), StoreError> {
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
    let body = CiBody {
        tags: ci.tags.clone(),
        attributes: ci
            .attributes
            .iter()
            .map(|(k, a)| (k.clone(), a.into()))
            .collect(),
        sources: ci.sources.clone(),
        identification: ci.identification.as_ref().map(Into::into),
    };
    let mut stmt = tx.prepare_cached(
        "INSERT INTO cis (id, class, name, status, placeholder, first_seen, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (id) DO UPDATE SET class = excluded.class, name = excluded.name, status = excluded.status,
           placeholder = excluded.placeholder, first_seen = excluded.first_seen, last_seen = excluded.last_seen, body = excluded.body",
    )?;
    stmt.execute(params![
        ci.id.as_str(),
        ci.class.as_str(),
        ci.name,
        ci.status.as_str(),
        ci.placeholder as i64,
        ms(ci.first_seen),
        ms(ci.last_seen),
        json(&body)?
    ])?;
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
    let body = RelBody {
        evidence: r.evidence.iter().map(Into::into).collect(),
        attributes: r.attributes.clone(),
    };
    let mut stmt = tx.prepare_cached(
        "INSERT INTO rels (from_id, type, to_id, status, first_seen, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (from_id, type, to_id) DO UPDATE SET status = excluded.status, first_seen = excluded.first_seen,
           last_seen = excluded.last_seen, body = excluded.body",
    )?;
    stmt.execute(params![
        r.from.as_str(),
        r.rel_type.as_str(),
        r.to.as_str(),
        status_str(r.status),
        ms(r.first_seen),
        ms(r.last_seen),
        json(&body)?
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
        let f = if r.from == *from {
            into.clone()
        } else {
            r.from.clone()
        };
        let t = if r.to == *from {
            into.clone()
        } else {
            r.to.clone()
        };
        dirty.insert(f.to_string());
        dirty.insert(t.to_string());
        if f == t {
            continue;
        }
        let new_key = RelKey::new(r.rel_type, f, t);
        let mut moved = Relationship {
            from: new_key.from.clone(),
            to: new_key.to.clone(),
            ..r
        };
        if let Some(existing) = get_rel(tx, &new_key)? {
            let mut e = existing;
            e.absorb(moved);
            moved = e;
        }
        write_rel(tx, &moved)?;
        tx.prepare_cached("UPDATE OR REPLACE sightings SET entity = ?2 WHERE entity = ?1")?
            .execute(params![rel_entity(&old_key), rel_entity(&new_key)])?;
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
    // Sightings: which targets of which source saw what, for scoped staleness.
    if !d.scope.targets.is_empty() {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO sightings (source, target, entity, run_id, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (source, target, entity) DO UPDATE SET run_id = excluded.run_id, seen_at = excluded.seen_at",
        )?;
        for target in &d.scope.targets {
            for id in d.sighted_cis() {
                stmt.execute(params![
                    d.source.as_str(),
                    target,
                    id.as_str(),
                    d.run_id.as_str(),
                    ms(d.at)
                ])?;
            }
            for k in d.sighted_relationships() {
                stmt.execute(params![
                    d.source.as_str(),
                    target,
                    rel_entity(&k),
                    d.run_id.as_str(),
                    ms(d.at)
                ])?;
            }
        }
    }
    Ok(())
}
