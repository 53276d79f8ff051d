//! The questions asked of the graph beyond lookups: impact of failures (what-if), change risk,
//! single points of failure and dependency paths. Backend-neutral: each loads what the pure
//! engine in `cmdb_model::impact` needs through the [`GraphStore`] contract and hands it over,
//! so every backend gives the same answers. GraphQL and the benchmarks call these.

use std::collections::{BTreeSet, HashMap, HashSet};

use cmdb_model::impact::{
    self, FailureChains, GraphEdge, GroupCompletion, GroupRule, ImpactGraph, ImpactOptions, ImpactReport,
    ServiceImpact, SinglePointOfFailure,
};
use cmdb_model::{Ci, CiId, CiStatus, RelType, Relationship, Timestamp};
use serde::{Deserialize, Serialize};

use crate::{Direction, GraphStore, RelQuery, StoreError, TraverseDirection, TraverseQuery};

/// A CI attribute read as a non-negative integer (a JSON number or a numeric string).
fn attr_u32(ci: &Ci, key: &str) -> Option<u32> {
    let v = ci.attr(key)?;
    let n = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
    u32::try_from(n).ok()
}

/// Criticality 1–5 of a service CI, if it declares one (anything else = none).
pub fn criticality_of(ci: &Ci) -> Option<u32> {
    attr_u32(ci, "criticality").filter(|n| (1..=5).contains(n))
}

/// Complete bare impact edges into an [`ImpactGraph`]: every edge of each group among them,
/// the classes of all CIs and the groups' rules. Used by the default
/// [`GraphStore::impact_graph`] and by the service dependency graph below.
pub async fn complete_graph<S: GraphStore + ?Sized>(
    store: &S,
    extra: &[CiId],
    mut edges: Vec<GraphEdge>,
) -> Result<ImpactGraph, StoreError> {
    let mut completion = GroupCompletion::<CiId>::default();
    let mut fresh = 0;
    loop {
        let new = completion.next_round(edges[fresh..].iter().map(|e| (&e.from, e.rel_type, &e.to)));
        if new.is_empty() {
            break;
        }
        fresh = edges.len();
        let q = RelQuery {
            direction: Direction::Both,
            types: vec![],
            include_closed: false,
        };
        for r in store.relationships(&new, &q).await? {
            if r.status == cmdb_model::RelStatus::Active {
                edges.push((&r).into());
            }
        }
    }
    edges.sort();
    edges.dedup();
    let mut ids: Vec<CiId> = edges
        .iter()
        .flat_map(|e| [e.from.clone(), e.to.clone()])
        .chain(extra.iter().cloned())
        .collect();
    ids.sort();
    ids.dedup();
    let mut classes = HashMap::with_capacity(ids.len());
    let mut rules = HashMap::new();
    for chunk in ids.chunks(1000) {
        for ci in store.get_many(chunk).await? {
            if completion.is_group(&ci.id) {
                if let Some(r) = GroupRule::of(&ci) {
                    rules.insert(ci.id.clone(), r);
                }
            }
            classes.insert(ci.id, ci.class);
        }
    }
    Ok(ImpactGraph {
        edges,
        classes,
        rules,
    })
}

/// Which CIs and business services fail, degrade or lose redundancy if `failing` fail
/// together, and why. `failing` must be current ids (resolve aliases first).
pub async fn impact(
    store: &(impl GraphStore + ?Sized),
    failing: &[CiId],
    opts: &ImpactOptions,
) -> Result<ImpactReport, StoreError> {
    let report = store.impact(failing, opts).await?;
    tracing::debug!(
        failing = failing.len(),
        affected = report.affected.len(),
        services = report.services.len(),
        "impact evaluated"
    );
    Ok(report)
}

/// The dependency graph of one service, for single points of failure and maps: every CI whose
/// failure can reach the service within `max_depth` hops, the edges among them, and complete
/// groups.
pub async fn service_graph(
    store: &(impl GraphStore + ?Sized),
    service: &CiId,
    max_depth: u32,
) -> Result<ImpactGraph, StoreError> {
    let q = TraverseQuery {
        direction: TraverseDirection::Upstream,
        max_depth,
        types: vec![],
    };
    let mut nodes: Vec<CiId> = store
        .traverse(std::slice::from_ref(service), &q)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    nodes.push(service.clone());
    nodes.sort();
    nodes.dedup();
    let set: HashSet<&CiId> = nodes.iter().collect();
    let rq = RelQuery {
        direction: Direction::Out,
        types: vec![],
        include_closed: false,
    };
    let mut edges = Vec::new();
    for chunk in nodes.chunks(1000) {
        for r in store.relationships(chunk, &rq).await? {
            if r.status == cmdb_model::RelStatus::Active && set.contains(&r.to) {
                edges.push(GraphEdge::from(&r));
            }
        }
    }
    complete_graph(store, std::slice::from_ref(service), edges).await
}

