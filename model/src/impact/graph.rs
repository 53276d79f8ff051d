//! The engine's input — by id ([`ImpactGraph`], what a loader over the store contract builds)
//! or by number ([`NodeGraph`], what a loader holding the graph in memory hands over without
//! building a string per edge) — and its compiled, integer-indexed form.
//!
//! Compiling does three things once per question, so the algorithms that follow work on plain
//! `u32` arrays (flat adjacency lists, no hashing):
//! 1. numbers CIs in id order (so "sorted by index" is "sorted by id": determinism for free),
//!    with one sort of the nodes by a 16-byte prefix of their id;
//! 2. turns each relationship into the directed "failure of u affects v" pairs of its type's
//!    [`ImpactFlow`], keeping for each pair the relationship that explains it;
//! 3. applies the redundancy rules: a CI with incoming PART_OF edges is a *group* whose members
//!    are those edges' sources; a dependency of `v` on a member of a group that `v` also
//!    depends on is dropped, because `v` reaches that member through the group (a load
//!    balancer that CONNECTS_TO three backends of a 1-of-3 pool loses a backend, not itself).

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use serde::{Deserialize, Serialize};

use crate::ci::Ci;
use crate::class::CiClass;
use crate::ids::CiId;
use crate::rel::{ImpactFlow, RelStatus, RelType, Relationship};

/// Attribute of a group CI: how many members must be up (absent: all of them).
pub const MIN_UP_ATTR: &str = "min_up";
/// Attribute of a group CI: at or below this many members up (with some down) the group is
/// AT_RISK rather than DEGRADED (absent: `min_up`, so a group with no spare left is AT_RISK;
/// 0: never AT_RISK, DEGRADED while it still works).
pub const AT_RISK_UP_ATTR: &str = "at_risk_up";

/// A group's redundancy rule (the CI's `min_up` and `at_risk_up` attributes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupRule {
    pub min_up: Option<u32>,
    pub at_risk_up: Option<u32>,
}

impl GroupRule {
    /// The rule a CI declares, if any: `min_up` a positive integer, `at_risk_up` a
    /// non-negative one (numbers or numeric strings; anything else is ignored).
    pub fn of(ci: &Ci) -> Option<GroupRule> {
        let num = |key: &str| {
            let v = ci.attr(key)?;
            let n = v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))?;
            u32::try_from(n).ok()
        };
        let rule = GroupRule {
            min_up: num(MIN_UP_ATTR).filter(|n| *n > 0),
            at_risk_up: num(AT_RISK_UP_ATTR),
        };
        (rule != GroupRule::default()).then_some(rule)
    }
    /// `min_up` with `n` members: absent = all, clamped to 1..=n.
    pub fn min_up_of(&self, n: u32) -> u32 {
        self.min_up.unwrap_or(n).clamp(n.min(1), n)
    }
    /// `at_risk_up` with `n` members: absent = `min_up`, at most `n`.
    pub fn at_risk_up_of(&self, n: u32) -> u32 {
        self.at_risk_up.unwrap_or_else(|| self.min_up_of(n)).min(n)
    }
}

/// One active relationship as the store holds it: `from -[rel_type]-> to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GraphEdge {
    pub from: CiId,
    pub rel_type: RelType,
    pub to: CiId,
}

impl GraphEdge {
    pub fn new(from: impl Into<CiId>, rel_type: RelType, to: impl Into<CiId>) -> Self {
        GraphEdge {
            from: from.into(),
            rel_type,
            to: to.into(),
        }
    }
}

impl From<&Relationship> for GraphEdge {
    fn from(r: &Relationship) -> Self {
        GraphEdge {
            from: r.from.clone(),
            rel_type: r.rel_type,
            to: r.to.clone(),
        }
    }
}

/// What the engine needs to know about the part of the graph a question touches.
///
/// Loaders (the store) must include every ACTIVE relationship reachable downstream (along
/// impact flow) from the CIs in question within the depth asked, and **every** active
/// relationship of each group (a CI with incoming PART_OF) they include, so that member counts
/// and the dependants of a group are complete whatever the depth.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImpactGraph {
    pub edges: Vec<GraphEdge>,
    /// Class of every CI the loader knows; CIs of class BusinessService are services.
    pub classes: HashMap<CiId, CiClass>,
    /// The redundancy rules of groups that declare one (absent: every member must be up).
    pub rules: HashMap<CiId, GroupRule>,
}

