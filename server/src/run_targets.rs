//! Per-target outcomes of a discovery run (`DiscoveryRun.targets`): one row per (target,
//! probe) pair, kept current from the runner's progress events while the run goes, so a
//! RUNNING run shows which pairs are done, and saved with the run's record.
//!
//! The record must stay small for any run, a /16 sweep (65,536 targets) included, because it
//! is answered whole by `discoveryRun` and rewritten on disk while the run goes. So:
//! - a run of at most [`LIST_EVERY_PAIR_UP_TO`] pairs lists every pair from the start
//!   (PENDING until it starts) and keeps every outcome;
//! - a larger run lists a pair from when it starts (RUNNING rows are bounded by the runner's
//!   concurrency) and keeps it when it finishes only if it is worth reading: it answered (OK),
//!   or it failed with more than no answer (not TIMEOUT or UNREACHABLE) and was not SKIPPED;
//! - at most [`MAX_FINISHED_ROWS`] finished rows are kept in any run; later ones are counted;
//! - every finished pair not kept is counted in `targetsOmitted` (a failure among them still
//!   shows in `errors`); `targetsOk`/`targetsFailed`/`targetsSkipped` count every pair;
//! - at most [`MAX_DIAGNOSTICS_PER_TARGET`] diagnostics per row and
//!   [`MAX_DIAGNOSTICS_PER_RUN`] per run, messages cut at [`MAX_MESSAGE_CHARS`] characters;
//!   a row's `diagnosticsOmitted` counts the rest.
//!
//! Worst case about 4,096 rows × ~0.3 KB plus 2,000 diagnostics × ~0.6 KB: a few MB.

use cmdb_discovery::run::{ProgressEvent, TargetOutcome};
use cmdb_discovery::Diagnostic;
use cmdb_graphql::discovery::{
    DiagnosticLevel, DiscoveryDiagnostic, DiscoveryRun, DiscoveryTargetError,
    DiscoveryTargetOutcome, TargetStatus,
};

/// Runs with at most this many (target, probe) pairs list every pair.
pub const LIST_EVERY_PAIR_UP_TO: usize = 1024;
/// Finished rows kept per run.
pub const MAX_FINISHED_ROWS: usize = 4096;
pub const MAX_DIAGNOSTICS_PER_TARGET: usize = 20;
pub const MAX_DIAGNOSTICS_PER_RUN: usize = 2000;
/// Longest diagnostic or error message kept (characters); longer ones end in `…`.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// The status a finished pair's outcome gives.
pub fn status_of(outcome: &TargetOutcome) -> TargetStatus {
    match outcome {
        TargetOutcome::Ok { .. } => TargetStatus::Ok,
        o if o.skipped() => TargetStatus::Skipped,
        TargetOutcome::Error { .. } => TargetStatus::Failed,
    }
}

/// Keeps one run's rows and counts from its progress events (the bounds above). One per run,
/// held by whoever holds the run's record.
#[derive(Debug, Default)]
pub struct RunTargets {
    finished_rows: usize,
    diagnostics: usize,
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn row(target: &str, probe: &str, status: TargetStatus) -> DiscoveryTargetOutcome {
    DiscoveryTargetOutcome {
        target: target.to_string(),
        probe: Some(probe.to_string()),
        status,
        records: 0,
        relationships: 0,
        duration_ms: None,
        diagnostics: Vec::new(),
        error: None,
        complete: None,
        credential: None,
        diagnostics_omitted: 0,
    }
}

/// The unfinished row of this pair (newest first: in a sweep the running rows are at the end).
fn unfinished(run: &DiscoveryRun, target: &str, probe: &str) -> Option<usize> {
    run.targets.iter().rposition(|r| {
        matches!(r.status, TargetStatus::Pending | TargetStatus::Running)
            && r.target == target
            && r.probe.as_deref() == Some(probe)
    })
}

fn level(l: cmdb_discovery::DiagnosticLevel) -> DiagnosticLevel {
    match l {
        cmdb_discovery::DiagnosticLevel::Info => DiagnosticLevel::Info,
        cmdb_discovery::DiagnosticLevel::Warning => DiagnosticLevel::Warning,
    }
}

impl RunTargets {
    /// Apply one progress event to the run's record; true when the record changed.
    pub fn apply(&mut self, run: &mut DiscoveryRun, ev: &ProgressEvent) -> bool {
        match ev {
            ProgressEvent::RunStarted {
                targets,
                probes,
                target_names,
                ..
            } => {
                run.targets_total = run
                    .targets_total
                    .saturating_add(count(targets.saturating_mul(probes.len())));
                if run.targets_total as usize <= LIST_EVERY_PAIR_UP_TO {
                    for t in target_names {
                        for p in probes {
                            run.targets.push(row(t, p, TargetStatus::Pending));
                        }
                    }
                }
                true
            }
            ProgressEvent::TargetStarted { target, probe, .. } => {
                match unfinished(run, target, probe) {
                    Some(i) => run.targets[i].status = TargetStatus::Running,
                    None => run.targets.push(row(target, probe, TargetStatus::Running)),
                }
                true
            }
            ProgressEvent::TargetFinished {
                target,
                probe,
                outcome,
                diagnostics,
                duration_ms,
                ..
            } => {
                self.finish(run, target, probe, outcome, diagnostics, *duration_ms);
                true
            }
            ProgressEvent::ObservationReady { .. } | ProgressEvent::RunFinished { .. } => false,
        }
    }

