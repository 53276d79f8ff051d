//! The impact engine: given failing CIs and the relationships around them, which CIs and which
//! business services are affected, how far away, and why (the CI-id chains that explain it).
//!
//! Pure and deterministic: the same input always gives the same output, whatever the order of
//! the relationships. Failure travels along each relationship type's declared
//! [`ImpactFlow`](crate::rel::ImpactFlow) (a Host failing affects the Process that RUNS_ON it,
//! the endpoint it LISTENS_ON, the Application that CONNECTS_TO that endpoint, the
//! BusinessService that Application is MEMBER_OF). Cycles never loop: every CI is reached once,
//! at its shortest depth.
//!
//! Input is what `GraphStore::impact_subgraph` returns plus the classes of the CIs involved;
//! only ACTIVE relationships are followed.
//!
//! Severity: this engine knows no redundancy yet, so every affected service is `Down`. The
//! `Degraded`/`AtRisk` levels exist so redundancy rules (PART_OF groups with "k of n") can refine
//! the answer without changing the report's shape.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::class::CiClass;
use crate::ids::CiId;
use crate::rel::{ImpactFlow, RelStatus, RelType, Relationship};

/// How bad an affected service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// The service cannot work.
    Down,
    /// Redundancy partly lost.
    Degraded,
    /// No redundancy left: the next failure is DOWN.
    AtRisk,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Down => "DOWN",
            Severity::Degraded => "DEGRADED",
            Severity::AtRisk => "AT_RISK",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpactOptions {
    /// Hops from a failing CI beyond which nothing is considered affected.
    pub max_depth: u32,
    /// Explanation paths kept per service (the first ones in lexicographic order of CI ids).
    pub max_paths_per_service: usize,
}

impl Default for ImpactOptions {
    fn default() -> Self {
        ImpactOptions { max_depth: 10, max_paths_per_service: 10 }
    }
}

/// One affected CI (the failing CIs themselves are not listed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedCi {
    pub id: CiId,
    /// `None` when the caller did not know the class.
    pub class: Option<CiClass>,
    /// Hops from the nearest failing CI (≥ 1).
    pub depth: u32,
}

/// One affected business service and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceImpact {
    pub service: CiId,
    pub severity: Severity,
    /// Hops from the nearest failing CI (0 when the service itself is failing).
    pub depth: u32,
    /// Shortest chains `failing CI, …, service`, in lexicographic order, at most
    /// `max_paths_per_service` of them.
    pub paths: Vec<Vec<CiId>>,
    /// More shortest chains exist than were kept.
    pub paths_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImpactReport {
    /// The failing CIs, sorted and de-duplicated.
    pub failing: Vec<CiId>,
    /// Affected CIs ordered by (depth, id).
    pub affected: Vec<AffectedCi>,
    /// Affected business services ordered by (severity, depth, id).
    pub services: Vec<ServiceImpact>,
}

/// The directed "failure of A affects B" edges of one relationship.
pub fn impact_edges(rel: &Relationship) -> Vec<(CiId, CiId)> {
    flow_edges(rel.rel_type, &rel.from, &rel.to)
}

fn flow_edges(t: RelType, from: &CiId, to: &CiId) -> Vec<(CiId, CiId)> {
    match t.impact_flow() {
        ImpactFlow::FromToTo => vec![(from.clone(), to.clone())],
        ImpactFlow::ToToFrom => vec![(to.clone(), from.clone())],
        ImpactFlow::Both => vec![(from.clone(), to.clone()), (to.clone(), from.clone())],
    }
}

