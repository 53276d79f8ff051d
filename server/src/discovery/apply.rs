//! Applying a run's observations to the store as they arrive, while the runner goes on: what
//! storing a pair's observation did becomes part of the pair's outcome (a refused observation
//! fails the pair, rejected records are its diagnostics) before anyone sees the pair finish.

use std::collections::HashMap;
use std::sync::Arc;

use cmdb_discovery::run::{ProgressEvent, TargetOutcome};
use cmdb_discovery::{Diagnostic, ProbeOutput, Redactor};
use cmdb_store::{GraphStore, IngestOptions, IngestReport};
use tokio::sync::mpsc;

use super::summary::{RunSummary, TargetLine};

/// Consumes a run's progress events: applies observations, completes finished pairs'
/// outcomes, passes every event on, and sums up what was stored.
pub(super) struct Applier {
    store: Arc<dyn GraphStore>,
    ingest: IngestOptions,
    redactor: Redactor,
    /// What storing a pair's observation added to its outcome, until its TargetFinished.
    stored: HashMap<(String, String), AfterStore>,
    acc: RunSummary,
}

impl Applier {
    pub(super) fn new(
        store: Arc<dyn GraphStore>,
        ingest: IngestOptions,
        redactor: Redactor,
    ) -> Self {
        Applier {
            store,
            ingest,
            redactor,
            stored: HashMap::new(),
            acc: RunSummary::default(),
        }
    }

    /// Until the runner hangs up: what the run stored, and its pairs' lines.
    pub(super) async fn run(
        mut self,
        mut rx: mpsc::Receiver<ProgressEvent>,
        on_event: Arc<dyn Fn(&ProgressEvent) + Send + Sync>,
    ) -> RunSummary {
        while let Some(mut ev) = rx.recv().await {
            self.complete_outcome(&mut ev);
            on_event(&ev);
            match ev {
                ProgressEvent::ObservationReady {
                    output,
                    target,
                    probe,
                    ..
                } => {
                    let after = self.store_observation(*output, &target, &probe).await;
                    self.stored.insert((target, probe), after);
                }
                ProgressEvent::TargetFinished {
                    target,
                    probe,
                    outcome,
                    diagnostics,
                    ..
                } => {
                    self.acc.diagnostics += diagnostics.len();
                    self.acc.add_target(TargetLine::new(target, probe, outcome));
                }
                _ => {}
            }
        }
        self.acc
    }

    /// A finished pair's outcome with what storing its observation did, and without the run's
    /// secret values (second line of defence: probes keep them out already).
    fn complete_outcome(&mut self, ev: &mut ProgressEvent) {
        if let ProgressEvent::TargetFinished {
            target,
            probe,
            outcome,
            diagnostics,
            ..
        } = ev
        {
            if let Some(after) = self.stored.remove(&(target.clone(), probe.clone())) {
                after.apply(outcome, diagnostics);
            }
            if let TargetOutcome::Error { message, .. } = outcome {
                *message = self.redactor.redact(message);
            }
            for d in diagnostics.iter_mut() {
                d.message = self.redactor.redact(&d.message);
            }
        }
    }

    async fn store_observation(
        &mut self,
        output: ProbeOutput,
        target: &str,
        probe: &str,
    ) -> AfterStore {
        for d in &output.diagnostics {
            tracing::debug!(target = %d.target, probe = %d.probe, code = %d.code, "{}", self.redactor.redact(&d.message));
        }
        let records = output.observation.records.len();
        tracing::debug!(%target, %probe, records, "applying observation");
        match self.store.ingest(output.observation, &self.ingest).await {
            Ok(r) => {
                tracing::debug!(%target, %probe, created = r.created, updated = r.updated, "observation applied");
                self.acc.add_stored(&r);
                AfterStore::stored(&r, target, probe)
            }
            Err(e) => {
                tracing::error!(%target, %probe, code = e.code(), "storing the observation failed: {e}");
                AfterStore {
                    failed: Some((e.code().to_string(), e.to_string())),
                    rejected: Vec::new(),
                }
            }
        }
    }
}

/// What storing a pair's observation adds to the pair's outcome.
struct AfterStore {
    /// The store refused the observation (code, message): the pair failed.
    failed: Option<(String, String)>,
    /// Records the store rejected, as diagnostics of the pair.
    rejected: Vec<Diagnostic>,
}

impl AfterStore {
    fn stored(r: &IngestReport, target: &str, probe: &str) -> AfterStore {
        if let Some(first) = r.errors.first() {
            tracing::warn!(%target, %probe, errors = r.errors.len(), first = %first.message, "records rejected");
        }
        AfterStore {
            failed: None,
            rejected: r
                .errors
                .iter()
                .map(|e| {
                    Diagnostic::new(
                        target,
                        probe,
                        &e.code,
                        format!("record `{}` rejected: {}", e.record, e.message),
                    )
                })
                .collect(),
        }
    }

    fn apply(self, outcome: &mut TargetOutcome, diagnostics: &mut Vec<Diagnostic>) {
        diagnostics.extend(self.rejected);
        if let Some((code, message)) = self.failed {
            *outcome = TargetOutcome::Error { code, message };
        }
        if let TargetOutcome::Ok {
            diagnostics: count, ..
        } = outcome
        {
            *count = diagnostics.len();
        }
    }
}
