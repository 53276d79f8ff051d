//! The bulk-load path for an empty store (`cmdb import` into a new store).
//!
//! Reconciliation runs exactly as on the normal path (`cmdb_model::reconcile`, same batches,
//! same policy), but against an in-memory graph of what this load has produced so far instead
//! of the database: the store being empty, nothing else can match. Each delta is applied to that
//! graph with the same rules `apply.rs` applies to the tables (merges re-point relationships,
//! sightings and history, drop identifiers, leave an alias; touch-only writes move `last_seen`
//! only; …), and values are kept as the tables would return them (timestamps in whole
//! milliseconds), so every later batch sees what it would have read back from SQLite.
//!
//! [`EmbeddedStore::bulk_finish`] then writes the whole graph in one transaction, each table in
//! primary-key order with its secondary indexes built after the inserts (`bulk_write.rs`).
//! The result equals the normal path's tables row for row (store/tests/bulk_load.rs).

use std::collections::BTreeMap;

use cmdb_model::lifecycle;
use cmdb_model::{
    reconcile, Ci, CiId, CurrentView, Delta, HistoryEntry, Observation, Policy, RelKey, RelType,
    Relationship, Sighted, ViewError, WriteKind,
};
use rustc_hash::FxHashMap;

use super::codec::{from_ms, ms};
use crate::{IngestOptions, IngestReport, StoreError};

/// A history row as the `history` table holds it: the CI column (the `from` end for
/// relationship entries), the other end, and the entry. Merges rewrite the two columns.
pub(super) struct HistRow {
    pub(super) ci: CiId,
    pub(super) other: Option<CiId>,
    pub(super) entry: HistoryEntry,
}

/// One identifier row: `(key, ci)` is the primary key.
#[derive(Clone)]
pub(super) struct IdentRow {
    pub(super) ci: CiId,
    pub(super) parent: Option<CiId>,
}

/// The graph a bulk load has produced so far, shaped like the tables (and their indexes) that
/// reconciliation reads through `TxView`.
#[derive(Default)]
pub(super) struct MemGraph {
    pub(super) cis: FxHashMap<CiId, Ci>,
    /// old id → the CI that absorbed it.
    pub(super) aliases: FxHashMap<CiId, CiId>,
    /// key → rows, sorted by CI id (the table's primary key order).
    pub(super) idents: FxHashMap<String, Vec<IdentRow>>,
    /// ci → its keys (`identifiers_ci`).
    idents_of: FxHashMap<CiId, Vec<String>>,
    /// parent → (ci, key) (`identifiers_parent`).
    idents_under: FxHashMap<CiId, Vec<(CiId, String)>>,
    pub(super) rels: FxHashMap<RelKey, Relationship>,
    /// from → keys (the primary key's prefix).
    out: FxHashMap<CiId, Vec<RelKey>>,
    /// (to, type) → keys (`rels_to`).
    into: FxHashMap<(CiId, RelType), Vec<RelKey>>,
    pub(super) history: Vec<HistRow>,
    /// Positions in `history` by CI column and by other column; built at the first merge.
    hist_index: Option<FxHashMap<CiId, Vec<usize>>>,
    /// (source, target, entity) → (run, seen_at ms).
    pub(super) sightings: BTreeMap<(String, String, String), (String, i64)>,
}

fn verr(e: impl std::fmt::Display) -> ViewError {
    ViewError(e.to_string())
}

/// A timestamp as a table returns it (whole milliseconds).
fn stored(t: cmdb_model::Timestamp) -> cmdb_model::Timestamp {
    from_ms(ms(t))
}

/// The CI as `row_to_ci` would read it back.
fn stored_ci(mut ci: Ci) -> Ci {
    ci.first_seen = stored(ci.first_seen);
    ci.last_seen = stored(ci.last_seen);
    for a in ci.attributes.values_mut() {
        a.updated_at = stored(a.updated_at);
    }
    if let Some(i) = ci.identification.as_mut() {
        i.at = stored(i.at);
    }
    ci
}

