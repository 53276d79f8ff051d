//! Single points of failure of a business service: the CIs whose failure alone makes it DOWN,
//! redundancy respected.
//!
//! Without groups every CI upstream of a service would qualify (failure travels along any
//! dependency), so the interesting part is redundancy: a backend of a 1-of-3 pool is not a
//! single point of failure, but the host all three backends run on is (it takes all members
//! down at once), and so is the switch that host hangs off. Dominator trees answer "every path
//! goes through X" questions; here a group needs `n − k + 1` DOWN members, which is a counting
//! rule rather than a path rule, so each candidate is simulated directly: DOWN is propagated
//! from the candidate alone (only DOWN matters), stopping as soon as the service is DOWN.
//! Cost: O(candidates × edges of the service's dependency graph) in the worst case; each
//! simulation touches only what the candidate reaches.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::graph::Compiled;
use super::ImpactGraph;
use crate::class::CiClass;
use crate::ids::CiId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinglePointOfFailure {
    pub id: CiId,
    pub class: Option<CiClass>,
    /// Hops between it and the service along the dependency graph (shortest).
    pub depth: u32,
    /// One chain `this CI, …, service` along which its failure takes the service down.
    pub path: Vec<CiId>,
}

/// The single points of failure of `service` in `g`, which must hold the service's upstream
/// dependency graph (every relationship among the CIs whose failure can reach it, plus the
/// complete relationships of every group among them). Groups themselves are not candidates:
/// a pool or cluster fails only through its members. Ordered by (depth, id).
pub fn single_points_of_failure(g: &ImpactGraph, service: &CiId) -> Vec<SinglePointOfFailure> {
    let extra = [service.clone()];
    let c = Compiled::from_ids(g, &extra);
    let Some(s) = c.index_of(service.as_str()) else {
        return Vec::new();
    };
    let up = upstream_distances(&c, s);
    let mut sim = Simulation::new(&c, s, &up);
    let mut out = Vec::new();
    for cand in 0..c.len() as u32 {
        let Some(depth) = up[cand as usize] else {
            continue;
        };
        if cand == s || c.is_group(cand) {
            continue;
        }
        if let Some(path) = sim.takes_down(cand) {
            out.push(SinglePointOfFailure {
                id: c.id(cand),
                class: c.class[cand as usize],
                depth,
                path,
            });
        }
    }
    out.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    out
}

/// Upstream distance of every CI from the service `s`: the candidates.
fn upstream_distances(c: &Compiled, s: u32) -> Vec<Option<u32>> {
    let mut up = vec![None; c.len()];
    up[s as usize] = Some(0u32);
    let mut queue = VecDeque::from([s]);
    while let Some(v) = queue.pop_front() {
        let dv = up[v as usize].unwrap_or(0);
        for &(u, _) in c.pred(v) {
            if up[u as usize].is_none() {
                up[u as usize] = Some(dv + 1);
                queue.push_back(u);
            }
        }
    }
    up
}

/// DOWN propagated from one candidate at a time, with its scratch state reset after each.
struct Simulation<'c, 'a> {
    c: &'c Compiled<'a>,
    service: u32,
    up: &'c [Option<u32>],
    down: Vec<bool>,
    parent: Vec<u32>,
    lost: Vec<u32>,
    touched: Vec<u32>,
}

impl<'c, 'a> Simulation<'c, 'a> {
    fn new(c: &'c Compiled<'a>, service: u32, up: &'c [Option<u32>]) -> Self {
        let n = c.len();
        Simulation {
            c,
            service,
            up,
            down: vec![false; n],
            parent: vec![u32::MAX; n],
            lost: vec![0; n],
            touched: Vec::new(),
        }
    }

    /// The chain `cand, …, service` if `cand` failing alone takes the service DOWN.
    fn takes_down(&mut self, cand: u32) -> Option<Vec<CiId>> {
        let s = self.service;
        self.propagate(cand);
        let path = self.down[s as usize].then(|| {
            let mut path = vec![self.c.id(s)];
            let mut v = s;
            while v != cand {
                v = self.parent[v as usize];
                path.push(self.c.id(v));
            }
            path.reverse();
            path
        });
        for &t in &self.touched {
            self.down[t as usize] = false;
            self.lost[t as usize] = 0;
            self.parent[t as usize] = u32::MAX;
        }
        self.touched.clear();
        path
    }

    /// DOWN from `cand` along the service's dependency graph, stopping once the service falls.
    fn propagate(&mut self, cand: u32) {
        let c = self.c;
        self.down[cand as usize] = true;
        self.touched.push(cand);
        let mut queue = VecDeque::from([cand]);
        while let Some(u) = queue.pop_front() {
            for &v in c.succ(u) {
                if self.down[v as usize] || self.up[v as usize].is_none() {
                    continue;
                }
                let falls = if c.members(v).binary_search(&u).is_ok() {
                    self.lost[v as usize] += 1;
                    self.touched.push(v);
                    c.members(v).len() as u32 - self.lost[v as usize] < c.min_up[v as usize]
                } else {
                    true
                };
                if falls {
                    self.down[v as usize] = true;
                    self.parent[v as usize] = u;
                    self.touched.push(v);
                    if v == self.service {
                        return;
                    }
                    queue.push_back(v);
                }
            }
        }
    }
}
