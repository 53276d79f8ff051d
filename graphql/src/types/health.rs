//! Figures: a service's availability and SLA (`ServiceHealth`), the CMDB's own health.

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::resolve::ids;

use super::enums::CiClassG;

/// Service-level figures of a service or CI over a window.
#[derive(SimpleObject)]
#[graphql(name = "ServiceHealth")]
pub struct HealthG {
    pub id: ID,
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Time not DOWN / window, in percent.
    pub availability_percent: f64,
    pub down_seconds: f64,
    pub degraded_seconds: f64,
    pub at_risk_seconds: f64,
    /// Stretches of DOWN overlapping the window.
    pub outages: u32,
    /// Mean outage length.
    pub mttr_seconds: Option<f64>,
    /// Mean up time between outages.
    pub mtbf_seconds: Option<f64>,
    pub incident_count: u32,
    /// The CI's `sla_target` as a percentage, when it has one.
    pub sla_target_percent: Option<f64>,
    pub sla_met: Option<bool>,
    /// DOWN time the target allows over the window.
    pub error_budget_seconds: Option<f64>,
    /// What is left of it (negative when breached).
    pub error_budget_left_seconds: Option<f64>,
    /// Set when the CI's `sla_target` does not parse.
    pub sla_problem: Option<String>,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl From<cmdb_live::SubjectHealth> for HealthG {
    fn from(h: cmdb_live::SubjectHealth) -> Self {
        let f = &h.figures;
        HealthG {
            id: ID(h.id.to_string()),
            name: h.name.clone(),
            from: f.from,
            to: f.to,
            availability_percent: f.availability_percent,
            down_seconds: secs(f.down_ms),
            degraded_seconds: secs(f.degraded_ms),
            at_risk_seconds: secs(f.at_risk_ms),
            outages: f.outages,
            mttr_seconds: f.mttr_ms.map(secs),
            mtbf_seconds: f.mtbf_ms.map(secs),
            incident_count: h.incidents as u32,
            sla_target_percent: f.sla.as_ref().map(|s| s.target_percent),
            sla_met: f.sla.as_ref().map(|s| s.met),
            error_budget_seconds: f.sla.as_ref().map(|s| secs(s.error_budget_ms)),
            error_budget_left_seconds: f
                .sla
                .as_ref()
                .map(|s| s.error_budget_left_ms as f64 / 1000.0),
            sla_problem: h.sla_problem,
        }
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MissingAttribute")]
pub struct MissingAttributeG {
    /// `a|b`: one of them was expected.
    pub attribute: String,
    pub count: u64,
}

#[derive(SimpleObject)]
#[graphql(name = "ClassCompleteness")]
pub struct ClassCompletenessG {
    pub class: CiClassG,
    /// Current CIs (not retired, not placeholders).
    pub total: u64,
    pub complete: u64,
    pub missing: Vec<MissingAttributeG>,
    /// Some incomplete CIs.
    pub examples: Vec<ID>,
}

#[derive(SimpleObject)]
#[graphql(name = "StalenessBySource")]
pub struct StalenessG {
    pub class: CiClassG,
    pub source: String,
    pub active: u64,
    pub stale: u64,
    pub retired: u64,
}

#[derive(SimpleObject)]
#[graphql(name = "DuplicateCandidate")]
pub struct DuplicateG {
    pub class: CiClassG,
    pub name: String,
    pub ids: Vec<ID>,
}

/// Can the answers built on the CMDB be trusted?
#[derive(SimpleObject)]
#[graphql(name = "CmdbHealth")]
pub struct CmdbHealthG {
    pub cis: u64,
    pub completeness_percent: f64,
    pub completeness: Vec<ClassCompletenessG>,
    pub staleness: Vec<StalenessG>,
    pub duplicates: Vec<DuplicateG>,
    pub open_alerts: u64,
    pub unbound_alerts: u64,
    pub unbound_alerts_percent: f64,
}

impl From<cmdb_live::CmdbHealth> for CmdbHealthG {
    fn from(h: cmdb_live::CmdbHealth) -> Self {
        CmdbHealthG {
            cis: h.cis as u64,
            completeness_percent: h.completeness_percent,
            completeness: h
                .completeness
                .into_iter()
                .map(|c| ClassCompletenessG {
                    class: c.class.into(),
                    total: c.total as u64,
                    complete: c.complete as u64,
                    missing: c
                        .missing
                        .into_iter()
                        .map(|(attribute, n)| MissingAttributeG {
                            attribute,
                            count: n as u64,
                        })
                        .collect(),
                    examples: ids(&c.examples),
                })
                .collect(),
            staleness: h
                .staleness
                .into_iter()
                .map(|s| StalenessG {
                    class: s.class.into(),
                    source: s.source,
                    active: s.active as u64,
                    stale: s.stale as u64,
                    retired: s.retired as u64,
                })
                .collect(),
            duplicates: h
                .duplicates
                .into_iter()
                .map(|d| DuplicateG {
                    class: d.class.into(),
                    name: d.name,
                    ids: ids(&d.ids),
                })
                .collect(),
            open_alerts: h.open_alerts as u64,
            unbound_alerts: h.unbound_alerts as u64,
            unbound_alerts_percent: h.unbound_alerts_percent,
        }
    }
}
