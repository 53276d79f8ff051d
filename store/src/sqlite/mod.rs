//! The embedded backend: one SQLite file (WAL) under the data directory, plus an in-memory
//! adjacency index of active relationships for traversals.
//!
//! Writes go through one writer connection under a mutex: an ingest reconciles against the
//! database *inside* its IMMEDIATE transaction and applies the delta in that same transaction,
//! so a crash leaves either the whole delta or none of it, and no concurrent write can slip in
//! between reconciliation and apply. Reads use a small pool of read connections (WAL readers
//! see the last committed state and never block the writer).

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use async_trait::async_trait;
use cmdb_model::lifecycle::{self, Actor, LifecycleDelta};
use cmdb_model::{
    reconcile, Ci, CiClass, CiId, CiStatus, HistoryEntry, Observation, Policy, RelKey, RelStatus,
    RelType, Relationship,
};
use parking_lot::{Mutex, RwLock};
use rusqlite::{params, Connection};
use serde::Serialize;

use crate::adjacency::Adjacency;
use crate::cursor::{decode_relationship_cursor, next_relationship_cursor};
use crate::graph_changes::{self, CatchUp, Logged};
use crate::types::*;
use crate::{GraphStore, StoreError};

mod apply;
mod bulk;
mod bulk_write;
mod codec;
mod impact;
mod ops;
mod query;
mod schema;
mod stale;
mod view;

use apply::{apply_delta, apply_lifecycle, touching};
pub use bulk::BulkLoad;
pub use bulk_write::BulkSummary;
use codec::*;
use query::{find, search};
use schema::{create_private, migrate, open_connection, optimize, OPTIMIZE_AFTER_CREATED};
use stale::mark_stale;
use view::TxView;
use view::{get_ci, get_rel};

/// An edge to add to (true) or remove from (false) the adjacency index after commit.
type EdgeChange = (String, RelType, String, bool);

pub struct EmbeddedOptions {
    /// Read connections in the pool.
    pub readers: usize,
    /// SQLite page cache of the writer, in KiB (readers get a quarter each; they mostly read
    /// through mmap).
    pub cache_kib: i64,
    /// Read-only, point-in-time: every read sees the database as it was at open, whatever other
    /// processes commit meanwhile (one reader holding one read transaction). For a consistent
    /// export while a server writes. Writes fail with `InvalidInput`.
    pub snapshot: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            readers: 4,
            cache_kib: 256 * 1024,
            snapshot: false,
        }
    }
}

/// The embedded store. Cheap to share behind an `Arc`.
///
/// Several stores (in one process or several) may open the same file: SQLite serialises their
/// writes, and each keeps its adjacency index equal to the committed graph through the
/// `graph_changes` log (see `graph_changes.rs`), so every process answers impact and traversal
/// questions from the same graph.
pub struct EmbeddedStore {
    path: PathBuf,
    writer: Mutex<Option<Connection>>,
    readers: Vec<Mutex<Option<Connection>>>,
    next_reader: AtomicUsize,
    adjacency: RwLock<AdjState>,
    /// Never writes, so its `PRAGMA data_version` changes exactly when someone commits.
    watch: Mutex<Option<Connection>>,
    /// The `data_version` seen at the last catch-up.
    seen_version: AtomicI64,
    snapshot: bool,
    closed: AtomicBool,
}

/// The adjacency index and the newest `graph_changes` seq it reflects.
struct AdjState {
    adj: Adjacency,
    applied: i64,
}

/// Problems `EmbeddedStore::check_integrity` found (empty = healthy).
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntegrityReport {
    pub cis: usize,
    pub relationships: usize,
    pub problems: Vec<String>,
}

fn data_version(c: &Connection) -> Result<i64, StoreError> {
    Ok(c.query_row("PRAGMA data_version", [], |r| r.get(0))?)
}

