//! Protocol-neutral run machinery: expand a [`DiscoveryRequest`]'s target expressions, run the
//! given probes over them with bounded concurrency and a per-target timeout, stream
//! [`ProgressEvent`]s, and return per-target results. It knows no store: the caller applies the
//! observations (from the events as they come, or from the report at the end).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_model::RunId;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};

use crate::target::{parse_targets, Target, TargetError};
use crate::{Diagnostic, Probe, ProbeError, ProbeOutput};

/// What to discover.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscoveryRequest {
    pub run_id: RunId,
    /// Target expressions: `10.0.0.1`, `host:1161`, `[::1]:161`, `10.0.0.0/24`.
    pub targets: Vec<String>,
    /// Probe names to run (`snmp`, `ssh`, …); empty = every probe given to the runner.
    #[serde(default)]
    pub probes: Vec<String>,
}

impl DiscoveryRequest {
    pub fn new(targets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        DiscoveryRequest {
            run_id: RunId::generate(),
            targets: targets.into_iter().map(Into::into).collect(),
            probes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RunnerConfig {
    /// Targets in progress at once (each target's probes run one after another).
    pub concurrency: usize,
    /// Whole-target deadline, collection and transform included.
    pub target_timeout_ms: u64,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            concurrency: 64,
            target_timeout_ms: 120_000,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    #[error("invalid target: {0}")]
    Target(#[from] TargetError),
    #[error("unknown probe `{0}`")]
    UnknownProbe(String),
    #[error("no targets")]
    NoTargets,
}

impl RunError {
    pub fn code(&self) -> &'static str {
        match self {
            RunError::Target(_) => "INVALID_TARGET",
            RunError::UnknownProbe(_) => "UNKNOWN_PROBE",
            RunError::NoTargets => "NO_TARGETS",
        }
    }
}

/// Progress of a run, in the order things happen for each target.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    RunStarted {
        run_id: RunId,
        targets: usize,
        probes: Vec<String>,
        /// The expanded targets (`Target::name()`), in the order the run takes them.
        target_names: Vec<String>,
    },
    TargetStarted {
        run_id: RunId,
        target: String,
        probe: String,
    },
    /// Sent before `TargetFinished` for a successful target; apply it as it comes if you like.
    ObservationReady {
        run_id: RunId,
        target: String,
        probe: String,
        output: Box<ProbeOutput>,
    },
    TargetFinished {
        run_id: RunId,
        target: String,
        probe: String,
        outcome: TargetOutcome,
        /// The probe's diagnostics (empty for a failed target).
        diagnostics: Vec<Diagnostic>,
        duration_ms: u64,
    },
    RunFinished {
        run_id: RunId,
        ok: usize,
        failed: usize,
        duration_ms: u64,
    },
}

/// Outcome summary (serialisable for run reports and the API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum TargetOutcome {
    Ok {
        records: usize,
        relationships: usize,
        complete: bool,
        diagnostics: usize,
        credential: Option<String>,
    },
    Error {
        code: String,
        message: String,
    },
}

impl TargetOutcome {
    /// Nothing was sent: no credential of the probe may go to the target (`OUT_OF_SCOPE`).
    /// Another probe of the run may cover it; not a failure.
    pub fn skipped(&self) -> bool {
        matches!(self, TargetOutcome::Error { code, .. } if code == "OUT_OF_SCOPE")
    }

    /// Failed without an answer worth keeping: nothing answered in time (`TIMEOUT`) or nothing
    /// listens (`UNREACHABLE`) — what most addresses of a sweep give. (A host that answered at
    /// first and then timed out reads the same: the code cannot tell them apart.)
    pub fn no_answer(&self) -> bool {
        matches!(self, TargetOutcome::Error { code, .. } if code == "TIMEOUT" || code == "UNREACHABLE")
    }
}

/// One (target, probe) result.
#[derive(Debug, Clone)]
pub struct TargetResult {
    pub target: String,
    pub probe: String,
    pub result: Result<ProbeOutput, ProbeError>,
    pub duration_ms: u64,
}

impl TargetResult {
    pub fn outcome(&self) -> TargetOutcome {
        outcome(&self.result)
    }
}

fn outcome(r: &Result<ProbeOutput, ProbeError>) -> TargetOutcome {
    match r {
        Ok(o) => TargetOutcome::Ok {
            records: o.observation.records.len(),
            relationships: o.observation.relationships.len(),
            complete: o.observation.scope.complete,
            diagnostics: o.diagnostics.len(),
            credential: o.credential.clone(),
        },
        Err(e) => TargetOutcome::Error {
            code: e.code().to_string(),
            message: e.to_string(),
        },
    }
}

#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_id: RunId,
    /// In target order, then probe order.
    pub results: Vec<TargetResult>,
    pub duration_ms: u64,
}

impl RunReport {
    pub fn ok_count(&self) -> usize {
        self.results.iter().filter(|r| r.result.is_ok()).count()
    }
    pub fn failed(&self) -> impl Iterator<Item = &TargetResult> {
        self.results.iter().filter(|r| r.result.is_err())
    }
}

