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
use std::sync::Arc;

use async_trait::async_trait;
use cmdb_model::{
    reconcile, ChangeKind, Ci, CiClass, CiId, CiStatus, CurrentView, Delta, Evidence, HistoryEntry,
    Observation, Policy, RelKey, RelStatus, RelType, Relationship, Source, Timestamp, ViewError,
    WriteKind,
};
use parking_lot::{Mutex, RwLock};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adjacency::Adjacency;

mod impact;
use crate::cursor::{decode_cursor, encode_cursor, order_field, sort_value};
use crate::graph_changes::{self, CatchUp, Logged};
use crate::types::*;
use crate::{GraphStore, StoreError};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cis (
    id TEXT PRIMARY KEY,
    class TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    placeholder INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cis_class ON cis (class, id);
CREATE INDEX IF NOT EXISTS cis_name ON cis (name, id);
CREATE INDEX IF NOT EXISTS cis_last_seen ON cis (last_seen, id);
CREATE INDEX IF NOT EXISTS cis_status ON cis (status, id);
CREATE TABLE IF NOT EXISTS ci_tags (tag TEXT NOT NULL, ci_id TEXT NOT NULL, PRIMARY KEY (tag, ci_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ci_tags_ci ON ci_tags (ci_id);
CREATE TABLE IF NOT EXISTS ci_sources (source TEXT NOT NULL, ci_id TEXT NOT NULL, PRIMARY KEY (source, ci_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ci_sources_ci ON ci_sources (ci_id);
CREATE TABLE IF NOT EXISTS identifiers (key TEXT NOT NULL, ci_id TEXT NOT NULL, parent TEXT, PRIMARY KEY (key, ci_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_ci ON identifiers (ci_id);
CREATE INDEX IF NOT EXISTS identifiers_parent ON identifiers (parent) WHERE parent IS NOT NULL;
CREATE TABLE IF NOT EXISTS aliases (old_id TEXT PRIMARY KEY, ci_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_ci ON aliases (ci_id);
CREATE TABLE IF NOT EXISTS rels (
    from_id TEXT NOT NULL,
    type TEXT NOT NULL,
    to_id TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (from_id, type, to_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rels_to ON rels (to_id, type);
CREATE TABLE IF NOT EXISTS sightings (
    source TEXT NOT NULL, target TEXT NOT NULL, entity TEXT NOT NULL, run_id TEXT NOT NULL, seen_at INTEGER NOT NULL,
    PRIMARY KEY (source, target, entity)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sightings_entity ON sightings (entity);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ci_id TEXT NOT NULL,
    other_id TEXT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    field TEXT,
    rel_type TEXT,
    old TEXT,
    new TEXT,
    source TEXT NOT NULL,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS history_ci ON history (ci_id, seq);
CREATE INDEX IF NOT EXISTS history_other ON history (other_id, seq) WHERE other_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS graph_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, ids TEXT, n INTEGER NOT NULL);
"#;

#[derive(Debug, Clone)]
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

/// What the CI row's `body` column holds (the rest are columns). Compact on purpose: keys are
/// one letter and provenance is a tuple, because at a million CIs every byte per attribute is a
/// megabyte of page cache.
#[derive(Serialize, Deserialize)]
struct CiBody {
    #[serde(rename = "t", default, skip_serializing_if = "BTreeSet::is_empty")]
    tags: BTreeSet<String>,
    #[serde(rename = "a", default)]
    attributes: std::collections::BTreeMap<String, StoredAttr>,
    #[serde(rename = "s", default)]
    sources: BTreeSet<Source>,
    /// Absent in rows written before identifications were recorded.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    identification: Option<StoredIdentification>,
}

/// `[outcome, rule, explanation, source, at_ms, run_id, merged]`
#[derive(Serialize, Deserialize)]
struct StoredIdentification(
    cmdb_model::IdentificationOutcome,
    Option<String>,
    String,
    String,
    i64,
    #[serde(default)] Option<String>,
    #[serde(default)] Vec<String>,
);

impl From<&cmdb_model::Identification> for StoredIdentification {
    fn from(i: &cmdb_model::Identification) -> Self {
        StoredIdentification(
            i.outcome,
            i.rule.clone(),
            i.explanation.clone(),
            i.source.0.clone(),
            ms(i.at),
            i.run_id.as_ref().map(|r| r.0.clone()),
            i.merged.iter().map(|m| m.0.clone()).collect(),
        )
    }
}

impl From<StoredIdentification> for cmdb_model::Identification {
    fn from(s: StoredIdentification) -> Self {
        cmdb_model::Identification {
            outcome: s.0,
            rule: s.1,
            explanation: s.2,
            source: Source(s.3),
            at: from_ms(s.4),
            run_id: s.5.map(cmdb_model::RunId),
            merged: s.6.into_iter().map(CiId).collect(),
        }
    }
}

/// `[value, source, updated_at_ms, run_id]`
#[derive(Serialize, Deserialize)]
struct StoredAttr(Value, String, i64, #[serde(default)] Option<String>);

impl From<&cmdb_model::Attribute> for StoredAttr {
    fn from(a: &cmdb_model::Attribute) -> Self {
        StoredAttr(
            a.value.clone(),
            a.source.0.clone(),
            ms(a.updated_at),
            a.run_id.as_ref().map(|r| r.0.clone()),
        )
    }
}

impl From<StoredAttr> for cmdb_model::Attribute {
    fn from(s: StoredAttr) -> Self {
        cmdb_model::Attribute {
            value: s.0,
            source: Source(s.1),
            updated_at: from_ms(s.2),
            run_id: s.3.map(cmdb_model::RunId),
        }
    }
}

/// `[source, kind, confidence, observations, first_seen_ms, last_seen_ms, last_run]`
#[derive(Serialize, Deserialize)]
struct StoredEvidence(
    String,
    cmdb_model::EvidenceKind,
    f64,
    u32,
    i64,
    i64,
    #[serde(default)] Option<String>,
);

impl From<&Evidence> for StoredEvidence {
    fn from(e: &Evidence) -> Self {
        StoredEvidence(
            e.source.0.clone(),
            e.kind,
            e.confidence,
            e.observations,
            ms(e.first_seen),
            ms(e.last_seen),
            e.last_run.as_ref().map(|r| r.0.clone()),
        )
    }
}

impl From<StoredEvidence> for Evidence {
    fn from(s: StoredEvidence) -> Self {
        Evidence {
            source: Source(s.0),
            kind: s.1,
            confidence: s.2,
            observations: s.3,
            first_seen: from_ms(s.4),
            last_seen: from_ms(s.5),
            last_run: s.6.map(cmdb_model::RunId),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RelBody {
    #[serde(rename = "e")]
    evidence: Vec<StoredEvidence>,
    #[serde(
        rename = "a",
        default,
        skip_serializing_if = "serde_json::Map::is_empty"
    )]
    attributes: serde_json::Map<String, Value>,
}

fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(v).unwrap_or_default()
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("serialising: {e}")))
}

fn rel_entity(k: &RelKey) -> String {
    format!("r|{}|{}|{}", k.rel_type.as_str(), k.from, k.to)
}

fn row_to_ci(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Ci, StoreError>> {
    let id: String = row.get(0)?;
    let class: String = row.get(1)?;
    let name: String = row.get(2)?;
    let status: String = row.get(3)?;
    let placeholder: i64 = row.get(4)?;
    let first_seen: i64 = row.get(5)?;
    let last_seen: i64 = row.get(6)?;
    let body: String = row.get(7)?;
    Ok((|| {
        let body: CiBody = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("CI {id}: {e}")))?;
        Ok(Ci {
            class: class.parse().map_err(StoreError::Corrupt)?,
            status: status.parse().map_err(StoreError::Corrupt)?,
            id: CiId(id),
            name,
            tags: body.tags,
            attributes: body
                .attributes
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            sources: body.sources,
            placeholder: placeholder != 0,
            first_seen: from_ms(first_seen),
            last_seen: from_ms(last_seen),
            identification: body.identification.map(Into::into),
        })
    })())
}

const CI_COLUMNS: &str = "id, class, name, status, placeholder, first_seen, last_seen, body";
const REL_COLUMNS: &str = "from_id, type, to_id, status, first_seen, last_seen, body";

fn row_to_rel(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Relationship, StoreError>> {
    let from: String = row.get(0)?;
    let t: String = row.get(1)?;
    let to: String = row.get(2)?;
    let status: String = row.get(3)?;
    let first_seen: i64 = row.get(4)?;
    let last_seen: i64 = row.get(5)?;
    let body: String = row.get(6)?;
    Ok((|| {
        let body: RelBody = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("relationship {from}-{t}->{to}: {e}")))?;
        Ok(Relationship {
            rel_type: t.parse().map_err(StoreError::Corrupt)?,
            from: CiId(from),
            to: CiId(to),
            status: if status == "ACTIVE" {
                RelStatus::Active
            } else {
                RelStatus::Closed
            },
            evidence: body.evidence.into_iter().map(Into::into).collect(),
            attributes: body.attributes,
            first_seen: from_ms(first_seen),
            last_seen: from_ms(last_seen),
        })
    })())
}

fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, StoreError>>>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

fn status_str(s: RelStatus) -> &'static str {
    match s {
        RelStatus::Active => "ACTIVE",
        RelStatus::Closed => "CLOSED",
    }
}

/// Create the database file (owner read/write only) if it does not exist yet. SQLite creates
/// `-wal`/`-shm` with the mode of the database file.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

fn open_connection(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode: a committed transaction survives a process crash; only an OS crash
    // or power loss can roll back the last commits, never leave half of one.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Reads go through the OS page cache without copying; the file is shared by all
    // connections, so this costs no extra memory per reader.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    // Checkpoint the WAL every ~40 MiB instead of every 4 MiB: fewer, larger sequential writes.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    register_regexp(&conn)?;
    register_name_contains(&conn)?;
    Ok(conn)
}

/// `cmdb_name_contains(name, folded)`: the search box's name rule
/// (`cmdb_model::search::name_contains`), so SQL answers exactly what the model says.
fn register_name_contains(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "cmdb_name_contains",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let name = ctx.get_raw(0).as_str().unwrap_or("");
            let folded = ctx.get_raw(1).as_str().unwrap_or("");
            Ok(cmdb_model::search::name_contains(name, folded))
        },
    )?;
    Ok(())
}

/// `regexp(pattern, text)` for name filters; compiled patterns are cached per statement.
fn register_regexp(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re: Arc<regex::Regex> = ctx.get_or_create_aux(
                0,
                |vr| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                    let pat = vr.as_str()?;
                    Ok(regex::RegexBuilder::new(pat).size_limit(1 << 20).build()?)
                },
            )?;
            let text = ctx.get_raw(1).as_str().unwrap_or("");
            Ok(re.is_match(text))
        },
    )?;
    Ok(())
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
            (graph_changes::load_all(c)?, applied)
        } else {
            let tx = writer.unchecked_transaction()?;
            let r = (graph_changes::load_all(&tx)?, graph_changes::newest(&tx)?);
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

    /// Insert a whole-graph snapshot verbatim (ids, provenance, evidence, history kept) in one
    /// transaction, then rebuild the adjacency index. For `cmdb migrate`; the store should be
    /// empty (existing rows with the same ids are overwritten).
    pub fn load_snapshot(&self, snap: &crate::neo4j::Snapshot) -> Result<(), StoreError> {
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

    fn history_entries(
        &self,
        c: &Connection,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        let total: i64 = c.query_row(
            "SELECT COUNT(*) FROM history WHERE ci_id = ?1 OR other_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let limit = page.first.or(page.last).unwrap_or(100).min(10_000);
        let before_seq: i64 = match &page.after {
            Some(cur) => decode_cursor(cur)
                .and_then(|v| v.get(0).and_then(Value::as_i64))
                .ok_or_else(|| StoreError::InvalidInput("invalid cursor".into()))?,
            None => i64::MAX,
        };
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {HISTORY_COLUMNS} FROM history WHERE (ci_id = ?1 OR other_id = ?1) AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(params![id, before_seq, (limit + 1) as i64], row_to_history)?;
        let mut items = Vec::new();
        for r in rows {
            let (seq, e) = r??;
            items.push((encode_cursor(&serde_json::json!([seq])), e));
        }
        let has_next = items.len() > limit;
        items.truncate(limit);
        Ok(Page {
            items,
            total_count: total as usize,
            has_next_page: has_next,
            has_previous_page: page.after.is_some(),
        })
    }

    fn load_rels(
        &self,
        c: &Connection,
        keys: &[(String, RelType, String)],
    ) -> Result<Vec<Relationship>, StoreError> {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3"
        ))?;
        let mut out = Vec::with_capacity(keys.len());
        for (f, t, d) in keys {
            if let Some(r) = stmt
                .query_row(params![f, t.as_str(), d], row_to_rel)
                .optional()?
            {
                out.push(r?);
            }
        }
        Ok(out)
    }
}

/// An ingest that created this many CIs may have changed the tables' shape enough for the
/// query planner's statistics to mislead it.
const OPTIMIZE_AFTER_CREATED: usize = 1000;

/// Refresh the planner's statistics where they are missing or stale (SQLite's `PRAGMA
/// optimize`; cheap when nothing changed). Without them the planner guesses, and for
/// `class IN (…) AND status IN (…)` it picked the status index — every ACTIVE CI — over the
/// class index: 70 ms instead of 2 ms for a page of hosts among 40k CIs.
fn optimize(conn: &Connection) {
    if let Err(e) = conn.execute_batch("PRAGMA optimize=0x10002;") {
        tracing::debug!(error = %e, "PRAGMA optimize failed; the planner keeps its old statistics");
    }
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(crate::ops::SQLITE_SCHEMA)?;
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match v.as_deref().map(str::parse::<i64>) {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
        }
        Some(Ok(v)) if v == SCHEMA_VERSION => {}
        Some(Ok(v)) if v > SCHEMA_VERSION => {
            return Err(StoreError::Corrupt(format!("the store was written by a newer cmdb (schema {v}, this build knows {SCHEMA_VERSION})")));
        }
        Some(_) => return Err(StoreError::Corrupt("unreadable schema version".into())),
    }
    Ok(())
}