impl EmbeddedStore {
    /// Open (creating if needed) the store file at `path`.
    ///
    /// A new file is created readable and writable by its owner only (0600); SQLite gives its
    /// `-wal` and `-shm` files the same mode.
    pub fn open(path: &Path, opts: EmbeddedOptions) -> Result<EmbeddedStore, StoreError> {
        create_private(path)?;
        let writer = open_connection(path, opts.cache_kib)?;
        migrate(&writer)?;
        if !opts.snapshot {
            optimize(&writer);
        }
        let watch = open_connection(path, 1024)?;
        let version = data_version(&watch)?;
        let n_readers = if opts.snapshot {
            1
        } else {
            opts.readers.max(1)
        };
        let mut readers = Vec::new();
        for _ in 0..n_readers {
            let c = open_connection(path, opts.cache_kib / 4)?;
            readers.push(c);
        }
        // The index and the log position it reflects come from one snapshot.
        let (adjacency, applied) = if opts.snapshot {
            // Pin the one reader to a read transaction for the store's lifetime.
            let c = &readers[0];
            c.execute_batch("BEGIN DEFERRED")?;
            let applied = graph_changes::newest(c)?;
            let adj = graph_changes::load_all(c)?;
            impact::warm_group_rules(c, &adj)?;
            (adj, applied)
        } else {
            let tx = writer.unchecked_transaction()?;
            let r = (graph_changes::load_all(&tx)?, graph_changes::newest(&tx)?);
            impact::warm_group_rules(&tx, &r.0)?;
            tx.commit()?;
            r
        };
        tracing::debug!(path = %path.display(), edges = adjacency.edge_count(), applied, snapshot = opts.snapshot, "embedded store opened");
        Ok(EmbeddedStore {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(writer)),
            readers: readers.into_iter().map(|c| Mutex::new(Some(c))).collect(),
            next_reader: AtomicUsize::new(0),
            adjacency: RwLock::new(AdjState {
                adj: adjacency,
                applied,
            }),
            watch: Mutex::new(Some(watch)),
            seen_version: AtomicI64::new(version),
            snapshot: opts.snapshot,
            closed: AtomicBool::new(false),
        })
    }

    /// Bring the adjacency index up to what is committed, if anyone (this process or another)
    /// committed since the last look. Costs one `PRAGMA data_version` when nothing changed.
    fn sync(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if self.snapshot {
            return Ok(());
        }
        let version = {
            let guard = self.watch.lock();
            match guard.as_ref() {
                Some(c) => data_version(c)?,
                None => return Err(StoreError::Closed),
            }
        };
        if version == self.seen_version.load(Ordering::Acquire) {
            return Ok(());
        }
        self.catch_up()?;
        self.seen_version.store(version, Ordering::Release);
        Ok(())
    }

    /// Apply every `graph_changes` row after the index's position (or reload).
    fn catch_up(&self) -> Result<(), StoreError> {
        let mut st = self.adjacency.write();
        let started = std::time::Instant::now();
        let (applied, indexed) = (st.applied, st.adj.node_count());
        match self.read(|c| graph_changes::catch_up(c, applied, indexed))? {
            CatchUp::Current => {}
            CatchUp::Nodes { nodes, to } => {
                let n = nodes.len();
                graph_changes::apply_nodes(&mut st.adj, nodes);
                st.applied = to;
                tracing::debug!(
                    from = applied,
                    to,
                    cis = n,
                    ms = started.elapsed().as_millis() as u64,
                    "adjacency index caught up with other writers"
                );
            }
            CatchUp::Reload { adj, to, why } => {
                self.read(|c| impact::warm_group_rules(c, &adj))?;
                st.adj = adj;
                st.applied = to;
                tracing::info!(
                    from = applied,
                    to,
                    why,
                    edges = st.adj.edge_count(),
                    ms = started.elapsed().as_millis() as u64,
                    "adjacency index reloaded"
                );
            }
        }
        Ok(())
    }

    /// After this store committed a write logged as `logged`: patch the index from what the
    /// write knows, when the index was exactly at the state before it; otherwise (someone else
    /// committed in between) catch up from the log.
    fn after_commit(
        &self,
        logged: Option<Logged>,
        patch: impl FnOnce(&mut Adjacency) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let Some(l) = logged else { return Ok(()) };
        {
            let mut st = self.adjacency.write();
            if st.applied == l.prev {
                patch(&mut st.adj)?;
                st.applied = l.seq;
                return Ok(());
            }
        }
        self.catch_up()
    }

    /// Is the file sound? SQLite's own check, then the store's invariants: every relationship,
    /// identifier, tag, source and alias names an existing CI, and the in-memory index equals
    /// the committed active edges and classes.
    pub fn check_integrity(&self) -> Result<IntegrityReport, StoreError> {
        self.sync()?;
        let mut report = self.read(|c| {
            let mut problems = Vec::new();
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for r in rows {
                let r = r?;
                if r != "ok" {
                    problems.push(format!("sqlite: {r}"));
                }
            }
            let count = |sql: &str| -> Result<i64, StoreError> { Ok(c.query_row(sql, [], |r| r.get(0))?) };
            for (what, sql) in [
                ("relationships with a missing end", "SELECT COUNT(*) FROM rels WHERE NOT EXISTS (SELECT 1 FROM cis WHERE id = from_id) OR NOT EXISTS (SELECT 1 FROM cis WHERE id = to_id)"),
                ("identifiers of a missing CI", "SELECT COUNT(*) FROM identifiers i WHERE NOT EXISTS (SELECT 1 FROM cis WHERE id = i.ci_id)"),
                ("tags of a missing CI", "SELECT COUNT(*) FROM ci_tags t WHERE NOT EXISTS (SELECT 1 FROM cis WHERE id = t.ci_id)"),
                ("sources of a missing CI", "SELECT COUNT(*) FROM ci_sources s WHERE NOT EXISTS (SELECT 1 FROM cis WHERE id = s.ci_id)"),
                ("aliases to a missing CI", "SELECT COUNT(*) FROM aliases a WHERE NOT EXISTS (SELECT 1 FROM cis WHERE id = a.ci_id)"),
                ("aliases that are live CIs", "SELECT COUNT(*) FROM aliases a WHERE EXISTS (SELECT 1 FROM cis WHERE id = a.old_id)"),
            ] {
                let n = count(sql)?;
                if n > 0 {
                    problems.push(format!("{n} {what}"));
                }
            }
            Ok(IntegrityReport { cis: count("SELECT COUNT(*) FROM cis")? as usize, relationships: count("SELECT COUNT(*) FROM rels")? as usize, problems })
        })?;
        // The index against a fresh load (same snapshot as the index's position).
        let st = self.adjacency.read();
        let fresh = self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let n = graph_changes::newest(&tx)?;
            let a = graph_changes::load_all(&tx)?;
            tx.commit()?;
            Ok((n, a))
        })?;
        if fresh.0 == st.applied && !st.adj.same_as(&fresh.1) {
            report
                .problems
                .push("the in-memory adjacency index differs from the committed edges".into());
        }
        Ok(report)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let n = self.readers.len();
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        // Take a free reader if there is one, else wait for the round-robin choice.
        for i in 0..n {
            if let Some(guard) = self.readers[(start + i) % n].try_lock() {
                return match guard.as_ref() {
                    Some(c) => f(c),
                    None => Err(StoreError::Closed),
                };
            }
        }
        let guard = self.readers[start % n].lock();
        match guard.as_ref() {
            Some(c) => f(c),
            None => Err(StoreError::Closed),
        }
    }

    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        if self.snapshot {
            return Err(StoreError::InvalidInput(
                "this store was opened as a read-only snapshot".into(),
            ));
        }
        let mut guard = self.writer.lock();
        match guard.as_mut() {
            Some(c) => f(c),
            None => Err(StoreError::Closed),
        }
    }

    /// Synchronous ingest (the async trait method runs this on the blocking pool).
    pub fn ingest_blocking(
        &self,
        obs: &Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError> {
        let policy = Policy {
            precedence: opts.precedence.clone(),
        };
        let (report, written) = self.write(|conn| ingest_in(conn, obs, opts, &policy))?;
        // Patch the adjacency index from what was written; only merges (which re-point many
        // edges at once) re-read their nodes from the database.
        let Written {
            dirty,
            edges,
            classes,
            logged,
        } = written;
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

    /// Re-read `ids` into the adjacency index after this store committed a write that
    /// changed their edges.
    fn refresh_after(
        &self,
        logged: Option<Logged>,
        ids: &HashSet<String>,
    ) -> Result<(), StoreError> {
        self.after_commit(logged, |adj| {
            let nodes = self.read(|c| graph_changes::read_nodes(c, ids))?;
            graph_changes::apply_nodes(adj, nodes);
            Ok(())
        })
    }
}

#[async_trait]
impl GraphStore for EmbeddedStore {
    fn ops(&self) -> &dyn crate::OpsStore {
        self
    }

    /// The newest `graph_changes` entry reflected (every graph write appends one, in this
    /// process or another: `sync` catches up first).
    async fn graph_version(&self) -> Result<Option<i64>, StoreError> {
        self.sync()?;
        Ok(Some(self.adjacency.read().applied))
    }

    async fn ingest(
        &self,
        obs: Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError> {
        let opts = opts.clone();
        // A large ingest must not stall the other tasks of a multi-threaded runtime: hand this
        // worker's queue to another thread while we block. (A current-thread runtime has no one
        // to hand it to, so there we simply run.)
        let multi = tokio::runtime::Handle::try_current()
            .map(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
            .unwrap_or(false);
        if multi {
            tokio::task::block_in_place(|| self.ingest_blocking(&obs, &opts))
        } else {
            self.ingest_blocking(&obs, &opts)
        }
    }

    async fn get(&self, id: &CiId) -> Result<Option<Ci>, StoreError> {
        self.read(|c| get_ci(c, id.as_str()))
    }

    async fn get_many(&self, ids: &[CiId]) -> Result<Vec<Ci>, StoreError> {
        self.read(|c| {
            let mut out = Vec::with_capacity(ids.len());
            let mut seen = HashSet::new();
            for id in ids {
                if let Some(ci) = get_ci(c, id.as_str())? {
                    if seen.insert(ci.id.clone()) {
                        out.push(ci);
                    }
                }
            }
            Ok(out)
        })
    }

    async fn find(
        &self,
        filter: &CiFilter,
        order: CiOrder,
        page: &PageRequest,
    ) -> Result<Page<Ci>, StoreError> {
        self.read(|c| find(c, filter, order, page))
    }

    async fn lookup_identifiers(&self, keys: &[String]) -> Result<Vec<(String, CiId)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT ci_id FROM identifiers WHERE key = ?1")?;
            let mut out = Vec::new();
            for k in keys {
                for id in stmt.query_map([k], |r| r.get::<_, String>(0))? {
                    out.push((k.clone(), CiId::new(id?)));
                }
            }
            out.sort();
            out.dedup();
            Ok(out)
        })
    }

    async fn identifiers_of(&self, ids: &[CiId]) -> Result<Vec<(CiId, String)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT key FROM identifiers WHERE ci_id = ?1")?;
            let mut out = Vec::new();
            let unique: BTreeSet<&CiId> = ids.iter().collect();
            for id in unique {
                for key in stmt.query_map([id.as_str()], |r| r.get::<_, String>(0))? {
                    out.push((id.clone(), key?));
                }
            }
            out.sort();
            Ok(out)
        })
    }

    async fn search(&self, q: &SearchQuery, page: &PageRequest) -> Result<Page<Ci>, StoreError> {
        self.read(|c| search(c, q, page))
    }

    async fn relationships(
        &self,
        ids: &[CiId],
        q: &RelQuery,
    ) -> Result<Vec<Relationship>, StoreError> {
        self.read(|c| {
            let mut out = Vec::new();
            let mut seen = HashSet::new();
            let types: HashSet<RelType> = q.types.iter().copied().collect();
            let mut by_from = c.prepare_cached(&format!(
                "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1"
            ))?;
            let mut by_to =
                c.prepare_cached(&format!("SELECT {REL_COLUMNS} FROM rels WHERE to_id = ?1"))?;
            for id in ids {
                let id = match get_ci(c, id.as_str())? {
                    Some(ci) => ci.id,
                    None => id.clone(),
                };
                let mut stmts: Vec<&mut rusqlite::CachedStatement<'_>> = Vec::new();
                if matches!(q.direction, Direction::Out | Direction::Both) {
                    stmts.push(&mut by_from);
                }
                if matches!(q.direction, Direction::In | Direction::Both) {
                    stmts.push(&mut by_to);
                }
                for stmt in stmts {
                    let rows = stmt.query_map([id.as_str()], row_to_rel)?;
                    for r in rows {
                        let r = r??;
                        if (!types.is_empty() && !types.contains(&r.rel_type))
                            || (!q.include_closed && r.status != RelStatus::Active)
                        {
                            continue;
                        }
                        if seen.insert(r.key()) {
                            out.push(r);
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    async fn all_relationships(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Relationship>, Option<String>), StoreError> {
        self.read(|c| {
            let (f, t, d) = decode_relationship_cursor(after)?;
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REL_COLUMNS} FROM rels WHERE (from_id, type, to_id) > (?1, ?2, ?3) ORDER BY from_id, type, to_id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![f, t, d, limit as i64], row_to_rel)?;
            let rels = collect(rows)?;
            let next = next_relationship_cursor(&rels, limit);
            Ok((rels, next))
        })
    }

    async fn traverse(
        &self,
        start: &[CiId],
        q: &TraverseQuery,
    ) -> Result<Vec<Reached>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let start = self
            .get_many(start)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>();
        self.sync()?;
        Ok(self
            .adjacency
            .read()
            .adj
            .traverse(&start, q.direction, q.max_depth, &q.types))
    }

    async fn impact_subgraph(
        &self,
        start: &[CiId],
        max_depth: u32,
    ) -> Result<Vec<Relationship>, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.sync()?;
        let edges = self.adjacency.read().adj.impact_edges(start, max_depth);
        self.read(|c| self.load_rels(c, &edges))
    }

    /// From the in-memory adjacency (see `sqlite/impact.rs`).
    async fn impact_graph(
        &self,
        start: &[CiId],
        max_depth: u32,
    ) -> Result<cmdb_model::impact::ImpactGraph, StoreError> {
        self.impact_graph_blocking(start, max_depth)
    }

    /// By number over the in-memory adjacency (see `sqlite/impact.rs`).
    async fn impact(
        &self,
        failing: &[CiId],
        opts: &cmdb_model::impact::ImpactOptions,
    ) -> Result<cmdb_model::impact::ImpactReport, StoreError> {
        self.impact_blocking(failing, opts)
    }

    async fn history(
        &self,
        id: &CiId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        self.read(|c| {
            let real = get_ci(c, id.as_str())?
                .map(|ci| ci.id)
                .unwrap_or_else(|| id.clone());
            self.history_entries(c, real.as_str(), page)
        })
    }

    async fn retire_stale(&self, older_than: chrono::Duration) -> Result<usize, StoreError> {
        let now = cmdb_model::now();
        let cutoff = lifecycle::retirement_cutoff(now, older_than);
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ids: Vec<CiId> = {
                let mut stmt =
                    tx.prepare("SELECT id FROM cis WHERE status = 'STALE' AND last_seen < ?1")?;
                let rows = stmt.query_map([ms(cutoff)], |r| r.get::<_, String>(0))?;
                rows.map(|r| r.map(CiId)).collect::<Result<_, _>>()?
            };
            apply_lifecycle(&tx, &lifecycle::retire_stale(&ids, now))?;
            tx.commit()?;
            Ok(ids.len())
        })
    }

    async fn retire(&self, id: &CiId, source: &str) -> Result<Ci, StoreError> {
        let by = Actor::by_hand(source, cmdb_model::now());
        let (ci, dirty, logged) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut ci = get_ci(&tx, id.as_str())?
                .ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
            let change = lifecycle::retire(&ci, &touching(&tx, &ci.id)?, &by);
            apply_lifecycle(&tx, &change)?;
            if !change.is_empty() {
                ci.status = CiStatus::Retired;
            }
            let dirty = touched_ids(&change);
            let logged = graph_changes::log(&tx, Some(&dirty.iter().cloned().collect()))?;
            tx.commit()?;
            Ok((ci, dirty, logged))
        })?;
        self.refresh_after(logged, &dirty)?;
        Ok(ci)
    }

    async fn close_relationship(
        &self,
        key: &RelKey,
        source: &str,
    ) -> Result<Relationship, StoreError> {
        let key = RelKey::new(key.rel_type, key.from.clone(), key.to.clone());
        let by = Actor::by_hand(source, cmdb_model::now());
        let (rel, logged) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut rel = get_rel(&tx, &key)?
                .ok_or_else(|| StoreError::NotFound(format!("relationship {key}")))?;
            let change = lifecycle::close_relationship(&rel, &by);
            apply_lifecycle(&tx, &change)?;
            if !change.is_empty() {
                rel.status = RelStatus::Closed;
            }
            let logged =
                graph_changes::log(&tx, Some(&touched_ids(&change).into_iter().collect()))?;
            tx.commit()?;
            Ok((rel, logged))
        })?;
        self.after_commit(logged, |adj| {
            adj.remove(key.from.as_str(), key.rel_type, key.to.as_str());
            Ok(())
        })?;
        Ok(rel)
    }

    async fn delete(&self, id: &CiId, source: &str) -> Result<(), StoreError> {
        let by = Actor::by_hand(source, cmdb_model::now());
        let (dirty, logged) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ci = get_ci(&tx, id.as_str())?
                .ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
            let change = lifecycle::delete(&ci, &touching(&tx, &ci.id)?, &by);
            apply_lifecycle(&tx, &change)?;
            let dirty = touched_ids(&change);
            let logged = graph_changes::log(&tx, Some(&dirty.iter().cloned().collect()))?;
            tx.commit()?;
            Ok((dirty, logged))
        })?;
        self.refresh_after(logged, &dirty)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.read(|c| {
            let count = |sql: &str| -> Result<usize, StoreError> {
                Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as usize)
            };
            let group = |sql: &str| -> Result<Vec<(String, usize)>, StoreError> {
                let mut stmt = c.prepare(sql)?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
                })?;
                Ok(rows.collect::<Result<_, _>>()?)
            };
            Ok(StoreStats {
                cis: count("SELECT COUNT(*) FROM cis")?,
                relationships: count("SELECT COUNT(*) FROM rels")?,
                history_entries: count("SELECT COUNT(*) FROM history")?,
                by_class: group("SELECT class, COUNT(*) FROM cis GROUP BY class ORDER BY class")?,
                by_status: group(
                    "SELECT status, COUNT(*) FROM cis GROUP BY status ORDER BY status",
                )?,
            })
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            c.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Readers first (a snapshot reader's open transaction would hold the checkpoint up).
        for r in &self.readers {
            r.lock().take();
        }
        self.watch.lock().take();
        // Wait for the writer to finish whatever it is doing, then checkpoint and close. The
        // checkpoint is best effort: another process reading the file may keep part of the
        // WAL, and it must not keep us waiting long.
        if let Some(conn) = self.writer.lock().take() {
            if !self.snapshot {
                let _ = conn.busy_timeout(std::time::Duration::from_millis(500));
                let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
            }
            conn.close().map_err(|(_, e)| StoreError::from(e))?;
        }
        tracing::debug!(path = %self.path.display(), "embedded store closed");
        Ok(())
    }
}