/// Expand the request's targets (deduplicated, order kept).
pub fn expand_targets(req: &DiscoveryRequest) -> Result<Vec<Target>, RunError> {
    let mut out: Vec<Target> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in &req.targets {
        for t in parse_targets(e)? {
            if seen.insert(t.clone()) {
                out.push(t);
            }
        }
    }
    if out.is_empty() {
        return Err(RunError::NoTargets);
    }
    Ok(out)
}

async fn send(tx: &Option<mpsc::Sender<ProgressEvent>>, ev: ProgressEvent) {
    if let Some(tx) = tx {
        // a dropped receiver must not stop the run
        let _ = tx.send(ev).await;
    }
}

/// `p.discover` within `timeout`, on its own task: a panicking probe fails its target, not
/// the run.
async fn discover_isolated(
    t: &Target,
    p: Arc<dyn Probe>,
    run_id: &RunId,
    timeout: Duration,
) -> Result<ProbeOutput, ProbeError> {
    let name = t.name();
    let (t2, r2, n2) = (t.clone(), run_id.clone(), name.clone());
    let job = tokio::spawn(
        async move {
            match tokio::time::timeout(timeout, p.discover(&t2, &r2)).await {
                Ok(r) => r,
                Err(_) => Err(ProbeError::Timeout(format!(
                    "{n2}: target did not finish within {timeout:?}"
                ))),
            }
        }
        .in_current_span(),
    );
    match job.await {
        Ok(r) => r,
        Err(e) => Err(ProbeError::Other(format!(
            "{name}: probe crashed ({})",
            if e.is_panic() { "panic" } else { "cancelled" }
        ))),
    }
}

/// One probe over one target: events, a timeout, and a panic that fails only this target.
async fn run_one(
    t: &Target,
    p: Arc<dyn Probe>,
    run_id: &RunId,
    timeout: Duration,
    progress: &Option<mpsc::Sender<ProgressEvent>>,
) -> TargetResult {
    let name = t.name();
    let probe = p.name().to_string();
    let span = info_span!("discover", target = %name, probe = %probe, run_id = %run_id);
    async move {
        send(
            progress,
            ProgressEvent::TargetStarted {
                run_id: run_id.clone(),
                target: name.clone(),
                probe: probe.clone(),
            },
        )
        .await;
        let t0 = Instant::now();
        let result = discover_isolated(t, p, run_id, timeout).await;
        let duration_ms = t0.elapsed().as_millis() as u64;
        match &result {
            Ok(o) => {
                send(
                    progress,
                    ProgressEvent::ObservationReady {
                        run_id: run_id.clone(),
                        target: name.clone(),
                        probe: probe.clone(),
                        output: Box::new(o.clone()),
                    },
                )
                .await
            }
            Err(e) => warn!(code = e.code(), "target failed: {e}"),
        }
        send(
            progress,
            ProgressEvent::TargetFinished {
                run_id: run_id.clone(),
                target: name.clone(),
                probe: probe.clone(),
                outcome: outcome(&result),
                diagnostics: result
                    .as_ref()
                    .map(|o| o.diagnostics.clone())
                    .unwrap_or_default(),
                duration_ms,
            },
        )
        .await;
        TargetResult {
            target: name,
            probe,
            result,
            duration_ms,
        }
    }
    .instrument(span)
    .await
}

