//! In-memory adjacency of ACTIVE relationships, for traversals without touching SQLite.
//!
//! CI ids are interned to `u32`; each node is one record (its id, a sort key of the id, its
//! class and its edges with their type and direction), so a walk touches one cache line per
//! CI plus its edge list — walks over hubs (a core switch reaches a fifth of the estate) are
//! bound by memory latency, not by computation. Rebuilt at open, then patched after every
//! committed write for the CIs it touched — this process's writes from their delta, other
//! processes' from the `graph_changes` log (see `graph_changes.rs`).

use std::collections::{HashMap, VecDeque};

use cmdb_model::impact::{sort_key, GroupCompletion, GroupRule, NodeGraph};
use cmdb_model::{CiClass, CiId, ImpactFlow, RelType};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::types::{Reached, TraverseDirection};

/// One end of an edge as a node holds it: the other end, the type, and whether it leaves
/// this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Half {
    other: u32,
    t: RelType,
    out: bool,
}

struct Node {
    /// `sort_key(id)`: the impact engine orders CIs by id without reading the id.
    key: u128,
    id: Box<str>,
    class: Option<CiClass>,
    /// Out-edges and in-edges, each in insertion order.
    edges: Vec<Half>,
}

#[derive(Default)]
pub struct Adjacency {
    index: HashMap<Box<str>, u32>,
    nodes: Vec<Node>,
    /// Groups' redundancy rules read so far (`None`: the CI declares none), so an impact
    /// question reads no CI row once its groups were seen. Forgotten whenever the CI is
    /// written (every CI write sets its class or re-reads its node, below).
    rules: Mutex<FxHashMap<u32, Option<GroupRule>>>,
    /// Node → impact-subgraph node + 1 (0: not in it), one per concurrent walk, all zero
    /// between walks: a dense map instead of hashing every node reached.
    scratch: Mutex<Vec<Vec<u32>>>,
}

/// The impact subgraph of some CIs by number (see [`Adjacency::impact_subgraph`]).
pub struct ImpactSubgraph<'a> {
    pub graph: NodeGraph<'a>,
    /// The start CIs' nodes in `graph`.
    pub start: Vec<u32>,
    /// The groups completed, as (node in `graph`, adjacency number): their rules are needed.
    pub groups: Vec<(u32, u32)>,
}

impl Adjacency {
    fn intern(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.index.get(id) {
            return n;
        }
        let n = self.nodes.len() as u32;
        let b: Box<str> = id.into();
        self.index.insert(b.clone(), n);
        self.nodes.push(Node {
            key: sort_key(id),
            id: b,
            class: None,
            edges: Vec::new(),
        });
        n
    }

    pub fn set_class(&mut self, id: &str, class: CiClass) {
        let n = self.intern(id);
        self.nodes[n as usize].class = Some(class);
        self.rules.get_mut().remove(&n);
    }

    /// Set or forget (the CI is gone) the class of `id`.
    pub fn set_class_opt(&mut self, id: &str, class: Option<CiClass>) {
        match class {
            Some(c) => self.set_class(id, c),
            None => {
                if let Some(&n) = self.index.get(id) {
                    self.nodes[n as usize].class = None;
                    self.rules.get_mut().remove(&n);
                }
            }
        }
    }