impl ImpactGraph {
    /// From full relationships (CLOSED ones are skipped).
    pub fn from_relationships(
        rels: &[Relationship],
        classes: HashMap<CiId, CiClass>,
        rules: HashMap<CiId, GroupRule>,
    ) -> Self {
        ImpactGraph {
            edges: rels
                .iter()
                .filter(|r| r.status == RelStatus::Active)
                .map(GraphEdge::from)
                .collect(),
            classes,
            rules,
        }
    }
}

/// Whether failure of the depended-upon CI travels to the dependant (RUNS_ON, CONNECTS_TO,
/// DEPENDS_ON): the relationships a group stands in for.
fn is_dependency(t: RelType) -> bool {
    t.impact_flow() == ImpactFlow::ToToFrom
}

/// How far group completion goes: rounds of "a group's edges reveal another group". Groups
/// nested deeper than this are treated as plain CIs.
pub const MAX_GROUP_NESTING: u32 = 8;

/// The loaders' rule for completing an impact subgraph: every edge of each group (a PART_OF
/// target) in it must be present, so that member counts and a group's dependants are complete
/// whatever the depth — and a group's edges may reveal further groups, up to
/// [`MAX_GROUP_NESTING`] rounds. One state machine for every loader, whatever it names nodes
/// by (ids over the store contract, interned numbers in memory): feed it the edges added last
/// round, load every edge of the groups it returns, repeat until it returns none.
#[derive(Debug)]
pub struct GroupCompletion<N> {
    done: std::collections::HashSet<N, rustc_hash::FxBuildHasher>,
    rounds: u32,
}

impl<N> Default for GroupCompletion<N> {
    fn default() -> Self {
        GroupCompletion {
            done: Default::default(),
            rounds: 0,
        }
    }
}

impl<N: Clone + Eq + std::hash::Hash + Ord> GroupCompletion<N> {
    /// The groups among `new_edges` (`(from, type, to)`) not completed yet, sorted: load all
    /// their edges next. Empty when there are none or the nesting limit is reached.
    pub fn next_round<'e>(
        &mut self,
        new_edges: impl IntoIterator<Item = (&'e N, RelType, &'e N)>,
    ) -> Vec<N>
    where
        N: 'e,
    {
        if self.rounds >= MAX_GROUP_NESTING {
            return Vec::new();
        }
        let mut groups: Vec<N> = new_edges
            .into_iter()
            .filter(|(f, t, g)| *t == RelType::PartOf && f != g && !self.done.contains(*g))
            .map(|(_, _, g)| g.clone())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        if !groups.is_empty() {
            self.rounds += 1;
            self.done.extend(groups.iter().cloned());
        }
        groups
    }

    /// Every group completed so far: the CIs whose rules the loader must supply.
    pub fn groups(&self) -> impl Iterator<Item = &N> {
        self.done.iter()
    }

    pub fn is_group(&self, n: &N) -> bool {
        self.done.contains(n)
    }
}

/// The engine's input by number: nodes `0..len()` with their id, class and (for groups) rule,
/// and the active edges among them. Node numbers are the loader's; the engine renumbers.
#[derive(Debug, Clone, Default)]
pub struct NodeGraph<'a> {
    ids: Vec<&'a str>,
    classes: Vec<Option<CiClass>>,
    rules: FxHashMap<u32, GroupRule>,
    edges: Vec<(u32, RelType, u32)>,
}