/// Reconciliation's view of the graph, read inside the write transaction.
struct TxView<'a> {
    tx: &'a Transaction<'a>,
}

fn verr(e: impl std::fmt::Display) -> ViewError {
    ViewError(e.to_string())
}

fn get_ci(c: &Connection, id: &str) -> Result<Option<Ci>, StoreError> {
    let mut stmt = c.prepare_cached(&format!("SELECT {CI_COLUMNS} FROM cis WHERE id = ?1"))?;
    if let Some(ci) = stmt.query_row([id], row_to_ci).optional()? {
        return Ok(Some(ci?));
    }
    let mut alias = c.prepare_cached("SELECT ci_id FROM aliases WHERE old_id = ?1")?;
    let target: Option<String> = alias.query_row([id], |r| r.get(0)).optional()?;
    match target {
        Some(t) if t != id => {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {CI_COLUMNS} FROM cis WHERE id = ?1"))?;
            match stmt.query_row([&t], row_to_ci).optional()? {
                Some(ci) => Ok(Some(ci?)),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

fn get_rel(c: &Connection, k: &RelKey) -> Result<Option<Relationship>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3"
    ))?;
    match stmt
        .query_row(
            params![k.from.as_str(), k.rel_type.as_str(), k.to.as_str()],
            row_to_rel,
        )
        .optional()?
    {
        Some(r) => Ok(Some(r?)),
        None => Ok(None),
    }
}

impl CurrentView for TxView<'_> {
    fn ci(&self, id: &CiId) -> Result<Option<Ci>, ViewError> {
        get_ci(self.tx, id.as_str()).map_err(verr)
    }
    fn lookup(&self, key: &str) -> Result<Vec<CiId>, ViewError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT ci_id FROM identifiers WHERE key = ?1")
            .map_err(verr)?;
        let rows = stmt
            .query_map([key], |r| r.get::<_, String>(0))
            .map_err(verr)?;
        rows.map(|r| r.map(CiId).map_err(verr)).collect()
    }
    fn relationship(&self, key: &RelKey) -> Result<Option<Relationship>, ViewError> {
        get_rel(self.tx, key).map_err(verr)
    }
    fn dependents(&self, parent: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT ci_id, key FROM identifiers WHERE parent = ?1 ORDER BY ci_id, key",
            )
            .map_err(verr)?;
        let rows = stmt
            .query_map([parent.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(verr)?;
        let mut out: Vec<(CiId, Vec<String>)> = Vec::new();
        for r in rows {
            let (id, key) = r.map_err(verr)?;
            match out.last_mut() {
                Some((last, keys)) if last.as_str() == id => keys.push(key),
                _ => out.push((CiId(id), vec![key])),
            }
        }
        Ok(out)
    }
    fn incoming(&self, to: &CiId, rel_type: RelType) -> Result<Vec<Relationship>, ViewError> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT {REL_COLUMNS} FROM rels WHERE to_id = ?1 AND type = ?2"
            ))
            .map_err(verr)?;
        let rows = stmt
            .query_map(params![to.as_str(), rel_type.as_str()], row_to_rel)
            .map_err(verr)?;
        collect(rows).map_err(verr)
    }
}