/// Evaluate the impact of `failing` over `rels`. `classes` gives the class of every CI it knows;
/// CIs of class BusinessService are reported as services.
pub fn evaluate(
    failing: &[CiId],
    rels: &[Relationship],
    classes: &HashMap<CiId, CiClass>,
    opts: &ImpactOptions,
) -> ImpactReport {
    // Adjacency, sorted for determinism.
    let mut succ: BTreeMap<&CiId, BTreeSet<&CiId>> = BTreeMap::new();
    for r in rels.iter().filter(|r| r.status == RelStatus::Active) {
        let (a, b) = (&r.from, &r.to);
        if a == b {
            continue;
        }
        match r.rel_type.impact_flow() {
            ImpactFlow::FromToTo => {
                succ.entry(a).or_default().insert(b);
            }
            ImpactFlow::ToToFrom => {
                succ.entry(b).or_default().insert(a);
            }
            ImpactFlow::Both => {
                succ.entry(a).or_default().insert(b);
                succ.entry(b).or_default().insert(a);
            }
        }
    }

    let sources: BTreeSet<&CiId> = failing.iter().collect();
    // Breadth-first from all failing CIs at once: shortest depth per CI.
    let mut dist: HashMap<&CiId, u32> = HashMap::new();
    let mut queue: VecDeque<&CiId> = VecDeque::new();
    for s in &sources {
        dist.insert(*s, 0);
        queue.push_back(*s);
    }
    while let Some(u) = queue.pop_front() {
        let du = dist[u];
        if du >= opts.max_depth {
            continue;
        }
        if let Some(next) = succ.get(u) {
            for v in next {
                if !dist.contains_key(*v) {
                    dist.insert(*v, du + 1);
                    queue.push_back(*v);
                }
            }
        }
    }

    // Predecessors on shortest paths.
    let mut preds: HashMap<&CiId, Vec<&CiId>> = HashMap::new();
    for (u, next) in &succ {
        let Some(&du) = dist.get(*u) else { continue };
        for v in next {
            if dist.get(*v) == Some(&(du + 1)) {
                preds.entry(*v).or_default().push(*u);
            }
        }
    }

    let mut affected: Vec<AffectedCi> = dist
        .iter()
        .filter(|(_, d)| **d > 0)
        .map(|(id, d)| AffectedCi { id: (*id).clone(), class: classes.get(*id).copied(), depth: *d })
        .collect();
    affected.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));

    let mut services = Vec::new();
    for (id, d) in &dist {
        if classes.get(*id) != Some(&CiClass::BusinessService) {
            continue;
        }
        let (paths, truncated) = shortest_paths(id, &dist, &succ, &preds, opts.max_paths_per_service);
        services.push(ServiceImpact {
            service: (*id).clone(),
            severity: Severity::Down,
            depth: *d,
            paths,
            paths_truncated: truncated,
        });
    }
    services.sort_by(|a, b| (a.severity, a.depth, &a.service).cmp(&(b.severity, b.depth, &b.service)));

    ImpactReport { failing: sources.into_iter().cloned().collect(), affected, services }
}