/// The relationship as `row_to_rel` would read it back.
fn stored_rel(mut r: Relationship) -> Relationship {
    r.first_seen = stored(r.first_seen);
    r.last_seen = stored(r.last_seen);
    for e in &mut r.evidence {
        e.first_seen = stored(e.first_seen);
        e.last_seen = stored(e.last_seen);
    }
    r
}

impl CurrentView for MemGraph {
    fn ci(&self, id: &CiId) -> Result<Option<Ci>, ViewError> {
        if let Some(ci) = self.cis.get(id) {
            return Ok(Some(ci.clone()));
        }
        Ok(match self.aliases.get(id) {
            Some(t) if t != id => self.cis.get(t).cloned(),
            _ => None,
        })
    }
    fn lookup(&self, key: &str) -> Result<Vec<CiId>, ViewError> {
        Ok(self
            .idents
            .get(key)
            .map(|rows| rows.iter().map(|r| r.ci.clone()).collect())
            .unwrap_or_default())
    }
    fn relationship(&self, key: &RelKey) -> Result<Option<Relationship>, ViewError> {
        Ok(self.rels.get(key).cloned())
    }
    fn dependents(&self, parent: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError> {
        let mut rows: Vec<&(CiId, String)> = match self.idents_under.get(parent) {
            Some(v) => v.iter().collect(),
            None => return Ok(Vec::new()),
        };
        rows.sort();
        let mut out: Vec<(CiId, Vec<String>)> = Vec::new();
        for (id, key) in rows {
            match out.last_mut() {
                Some((last, keys)) if last == id => keys.push(key.clone()),
                _ => out.push((id.clone(), vec![key.clone()])),
            }
        }
        Ok(out)
    }
    fn incoming(&self, to: &CiId, rel_type: RelType) -> Result<Vec<Relationship>, ViewError> {
        let Some(keys) = self.into.get(&(to.clone(), rel_type)) else {
            return Ok(Vec::new());
        };
        let mut keys: Vec<&RelKey> = keys.iter().collect();
        keys.sort_by(|a, b| a.from.cmp(&b.from));
        keys.into_iter()
            .map(|k| self.rels.get(k).cloned().ok_or_else(|| verr("index")))
            .collect()
    }
}

impl MemGraph {
    fn put_rel(&mut self, r: Relationship) {
        let k = r.key();
        if !self.rels.contains_key(&k) {
            self.out.entry(k.from.clone()).or_default().push(k.clone());
            self.into
                .entry((k.to.clone(), k.rel_type))
                .or_default()
                .push(k.clone());
        }
        self.rels.insert(k, stored_rel(r));
    }

    fn remove_rel(&mut self, k: &RelKey) {
        if self.rels.remove(k).is_none() {
            return;
        }
        if let Some(v) = self.out.get_mut(&k.from) {
            v.retain(|x| x != k);
        }
        if let Some(v) = self.into.get_mut(&(k.to.clone(), k.rel_type)) {
            v.retain(|x| x != k);
        }
    }

    /// `INSERT OR IGNORE INTO identifiers`.
    fn add_identifier(&mut self, key: String, ci: CiId, parent: Option<CiId>) {
        let rows = self.idents.entry(key.clone()).or_default();
        let at = match rows.binary_search_by(|r| r.ci.cmp(&ci)) {
            Ok(_) => return,
            Err(at) => at,
        };
        rows.insert(
            at,
            IdentRow {
                ci: ci.clone(),
                parent: parent.clone(),
            },
        );
        self.idents_of
            .entry(ci.clone())
            .or_default()
            .push(key.clone());
        if let Some(p) = parent {
            self.idents_under.entry(p).or_default().push((ci, key));
        }
    }

