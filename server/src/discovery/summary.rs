//! What a run did, as `cmdb discover` prints it (and as `--json` writes it).

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
