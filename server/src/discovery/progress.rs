//! Progress of a running run: the `discoveryProgress` events and the run's record kept
//! current in the run log.

use std::sync::Arc;
use std::time::Instant;

use cmdb_discovery::run::{ProgressEvent, TargetOutcome};
use cmdb_graphql::events::DiscoveryPhase;
use cmdb_model::RunId;

use crate::run_log::{RunLease, RunLog};
use crate::run_targets::{status_of, RunTargets};

/// Turn runner events into `discoveryProgress` subscription events. TARGET_STARTED and
/// TARGET_DONE name the pair and its status, as `DiscoveryRun.targets` lists it.
pub fn progress_publisher(
    events: cmdb_graphql::EventBus,
) -> impl Fn(&ProgressEvent) + Send + Sync + 'static {
    use cmdb_graphql::discovery::TargetStatus;
    let done = std::sync::atomic::AtomicU32::new(0);
    let total = std::sync::atomic::AtomicU32::new(0);
    move |ev: &ProgressEvent| {
        use std::sync::atomic::Ordering::Relaxed;
        let (run_id, phase, message, pair) = match ev {
            ProgressEvent::RunStarted {
                run_id,
                targets,
                probes,
                ..
            } => {
                total.fetch_add((*targets * probes.len().max(1)) as u32, Relaxed);
                (run_id, DiscoveryPhase::Started, None, None)
            }
            ProgressEvent::TargetStarted {
                run_id,
                target,
                probe,
            } => (
                run_id,
                DiscoveryPhase::TargetStarted,
                None,
                Some((target, probe, TargetStatus::Running)),
            ),
            ProgressEvent::TargetFinished {
                run_id,
                target,
                probe,
                outcome,
                ..
            } => {
                done.fetch_add(1, Relaxed);
                let msg = match outcome {
                    TargetOutcome::Ok { records, .. } => {
                        format!("{probe} {target}: {records} records")
                    }
                    TargetOutcome::Error { code, message } => {
                        format!("{probe} {target}: {code}: {message}")
                    }
                };
                (
                    run_id,
                    DiscoveryPhase::TargetDone,
                    Some(msg),
                    Some((target, probe, status_of(outcome))),
                )
            }
            ProgressEvent::RunFinished {
                run_id, ok, failed, ..
            } => (
                run_id,
                DiscoveryPhase::Finished,
                Some(format!("{ok} ok, {failed} failed")),
                None,
            ),
            ProgressEvent::ObservationReady { .. } => return,
        };
        events.publish_progress(cmdb_graphql::DiscoveryProgress {
            run_id: async_graphql_id(run_id),
            phase,
            targets_done: done.load(Relaxed),
            targets_total: total.load(Relaxed),
            message,
            at: chrono::Utc::now(),
            target: pair.map(|p| p.0.clone()),
            probe: pair.map(|p| p.1.clone()),
            status: pair.map(|p| p.2),
        });
    }
}

pub(super) fn async_graphql_id(run: &RunId) -> async_graphql::ID {
    async_graphql::ID(run.to_string())
}

/// Record a run that starts now in the data directory's run log (a failure to record is
/// logged; the run goes on).
pub fn record_run_start(
    log: &RunLog,
    run: &cmdb_graphql::discovery::DiscoveryRun,
) -> Option<Arc<RunLease>> {
    match log.begin(run) {
        Ok(l) => Some(Arc::new(l)),
        Err(e) => {
            tracing::warn!(run_id = %run.id.as_str(), "cannot record the discovery run in the data directory: {e}");
            None
        }
    }
}

/// Persist progress at most this often.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Keeps a running run's record current from its progress events — per-target outcomes and
/// counts (`run_targets.rs`) — and says when to save it to the run log (at most once per
/// [`PROGRESS_EVERY`]). Used by the server's runs and by `cmdb discover`.
pub struct RunRecorder {
    targets: RunTargets,
    lease: Option<Arc<RunLease>>,
    last_saved: Instant,
}

impl RunRecorder {
    pub fn new(lease: Option<Arc<RunLease>>) -> Self {
        RunRecorder {
            targets: RunTargets::default(),
            lease,
            last_saved: Instant::now(),
        }
    }

    /// Apply `ev` to `run`; a snapshot to [`RunRecorder::save`] when a save is due.
    pub fn apply(
        &mut self,
        run: &mut cmdb_graphql::discovery::DiscoveryRun,
        ev: &ProgressEvent,
    ) -> Option<cmdb_graphql::discovery::DiscoveryRun> {
        if !self.targets.apply(run, ev) || self.lease.is_none() {
            return None;
        }
        if self.last_saved.elapsed() < PROGRESS_EVERY {
            return None;
        }
        self.last_saved = Instant::now();
        Some(run.clone())
    }

    /// Write a snapshot to the run log (a failure is logged; the run goes on).
    pub fn save(&self, run: &cmdb_graphql::discovery::DiscoveryRun) {
        if let Some(l) = &self.lease {
            if let Err(e) = l.update(run) {
                tracing::warn!(run_id = %run.id.as_str(), "cannot record the discovery run's progress: {e}");
            }
        }
    }
}
