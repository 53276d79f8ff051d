//! The Neo4j backend: the graph lives in a Neo4j 5 (or Bolt/openCypher-compatible) server,
//! reached over Bolt with neo4rs.
//!
//! - Nodes: every CI is `(:CI:<Class> {id, class, name, status, …})`, created with both labels
//!   when reconciliation finds it new, MERGEd on `:CI` + our own `id` otherwise (never on
//!   `elementId()`); a class change relabels in a later transaction.
//!   Identifier keys, aliases of merged-away ids, per-(source,target) sightings, history and
//!   schema metadata are their own labels (`CiIdentifier`, `CiAlias`, `Sighting`, `History`,
//!   `CmdbMeta`). See docs/graph-model.md.
//! - Relationships are real relationships typed by the model's enum (`RUNS_ON`, …).
//! - An ingest holds the one writer lock, reconciles against the graph through batched reads
//!   (see `view`), then applies the delta in ONE explicit transaction made of batched
//!   `UNWIND $rows … MERGE` statements. A failed attempt (conflict at commit, dropped
//!   connection, transient error) is retried from reconciliation with backoff: whatever an
//!   earlier attempt committed is then simply seen as existing, so nothing is ever duplicated.
//! - Every round-trip has a time limit; no error carries the password.
//!
//! Portability notes (ArcadeDB's Bolt plugin, used in tests, vs Neo4j): no autocommit writes,
//! no label added to a node in its creating transaction, no dynamic labels, no `elementId()`
//! stored, commit failures are treated as conflicts and retried, patterns anchored on the
//! indexed end. See docs/graph-model.md.

mod apply;
pub(crate) mod db;
mod ops;
mod probe;
mod read;
mod rows;
mod snapshot;
mod stale;
mod view;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use cmdb_model::lifecycle::{self, Actor, LifecycleDelta};
use cmdb_model::{
    ChangeKind, Ci, CiClass, CiId, CiStatus, HistoryEntry, Observation, Policy, Relationship,
};
use neo4rs::Graph;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::types::*;
use crate::{GraphStore, StoreError};
use db::{q, retryable, Tx};
use rows::{RelRow, REL_FIELDS};

/// Kept here too for callers of the Neo4j migration path; the type lives below both backends.
pub use crate::snapshot::{derive_identifiers, read_snapshot, Snapshot};
pub use probe_api::server_identity;

/// The schema version this build writes. Stored in `(:CmdbMeta {key: 'schema_version'})`.
pub const SCHEMA_VERSION: i64 = 2;

/// Versioned migrations: statements to bring the schema from version `n - 1` to `n`. Every
/// statement is idempotent (`IF NOT EXISTS`), so an interrupted migration is simply re-run.
const MIGRATIONS: &[(i64, &[&str])] = &[(
    1,
    &[
        "CREATE CONSTRAINT cmdb_ci_id IF NOT EXISTS FOR (n:CI) REQUIRE n.id IS UNIQUE",
        "CREATE INDEX cmdb_ci_class IF NOT EXISTS FOR (n:CI) ON (n.class)",
        "CREATE INDEX cmdb_ci_name IF NOT EXISTS FOR (n:CI) ON (n.name)",
        "CREATE INDEX cmdb_ci_last_seen IF NOT EXISTS FOR (n:CI) ON (n.last_seen)",
        "CREATE INDEX cmdb_ci_status IF NOT EXISTS FOR (n:CI) ON (n.status)",
        "CREATE CONSTRAINT cmdb_ident_kc IF NOT EXISTS FOR (n:CiIdentifier) REQUIRE n.kc IS UNIQUE",
        // Identifier keys include the IP keys (`device||ip_addresses|10.0.0.1`,
        // `IpAddress||address|10.0.0.1`): this is the IP index.
        "CREATE INDEX cmdb_ident_key IF NOT EXISTS FOR (n:CiIdentifier) ON (n.key)",
        "CREATE INDEX cmdb_ident_ci IF NOT EXISTS FOR (n:CiIdentifier) ON (n.ci)",
        "CREATE INDEX cmdb_ident_parent IF NOT EXISTS FOR (n:CiIdentifier) ON (n.parent)",
        "CREATE CONSTRAINT cmdb_alias_id IF NOT EXISTS FOR (n:CiAlias) REQUIRE n.id IS UNIQUE",
        "CREATE INDEX cmdb_alias_ci IF NOT EXISTS FOR (n:CiAlias) ON (n.ci)",
        "CREATE CONSTRAINT cmdb_sighting_k IF NOT EXISTS FOR (n:Sighting) REQUIRE n.k IS UNIQUE",
        "CREATE INDEX cmdb_sighting_st IF NOT EXISTS FOR (n:Sighting) ON (n.st)",
        "CREATE INDEX cmdb_sighting_entity IF NOT EXISTS FOR (n:Sighting) ON (n.entity)",
        "CREATE CONSTRAINT cmdb_history_seq IF NOT EXISTS FOR (n:History) REQUIRE n.seq IS UNIQUE",
        "CREATE INDEX cmdb_history_ci IF NOT EXISTS FOR (n:History) ON (n.ci)",
        "CREATE INDEX cmdb_history_other IF NOT EXISTS FOR (n:History) ON (n.other)",
        "CREATE CONSTRAINT cmdb_meta_key IF NOT EXISTS FOR (n:CmdbMeta) REQUIRE n.key IS UNIQUE",
    ],
),
// 2: alerts, operational status, incidents and webhook deliveries (`crate::ops`).
(2, ops::MIGRATION)];