impl<'a> NodeGraph<'a> {
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        NodeGraph {
            ids: Vec::with_capacity(nodes),
            classes: Vec::with_capacity(nodes),
            rules: FxHashMap::default(),
            edges: Vec::with_capacity(edges),
        }
    }

    /// A new node; ids must not repeat (the loader interns).
    pub fn add_node(&mut self, id: &'a str, class: Option<CiClass>) -> u32 {
        self.ids.push(id);
        self.classes.push(class);
        (self.ids.len() - 1) as u32
    }

    pub fn set_rule(&mut self, node: u32, rule: GroupRule) {
        self.rules.insert(node, rule);
    }

    /// An active edge `from -[t]-> to` between nodes already added.
    pub fn add_edge(&mut self, from: u32, t: RelType, to: u32) {
        self.edges.push((from, t, to));
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The same graph by id (for callers of the string-keyed API).
    pub fn to_impact_graph(&self) -> ImpactGraph {
        let id = |n: u32| CiId(self.ids[n as usize].to_string());
        let mut edges: Vec<GraphEdge> = self
            .edges
            .iter()
            .map(|&(f, t, d)| GraphEdge::new(id(f), t, id(d)))
            .collect();
        edges.sort_unstable();
        edges.dedup();
        ImpactGraph {
            edges,
            classes: (0..self.len() as u32)
                .filter_map(|n| Some((id(n), self.classes[n as usize]?)))
                .collect(),
            rules: self.rules.iter().map(|(&n, r)| (id(n), *r)).collect(),
        }
    }

    /// Number an [`ImpactGraph`]'s CIs (and `extra` ones, which may have no edge).
    pub fn from_ids(g: &'a ImpactGraph, extra: &'a [CiId]) -> Self {
        let mut out = NodeGraph::with_capacity(g.classes.len(), g.edges.len());
        let mut index: FxHashMap<&'a str, u32> = FxHashMap::default();
        let mut node = |id: &'a CiId, out: &mut NodeGraph<'a>| -> u32 {
            *index
                .entry(id.as_str())
                .or_insert_with(|| out.add_node(id.as_str(), g.classes.get(id).copied()))
        };
        for x in extra {
            node(x, &mut out);
        }
        for e in &g.edges {
            let (f, t) = (node(&e.from, &mut out), node(&e.to, &mut out));
            out.add_edge(f, e.rel_type, t);
        }
        for (id, rule) in &g.rules {
            if let Some(&n) = index.get(id.as_str()) {
                out.set_rule(n, *rule);
            }
        }
        out
    }
}

/// Flat lists per node (compressed sparse rows): `items[start[k]..start[k + 1]]` belong to `k`.
#[derive(Debug, Clone)]
struct Csr<T> {
    start: Vec<u32>,
    items: Vec<T>,
}

impl<T: Copy> Csr<T> {
    /// Group `(node, item)` pairs by node, keeping their order within a node (a counting sort).
    fn from_pairs(n: usize, pairs: &[(u32, T)]) -> Self {
        let mut start = vec![0u32; n + 1];
        for &(k, _) in pairs {
            start[k as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let Some(&(_, fill)) = pairs.first() else {
            return Csr {
                start,
                items: Vec::new(),
            };
        };
        let mut next = start.clone();
        let mut items = vec![fill; pairs.len()];
        for &(k, item) in pairs {
            items[next[k as usize] as usize] = item;
            next[k as usize] += 1;
        }
        Csr { start, items }
    }

    fn get(&self, k: u32) -> &[T] {
        &self.items[self.start[k as usize] as usize..self.start[k as usize + 1] as usize]
    }

    fn get_mut(&mut self, k: u32) -> &mut [T] {
        &mut self.items[self.start[k as usize] as usize..self.start[k as usize + 1] as usize]
    }

    fn nodes(&self) -> u32 {
        (self.start.len() - 1) as u32
    }

    fn range(&self, k: u32) -> std::ops::Range<usize> {
        self.start[k as usize] as usize..self.start[k as usize + 1] as usize
    }
}

impl<T: Copy + Ord> Csr<T> {
    /// Sort each node's list and drop repeats.
    fn sort_dedup_each(self) -> Self {
        let n = self.nodes();
        let mut start = Vec::with_capacity(n as usize + 1);
        let mut items = Vec::with_capacity(self.items.len());
        start.push(0u32);
        let mut buf: Vec<T> = Vec::new();
        for k in 0..n {
            buf.clear();
            buf.extend_from_slice(self.get(k));
            buf.sort_unstable();
            buf.dedup();
            items.extend_from_slice(&buf);
            start.push(items.len() as u32);
        }
        Csr { start, items }
    }
}

/// A sort key consistent with the ids' byte order: its first 16 bytes, zero-padded. Ids that
/// share 16 bytes tie here and are compared in full.
fn sort_key(id: &str) -> u128 {
    let mut b = [0u8; 16];
    let n = id.len().min(16);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u128::from_be_bytes(b)
}

pub(crate) struct Compiled<'a> {
    /// Ids in order: node `i` is the `i`-th smallest id.
    ids: Vec<&'a str>,
    /// The caller's node numbers to ours.
    renumber: Vec<u32>,
    pub class: Vec<Option<CiClass>>,
    /// The edges, renumbered, self-loops dropped.
    edges: Vec<(u32, RelType, u32)>,
    /// Failure of `u` affects each of `succ[u]` (sorted, deduplicated) ...
    succ: Csr<u32>,
    /// ... explained by this edge (an index into `edges`; the smallest one, for determinism).
    why: Vec<u32>,
    /// `(u, is_member)` for each `u` whose failure affects `v` (sorted).
    pred: Csr<(u32, bool)>,
    /// Members of each group (empty for non-groups), sorted.
    members: Csr<u32>,
    /// Members that must be up, for groups (`members.len()` when the group declares none).
    pub min_up: Vec<u32>,
    /// Members up at or below which a group that lost some is AT_RISK (default `min_up`).
    pub at_risk_up: Vec<u32>,
}

impl<'a> Compiled<'a> {
    /// Compile an [`ImpactGraph`] (with `extra` CIs that may have no edge).
    pub fn from_ids(g: &'a ImpactGraph, extra: &'a [CiId]) -> Self {
        Compiled::new(NodeGraph::from_ids(g, extra))
    }

