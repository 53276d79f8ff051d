//! One discovery run: build the probes, drive them with the protocol-neutral runner, and
//! apply each observation to the store as it arrives.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use cmdb_discovery::local::LocalProbe;
use cmdb_discovery::run::{run, DiscoveryRequest, ProgressEvent, TargetOutcome};
use cmdb_discovery::snmp::SnmpProbe;
use cmdb_discovery::ssh::{SshOptions, SshProbe};
use cmdb_discovery::{Diagnostic, Probe, Redactor};
use cmdb_model::RunId;
use cmdb_store::{GraphStore, IngestOptions};
use tokio::sync::mpsc;

use super::affinity::{load_affinity, AffinityFile};
use super::settings::DiscoverySettings;
use super::summary::{RunSummary, TargetLine};

/// Run discovery over `targets` (plus the local host when asked) and apply what it finds.
/// `on_event` sees every progress event (progress bars, subscriptions).
pub async fn discover(
    store: Arc<dyn GraphStore>,
    ingest: IngestOptions,
    settings: &DiscoverySettings,
    targets: Vec<String>,
    run_id: RunId,
    on_event: impl Fn(&ProgressEvent) + Send + Sync + 'static,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let affinity = load_affinity(settings.affinity_file.as_deref());
    let mut probes: Vec<Arc<dyn Probe>> = Vec::new();
    // Affinity handles are shared with the probes: what they learn is what we save.
    let snmp_affinity = cmdb_discovery::sweep::CredentialAffinity::from_map(affinity.snmp);
    let ssh_affinity = cmdb_discovery::ssh::CredentialAffinity::from_map(affinity.ssh);
    if !settings.snmp.is_empty() {
        probes.push(Arc::new(
            SnmpProbe::new(settings.snmp.clone()).with_affinity(snmp_affinity.clone()),
        ));
    }
    if !settings.ssh.is_empty() {
        let policy = settings
            .host_key_policy
            .clone()
            .context("SSH discovery needs a host-key policy")?;
        let p = SshProbe::with_affinity(
            SshOptions::new(settings.ssh.clone(), policy),
            ssh_affinity.clone(),
        )
        .map_err(|e| anyhow::anyhow!("SSH settings: {e}"))?;
        probes.push(Arc::new(p));
    }
    if probes.is_empty() && !targets.is_empty() {
        anyhow::bail!("targets were given but no credentials: pass --snmp-community/--snmp-user and/or --ssh-user with --ssh-key or --ssh-password-env");
    }

    let mut summary = RunSummary {
        run_id: run_id.to_string(),
        ..Default::default()
    };
    let on_event = Arc::new(on_event);
    let (tx, mut rx) = mpsc::channel::<ProgressEvent>(256);
    // Apply observations as they arrive, one at a time, while the runner goes on.
    let mapping_ingest = ingest.clone();
    let applier = {
        let store = store.clone();
        let on_event = on_event.clone();
        let redactor = Redactor::new(&settings.snmp, &settings.ssh);
        tokio::spawn(async move {
            let mut acc = RunSummary::default();
            // What storing a pair's observation added to its outcome, until its TargetFinished.
            let mut stored: std::collections::HashMap<(String, String), AfterStore> =
                Default::default();
            while let Some(mut ev) = rx.recv().await {
                if let ProgressEvent::TargetFinished {
                    target,
                    probe,
                    outcome,
                    diagnostics,
                    ..
                } = &mut ev
                {
                    if let Some(after) = stored.remove(&(target.clone(), probe.clone())) {
                        after.apply(outcome, diagnostics);
                    }
                    redact(&redactor, outcome, diagnostics);
                }
                on_event(&ev);
                match ev {
                    ProgressEvent::ObservationReady {
                        output,
                        target,
                        probe,
                        ..
                    } => {
                        for d in &output.diagnostics {
                            tracing::debug!(target = %d.target, probe = %d.probe, code = %d.code, "{}", redactor.redact(&d.message));
                        }
                        let records = output.observation.records.len();
                        tracing::debug!(%target, %probe, records, "applying observation");
                        let after = match store.ingest(output.observation, &ingest).await {
                            Ok(r) => {
                                tracing::debug!(%target, %probe, created = r.created, updated = r.updated, "observation applied");
                                acc.created += r.created;
                                acc.updated += r.updated;
                                acc.unchanged += r.unchanged;
                                acc.merged += r.merged;
                                acc.staled += r.staled;
                                acc.relationships_created += r.relationships_created;
                                acc.relationships_updated += r.relationships_updated;
                                acc.relationships_closed += r.relationships_closed;
                                if !r.errors.is_empty() {
                                    tracing::warn!(%target, %probe, errors = r.errors.len(), first = %r.errors[0].message, "records rejected");
                                }
                                AfterStore {
                                    failed: None,
                                    rejected: r
                                        .errors
                                        .iter()
                                        .map(|e| {
                                            Diagnostic::new(
                                                &target,
                                                &probe,
                                                &e.code,
                                                format!(
                                                    "record `{}` rejected: {}",
                                                    e.record, e.message
                                                ),
                                            )
                                        })
                                        .collect(),
                                }
                            }
                            Err(e) => {
                                tracing::error!(%target, %probe, code = e.code(), "storing the observation failed: {e}");
                                AfterStore {
                                    failed: Some((e.code().to_string(), e.to_string())),
                                    rejected: Vec::new(),
                                }
                            }
                        };
                        stored.insert((target, probe), after);
                    }
                    ProgressEvent::TargetFinished {
                        target,
                        probe,
                        outcome,
                        diagnostics,
                        ..
                    } => {
                        acc.diagnostics += diagnostics.len();
                        let skipped = outcome.skipped();
                        let (ok, detail) = match outcome {
                            TargetOutcome::Ok {
                                records,
                                relationships,
                                complete,
                                diagnostics,
                                credential,
                            } => (
                                true,
                                format!(
                                    "{records} records, {relationships} relationships{}{}{}",
                                    if complete {
                                        ""
                                    } else {
                                        ", PARTIAL (nothing staled)"
                                    },
                                    if diagnostics > 0 {
                                        format!(", {diagnostics} diagnostics")
                                    } else {
                                        String::new()
                                    },
                                    credential
                                        .map(|c| format!(", credential {c}"))
                                        .unwrap_or_default()
                                ),
                            ),
                            TargetOutcome::Error { code, message } => {
                                (false, format!("{code}: {message}"))
                            }
                        };
                        acc.targets.push(TargetLine {
                            target,
                            probe,
                            ok,
                            skipped,
                            detail,
                        });
                    }
                    _ => {}
                }
            }
            acc
        })
    };

    if !probes.is_empty() && !targets.is_empty() {
        let req = DiscoveryRequest {
            run_id: run_id.clone(),
            targets: targets.clone(),
            probes: Vec::new(),
        };
        run(&req, &probes, &settings.runner, Some(tx.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    }
    if settings.local {
        let local = Arc::new(LocalProbe::default()) as Arc<dyn Probe>;
        let req = DiscoveryRequest {
            run_id: run_id.clone(),
            targets: vec![LocalProbe::target().name()],
            probes: Vec::new(),
        };
        run(&req, &[local], &settings.runner, Some(tx.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    }
    drop(tx);
    let acc = applier.await.context("applying observations")?;
    summary.created = acc.created;
    summary.updated = acc.updated;
    summary.unchanged = acc.unchanged;
    summary.merged = acc.merged;
    summary.staled = acc.staled;
    summary.relationships_created = acc.relationships_created;
    summary.relationships_updated = acc.relationships_updated;
    summary.relationships_closed = acc.relationships_closed;
    summary.diagnostics = acc.diagnostics;
    summary.targets_ok = acc.targets.iter().filter(|t| t.ok).count();
    summary.targets_skipped = acc.targets.iter().filter(|t| t.skipped).count();
    summary.targets_failed = acc.targets.iter().filter(|t| !t.ok && !t.skipped).count();
    summary.targets = acc.targets;
    // Services and pools follow what the run found. A failed recompute is logged, never
    // fails the run: the discovered data is stored either way.
    recompute_services_after_run(store.as_ref(), &mapping_ingest, &run_id).await;
    summary.duration_ms = started.elapsed().as_millis() as u64;

    if let Some(path) = &settings.affinity_file {
        let file = AffinityFile {
            snmp: snmp_affinity.snapshot(),
            ssh: ssh_affinity.snapshot(),
        };
        // Names only, never secrets.
        if let Err(e) = crate::private_fs::write_atomic(path, &serde_json::to_vec_pretty(&file)?) {
            tracing::warn!(path = %path.display(), "cannot remember credential affinity: {e}");
        }
    }
    Ok(summary)
}

/// What storing a pair's observation adds to the pair's outcome.
struct AfterStore {
    /// The store refused the observation (code, message): the pair failed.
    failed: Option<(String, String)>,
    /// Records the store rejected, as diagnostics of the pair.
    rejected: Vec<Diagnostic>,
}

impl AfterStore {
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

/// The run's secret values out of a finished pair's error and diagnostics (second line of
/// defence: probes keep them out already).
fn redact(redactor: &Redactor, outcome: &mut TargetOutcome, diagnostics: &mut [Diagnostic]) {
    if let TargetOutcome::Error { message, .. } = outcome {
        *message = redactor.redact(message);
    }
    for d in diagnostics {
        d.message = redactor.redact(&d.message);
    }
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