fn insert_history(tx: &Transaction<'_>, e: &HistoryEntry) -> Result<(), StoreError> {
    // Relationship entries are filed under the `from` end with the `to` end in other_id.
    let (ci, other) = match &e.relationship {
        Some(k) => (k.from.as_str(), Some(k.to.as_str())),
        None => (e.ci.as_str(), None),
    };
    let js = |v: &Option<Value>| v.as_ref().map(|v| v.to_string());
    let mut stmt = tx.prepare_cached(
        "INSERT INTO history (ci_id, other_id, at, kind, field, rel_type, old, new, source, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    stmt.execute(params![
        ci,
        other,
        ms(e.at),
        e.kind.as_str(),
        e.field,
        e.relationship.as_ref().map(|k| k.rel_type.as_str()),
        js(&e.old),
        js(&e.new),
        e.source.as_str(),
        e.run_id.as_ref().map(|r| r.as_str())
    ])?;
    Ok(())
}

const HISTORY_COLUMNS: &str =
    "seq, ci_id, other_id, at, kind, field, rel_type, old, new, source, run_id";

fn row_to_history(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<(i64, HistoryEntry), StoreError>> {
    let seq: i64 = row.get(0)?;
    let ci: String = row.get(1)?;
    let other: Option<String> = row.get(2)?;
    let at: i64 = row.get(3)?;
    let kind: String = row.get(4)?;
    let field: Option<String> = row.get(5)?;
    let rel_type: Option<String> = row.get(6)?;
    let old: Option<String> = row.get(7)?;
    let new: Option<String> = row.get(8)?;
    let source: String = row.get(9)?;
    let run_id: Option<String> = row.get(10)?;
    Ok((|| {
        let parse = |v: Option<String>| -> Result<Option<Value>, StoreError> {
            v.map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("history {seq}: {e}")))
            })
            .transpose()
        };
        let relationship = match (rel_type, &other) {
            (Some(t), Some(o)) => Some(RelKey {
                rel_type: t.parse().map_err(StoreError::Corrupt)?,
                from: CiId(ci.clone()),
                to: CiId(o.clone()),
            }),
            _ => None,
        };
        Ok((
            seq,
            HistoryEntry {
                ci: CiId(ci),
                at: from_ms(at),
                kind: kind.parse().map_err(StoreError::Corrupt)?,
                field,
                relationship,
                old: parse(old)?,
                new: parse(new)?,
                source: Source(source),
                run_id: run_id.map(cmdb_model::RunId),
            },
        ))
    })())
}

