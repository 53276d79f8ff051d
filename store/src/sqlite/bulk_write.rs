//! Writing a whole graph into an empty store: one transaction, every table filled in
//! primary-key order (so each insert appends to the rightmost B-tree page instead of splitting
//! pages all over the file), secondary indexes dropped before and built after the inserts (one
//! sort each instead of a random insert per row), history in sequence order. Used by the bulk
//! import (`bulk.rs`) and by `load_snapshot` (`cmdb migrate`) when the store is empty.

use cmdb_model::{Ci, CiId, HistoryEntry, Relationship};
use rusqlite::{params, Transaction};

use super::bulk::BulkLoad;
use super::codec::{ci_row, insert_history_row, ms, rel_body_json};
use super::schema::{optimize, SCHEMA};
use super::EmbeddedStore;
use crate::graph_changes;
use crate::StoreError;

/// The schema's secondary indexes (rebuilt from `SCHEMA` after a bulk write).
const SECONDARY_INDEXES: [&str; 13] = [
    "cis_class",
    "cis_name",
    "cis_last_seen",
    "cis_status",
    "ci_tags_ci",
    "ci_sources_ci",
    "identifiers_ci",
    "identifiers_parent",
    "aliases_ci",
    "rels_to",
    "sightings_entity",
    "history_ci",
    "history_other",
];

/// Rows for every graph table, borrowed from wherever the graph was built.
#[derive(Default)]
pub(super) struct Tables<'a> {
    pub(super) cis: Vec<&'a Ci>,
    /// (old id, CI)
    pub(super) aliases: Vec<(&'a CiId, &'a CiId)>,
    /// (key, CI, parent)
    pub(super) identifiers: Vec<(&'a str, &'a CiId, Option<&'a CiId>)>,
    pub(super) relationships: Vec<&'a Relationship>,
    /// (CI column, other column, entry), oldest first.
    pub(super) history: Vec<(&'a str, Option<&'a str>, &'a HistoryEntry)>,
    /// (source, target, entity, run, seen_at ms)
    pub(super) sightings: Vec<(&'a str, &'a str, &'a str, &'a str, i64)>,
}

/// What a bulk write stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkSummary {
    pub cis: usize,
    pub relationships: usize,
    pub identifiers: usize,
    pub history: usize,
}

/// Does the store hold nothing a graph write would have to reconcile with?
pub(super) fn tables_empty(tx: &Transaction<'_>) -> Result<bool, StoreError> {
    let any: bool = tx.query_row(
        "SELECT EXISTS(SELECT 1 FROM cis) OR EXISTS(SELECT 1 FROM rels) OR EXISTS(SELECT 1 FROM identifiers)
           OR EXISTS(SELECT 1 FROM aliases) OR EXISTS(SELECT 1 FROM history) OR EXISTS(SELECT 1 FROM sightings)",
        [],
        |r| r.get(0),
    )?;
    Ok(!any)
}

/// Fill the (empty) graph tables from `t`, indexes after. The caller commits.
pub(super) fn write_tables(tx: &Transaction<'_>, mut t: Tables<'_>) -> Result<(), StoreError> {
    for ix in SECONDARY_INDEXES {
        tx.execute_batch(&format!("DROP INDEX IF EXISTS {ix}"))?;
    }
    write_cis(tx, &mut t.cis)?;
    t.identifiers
        .sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO identifiers (key, ci_id, parent) VALUES (?1, ?2, ?3)",
        )?;
        for (k, ci, parent) in &t.identifiers {
            stmt.execute(params![k, ci.as_str(), parent.map(CiId::as_str)])?;
        }
    }
    t.aliases.sort_unstable();
    {
        let mut stmt =
            tx.prepare_cached("INSERT OR REPLACE INTO aliases (old_id, ci_id) VALUES (?1, ?2)")?;
        for (old, ci) in &t.aliases {
            stmt.execute(params![old.as_str(), ci.as_str()])?;
        }
    }
    write_rels(tx, &mut t.relationships)?;
    for (ci, other, e) in &t.history {
        insert_history_row(tx, ci, *other, e)?;
    }
    t.sightings.sort_unstable();
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO sightings (source, target, entity, run_id, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (s, target, entity, run, at) in &t.sightings {
            stmt.execute(params![s, target, entity, run, at])?;
        }
    }
    // Every secondary index, built in one pass over its finished table.
    tx.execute_batch(SCHEMA)?;
    Ok(())
}

fn write_cis(tx: &Transaction<'_>, cis: &mut [&Ci]) -> Result<(), StoreError> {
    cis.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO cis (id, class, name, status, placeholder, first_seen, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for ci in cis.iter() {
            stmt.execute(rusqlite::params_from_iter(ci_row(ci)?))?;
        }
    }
    for (table, column, values) in [
        ("ci_tags", "tag", tag_rows(cis)),
        ("ci_sources", "source", source_rows(cis)),
    ] {
        let mut stmt = tx.prepare_cached(&format!(
            "INSERT OR IGNORE INTO {table} ({column}, ci_id) VALUES (?1, ?2)"
        ))?;
        for (v, id) in values {
            stmt.execute(params![v, id])?;
        }
    }
    Ok(())
}

