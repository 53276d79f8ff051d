//! Discovery runs: build probes from settings, drive them with the protocol-neutral runner,
//! and apply each observation to the store as it arrives. Used by `cmdb discover` and by
//! `cmdb serve` (local discovery at start).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use cmdb_discovery::local::LocalProbe;
use cmdb_discovery::run::{run, DiscoveryRequest, ProgressEvent, RunnerConfig, TargetOutcome};
use cmdb_discovery::snmp::SnmpProbe;
use cmdb_discovery::ssh::{HostKeyPolicy, SshOptions, SshProbe};
use cmdb_discovery::{Probe, SnmpCredential, SshCredential};
use cmdb_model::RunId;
use cmdb_store::{GraphStore, IngestOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// What a run uses besides its targets.
#[derive(Debug, Clone, Default)]
pub struct DiscoverySettings {
    pub snmp: Vec<SnmpCredential>,
    pub ssh: Vec<SshCredential>,
    pub host_key_policy: Option<HostKeyPolicy>,
    /// Also discover the machine cmdb runs on.
    pub local: bool,
    pub runner: RunnerConfig,
    /// Where credential affinity is remembered between runs.
    pub affinity_file: Option<PathBuf>,
}

/// Credential affinity of both protocols, persisted as JSON in the data directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AffinityFile {
    #[serde(default)]
    snmp: cmdb_discovery::sweep::AffinityMap,
    #[serde(default)]
    ssh: std::collections::BTreeMap<String, String>,
}

/// One target's result as the summary reports it (never contains a secret).
#[derive(Debug, Clone, Serialize)]
pub struct TargetLine {
    pub target: String,
    pub probe: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub targets_ok: usize,
    pub targets_failed: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub merged: usize,
    pub staled: usize,
    pub relationships_created: usize,
    pub relationships_updated: usize,
    pub relationships_closed: usize,
    pub diagnostics: usize,
    pub duration_ms: u64,
    pub targets: Vec<TargetLine>,
}

impl RunSummary {
    pub fn render(&self) -> String {
        let mut s = String::new();
        for t in &self.targets {
            s.push_str(&format!("  {:<7} {:<5} {:<24} {}\n", if t.ok { "ok" } else { "FAILED" }, t.probe, t.target, t.detail));
        }
        s.push_str(&format!(
            "run {}: targets ok {}, failed {}; CIs created {}, updated {}, unchanged {}, merged {}, staled {}; relationships created {}, updated {}, closed {}; {} diagnostic(s); {:.1}s\n",
            self.run_id, self.targets_ok, self.targets_failed, self.created, self.updated, self.unchanged, self.merged, self.staled,
            self.relationships_created, self.relationships_updated, self.relationships_closed, self.diagnostics, self.duration_ms as f64 / 1000.0
        ));
        s
    }
}

/// Turn runner events into `discoveryProgress` subscription events.
pub fn progress_publisher(events: cmdb_graphql::EventBus) -> impl Fn(&ProgressEvent) + Send + Sync + 'static {
    let done = std::sync::atomic::AtomicU32::new(0);
    let total = std::sync::atomic::AtomicU32::new(0);
    move |ev: &ProgressEvent| {
        use std::sync::atomic::Ordering::Relaxed;
        let (run_id, phase, message) = match ev {
            ProgressEvent::RunStarted { run_id, targets, probes } => {
                total.fetch_add((*targets * probes.len().max(1)) as u32, Relaxed);
                (run_id, "STARTED", None)
            }
            ProgressEvent::TargetFinished { run_id, target, probe, outcome, .. } => {
                done.fetch_add(1, Relaxed);
                let msg = match outcome {
                    TargetOutcome::Ok { records, .. } => format!("{probe} {target}: {records} records"),
                    TargetOutcome::Error { code, message } => format!("{probe} {target}: {code}: {message}"),
                };
                (run_id, "TARGET_DONE", Some(msg))
            }
            ProgressEvent::RunFinished { run_id, ok, failed, .. } => (run_id, "FINISHED", Some(format!("{ok} ok, {failed} failed"))),
            _ => return,
        };
        events.publish_progress(cmdb_graphql::DiscoveryProgress {
            run_id: async_graphql_id(run_id),
            phase: phase.into(),
            targets_done: done.load(Relaxed),
            targets_total: total.load(Relaxed),
            message,
            at: chrono::Utc::now(),
        });
    }
}

