//! The operations contract: what the live side (alerts, operational status, incidents and the
//! webhook outbox) keeps, beside the graph. Split from [`GraphStore`](crate::GraphStore) by
//! concern; every backend implements both, and `GraphStore::ops` hands out this half.
//!
//! Records are stored whole (as JSON documents) with the few fields the queries select on
//! beside them, so the rules about what a record means stay in `cmdb_events` and the two
//! backends only keep and find them. [`OpsStore::commit`] writes one [`OpsBatch`] atomically:
//! the alerts an intake changed, the status changes and incident changes they caused and the
//! webhook deliveries those imply, so a crash leaves all of it or none (a restart neither loses
//! nor duplicates a delivery). The backends' halves are `sqlite/ops.rs` and `neo4j/ops.rs`.

use async_trait::async_trait;
use cmdb_events::{Alert, Incident, OperationalStatus};
use cmdb_model::{CiId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// An alert as stored: the alert, what it is bound to, and when it was last received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    /// Stable id (a UUID), one per alert episode.
    pub id: String,
    pub alert: Alert,
    pub binding: Binding,
    /// When the alert's first event arrived (orders alerts of one key: receipt, not the
    /// sender's clock, which may re-send an old `startsAt`).
    pub received_first: Timestamp,
    /// When its latest event arrived.
    pub received_last: Timestamp,
}

/// The CI an alert is about, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Binding {
    /// The most specific CI: the resource's CI when the resource was found on the node, else
    /// the node's.
    pub ci: Option<CiId>,
    /// The node's CI (a host or network device).
    pub node_ci: Option<CiId>,
    /// Why `ci` is missing, or what was only partly found (`resource tcp/5432 not found on
    /// web1: bound to the host`).
    pub reason: Option<String>,
}

impl Binding {
    pub fn unbound(reason: impl Into<String>) -> Binding {
        Binding {
            ci: None,
            node_ci: None,
            reason: Some(reason.into()),
        }
    }
}

/// Which subjects a status change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SubjectKind {
    /// A business service (status from the impact engine).
    Service,
    /// A CI monitoring reports on (status from its open alerts).
    Ci,
}

impl SubjectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Service => "SERVICE",
            SubjectKind::Ci => "CI",
        }
    }
    pub(crate) fn parse(s: &str) -> Result<SubjectKind, StoreError> {
        match s {
            "SERVICE" => Ok(SubjectKind::Service),
            "CI" => Ok(SubjectKind::Ci),
            _ => Err(StoreError::Corrupt(format!(
                "unknown status subject kind {s:?}"
            ))),
        }
    }
}

/// A subject entered `status` at `at`. The timeline of a subject is its changes in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChange {
    pub subject: CiId,
    pub kind: SubjectKind,
    pub status: OperationalStatus,
    pub at: Timestamp,
}

/// One webhook delivery, kept until delivered or given up on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Stable id; also the idempotency key receivers de-duplicate on.
    pub id: String,
    /// The configured webhook's name.
    pub webhook: String,
    /// The JSON body, exactly as it is sent (and signed).
    pub body: String,
    pub created: Timestamp,
    pub attempts: u32,
    pub next_attempt: Timestamp,
    pub state: DeliveryState,
    pub last_error: Option<String>,
    pub finished: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Retries exhausted.
    Failed,
}

/// Everything one intake changed, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct OpsBatch {
    /// New or changed alerts (upserted by id).
    pub alerts: Vec<AlertRecord>,
    pub status_changes: Vec<StatusChange>,
    /// New or changed incidents (upserted by id).
    pub incidents: Vec<Incident>,
    /// New deliveries.
    pub deliveries: Vec<Delivery>,
}

impl OpsBatch {
    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
            && self.status_changes.is_empty()
            && self.incidents.is_empty()
            && self.deliveries.is_empty()
    }
}

/// Which alerts to list. Newest received first.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery {
    pub open_only: bool,
    /// Only alerts with no CI.
    pub unbound_only: bool,
    /// Only alerts bound to one of these CIs.
    pub cis: Option<Vec<CiId>>,
    pub limit: usize,
}

/// Which incidents to list. Newest opened first.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    pub open_only: bool,
    pub limit: usize,
}

/// Counts for health and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpsCounts {
    pub open_alerts: usize,
    pub open_unbound_alerts: usize,
    pub open_incidents: usize,
    pub pending_deliveries: usize,
}

/// What the live side keeps. Implemented by every backend (`conformance::ops` checks them).
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// The newest alert of each key given (keys without one are absent).
    async fn latest_alerts(
        &self,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, AlertRecord>, StoreError>;

    async fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError>;

    async fn alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError>;

    /// Every open alert (the input of live status).
    async fn open_alerts(&self) -> Result<Vec<AlertRecord>, StoreError>;

    /// Write one batch atomically.
    async fn commit(&self, batch: &OpsBatch) -> Result<(), StoreError>;

    /// The newest status of every subject of `kind` that has one.
    async fn current_statuses(&self, kind: SubjectKind) -> Result<Vec<StatusChange>, StoreError>;

    /// `subject`'s changes in `[from, to)`, preceded by the last change before `from` (the
    /// status the window starts in), oldest first.
    async fn status_history(
        &self,
        subject: &CiId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatusChange>, StoreError>;

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError>;

    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>, StoreError>;

    /// Pending deliveries whose next attempt is due at `now`, oldest first.
    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Record an attempt's outcome (the delivery, updated).
    async fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError>;

    async fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError>;

    async fn ops_counts(&self) -> Result<OpsCounts, StoreError>;
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("encoding a record: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored {what}: {e}")))
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> Result<Timestamp, StoreError> {
    chrono::DateTime::from_timestamp_millis(v)
        .ok_or_else(|| StoreError::Corrupt(format!("stored time {v} is out of range")))
}

pub(crate) fn status_code(s: OperationalStatus) -> &'static str {
    s.as_str()
}

pub(crate) fn parse_status(s: &str) -> Result<OperationalStatus, StoreError> {
    OperationalStatus::parse(s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown operational status {s:?}")))
}

pub(crate) fn delivery_state(s: DeliveryState) -> &'static str {
    match s {
        DeliveryState::Pending => "PENDING",
        DeliveryState::Delivered => "DELIVERED",
        DeliveryState::Failed => "FAILED",
    }
}