    pub fn new(g: NodeGraph<'a>) -> Self {
        let n = g.ids.len();
        let (ids, renumber, old_of) = id_order(&g.ids);
        let class = old_of.iter().map(|&o| g.classes[o as usize]).collect();
        let edges: Vec<(u32, RelType, u32)> = g
            .edges
            .iter()
            .filter(|(f, _, d)| f != d)
            .map(|&(f, t, d)| (renumber[f as usize], t, renumber[d as usize]))
            .collect();
        let members = Csr::from_pairs(
            n,
            &edges
                .iter()
                .filter(|e| e.1 == RelType::PartOf)
                .map(|&(f, _, d)| (d, f))
                .collect::<Vec<_>>(),
        )
        .sort_dedup_each();
        let (succ, why, pred) = dependencies(n, &edges, &members);
        let rule = |v: usize| -> GroupRule {
            if members.get(v as u32).is_empty() {
                return GroupRule::default();
            }
            g.rules.get(&old_of[v]).copied().unwrap_or_default()
        };
        let (mut min_up, mut at_risk_up) = (vec![0u32; n], vec![0u32; n]);
        for v in 0..n {
            let m = members.get(v as u32).len() as u32;
            if m > 0 {
                min_up[v] = rule(v).min_up_of(m);
                at_risk_up[v] = rule(v).at_risk_up_of(m);
            }
        }
        Compiled {
            ids,
            renumber,
            class,
            edges,
            succ,
            why,
            pred,
            members,
            min_up,
            at_risk_up,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Our number of the caller's node `n` (of the [`NodeGraph`] compiled).
    pub fn node(&self, n: u32) -> u32 {
        self.renumber[n as usize]
    }

    /// The node of `id`, if the graph has it.
    pub fn index_of(&self, id: &str) -> Option<u32> {
        self.ids.binary_search(&id).ok().map(|i| i as u32)
    }

    pub fn succ(&self, u: u32) -> &[u32] {
        self.succ.get(u)
    }

    pub fn pred(&self, v: u32) -> &[(u32, bool)] {
        self.pred.get(v)
    }

    pub fn members(&self, v: u32) -> &[u32] {
        self.members.get(v)
    }

    pub fn is_group(&self, v: u32) -> bool {
        !self.members.get(v).is_empty()
    }

    pub fn id(&self, v: u32) -> CiId {
        CiId(self.ids[v as usize].to_string())
    }

    /// The relationship explaining the pair `u → v` (which must be one), by number; ordered
    /// as the [`GraphEdge`]s they stand for.
    pub fn edge_key(&self, u: u32, v: u32) -> (u32, RelType, u32) {
        let r = self.succ.range(u);
        let k = self.succ.items[r.clone()]
            .binary_search(&v)
            .expect("edge_key of a pair that is not an edge");
        self.edges[self.why[r.start + k] as usize]
    }

    pub fn graph_edge(&self, (f, t, d): (u32, RelType, u32)) -> GraphEdge {
        GraphEdge::new(self.id(f), t, self.id(d))
    }

    pub fn edge(&self, u: u32, v: u32) -> GraphEdge {
        self.graph_edge(self.edge_key(u, v))
    }
}

/// The nodes in id order: `(ids sorted, old number → new number, new number → old number)`.
fn id_order<'a>(ids: &[&'a str]) -> (Vec<&'a str>, Vec<u32>, Vec<u32>) {
    let mut order: Vec<(u128, u32)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (sort_key(id), i as u32))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| ids[a.1 as usize].cmp(ids[b.1 as usize]))
    });
    let mut renumber = vec![0u32; ids.len()];
    for (new, &(_, old)) in order.iter().enumerate() {
        renumber[old as usize] = new as u32;
    }
    let old_of: Vec<u32> = order.iter().map(|&(_, o)| o).collect();
    (
        old_of.iter().map(|&o| ids[o as usize]).collect(),
        renumber,
        old_of,
    )
}

