//! The live side of the CMDB: events in, incidents out.
//!
//! [`Live::ingest`] is one pipeline, the same for every intake (Alertmanager webhook, generic
//! events, GraphQL): get the newest alert of each event's key → apply the event
//! (`events::alert`) → bind new alerts to CIs (`bind`) → recompute every business service's
//! operational status from *all* open alerts together with the impact engine (`status`) →
//! correlate incidents (`events::incident`) and queue their webhook deliveries → write it all
//! in one `OpsStore::commit` → tell subscribers. Intakes are serialised (one writer), so each
//! sees the state the previous one left.
//!
//! The rules live in `cmdb_events` (pure); this crate does the I/O around them: the store,
//! the clock (passed in by callers for testability), webhook delivery (`outbox`).

// A library reports through its return values and `tracing`, never on the terminal.
#![warn(clippy::print_stdout, clippy::print_stderr)]

mod bind;
pub mod cmdb_health;
pub mod health;
mod intake;
pub mod outbox;
mod status;

use std::collections::HashMap;
use std::sync::Arc;

use cmdb_events::alertmanager::LabelMapping;
use cmdb_events::incident::{correlate, IncidentChange};
use cmdb_events::{Event, StateMapping};
use cmdb_model::impact::ImpactOptions;
use cmdb_model::Timestamp;
use cmdb_store::ops::{AlertRecord, OpsBatch};
use cmdb_store::{GraphStore, StoreError};
use intake::AlertChanges;
use tokio::sync::broadcast;

pub use bind::Binder;
pub use cmdb_health::{cmdb_health, CmdbHealth};
pub use health::{
    availability_report, sla_of, subject_health, AvailabilityReport, HealthError, SubjectHealth,
};
pub use outbox::{Webhook, WebhookError};
pub use status::{LiveStatus, ServiceStatus, StatusChangeNotice};

/// Settings of the live side (`[events]` in `cmdb.toml`).
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The state an open alert of each severity puts its CI in.
    pub states: StateMapping,
    /// How Alertmanager labels name node, resource and severity.
    pub alertmanager: LabelMapping,
    /// An Alertmanager `instance` of `host:port` binds to that listening endpoint of the host
    /// when no resource label names one (else to the host).
    pub instance_port_as_resource: bool,
    /// Where incident changes are sent.
    pub webhooks: Vec<Webhook>,
    pub impact: ImpactOptions,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            states: StateMapping::default(),
            alertmanager: LabelMapping::default(),
            instance_port_as_resource: true,
            webhooks: Vec::new(),
            impact: ImpactOptions::default(),
        }
    }
}

/// Errors of the live side; `code()` is stable (GraphQL `extensions.code`, HTTP bodies).
/// Clone: one failed group commit answers every intake it held.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl LiveError {
    pub fn code(&self) -> &'static str {
        match self {
            LiveError::Store(e) => e.code(),
            LiveError::Invalid(_) => "INVALID_INPUT",
        }
    }
}

/// What one intake did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngestSummary {
    /// Events taken (each changed an alert or was recognised as a duplicate).
    pub accepted: usize,
    pub opened: usize,
    pub updated: usize,
    pub closed: usize,
    /// Events that changed nothing, with why (a clear with nothing open, a late duplicate).
    pub ignored: Vec<Ignored>,
    /// New alerts that found no CI.
    pub unbound: usize,
    /// Ids of the alerts the events belong to, in event order (`None` for ignored events).
    pub alert_ids: Vec<Option<String>>,
    /// Business services whose operational status changed.
    pub services_changed: usize,
    pub incidents_changed: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignored {
    pub index: usize,
    pub reason: &'static str,
}

/// What subscribers hear.
#[derive(Debug, Clone)]
pub enum LiveNotice {
    ServiceStatus(StatusChangeNotice),
    Incident(IncidentChange),
}