    fn remove_identifier(&mut self, key: &str, ci: &CiId) {
        let Some(rows) = self.idents.get_mut(key) else {
            return;
        };
        let Ok(at) = rows.binary_search_by(|r| r.ci.cmp(ci)) else {
            return;
        };
        let row = rows.remove(at);
        if rows.is_empty() {
            self.idents.remove(key);
        }
        if let Some(keys) = self.idents_of.get_mut(ci) {
            keys.retain(|k| k != key);
        }
        if let Some(p) = row.parent {
            if let Some(v) = self.idents_under.get_mut(&p) {
                v.retain(|(c, k)| !(c == ci && k == key));
            }
        }
    }

    /// `DELETE FROM identifiers WHERE ci_id = ?1` (and `OR parent = ?1` with `under`).
    fn drop_identifiers(&mut self, id: &CiId, under: bool) {
        let mut gone: Vec<(String, CiId)> = self
            .idents_of
            .get(id)
            .map(|keys| keys.iter().map(|k| (k.clone(), id.clone())).collect())
            .unwrap_or_default();
        if under {
            if let Some(v) = self.idents_under.get(id) {
                gone.extend(v.iter().map(|(c, k)| (k.clone(), c.clone())));
            }
        }
        for (k, c) in gone {
            self.remove_identifier(&k, &c);
        }
    }

    fn push_history(&mut self, e: HistoryEntry) {
        // Relationship entries are filed under the `from` end with the `to` end in other_id.
        let (ci, other) = match &e.relationship {
            Some(k) => (k.from.clone(), Some(k.to.clone())),
            None => (e.ci.clone(), None),
        };
        let n = self.history.len();
        if let Some(ix) = self.hist_index.as_mut() {
            ix.entry(ci.clone()).or_default().push(n);
            if let Some(o) = &other {
                ix.entry(o.clone()).or_default().push(n);
            }
        }
        let mut entry = e;
        entry.at = stored(entry.at);
        self.history.push(HistRow { ci, other, entry });
    }

    /// `UPDATE history SET ci_id = into WHERE ci_id = from` and the same for other_id.
    fn repoint_history(&mut self, from: &CiId, into: &CiId) {
        let history = &self.history;
        let ix = self.hist_index.get_or_insert_with(|| {
            let mut ix: FxHashMap<CiId, Vec<usize>> = FxHashMap::default();
            for (n, h) in history.iter().enumerate() {
                ix.entry(h.ci.clone()).or_default().push(n);
                if let Some(o) = &h.other {
                    ix.entry(o.clone()).or_default().push(n);
                }
            }
            ix
        });
        let Some(rows) = ix.remove(from) else { return };
        for &n in &rows {
            let h = &mut self.history[n];
            if &h.ci == from {
                h.ci = into.clone();
            }
            if h.other.as_ref() == Some(from) {
                h.other = Some(into.clone());
            }
        }
        let target = ix.entry(into.clone()).or_default();
        target.extend(rows);
        target.sort_unstable();
        target.dedup();
    }

    /// `UPDATE OR REPLACE sightings SET entity = new WHERE entity = old`.
    fn rename_sighting(&mut self, old: &str, new: &str) {
        if self.sightings.is_empty() {
            return;
        }
        let moved: Vec<_> = self
            .sightings
            .iter()
            .filter(|((_, _, e), _)| e == old)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for ((s, t, e), v) in moved {
            self.sightings.remove(&(s.clone(), t.clone(), e));
            self.sightings.insert((s, t, new.to_string()), v);
        }
    }