/// Every "failure of `u` affects `v`" pair with the relationship explaining it, after the
/// redundancy rule (point 3 of the module docs): `(succ, why, pred)`.
fn dependencies(
    n: usize,
    edges: &[(u32, RelType, u32)],
    members: &Csr<u32>,
) -> (Csr<u32>, Vec<u32>, Csr<(u32, bool)>) {
    // Every flow pair with the edge behind it, by the CI whose failure travels.
    let mut flows: Vec<(u32, (u32, u32))> = Vec::with_capacity(edges.len() + edges.len() / 4);
    for (ei, &(f, t, d)) in edges.iter().enumerate() {
        let ei = ei as u32;
        match t.impact_flow() {
            ImpactFlow::FromToTo => flows.push((f, (d, ei))),
            ImpactFlow::ToToFrom => flows.push((d, (f, ei))),
            ImpactFlow::Both => {
                flows.push((f, (d, ei)));
                flows.push((d, (f, ei)));
            }
            ImpactFlow::None => {}
        }
    }
    let mut raw = Csr::from_pairs(n, &flows);
    drop(flows);
    // Within one source: by target, the explaining edge first — a member pair's PART_OF edge,
    // otherwise the smallest edge.
    for u in 0..n as u32 {
        raw.get_mut(u).sort_unstable_by_key(|&(v, ei)| {
            let e = edges[ei as usize];
            (v, e.1 != RelType::PartOf, e)
        });
    }
    let memberships: Vec<(u32, u32)> = (0..n as u32)
        .flat_map(|g| members.get(g).iter().map(move |&m| (m, g)))
        .collect();
    let groups_of = Csr::from_pairs(n, &memberships);
    let has_pair = |u: u32, v: u32| raw.get(u).binary_search_by_key(&v, |&(w, _)| w).is_ok();
    let mut succ = Csr {
        start: Vec::with_capacity(n + 1),
        items: Vec::with_capacity(raw.items.len()),
    };
    succ.start.push(0);
    let mut why = Vec::with_capacity(raw.items.len());
    let mut pred: Vec<(u32, (u32, bool))> = Vec::with_capacity(raw.items.len());
    for u in 0..n as u32 {
        for run in raw.get(u).chunk_by(|a, b| a.0 == b.0) {
            let v = run[0].0;
            let member = members.get(v).binary_search(&u).is_ok();
            // A plain dependency of v on u, where v also depends on a group u belongs to.
            let subsumed = !member
                && run.iter().all(|&(_, ei)| is_dependency(edges[ei as usize].1))
                && groups_of.get(u).iter().any(|&g| g != v && has_pair(g, v));
            if !subsumed {
                succ.items.push(v);
                why.push(run[0].1);
                pred.push((v, (u, member)));
            }
        }
        succ.start.push(succ.items.len() as u32);
    }
    // Pushed in source order, so each CI's predecessors come out sorted.
    let pred = Csr::from_pairs(n, &pred);
    (succ, why, pred)
}