/// CIs whose failure alone takes `service` DOWN (redundancy respected), nearest first.
pub async fn single_points_of_failure(
    store: &(impl GraphStore + ?Sized),
    service: &CiId,
    max_depth: u32,
) -> Result<Vec<SinglePointOfFailure>, StoreError> {
    let g = service_graph(store, service, max_depth).await?;
    Ok(impact::single_points_of_failure(&g, service))
}

/// Which way a dependency chain runs between the two CIs asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainDirection {
    /// `to` depends on `from`: a failure of `from` reaches `to`.
    FromAffectsTo,
    /// `from` depends on `to`: a failure of `to` reaches `from`.
    ToAffectsFrom,
}

/// The shortest dependency chains between two CIs, oriented `from … to` whichever way the
/// dependency runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyPaths {
    pub direction: Option<ChainDirection>,
    /// Each chain as CI ids from `from` to `to`.
    pub chains: Vec<Vec<CiId>>,
    /// The relationship behind each hop of each chain.
    pub hops: Vec<Vec<GraphEdge>>,
    pub truncated: bool,
}

pub async fn dependency_paths(
    store: &(impl GraphStore + ?Sized),
    from: &CiId,
    to: &CiId,
    max_depth: u32,
    cap: usize,
) -> Result<DependencyPaths, StoreError> {
    let g = store
        .impact_graph(std::slice::from_ref(from), max_depth)
        .await?;
    let fwd = impact::failure_chains(&g, from, to, max_depth, cap);
    if !fwd.chains.is_empty() {
        return Ok(DependencyPaths {
            direction: Some(ChainDirection::FromAffectsTo),
            chains: fwd.chains,
            hops: fwd.hops,
            truncated: fwd.truncated,
        });
    }
    let g = store
        .impact_graph(std::slice::from_ref(to), max_depth)
        .await?;
    let FailureChains {
        chains,
        hops,
        truncated,
    } = impact::failure_chains(&g, to, from, max_depth, cap);
    if chains.is_empty() {
        return Ok(DependencyPaths {
            direction: None,
            chains,
            hops,
            truncated,
        });
    }
    // Re-orient each chain to read from `from` to `to`.
    let chains = chains.into_iter().map(|mut c| {
        c.reverse();
        c
    });
    let hops = hops.into_iter().map(|mut h| {
        h.reverse();
        h
    });
    Ok(DependencyPaths {
        direction: Some(ChainDirection::ToAffectsFrom),
        chains: chains.collect(),
        hops: hops.collect(),
        truncated,
    })
}

/// When a change happens; the start is the moment edges are judged stale against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeWindow {
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone)]
pub struct RiskOptions {
    pub impact: ImpactOptions,
    /// A relationship whose best evidence is below this is low-confidence.
    pub low_confidence_below: f64,
    /// A relationship last seen longer than this before the window starts is stale.
    pub stale_after: chrono::Duration,
}