/// Run `probes` over the request's targets. Per-target failures (timeout, auth, dead agent)
/// become `Err` results and the run goes on; a failed target never yields an observation.
pub async fn run(
    req: &DiscoveryRequest,
    probes: &[Arc<dyn Probe>],
    cfg: &RunnerConfig,
    progress: Option<mpsc::Sender<ProgressEvent>>,
) -> Result<RunReport, RunError> {
    let selected: Vec<Arc<dyn Probe>> = if req.probes.is_empty() {
        probes.to_vec()
    } else {
        let mut v = Vec::new();
        for name in &req.probes {
            let p = probes
                .iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| RunError::UnknownProbe(name.clone()))?;
            v.push(p.clone());
        }
        v
    };
    let targets = expand_targets(req)?;
    let started = Instant::now();
    let run_id = req.run_id.clone();
    info!(run_id = %run_id, targets = targets.len(), probes = selected.len(), "discovery run started");
    send(
        &progress,
        ProgressEvent::RunStarted {
            run_id: run_id.clone(),
            targets: targets.len(),
            probes: selected.iter().map(|p| p.name().to_string()).collect(),
            target_names: targets.iter().map(|t| t.name()).collect(),
        },
    )
    .await;
    let timeout = Duration::from_millis(cfg.target_timeout_ms.max(1));
    // One job per target, its probes one after another in the order given (SNMP before SSH):
    // two probes of one host at once would each see the other's footprint (an SNMP walk
    // listing the SSH probe's shell as a process of the host), and a host is spared two
    // concurrent visitors. Targets run in parallel.
    let jobs: Vec<(usize, Target)> = targets.iter().cloned().enumerate().collect();
    let per_target: Vec<Vec<(usize, TargetResult)>> = stream::iter(jobs)
        .map(|(ti, t)| {
            let progress = progress.clone();
            let run_id = run_id.clone();
            let selected = selected.clone();
            async move {
                let mut out = Vec::with_capacity(selected.len());
                for (pi, p) in selected.into_iter().enumerate() {
                    let r = run_one(&t, p, &run_id, timeout, &progress).await;
                    out.push((ti * 1000 + pi, r));
                }
                out
            }
        })
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let mut results: Vec<(usize, TargetResult)> = per_target.into_iter().flatten().collect();
    results.sort_by_key(|(i, _)| *i);
    let results: Vec<TargetResult> = results.into_iter().map(|(_, r)| r).collect();
    let duration_ms = started.elapsed().as_millis() as u64;
    let ok = results.iter().filter(|r| r.result.is_ok()).count();
    send(
        &progress,
        ProgressEvent::RunFinished {
            run_id: run_id.clone(),
            ok,
            failed: results.len() - ok,
            duration_ms,
        },
    )
    .await;
    info!(run_id = %run_id, ok, failed = results.len() - ok, duration_ms, "discovery run finished");
    Ok(RunReport {
        run_id,
        results,
        duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use cmdb_model::{Observation, Scope, Source};

    struct Fake;
    #[async_trait]
    impl Probe for Fake {
        fn name(&self) -> &'static str {
            "fake"
        }
        async fn discover(&self, t: &Target, run_id: &RunId) -> Result<ProbeOutput, ProbeError> {
            match t.host.as_str() {
                "10.0.0.1" => Ok(ProbeOutput {
                    observation: Observation::new(
                        Source::new("fake"),
                        run_id.clone(),
                        Scope::complete([t.name()]),
                    ),
                    diagnostics: vec![Diagnostic::new(
                        &t.name(),
                        "fake",
                        "linux.command_missing",
                        "`ss`: command not available",
                    )],
                    credential: None,
                }),
                "10.0.0.2" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Err(ProbeError::Other("not reached".into()))
                }
                "10.0.0.5" => panic!("probe bug"),
                _ => Err(ProbeError::AuthFailed("nope".into())),
            }
        }
    }

    #[tokio::test]
    async fn runs_reports_and_times_out() {
        let mut req = DiscoveryRequest::new(["10.0.0.0/30", "10.0.0.3", "10.0.0.5"]);
        req.probes = vec!["fake".into()];
        let (tx, mut rx) = mpsc::channel(100);
        let cfg = RunnerConfig {
            concurrency: 4,
            target_timeout_ms: 200,
        };
        let probes: Vec<Arc<dyn Probe>> = vec![Arc::new(Fake)];
        let rep = run(&req, &probes, &cfg, Some(tx)).await.unwrap();
        assert_eq!(rep.results.len(), 4);
        assert!(rep.results[0].result.is_ok());
        assert_eq!(
            rep.results[1].result.as_ref().unwrap_err().code(),
            "TIMEOUT"
        );
        assert_eq!(
            rep.results[2].result.as_ref().unwrap_err().code(),
            "AUTH_FAILED"
        );
        assert_eq!(
            rep.results[3].result.as_ref().unwrap_err().code(),
            "PROBE_FAILED"
        );
        let mut events = Vec::new();
        while let Some(e) = rx.recv().await {
            events.push(e);
        }
        match events.first() {
            Some(ProgressEvent::RunStarted {
                targets: 4,
                target_names,
                ..
            }) => assert_eq!(
                target_names,
                &["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.5"]
            ),
            e => panic!("{e:?}"),
        }
        // Finished targets carry their diagnostics; failures none.
        let finished: Vec<(&str, &TargetOutcome, usize)> = events
            .iter()
            .filter_map(|e| match e {
                ProgressEvent::TargetFinished {
                    target,
                    outcome,
                    diagnostics,
                    ..
                } => Some((target.as_str(), outcome, diagnostics.len())),
                _ => None,
            })
            .collect();
        for (target, outcome, diagnostics) in &finished {
            let want = if *target == "10.0.0.1" { 1 } else { 0 };
            assert_eq!(*diagnostics, want, "{target}");
            assert_eq!(outcome.no_answer(), *target == "10.0.0.2", "{target}");
            assert!(!outcome.skipped());
        }
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, ProgressEvent::ObservationReady { .. }))
                .count(),
            1
        );
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, ProgressEvent::TargetFinished { .. }))
                .count(),
            4
        );
        assert!(matches!(
            events.last(),
            Some(ProgressEvent::RunFinished {
                ok: 1,
                failed: 3,
                ..
            })
        ));
        let skipped = TargetOutcome::Error {
            code: ProbeError::OutOfScope("x".into()).code().into(),
            message: "x".into(),
        };
        assert!(skipped.skipped() && !skipped.no_answer());
        req.probes = vec!["ssh".into()];
        assert!(matches!(
            run(&req, &probes, &cfg, None).await,
            Err(RunError::UnknownProbe(_))
        ));
    }
}
