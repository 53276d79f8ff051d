//! A run's record: how it starts and how its end is read from the run's summary.

use cmdb_graphql::discovery::{DiscoveryRun, DiscoveryRunStatus, DiscoveryTargetError};
use cmdb_model::RunId;

use super::progress::async_graphql_id;
use super::run::RunError;
use super::summary::RunSummary;

/// A new run's record, RUNNING from now.
pub fn new_run_record(run_id: &RunId, trigger: &str) -> DiscoveryRun {
    DiscoveryRun {
        id: async_graphql_id(run_id),
        status: DiscoveryRunStatus::Running,
        trigger: trigger.to_string(),
        started_at: chrono::Utc::now(),
        finished_at: None,
        targets_done: 0,
        targets_ok: 0,
        targets_failed: 0,
        cis_created: 0,
        cis_updated: 0,
        cis_unchanged: 0,
        cis_staled: 0,
        relationships_created: 0,
        relationships_closed: 0,
        errors: Vec::new(),
        message: None,
        targets_total: 0,
        targets_skipped: 0,
        targets_omitted: 0,
        targets: Vec::new(),
    }
}

/// How a run that ran to its end went, from its pairs: SUCCEEDED when none failed (and not
/// every one was skipped), PARTIAL when some failed and some were discovered, else FAILED.
// A rule about runs rather than wiring; it stays here until the runner reports it.
fn status_of(s: &RunSummary) -> DiscoveryRunStatus {
    if s.interrupted {
        DiscoveryRunStatus::Interrupted
    } else if s.targets_failed == 0 && (s.targets_ok > 0 || s.targets_skipped == 0) {
        DiscoveryRunStatus::Succeeded
    } else if s.targets_ok > 0 {
        DiscoveryRunStatus::Partial
    } else {
        DiscoveryRunStatus::Failed
    }
}

/// Fill a run's record from how it ended.
pub fn finish_run_record(r: &mut DiscoveryRun, result: &Result<RunSummary, RunError>) {
    r.finished_at = Some(chrono::Utc::now());
    match result {
        Ok(s) => record_summary(r, s),
        Err(e) => {
            r.status = DiscoveryRunStatus::Failed;
            r.message = Some(e.to_string());
        }
    }
    if r.status == DiscoveryRunStatus::Interrupted {
        crate::run_targets::close_unfinished(
            r,
            crate::run_log::INTERRUPTED,
            "the run was stopped (the server shut down) before this target finished",
        );
    } else {
        // Only a run that failed as a whole leaves pairs unfinished.
        crate::run_targets::close_unfinished(
            r,
            "RUN_FAILED",
            "the run ended before this target finished (see the run's message)",
        );
    }
}

/// The status, counts and errors of a run that ended with a summary.
fn record_summary(r: &mut DiscoveryRun, s: &RunSummary) {
    r.status = status_of(s);
    if s.interrupted {
        r.message = Some(
            "interrupted: the server shut down before this discovery finished; what it stored up \
             to then is kept — run it again to complete it"
                .into(),
        );
    } else if s.targets_ok == 0 && s.targets_failed == 0 && s.targets_skipped > 0 {
        r.message = Some(
            "every target was outside the scope of the run's credentials: nothing was sent".into(),
        );
    }
    crate::metrics::metrics().discovery_finished(r.status, s.targets_ok, s.targets_failed);
    r.targets_ok = s.targets_ok as i32;
    r.targets_failed = s.targets_failed as i32;
    r.targets_skipped = s.targets_skipped as i32;
    r.targets_done = (s.targets_ok + s.targets_failed + s.targets_skipped) as i32;
    r.cis_created = s.created as i32;
    r.cis_updated = s.updated as i32;
    r.cis_unchanged = s.unchanged as i32;
    r.cis_staled = s.staled as i32;
    r.relationships_created = s.relationships_created as i32;
    r.relationships_closed = s.relationships_closed as i32;
    r.errors = s
        .targets
        .iter()
        .filter(|t| t.failed())
        .map(|t| {
            let (code, message) = t
                .error
                .clone()
                .unwrap_or_else(|| ("PROBE_FAILED".into(), t.detail.clone()));
            DiscoveryTargetError {
                target: t.target.clone(),
                probe: t.probe.clone(),
                code,
                message,
            }
        })
        .collect();
}
