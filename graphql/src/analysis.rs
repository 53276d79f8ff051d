//! What-if questions beyond `impact`: change risk, single points of failure, dependency paths.
//! Each resolver validates its input, asks `cmdb_store::analysis` (which runs the pure engine
//! of `cmdb_model::impact`) and wraps the answer.

use std::sync::Arc;

use async_graphql::{
    Context, InputValueError, InputValueResult, Object, Scalar, ScalarType, SimpleObject, Value, ID,
};
use chrono::{DateTime, Duration, Utc};
use cmdb_model::impact::{GraphEdge, ImpactOptions};
use cmdb_model::CiId;
use cmdb_store::analysis::{self as an, ChainDirection, ChangeWindow, RiskOptions, WeakReason};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::loaders::CiLoaderExt;
use crate::query::{check_depth, require_ci, require_service, resolve_ids};
use crate::types::*;
use crate::ApiState;

/// The longest change window accepted (a year): longer ones are almost always a typo.
const MAX_WINDOW_DAYS: i64 = 366;

/// When a change happens. Accepts an ISO 8601 interval string (`"2026-12-01T02:00:00Z/2026-12-01T04:00:00Z"`
/// or `"2026-12-01T02:00:00Z/PT2H"`), a bare duration starting now (`"PT2H"`), or an object
/// `{start: "...", end: "..."}` / `{start: "...", duration: "PT2H"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeWindowScalar(pub ChangeWindow);

fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time: {e}"))
}

/// ISO 8601 durations of days, hours, minutes and seconds (`P1DT2H30M`, `PT45M`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("`{s}` is not an ISO 8601 duration such as PT2H or P1DT30M");
    let t = s.trim().to_ascii_uppercase();
    let rest = t.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = Duration::zero();
    let mut any = false;
    for (part, units) in [
        (date, &[('W', 7 * 86_400i64), ('D', 86_400)][..]),
        (time, &[('H', 3600i64), ('M', 60), ('S', 1)][..]),
    ] {
        let mut num = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                num.push(ch);
                continue;
            }
            let secs = units
                .iter()
                .find(|(u, _)| *u == ch)
                .map(|(_, s)| *s)
                .ok_or_else(bad)?;
            let n: i64 = num.parse().map_err(|_| bad())?;
            total += Duration::seconds(n.checked_mul(secs).ok_or_else(bad)?);
            num.clear();
            any = true;
        }
        if !num.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(total)
}

fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<ChangeWindow, String> {
    if end <= start {
        return Err(format!(
            "the window ends ({end}) before it starts ({start})"
        ));
    }
    if end - start > Duration::days(MAX_WINDOW_DAYS) {
        return Err(format!(
            "a change window longer than {MAX_WINDOW_DAYS} days"
        ));
    }
    Ok(ChangeWindow { start, end })
}

impl ChangeWindowScalar {
    fn parse_str(s: &str) -> Result<ChangeWindow, String> {
        let s = s.trim();
        if s.len() > 200 {
            return Err("a change window longer than 200 characters".into());
        }
        match s.split_once('/') {
            Some((a, b)) => {
                let start = parse_instant(a)?;
                let end = if b.trim_start().starts_with(['P', 'p']) {
                    start + parse_duration(b)?
                } else {
                    parse_instant(b)?
                };
                window(start, end)
            }
            None if s.starts_with(['P', 'p']) => {
                let start = Utc::now();
                window(start, start + parse_duration(s)?)
            }
            None => Err(format!(
                "`{s}` is not a change window: give `start/end`, `start/duration` or a duration"
            )),
        }
    }
}

