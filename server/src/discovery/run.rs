//! One discovery run: build the probes, drive them with the protocol-neutral runner, and
//! apply each observation to the store as it arrives (`apply.rs`).

use std::sync::Arc;
use std::time::Instant;

use cmdb_discovery::local::LocalProbe;
use cmdb_discovery::run::{run, DiscoveryRequest, ProgressEvent};
use cmdb_discovery::snmp::SnmpProbe;
use cmdb_discovery::ssh::{SshOptions, SshProbe};
use cmdb_discovery::{Probe, ProbeError, Redactor};
use cmdb_model::RunId;
use cmdb_store::{GraphStore, IngestOptions};
use tokio::sync::{mpsc, watch};

use super::affinity::Affinity;
use super::apply::Applier;
use super::settings::DiscoverySettings;
use super::summary::RunSummary;

/// Why a run failed as a whole (a target's failure is its own outcome, not this).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("SSH discovery needs a host-key policy")]
    NoHostKeyPolicy,
    #[error("SSH settings: {0}")]
    SshSettings(ProbeError),
    #[error("targets were given but no credentials: pass --snmp-community/--snmp-user and/or --ssh-user with --ssh-key or --ssh-password-env")]
    NoCredentials,
    #[error("{code}: {source}", code = .source.code())]
    Runner {
        source: cmdb_discovery::run::RunError,
    },
    #[error("applying observations: {0}")]
    Applier(tokio::task::JoinError),
    #[error("cannot start the run's runtime: {0}")]
    Runtime(std::io::Error),
}

/// Tells a run to stop: its probes are dropped, what they already found is still applied,
/// and the run ends as interrupted.
#[derive(Clone)]
pub struct StopSignal(Option<watch::Receiver<bool>>);

impl StopSignal {
    /// A signal and its trigger (`send(true)` stops every run holding the signal).
    pub fn new() -> (watch::Sender<bool>, StopSignal) {
        let (tx, rx) = watch::channel(false);
        (tx, StopSignal(Some(rx)))
    }

    /// A signal that never fires.
    pub fn never() -> StopSignal {
        StopSignal(None)
    }

    /// Resolves once the stop is sent (never when the trigger is gone without firing).
    async fn stopped(&mut self) {
        if let Some(rx) = &mut self.0 {
            if rx.wait_for(|stop| *stop).await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// Run discovery over `targets` (plus the local host when asked) and apply what it finds.
/// `on_event` sees every progress event (progress bars, subscriptions). When `stop` fires,
/// the probes are dropped, what was found is applied, and the summary says `interrupted`.
pub async fn discover(
    store: Arc<dyn GraphStore>,
    ingest: IngestOptions,
    settings: &DiscoverySettings,
    targets: Vec<String>,
    run_id: RunId,
    on_event: impl Fn(&ProgressEvent) + Send + Sync + 'static,
    mut stop: StopSignal,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let affinity = Affinity::load(settings.affinity_file.as_deref());
    let probes = build_probes(settings, &affinity)?;
    if probes.is_empty() && !targets.is_empty() {
        return Err(RunError::NoCredentials);
    }
    let (tx, rx) = mpsc::channel::<ProgressEvent>(256);
    let applier = Applier::new(
        store.clone(),
        ingest.clone(),
        Redactor::new(&settings.snmp, &settings.ssh),
    );
    let applier = tokio::spawn(applier.run(rx, Arc::new(on_event)));
    let probing = probe_all(settings, &probes, targets, &run_id, tx);
    let interrupted = tokio::select! {
        r = probing => { r?; false }
        _ = stop.stopped() => true,
    };
    let mut summary = applier.await.map_err(RunError::Applier)?;
    summary.run_id = run_id.to_string();
    summary.interrupted = interrupted;
    if interrupted {
        tracing::warn!(run_id = %run_id, "discovery run interrupted: what it found so far is stored");
    } else {
        // Services and pools follow what the run found. A failed recompute is logged, never
        // fails the run: the discovered data is stored either way.
        recompute_services_after_run(store.as_ref(), &ingest, &run_id).await;
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(path) = &settings.affinity_file {
        affinity.save(path);
    }
    Ok(summary)
}

/// The probes the settings' credentials make (none for a protocol without credentials). They
/// share `affinity`'s handles.
fn build_probes(
    settings: &DiscoverySettings,
    affinity: &Affinity,
) -> Result<Vec<Arc<dyn Probe>>, RunError> {
    let mut probes: Vec<Arc<dyn Probe>> = Vec::new();
    if !settings.snmp.is_empty() {
        probes.push(Arc::new(
            SnmpProbe::new(settings.snmp.clone()).with_affinity(affinity.snmp.clone()),
        ));
    }
    if !settings.ssh.is_empty() {
        let policy = settings
            .host_key_policy
            .clone()
            .ok_or(RunError::NoHostKeyPolicy)?;
        let p = SshProbe::with_affinity(
            SshOptions::new(settings.ssh.clone(), policy),
            affinity.ssh.clone(),
        )
        .map_err(RunError::SshSettings)?;
        probes.push(Arc::new(p));
    }
    Ok(probes)
}

/// Drive the probes over the targets, then the local probe when asked; events go to `tx`
/// (dropped at the end, which ends the applier).
async fn probe_all(
    settings: &DiscoverySettings,
    probes: &[Arc<dyn Probe>],
    targets: Vec<String>,
    run_id: &RunId,
    tx: mpsc::Sender<ProgressEvent>,
) -> Result<(), RunError> {
    if !probes.is_empty() && !targets.is_empty() {
        let req = DiscoveryRequest {
            run_id: run_id.clone(),
            targets,
            probes: Vec::new(),
        };
        run(&req, probes, &settings.runner, Some(tx.clone()))
            .await
            .map_err(|source| RunError::Runner { source })?;
    }
    if settings.local {
        let local = Arc::new(LocalProbe::default()) as Arc<dyn Probe>;
        let req = DiscoveryRequest {
            run_id: run_id.clone(),
            targets: vec![LocalProbe::target().name()],
            probes: Vec::new(),
        };
        run(&req, &[local], &settings.runner, Some(tx))
            .await
            .map_err(|source| RunError::Runner { source })?;
    }
    Ok(())
}

/// Infer pools and re-map rule and entry-point services; log the outcome with fields.
pub async fn recompute_services_after_run(
    store: &dyn GraphStore,
    ingest: &IngestOptions,
    run_id: &RunId,
) {
    match cmdb_store::services::recompute_services(store, ingest).await {
        Ok(r) => {
            tracing::info!(
                run_id = %run_id,
                services = r.services_mapped,
                members_added = r.members_added,
                members_removed = r.members_removed,
                pools_created = r.pools_created,
                pool_edges_added = r.pool_edges_added,
                pool_edges_removed = r.pool_edges_removed,
                unresolved_entry_points = r.unresolved_entry_points.len(),
                errors = r.errors.len(),
                duration_ms = r.duration_ms,
                "services recomputed"
            );
            for e in &r.errors {
                tracing::warn!(run_id = %run_id, service = %e.service, code = %e.code, "service not mapped: {}", e.message);
            }
        }
        Err(e) => {
            tracing::error!(run_id = %run_id, code = e.code(), error = %e, "recomputing services failed")
        }
    }
}