    /// `apply::apply_merge`, on the in-memory tables.
    fn merge(&mut self, from: &CiId, into: &CiId) {
        let mut touching: Vec<RelKey> = self.out.get(from).cloned().unwrap_or_default();
        touching.sort_by(|a, b| (a.rel_type.as_str(), &a.to).cmp(&(b.rel_type.as_str(), &b.to)));
        let mut incoming: Vec<RelKey> = self
            .into
            .iter()
            .filter(|((to, _), _)| to == from)
            .flat_map(|(_, v)| v.iter().cloned())
            .filter(|k| &k.from != from)
            .collect();
        incoming
            .sort_by(|a, b| (a.rel_type.as_str(), &a.from).cmp(&(b.rel_type.as_str(), &b.from)));
        touching.extend(incoming);
        for old_key in touching {
            let Some(r) = self.rels.get(&old_key).cloned() else {
                continue;
            };
            self.remove_rel(&old_key);
            let Some(new_key) = lifecycle::repointed_key(&old_key, from, into) else {
                continue;
            };
            let existing = self.rels.get(&new_key).cloned();
            let moved = lifecycle::repoint(r, &new_key, existing);
            self.put_rel(moved);
            self.rename_sighting(
                &Sighted::Relationship(old_key).encode(),
                &Sighted::Relationship(new_key).encode(),
            );
        }
        self.rename_sighting(from.as_str(), into.as_str());
        self.repoint_history(from, into);
        self.drop_identifiers(from, true);
        for target in self.aliases.values_mut() {
            if target == from {
                *target = into.clone();
            }
        }
        self.aliases.insert(from.clone(), into.clone());
        self.cis.remove(from);
    }

    /// `apply::apply_delta`, on the in-memory tables; takes the delta to avoid copies.
    pub(super) fn apply(&mut self, d: Delta) {
        for m in &d.merges {
            self.merge(&m.from, &m.into);
        }
        for id in &d.rehomed {
            self.drop_identifiers(id, false);
        }
        let sighted: Vec<String> = if d.scope.targets.is_empty() {
            Vec::new()
        } else {
            d.sighted().map(|s| s.encode()).collect()
        };
        for w in d.cis {
            if w.touch_only {
                if let Some(ci) = self.cis.get_mut(&w.ci.id) {
                    ci.last_seen = stored(w.ci.last_seen);
                }
                continue;
            }
            self.cis.insert(w.ci.id.clone(), stored_ci(w.ci));
        }
        for e in d.identifiers {
            self.add_identifier(e.key, e.ci, e.parent);
        }
        for w in d.relationships {
            if w.kind == WriteKind::Unchanged {
                if let Some(r) = self.rels.get_mut(&w.rel.key()) {
                    r.last_seen = stored(w.rel.last_seen);
                }
            } else {
                self.put_rel(w.rel);
            }
        }
        for h in d.history {
            self.push_history(h);
        }
        for target in &d.scope.targets {
            for s in &sighted {
                self.sightings.insert(
                    (d.source.0.clone(), target.clone(), s.clone()),
                    (d.run_id.0.clone(), ms(d.at)),
                );
            }
        }
    }
}

/// A bulk load in progress: feed it the observations the normal path would ingest, in the same
/// order and batches, then hand it to [`super::EmbeddedStore::bulk_finish`].
pub struct BulkLoad {
    pub(super) graph: MemGraph,
}

impl Default for BulkLoad {
    fn default() -> Self {
        Self::new()
    }
}

impl BulkLoad {
    pub fn new() -> Self {
        BulkLoad {
            graph: MemGraph::default(),
        }
    }

    /// Reconcile `obs` against what this load has produced so far and keep the result; the
    /// report is the one the normal path's `ingest` returns for the same observation.
    pub fn ingest(
        &mut self,
        obs: &Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError> {
        if opts.dry_run {
            return Err(StoreError::InvalidInput(
                "a bulk load cannot be a dry run".into(),
            ));
        }
        if obs.scope.marks_staleness() {
            return Err(StoreError::InvalidInput(
                "a bulk load takes no complete-scope observations (staleness needs the normal path)"
                    .into(),
            ));
        }
        let policy = Policy {
            precedence: opts.precedence.clone(),
        };
        let reconciled = reconcile(obs, &self.graph, &policy)?;
        let mut report = IngestReport::counting(&reconciled.delta, false);
        report.explanations = reconciled.explanations;
        report.errors = reconciled.errors;
        self.graph.apply(reconciled.delta);
        Ok(report)
    }

    /// CIs held so far.
    pub fn cis(&self) -> usize {
        self.graph.cis.len()
    }

    /// Relationships held so far.
    pub fn relationships(&self) -> usize {
        self.graph.rels.len()
    }
}