#[Scalar(name = "ChangeWindow")]
impl ScalarType for ChangeWindowScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        let w = match &value {
            Value::String(s) => Self::parse_str(s),
            Value::Object(o) => {
                let get = |k: &str| {
                    o.get(k).and_then(|v| {
                        if let Value::String(s) = v {
                            Some(s.as_str())
                        } else {
                            None
                        }
                    })
                };
                match (get("start"), get("end"), get("duration")) {
                    (Some(s), Some(e), None) => parse_instant(s).and_then(|s| parse_instant(e).and_then(|e| window(s, e))),
                    (Some(s), None, Some(d)) => parse_instant(s).and_then(|s| parse_duration(d).and_then(|d| window(s, s + d))),
                    _ => Err("a change window object needs `start` and one of `end` or `duration` (strings)".into()),
                }
            }
            _ => Err("a change window is a string or an object".into()),
        };
        w.map(ChangeWindowScalar).map_err(InputValueError::custom)
    }
    fn to_value(&self) -> Value {
        Value::String(format!(
            "{}/{}",
            self.0.start.to_rfc3339(),
            self.0.end.to_rfc3339()
        ))
    }
}

/// One relationship of a chain: `from -[type]-> to` as stored.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ChainHop")]
pub struct ChainHop {
    pub from: ID,
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    pub to: ID,
}

impl From<&GraphEdge> for ChainHop {
    fn from(e: &GraphEdge) -> Self {
        ChainHop {
            from: ID(e.from.0.clone()),
            rel_type: e.rel_type.into(),
            to: ID(e.to.0.clone()),
        }
    }
}

/// Which way the dependency runs between the two CIs of `path`.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PathDirection {
    /// `to` depends on `from`: a failure of `from` reaches `to`.
    FromAffectsTo,
    /// `from` depends on `to`: a failure of `to` reaches `from`.
    ToAffectsFrom,
}

/// One dependency chain from `from` to `to`.
#[derive(Clone, Debug)]
pub struct DependencyChain {
    ids: Vec<CiId>,
    hops: Vec<GraphEdge>,
}

#[Object]
impl DependencyChain {
    /// CI ids from `from` to `to`.
    async fn ids(&self) -> Vec<ID> {
        self.ids.iter().map(|i| ID(i.0.clone())).collect()
    }
    async fn cis(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        ctx.load_cis(&self.ids).await
    }
    /// The relationship behind each step, in order.
    async fn relationships(&self) -> Vec<ChainHop> {
        self.hops.iter().map(Into::into).collect()
    }
    async fn length(&self) -> usize {
        self.hops.len()
    }
}

/// The answer to `path(from, to)`.
#[derive(Clone, Debug)]
pub struct PathResult {
    from: CiId,
    to: CiId,
    found: an::DependencyPaths,
}

#[Object]
impl PathResult {
    async fn from_id(&self) -> ID {
        ID(self.from.0.clone())
    }
    async fn to_id(&self) -> ID {
        ID(self.to.0.clone())
    }
    /// Whether any dependency chain links the two within the depth asked.
    async fn connected(&self) -> bool {
        !self.found.chains.is_empty()
    }
    async fn direction(&self) -> Option<PathDirection> {
        self.found.direction.map(|d| match d {
            ChainDirection::FromAffectsTo => PathDirection::FromAffectsTo,
            ChainDirection::ToAffectsFrom => PathDirection::ToAffectsFrom,
        })
    }
    /// The shortest chains, in lexicographic order of CI ids.
    async fn chains(&self) -> Vec<DependencyChain> {
        self.found
            .chains
            .iter()
            .zip(&self.found.hops)
            .map(|(c, h)| DependencyChain {
                ids: c.clone(),
                hops: h.clone(),
            })
            .collect()
    }
    /// More shortest chains exist than were returned.
    async fn truncated(&self) -> bool {
        self.found.truncated
    }
}

/// A CI whose failure alone takes the service down.
#[derive(Clone, Debug)]
pub struct SinglePointOfFailureG(cmdb_model::impact::SinglePointOfFailure);

#[Object(name = "SinglePointOfFailure")]
impl SinglePointOfFailureG {
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.0.id).await
    }
    async fn class(&self) -> Option<CiClassG> {
        self.0.class.map(Into::into)
    }
    /// Hops between it and the service.
    async fn depth(&self) -> u32 {
        self.0.depth
    }
    /// One chain `this CI, …, service` along which its failure takes the service down.
    async fn path(&self) -> Vec<ID> {
        self.0.path.iter().map(|i| ID(i.0.clone())).collect()
    }
}

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
    risk: Arc<an::ChangeRisk>,
    max_depth: u32,
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
        self.risk.changed.iter().map(|i| ID(i.0.clone())).collect()
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