/// Connection settings for the Neo4j backend (`[store] backend = "neo4j"`).
#[derive(Clone)]
pub struct Neo4jConfig {
    /// `bolt://host:port` or `neo4j://host:port` (a bare `host:port` means bolt).
    pub uri: String,
    pub user: String,
    /// Never logged, never in errors; `Debug` redacts it.
    pub password: String,
    /// Database name (`neo4j` on a default Neo4j install).
    pub database: String,
    /// Rows per `UNWIND` statement.
    pub batch_size: usize,
    /// Connections in the pool (reads run concurrently; writes are serialised).
    pub max_connections: usize,
    /// How long start-up keeps trying to reach the server before giving up.
    pub connect_timeout: Duration,
    /// Time limit of every single round-trip.
    pub query_timeout: Duration,
    /// Attempts of a write after the first one fails with a retryable error.
    pub max_retries: u32,
}

impl Default for Neo4jConfig {
    fn default() -> Self {
        Neo4jConfig {
            uri: "bolt://127.0.0.1:7687".into(),
            user: "neo4j".into(),
            password: String::new(),
            database: "neo4j".into(),
            batch_size: 5_000,
            max_connections: 8,
            connect_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(120),
            max_retries: 4,
        }
    }
}

impl std::fmt::Debug for Neo4jConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jConfig")
            .field("uri", &self.uri)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("database", &self.database)
            .field("batch_size", &self.batch_size)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("query_timeout", &self.query_timeout)
            .field("max_retries", &self.max_retries)
            .finish()
    }
}

mod probe_api {
    use super::*;
    /// Connect, authenticate and return the server's agent string, without building a store.
    pub async fn server_identity(cfg: &Neo4jConfig) -> Result<String, StoreError> {
        let (host, port) = probe::host_port(&cfg.uri)?;
        probe::hello(
            &host,
            port,
            &cfg.user,
            &cfg.password,
            cfg.query_timeout
                .min(cfg.connect_timeout.max(Duration::from_secs(1))),
        )
        .await
    }
}

#[derive(Clone)]
struct PoolConfig {
    addr: String,
    user: String,
    password: String,
    database: String,
    fetch_size: usize,
    max_connections: usize,
}

impl PoolConfig {
    async fn graph(&self) -> Result<Graph, StoreError> {
        let config = neo4rs::ConfigBuilder::default()
            .uri(self.addr.as_str())
            .user(self.user.as_str())
            .password(self.password.as_str())
            .db(self.database.as_str())
            .fetch_size(self.fetch_size)
            .max_connections(self.max_connections)
            .build()
            .map_err(|e| StoreError::InvalidInput(format!("invalid Neo4j configuration: {e}")))?;
        Graph::connect(config)
            .await
            .map_err(|e| db::map_err(e, "connect"))
    }
}

/// The Neo4j-backed store. Cheap to share behind an `Arc`.
pub struct Neo4jStore {
    graph: parking_lot::Mutex<Graph>,
    /// How to build a fresh pool (holds the password; never formatted).
    pool_config: PoolConfig,
    poison: db::Poison,
    pub(crate) batch_size: usize,
    query_timeout: Duration,
    max_retries: u32,
    server_agent: String,
    /// One writer: reconciliation + apply must see a graph nobody else changes meanwhile.
    pub(crate) writer: tokio::sync::Mutex<()>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Neo4jStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Neo4jStore")
            .field("server", &self.server_agent)
            .finish_non_exhaustive()
    }
}

