//! `changeRisk`: services a change touches, their scores and the weak edges answers rest on.

use std::sync::Arc;

use async_graphql::{Object, ID};
use chrono::{DateTime, Utc};
use cmdb_model::impact::GraphEdge;
use cmdb_store::analysis::{self as an, WeakReason};

use crate::resolve::ids;

use super::enums::{RelTypeG, SeverityG};
use super::impact::{ImpactReportObj, ImpactedService};

#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum WeakEdgeReason {
    /// Not seen for longer than the staleness threshold before the window starts, or an end
    /// of it is a STALE CI.
    Stale,
    /// Its best evidence is below the confidence threshold.
    LowConfidence,
    /// It rests on host-level evidence only: a connection seen on a host without the process
    /// holding it, so which process depends on it is a guess (SNMP agents that do not name
    /// connection owners, SSH without root).
    HostLevel,
}

/// A relationship an answer rests on that is not well supported.
#[derive(Clone, Debug)]
pub struct WeakEdgeG(an::WeakEdge);

#[Object(name = "WeakEdge")]
impl WeakEdgeG {
    async fn from(&self) -> ID {
        ID(self.0.edge.from.0.clone())
    }
    #[graphql(name = "type")]
    async fn rel_type(&self) -> RelTypeG {
        self.0.edge.rel_type.into()
    }
    async fn to(&self) -> ID {
        ID(self.0.edge.to.0.clone())
    }
    async fn reasons(&self) -> Vec<WeakEdgeReason> {
        self.0
            .reasons
            .iter()
            .map(|r| match r {
                WeakReason::Stale => WeakEdgeReason::Stale,
                WeakReason::LowConfidence => WeakEdgeReason::LowConfidence,
                WeakReason::HostLevel => WeakEdgeReason::HostLevel,
            })
            .collect()
    }
    async fn confidence(&self) -> f64 {
        self.0.confidence
    }
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.last_seen
    }
}

/// One service a change touches, with its score.
#[derive(Clone, Debug)]
pub struct ServiceRiskG(an::ServiceRisk);

#[Object(name = "ServiceRisk")]
impl ServiceRiskG {
    /// Severity, paths, criticality, owner, SLA target of the service under the change.
    async fn impact(&self) -> ImpactedService {
        ImpactedService(self.0.impact.clone())
    }
    async fn service_id(&self) -> ID {
        ID(self.0.impact.service.0.clone())
    }
    async fn severity(&self) -> SeverityG {
        self.0.impact.severity.into()
    }
    /// The service's criticality (1–5), 3 when it declares none (see `criticalityDeclared`).
    async fn criticality(&self) -> u32 {
        self.0.criticality
    }
    async fn criticality_declared(&self) -> bool {
        self.0.criticality_declared
    }
    /// CIs between the change and the service on its shortest failure chains (≥ 1).
    async fn breadth(&self) -> u32 {
        self.0.impact.breadth.max(1)
    }
    /// (6 − criticality) × severity weight (DOWN 3, AT_RISK 2, DEGRADED 1) × breadth.
    async fn score(&self) -> u64 {
        self.0.score
    }
    /// Relationships this answer rests on that are stale or low-confidence.
    async fn weak_edges(&self) -> Vec<WeakEdgeG> {
        self.0.weak_edges.iter().cloned().map(WeakEdgeG).collect()
    }
    async fn rests_on_stale(&self) -> bool {
        self.0
            .weak_edges
            .iter()
            .any(|w| w.reasons.contains(&WeakReason::Stale))
    }
    async fn rests_on_low_confidence(&self) -> bool {
        self.0
            .weak_edges
            .iter()
            .any(|w| w.reasons.contains(&WeakReason::LowConfidence))
    }
}

/// The answer to `changeRisk`.
#[derive(Clone, Debug)]
pub struct ChangeRiskG {
    pub risk: Arc<an::ChangeRisk>,
    pub max_depth: u32,
}

#[Object(name = "ChangeRisk")]
impl ChangeRiskG {
    async fn window_start(&self) -> Option<DateTime<Utc>> {
        self.risk.window.map(|w| w.start)
    }
    async fn window_end(&self) -> Option<DateTime<Utc>> {
        self.risk.window.map(|w| w.end)
    }
    async fn changed_ids(&self) -> Vec<ID> {
        ids(&self.risk.changed)
    }
    /// Touched services, highest score first.
    async fn services(&self) -> Vec<ServiceRiskG> {
        self.risk
            .services
            .iter()
            .cloned()
            .map(ServiceRiskG)
            .collect()
    }
    /// Sum of the services' scores.
    async fn total_score(&self) -> u64 {
        self.risk.total_score
    }
    /// Some answer rests on a stale relationship or a STALE CI: re-run discovery first.
    async fn rests_on_stale(&self) -> bool {
        self.risk.rests_on_stale
    }
    /// Some answer rests on a low-confidence relationship.
    async fn rests_on_low_confidence(&self) -> bool {
        self.risk.rests_on_low_confidence
    }
    /// Some answer rests on a dependency guessed from host-level connections (no process
    /// known to hold them): discover those hosts over SSH as root, or with an SNMP agent that
    /// names connection owners, to replace the guess with a fact.
    async fn rests_on_host_level_evidence(&self) -> bool {
        self.risk.rests_on_host_level
    }
    /// Human-readable caveats (empty when the answer rests only on well-supported edges).
    async fn caveats(&self) -> Vec<String> {
        let mut out = Vec::new();
        let count = |r: WeakReason| {
            let mut e: Vec<&GraphEdge> = self
                .risk
                .services
                .iter()
                .flat_map(|s| s.weak_edges.iter())
                .filter(|w| w.reasons.contains(&r))
                .map(|w| &w.edge)
                .collect();
            e.sort();
            e.dedup();
            e.len()
        };
        let stale = count(WeakReason::Stale);
        if stale > 0 {
            out.push(format!("{stale} relationship(s) on the failure chains are stale (not seen recently or touching a STALE CI); the real impact may differ"));
        }
        let low = count(WeakReason::LowConfidence);
        if low > 0 {
            out.push(format!(
                "{low} relationship(s) on the failure chains have low confidence"
            ));
        }
        let host = count(WeakReason::HostLevel);
        if host > 0 {
            out.push(format!("{host} relationship(s) on the failure chains rest on host-level evidence: the host was seen holding the connection, not which process does"));
        }
        out
    }
    /// How the score is computed.
    async fn score_formula(&self) -> &'static str {
        "(6 - criticality) where criticality runs 1 (most critical) to 5, default 3 x severity weight (DOWN 3, AT_RISK 2, DEGRADED 1) x breadth (CIs between the change and the service on its shortest failure chains, at least 1)"
    }
    /// The full impact report behind the ranking (the changed CIs assumed to fail).
    async fn impact(&self) -> ImpactReportObj {
        ImpactReportObj {
            report: Arc::new(self.risk.report.clone()),
            max_depth: self.max_depth,
        }
    }
}