    /// CIs interned so far (with a class or an edge).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn id(&self, n: u32) -> &str {
        &self.nodes[n as usize].id
    }

    /// Out-edges of `n` as (to, type), then in-edges as (from, type).
    fn outs(&self, n: u32) -> impl Iterator<Item = (u32, RelType)> + '_ {
        let e = &self.nodes[n as usize].edges;
        e.iter().filter(|h| h.out).map(|h| (h.other, h.t))
    }

    fn ins(&self, n: u32) -> impl Iterator<Item = (u32, RelType)> + '_ {
        let e = &self.nodes[n as usize].edges;
        e.iter().filter(|h| !h.out).map(|h| (h.other, h.t))
    }

    pub fn add(&mut self, from: &str, t: RelType, to: &str) {
        let (f, d) = (self.intern(from), self.intern(to));
        let out = Half {
            other: d,
            t,
            out: true,
        };
        if !self.nodes[f as usize].edges.contains(&out) {
            self.nodes[f as usize].edges.push(out);
            self.nodes[d as usize].edges.push(Half {
                other: f,
                t,
                out: false,
            });
        }
    }

    pub fn remove(&mut self, from: &str, t: RelType, to: &str) {
        let (Some(&f), Some(&d)) = (self.index.get(from), self.index.get(to)) else {
            return;
        };
        self.unlink(f, Half { other: d, t, out: true });
    }

    /// Drop `h` from `n` and its mirror from the other end.
    fn unlink(&mut self, n: u32, h: Half) {
        self.nodes[n as usize].edges.retain(|e| *e != h);
        let mirror = Half {
            other: n,
            t: h.t,
            out: !h.out,
        };
        self.nodes[h.other as usize].edges.retain(|e| *e != mirror);
    }

    /// Forget every edge touching `id` (it will be re-added from the database).
    pub fn clear_node(&mut self, id: &str) {
        let Some(&n) = self.index.get(id) else { return };
        self.rules.get_mut().remove(&n);
        for h in std::mem::take(&mut self.nodes[n as usize].edges) {
            self.unlink(n, h);
        }
    }

    /// The same edges and classes (by id, whatever the interning order)?
    pub fn same_as(&self, other: &Adjacency) -> bool {
        type Flat<'a> = (Vec<(&'a str, RelType, &'a str)>, Vec<(&'a str, CiClass)>);
        fn flat(a: &Adjacency) -> Flat<'_> {
            let mut edges: Vec<(&str, RelType, &str)> = Vec::new();
            let mut classes = Vec::new();
            for n in 0..a.nodes.len() as u32 {
                for (d, t) in a.outs(n) {
                    edges.push((a.id(n), t, a.id(d)));
                }
                if let Some(c) = a.nodes[n as usize].class {
                    classes.push((a.id(n), c));
                }
            }
            edges.sort_by(|x, y| (x.0, x.1.as_str(), x.2).cmp(&(y.0, y.1.as_str(), y.2)));
            classes.sort_by(|x, y| x.0.cmp(y.0));
            (edges, classes)
        }
        flat(self) == flat(other)
    }

    pub fn edge_count(&self) -> usize {
        self.nodes
            .iter()
            .map(|n| n.edges.iter().filter(|h| h.out).count())
            .sum()
    }

    /// Neighbours of `n` one step along (or against) impact flow, with the edge used as
    /// (from, type, to): out-edges first, then in-edges.
    fn step(
        &self,
        n: u32,
        dir: TraverseDirection,
        types: &[RelType],
        mut f: impl FnMut(u32, (u32, RelType, u32)),
    ) {
        let allowed = |t: RelType| types.is_empty() || types.contains(&t);
        // Along an out-edge, downstream follows FromToTo; along an in-edge, ToToFrom.
        let follows = |t: RelType, out: bool| {
            let along = match t.impact_flow() {
                ImpactFlow::Both => return true,
                ImpactFlow::None => return false,
                ImpactFlow::FromToTo => out,
                ImpactFlow::ToToFrom => !out,
            };
            along == (dir == TraverseDirection::Downstream)
        };
        let edges = &self.nodes[n as usize].edges;
        for pass_out in [true, false] {
            for h in edges.iter().filter(|h| h.out == pass_out) {
                if allowed(h.t) && follows(h.t, h.out) {
                    let e = if h.out {
                        (n, h.t, h.other)
                    } else {
                        (h.other, h.t, n)
                    };
                    f(h.other, e);
                }
            }
        }
    }

    /// Breadth-first from `start`; each reached CI once, at its shortest depth, in BFS order
    /// (ties broken by adjacency order, which is stable for a given database).
    pub fn traverse(
        &self,
        start: &[CiId],
        dir: TraverseDirection,
        max_depth: u32,
        types: &[RelType],
    ) -> Vec<Reached> {
        let mut seen: FxHashMap<u32, ()> = FxHashMap::default();
        let mut queue = VecDeque::new();
        for s in start {
            if let Some(&n) = self.index.get(s.as_str()) {
                if seen.insert(n, ()).is_none() {
                    queue.push_back((n, 0u32));
                }
            }
        }
        let mut out = Vec::new();
        while let Some((n, depth)) = queue.pop_front() {
            if depth >= max_depth {
                continue;
            }
            self.step(n, dir, types, |m, _| {
                if seen.insert(m, ()).is_none() {
                    out.push(Reached {
                        id: CiId(self.id(m).to_string()),
                        depth: depth + 1,
                        via: Some(CiId(self.id(n).to_string())),
                    });
                    queue.push_back((m, depth + 1));
                }
            });
        }
        out
    }

    /// Every edge crossed when walking downstream from `start` up to `max_depth` hops.
    pub fn impact_edges(&self, start: &[CiId], max_depth: u32) -> Vec<(String, RelType, String)> {
        let mut seen: FxHashMap<u32, ()> = FxHashMap::default();
        let mut queue = VecDeque::new();
        for s in start {
            if let Some(&n) = self.index.get(s.as_str()) {
                if seen.insert(n, ()).is_none() {
                    queue.push_back((n, 0u32));
                }
            }
        }
        let mut edges = Vec::new();
        let mut edge_seen = std::collections::HashSet::new();
        while let Some((n, depth)) = queue.pop_front() {
            if depth >= max_depth {
                continue;
            }
            self.step(n, TraverseDirection::Downstream, &[], |m, e| {
                if edge_seen.insert(e) {
                    edges.push((self.id(e.0).to_string(), e.1, self.id(e.2).to_string()));
                }
                if seen.insert(m, ()).is_none() {
                    queue.push_back((m, depth + 1));
                }
            });
        }
        edges
    }

    /// The impact subgraph of `start` by number, for the engine (`cmdb_model::impact`): every
    /// edge crossed walking downstream up to `max_depth` hops, completed with every edge of each
    /// group in it ([`GroupCompletion`]), each CI with its class. Start CIs the index does not
    /// know are nodes without edges. Rules are left to the caller (see [`Self::cached_rules`]).
    pub fn impact_subgraph<'a>(&'a self, start: &'a [CiId], max_depth: u32) -> ImpactSubgraph<'a> {
        let mut walk = Walk::new(self);
        let mut start_nodes = Vec::with_capacity(start.len());
        let mut queue = VecDeque::new();
        let mut crossed: Vec<(u32, RelType, u32)> = Vec::new();
        let mut unknown: FxHashMap<&str, u32> = FxHashMap::default();
        for s in start {
            match self.index.get(s.as_str()) {
                Some(&n) => {
                    let (node, new) = walk.node(n);
                    start_nodes.push(node);
                    if new {
                        queue.push_back((n, 0u32));
                    }
                }
                None => {
                    let node = *unknown
                        .entry(s.as_str())
                        .or_insert_with(|| walk.graph.add_node(s.as_str(), None));
                    start_nodes.push(node);
                }
            }
        }
        while let Some((n, depth)) = queue.pop_front() {
            if depth >= max_depth {
                continue;
            }
            self.step(n, TraverseDirection::Downstream, &[], |m, e| {
                crossed.push(e);
                if walk.node(m).1 {
                    queue.push_back((m, depth + 1));
                }
            });
        }
        walk.add_edges(&crossed);
        let groups = self.complete_groups(&mut walk, crossed);
        ImpactSubgraph {
            graph: walk.finish(),
            start: start_nodes,
            groups,
        }
    }

    /// Add every edge of each group among `crossed` (and of groups those reveal) to `walk`;
    /// the groups as (graph node, adjacency number).
    fn complete_groups(&self, walk: &mut Walk<'_>, mut crossed: Vec<(u32, RelType, u32)>) -> Vec<(u32, u32)> {
        let mut completion = GroupCompletion::<u32>::default();
        loop {
            let groups = completion.next_round(crossed.iter().map(|(f, t, d)| (f, *t, d)));
            if groups.is_empty() {
                break;
            }
            crossed.clear();
            for g in groups {
                crossed.extend(self.outs(g).map(|(d, t)| (g, t, d)));
                crossed.extend(self.ins(g).map(|(f, t)| (f, t, g)));
            }
            walk.add_edges(&crossed);
        }
        completion.groups().map(|&g| (walk.node(g).0, g)).collect()
    }

    /// The rules of `groups` (adjacency numbers) known without reading the database, and the
    /// ids of those to read (then [`Self::remember_rules`]).
    pub fn cached_rules(&self, groups: &[(u32, u32)]) -> (Vec<(u32, GroupRule)>, Vec<(u32, CiId)>) {
        let cache = self.rules.lock();
        let (mut known, mut missing) = (Vec::new(), Vec::new());
        for &(node, g) in groups {
            match cache.get(&g) {
                Some(Some(rule)) => known.push((node, *rule)),
                Some(None) => {}
                None => missing.push((node, CiId(self.id(g).to_string()))),
            }
        }
        (known, missing)
    }

    /// Keep rules read from the database (`None`: the CI declares none).
    pub fn remember_rules(&self, read: impl IntoIterator<Item = (CiId, Option<GroupRule>)>) {
        let mut cache = self.rules.lock();
        for (id, rule) in read {
            if let Some(&n) = self.index.get(id.as_str()) {
                cache.insert(n, rule);
            }
        }
    }
}

