//! The server's discovery runs and the API's `DiscoveryService`.

use std::path::PathBuf;
use std::sync::Arc;

use cmdb_discovery::run::ProgressEvent;
use cmdb_discovery::ssh::HostKeyPolicy;
use cmdb_model::RunId;
use cmdb_store::{GraphStore, IngestOptions};

use super::progress::{progress_publisher, record_run_start, RunRecorder};
use super::record::{finish_run_record, new_run_record};
use super::run::discover;
use super::settings::{check_scope, settings_from_config};
use crate::run_log::RunLog;

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
                r.status = cmdb_graphql::discovery::DiscoveryRunStatus::Failed;
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
