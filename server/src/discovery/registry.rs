//! The server's discovery runs and the API's `DiscoveryService`: started from the API,
//! schedules or at start-up; each on its own thread and runtime so the HTTP workers never wait
//! for a probe. The registry owns the runs' threads: [`RunRegistry::shutdown`] stops them and
//! waits until each has recorded how it ended, so the store closes after the last write.
//! Runs are recorded in the data directory's run log (`run_log.rs`) with those of `cmdb
//! discover`, so the API lists both, and a run whose process died reads as INTERRUPTED.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use cmdb_discovery::run::ProgressEvent;
use cmdb_discovery::ssh::HostKeyPolicy;
use cmdb_graphql::discovery::{DiscoveryCredential, DiscoveryRun, DiscoveryRunStatus};
use cmdb_graphql::{ApiError, RunRequest};
use cmdb_model::RunId;
use cmdb_store::{GraphStore, IngestOptions};
use parking_lot::Mutex;
use tokio::sync::watch;

use super::progress::{progress_publisher, record_run_start, RunRecorder};
use super::record::{finish_run_record, new_run_record};
use super::run::{discover, RunError, StopSignal};
use super::settings::{check_scope, settings_from_config, DiscoverySettings};
use crate::run_log::{RunLease, RunLog};

/// How many finished runs are remembered.
const KEEP_RUNS: usize = crate::run_log::KEEP_RUNS;

/// This process's runs (live progress), newest first.
type Runs = Arc<Mutex<Vec<DiscoveryRun>>>;

pub struct RunRegistry {
    store: Arc<dyn GraphStore>,
    ingest: IngestOptions,
    events: cmdb_graphql::EventBus,
    config: crate::config::DiscoveryConfig,
    data_dir: PathBuf,
    runs: Runs,
    log: RunLog,
    /// Told after every run, to bind open alerts the run may have found CIs for.
    live: Option<Arc<cmdb_live::Live>>,
    /// The threads of runs started here (finished ones are dropped as new ones start). Locked
    /// for the whole of a start, so a shutdown never misses a run.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Sent once, at shutdown: running runs stop, new ones are refused.
    stop: watch::Sender<bool>,
    stop_signal: StopSignal,
}

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
        let (stop, stop_signal) = StopSignal::new();
        RunRegistry {
            store,
            ingest,
            events,
            config,
            data_dir,
            runs: Default::default(),
            log,
            live: None,
            threads: Mutex::new(Vec::new()),
            stop,
            stop_signal,
        }
    }

    /// Bind open alerts again after each run.
    pub fn with_live(mut self, live: Arc<cmdb_live::Live>) -> Self {
        self.live = Some(live);
        self
    }

    /// Stop every running run and wait, at most `grace`, until each has recorded its end
    /// (INTERRUPTED, with what it found so far stored; or however it ended if it was
    /// finishing). Runs asked for from now on are refused. Call before closing the store.
    /// A run still inside a long store write after `grace` is left behind: the store closes
    /// under it (its writes fail) and its record reads INTERRUPTED through the run log's lock
    /// once the process is gone — a stop must not wait for minutes of work at a large estate.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.stop.send_replace(true);
        let threads = std::mem::take(&mut *self.threads.lock());
        if threads.is_empty() {
            return;
        }
        tracing::info!(runs = threads.len(), "waiting for discovery runs to stop");
        // Joined on a thread of its own, not the runtime's blocking pool: a run left behind
        // after `grace` must not hold the runtime's shutdown.
        let (done, joined) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            for t in threads {
                if t.join().is_err() {
                    tracing::error!("a discovery run's thread panicked");
                }
            }
            let _ = done.send(());
        });
        match tokio::time::timeout(grace, joined).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "waiting for discovery runs failed"),
            Err(_) => tracing::warn!(
                grace_secs = grace.as_secs(),
                "discovery runs still finishing a store write; closing the store under them \
                 (their records read INTERRUPTED)"
            ),
        }
    }

    fn shutting_down(&self) -> bool {
        *self.stop.borrow()
    }

    /// The settings a request runs with, or why it cannot run.
    fn settings_for(&self, req: &RunRequest) -> Result<DiscoverySettings, ApiError> {
        for t in &req.targets {
            cmdb_discovery::target::parse_targets(t)
                .map_err(|e| ApiError::InvalidInput(e.to_string()))?;
        }
        let mut settings =
            settings_from_config(&self.config, &self.data_dir, &req.credentials, req.local)
                .map_err(|e| ApiError::InvalidInput(e.to_string()))?;
        check_scope(&settings, &req.targets).map_err(|e| ApiError::InvalidInput(e.to_string()))?;
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
        Ok(settings)
    }

    /// Spawn the run's thread and keep its handle in `threads`.
    fn spawn(&self, threads: &mut Vec<JoinHandle<()>>, job: RunJob) {
        let id = job.run_id.to_string();
        let lease = job.lease.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("discovery-{id}"))
            .spawn(move || job.run());
        match spawned {
            Ok(handle) => {
                threads.retain(|t| !t.is_finished());
                threads.push(handle);
            }
            Err(e) => {
                let failed = update(&self.runs, &id, |r| {
                    r.status = DiscoveryRunStatus::Failed;
                    r.message = Some(format!("cannot start: {e}"));
                });
                if let (Some(l), Some(r)) = (&lease, failed) {
                    let _ = l.finish(&r);
                }
            }
        }
    }
}

