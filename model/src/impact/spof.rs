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
    let n = c.len();
    // Upstream distance of every CI from the service: the candidates.
    let mut up = vec![None; n];
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
    let mut down = vec![false; n];
    let mut parent: Vec<u32> = vec![u32::MAX; n];
    let mut lost = vec![0u32; n];
    let mut touched: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    for cand in 0..n as u32 {
        let Some(depth) = up[cand as usize] else {
            continue;
        };
        if cand == s || c.is_group(cand) {
            continue;
        }
        down[cand as usize] = true;
        touched.push(cand);
        let mut queue = VecDeque::from([cand]);
        'sim: while let Some(u) = queue.pop_front() {
            for &v in c.succ(u) {
                if down[v as usize] || up[v as usize].is_none() {
                    continue;
                }
                let member = c.members(v).binary_search(&u).is_ok();
                let falls = if member {
                    lost[v as usize] += 1;
                    touched.push(v);
                    let total = c.members(v).len() as u32;
                    total - lost[v as usize] < c.min_up[v as usize]
                } else {
                    true
                };
                if falls {
                    down[v as usize] = true;
                    parent[v as usize] = u;
                    touched.push(v);
                    if v == s {
                        break 'sim;
                    }
                    queue.push_back(v);
                }
            }
        }
        if down[s as usize] {
            let mut path = vec![c.id(s)];
            let mut v = s;
            while v != cand {
                v = parent[v as usize];
                path.push(c.id(v));
            }
            path.reverse();
            out.push(SinglePointOfFailure {
                id: c.id(cand),
                class: c.class[cand as usize],
                depth,
                path,
            });
        }
        for &t in &touched {
            down[t as usize] = false;
            lost[t as usize] = 0;
            parent[t as usize] = u32::MAX;
        }
        touched.clear();
    }
    out.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    out
}
