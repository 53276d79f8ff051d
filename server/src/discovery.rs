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
use cmdb_discovery::{
    in_scope, CredentialScope, Diagnostic, Probe, Redactor, SnmpCredential, SshCredential,
};
use cmdb_model::RunId;
use cmdb_store::{GraphStore, IngestOptions};

use crate::run_log::{RunLease, RunLog};
use crate::run_targets::{status_of, RunTargets};
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
    /// Nothing was sent (no credential of the probe may go there): neither ok nor failed.
    pub skipped: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub targets_ok: usize,
    pub targets_failed: usize,
    pub targets_skipped: usize,
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
            s.push_str(&format!(
                "  {:<7} {:<5} {:<24} {}\n",
                if t.ok {
                    "ok"
                } else if t.skipped {
                    "skipped"
                } else {
                    "FAILED"
                },
                t.probe,
                t.target,
                t.detail
            ));
        }
        s.push_str(&format!(
            "run {}: targets ok {}, failed {}, skipped {}; CIs created {}, updated {}, unchanged {}, merged {}, staled {}; relationships created {}, updated {}, closed {}; {} diagnostic(s); {:.1}s\n",
            self.run_id, self.targets_ok, self.targets_failed, self.targets_skipped, self.created, self.updated, self.unchanged, self.merged, self.staled,
            self.relationships_created, self.relationships_updated, self.relationships_closed, self.diagnostics, self.duration_ms as f64 / 1000.0
        ));
        s
    }
}

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
                (run_id, "STARTED", None, None)
            }
            ProgressEvent::TargetStarted {
                run_id,
                target,
                probe,
            } => (
                run_id,
                "TARGET_STARTED",
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
                    "TARGET_DONE",
                    Some(msg),
                    Some((target, probe, status_of(outcome))),
                )
            }
            ProgressEvent::RunFinished {
                run_id, ok, failed, ..
            } => (
                run_id,
                "FINISHED",
                Some(format!("{ok} ok, {failed} failed")),
                None,
            ),
            ProgressEvent::ObservationReady { .. } => return,
        };
        events.publish_progress(cmdb_graphql::DiscoveryProgress {
            run_id: async_graphql_id(run_id),
            phase: phase.into(),
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

fn async_graphql_id(run: &RunId) -> async_graphql::ID {
    async_graphql::ID(run.to_string())
}

fn load_affinity(path: Option<&Path>) -> AffinityFile {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
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
            ssh: ssh_affinity.snapshot().entries,
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

/// Settings for a run from the config file, restricted to the named credentials (empty = all).
pub fn settings_from_config(
    cfg: &crate::config::DiscoveryConfig,
    data_dir: &Path,
    credentials: &[String],
    local: bool,
) -> Result<DiscoverySettings, String> {
    let known: Vec<&String> = cfg
        .snmp
        .iter()
        .map(|c| &c.name)
        .chain(cfg.ssh.iter().map(|c| &c.name))
        .collect();
    if let Some(unknown) = credentials.iter().find(|c| !known.contains(c)) {
        return Err(format!(
            "unknown credential `{unknown}` (configured: {})",
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let wanted = |name: &String| credentials.is_empty() || credentials.contains(name);
    let scoped = |name: &str, explicit: &Option<CredentialScope>| -> Option<CredentialScope> {
        Some(match explicit {
            Some(s) => s.clone(),
            None => default_scope(cfg, name),
        })
    };
    let known_hosts = cfg
        .known_hosts
        .clone()
        .unwrap_or_else(|| data_dir.join("known_hosts"));
    Ok(DiscoverySettings {
        snmp: cfg
            .snmp
            .iter()
            .filter(|c| wanted(&c.name))
            .map(|c| SnmpCredential {
                scope: scoped(&c.name, &c.scope),
                ..c.clone()
            })
            .collect(),
        ssh: cfg
            .ssh
            .iter()
            .filter(|c| wanted(&c.name))
            .map(|c| SshCredential {
                scope: scoped(&c.name, &c.scope),
                ..c.clone()
            })
            .collect(),
        host_key_policy: Some(match cfg.ssh_host_keys.as_str() {
            "strict" => HostKeyPolicy::Strict { known_hosts },
            "off" => HostKeyPolicy::Off,
            _ => HostKeyPolicy::AcceptNew { known_hosts },
        }),
        local,
        runner: RunnerConfig {
            concurrency: cfg.concurrency.max(1),
            target_timeout_ms: cfg.target_timeout_secs.max(1) * 1000,
        },
        affinity_file: Some(data_dir.join("credential-affinity.json")),
    })
}

/// Where a configured credential without an explicit `scope` may go: the targets of the
/// schedules that name it (a schedule naming no credentials names them all). Nowhere else — in
/// particular not to a target an API caller picks (config.rs rejects schedule targets that
/// cannot be scopes, so nothing is silently dropped here).
pub fn default_scope(cfg: &crate::config::DiscoveryConfig, credential: &str) -> CredentialScope {
    let mut scope = CredentialScope::default();
    for s in &cfg.schedules {
        if s.credentials.is_empty() || s.credentials.iter().any(|c| c == credential) {
            for t in &s.targets {
                let _ = scope.add_target_expr(t);
            }
        }
    }
    scope
}

/// Refuse a run whose targets lie outside the scope of every credential it may use: listing
/// what is out of scope, before any packet is sent.
pub fn check_scope(settings: &DiscoverySettings, targets: &[String]) -> Result<(), String> {
    let mut outside: Vec<String> = Vec::new();
    for expr in targets {
        let expanded = cmdb_discovery::target::parse_targets(expr).map_err(|e| e.to_string())?;
        let out: Vec<&cmdb_discovery::Target> = expanded
            .iter()
            .filter(|t| {
                !settings.snmp.iter().any(|c| in_scope(&c.scope, t))
                    && !settings.ssh.iter().any(|c| in_scope(&c.scope, t))
            })
            .collect();
        match out.len() {
            0 => {}
            n if n == expanded.len() => outside.push(format!("`{expr}`")),
            n => outside.push(format!(
                "`{expr}` ({n} of its {} addresses, e.g. {})",
                expanded.len(),
                out[0].host
            )),
        }
    }
    if outside.is_empty() {
        return Ok(());
    }
    Err(format!(
        "target {} is outside the scope of every credential this run may use; a credential is \
         only sent to the ranges in its `scope` (default: the targets of the schedules that \
         name it) — add the range to `scope` in [[discovery.snmp]] / [[discovery.ssh]]",
        outside.join(", ")
    ))
}

/// A new run's record, RUNNING from now.
pub fn new_run_record(run_id: &RunId, trigger: &str) -> cmdb_graphql::discovery::DiscoveryRun {
    cmdb_graphql::discovery::DiscoveryRun {
        id: async_graphql_id(run_id),
        status: "RUNNING".into(),
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

/// Fill a run's record from how it ended.
pub fn finish_run_record(
    r: &mut cmdb_graphql::discovery::DiscoveryRun,
    result: &anyhow::Result<RunSummary>,
) {
    use cmdb_graphql::discovery::DiscoveryTargetError;
    r.finished_at = Some(chrono::Utc::now());
    match result {
        Ok(s) => {
            r.status = if s.targets_failed == 0 && (s.targets_ok > 0 || s.targets_skipped == 0) {
                "SUCCEEDED"
            } else if s.targets_ok > 0 {
                "PARTIAL"
            } else {
                "FAILED"
            }
            .into();
            if s.targets_ok == 0 && s.targets_failed == 0 && s.targets_skipped > 0 {
                r.message = Some(
                    "every target was outside the scope of the run's credentials: nothing was sent"
                        .into(),
                );
            }
            crate::metrics::metrics().discovery_finished(&r.status, s.targets_ok, s.targets_failed);
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
                .filter(|t| !t.ok && !t.skipped)
                .map(|t| {
                    let (code, message) = t
                        .detail
                        .split_once(": ")
                        .unwrap_or(("PROBE_FAILED", t.detail.as_str()));
                    DiscoveryTargetError {
                        target: t.target.clone(),
                        probe: t.probe.clone(),
                        code: code.to_string(),
                        message: message.to_string(),
                    }
                })
                .collect();
        }
        Err(e) => {
            r.status = "FAILED".into();
            r.message = Some(format!("{e:#}"));
        }
    }
    // Only a run that failed as a whole leaves pairs unfinished.
    crate::run_targets::close_unfinished(
        r,
        "RUN_FAILED",
        "the run ended before this target finished (see the run's message)",
    );
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

/// The server's discovery runs: started from the API, schedules or at start-up; each on its
/// own thread and runtime so the HTTP workers never wait for a probe. Runs are recorded in the
/// data directory's run log (`run_log.rs`) with those of `cmdb discover`, so the API lists
/// both, and a run whose process died reads as INTERRUPTED.
pub struct RunRegistry {
    store: Arc<dyn GraphStore>,
    ingest: IngestOptions,
    events: cmdb_graphql::EventBus,
    config: crate::config::DiscoveryConfig,
    data_dir: PathBuf,
    /// This process's runs (live progress), newest first.
    runs: Arc<parking_lot::Mutex<Vec<cmdb_graphql::discovery::DiscoveryRun>>>,
    log: RunLog,
    /// Told after every run, to bind open alerts the run may have found CIs for.
    live: Option<Arc<cmdb_live::Live>>,
}

/// How many finished runs are remembered.
const KEEP_RUNS: usize = crate::run_log::KEEP_RUNS;

impl RunRegistry {
    pub fn new(
        store: Arc<dyn GraphStore>,
        ingest: IngestOptions,
        events: cmdb_graphql::EventBus,
        config: crate::config::DiscoveryConfig,
        data_dir: PathBuf,
    ) -> Self {
        let log = RunLog::new(&data_dir);
        // Runs a dead process left RUNNING are marked INTERRUPTED (and logged) now.
        let interrupted = log.recover();
        if !interrupted.is_empty() {
            tracing::warn!(count = interrupted.len(), "discovery runs were interrupted by their process ending; run them again to complete them");
        }
        RunRegistry {
            store,
            ingest,
            events,
            config,
            data_dir,
            runs: Default::default(),
            log,
            live: None,
        }
    }

    /// Bind open alerts again after each run.
    pub fn with_live(mut self, live: Arc<cmdb_live::Live>) -> Self {
        self.live = Some(live);
        self
    }

    fn update(
        runs: &parking_lot::Mutex<Vec<cmdb_graphql::discovery::DiscoveryRun>>,
        id: &str,
        f: impl FnOnce(&mut cmdb_graphql::discovery::DiscoveryRun),
    ) {
        if let Some(r) = runs.lock().iter_mut().find(|r| r.id.as_str() == id) {
            f(r);
        }
    }
}

impl cmdb_graphql::DiscoveryService for RunRegistry {
    fn credentials(&self) -> Vec<cmdb_graphql::discovery::DiscoveryCredential> {
        use cmdb_discovery::credentials::{SnmpCredentialKind, SshAuth};
        let scope = |s: &Option<cmdb_discovery::credentials::CredentialScope>| {
            s.as_ref().map(|s| s.entries().join(", "))
        };
        let snmp = self.config.snmp.iter().map(|c| {
            let kind = match c.kind {
                SnmpCredentialKind::V1 { .. } => "snmp-v1",
                SnmpCredentialKind::V2c { .. } => "snmp-v2c",
                SnmpCredentialKind::V3(_) => "snmp-v3",
            };
            (c.name.clone(), kind, scope(&c.scope))
        });
        let ssh = self.config.ssh.iter().map(|c| {
            let kind = match c.auth {
                SshAuth::Key { .. } => "ssh-key",
                SshAuth::Password { .. } => "ssh-password",
                SshAuth::Agent => "ssh-agent",
            };
            (c.name.clone(), kind, scope(&c.scope))
        });
        snmp.chain(ssh)
            .map(
                |(name, kind, scope)| cmdb_graphql::discovery::DiscoveryCredential {
                    name,
                    kind: kind.into(),
                    scope,
                },
            )
            .collect()
    }
    fn start(
        &self,
        req: cmdb_graphql::RunRequest,
        trigger: &str,
    ) -> Result<cmdb_graphql::discovery::DiscoveryRun, cmdb_graphql::ApiError> {
        use cmdb_graphql::ApiError;
        for t in &req.targets {
            cmdb_discovery::target::parse_targets(t)
                .map_err(|e| ApiError::InvalidInput(e.to_string()))?;
        }
        let mut settings =
            settings_from_config(&self.config, &self.data_dir, &req.credentials, req.local)
                .map_err(ApiError::InvalidInput)?;
        check_scope(&settings, &req.targets).map_err(ApiError::InvalidInput)?;
        // A caller-started run meets hosts' keys as known, unless the caller explicitly
        // accepts new ones for this run (`off` in the config is the administrator's own choice).
        if !req.accept_new_host_keys {
            if let Some(HostKeyPolicy::AcceptNew { known_hosts }) = &settings.host_key_policy {
                settings.host_key_policy = Some(HostKeyPolicy::Strict {
                    known_hosts: known_hosts.clone(),
                });
            }
        }
        if !req.targets.is_empty() && settings.snmp.is_empty() && settings.ssh.is_empty() {
            return Err(ApiError::InvalidInput(
                "no discovery credentials are configured ([[discovery.snmp]] / [[discovery.ssh]])"
                    .into(),
            ));
        }
        let run_id = RunId::generate();
        let run = new_run_record(&run_id, trigger);
        {
            let mut runs = self.runs.lock();
            runs.insert(0, run.clone());
            runs.truncate(KEEP_RUNS);
        }
        let lease = record_run_start(&self.log, &run);
        let (store, ingest, events, runs, live) = (
            self.store.clone(),
            self.ingest.clone(),
            self.events.clone(),
            self.runs.clone(),
            self.live.clone(),
        );
        let targets = req.targets;
        let thread_lease = lease.clone();
        let spawned = std::thread::Builder::new().name(format!("discovery-{run_id}")).spawn(move || {
            let lease = thread_lease;
            let id = run_id.to_string();
            let publish = progress_publisher(events);
            let progress_runs = runs.clone();
            let progress_id = id.clone();
            let recorder = parking_lot::Mutex::new(RunRecorder::new(lease.clone()));
            let on_event = move |ev: &ProgressEvent| {
                publish(ev);
                let mut recorder = recorder.lock();
                let mut due = None;
                RunRegistry::update(&progress_runs, &progress_id, |r| due = recorder.apply(r, ev));
                // Written outside the registry's lock: readers of other runs never wait for it.
                if let Some(snapshot) = due {
                    recorder.save(&snapshot);
                }
            };
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(async {
                    let r = discover(store, ingest, &settings, targets, run_id.clone(), on_event).await;
                    if let Some(live) = &live {
                        if let Err(e) = live.rebind(chrono::Utc::now()).await {
                            tracing::warn!(run_id = %run_id, error = %e, "binding open alerts after the run failed");
                        }
                    }
                    r
                }));
            // The final record goes to disk first, then to memory: whoever sees the run ended
            // here finds it ended in the run log too.
            let finished = runs.lock().iter().find(|r| r.id.as_str() == id).cloned();
            if let Some(mut r) = finished {
                finish_run_record(&mut r, &result);
                if let Some(l) = &lease {
                    if let Err(e) = l.finish(&r) {
                        tracing::warn!(run_id = %id, "cannot record the end of the discovery run: {e}");
                    }
                }
                RunRegistry::update(&runs, &id, |x| *x = r);
            }
        });
        if let Err(e) = spawned {
            Self::update(&self.runs, &run.id, |r| {
                r.status = "FAILED".into();
                r.message = Some(format!("cannot start: {e}"));
            });
            if let (Some(l), Some(r)) = (
                &lease,
                self.runs.lock().iter().find(|r| r.id == run.id).cloned(),
            ) {
                let _ = l.finish(&r);
            }
        }
        Ok(run)
    }

    fn run(&self, id: &str) -> Option<cmdb_graphql::discovery::DiscoveryRun> {
        let mine = self
            .runs
            .lock()
            .iter()
            .find(|r| r.id.as_str() == id)
            .cloned();
        mine.or_else(|| self.log.get(id))
    }

    /// This process's runs (with live progress) and every other recorded run, newest first.
    fn runs(&self, limit: usize) -> Vec<cmdb_graphql::discovery::DiscoveryRun> {
        let mine: Vec<_> = self.runs.lock().iter().take(limit).cloned().collect();
        let mut all = self.log.list(limit + mine.len());
        all.retain(|r| !mine.iter().any(|m| m.id == r.id));
        all.extend(mine);
        all.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        all.truncate(limit);
        all
    }
}

/// Start the configured schedules: each fires its run at the next time its cron expression
/// names (UTC). Returns the tasks (dropped = stopped on shutdown).
pub fn start_schedules(
    registry: Arc<RunRegistry>,
    schedules: &[crate::config::ScheduleConfig],
) -> Vec<tokio::task::JoinHandle<()>> {
    use cmdb_graphql::DiscoveryService;
    use std::str::FromStr;
    let mut tasks = Vec::new();
    for s in schedules.iter().cloned() {
        let Ok(schedule) = cron::Schedule::from_str(&s.cron) else {
            continue;
        }; // validated at load
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(next) = schedule.upcoming(chrono::Utc).next() else { break };
                let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                // Schedules are the administrator's own targets: the configured host-key
                // policy applies as written.
                let req = cmdb_graphql::RunRequest {
                    targets: s.targets.clone(),
                    credentials: s.credentials.clone(),
                    local: s.local,
                    accept_new_host_keys: true,
                };
                match registry.start(req, &format!("schedule:{}", s.name)) {
                    Ok(run) => tracing::info!(schedule = %s.name, run_id = %run.id.as_str(), "scheduled discovery started"),
                    Err(e) => tracing::warn!(schedule = %s.name, "scheduled discovery not started: {e}"),
                }
            }
        }));
    }
    tasks
}
