//! The impact engine: given failing CIs and the part of the graph around them, which CIs and
//! which business services are affected, how badly, how far away, and why.
//!
//! Pure and deterministic: the same input gives the same output whatever the order of the
//! relationships, and cycles never loop.
//!
//! ## The rules
//! - Failure travels along each relationship type's declared [`ImpactFlow`](crate::rel::ImpactFlow)
//!   (a Host failing affects the Process that RUNS_ON it, the endpoint it LISTENS_ON, the
//!   Application that CONNECTS_TO that endpoint, the BusinessService it is MEMBER_OF), up to
//!   `max_depth` hops from the nearest failing CI (the *horizon*).
//! - Every CI in the horizon gets a state: OK < DEGRADED < AT_RISK < DOWN. A failing CI is DOWN.
//!   An ordinary CI takes the worst state of the CIs whose failure affects it.
//! - A **group** (a CI with incoming PART_OF: a pool, a cluster) has `n` members and a rule
//!   `min_up = k` (default: all `n`). With `f` members DOWN and `up = n − f`:
//!   `up < k` → DOWN; `up == k` (and `f > 0`) → AT_RISK: no redundancy left, the next failure
//!   is DOWN; `up > k` (and `f > 0`) → DEGRADED. A group may move the AT_RISK threshold with
//!   `at_risk_up = a` (AT_RISK while `up ≤ a`; 0 = never AT_RISK): network paths are inferred
//!   with `a = 0`, so a host that lost one of its two switches is DEGRADED. Members that are
//!   themselves only DEGRADED or AT_RISK pass that on, capped at DEGRADED while the group still
//!   has a spare member.
//!   Members outside the horizon count as up. Anything else the group depends on (not through
//!   PART_OF) affects it like any CI.
//! - A dependency of `v` on a member of a group that `v` also depends on goes through the
//!   group (see [`graph`]).
//! - States are the least fixpoint of these rules (computed by a worklist; every state only
//!   rises, at most three times), so a cycle never keeps itself down.
//! - Explanations are the shortest failure chains `failing CI, …, service`.

mod graph;
mod spof;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

pub use graph::{
    GraphEdge, GroupCompletion, GroupRule, ImpactGraph, NodeGraph, AT_RISK_UP_ATTR,
    MAX_GROUP_NESTING, MIN_UP_ATTR,
};
pub use spof::{single_points_of_failure, SinglePointOfFailure};

use crate::class::CiClass;
use crate::ids::CiId;
use graph::Compiled;

/// How bad an affected CI or service is. Ordered worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// It cannot work.
    Down,
    /// No redundancy left: the next failure is DOWN.
    AtRisk,
    /// Redundancy partly lost.
    Degraded,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Down => "DOWN",
            Severity::AtRisk => "AT_RISK",
            Severity::Degraded => "DEGRADED",
        }
    }
    /// The severity factor of the change-risk score.
    pub fn weight(self) -> u32 {
        match self {
            Severity::Down => 3,
            Severity::AtRisk => 2,
            Severity::Degraded => 1,
        }
    }
}

/// Internal lattice: OK < DEGRADED < AT_RISK < DOWN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum State {
    Ok = 0,
    Degraded = 1,
    AtRisk = 2,
    Down = 3,
}

impl From<Severity> for State {
    fn from(s: Severity) -> State {
        match s {
            Severity::Down => State::Down,
            Severity::AtRisk => State::AtRisk,
            Severity::Degraded => State::Degraded,
        }
    }
}

