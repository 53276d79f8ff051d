//! Request and response types of the store contract.

use cmdb_model::{
    CiClass, CiId, CiStatus, Delta, Explanation, Precedence, RecordError, RelType, Timestamp,
    WriteKind,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Reconcile and report, write nothing.
    pub dry_run: bool,
    pub precedence: Precedence,
}

/// What one ingest did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub merged: usize,
    pub staled: usize,
    pub relationships_created: usize,
    pub relationships_updated: usize,
    pub relationships_closed: usize,
    pub explanations: Vec<Explanation>,
    pub errors: Vec<RecordError>,
    /// The delta, for dry runs (None after a real write, to keep reports small).
    pub delta: Option<Delta>,
    pub dry_run: bool,
}

impl IngestReport {
    /// The write counts of a reconciled delta (staleness, explanations and errors are added
    /// by the backend as it goes).
    pub(crate) fn counting(d: &Delta, dry_run: bool) -> IngestReport {
        IngestReport {
            created: d.count(WriteKind::Created),
            updated: d.count(WriteKind::Updated),
            unchanged: d.count(WriteKind::Unchanged) + d.seen_cis.len(),
            merged: d.merges.len(),
            relationships_created: d.rel_count(WriteKind::Created),
            relationships_updated: d.rel_count(WriteKind::Updated),
            dry_run,
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum NameMatch {
    #[default]
    Equals,
    Contains,
    Regex,
}

/// A name filter's regular expression, checked (and size-bounded) before any backend runs it.
pub(crate) fn check_name_regex(pattern: &str) -> Result<(), crate::StoreError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map(|_| ())
        .map_err(|e| crate::StoreError::InvalidInput(format!("invalid name regex: {e}")))
}

/// CI filters; all given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    pub classes: Vec<CiClass>,
    pub name: Option<(NameMatch, String)>,
    pub tags: Vec<String>,
    pub statuses: Vec<CiStatus>,
    pub source: Option<String>,
    /// CIs holding this IP: IpAddress CIs with that address and devices listing it.
    pub ip_address: Option<String>,
    /// Attribute equals (JSON value compared exactly; strings compare as strings).
    pub attributes: Vec<(String, serde_json::Value)>,
    pub last_seen_before: Option<Timestamp>,
    pub last_seen_after: Option<Timestamp>,
    pub ids: Option<Vec<CiId>>,
}

/// The search box (`GraphStore::search`): one text matched against CI names, identifier
/// values and tags by the rules of `cmdb_model::search`.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub text: String,
    /// Only CIs of these classes (all when empty).
    pub classes: Vec<CiClass>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CiOrderField {
    #[default]
    Id,
    Name,
    Class,
    LastSeen,
    FirstSeen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CiOrder {
    pub field: CiOrderField,
    pub descending: bool,
}

/// Relay-style page request. Cursors are opaque strings produced by the store.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub first: Option<usize>,
    pub after: Option<String>,
    pub last: Option<usize>,
    pub before: Option<String>,
}

impl PageRequest {
    pub fn first(n: usize) -> Self {
        PageRequest {
            first: Some(n),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items with their cursors, in order.
    pub items: Vec<(String, T)>,
    pub total_count: usize,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

/// Direction relative to the CIs asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Direction {
    /// Relationships where the CI is `from`.
    Out,
    /// Relationships where the CI is `to`.
    In,
    #[default]
    Both,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RelQuery {
    pub direction: Direction,
    /// Empty = all types.
    pub types: Vec<RelType>,
    /// Include CLOSED relationships.
    pub include_closed: bool,
}

/// Traversal direction in terms of failure impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TraverseDirection {
    /// What this CI's failure would affect: follows each type's impact flow.
    Downstream,
    /// What this CI relies on: against each type's impact flow.
    Upstream,
}

#[derive(Debug, Clone)]
pub struct TraverseQuery {
    pub direction: TraverseDirection,
    pub max_depth: u32,
    /// Empty = all types.
    pub types: Vec<RelType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    pub id: CiId,
    pub depth: u32,
    /// The CI it was reached from (None for start CIs, which are not returned).
    pub via: Option<CiId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStats {
    pub cis: usize,
    pub relationships: usize,
    pub history_entries: usize,
    pub by_class: Vec<(String, usize)>,
    pub by_status: Vec<(String, usize)>,
}