/// The first `cap` shortest failing→`target` chains in lexicographic order, and whether more
/// exist.
fn shortest_paths(
    target: &CiId,
    dist: &HashMap<&CiId, u32>,
    succ: &BTreeMap<&CiId, BTreeSet<&CiId>>,
    preds: &HashMap<&CiId, Vec<&CiId>>,
    cap: usize,
) -> (Vec<Vec<CiId>>, bool) {
    // CIs that lie on some shortest path to the target: its ancestors in the predecessor DAG.
    let mut on_path: BTreeSet<&CiId> = BTreeSet::new();
    let mut stack = vec![target];
    while let Some(v) = stack.pop() {
        if on_path.insert(v) {
            if let Some(ps) = preds.get(v) {
                stack.extend(ps.iter().copied());
            }
        }
    }
    let starts: Vec<&CiId> = on_path.iter().copied().filter(|v| dist.get(*v) == Some(&0)).collect();
    let mut out: Vec<Vec<CiId>> = Vec::new();
    let mut truncated = false;
    // Depth-first in lexicographic order; every branch taken reaches the target, so this
    // costs O(cap × depth) however many paths exist.
    let mut path: Vec<&CiId> = Vec::new();
    fn walk<'a>(
        v: &'a CiId,
        target: &CiId,
        path: &mut Vec<&'a CiId>,
        dist: &HashMap<&CiId, u32>,
        succ: &BTreeMap<&'a CiId, BTreeSet<&'a CiId>>,
        on_path: &BTreeSet<&'a CiId>,
        cap: usize,
        out: &mut Vec<Vec<CiId>>,
        truncated: &mut bool,
    ) {
        if *truncated {
            return;
        }
        path.push(v);
        if v == target {
            if out.len() < cap {
                out.push(path.iter().map(|c| (*c).clone()).collect());
            } else {
                *truncated = true;
            }
        } else if let (Some(next), Some(&dv)) = (succ.get(v), dist.get(v)) {
            for w in next {
                if on_path.contains(*w) && dist.get(*w) == Some(&(dv + 1)) {
                    walk(w, target, path, dist, succ, on_path, cap, out, truncated);
                    if *truncated {
                        break;
                    }
                }
            }
        }
        path.pop();
    }
    for s in starts {
        walk(s, target, &mut path, dist, succ, &on_path, cap, &mut out, &mut truncated);
        if truncated {
            break;
        }
    }
    (out, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rel::{RelStatus, Relationship};
    use proptest::prelude::*;

    fn rel(t: RelType, from: &str, to: &str) -> Relationship {
        let at = chrono::DateTime::from_timestamp_millis(0).unwrap_or_default();
        Relationship {
            rel_type: t,
            from: CiId::from(from),
            to: CiId::from(to),
            status: RelStatus::Active,
            evidence: vec![],
            attributes: Default::default(),
            first_seen: at,
            last_seen: at,
        }
    }

    fn ids(v: &[&str]) -> Vec<CiId> {
        v.iter().map(|s| CiId::from(*s)).collect()
    }

    #[test]
    fn host_failure_reaches_services_through_processes_endpoints_and_apps() {
        use RelType::*;
        let rels = vec![
            rel(RunsOn, "proc_pg", "host_db"),
            rel(ListensOn, "proc_pg", "ep_5432"),
            rel(Contains, "host_db", "ep_5432"),
            rel(ConnectsTo, "proc_web", "ep_5432"),
            rel(MemberOf, "proc_web", "svc_shop"),
            rel(MemberOf, "proc_pg", "svc_billing"),
            rel(RunsOn, "proc_other", "host_other"),
            rel(MemberOf, "proc_other", "svc_other"),
        ];
        let mut classes = HashMap::new();
        for s in ["svc_shop", "svc_billing", "svc_other"] {
            classes.insert(CiId::from(s), CiClass::BusinessService);
        }
        let r = evaluate(&ids(&["host_db"]), &rels, &classes, &ImpactOptions::default());
        let svc: Vec<_> = r.services.iter().map(|s| (s.service.as_str(), s.depth)).collect();
        assert_eq!(svc, vec![("svc_billing", 2), ("svc_shop", 3)]);
        assert_eq!(r.services[0].paths, vec![ids(&["host_db", "proc_pg", "svc_billing"])]);
        assert_eq!(
            r.services[1].paths,
            vec![ids(&["host_db", "ep_5432", "proc_web", "svc_shop"])],
            "the endpoint is CONTAINED by the host: shortest chain goes through it"
        );
        assert!(r.affected.iter().all(|a| a.id.as_str() != "host_db"));
        // Depth limit.
        let r = evaluate(&ids(&["host_db"]), &rels, &classes, &ImpactOptions { max_depth: 2, ..Default::default() });
        assert_eq!(r.services.len(), 1);
    }

    #[test]
    fn cycles_terminate_and_input_order_does_not_matter() {
        use RelType::*;
        let mut rels = vec![
            rel(LinkedTo, "a", "b"),
            rel(LinkedTo, "b", "c"),
            rel(LinkedTo, "c", "a"),
            rel(MemberOf, "c", "s"),
            rel(DependsOn, "a", "c"),
        ];
        let classes = HashMap::from([(CiId::from("s"), CiClass::BusinessService)]);
        let r1 = evaluate(&ids(&["a"]), &rels, &classes, &ImpactOptions::default());
        rels.reverse();
        let r2 = evaluate(&ids(&["a", "a"]), &rels, &classes, &ImpactOptions::default());
        assert_eq!(r1, r2);
        assert_eq!(r1.services[0].paths, vec![ids(&["a", "c", "s"])]);
    }

    #[test]
    fn closed_relationships_are_ignored_and_paths_are_capped() {
        use RelType::*;
        let mut closed = rel(MemberOf, "x", "s");
        closed.status = RelStatus::Closed;
        let mut rels = vec![closed];
        for i in 0..5 {
            rels.push(rel(Contains, "h", &format!("m{i}")));
            rels.push(rel(MemberOf, &format!("m{i}"), "s"));
        }
        let classes = HashMap::from([(CiId::from("s"), CiClass::BusinessService)]);
        let r = evaluate(&ids(&["x"]), &rels, &classes, &ImpactOptions::default());
        assert!(r.services.is_empty() && r.affected.is_empty());
        let r = evaluate(&ids(&["h"]), &rels, &classes, &ImpactOptions { max_depth: 10, max_paths_per_service: 3 });
        assert_eq!(r.services[0].paths.len(), 3);
        assert!(r.services[0].paths_truncated);
        assert_eq!(r.services[0].paths[0], ids(&["h", "m0", "s"]));
    }

    /// The naive reference: depths by repeated relaxation, paths by enumerating every simple
    /// path and keeping the shortest ones.
    fn naive(failing: &[CiId], rels: &[Relationship], classes: &HashMap<CiId, CiClass>, opts: &ImpactOptions) -> ImpactReport {
        let mut edges: Vec<(CiId, CiId)> = Vec::new();
        for r in rels {
            if r.status != RelStatus::Active || r.from == r.to {
                continue;
            }
            edges.extend(impact_edges(r));
        }
        let mut dist: BTreeMap<CiId, u32> = failing.iter().map(|f| (f.clone(), 0)).collect();
        for _ in 0..=edges.len() {
            for (a, b) in &edges {
                if let Some(&da) = dist.get(a) {
                    if da < opts.max_depth && dist.get(b).map(|&db| da + 1 < db).unwrap_or(true) {
                        dist.insert(b.clone(), da + 1);
                    }
                }
            }
        }
        let mut affected: Vec<AffectedCi> = dist
            .iter()
            .filter(|(_, d)| **d > 0)
            .map(|(id, d)| AffectedCi { id: id.clone(), class: classes.get(id).copied(), depth: *d })
            .collect();
        affected.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        // All simple paths from failing CIs.
        let mut all: Vec<Vec<CiId>> = Vec::new();
        fn dfs(p: &mut Vec<CiId>, edges: &[(CiId, CiId)], all: &mut Vec<Vec<CiId>>) {
            all.push(p.clone());
            let last = p.last().cloned().unwrap();
            for (a, b) in edges {
                if *a == last && !p.contains(b) {
                    p.push(b.clone());
                    dfs(p, edges, all);
                    p.pop();
                }
            }
        }
        let mut starts: Vec<CiId> = failing.to_vec();
        starts.sort();
        starts.dedup();
        for s in &starts {
            dfs(&mut vec![s.clone()], &edges, &mut all);
        }
        let mut services = Vec::new();
        for (id, d) in &dist {
            if classes.get(id) != Some(&CiClass::BusinessService) {
                continue;
            }
            let mut paths: Vec<Vec<CiId>> =
                all.iter().filter(|p| p.last() == Some(id) && p.len() as u32 == d + 1).cloned().collect();
            paths.sort();
            paths.dedup();
            let truncated = paths.len() > opts.max_paths_per_service;
            paths.truncate(opts.max_paths_per_service);
            services.push(ServiceImpact { service: id.clone(), severity: Severity::Down, depth: *d, paths, paths_truncated: truncated });
        }
        services.sort_by(|a, b| (a.severity, a.depth, &a.service).cmp(&(b.severity, b.depth, &b.service)));
        ImpactReport { failing: starts, affected, services }
    }

    fn graph() -> impl Strategy<Value = (Vec<Relationship>, Vec<CiId>, HashMap<CiId, CiClass>, u32, usize)> {
        let n = 7usize;
        (
            prop::collection::vec((0..n, 0..n, 0..RelType::ALL.len(), prop::bool::weighted(0.9)), 0..18),
            prop::collection::vec(0..n, 1..3),
            prop::collection::vec(prop::bool::ANY, n),
            1u32..6,
            1usize..4,
        )
            .prop_map(move |(es, fail, svc, depth, cap)| {
                let name = |i: usize| format!("c{i}");
                let rels = es
                    .into_iter()
                    .map(|(a, b, t, active)| {
                        let mut r = rel(RelType::ALL[t], &name(a), &name(b));
                        if !active {
                            r.status = RelStatus::Closed;
                        }
                        r
                    })
                    .collect();
                let failing = fail.into_iter().map(|i| CiId::new(name(i))).collect();
                let classes = svc
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (CiId::new(name(i)), if s { CiClass::BusinessService } else { CiClass::Host }))
                    .collect();
                (rels, failing, classes, depth, cap)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn matches_naive_reference((rels, failing, classes, depth, cap) in graph()) {
            let opts = ImpactOptions { max_depth: depth, max_paths_per_service: cap };
            let fast = evaluate(&failing, &rels, &classes, &opts);
            let slow = naive(&failing, &rels, &classes, &opts);
            prop_assert_eq!(fast, slow);
        }
    }
}