impl State {
    fn severity(self) -> Option<Severity> {
        match self {
            State::Ok => None,
            State::Degraded => Some(Severity::Degraded),
            State::AtRisk => Some(Severity::AtRisk),
            State::Down => Some(Severity::Down),
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
        ImpactOptions {
            max_depth: 10,
            max_paths_per_service: 10,
        }
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
    pub severity: Severity,
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
    /// CIs (other than the service) on any shortest chain: how much of the estate between the
    /// failure and this service is involved. At least 1 unless the service itself is failing.
    pub breadth: u32,
    /// The relationships those chains cross (every shortest chain, not only the kept ones),
    /// for judging how well the answer is supported.
    pub path_edges: Vec<GraphEdge>,
}

/// A group that lost members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupImpact {
    pub group: CiId,
    pub class: Option<CiClass>,
    pub members: u32,
    /// Members DOWN.
    pub down: u32,
    pub min_up: u32,
    /// Members up at or below which the group is AT_RISK.
    pub at_risk_up: u32,
    pub severity: Severity,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImpactReport {
    /// The failing CIs, sorted and de-duplicated.
    pub failing: Vec<CiId>,
    /// Affected CIs ordered by (depth, id).
    pub affected: Vec<AffectedCi>,
    /// Affected business services ordered by (severity, depth, id): worst and nearest first.
    pub services: Vec<ServiceImpact>,
    /// Groups (pools, clusters) in the horizon that lost members or redundancy, by id.
    pub groups: Vec<GroupImpact>,
}

impl ImpactReport {
    /// Affected CIs per class (unknown classes as `None`), by class name.
    pub fn affected_by_class(&self) -> Vec<(Option<CiClass>, usize)> {
        let mut m: std::collections::BTreeMap<&str, (Option<CiClass>, usize)> = Default::default();
        for a in &self.affected {
            let k = a.class.map(|c| c.as_str()).unwrap_or("");
            m.entry(k).or_insert((a.class, 0)).1 += 1;
        }
        m.into_values().collect()
    }
}

/// Breadth-first distances from `sources` along `succ`, up to `max_depth` hops.
fn distances(c: &Compiled, sources: &[u32], max_depth: u32) -> Vec<Option<u32>> {
    let mut dist = vec![None; c.len()];
    let mut queue = VecDeque::new();
    for &s in sources {
        if dist[s as usize].is_none() {
            dist[s as usize] = Some(0);
            queue.push_back(s);
        }
    }
    while let Some(u) = queue.pop_front() {
        let du = dist[u as usize].unwrap_or(0);
        if du >= max_depth {
            continue;
        }
        for &v in c.succ(u) {
            if dist[v as usize].is_none() {
                dist[v as usize] = Some(du + 1);
                queue.push_back(v);
            }
        }
    }
    dist
}

/// The state of `v` from its predecessors' states (the rules in the module docs).
fn state_of(c: &Compiled, v: u32, state: &[State], in_horizon: &[bool]) -> State {
    let mut hard = State::Ok;
    for &(u, member) in c.pred(v) {
        if !member && in_horizon[u as usize] {
            hard = hard.max(state[u as usize]);
        }
    }
    let ms = c.members(v);
    if ms.is_empty() {
        return hard;
    }
    let n = ms.len() as u32;
    let k = c.min_up[v as usize];
    let mut down = 0u32;
    let mut inherited = State::Ok;
    for &m in ms {
        let s = if in_horizon[m as usize] {
            state[m as usize]
        } else {
            State::Ok
        };
        if s == State::Down {
            down += 1;
        }
        inherited = inherited.max(s.min(State::AtRisk));
    }
    let up = n - down;
    let derived = if up < k {
        State::Down
    } else if down > 0 && up <= c.at_risk_up[v as usize] {
        State::AtRisk
    } else if down > 0 {
        State::Degraded
    } else {
        State::Ok
    };
    if up > c.at_risk_up[v as usize] {
        // still a spare beyond the AT_RISK threshold: members' trouble is only DEGRADED here
        inherited = inherited.min(State::Degraded);
    }
    hard.max(derived).max(inherited)
}

/// Evaluate the impact of `failing` over `g`: every failing CI is DOWN.
pub fn evaluate(failing: &[CiId], g: &ImpactGraph, opts: &ImpactOptions) -> ImpactReport {
    let observed: Vec<(CiId, Severity)> = failing
        .iter()
        .map(|f| (f.clone(), Severity::Down))
        .collect();
    evaluate_observed(&observed, g, opts)
}

/// Evaluate what observed states do to `g`: the live status of an estate from what monitoring
/// says about some of its CIs (a host DOWN, a database DEGRADED), all at once. Each observed
/// CI is at least its observed state and may be worse through its own dependencies (a
/// DEGRADED host behind a DOWN switch is DOWN); every other CI follows the rules in the module
/// docs. A CI observed twice takes the worse state. With every CI DOWN this is [`evaluate`].
/// The report's `failing` lists every observed CI; depths and paths start from them.
pub fn evaluate_observed(
    observed: &[(CiId, Severity)],
    g: &ImpactGraph,
    opts: &ImpactOptions,
) -> ImpactReport {
    let ids: Vec<CiId> = observed.iter().map(|(id, _)| id.clone()).collect();
    let c = Compiled::from_ids(g, &ids);
    let observed: Vec<(u32, State)> = observed
        .iter()
        .filter_map(|(id, sev)| Some((c.index_of(id.as_str())?, State::from(*sev))))
        .collect();
    evaluate_compiled(&c, &observed, opts)
}

/// [`evaluate`] over a graph by number: `failing` are nodes of `g`. What a store holding the
/// graph in memory calls, so that no string is built before the report.
pub fn evaluate_nodes(g: NodeGraph<'_>, failing: &[u32], opts: &ImpactOptions) -> ImpactReport {
    let c = Compiled::new(g);
    let observed: Vec<(u32, State)> = failing.iter().map(|&f| (c.node(f), State::Down)).collect();
    evaluate_compiled(&c, &observed, opts)
}

fn evaluate_compiled(c: &Compiled, observed: &[(u32, State)], opts: &ImpactOptions) -> ImpactReport {
    let mut floor = vec![State::Ok; c.len()];
    for &(i, st) in observed {
        floor[i as usize] = floor[i as usize].max(st);
    }
    let mut sources: Vec<u32> = observed.iter().map(|&(i, _)| i).collect();
    sources.sort_unstable();
    sources.dedup();
    let dist = distances(c, &sources, opts.max_depth);
    let in_horizon: Vec<bool> = dist.iter().map(Option::is_some).collect();
    let state = fixpoint(c, &sources, floor, &in_horizon);
    report(c, &sources, &dist, &state, opts)
}

/// The least fixpoint of the rules by worklist; observed CIs never fall below `floor`.
fn fixpoint(c: &Compiled, sources: &[u32], floor: Vec<State>, in_horizon: &[bool]) -> Vec<State> {
    let mut state = floor.clone();
    let mut work: VecDeque<u32> = VecDeque::new();
    let mut queued = vec![false; c.len()];
    let enqueue_successors = |u: u32, work: &mut VecDeque<u32>, queued: &mut [bool]| {
        for &w in c.succ(u) {
            if !queued[w as usize] && in_horizon[w as usize] {
                queued[w as usize] = true;
                work.push_back(w);
            }
        }
    };
    for &s in sources {
        enqueue_successors(s, &mut work, &mut queued);
    }
    while let Some(v) = work.pop_front() {
        queued[v as usize] = false;
        if state[v as usize] == State::Down {
            continue;
        }
        let s = state_of(c, v, &state, in_horizon).max(floor[v as usize]);
        if s > state[v as usize] {
            state[v as usize] = s;
            enqueue_successors(v, &mut work, &mut queued);
        }
    }
    state
}

/// The report from distances and states: affected CIs, services with their chains, groups.
fn report(
    c: &Compiled,
    sources: &[u32],
    dist: &[Option<u32>],
    state: &[State],
    opts: &ImpactOptions,
) -> ImpactReport {
    // Node numbers are in id order, so (depth, node) is (depth, id).
    let mut hit: Vec<(u32, u32)> = Vec::new();
    for v in 0..c.len() as u32 {
        if let (Some(d), Some(_)) = (dist[v as usize], state[v as usize].severity()) {
            hit.push((d, v));
        }
    }
    hit.sort_unstable();
    let mut affected = Vec::with_capacity(hit.len());
    let mut services = Vec::new();
    let mut groups = Vec::new();
    for &(d, v) in &hit {
        let sev = state[v as usize].severity().unwrap_or(Severity::Degraded);
        let class = c.class[v as usize];
        if d > 0 {
            affected.push(AffectedCi {
                id: c.id(v),
                class,
                depth: d,
                severity: sev,
            });
        }
        if c.is_group(v) {
            groups.push((v, group_impact(c, v, sev, state, dist)));
        }
        if class == Some(CiClass::BusinessService) {
            let chains = shortest_chains(c, dist, v, opts.max_paths_per_service);
            services.push(ServiceImpact {
                service: c.id(v),
                severity: sev,
                depth: d,
                paths: chains.paths,
                paths_truncated: chains.truncated,
                breadth: chains.on_path.len().saturating_sub(1) as u32,
                path_edges: chains.edges,
            });
        }
    }
    groups.sort_unstable_by_key(|(v, _)| *v);
    services
        .sort_by(|a, b| (a.severity, a.depth, &a.service).cmp(&(b.severity, b.depth, &b.service)));
    ImpactReport {
        failing: sources.iter().map(|&s| c.id(s)).collect(),
        affected,
        services,
        groups: groups.into_iter().map(|(_, g)| g).collect(),
    }
}

fn group_impact(
    c: &Compiled,
    v: u32,
    severity: Severity,
    state: &[State],
    dist: &[Option<u32>],
) -> GroupImpact {
    let ms = c.members(v);
    let down = ms
        .iter()
        .filter(|&&m| dist[m as usize].is_some() && state[m as usize] == State::Down)
        .count() as u32;
    GroupImpact {
        group: c.id(v),
        class: c.class[v as usize],
        members: ms.len() as u32,
        down,
        min_up: c.min_up[v as usize],
        at_risk_up: c.at_risk_up[v as usize],
        severity,
    }
}

pub(crate) struct Chains {
    pub paths: Vec<Vec<CiId>>,
    pub truncated: bool,
    /// CIs on some shortest chain to the target, the target included.
    pub on_path: BTreeSet<u32>,
    pub edges: Vec<GraphEdge>,
}

/// The first `cap` shortest chains from any CI at distance 0 to `target`, in lexicographic
/// order, and whether more exist.
pub(crate) fn shortest_chains(
    c: &Compiled,
    dist: &[Option<u32>],
    target: u32,
    cap: usize,
) -> Chains {
    let on_shortest = |u: u32, v: u32| matches!((dist[u as usize], dist[v as usize]), (Some(du), Some(dv)) if dv == du + 1);
    // CIs on some shortest chain: the target's ancestors in the shortest-path DAG.
    let mut on_path: BTreeSet<u32> = BTreeSet::new();
    let mut edges = BTreeSet::new();
    let mut stack = vec![target];
    while let Some(v) = stack.pop() {
        if on_path.insert(v) {
            for &(u, _) in c.pred(v) {
                if on_shortest(u, v) {
                    edges.insert(c.edge_key(u, v));
                    stack.push(u);
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut truncated = false;
    // Depth-first in lexicographic order (indices are in id order); every branch taken
    // reaches the target, so this costs O(cap × depth) however many chains exist.
    fn walk(
        c: &Compiled,
        v: u32,
        target: u32,
        dist: &[Option<u32>],
        on_path: &BTreeSet<u32>,
        path: &mut Vec<u32>,
        cap: usize,
        out: &mut Vec<Vec<CiId>>,
        truncated: &mut bool,
    ) {
        path.push(v);
        if v == target {
            if out.len() < cap {
                out.push(path.iter().map(|&i| c.id(i)).collect());
            } else {
                *truncated = true;
            }
        } else {
            let dv = dist[v as usize];
            for &w in c.succ(v) {
                if *truncated {
                    break;
                }
                if on_path.contains(&w)
                    && dist[w as usize].is_some()
                    && dist[w as usize] == dv.map(|d| d + 1)
                {
                    walk(c, w, target, dist, on_path, path, cap, out, truncated);
                }
            }
        }
        path.pop();
    }
    let mut path = Vec::new();
    for &s in on_path.iter().filter(|&&v| dist[v as usize] == Some(0)) {
        if truncated {
            break;
        }
        walk(
            c,
            s,
            target,
            dist,
            &on_path,
            &mut path,
            cap,
            &mut out,
            &mut truncated,
        );
    }
    Chains {
        paths: out,
        truncated,
        on_path,
        edges: edges.into_iter().map(|k| c.graph_edge(k)).collect(),
    }
}

/// Shortest failure chains from `from` to `to` (failure of `from` affects `to` through each
/// one), at most `cap`, with the relationship behind every hop. Empty when `to` is not within
/// `max_depth` hops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FailureChains {
    pub chains: Vec<Vec<CiId>>,
    /// For each chain, the relationship explaining each hop (`chain.len() - 1` of them).
    pub hops: Vec<Vec<GraphEdge>>,
    pub truncated: bool,
}

pub fn failure_chains(
    g: &ImpactGraph,
    from: &CiId,
    to: &CiId,
    max_depth: u32,
    cap: usize,
) -> FailureChains {
    let extra = [from.clone(), to.clone()];
    let c = Compiled::from_ids(g, &extra);
    let (Some(f), Some(t)) = (c.index_of(from.as_str()), c.index_of(to.as_str())) else {
        return FailureChains::default();
    };
    let dist = distances(&c, &[f], max_depth);
    if dist[t as usize].is_none() {
        return FailureChains::default();
    }
    let ch = shortest_chains(&c, &dist, t, cap);
    let hops = ch
        .paths
        .iter()
        .map(|p| {
            p.windows(2)
                .filter_map(|w| Some(c.edge(c.index_of(w[0].as_str())?, c.index_of(w[1].as_str())?)))
                .collect()
        })
        .collect();
    FailureChains {
        chains: ch.paths,
        hops,
        truncated: ch.truncated,
    }
}

/// Criticality assumed for a service that declares none (the middle of the 1–5 scale).
pub const DEFAULT_CRITICALITY: u32 = 3;

/// The change-risk score of one affected service:
/// `criticality weight × severity weight × breadth`, where criticality runs 1 (most critical)
/// to 5 (default 3) and weighs `6 − criticality` (5 … 1), severity weighs DOWN 3 / AT_RISK 2 /
/// DEGRADED 1, and breadth is the number of CIs between the change and the service on its
/// shortest failure chains (at least 1). A DOWN criticality-1 service reached through 4 CIs
/// scores 5 × 3 × 4 = 60; a DEGRADED criticality-5 service one hop away scores 1.
pub fn risk_score(criticality: u32, severity: Severity, breadth: u32) -> u64 {
    (6 - criticality.clamp(1, 5)) as u64 * severity.weight() as u64 * breadth.max(1) as u64
}