/// This process's record of run `id`.
fn find(runs: &Runs, id: &str) -> Option<DiscoveryRun> {
    runs.lock().iter().find(|r| r.id.as_str() == id).cloned()
}

/// Change this process's record of run `id`; the record after the change.
fn update(runs: &Runs, id: &str, f: impl FnOnce(&mut DiscoveryRun)) -> Option<DiscoveryRun> {
    let mut runs = runs.lock();
    let r = runs.iter_mut().find(|r| r.id.as_str() == id)?;
    f(r);
    Some(r.clone())
}

/// Everything one run's thread needs.
struct RunJob {
    run_id: RunId,
    settings: DiscoverySettings,
    targets: Vec<String>,
    store: Arc<dyn GraphStore>,
    ingest: IngestOptions,
    events: cmdb_graphql::EventBus,
    runs: Runs,
    lease: Option<Arc<RunLease>>,
    live: Option<Arc<cmdb_live::Live>>,
    stop: StopSignal,
}

impl RunJob {
    /// The thread's body: run on a runtime of its own, then record how it ended.
    fn run(self) {
        let result = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => {
                let result = rt.block_on(self.discover());
                // A probe stuck in blocking I/O past a stop does not hold the shutdown.
                rt.shutdown_timeout(std::time::Duration::from_secs(5));
                result
            }
            Err(e) => Err(RunError::Runtime(e)),
        };
        self.finish(&result);
    }

    async fn discover(&self) -> Result<super::RunSummary, RunError> {
        let on_event = self.on_event();
        let r = discover(
            self.store.clone(),
            self.ingest.clone(),
            &self.settings,
            self.targets.clone(),
            self.run_id.clone(),
            on_event,
            self.stop.clone(),
        )
        .await;
        let interrupted = matches!(&r, Ok(s) if s.interrupted);
        if let (Some(live), false) = (&self.live, interrupted) {
            if let Err(e) = live.rebind(chrono::Utc::now()).await {
                tracing::warn!(run_id = %self.run_id, error = %e, "binding open alerts after the run failed");
            }
        }
        r
    }

    /// Progress goes to subscribers and to the run's record (saved now and then).
    fn on_event(&self) -> impl Fn(&ProgressEvent) + Send + Sync + 'static {
        let publish = progress_publisher(self.events.clone());
        let runs = self.runs.clone();
        let id = self.run_id.to_string();
        let recorder = Mutex::new(RunRecorder::new(self.lease.clone()));
        move |ev: &ProgressEvent| {
            publish(ev);
            let mut recorder = recorder.lock();
            let mut due = None;
            update(&runs, &id, |r| due = recorder.apply(r, ev));
            // Written outside the registry's lock: readers of other runs never wait for it.
            if let Some(snapshot) = due {
                recorder.save(&snapshot);
            }
        }
    }

    /// The final record goes to disk first, then to memory: whoever sees the run ended here
    /// finds it ended in the run log too.
    fn finish(&self, result: &Result<super::RunSummary, RunError>) {
        let id = self.run_id.to_string();
        let Some(mut r) = find(&self.runs, &id) else {
            return;
        };
        finish_run_record(&mut r, result);
        if let Some(l) = &self.lease {
            if let Err(e) = l.finish(&r) {
                tracing::warn!(run_id = %id, "cannot record the end of the discovery run: {e}");
            }
        }
        update(&self.runs, &id, |x| *x = r);
    }
}

impl cmdb_graphql::DiscoveryService for RunRegistry {
    fn credentials(&self) -> Vec<DiscoveryCredential> {
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
            .map(|(name, kind, scope)| DiscoveryCredential {
                name,
                kind: kind.into(),
                scope,
            })
            .collect()
    }

    fn start(&self, req: RunRequest, trigger: &str) -> Result<DiscoveryRun, ApiError> {
        // Held until the run's thread is kept: a shutdown either waits for it or refuses it.
        let mut threads = self.threads.lock();
        if self.shutting_down() {
            return Err(ApiError::Unavailable(
                "the server is shutting down: no new discovery runs".into(),
            ));
        }
        let settings = self.settings_for(&req)?;
        let run_id = RunId::generate();
        let run = new_run_record(&run_id, trigger);
        {
            let mut runs = self.runs.lock();
            runs.insert(0, run.clone());
            runs.truncate(KEEP_RUNS);
        }
        let lease = record_run_start(&self.log, &run);
        self.spawn(
            &mut threads,
            RunJob {
                run_id,
                settings,
                targets: req.targets,
                store: self.store.clone(),
                ingest: self.ingest.clone(),
                events: self.events.clone(),
                runs: self.runs.clone(),
                lease,
                live: self.live.clone(),
                stop: self.stop_signal.clone(),
            },
        );
        Ok(run)
    }

    fn run(&self, id: &str) -> Option<DiscoveryRun> {
        find(&self.runs, id).or_else(|| self.log.get(id))
    }

    /// This process's runs (with live progress) and every other recorded run, newest first.
    fn runs(&self, limit: usize) -> Vec<DiscoveryRun> {
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