fn async_graphql_id(run: &RunId) -> async_graphql::ID {
    async_graphql::ID(run.to_string())
}

fn load_affinity(path: Option<&Path>) -> AffinityFile {
    path.and_then(|p| std::fs::read_to_string(p).ok()).and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

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
        probes.push(Arc::new(SnmpProbe::new(settings.snmp.clone()).with_affinity(snmp_affinity.clone())));
    }
    if !settings.ssh.is_empty() {
        let policy = settings.host_key_policy.clone().context("SSH discovery needs a host-key policy")?;
        let p = SshProbe::with_affinity(SshOptions::new(settings.ssh.clone(), policy), ssh_affinity.clone())
            .map_err(|e| anyhow::anyhow!("SSH settings: {e}"))?;
        probes.push(Arc::new(p));
    }
    if probes.is_empty() && !targets.is_empty() {
        anyhow::bail!("targets were given but no credentials: pass --snmp-community/--snmp-user and/or --ssh-user with --ssh-key or --ssh-password-env");
    }

    let mut summary = RunSummary { run_id: run_id.to_string(), ..Default::default() };
    let on_event = Arc::new(on_event);
    let (tx, mut rx) = mpsc::channel::<ProgressEvent>(256);
    // Apply observations as they arrive, one at a time, while the runner goes on.
    let applier = {
        let store = store.clone();
        let on_event = on_event.clone();
        tokio::spawn(async move {
            let mut acc = RunSummary::default();
            while let Some(ev) = rx.recv().await {
                on_event(&ev);
                match ev {
                    ProgressEvent::ObservationReady { output, target, probe, .. } => {
                        acc.diagnostics += output.diagnostics.len();
                        for d in &output.diagnostics {
                            tracing::debug!(target = %d.target, probe = %d.probe, code = %d.code, "{}", d.message);
                        }
                        match store.ingest(output.observation, &ingest).await {
                            Ok(r) => {
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
                            }
                            Err(e) => {
                                tracing::error!(%target, %probe, code = e.code(), "storing the observation failed: {e}");
                                acc.targets.push(TargetLine { target, probe, ok: false, detail: format!("{}: {e}", e.code()) });
                            }
                        }
                    }
                    ProgressEvent::TargetFinished { target, probe, outcome, .. } => {
                        let (ok, detail) = match outcome {
                            TargetOutcome::Ok { records, relationships, complete, diagnostics, credential } => (
                                true,
                                format!(
                                    "{records} records, {relationships} relationships{}{}{}",
                                    if complete { "" } else { ", PARTIAL (nothing staled)" },
                                    if diagnostics > 0 { format!(", {diagnostics} diagnostics") } else { String::new() },
                                    credential.map(|c| format!(", credential {c}")).unwrap_or_default()
                                ),
                            ),
                            TargetOutcome::Error { code, message } => (false, format!("{code}: {message}")),
                        };
                        acc.targets.push(TargetLine { target, probe, ok, detail });
                    }
                    _ => {}
                }
            }
            acc
        })
    };

    if !probes.is_empty() {
        let req = DiscoveryRequest { run_id: run_id.clone(), targets: targets.clone(), probes: Vec::new() };
        run(&req, &probes, &settings.runner, Some(tx.clone())).await.map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
    }
    if settings.local {
        let local = Arc::new(LocalProbe::default()) as Arc<dyn Probe>;
        let req = DiscoveryRequest { run_id: run_id.clone(), targets: vec![LocalProbe::target().name()], probes: Vec::new() };
        run(&req, &[local], &settings.runner, Some(tx.clone())).await.map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
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
    summary.targets_failed = acc.targets.iter().filter(|t| !t.ok).count();
    summary.targets = acc.targets;
    summary.duration_ms = started.elapsed().as_millis() as u64;

    if let Some(path) = &settings.affinity_file {
        let file = AffinityFile { snmp: snmp_affinity.snapshot(), ssh: ssh_affinity.snapshot() };
        // Names only, never secrets.
        if let Err(e) = std::fs::write(path, serde_json::to_vec_pretty(&file)?) {
            tracing::warn!(path = %path.display(), "cannot remember credential affinity: {e}");
        }
    }
    Ok(summary)
}