/// The live side over one store. Cheap to share behind an `Arc`.
pub struct Live {
    store: Arc<dyn GraphStore>,
    cfg: LiveConfig,
    /// One intake at a time: each reads what the previous one wrote.
    writer: tokio::sync::Mutex<()>,
    notices: broadcast::Sender<LiveNotice>,
    /// Current service statuses as last committed (loaded on first use; replaced by every
    /// commit of this process, which is the only writer of operational status).
    services_now:
        parking_lot::RwLock<Option<Arc<HashMap<cmdb_model::CiId, cmdb_events::OperationalStatus>>>>,
    /// Bumped by every commit that changes a status: a `services_now` load that raced with
    /// one is not kept.
    status_generation: std::sync::atomic::AtomicU64,
    /// Intakes waiting for the writer (group commit, see [`Live::ingest`]).
    queue: parking_lot::Mutex<Vec<Pending>>,
    eval_cache: status::EvalCache,
    /// The graph version the stored status was last computed on (`None`: unknown), so
    /// `rebind` recomputes when discovery changed the graph under unchanged alerts.
    computed_on: parking_lot::Mutex<Option<i64>>,
    /// The time of the last recomputation: status changes never go back in time, whatever
    /// order intakes stamped with their receipt time are committed in.
    last_at: parking_lot::Mutex<Option<Timestamp>>,
}

/// One intake waiting in the queue.
struct Pending {
    events: Vec<Event>,
    now: Timestamp,
    reply: tokio::sync::oneshot::Sender<Result<IngestSummary, LiveError>>,
}

impl Live {
    pub fn new(store: Arc<dyn GraphStore>, cfg: LiveConfig) -> Live {
        let (notices, _) = broadcast::channel(1024);
        Live {
            store,
            cfg,
            writer: tokio::sync::Mutex::new(()),
            notices,
            services_now: parking_lot::RwLock::new(None),
            status_generation: Default::default(),
            queue: parking_lot::Mutex::new(Vec::new()),
            eval_cache: Default::default(),
            computed_on: parking_lot::Mutex::new(None),
            last_at: parking_lot::Mutex::new(None),
        }
    }

    /// Every business service's operational status now (services never affected are absent:
    /// OK). Cheap after the first call.
    pub async fn services_now(
        &self,
    ) -> Result<Arc<HashMap<cmdb_model::CiId, cmdb_events::OperationalStatus>>, LiveError> {
        if let Some(m) = self.services_now.read().clone() {
            return Ok(m);
        }
        let generation = self
            .status_generation
            .load(std::sync::atomic::Ordering::Acquire);
        let m: HashMap<_, _> = self
            .store
            .ops()
            .current_statuses(cmdb_store::ops::SubjectKind::Service)
            .await?
            .into_iter()
            .map(|c| (c.subject, c.status))
            .collect();
        let m = Arc::new(m);
        let mut cached = self.services_now.write();
        // Keep it only if no commit changed a status while we read.
        if self
            .status_generation
            .load(std::sync::atomic::Ordering::Acquire)
            == generation
        {
            *cached = Some(m.clone());
        }
        Ok(m)
    }

    /// Commit a batch and forget cached status (the next read loads what was committed).
    async fn commit(&self, batch: &OpsBatch) -> Result<(), LiveError> {
        let r = self.store.ops().commit(batch).await;
        if !batch.status_changes.is_empty() || r.is_err() {
            let mut cached = self.services_now.write();
            self.status_generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            *cached = None;
        }
        if r.is_err() {
            *self.computed_on.lock() = None;
        }
        Ok(r?)
    }

    pub fn config(&self) -> &LiveConfig {
        &self.cfg
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    /// Service status changes and incident changes as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveNotice> {
        self.notices.subscribe()
    }