#[derive(Default)]
pub struct AnalysisQuery;

#[Object]
impl AnalysisQuery {
    /// Services touched by changing the CIs `ids` (assumed to fail during the change), ranked
    /// by criticality × severity × breadth (see `scoreFormula`), with the stale or low-confidence relationships
    /// each answer rests on. `window` is when the change happens (staleness is judged at its
    /// start; default: now).
    async fn change_risk(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        window: Option<ChangeWindowScalar>,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
    ) -> async_graphql::Result<ChangeRiskG> {
        let s = ctx.data::<ApiState>()?;
        let max_depth = check_depth(s, max_depth)?;
        let changed = resolve_ids(s, &ids, "changeRisk").await?;
        let opts = RiskOptions {
            impact: ImpactOptions {
                max_depth,
                max_paths_per_service: s.limits.max_paths_per_service,
            },
            ..Default::default()
        };
        let risk = an::change_risk(s.store.as_ref(), &changed, window.map(|w| w.0), &opts)
            .await
            .api()?;
        Ok(ChangeRiskG {
            risk: Arc::new(risk),
            max_depth,
        })
    }

    /// CIs whose failure alone makes the service DOWN, redundancy respected (a member of a
    /// 1-of-3 pool is not one; the host all three members run on is). Nearest first.
    async fn single_points_of_failure(
        &self,
        ctx: &Context<'_>,
        service_id: ID,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
    ) -> async_graphql::Result<Vec<SinglePointOfFailureG>> {
        let s = ctx.data::<ApiState>()?;
        let max_depth = check_depth(s, max_depth)?;
        let svc = require_service(s, service_id.as_str()).await?;
        let found = an::single_points_of_failure(s.store.as_ref(), &svc.id, max_depth)
            .await
            .api()?;
        Ok(found.into_iter().map(SinglePointOfFailureG).collect())
    }

    /// The shortest dependency chains between two CIs, whichever way the dependency runs.
    async fn path(
        &self,
        ctx: &Context<'_>,
        from: ID,
        to: ID,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
        #[graphql(desc = "At most this many chains (default 10, maximum 100).")] first: Option<i32>,
    ) -> async_graphql::Result<PathResult> {
        let s = ctx.data::<ApiState>()?;
        let max_depth = check_depth(s, max_depth)?;
        let cap = match first {
            None => 10,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(gql(ApiError::InvalidInput(format!(
                    "first must be 1–100 (got {n})"
                ))))
            }
        };
        let (a, b) = (
            require_ci(s, from.as_str()).await?,
            require_ci(s, to.as_str()).await?,
        );
        let found = an::dependency_paths(s.store.as_ref(), &a.id, &b.id, max_depth, cap)
            .await
            .api()?;
        Ok(PathResult {
            from: a.id,
            to: b.id,
            found,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_windows_parse_in_every_documented_form() {
        let w = ChangeWindowScalar::parse_str("2026-12-01T02:00:00Z/2026-12-01T04:00:00Z").unwrap();
        assert_eq!(w.end - w.start, Duration::hours(2));
        let w = ChangeWindowScalar::parse_str("2026-12-01T02:00:00+01:00/P1DT30M").unwrap();
        assert_eq!(w.end - w.start, Duration::minutes(24 * 60 + 30));
        assert_eq!(parse_duration("PT45M").unwrap(), Duration::minutes(45));
        assert!(ChangeWindowScalar::parse_str("PT2H").is_ok());
        for bad in [
            "",
            "tomorrow",
            "2026-12-01T04:00:00Z/2026-12-01T02:00:00Z",
            "2026-12-01T02:00:00Z/P",
            "P9999999999999999999D",
            "2026-12-01T02:00:00Z/P400D",
            "PT2X",
        ] {
            assert!(
                ChangeWindowScalar::parse_str(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