impl Default for RiskOptions {
    fn default() -> Self {
        RiskOptions {
            impact: ImpactOptions::default(),
            low_confidence_below: 0.5,
            stale_after: chrono::Duration::days(7),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WeakReason {
    /// Not seen for longer than `stale_after` before the window, or an end is a STALE CI.
    Stale,
    /// Best evidence below `low_confidence_below`.
    LowConfidence,
    /// All its evidence is host-level: connections seen on a host without the process that
    /// holds them ([`Relationship::rests_on_host_level`](cmdb_model::Relationship::rests_on_host_level)).
    HostLevel,
}

/// The stored relationships behind engine edges (active ones), by `(from, type, to)`.
pub async fn relationships_behind<'a>(
    store: &(impl GraphStore + ?Sized),
    edges: impl IntoIterator<Item = &'a GraphEdge>,
) -> Result<HashMap<(CiId, RelType, CiId), Relationship>, StoreError> {
    let mut froms: Vec<CiId> = edges.into_iter().map(|e| e.from.clone()).collect();
    froms.sort();
    froms.dedup();
    let rq = RelQuery {
        direction: Direction::Out,
        types: vec![],
        include_closed: false,
    };
    let mut out = HashMap::new();
    for chunk in froms.chunks(1000) {
        for r in store.relationships(chunk, &rq).await? {
            out.insert((r.from.clone(), r.rel_type, r.to.clone()), r);
        }
    }
    Ok(out)
}

/// Which of `edges` rest on host-level evidence only (see [`WeakReason::HostLevel`]).
pub async fn host_level_edges(
    store: &(impl GraphStore + ?Sized),
    edges: &[GraphEdge],
) -> Result<Vec<GraphEdge>, StoreError> {
    let rels = relationships_behind(store, edges).await?;
    Ok(edges
        .iter()
        .filter(|e| {
            rels.get(&(e.from.clone(), e.rel_type, e.to.clone()))
                .is_some_and(Relationship::rests_on_host_level)
        })
        .cloned()
        .collect())
}

/// A relationship an answer rests on that is not well supported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeakEdge {
    pub edge: GraphEdge,
    pub reasons: Vec<WeakReason>,
    pub confidence: f64,
    pub last_seen: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRisk {
    pub impact: ServiceImpact,
    /// The service's criticality, or [`impact::DEFAULT_CRITICALITY`] when it declares none.
    pub criticality: u32,
    pub criticality_declared: bool,
    /// [`impact::risk_score`].
    pub score: u64,
    /// Weak relationships on this service's failure chains.
    pub weak_edges: Vec<WeakEdge>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRisk {
    pub window: Option<ChangeWindow>,
    pub changed: Vec<CiId>,
    /// Highest score first; ties by severity, depth, id.
    pub services: Vec<ServiceRisk>,
    /// Sum of the services' scores.
    pub total_score: u64,
    pub rests_on_stale: bool,
    pub rests_on_low_confidence: bool,
    /// Some answer rests on a dependency guessed from host-level connections.
    pub rests_on_host_level: bool,
    /// The underlying impact report (the changed CIs assumed to fail during the window).
    pub report: ImpactReport,
}

/// Services touched by changing `changed` (assumed to fail during the change), ranked by
/// [`impact::risk_score`], with the weak relationships each answer rests on.
pub async fn change_risk(
    store: &(impl GraphStore + ?Sized),
    changed: &[CiId],
    window: Option<ChangeWindow>,
    opts: &RiskOptions,
) -> Result<ChangeRisk, StoreError> {
    let report = impact(store, changed, &opts.impact).await?;
    let as_of = window.map(|w| w.start).unwrap_or_else(cmdb_model::now);
    // Everything the services' chains rest on: relationships and the CIs at their ends.
    let path_edges: BTreeSet<&GraphEdge> = report
        .services
        .iter()
        .flat_map(|s| s.path_edges.iter())
        .collect();
    let rel_by_key = relationships_behind(store, path_edges.iter().copied()).await?;
    let mut ends: Vec<CiId> = path_edges
        .iter()
        .flat_map(|e| [e.from.clone(), e.to.clone()])
        .collect();
    ends.extend(report.services.iter().map(|s| s.service.clone()));
    ends.sort();
    ends.dedup();
    let mut cis: HashMap<CiId, Ci> = HashMap::new();
    for chunk in ends.chunks(1000) {
        for c in store.get_many(chunk).await? {
            cis.insert(c.id.clone(), c);
        }
    }
    let stale_ci = |id: &CiId| cis.get(id).is_some_and(|c| c.status == CiStatus::Stale);
    let weak_of = |e: &GraphEdge| -> Option<WeakEdge> {
        let r = rel_by_key.get(&(e.from.clone(), e.rel_type, e.to.clone()))?;
        let mut reasons = Vec::new();
        if as_of - r.last_seen > opts.stale_after || stale_ci(&e.from) || stale_ci(&e.to) {
            reasons.push(WeakReason::Stale);
        }
        let confidence = r.confidence();
        if confidence < opts.low_confidence_below {
            reasons.push(WeakReason::LowConfidence);
        }
        if r.rests_on_host_level() {
            reasons.push(WeakReason::HostLevel);
        }
        (!reasons.is_empty()).then(|| WeakEdge {
            edge: e.clone(),
            reasons,
            confidence,
            last_seen: r.last_seen,
        })
    };
    let mut services: Vec<ServiceRisk> = report
        .services
        .iter()
        .map(|s| {
            let declared = cis.get(&s.service).and_then(criticality_of);
            let criticality = declared.unwrap_or(impact::DEFAULT_CRITICALITY);
            ServiceRisk {
                impact: s.clone(),
                criticality,
                criticality_declared: declared.is_some(),
                score: impact::risk_score(criticality, s.severity, s.breadth),
                weak_edges: s.path_edges.iter().filter_map(weak_of).collect(),
            }
        })
        .collect();
    services.sort_by(|a, b| {
        b.score.cmp(&a.score).then_with(|| {
            (a.impact.severity, a.impact.depth, &a.impact.service).cmp(&(
                b.impact.severity,
                b.impact.depth,
                &b.impact.service,
            ))
        })
    });
    let any = |r: WeakReason| {
        services
            .iter()
            .any(|s| s.weak_edges.iter().any(|w| w.reasons.contains(&r)))
    };
    Ok(ChangeRisk {
        window,
        changed: report.failing.clone(),
        total_score: services.iter().map(|s| s.score).sum(),
        rests_on_stale: any(WeakReason::Stale),
        rests_on_low_confidence: any(WeakReason::LowConfidence),
        rests_on_host_level: any(WeakReason::HostLevel),
        services,
        report,
    })
}