fn write_ci(
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

fn write_rel(tx: &Transaction<'_>, r: &Relationship) -> Result<(), StoreError> {
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

fn apply_merge(
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

fn apply_delta(
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

/// After a complete run over a scope: what this source saw there before and not now loses
/// that sighting; what no source sees any more becomes STALE (CIs) or CLOSED (relationships).
fn mark_stale(
    tx: &Transaction<'_>,
    d: &Delta,
    edges: &mut Vec<EdgeChange>,
) -> Result<(usize, usize), StoreError> {
    if !d.scope.complete || d.scope.targets.is_empty() {
        return Ok((0, 0));
    }
    let mut gone = Vec::new();
    for target in &d.scope.targets {
        let mut stmt = tx.prepare_cached(
            "SELECT entity FROM sightings WHERE source = ?1 AND target = ?2 AND run_id != ?3",
        )?;
        let rows = stmt.query_map(params![d.source.as_str(), target, d.run_id.as_str()], |r| {
            r.get::<_, String>(0)
        })?;
        for r in rows {
            gone.push(r?);
        }
        tx.prepare_cached(
            "DELETE FROM sightings WHERE source = ?1 AND target = ?2 AND run_id != ?3",
        )?
        .execute(params![d.source.as_str(), target, d.run_id.as_str()])?;
    }
    let (mut staled, mut closed) = (0, 0);
    for entity in gone {
        let remaining: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM sightings WHERE entity = ?1")?
            .query_row([&entity], |r| r.get(0))?;
        if remaining > 0 {
            continue;
        }
        let hist = |ci: &CiId,
                    kind: ChangeKind,
                    field: Option<&str>,
                    rel: Option<RelKey>,
                    old: &str,
                    new: &str| HistoryEntry {
            ci: ci.clone(),
            at: d.at,
            kind,
            field: field.map(str::to_string),
            relationship: rel,
            old: Some(Value::String(old.into())),
            new: Some(Value::String(new.into())),
            source: d.source.clone(),
            run_id: Some(d.run_id.clone()),
        };
        if let Some(rest) = entity.strip_prefix("r|") {
            let mut parts = rest.splitn(3, '|');
            let (Some(t), Some(f), Some(to)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(t) = t.parse::<RelType>() else {
                continue;
            };
            let key = RelKey {
                rel_type: t,
                from: CiId(f.into()),
                to: CiId(to.into()),
            };
            let n = tx
                .prepare_cached("UPDATE rels SET status = 'CLOSED' WHERE from_id = ?1 AND type = ?2 AND to_id = ?3 AND status = 'ACTIVE'")?
                .execute(params![f, t.as_str(), to])?;
            if n > 0 {
                closed += 1;
                edges.push((f.to_string(), t, to.to_string(), false));
                insert_history(
                    tx,
                    &hist(
                        &key.from.clone(),
                        ChangeKind::RelationshipClosed,
                        None,
                        Some(key),
                        "ACTIVE",
                        "CLOSED",
                    ),
                )?;
            }
        } else {
            let n = tx
                .prepare_cached(
                    "UPDATE cis SET status = 'STALE' WHERE id = ?1 AND status = 'ACTIVE'",
                )?
                .execute([&entity])?;
            if n > 0 {
                staled += 1;
                insert_history(
                    tx,
                    &hist(
                        &CiId(entity.clone()),
                        ChangeKind::StatusChanged,
                        Some("status"),
                        None,
                        "ACTIVE",
                        "STALE",
                    ),
                )?;
            }
        }
    }
    Ok((staled, closed))
}

/// An edge to add to (true) or remove from (false) the adjacency index after commit.
type EdgeChange = (String, RelType, String, bool);

/// WHERE clause (fixed SQL fragments only) and its bound parameters.
fn filter_sql(f: &CiFilter) -> Result<(String, Vec<rusqlite::types::Value>), StoreError> {
    use rusqlite::types::Value as V;
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<V> = Vec::new();
    let placeholders = |params: &mut Vec<V>, vals: Vec<V>| -> String {
        let mut ps = Vec::new();
        for v in vals {
            params.push(v);
            ps.push(format!("?{}", params.len()));
        }
        ps.join(", ")
    };
    if !f.classes.is_empty() {
        let p = placeholders(
            &mut params,
            f.classes.iter().map(|c| V::Text(c.to_string())).collect(),
        );
        clauses.push(format!("class IN ({p})"));
    }
    if let Some((mode, value)) = &f.name {
        match mode {
            NameMatch::Equals => {
                let p = placeholders(&mut params, vec![V::Text(value.clone())]);
                clauses.push(format!("name = {p}"));
            }
            NameMatch::Contains => {
                let escaped = value
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                let p = placeholders(&mut params, vec![V::Text(format!("%{escaped}%"))]);
                clauses.push(format!("name LIKE {p} ESCAPE '\\'"));
            }
            NameMatch::Regex => {
                regex::RegexBuilder::new(value)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| StoreError::InvalidInput(format!("invalid name regex: {e}")))?;
                let p = placeholders(&mut params, vec![V::Text(value.clone())]);
                clauses.push(format!("regexp({p}, name)"));
            }
        }
    }
    for tag in &f.tags {
        let p = placeholders(&mut params, vec![V::Text(tag.clone())]);
        clauses.push(format!("id IN (SELECT ci_id FROM ci_tags WHERE tag = {p})"));
    }
    if !f.statuses.is_empty() {
        let p = placeholders(
            &mut params,
            f.statuses
                .iter()
                .map(|s| V::Text(s.as_str().into()))
                .collect(),
        );
        clauses.push(format!("status IN ({p})"));
    }
    if let Some(src) = &f.source {
        let p = placeholders(&mut params, vec![V::Text(src.clone())]);
        clauses.push(format!(
            "id IN (SELECT ci_id FROM ci_sources WHERE source = {p})"
        ));
    }
    if let Some(ip) = &f.ip_address {
        let norm =
            cmdb_model::identify::normalize_ip(ip).unwrap_or_else(|| ip.trim().to_lowercase());
        let p = placeholders(
            &mut params,
            vec![
                V::Text(format!("device||ip_addresses|{norm}")),
                V::Text(format!("IpAddress||address|{norm}")),
            ],
        );
        clauses.push(format!(
            "id IN (SELECT ci_id FROM identifiers WHERE key IN ({p}))"
        ));
    }
    for (k, v) in &f.attributes {
        // CiBody keeps attributes under `a` as `[value, source, at, run]`.
        let path = format!("$.a.\"{}\"[0]", k.replace('"', "\\\""));
        let (p1, expected) = match v {
            Value::String(s) => (
                placeholders(&mut params, vec![V::Text(path)]),
                V::Text(s.clone()),
            ),
            other => (
                placeholders(&mut params, vec![V::Text(path)]),
                V::Text(other.to_string()),
            ),
        };
        let p2 = placeholders(&mut params, vec![expected]);
        if matches!(v, Value::String(_)) {
            clauses.push(format!("json_extract(body, {p1}) = {p2}"));
        } else {
            // Compare JSON text so numbers, booleans, arrays and objects match exactly.
            clauses.push(format!("json(json_extract(body, {p1})) = json({p2})"));
            let _ = &p2;
        }
    }
    if let Some(t) = f.last_seen_before {
        let p = placeholders(&mut params, vec![V::Integer(ms(t))]);
        clauses.push(format!("last_seen < {p}"));
    }
    if let Some(t) = f.last_seen_after {
        let p = placeholders(&mut params, vec![V::Integer(ms(t))]);
        clauses.push(format!("last_seen > {p}"));
    }
    if let Some(ids) = &f.ids {
        if ids.is_empty() {
            clauses.push("0".into());
        } else {
            let p = placeholders(
                &mut params,
                ids.iter().map(|i| V::Text(i.to_string())).collect(),
            );
            clauses.push(format!("id IN ({p})"));
        }
    }
    let sql = if clauses.is_empty() {
        "1".to_string()
    } else {
        clauses.join(" AND ")
    };
    Ok((sql, params))
}

fn find(
    c: &Connection,
    filter: &CiFilter,
    order: CiOrder,
    page: &PageRequest,
) -> Result<Page<Ci>, StoreError> {
    use rusqlite::types::Value as V;
    let (where_sql, mut params) = filter_sql(filter)?;
    let total: i64 = c.query_row(
        &format!("SELECT COUNT(*) FROM cis WHERE {where_sql}"),
        params_from_iter(params.iter()),
        |r| r.get(0),
    )?;
    let col = order_field(order.field);
    let backwards = page.last.is_some() && page.first.is_none();
    let limit = if backwards {
        page.last.unwrap_or(100)
    } else {
        page.first.unwrap_or(100)
    };
    // Scan direction: ascending unless (descending XOR backwards).
    let asc = order.descending == backwards;
    let mut clauses = vec![where_sql];
    let cursor_bound =
        |params: &mut Vec<V>, cur: &str, greater: bool| -> Result<String, StoreError> {
            let v = decode_cursor(cur)
                .ok_or_else(|| StoreError::InvalidInput("invalid cursor".into()))?;
            let (Some(sv), Some(id)) = (v.get(0).cloned(), v.get(1).and_then(Value::as_str)) else {
                return Err(StoreError::InvalidInput("invalid cursor".into()));
            };
            let sv = match sv {
                Value::String(s) => V::Text(s),
                Value::Number(n) => V::Integer(n.as_i64().unwrap_or(0)),
                _ => return Err(StoreError::InvalidInput("invalid cursor".into())),
            };
            params.push(sv);
            let a = params.len();
            params.push(V::Text(id.to_string()));
            let b = params.len();
            let op = if greater { ">" } else { "<" };
            Ok(format!("({col}, id) {op} (?{a}, ?{b})"))
        };
    // `after` bounds the scan start in the forward order; `before` in the backward one.
    if let Some(cur) = &page.after {
        clauses.push(cursor_bound(&mut params, cur, !order.descending)?);
    }
    if let Some(cur) = &page.before {
        clauses.push(cursor_bound(&mut params, cur, order.descending)?);
    }
    let dir = if asc { "ASC" } else { "DESC" };
    params.push(V::Integer((limit + 1) as i64));
    let sql = format!(
        "SELECT {CI_COLUMNS} FROM cis WHERE {} ORDER BY {col} {dir}, id {dir} LIMIT ?{}",
        clauses.join(" AND "),
        params.len()
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter()), row_to_ci)?;
    let mut cis = collect(rows)?;
    let more = cis.len() > limit;
    cis.truncate(limit);
    if backwards {
        cis.reverse();
    }
    let items = cis
        .into_iter()
        .map(|ci| {
            (
                encode_cursor(&serde_json::json!([
                    sort_value(&ci, order.field),
                    ci.id.as_str()
                ])),
                ci,
            )
        })
        .collect();
    let (has_next_page, has_previous_page) = if backwards {
        (page.before.is_some(), more)
    } else {
        (more, page.after.is_some())
    };
    Ok(Page {
        items,
        total_count: total as usize,
        has_next_page,
        has_previous_page,
    })
}

/// The search box (`GraphStore::search`) in SQL. Identifier matches are a materialised set:
/// exact keys through the primary key, dependent classes' patterns as a range scan over their
/// family's keys compared by suffix. Names are scanned with the model's rule.
fn search(c: &Connection, q: &SearchQuery, page: &PageRequest) -> Result<Page<Ci>, StoreError> {
    use rusqlite::types::Value as V;
    let crate::cursor::SearchRequest { plan, limit, after } =
        crate::cursor::search_request(q, page)?;
    let mut params: Vec<V> = Vec::new();
    let mut p = |v: V| {
        params.push(v);
        format!("?{}", params.len())
    };
    let mut hit_parts: Vec<String> = Vec::new();
    if !plan.keys.is_empty() {
        let ps: Vec<String> = plan.keys.iter().map(|k| p(V::Text(k.clone()))).collect();
        hit_parts.push(format!(
            "SELECT ci_id FROM identifiers WHERE key IN ({})",
            ps.join(", ")
        ));
    }
    let mut by_prefix: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for pat in &plan.patterns {
        by_prefix.entry(&pat.prefix).or_default().push(&pat.suffix);
    }
    for (prefix, suffixes) in by_prefix {
        // Keys of the family: from `F|` up to (excluding) `F}` (`}` follows `|`).
        let lo = p(V::Text(prefix.to_string()));
        let hi = p(V::Text(format!("{}}}", &prefix[..prefix.len() - 1])));
        let conds: Vec<String> = suffixes
            .iter()
            .map(|sfx| {
                let ps = p(V::Text(sfx.to_string()));
                format!("substr(key, -length({ps})) = {ps}")
            })
            .collect();
        hit_parts.push(format!(
            "SELECT ci_id FROM identifiers WHERE key >= {lo} AND key < {hi} AND ({})",
            conds.join(" OR ")
        ));
    }
    if hit_parts.is_empty() {
        hit_parts.push("SELECT NULL WHERE 0".into());
    }
    let mut cond = Vec::new();
    if !q.classes.is_empty() {
        let ps: Vec<String> = q
            .classes
            .iter()
            .map(|c| p(V::Text(c.as_str().into())))
            .collect();
        cond.push(format!("class IN ({})", ps.join(", ")));
    }
    let folded = p(V::Text(plan.folded.clone()));
    let tag = p(V::Text(plan.text.clone()));
    cond.push(format!(
        "(id IN hit OR cmdb_name_contains(name, {folded}) OR id IN (SELECT ci_id FROM ci_tags WHERE tag = {tag}))"
    ));
    // One statement: the identifier hits and the matching CIs (`m`) are computed once and
    // serve both the count and the page.
    let with = format!(
        "WITH hit(id) AS MATERIALIZED ({}), \
         m AS MATERIALIZED (SELECT id, name, CASE WHEN id IN hit THEN {} ELSE {} END AS rank FROM cis WHERE {})",
        hit_parts.join(" UNION "),
        cmdb_model::search::RANK_IDENTIFIER,
        cmdb_model::search::RANK_OTHER,
        cond.join(" AND "),
    );
    let n_shared = params.len();
    let mut bound = String::from("1");
    if let Some(a) = &after {
        params.extend([
            V::Integer(a.rank),
            V::Text(a.name.clone()),
            V::Text(a.id.clone()),
        ]);
        let k = params.len();
        bound = format!("(m.rank, m.name, m.id) > (?{}, ?{}, ?{k})", k - 2, k - 1);
    }
    params.push(V::Integer((limit + 1) as i64));
    let columns: Vec<String> = CI_COLUMNS.split(", ").map(|c| format!("cis.{c}")).collect();
    let sql = format!(
        "{with} SELECT {}, m.rank, (SELECT COUNT(*) FROM m) FROM m JOIN cis ON cis.id = m.id \
         WHERE {bound} ORDER BY m.rank, m.name, m.id LIMIT ?{}",
        columns.join(", "),
        params.len()
    );
    let mut total: Option<i64> = None;
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter()), |row| {
        let rank: i64 = row.get(8)?;
        let n: i64 = row.get(9)?;
        Ok(row_to_ci(row)?.map(|ci| (rank, n, ci)))
    })?;
    let mut found = Vec::new();
    for r in collect(rows)? {
        let (rank, n, ci) = r;
        total = Some(n);
        found.push((rank, ci));
    }
    let total = match total {
        Some(n) => n,
        // A page past the end (or nothing at all) carries no count.
        None if after.is_some() => c.query_row(
            &format!("{with} SELECT COUNT(*) FROM m"),
            params_from_iter(params[..n_shared].iter()),
            |r| r.get(0),
        )?,
        None => 0,
    };
    Ok(crate::cursor::search_page(
        found,
        limit,
        total as usize,
        after.is_some(),
    ))
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
            let (f, t, d) = match after {
                Some(cur) => {
                    let v = decode_cursor(cur).ok_or_else(|| StoreError::InvalidInput("invalid cursor".into()))?;
                    let s = |i: usize| v.get(i).and_then(Value::as_str).map(str::to_string).unwrap_or_default();
                    (s(0), s(1), s(2))
                }
                None => (String::new(), String::new(), String::new()),
            };
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {REL_COLUMNS} FROM rels WHERE (from_id, type, to_id) > (?1, ?2, ?3) ORDER BY from_id, type, to_id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![f, t, d, limit as i64], row_to_rel)?;
            let rels = collect(rows)?;
            let next = if rels.len() == limit {
                rels.last().map(|r| encode_cursor(&serde_json::json!([r.from.as_str(), r.rel_type.as_str(), r.to.as_str()])))
            } else {
                None
            };
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
        let cutoff = cmdb_model::now() - older_than;
        let n = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ids: Vec<String> = {
                let mut stmt =
                    tx.prepare("SELECT id FROM cis WHERE status = 'STALE' AND last_seen < ?1")?;
                let rows = stmt.query_map([ms(cutoff)], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let now = cmdb_model::now();
            for id in &ids {
                tx.prepare_cached("UPDATE cis SET status = 'RETIRED' WHERE id = ?1")?
                    .execute([id])?;
                insert_history(
                    &tx,
                    &HistoryEntry {
                        ci: CiId(id.clone()),
                        at: now,
                        kind: ChangeKind::StatusChanged,
                        field: Some("status".into()),
                        relationship: None,
                        old: Some("STALE".into()),
                        new: Some("RETIRED".into()),
                        source: Source::new("retirement"),
                        run_id: None,
                    },
                )?;
            }
            tx.commit()?;
            Ok(ids.len())
        })?;
        Ok(n)
    }

    async fn retire(&self, id: &CiId, source: &str) -> Result<Ci, StoreError> {
        let (ci, dirty, logged) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut ci = get_ci(&tx, id.as_str())?.ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
            let now = cmdb_model::now();
            let mut dirty = HashSet::new();
            if ci.status != CiStatus::Retired {
                let old = ci.status;
                tx.prepare_cached("UPDATE cis SET status = 'RETIRED' WHERE id = ?1")?.execute([ci.id.as_str()])?;
                insert_history(&tx, &HistoryEntry {
                    ci: ci.id.clone(),
                    at: now,
                    kind: ChangeKind::StatusChanged,
                    field: Some("status".into()),
                    relationship: None,
                    old: Some(old.as_str().into()),
                    new: Some("RETIRED".into()),
                    source: Source::new(source),
                    run_id: None,
                })?;
                let rels = {
                    let mut stmt = tx.prepare(&format!("SELECT {REL_COLUMNS} FROM rels WHERE (from_id = ?1 OR to_id = ?1) AND status = 'ACTIVE'"))?;
                    let rows = stmt.query_map([ci.id.as_str()], row_to_rel)?;
                    collect(rows)?
                };
                for r in rels {
                    tx.prepare_cached("UPDATE rels SET status = 'CLOSED' WHERE from_id = ?1 AND type = ?2 AND to_id = ?3")?
                        .execute(params![r.from.as_str(), r.rel_type.as_str(), r.to.as_str()])?;
                    dirty.insert(r.from.to_string());
                    dirty.insert(r.to.to_string());
                    insert_history(&tx, &HistoryEntry {
                        ci: r.from.clone(),
                        at: now,
                        kind: ChangeKind::RelationshipClosed,
                        field: None,
                        relationship: Some(r.key()),
                        old: Some("ACTIVE".into()),
                        new: Some("CLOSED".into()),
                        source: Source::new(source),
                        run_id: None,
                    })?;
                }
                ci.status = CiStatus::Retired;
            }
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
        let (rel, logged) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut rel = get_rel(&tx, &key)?.ok_or_else(|| StoreError::NotFound(format!("relationship {key}")))?;
            let changed = rel.status == RelStatus::Active;
            if changed {
                tx.prepare_cached("UPDATE rels SET status = 'CLOSED' WHERE from_id = ?1 AND type = ?2 AND to_id = ?3")?
                    .execute(params![key.from.as_str(), key.rel_type.as_str(), key.to.as_str()])?;
                insert_history(&tx, &HistoryEntry {
                    ci: key.from.clone(),
                    at: cmdb_model::now(),
                    kind: ChangeKind::RelationshipClosed,
                    field: None,
                    relationship: Some(key.clone()),
                    old: Some("ACTIVE".into()),
                    new: Some("CLOSED".into()),
                    source: Source::new(source),
                    run_id: None,
                })?;
                rel.status = RelStatus::Closed;
            }
            let ends: BTreeSet<String> = if changed { [key.from.to_string(), key.to.to_string()].into() } else { BTreeSet::new() };
            let logged = graph_changes::log(&tx, Some(&ends))?;
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
        let (dirty, logged) = self.write(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ci = get_ci(&tx, id.as_str())?
                .ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
            let now = cmdb_model::now();
            let mut dirty = HashSet::from([ci.id.to_string()]);
            let rels = {
                let mut stmt = tx.prepare(&format!(
                    "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 OR to_id = ?1"
                ))?;
                let rows = stmt.query_map([ci.id.as_str()], row_to_rel)?;
                collect(rows)?
            };
            for r in rels {
                dirty.insert(r.from.to_string());
                dirty.insert(r.to.to_string());
                tx.prepare_cached("DELETE FROM sightings WHERE entity = ?1")?
                    .execute([rel_entity(&r.key())])?;
                insert_history(
                    &tx,
                    &HistoryEntry {
                        ci: r.from.clone(),
                        at: now,
                        kind: ChangeKind::RelationshipDeleted,
                        field: None,
                        relationship: Some(r.key()),
                        old: Some(status_str(r.status).into()),
                        new: None,
                        source: Source::new(source),
                        run_id: None,
                    },
                )?;
            }
            for sql in [
                "DELETE FROM rels WHERE from_id = ?1 OR to_id = ?1",
                "DELETE FROM identifiers WHERE ci_id = ?1",
                "DELETE FROM ci_tags WHERE ci_id = ?1",
                "DELETE FROM ci_sources WHERE ci_id = ?1",
                "DELETE FROM sightings WHERE entity = ?1",
                "DELETE FROM aliases WHERE ci_id = ?1",
                "DELETE FROM cis WHERE id = ?1",
            ] {
                tx.prepare_cached(sql)?.execute([ci.id.as_str()])?;
            }
            insert_history(
                &tx,
                &HistoryEntry {
                    ci: ci.id.clone(),
                    at: now,
                    kind: ChangeKind::CiDeleted,
                    field: None,
                    relationship: None,
                    old: Some(serde_json::json!({"class": ci.class, "name": ci.name})),
                    new: None,
                    source: Source::new(source),
                    run_id: None,
                },
            )?;
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