/// What an ingest's transaction changed, for patching the adjacency index after commit.
#[derive(Default)]
struct Written {
    /// CIs to re-read (merges re-point many edges at once).
    dirty: HashSet<String>,
    edges: Vec<EdgeChange>,
    classes: Vec<(String, CiClass)>,
    logged: Option<Logged>,
}

impl Written {
    /// Every CI whose node or edges changed: the write's `graph_changes` entry.
    fn touched(&self) -> BTreeSet<String> {
        let mut touched: BTreeSet<String> = self.dirty.iter().cloned().collect();
        touched.extend(self.classes.iter().map(|(id, _)| id.clone()));
        for (f, _, d, _) in &self.edges {
            touched.insert(f.clone());
            touched.insert(d.clone());
        }
        touched
    }
}

/// Reconcile `obs` inside an IMMEDIATE transaction, apply the delta and mark staleness, and
/// commit (or roll back for a dry run).
fn ingest_in(
    conn: &mut Connection,
    obs: &Observation,
    opts: &IngestOptions,
    policy: &Policy,
) -> Result<(IngestReport, Written), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let reconciled = reconcile(obs, &TxView { tx: &tx }, policy)?;
    let mut report = IngestReport::counting(&reconciled.delta, opts.dry_run);
    report.explanations = reconciled.explanations;
    report.errors = reconciled.errors;
    if opts.dry_run {
        tx.rollback()?;
        report.delta = Some(reconciled.delta);
        return Ok((report, Written::default()));
    }
    let d = &reconciled.delta;
    let mut w = Written {
        classes: d
            .cis
            .iter()
            .filter(|w| !w.touch_only)
            .map(|w| (w.ci.id.0.clone(), w.ci.class))
            .collect(),
        ..Default::default()
    };
    apply_delta(&tx, d, &mut w.dirty, &mut w.edges)?;
    (report.staled, report.relationships_closed) = mark_stale(&tx, d, &mut w.edges)?;
    w.logged = graph_changes::log(&tx, Some(&w.touched()))?;
    tx.commit()?;
    if report.created >= OPTIMIZE_AFTER_CREATED {
        optimize(conn);
    }
    Ok((report, w))
}

/// The CIs a lifecycle change touches, as the adjacency index names them.
fn touched_ids(change: &LifecycleDelta) -> HashSet<String> {
    change.touched().iter().map(|id| id.to_string()).collect()
}
