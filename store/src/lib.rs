//! The `GraphStore` contract, its embedded SQLite backend, and the conformance suite every
//! backend must pass.
//!
//! The contract is small and backend-neutral: ingest an observation (reconcile + apply one
//! delta atomically), read CIs with filters and cursor pagination, relationships of many CIs at
//! once (one round-trip per GraphQL level), traversals with a depth limit, history, staleness
//! and retirement. Only this crate knows SQL (and, later, Cypher).

mod adjacency;
pub mod analysis;
pub mod conformance;
mod cursor;
mod error;
mod graph_changes;
pub mod neo4j;
pub mod ops;
pub mod services;
pub mod snapshot;
pub mod sqlite;
mod types;

pub use error::StoreError;
pub use ops::OpsStore;
pub use sqlite::{BulkLoad, BulkSummary, EmbeddedOptions, EmbeddedStore, IntegrityReport};
pub use types::*;

use async_trait::async_trait;
use cmdb_model::{Ci, CiId, HistoryEntry, Observation, RelType, Relationship};

/// Everything the API and the run machinery need from a graph backend.
#[async_trait]
pub trait GraphStore: Send + Sync {
    /// Identify and reconcile `obs` against the current graph and apply the resulting delta in
    /// one transaction; with `opts.dry_run` report the delta without writing. When the
    /// observation's scope is complete, what its source saw in that scope before and did not
    /// see now is marked STALE (relationships closed) in the same transaction.
    async fn ingest(
        &self,
        obs: Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError>;

    /// A CI by id (ids merged into another CI resolve to it).
    async fn get(&self, id: &CiId) -> Result<Option<Ci>, StoreError>;
    /// Many CIs at once, in no particular order; unknown ids are skipped.
    async fn get_many(&self, ids: &[CiId]) -> Result<Vec<Ci>, StoreError>;
    /// Filtered, ordered, cursor-paginated CIs with the total count.
    async fn find(
        &self,
        filter: &CiFilter,
        order: CiOrder,
        page: &PageRequest,
    ) -> Result<Page<Ci>, StoreError>;
    /// The CIs holding each identifier key (`model::identify::identifier_key`): how events and
    /// other outside references find CIs by the same identifiers reconciliation matches on.
    /// Pairs of (key, CI id), keys without a CI absent.
    async fn lookup_identifiers(&self, keys: &[String]) -> Result<Vec<(String, CiId)>, StoreError>;
    /// The identifier keys each of `ids` holds (`family|parent|rule|value`, see
    /// `model::identify`), as (CI id, key) pairs sorted by id then key. One round trip for
    /// all of them; ids that are not a current CI's hold none.
    async fn identifiers_of(&self, ids: &[CiId]) -> Result<Vec<(CiId, String)>, StoreError>;
    /// The search box: CIs whose name contains the text (any case), that hold an identifier
    /// with the text's normalised value, or that carry it as a tag — the rules of
    /// `cmdb_model::search`, which also rejects an empty text (`InvalidInput`). Identifier
    /// matches first, then by name, then id; forward pages only (`first`/`after`), with the
    /// total count.
    async fn search(&self, query: &SearchQuery, page: &PageRequest)
        -> Result<Page<Ci>, StoreError>;
    /// Relationships touching any of `ids`, in `direction` relative to them. One round-trip.
    async fn relationships(
        &self,
        ids: &[CiId],
        query: &RelQuery,
    ) -> Result<Vec<Relationship>, StoreError>;
    /// Every relationship, paginated by an opaque cursor (export, migration).
    async fn all_relationships(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Relationship>, Option<String>), StoreError>;
    /// CIs reachable from `start` along active relationships, each with its shortest depth.
    async fn traverse(
        &self,
        start: &[CiId],
        query: &TraverseQuery,
    ) -> Result<Vec<Reached>, StoreError>;
    /// The active relationships reachable from `start` by following each type's impact flow,
    /// for the impact engine (model::impact) to evaluate.
    async fn impact_subgraph(
        &self,
        start: &[CiId],
        max_depth: u32,
    ) -> Result<Vec<Relationship>, StoreError>;
    /// What the impact engine needs to evaluate failures of `start`: the impact subgraph as
    /// bare edges, every edge of each group (PART_OF target) in it, the classes of its CIs and
    /// the groups' `min_up` rules (see `cmdb_model::impact::ImpactGraph`). The default builds
    /// it from the calls above; a backend with the graph in memory answers without them.
    async fn impact_graph(
        &self,
        start: &[CiId],
        max_depth: u32,
    ) -> Result<cmdb_model::impact::ImpactGraph, StoreError> {
        let rels = self.impact_subgraph(start, max_depth).await?;
        let edges = rels
            .iter()
            .filter(|r| r.status == cmdb_model::RelStatus::Active)
            .map(Into::into)
            .collect();
        analysis::complete_graph(self, start, edges).await
    }
    /// Which CIs and business services fail, degrade or lose redundancy if `failing` fail
    /// together (`cmdb_model::impact::evaluate` over [`Self::impact_graph`]). `failing` must be
    /// current ids. The default loads the graph by id and evaluates; a backend holding the
    /// graph in memory evaluates it by number, building no string before the report.
    async fn impact(
        &self,
        failing: &[CiId],
        opts: &cmdb_model::impact::ImpactOptions,
    ) -> Result<cmdb_model::impact::ImpactReport, StoreError> {
        let g = self.impact_graph(failing, opts.max_depth).await?;
        Ok(cmdb_model::impact::evaluate(failing, &g, opts))
    }
    /// A CI's history (both ends of relationship changes), newest first.
    async fn history(
        &self,
        id: &CiId,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError>;
    /// Mark STALE CIs whose last sighting is older than `older_than` as RETIRED.
    async fn retire_stale(&self, older_than: chrono::Duration) -> Result<usize, StoreError>;
    /// Retire one CI by hand (it stays queryable; its relationships close).
    async fn retire(&self, id: &CiId, source: &str) -> Result<Ci, StoreError>;
    /// Close one relationship by hand (a member leaves a service, a dependency is removed). It
    /// stays queryable as CLOSED and the change is recorded in history. Closing a closed one is
    /// a no-op; an unknown one is `NotFound`.
    async fn close_relationship(
        &self,
        key: &cmdb_model::RelKey,
        source: &str,
    ) -> Result<Relationship, StoreError>;
    /// Delete one CI and its relationships (manual objects such as business services only).
    async fn delete(&self, id: &CiId, source: &str) -> Result<(), StoreError>;
    /// Counts for dashboards and readiness.
    async fn stats(&self) -> Result<StoreStats, StoreError>;
    /// Is the backend reachable and usable?
    async fn ping(&self) -> Result<(), StoreError>;
    /// Flush and close; later calls fail with `StoreError::Closed`.
    async fn close(&self) -> Result<(), StoreError>;
    /// The same backend's operations half: alerts, status, incidents, deliveries.
    fn ops(&self) -> &dyn OpsStore;
    /// A number that changes whenever the graph (CIs or relationships) changes, for caching
    /// what is computed from it; `None` when the backend cannot tell cheaply (then callers
    /// must not cache).
    async fn graph_version(&self) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }
}

/// Relationship types as the store names them (`RUNS_ON`), for filters.
pub fn rel_types_or_all(types: &[RelType]) -> Vec<RelType> {
    if types.is_empty() {
        RelType::ALL.to_vec()
    } else {
        types.to_vec()
    }
}