    fn finish(
        &mut self,
        run: &mut DiscoveryRun,
        target: &str,
        probe: &str,
        outcome: &TargetOutcome,
        diagnostics: &[Diagnostic],
        duration_ms: u64,
    ) {
        let status = status_of(outcome);
        run.targets_done = run.targets_done.saturating_add(1);
        match status {
            TargetStatus::Ok => run.targets_ok = run.targets_ok.saturating_add(1),
            TargetStatus::Skipped => run.targets_skipped = run.targets_skipped.saturating_add(1),
            _ => run.targets_failed = run.targets_failed.saturating_add(1),
        }
        let small_run = run.targets_total as usize <= LIST_EVERY_PAIR_UP_TO;
        let worth_keeping = small_run || !(outcome.no_answer() || outcome.skipped());
        let at = unfinished(run, target, probe);
        if !worth_keeping || self.finished_rows >= MAX_FINISHED_ROWS {
            if let Some(i) = at {
                run.targets.remove(i);
            }
            run.targets_omitted = run.targets_omitted.saturating_add(1);
            return;
        }
        self.finished_rows += 1;
        let mut r = row(target, probe, status);
        r.duration_ms = Some(i32::try_from(duration_ms).unwrap_or(i32::MAX));
        match outcome {
            TargetOutcome::Ok {
                records,
                relationships,
                complete,
                credential,
                ..
            } => {
                r.records = count(*records);
                r.relationships = count(*relationships);
                r.complete = Some(*complete);
                r.credential = credential.clone();
            }
            TargetOutcome::Error { code, message } => {
                r.error = Some(DiscoveryTargetError {
                    target: target.to_string(),
                    probe: probe.to_string(),
                    code: code.clone(),
                    message: clip(message),
                });
            }
        }
        for d in diagnostics {
            if r.diagnostics.len() < MAX_DIAGNOSTICS_PER_TARGET
                && self.diagnostics < MAX_DIAGNOSTICS_PER_RUN
            {
                self.diagnostics += 1;
                r.diagnostics.push(DiscoveryDiagnostic {
                    level: level(d.level),
                    code: Some(d.code.clone()),
                    message: clip(&d.message),
                });
            } else {
                r.diagnostics_omitted = r.diagnostics_omitted.saturating_add(1);
            }
        }
        match at {
            Some(i) => run.targets[i] = r,
            None => run.targets.push(r),
        }
    }
}

/// Rows a run left PENDING or RUNNING become FAILED with `code` (the run ended without them:
/// its process died, or the run failed as a whole).
pub fn close_unfinished(run: &mut DiscoveryRun, code: &str, message: &str) {
    for r in run
        .targets
        .iter_mut()
        .filter(|r| matches!(r.status, TargetStatus::Pending | TargetStatus::Running))
    {
        r.status = TargetStatus::Failed;
        r.error = Some(DiscoveryTargetError {
            target: r.target.clone(),
            probe: r.probe.clone().unwrap_or_default(),
            code: code.to_string(),
            message: message.to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmdb_model::RunId;

    fn run() -> DiscoveryRun {
        crate::discovery::new_run_record(&RunId::new("run_t"), "cli")
    }

    fn started(names: &[String], probes: &[&str]) -> ProgressEvent {
        ProgressEvent::RunStarted {
            run_id: RunId::new("run_t"),
            targets: names.len(),
            probes: probes.iter().map(|p| p.to_string()).collect(),
            target_names: names.to_vec(),
        }
    }

    fn begin(target: &str, probe: &str) -> ProgressEvent {
        ProgressEvent::TargetStarted {
            run_id: RunId::new("run_t"),
            target: target.into(),
            probe: probe.into(),
        }
    }

    fn ok(records: usize) -> TargetOutcome {
        TargetOutcome::Ok {
            records,
            relationships: 2,
            complete: true,
            diagnostics: 0,
            credential: Some("lab".into()),
        }
    }

    fn err(code: &str) -> TargetOutcome {
        TargetOutcome::Error {
            code: code.into(),
            message: format!("{code} happened"),
        }
    }

    fn done(
        target: &str,
        probe: &str,
        outcome: TargetOutcome,
        diagnostics: Vec<Diagnostic>,
    ) -> ProgressEvent {
        ProgressEvent::TargetFinished {
            run_id: RunId::new("run_t"),
            target: target.into(),
            probe: probe.into(),
            outcome,
            diagnostics,
            duration_ms: 12,
        }
    }

    fn statuses(r: &DiscoveryRun) -> Vec<(String, String, TargetStatus)> {
        r.targets
            .iter()
            .map(|t| (t.target.clone(), t.probe.clone().unwrap(), t.status))
            .collect()
    }

    #[test]
    fn a_small_run_lists_every_pair_as_it_goes() {
        let (mut r, mut t) = (run(), RunTargets::default());
        let names: Vec<String> = vec!["10.0.0.1".into(), "10.0.0.2".into()];
        t.apply(&mut r, &started(&names, &["snmp", "ssh"]));
        assert_eq!(r.targets_total, 4);
        assert!(r.targets.iter().all(|x| x.status == TargetStatus::Pending));
        t.apply(&mut r, &begin("10.0.0.1", "snmp"));
        let d = Diagnostic::new("10.0.0.1", "snmp", "snmp.table_missing", "x".repeat(900));
        t.apply(&mut r, &done("10.0.0.1", "snmp", ok(7), vec![d]));
        t.apply(&mut r, &begin("10.0.0.1", "ssh"));
        assert_eq!(
            statuses(&r),
            [
                ("10.0.0.1".into(), "snmp".into(), TargetStatus::Ok),
                ("10.0.0.1".into(), "ssh".into(), TargetStatus::Running),
                ("10.0.0.2".into(), "snmp".into(), TargetStatus::Pending),
                ("10.0.0.2".into(), "ssh".into(), TargetStatus::Pending),
            ]
        );
        let first = &r.targets[0];
        assert_eq!((first.records, first.relationships), (7, 2));
        assert_eq!(first.duration_ms, Some(12));
        assert_eq!(first.credential.as_deref(), Some("lab"));
        assert_eq!(first.diagnostics[0].level, DiagnosticLevel::Warning);
        assert_eq!(
            first.diagnostics[0].message.chars().count(),
            MAX_MESSAGE_CHARS + 1,
            "cut, with an ellipsis"
        );
        t.apply(
            &mut r,
            &done("10.0.0.1", "ssh", err("OUT_OF_SCOPE"), vec![]),
        );
        t.apply(&mut r, &begin("10.0.0.2", "snmp"));
        t.apply(&mut r, &done("10.0.0.2", "snmp", err("TIMEOUT"), vec![]));
        assert_eq!(r.targets[1].status, TargetStatus::Skipped);
        assert_eq!(r.targets[2].status, TargetStatus::Failed);
        assert_eq!(r.targets[2].error.as_ref().unwrap().code, "TIMEOUT");
        assert_eq!(
            (
                r.targets_done,
                r.targets_ok,
                r.targets_failed,
                r.targets_skipped
            ),
            (3, 1, 1, 1)
        );
        assert_eq!(r.targets_omitted, 0, "a small run keeps every outcome");
        // The run ends without the last pair (its process died).
        close_unfinished(&mut r, "INTERRUPTED", "gone");
        assert_eq!(r.targets[3].status, TargetStatus::Failed);
        assert_eq!(r.targets[3].error.as_ref().unwrap().code, "INTERRUPTED");
    }

    /// A /16 sweep: 65,536 targets, most silent. The record keeps what answered or failed
    /// interestingly, counts the rest, and stays small.
    #[test]
    fn a_sweep_keeps_what_answered_and_counts_the_rest() {
        let (mut r, mut t) = (run(), RunTargets::default());
        let names: Vec<String> = (0..65_536u32)
            .map(|i| format!("10.9.{}.{}", i >> 8, i & 255))
            .collect();
        t.apply(&mut r, &started(&names, &["snmp"]));
        assert!(r.targets.is_empty(), "no PENDING rows for a sweep");
        for (i, n) in names.iter().enumerate() {
            t.apply(&mut r, &begin(n, "snmp"));
            let (outcome, diags) = match i % 1000 {
                0 => (
                    ok(3),
                    vec![Diagnostic::new(n, "snmp", "snmp.walk_failed", "w")],
                ),
                1 => (err("AUTH_FAILED"), vec![]),
                2 => (err("OUT_OF_SCOPE"), vec![]),
                3 => (err("UNREACHABLE"), vec![]),
                _ => (err("TIMEOUT"), vec![]),
            };
            if i == 5 {
                // Several at once: one finishes while another runs.
                t.apply(&mut r, &begin("10.9.99.99", "other"));
            }
            t.apply(&mut r, &done(n, "snmp", outcome, diags));
        }
        assert_eq!(r.targets_done, 65_536);
        assert_eq!((r.targets_ok, r.targets_skipped), (66, 66));
        assert_eq!(r.targets_failed, 65_536 - 66 - 66);
        // OK and AUTH_FAILED rows are kept, the others counted; the other probe still runs.
        assert_eq!(r.targets.len(), 66 + 66 + 1);
        assert_eq!(r.targets_omitted, 65_536 - 132);
        assert_eq!(r.targets[0].status, TargetStatus::Ok);
        assert_eq!(r.targets[1].status, TargetStatus::Failed);
        assert_eq!(r.targets[2].status, TargetStatus::Running);
        let json = serde_json::to_vec(&r).unwrap();
        assert!(json.len() < 100_000, "{} bytes", json.len());
    }

    #[test]
    fn rows_and_diagnostics_are_bounded() {
        let (mut r, mut t) = (run(), RunTargets::default());
        let n = MAX_FINISHED_ROWS + 100;
        let names: Vec<String> = (0..n).map(|i| format!("h{i}")).collect();
        t.apply(&mut r, &started(&names, &["ssh"]));
        for name in &names {
            let diags = (0..30)
                .map(|_| Diagnostic::new(name, "ssh", "linux.parse_error", "bad line"))
                .collect();
            t.apply(&mut r, &done(name, "ssh", ok(1), diags));
        }
        assert_eq!(r.targets.len(), MAX_FINISHED_ROWS);
        assert_eq!(r.targets_omitted, 100);
        assert_eq!(r.targets_ok as usize, n);
        assert_eq!(r.targets[0].diagnostics.len(), MAX_DIAGNOSTICS_PER_TARGET);
        assert_eq!(r.targets[0].diagnostics_omitted, 10);
        let kept: usize = r.targets.iter().map(|x| x.diagnostics.len()).sum();
        assert_eq!(kept, MAX_DIAGNOSTICS_PER_RUN);
        assert_eq!(r.targets.last().unwrap().diagnostics_omitted, 30);
        let json = serde_json::to_vec(&r).unwrap();
        assert!(json.len() < 4_000_000, "{} bytes", json.len());
    }

    #[test]
    fn records_written_before_outcomes_existed_still_load() {
        let old = r#"{"id":"run_old","status":"SUCCEEDED","trigger":"cli","started_at":"2026-11-01T00:00:00Z","finished_at":"2026-11-01T00:01:00Z","targets_done":2,"targets_ok":1,"targets_failed":1,"cis_created":3,"cis_updated":0,"cis_unchanged":0,"cis_staled":0,"relationships_created":1,"relationships_closed":0,"errors":[{"target":"10.0.0.2","probe":"snmp","code":"TIMEOUT","message":"x"}],"message":null}"#;
        let r: DiscoveryRun = serde_json::from_str(old).unwrap();
        assert!(r.targets.is_empty());
        assert_eq!((r.targets_total, r.targets_omitted), (0, 0));
        assert_eq!(r.errors.len(), 1);
    }
}