fn tag_rows<'a>(cis: &[&'a Ci]) -> Vec<(&'a str, &'a str)> {
    let mut rows: Vec<(&str, &str)> = cis
        .iter()
        .flat_map(|ci| ci.tags.iter().map(|t| (t.as_str(), ci.id.as_str())))
        .collect();
    rows.sort_unstable();
    rows
}

fn source_rows<'a>(cis: &[&'a Ci]) -> Vec<(&'a str, &'a str)> {
    let mut rows: Vec<(&str, &str)> = cis
        .iter()
        .flat_map(|ci| ci.sources.iter().map(|s| (s.as_str(), ci.id.as_str())))
        .collect();
    rows.sort_unstable();
    rows
}

fn write_rels(tx: &Transaction<'_>, rels: &mut [&Relationship]) -> Result<(), StoreError> {
    rels.sort_unstable_by(|a, b| {
        (a.from.as_str(), a.rel_type.as_str(), a.to.as_str()).cmp(&(
            b.from.as_str(),
            b.rel_type.as_str(),
            b.to.as_str(),
        ))
    });
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO rels (from_id, type, to_id, status, first_seen, last_seen, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for r in rels.iter() {
        stmt.execute(params![
            r.from.as_str(),
            r.rel_type.as_str(),
            r.to.as_str(),
            r.status.as_str(),
            ms(r.first_seen),
            ms(r.last_seen),
            rel_body_json(r)?
        ])?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Does the store hold no graph at all (no CI, relationship, identifier, alias, history or
    /// sighting)? Then a bulk load gives the same result as the normal path.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let empty = tables_empty(&tx)?;
            tx.commit()?;
            Ok(empty)
        })
    }

    /// Write what a [`BulkLoad`] produced, in one transaction. Fails with `Conflict` (writing
    /// nothing) if the store is no longer empty: someone else wrote meanwhile, and the load
    /// would have to be reconciled with that on the normal path.
    ///
    /// Takes the load by reference: freeing millions of small allocations costs seconds, which
    /// a process that exits right after (`cmdb import`) need not spend.
    pub fn bulk_finish(&self, load: &BulkLoad) -> Result<BulkSummary, StoreError> {
        let g = &load.graph;
        let t = Tables {
            cis: g.cis.values().collect(),
            aliases: g.aliases.iter().collect(),
            identifiers: g
                .idents
                .iter()
                .flat_map(|(k, rows)| {
                    rows.iter()
                        .map(move |r| (k.as_str(), &r.ci, r.parent.as_ref()))
                })
                .collect(),
            relationships: g.rels.values().collect(),
            history: g
                .history
                .iter()
                .map(|h| (h.ci.as_str(), h.other.as_ref().map(CiId::as_str), &h.entry))
                .collect(),
            sightings: g
                .sightings
                .iter()
                .map(|((s, t, e), (run, at))| {
                    (s.as_str(), t.as_str(), e.as_str(), run.as_str(), *at)
                })
                .collect(),
        };
        let summary = BulkSummary {
            cis: t.cis.len(),
            relationships: t.relationships.len(),
            identifiers: t.identifiers.len(),
            history: t.history.len(),
        };
        self.write_empty(t)?;
        Ok(summary)
    }

    /// `write_tables` in an IMMEDIATE transaction after checking the store is empty, then the
    /// planner's statistics and the adjacency index.
    pub(super) fn write_empty(&self, t: Tables<'_>) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if !tables_empty(&tx)? {
                return Err(StoreError::Conflict(
                    "the store is no longer empty: another writer wrote during the bulk load; nothing was written".into(),
                ));
            }
            write_tables(&tx, t)?;
            // Too much to list: every open store reloads its index.
            graph_changes::log(&tx, None)?;
            tx.commit()?;
            optimize(conn);
            Ok(())
        })?;
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "bulk write committed"
        );
        self.catch_up()
    }
}

/// The rows of a whole-graph snapshot (history filed as `insert_history` files it).
pub(super) fn snapshot_tables(snap: &crate::snapshot::Snapshot) -> Tables<'_> {
    Tables {
        cis: snap.cis.iter().collect(),
        aliases: Vec::new(),
        identifiers: snap
            .identifiers
            .iter()
            .map(|e| (e.key.as_str(), &e.ci, e.parent.as_ref()))
            .collect(),
        relationships: snap.relationships.iter().collect(),
        history: snap
            .history
            .iter()
            .map(|e| match &e.relationship {
                Some(k) => (k.from.as_str(), Some(k.to.as_str()), e),
                None => (e.ci.as_str(), None, e),
            })
            .collect(),
        sightings: Vec::new(),
    }
}