    /// Take events (already validated), in order, received at `now`.
    ///
    /// Group commit: intakes arriving while another is being processed wait in a queue, and
    /// the next writer takes them all at once — each intake's events applied in its order,
    /// then one status recomputation and one commit for the lot. A burst of many small
    /// intakes (Alertmanager groups, one event per request) thus costs a few recomputations,
    /// not one per request; a lone intake is processed at once. Each caller gets its own
    /// summary once the commit holding its events is done.
    pub async fn ingest(
        self: &Arc<Self>,
        events: &[Event],
        now: Timestamp,
    ) -> Result<IngestSummary, LiveError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue.lock().push(Pending {
            events: events.to_vec(),
            now: to_millis(now),
            reply: tx,
        });
        // The commit runs in a task of its own, not in the caller: a caller that goes away
        // (a request over its time budget, a client hanging up) must not cut short a batch
        // other callers wait on. Whichever task gets the writer takes everything queued.
        let me = self.clone();
        tokio::spawn(async move {
            let _w = me.writer.lock().await;
            let batch = std::mem::take(&mut *me.queue.lock());
            if !batch.is_empty() {
                me.process(batch).await;
            }
        });
        rx.await.unwrap_or_else(|_| Err(interrupted()))
    }

    /// Apply queued intakes, recompute once, commit once, answer each.
    async fn process(&self, batch: Vec<Pending>) {
        let (replies, intakes): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|p| (p.reply, (p.events, p.now)))
            .unzip();
        let result = self.process_intakes(&intakes).await;
        match result {
            Ok(summaries) => {
                for (tx, s) in replies.into_iter().zip(summaries) {
                    let _ = tx.send(Ok(s));
                }
            }
            Err(e) => {
                for tx in replies {
                    let _ = tx.send(Err(e.clone()));
                }
            }
        }
    }

    /// Apply each intake's events in order, recompute status once if an alert moved it,
    /// commit everything once, then tell subscribers; one summary per intake.
    async fn process_intakes(
        &self,
        intakes: &[(Vec<Event>, Timestamp)],
    ) -> Result<Vec<IngestSummary>, LiveError> {
        let mut changes = AlertChanges::load(self.store.ops(), intakes).await?;
        let mut binder = Binder::new(&*self.store, self.cfg.instance_port_as_resource);
        let mut summaries = Vec::with_capacity(intakes.len());
        for (events, now) in intakes {
            let mut summary = IngestSummary::default();
            for (i, e) in events.iter().enumerate() {
                changes.apply(i, e, *now, &mut binder, &mut summary).await?;
            }
            summaries.push(summary);
        }
        let status_moved = changes.status_moved;
        let mut batch = OpsBatch {
            alerts: changes.into_records(),
            ..Default::default()
        };
        let mut notices = Vec::new();
        let newest = intakes.iter().map(|(_, now)| *now).max();
        if let (true, Some(now)) = (status_moved, newest) {
            self.recompute(&mut batch, &mut notices, now).await?;
        }
        let services_changed = notices
            .iter()
            .filter(|n| matches!(n, LiveNotice::ServiceStatus(s) if s.kind == cmdb_store::ops::SubjectKind::Service))
            .count();
        let incidents_changed = batch.incidents.len();
        self.commit(&batch).await?;
        for n in notices {
            let _ = self.notices.send(n);
        }
        for s in &mut summaries {
            s.services_changed = services_changed;
            s.incidents_changed = incidents_changed;
        }
        tracing::debug!(
            intakes = intakes.len(),
            events = intakes.iter().map(|(e, _)| e.len()).sum::<usize>(),
            alerts_changed = batch.alerts.len(),
            services_changed,
            incidents_changed,
            "events ingested"
        );
        Ok(summaries)
    }

    /// Try again to bind open alerts that found no CI (or only their node's CI, or a CI since
    /// retired): after discovery has run, they may name something now. Returns how many
    /// alerts changed binding.
    pub async fn rebind(&self, now: Timestamp) -> Result<usize, LiveError> {
        let now = to_millis(now);
        let _w = self.writer.lock().await;
        let open = self.store.ops().open_alerts().await?;
        let mut binder = Binder::new(&*self.store, self.cfg.instance_port_as_resource);
        let bound: Vec<cmdb_model::CiId> =
            open.iter().filter_map(|a| a.binding.ci.clone()).collect();
        // Bound CIs still current (not retired, not merged away or deleted).
        let current: std::collections::HashSet<cmdb_model::CiId> = self
            .store
            .get_many(&bound)
            .await?
            .into_iter()
            .filter(|c| c.status != cmdb_model::CiStatus::Retired)
            .map(|c| c.id)
            .collect();
        let mut batch = OpsBatch::default();
        for mut a in open {
            let gone = a.binding.ci.as_ref().is_some_and(|c| !current.contains(c));
            if a.binding.reason.is_none() && !gone {
                continue;
            }
            let b = binder
                .bind(&a.alert.node, a.alert.resource.as_deref())
                .await?;
            if b != a.binding {
                a.binding = b;
                batch.alerts.push(a);
            }
        }
        let n = batch.alerts.len();
        // With no binding changed, status still follows the graph: discovery may have added
        // or removed a dependency under alerts that stay as they were.
        if n == 0 {
            let version = self.store.graph_version().await?;
            if version.is_some() && version == *self.computed_on.lock() {
                return Ok(0);
            }
        }
        let mut notices = Vec::new();
        self.recompute(&mut batch, &mut notices, now).await?;
        self.commit(&batch).await?;
        for x in notices {
            let _ = self.notices.send(x);
        }
        if n > 0 {
            tracing::info!(alerts = n, "alerts bound again after discovery");
        }
        Ok(n)
    }

    /// Live status of every business service now, with what drives it.
    pub async fn service_status(&self) -> Result<Vec<ServiceStatus>, LiveError> {
        let open = self.store.ops().open_alerts().await?;
        Ok(
            status::evaluate(&*self.store, &self.cfg, &open, &self.eval_cache)
                .await?
                .services,
        )
    }

    /// Recompute status from the open alerts as `batch` leaves them; add status changes,
    /// incident changes and deliveries to `batch`.
    async fn recompute(
        &self,
        batch: &mut OpsBatch,
        notices: &mut Vec<LiveNotice>,
        now: Timestamp,
    ) -> Result<(), LiveError> {
        let started = std::time::Instant::now();
        let ops = self.store.ops();
        // Never back in time (see `last_at`).
        let now = {
            let mut last = self.last_at.lock();
            let now = last.map_or(now, |l| l.max(now));
            *last = Some(now);
            now
        };
        let version = self.store.graph_version().await?;
        let mut open: HashMap<String, AlertRecord> = ops
            .open_alerts()
            .await?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        for a in &batch.alerts {
            if a.alert.is_open() {
                open.insert(a.id.clone(), a.clone());
            } else {
                open.remove(&a.id);
            }
        }
        let mut open: Vec<AlertRecord> = open.into_values().collect();
        open.sort_by(|a, b| {
            a.received_first
                .cmp(&b.received_first)
                .then_with(|| a.id.cmp(&b.id))
        });
        let t_open = started.elapsed();
        let live = status::evaluate(&*self.store, &self.cfg, &open, &self.eval_cache).await?;
        *self.computed_on.lock() = version;
        let t_eval = started.elapsed();
        let changes = status::changes(ops, &live, now).await?;
        let t_changes = started.elapsed();
        for c in &changes {
            notices.push(LiveNotice::ServiceStatus(c.clone()));
        }
        batch
            .status_changes
            .extend(changes.into_iter().map(|c| c.change));

        let open_incidents = ops
            .incidents(&cmdb_store::ops::IncidentQuery {
                open_only: true,
                limit: 0,
            })
            .await?;
        let mut new_id = || uuid::Uuid::new_v4().to_string();
        let states = live.incident_inputs();
        for change in correlate(&open_incidents, &states, now, &mut new_id) {
            batch
                .deliveries
                .extend(outbox::deliveries_for(&self.cfg.webhooks, &change, now));
            batch.incidents.push(change.incident.clone());
            notices.push(LiveNotice::Incident(change));
        }
        tracing::debug!(
            open_alerts = open.len(),
            services = live.services.len(),
            read_open_us = t_open.as_micros() as u64,
            evaluate_us = (t_eval - t_open).as_micros() as u64,
            changes_us = (t_changes - t_eval).as_micros() as u64,
            incidents_us = (started.elapsed() - t_changes).as_micros() as u64,
            "live status recomputed"
        );
        Ok(())
    }
}

fn interrupted() -> LiveError {
    LiveError::Store(StoreError::Unavailable(
        "the intake holding these events was interrupted before its commit; send them again".into(),
    ))
}

/// Times the live side records are whole milliseconds (what both stores keep of a status
/// change), so an incident's times and its services' timelines agree exactly.
fn to_millis(t: Timestamp) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

#[cfg(test)]
mod tests;