/// The nodes of an impact subgraph being built, by adjacency number.
struct Walk<'a> {
    adj: &'a Adjacency,
    graph: NodeGraph<'a>,
    /// Adjacency node → graph node + 1 (see `Adjacency::scratch`).
    local: Vec<u32>,
    /// Adjacency nodes in the graph, in graph order (to clear `local` after).
    reached: Vec<u32>,
}

impl<'a> Walk<'a> {
    fn new(adj: &'a Adjacency) -> Self {
        let mut local = adj.scratch.lock().pop().unwrap_or_default();
        local.resize(adj.nodes.len(), 0);
        Walk {
            adj,
            graph: NodeGraph::default(),
            local,
            reached: Vec::new(),
        }
    }

    /// The graph node of adjacency node `n`, and whether it is new.
    fn node(&mut self, n: u32) -> (u32, bool) {
        match self.local[n as usize] {
            0 => {
                let rec = &self.adj.nodes[n as usize];
                let node = self.graph.add_node_keyed(&rec.id, rec.key, rec.class);
                self.local[n as usize] = node + 1;
                self.reached.push(n);
                (node, true)
            }
            l => (l - 1, false),
        }
    }

    fn add_edges(&mut self, edges: &[(u32, RelType, u32)]) {
        for &(f, t, d) in edges {
            let (f, d) = (self.node(f).0, self.node(d).0);
            self.graph.add_edge(f, t, d);
        }
    }

    /// The graph; the scratch map cleared and returned for the next walk.
    fn finish(mut self) -> NodeGraph<'a> {
        for &n in &self.reached {
            self.local[n as usize] = 0;
        }
        self.adj.scratch.lock().push(std::mem::take(&mut self.local));
        self.graph
    }
}