impl Neo4jStore {
    /// Connect (waiting at most `connect_timeout` for the server to accept connections), check
    /// the server's identity and credentials, and bring the schema up to date.
    pub async fn connect(cfg: &Neo4jConfig) -> Result<Neo4jStore, StoreError> {
        if cfg.user.is_empty() {
            return Err(StoreError::InvalidInput("[store] user is empty".into()));
        }
        if cfg.database.is_empty() {
            return Err(StoreError::InvalidInput("[store] database is empty".into()));
        }
        let (host, port) = probe::host_port(&cfg.uri)?;
        let deadline = tokio::time::Instant::now() + cfg.connect_timeout;
        let mut delay = Duration::from_millis(100);
        let agent = loop {
            let left = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .max(Duration::from_millis(500));
            match probe::hello(
                &host,
                port,
                &cfg.user,
                &cfg.password,
                left.min(cfg.query_timeout),
            )
            .await
            {
                Ok(agent) => break agent,
                Err(e) if retryable(&e) && tokio::time::Instant::now() + delay < deadline => {
                    tracing::debug!(error = %e, "graph database not reachable yet; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        };
        if !agent.starts_with("Neo4j/") {
            return Err(StoreError::Unavailable(format!(
                "the server at {host}:{port} identifies as `{agent}`, not as Neo4j; the neo4j backend needs Neo4j 5 or a Neo4j-compatible Bolt server"
            )));
        }
        let pool_config = PoolConfig {
            addr: format!("{host}:{port}"),
            user: cfg.user.clone(),
            password: cfg.password.clone(),
            database: cfg.database.clone(),
            fetch_size: cfg.batch_size.clamp(200, 10_000),
            max_connections: cfg.max_connections.max(2),
        };
        let graph = pool_config.graph().await?;
        let store = Neo4jStore {
            graph: parking_lot::Mutex::new(graph),
            pool_config,
            poison: Default::default(),
            batch_size: cfg.batch_size.max(1),
            query_timeout: cfg.query_timeout,
            max_retries: cfg.max_retries,
            server_agent: agent,
            writer: tokio::sync::Mutex::new(()),
            closed: AtomicBool::new(false),
        };
        // The database must exist and answer Cypher.
        store
            .read_rows::<Value>(q("RETURN 1 AS one", json!({}))?)
            .await
            .map_err(|e| match e {
                StoreError::Backend(m) => StoreError::Unavailable(format!(
                    "database `{}` is not usable: {m}",
                    cfg.database
                )),
                other => other,
            })?;
        store.migrate().await?;
        tracing::info!(server = %store.server_agent, uri = %cfg.uri, database = %cfg.database, "neo4j store connected");
        Ok(store)
    }

    /// What the server said it is (`Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)`).
    pub fn server_agent(&self) -> &str {
        &self.server_agent
    }

    /// The configured rows per statement.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.check_open()?;
        if self.poison.swap(false, Ordering::AcqRel) {
            // Drop every pooled connection (they may be out of step) and start a new pool.
            let fresh = self.pool_config.graph().await?;
            *self.graph.lock() = fresh;
            tracing::info!("graph database connection pool rebuilt after a failed round-trip");
        }
        let graph = self.graph.lock().clone();
        Tx::begin(&graph, self.query_timeout, self.poison.clone()).await
    }

    /// One read statement in its own transaction.
    pub(crate) async fn read_rows<T: serde::de::DeserializeOwned>(
        &self,
        query: neo4rs::Query,
    ) -> Result<Vec<T>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = tx.rows(query).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        #[derive(Deserialize)]
        struct Ver {
            v: Option<i64>,
        }
        let rows: Vec<Ver> = self
            .read_rows(q(
                "MATCH (m:CmdbMeta {key: 'schema_version'}) RETURN m.value AS v",
                json!({}),
            )?)
            .await?;
        Ok(rows.into_iter().next().and_then(|r| r.v))
    }

    /// Bring the schema to [`SCHEMA_VERSION`]; refuse a graph written by a newer cmdb.
    async fn migrate(&self) -> Result<(), StoreError> {
        let current = self.schema_version().await?.unwrap_or(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the graph was written by a newer cmdb (schema {current}, this build knows {SCHEMA_VERSION})"
            )));
        }
        for (version, statements) in MIGRATIONS {
            if *version <= current {
                continue;
            }
            for stmt in *statements {
                // Schema statements one per transaction (neither Neo4j nor ArcadeDB mixes them
                // with data writes).
                let mut tx = self.begin().await?;
                tx.run(q(stmt, json!({}))?).await?;
                tx.commit().await?;
            }
            let mut tx = self.begin().await?;
            tx.run(q(
                "MERGE (m:CmdbMeta {key: 'schema_version'}) SET m.value = $v",
                json!({ "v": version }),
            )?)
            .await?;
            tx.commit().await?;
            tracing::info!(version, "graph schema migrated");
        }
        Ok(())
    }

    /// Delete every node and relationship of the database (tests; `cmdb migrate --force`).
    /// The schema stays; its version node is written again.
    pub async fn erase_everything(&self) -> Result<(), StoreError> {
        let _w = self.writer.lock().await;
        for label in ops::LABELS.iter().copied().chain([
            "History",
            "Sighting",
            "CiIdentifier",
            "CiAlias",
            "CI",
            "CmdbMeta",
        ]) {
            loop {
                #[derive(Deserialize)]
                struct N {
                    n: i64,
                }
                let mut tx = self.begin().await?;
                let r: Vec<N> = tx
                    .rows(q(&format!("MATCH (x:{label}) WITH x LIMIT $lim DETACH DELETE x RETURN count(*) AS n"), json!({ "lim": self.batch_size as i64 }))?)
                    .await?;
                tx.commit().await?;
                if r.first().map(|n| n.n).unwrap_or(0) == 0 {
                    break;
                }
            }
        }
        let mut tx = self.begin().await?;
        tx.run(q(
            "MERGE (m:CmdbMeta {key: 'schema_version'}) SET m.value = $v",
            json!({ "v": SCHEMA_VERSION }),
        )?)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Run a write with retries (exponential backoff) on conflicts and lost connections.
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        what: &str,
        mut f: F,
    ) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delay = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            self.check_open()?;
            match f().await {
                Err(e) if retryable(&e) && attempt < self.max_retries => {
                    attempt += 1;
                    tracing::warn!(operation = what, attempt, error = %e, "retrying after a retryable graph database error");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                r => return r,
            }
        }
    }

    async fn ingest_once(
        &self,
        obs: &Observation,
        opts: &IngestOptions,
    ) -> Result<(IngestReport, Vec<(String, String)>, bool), StoreError> {
        let policy = Policy {
            precedence: opts.precedence.clone(),
        };
        let t0 = std::time::Instant::now();
        let mut tx = self.begin().await?;
        let reconciled = view::reconcile_via(&mut tx, obs, &policy, self.batch_size).await?;
        let t_reconcile = t0.elapsed();
        let d = &reconciled.delta;
        let mut report = IngestReport::counting(d, opts.dry_run);
        if opts.dry_run {
            let _ = tx.rollback().await;
            report.explanations = reconciled.explanations;
            report.errors = reconciled.errors;
            report.delta = Some(reconciled.delta);
            return Ok((report, Vec::new(), false));
        }
        let mut hist = apply::HistoryWriter::new();
        apply::apply_delta(&mut tx, d, self.batch_size, &mut hist).await?;
        let t_apply = t0.elapsed();
        let (staled, closed) = stale::mark_stale(&mut tx, d, self.batch_size, &mut hist).await?;
        let t_stale = t0.elapsed();
        hist.flush(&mut tx, self.batch_size).await?;
        let t_hist = t0.elapsed();
        tx.commit().await?;
        tracing::debug!(
            reconcile_ms = t_reconcile.as_millis() as u64,
            apply_ms = (t_apply - t_reconcile).as_millis() as u64,
            stale_ms = (t_stale - t_apply).as_millis() as u64,
            history_ms = (t_hist - t_stale).as_millis() as u64,
            commit_ms = (t0.elapsed() - t_hist).as_millis() as u64,
            "ingest phases"
        );
        report.staled = staled;
        report.relationships_closed = closed;
        let labels = apply::class_labels_needed(d);
        let class_changed = d.history.iter().any(|h| h.kind == ChangeKind::ClassChanged);
        report.explanations = reconciled.explanations;
        report.errors = reconciled.errors;
        Ok((report, labels, class_changed))
    }

    /// Fix class labels after a class change (`:CI:Host` → `:CI:NetworkDevice`). In a
    /// transaction of its own, after the one that wrote the nodes (ArcadeDB turns labels into
    /// record types and reports false duplicate keys when a node is relabelled in the same
    /// transaction). Cosmetic for our reads, which use the `class` property;
    /// [`Neo4jStore::repair_labels`] catches up after a crash.
    async fn label(
        &self,
        ids: Vec<(String, String)>,
        class_changed: bool,
    ) -> Result<(), StoreError> {
        let mut by_class: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for (id, class) in ids {
            by_class.entry(class).or_default().push(Value::String(id));
        }
        let mut tx = self.begin().await?;
        for class in CiClass::ALL {
            let label = class.as_str();
            if class_changed {
                let all: Vec<Value> = by_class.values().flatten().cloned().collect();
                db::run_batched(
                    &mut tx,
                    &format!("UNWIND $rows AS id MATCH (n:CI {{id: id}}) WHERE n:{label} AND n.class <> '{label}' REMOVE n:{label}"),
                    all,
                    self.batch_size,
                    &json!({}),
                )
                .await?;
            }
            if let Some(rows) = by_class.remove(label) {
                db::run_batched(
                    &mut tx,
                    &format!("UNWIND $rows AS id MATCH (n:CI {{id: id}}) WHERE NOT n:{label} SET n:{label}"),
                    rows,
                    self.batch_size,
                    &json!({}),
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Label every CI whose class label is missing (after a crash between an ingest's commit
    /// and its labelling transaction). Idempotent.
    pub async fn repair_labels(&self) -> Result<(), StoreError> {
        for class in CiClass::ALL {
            let label = class.as_str();
            let mut tx = self.begin().await?;
            tx.run(q(
                &format!("MATCH (n:CI) WHERE n.class = $c AND NOT n:{label} SET n:{label}"),
                json!({ "c": label }),
            )?)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    async fn get_ci(&self, tx: &mut Tx, id: &str) -> Result<Option<Ci>, StoreError> {
        Ok(view::fetch_cis(tx, vec![id.to_string()], self.batch_size)
            .await?
            .into_iter()
            .next()
            .and_then(|(_, c)| c))
    }

    /// Apply a lifecycle rule's delta and store its history.
    async fn apply_lifecycle(&self, tx: &mut Tx, d: &LifecycleDelta) -> Result<(), StoreError> {
        let mut h = apply::HistoryWriter::new();
        apply::apply_lifecycle(tx, d, self.batch_size, &mut h).await?;
        h.flush(tx, self.batch_size).await.map(|_| ())
    }
}

fn rels_of(rows: Vec<RelRow>) -> Result<Vec<Relationship>, StoreError> {
    rows.into_iter().map(RelRow::into_rel).collect()
}

#[async_trait]
impl GraphStore for Neo4jStore {
    fn ops(&self) -> &dyn crate::OpsStore {
        self
    }

    async fn ingest(
        &self,
        obs: Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError> {
        self.check_open()?;
        let _w = self.writer.lock().await;
        let started = std::time::Instant::now();
        let (report, labels, class_changed) = self
            .with_retries("ingest", || self.ingest_once(&obs, opts))
            .await?;
        let t_label = std::time::Instant::now();
        if !labels.is_empty() && class_changed {
            if let Err(e) = self
                .with_retries("label", || self.label(labels.clone(), class_changed))
                .await
            {
                // The data is committed; labels are for people browsing the graph.
                tracing::warn!(error = %e, "could not add class labels; they are added again on the next start");
            }
        }
        tracing::trace!(ms = t_label.elapsed().as_millis() as u64, "class labels");
        tracing::debug!(
            source = %obs.source, run = %obs.run_id, created = report.created, updated = report.updated,
            merged = report.merged, staled = report.staled, ms = started.elapsed().as_millis() as u64,
            "ingest applied to neo4j"
        );
        Ok(report)
    }

    async fn get(&self, id: &CiId) -> Result<Option<Ci>, StoreError> {
        let mut tx = self.begin().await?;
        let ci = self.get_ci(&mut tx, id.as_str()).await?;
        tx.commit().await?;
        Ok(ci)
    }

    async fn get_many(&self, ids: &[CiId]) -> Result<Vec<Ci>, StoreError> {
        if ids.is_empty() {
            self.check_open()?;
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let found = view::fetch_cis(
            &mut tx,
            ids.iter().map(|i| i.to_string()).collect(),
            self.batch_size,
        )
        .await?;
        tx.commit().await?;
        let mut seen = HashSet::new();
        Ok(found
            .into_iter()
            .filter_map(|(_, c)| c)
            .filter(|c| seen.insert(c.id.clone()))
            .collect())
    }

    async fn find(
        &self,
        filter: &CiFilter,
        order: CiOrder,
        page: &PageRequest,
    ) -> Result<Page<Ci>, StoreError> {
        let mut tx = self.begin().await?;
        let p = read::find(&mut tx, filter, order, page).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn lookup_identifiers(&self, keys: &[String]) -> Result<Vec<(String, CiId)>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            key: String,
            ci: String,
        }
        let mut out = Vec::new();
        for chunk in keys.chunks(self.batch_size.max(1)) {
            let rows: Vec<Row> = self
                .read_rows(q(
                    "UNWIND $keys AS k MATCH (i:CiIdentifier {key: k}) RETURN i.key AS key, i.ci AS ci",
                    json!({ "keys": chunk }),
                )?)
                .await?;
            out.extend(rows.into_iter().map(|r| (r.key, CiId::new(r.ci))));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn identifiers_of(&self, ids: &[CiId]) -> Result<Vec<(CiId, String)>, StoreError> {
        if ids.is_empty() {
            self.check_open()?;
            return Ok(Vec::new());
        }
        #[derive(Deserialize)]
        struct Row {
            ci: String,
            key: String,
        }
        let unique: std::collections::BTreeSet<&str> = ids.iter().map(CiId::as_str).collect();
        let mut tx = self.begin().await?;
        let rows: Vec<Row> = db::rows_batched(
            &mut tx,
            "UNWIND $rows AS id MATCH (i:CiIdentifier {ci: id}) RETURN i.ci AS ci, i.key AS key",
            unique
                .into_iter()
                .map(|i| Value::String(i.into()))
                .collect(),
            self.batch_size,
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        let mut out: Vec<(CiId, String)> =
            rows.into_iter().map(|r| (CiId::new(r.ci), r.key)).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    async fn search(
        &self,
        query: &SearchQuery,
        page: &PageRequest,
    ) -> Result<Page<Ci>, StoreError> {
        // Bad input is refused before a transaction is opened.
        crate::cursor::search_request(query, page)?;
        let mut tx = self.begin().await?;
        let p = read::search(&mut tx, query, page, self.batch_size).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn relationships(
        &self,
        ids: &[CiId],
        query: &RelQuery,
    ) -> Result<Vec<Relationship>, StoreError> {
        let mut tx = self.begin().await?;
        // Resolve aliases of merged-away ids, keeping the asked order.
        let resolved = view::fetch_cis(
            &mut tx,
            ids.iter().map(|i| i.to_string()).collect(),
            self.batch_size,
        )
        .await?;
        let mut real: Vec<String> = Vec::new();
        for (qid, ci) in resolved {
            let id = ci.map(|c| c.id.to_string()).unwrap_or(qid);
            if !real.contains(&id) {
                real.push(id);
            }
        }
        let types: Vec<&str> = crate::rel_types_or_all(&query.types)
            .iter()
            .map(|t| t.as_str())
            .collect();
        let status_clause = if query.include_closed {
            ""
        } else {
            "AND e.status = 'ACTIVE'"
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut run = |rows: Vec<RelRow>| -> Result<(), StoreError> {
            for r in rels_of(rows)? {
                if seen.insert(r.key()) {
                    out.push(r);
                }
            }
            Ok(())
        };
        let p = json!({ "types": types });
        if matches!(query.direction, Direction::Out | Direction::Both) {
            let rows = db::rows_batched(
                &mut tx,
                &format!("UNWIND $rows AS id MATCH (a:CI {{id: id}})-[e]->(b:CI) WHERE type(e) IN $types {status_clause} RETURN {REL_FIELDS}"),
                real.iter().cloned().map(Value::String).collect(),
                self.batch_size,
                &p,
            )
            .await?;
            run(rows)?;
        }
        if matches!(query.direction, Direction::In | Direction::Both) {
            let rows = db::rows_batched(
                &mut tx,
                &format!("UNWIND $rows AS id MATCH (b:CI {{id: id}})<-[e]-(a:CI) WHERE type(e) IN $types {status_clause} RETURN {REL_FIELDS}"),
                real.iter().cloned().map(Value::String).collect(),
                self.batch_size,
                &p,
            )
            .await?;
            run(rows)?;
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn all_relationships(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Relationship>, Option<String>), StoreError> {
        // Walk CIs in id order and take their outgoing relationships: every statement is an
        // index lookup or a bounded page, never a sort of all relationships (which exhausts
        // ArcadeDB's heap on large graphs).
        let (f, t, d) = crate::cursor::decode_relationship_cursor(after)?;
        let limit = limit.clamp(1, 100_000);
        let mut tx = self.begin().await?;
        let mut out: Vec<Relationship> = Vec::new();
        let sort = |v: &mut Vec<Relationship>| {
            v.sort_by(|a, b| {
                (a.from.as_str(), a.rel_type.as_str(), a.to.as_str()).cmp(&(
                    b.from.as_str(),
                    b.rel_type.as_str(),
                    b.to.as_str(),
                ))
            })
        };
        if after.is_some() {
            let rows: Vec<RelRow> = tx
                .rows(q(
                    &format!("MATCH (a:CI {{id: $f}})-[e]->(b:CI) RETURN {REL_FIELDS}"),
                    json!({ "f": f }),
                )?)
                .await?;
            let mut rest: Vec<Relationship> = rels_of(rows)?
                .into_iter()
                .filter(|r| (r.rel_type.as_str(), r.to.as_str()) > (t.as_str(), d.as_str()))
                .collect();
            sort(&mut rest);
            out.extend(rest);
        }
        #[derive(Deserialize)]
        struct Id {
            id: String,
        }
        let mut last = f.clone();
        let step = 1_000i64;
        while out.len() < limit {
            let ids: Vec<Id> = tx
                .rows(q("MATCH (n:CI) WHERE n.id > $last WITH n.id AS id ORDER BY id LIMIT $step RETURN id", json!({ "last": last, "step": step }))?)
                .await?;
            let Some(l) = ids.last() else { break };
            last = l.id.clone();
            let n = ids.len();
            let rows: Vec<RelRow> = db::rows_batched(
                &mut tx,
                &format!(
                    "UNWIND $rows AS id MATCH (a:CI {{id: id}})-[e]->(b:CI) RETURN {REL_FIELDS}"
                ),
                ids.into_iter().map(|i| Value::String(i.id)).collect(),
                self.batch_size,
                &json!({}),
            )
            .await?;
            let mut page = rels_of(rows)?;
            sort(&mut page);
            out.extend(page);
            if (n as i64) < step {
                break;
            }
        }
        tx.commit().await?;
        out.truncate(limit);
        let next = crate::cursor::next_relationship_cursor(&out, limit);
        Ok((out, next))
    }

    async fn traverse(
        &self,
        start: &[CiId],
        query: &TraverseQuery,
    ) -> Result<Vec<Reached>, StoreError> {
        let start: Vec<CiId> = self
            .get_many(start)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let mut tx = self.begin().await?;
        let (reached, _) = read::bfs(
            &mut tx,
            &start,
            query.direction,
            query.max_depth,
            &query.types,
            false,
            self.batch_size,
        )
        .await?;
        tx.commit().await?;
        Ok(reached)
    }

    async fn impact_subgraph(
        &self,
        start: &[CiId],
        max_depth: u32,
    ) -> Result<Vec<Relationship>, StoreError> {
        let mut tx = self.begin().await?;
        let (_, edges) = read::bfs(
            &mut tx,
            start,
            TraverseDirection::Downstream,
            max_depth,
            &[],
            true,
            self.batch_size,
        )
        .await?;
        tx.commit().await?;
        Ok(edges)
    }

    async fn history(
        &self,
        id: &CiId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        let mut tx = self.begin().await?;
        let real = self
            .get_ci(&mut tx, id.as_str())
            .await?
            .map(|c| c.id)
            .unwrap_or_else(|| id.clone());
        let p = read::history(&mut tx, real.as_str(), page).await?;
        tx.commit().await?;
        Ok(p)
    }

    async fn retire_stale(&self, older_than: chrono::Duration) -> Result<usize, StoreError> {
        self.check_open()?;
        let _w = self.writer.lock().await;
        self.with_retries("retire_stale", || async {
            #[derive(Deserialize)]
            struct Id {
                id: String,
            }
            let now = cmdb_model::now();
            let cutoff = rows::ms(lifecycle::retirement_cutoff(now, older_than));
            let mut tx = self.begin().await?;
            let ids: Vec<Id> = tx
                .rows(q(
                    "MATCH (n:CI) WHERE n.status = 'STALE' AND n.last_seen < $cutoff RETURN n.id AS id",
                    json!({ "cutoff": cutoff }),
                )?)
                .await?;
            let ids: Vec<CiId> = ids.into_iter().map(|i| CiId(i.id)).collect();
            self.apply_lifecycle(&mut tx, &lifecycle::retire_stale(&ids, now))
                .await?;
            tx.commit().await?;
            Ok(ids.len())
        })
        .await
    }

    async fn retire(&self, id: &CiId, source: &str) -> Result<Ci, StoreError> {
        self.check_open()?;
        let _w = self.writer.lock().await;
        self.with_retries("retire", || async {
            let mut tx = self.begin().await?;
            let mut ci = self
                .get_ci(&mut tx, id.as_str())
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
            let touching = apply::touching(&mut tx, ci.id.as_str()).await?;
            let by = Actor::by_hand(source, cmdb_model::now());
            let change = lifecycle::retire(&ci, &touching, &by);
            self.apply_lifecycle(&mut tx, &change).await?;
            if !change.is_empty() {
                ci.status = CiStatus::Retired;
            }
            tx.commit().await?;
            Ok(ci)
        })
        .await
    }

    async fn close_relationship(
        &self,
        key: &cmdb_model::RelKey,
        source: &str,
    ) -> Result<Relationship, StoreError> {
        self.check_open()?;
        let key = cmdb_model::RelKey::new(key.rel_type, key.from.clone(), key.to.clone());
        let _w = self.writer.lock().await;
        self.with_retries("close_relationship", || async {
            let mut tx = self.begin().await?;
            let mut rel = view::fetch_rels(&mut tx, std::slice::from_ref(&key), self.batch_size)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| StoreError::NotFound(format!("relationship {key}")))?;
            let by = Actor::by_hand(source, cmdb_model::now());
            let change = lifecycle::close_relationship(&rel, &by);
            self.apply_lifecycle(&mut tx, &change).await?;
            if !change.is_empty() {
                rel.status = cmdb_model::RelStatus::Closed;
            }
            tx.commit().await?;
            Ok(rel)
        })
        .await
    }

    async fn delete(&self, id: &CiId, source: &str) -> Result<(), StoreError> {
        self.check_open()?;
        let _w = self.writer.lock().await;
        self.with_retries("delete", || async {
            let mut tx = self.begin().await?;
            let ci = self
                .get_ci(&mut tx, id.as_str())
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
            let touching = apply::touching(&mut tx, ci.id.as_str()).await?;
            let by = Actor::by_hand(source, cmdb_model::now());
            self.apply_lifecycle(&mut tx, &lifecycle::delete(&ci, &touching, &by))
                .await?;
            tx.commit().await
        })
        .await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        #[derive(Deserialize)]
        struct C {
            c: i64,
        }
        #[derive(Deserialize)]
        struct G {
            k: Option<String>,
            c: i64,
        }
        let mut tx = self.begin().await?;
        let mut one = Vec::new();
        for cypher in [
            "MATCH (n:CI) RETURN count(n) AS c",
            "MATCH (:CI)-[e]->(:CI) RETURN count(e) AS c",
            "MATCH (h:History) RETURN count(h) AS c",
        ] {
            let rows: Vec<C> = tx.rows(q(cypher, json!({}))?).await?;
            one.push(rows.first().map(|r| r.c.max(0) as usize).unwrap_or(0));
        }
        let mut groups = Vec::new();
        for cypher in [
            "MATCH (n:CI) RETURN n.class AS k, count(n) AS c ORDER BY k",
            "MATCH (n:CI) RETURN n.status AS k, count(n) AS c ORDER BY k",
        ] {
            let rows: Vec<G> = tx.rows(q(cypher, json!({}))?).await?;
            groups.push(
                rows.into_iter()
                    .map(|g| (g.k.unwrap_or_default(), g.c.max(0) as usize))
                    .collect::<Vec<_>>(),
            );
        }
        tx.commit().await?;
        let by_status = groups.pop().unwrap_or_default();
        let by_class = groups.pop().unwrap_or_default();
        Ok(StoreStats {
            cis: one[0],
            relationships: one[1],
            history_entries: one[2],
            by_class,
            by_status,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read_rows::<Value>(q("RETURN 1 AS one", json!({}))?)
            .await
            .map(|_| ())
    }

    async fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Wait for a running write to finish; later calls fail with Closed.
        let _w = self.writer.lock().await;
        tracing::info!(server = %self.server_agent, "neo4j store closed");
        Ok(())
    }
}
