//! In-memory adjacency of ACTIVE relationships, for traversals without touching SQLite.
//!
//! CI ids are interned to `u32`; each node keeps its outgoing and incoming edges with their
//! type. Rebuilt at open, then patched after every committed write for the CIs it touched —
//! this process's writes from their delta, other processes' from the `graph_changes` log
//! (see `graph_changes.rs`).

use std::collections::{HashMap, VecDeque};

use cmdb_model::impact::{GroupCompletion, GroupRule, NodeGraph};
use cmdb_model::{CiClass, CiId, ImpactFlow, RelType};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::types::{Reached, TraverseDirection};

#[derive(Default)]
pub struct Adjacency {
    index: HashMap<Box<str>, u32>,
    ids: Vec<Box<str>>,
    out: Vec<Vec<(u32, RelType)>>,
    inc: Vec<Vec<(u32, RelType)>>,
    /// Class of each interned CI, so impact questions need no database read to tell services
    /// and groups from the rest.
    class: Vec<Option<CiClass>>,
    /// Groups' redundancy rules read so far (`None`: the CI declares none), so an impact
    /// question reads no CI row once its groups were seen. Forgotten whenever the CI is
    /// written (every CI write sets its class or re-reads its node, below).
    rules: Mutex<FxHashMap<u32, Option<GroupRule>>>,
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
        let n = self.ids.len() as u32;
        let b: Box<str> = id.into();
        self.index.insert(b.clone(), n);
        self.ids.push(b);
        self.out.push(Vec::new());
        self.inc.push(Vec::new());
        self.class.push(None);
        n
    }

    pub fn set_class(&mut self, id: &str, class: CiClass) {
        let n = self.intern(id);
        self.class[n as usize] = Some(class);
        self.rules.get_mut().remove(&n);
    }

    /// Set or forget (the CI is gone) the class of `id`.
    pub fn set_class_opt(&mut self, id: &str, class: Option<CiClass>) {
        match class {
            Some(c) => self.set_class(id, c),
            None => {
                if let Some(&n) = self.index.get(id) {
                    self.class[n as usize] = None;
                    self.rules.get_mut().remove(&n);
                }
            }
        }
    }

    /// CIs interned so far (with a class or an edge).
    pub fn node_count(&self) -> usize {
        self.ids.len()
    }

    pub fn add(&mut self, from: &str, t: RelType, to: &str) {
        let (f, d) = (self.intern(from), self.intern(to));
        if !self.out[f as usize].contains(&(d, t)) {
            self.out[f as usize].push((d, t));
            self.inc[d as usize].push((f, t));
        }
    }

    pub fn remove(&mut self, from: &str, t: RelType, to: &str) {
        let (Some(&f), Some(&d)) = (self.index.get(from), self.index.get(to)) else {
            return;
        };
        self.out[f as usize].retain(|e| *e != (d, t));
        self.inc[d as usize].retain(|e| *e != (f, t));
    }

    /// Forget every edge touching `id` (it will be re-added from the database).
    pub fn clear_node(&mut self, id: &str) {
        let Some(&n) = self.index.get(id) else { return };
        self.rules.get_mut().remove(&n);
        let outs = std::mem::take(&mut self.out[n as usize]);
        for (d, t) in outs {
            self.inc[d as usize].retain(|e| *e != (n, t));
        }
        let ins = std::mem::take(&mut self.inc[n as usize]);
        for (f, t) in ins {
            self.out[f as usize].retain(|e| *e != (n, t));
        }
    }

    /// The same edges and classes (by id, whatever the interning order)?
    pub fn same_as(&self, other: &Adjacency) -> bool {
        fn flat(a: &Adjacency) -> (Vec<(&str, RelType, &str)>, Vec<(&str, CiClass)>) {
            let mut edges: Vec<(&str, RelType, &str)> = Vec::new();
            let mut classes = Vec::new();
            for (n, outs) in a.out.iter().enumerate() {
                for &(d, t) in outs {
                    edges.push((&a.ids[n], t, &a.ids[d as usize]));
                }
                if let Some(c) = a.class[n] {
                    classes.push((&*a.ids[n], c));
                }
            }
            edges.sort_by(|x, y| (x.0, x.1.as_str(), x.2).cmp(&(y.0, y.1.as_str(), y.2)));
            classes.sort_by(|x, y| x.0.cmp(y.0));
            (edges, classes)
        }
        flat(self) == flat(other)
    }

    pub fn edge_count(&self) -> usize {
        self.out.iter().map(Vec::len).sum()
    }

    /// Neighbours of `n` one step along (or against) impact flow, with the edge used as
    /// (from, type, to).
    fn step(
        &self,
        n: u32,
        dir: TraverseDirection,
        types: &[RelType],
        mut f: impl FnMut(u32, (u32, RelType, u32)),
    ) {
        let allowed = |t: RelType| types.is_empty() || types.contains(&t);
        for &(d, t) in &self.out[n as usize] {
            if !allowed(t) {
                continue;
            }
            let flow = t.impact_flow();
            let follows = match dir {
                TraverseDirection::Downstream => {
                    matches!(flow, ImpactFlow::FromToTo | ImpactFlow::Both)
                }
                TraverseDirection::Upstream => {
                    matches!(flow, ImpactFlow::ToToFrom | ImpactFlow::Both)
                }
            };
            if follows {
                f(d, (n, t, d));
            }
        }
        for &(s, t) in &self.inc[n as usize] {
            if !allowed(t) {
                continue;
            }
            let flow = t.impact_flow();
            let follows = match dir {
                TraverseDirection::Downstream => {
                    matches!(flow, ImpactFlow::ToToFrom | ImpactFlow::Both)
                }
                TraverseDirection::Upstream => {
                    matches!(flow, ImpactFlow::FromToTo | ImpactFlow::Both)
                }
            };
            if follows {
                f(s, (s, t, n));
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
        let mut seen: HashMap<u32, ()> = HashMap::new();
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
            let mut next = Vec::new();
            self.step(n, dir, types, |m, _| next.push(m));
            for m in next {
                if seen.insert(m, ()).is_none() {
                    out.push(Reached {
                        id: CiId(self.ids[m as usize].to_string()),
                        depth: depth + 1,
                        via: Some(CiId(self.ids[n as usize].to_string())),
                    });
                    queue.push_back((m, depth + 1));
                }
            }
        }
        out
    }

    /// Every edge crossed when walking downstream from `start` up to `max_depth` hops.
    pub fn impact_edges(&self, start: &[CiId], max_depth: u32) -> Vec<(String, RelType, String)> {
        let mut seen: HashMap<u32, ()> = HashMap::new();
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
            let mut next = Vec::new();
            self.step(n, TraverseDirection::Downstream, &[], |m, e| {
                next.push((m, e))
            });
            for (m, e) in next {
                if edge_seen.insert(e) {
                    edges.push((
                        self.ids[e.0 as usize].to_string(),
                        e.1,
                        self.ids[e.2 as usize].to_string(),
                    ));
                }
                if seen.insert(m, ()).is_none() {
                    queue.push_back((m, depth + 1));
                }
            }
        }
        edges
    }

    /// The impact subgraph of `start` by number, for the engine (`cmdb_model::impact`): every
    /// edge crossed walking downstream up to `max_depth` hops, completed with every edge of each
    /// group in it ([`GroupCompletion`]), each CI with its class. Start CIs the index does not
    /// know are nodes without edges. Rules are left to the caller (see [`Self::cached_rules`]).
    pub fn impact_subgraph<'a>(&'a self, start: &'a [CiId], max_depth: u32) -> ImpactSubgraph<'a> {
        let mut walk = Walk {
            adj: self,
            graph: NodeGraph::default(),
            local: FxHashMap::default(),
        };
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
        let mut completion = GroupCompletion::<u32>::default();
        loop {
            let groups = completion.next_round(crossed.iter().map(|(f, t, d)| (f, *t, d)));
            if groups.is_empty() {
                break;
            }
            crossed.clear();
            for g in groups {
                crossed.extend(self.out[g as usize].iter().map(|&(d, t)| (g, t, d)));
                crossed.extend(self.inc[g as usize].iter().map(|&(f, t)| (f, t, g)));
            }
            walk.add_edges(&crossed);
        }
        let groups = completion
            .groups()
            .map(|&g| (walk.node(g).0, g))
            .collect();
        ImpactSubgraph {
            graph: walk.graph,
            start: start_nodes,
            groups,
        }
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
                None => missing.push((node, CiId(self.ids[g as usize].to_string()))),
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
    local: FxHashMap<u32, u32>,
}

impl<'a> Walk<'a> {
    /// The graph node of adjacency node `n`, and whether it is new.
    fn node(&mut self, n: u32) -> (u32, bool) {
        let mut new = false;
        let node = *self.local.entry(n).or_insert_with(|| {
            new = true;
            self.graph
                .add_node(&self.adj.ids[n as usize], self.adj.class[n as usize])
        });
        (node, new)
    }

    fn add_edges(&mut self, edges: &[(u32, RelType, u32)]) {
        for &(f, t, d) in edges {
            let (f, d) = (self.node(f).0, self.node(d).0);
            self.graph.add_edge(f, t, d);
        }
    }
}
