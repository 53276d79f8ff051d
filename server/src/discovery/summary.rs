//! What a run did, as `cmdb discover` prints it (and as `--json` writes it).

use cmdb_discovery::run::TargetOutcome;
use cmdb_store::IngestReport;
use serde::Serialize;

/// One target's result as the summary reports it (never contains a secret).
#[derive(Debug, Clone, Serialize)]
pub struct TargetLine {
    pub target: String,
    pub probe: String,
    pub ok: bool,
    /// Nothing was sent (no credential of the probe may go there): neither ok nor failed.
    pub skipped: bool,
    pub detail: String,
    /// Why it failed or was skipped: (code, message), as `detail` shows them.
    #[serde(skip)]
    pub error: Option<(String, String)>,
}

impl TargetLine {
    /// The line of a finished (target, probe) pair.
    pub fn new(target: String, probe: String, outcome: TargetOutcome) -> TargetLine {
        let skipped = outcome.skipped();
        let (detail, error) = match outcome {
            TargetOutcome::Ok {
                records,
                relationships,
                complete,
                diagnostics,
                credential,
            } => (
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
                None,
            ),
            TargetOutcome::Error { code, message } => {
                (format!("{code}: {message}"), Some((code, message)))
            }
        };
        TargetLine {
            target,
            probe,
            ok: error.is_none(),
            skipped,
            detail,
            error,
        }
    }

    /// Failed: neither ok nor skipped.
    pub fn failed(&self) -> bool {
        !self.ok && !self.skipped
    }
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
    /// The run was stopped before it finished (the server shut down): what it stored is kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

impl RunSummary {
    /// Count what storing one observation did.
    pub fn add_stored(&mut self, r: &IngestReport) {
        self.created += r.created;
        self.updated += r.updated;
        self.unchanged += r.unchanged;
        self.merged += r.merged;
        self.staled += r.staled;
        self.relationships_created += r.relationships_created;
        self.relationships_updated += r.relationships_updated;
        self.relationships_closed += r.relationships_closed;
    }

    /// Add a finished pair's line (and count it as ok, failed or skipped).
    pub fn add_target(&mut self, line: TargetLine) {
        if line.ok {
            self.targets_ok += 1;
        } else if line.skipped {
            self.targets_skipped += 1;
        } else {
            self.targets_failed += 1;
        }
        self.targets.push(line);
    }

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
            "run {}: targets ok {}, failed {}, skipped {}; CIs created {}, updated {}, unchanged {}, merged {}, staled {}; relationships created {}, updated {}, closed {}; {} diagnostic(s); {:.1}s{}\n",
            self.run_id, self.targets_ok, self.targets_failed, self.targets_skipped, self.created, self.updated, self.unchanged, self.merged, self.staled,
            self.relationships_created, self.relationships_updated, self.relationships_closed, self.diagnostics, self.duration_ms as f64 / 1000.0,
            if self.interrupted { " (interrupted)" } else { "" }
        ));
        s
    }
}
