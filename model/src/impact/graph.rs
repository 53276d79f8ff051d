//! The engine's input ([`ImpactGraph`]) and its compiled, integer-indexed form.
//!
//! Compiling does three things once per question, so the algorithms that follow work on plain
//! `u32` arrays:
//! 1. numbers CIs in id order (so "sorted by index" is "sorted by id": determinism for free);
//! 2. turns each relationship into the directed "failure of u affects v" pairs of its type's
//!    [`ImpactFlow`], keeping for each pair the relationship that explains it;
//! 3. applies the redundancy rules: a CI with incoming PART_OF edges is a *group* whose members
//!    are those edges' sources; a dependency of `v` on a member of a group that `v` also
//!    depends on is dropped, because `v` reaches that member through the group (a load
//!    balancer that CONNECTS_TO three backends of a 1-of-3 pool loses a backend, not itself).

use std::collections::HashMap;

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

    /// The targets of PART_OF edges: the groups whose rules and full edge lists a loader must
    /// supply.
    pub fn groups_in(edges: &[GraphEdge]) -> Vec<CiId> {
        let mut g: Vec<CiId> = edges
            .iter()
            .filter(|e| e.rel_type == RelType::PartOf && e.from != e.to)
            .map(|e| e.to.clone())
            .collect();
        g.sort();
        g.dedup();
        g
    }
}

/// Whether failure of the depended-upon CI travels to the dependant (RUNS_ON, CONNECTS_TO,
/// DEPENDS_ON): the relationships a group stands in for.
fn is_dependency(t: RelType) -> bool {
    t.impact_flow() == ImpactFlow::ToToFrom
}

pub(crate) struct Compiled<'a> {
    pub ids: Vec<&'a CiId>,
    pub index: HashMap<&'a CiId, u32>,
    pub class: Vec<Option<CiClass>>,
    /// Failure of `u` affects each of `succ[u]` (sorted, deduplicated).
    pub succ: Vec<Vec<u32>>,
    /// `(u, is_member)` for each `u` whose failure affects `v` (sorted).
    pub pred: Vec<Vec<(u32, bool)>>,
    /// Members of each group (empty for non-groups), sorted.
    pub members: Vec<Vec<u32>>,
    /// Members that must be up, for groups (`members.len()` when the group declares none).
    pub min_up: Vec<u32>,
    /// Members up at or below which a group that lost some is AT_RISK (default `min_up`).
    pub at_risk_up: Vec<u32>,
    /// The relationship that explains each pair (the smallest one, for determinism).
    pub why: HashMap<(u32, u32), &'a GraphEdge>,
}

impl<'a> Compiled<'a> {
    pub fn new(g: &'a ImpactGraph, extra: &'a [CiId]) -> Self {
        let mut ids: Vec<&CiId> = g
            .edges
            .iter()
            .flat_map(|e| [&e.from, &e.to])
            .chain(extra.iter())
            .collect();
        ids.sort();
        ids.dedup();
        let index: HashMap<&CiId, u32> = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect();
        let n = ids.len();
        let class = ids.iter().map(|id| g.classes.get(*id).copied()).collect();

        // Every pair with the relationships behind it.
        let mut pairs: HashMap<(u32, u32), Vec<&GraphEdge>> = HashMap::new();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); n];
        for e in &g.edges {
            if e.from == e.to {
                continue;
            }
            let (f, t) = (index[&e.from], index[&e.to]);
            if e.rel_type == RelType::PartOf {
                members[t as usize].push(f);
            }
            let flow = match e.rel_type.impact_flow() {
                ImpactFlow::FromToTo => [Some((f, t)), None],
                ImpactFlow::ToToFrom => [Some((t, f)), None],
                ImpactFlow::Both => [Some((f, t)), Some((t, f))],
                ImpactFlow::None => [None, None],
            };
            for p in flow.into_iter().flatten() {
                pairs.entry(p).or_default().push(e);
            }
        }
        for m in &mut members {
            m.sort_unstable();
            m.dedup();
        }
        // Which groups each CI is a member of.
        let mut groups_of: HashMap<u32, Vec<u32>> = HashMap::new();
        for (gi, ms) in members.iter().enumerate() {
            for &m in ms {
                groups_of.entry(m).or_default().push(gi as u32);
            }
        }
        let is_member_pair = |u: u32, v: u32| members[v as usize].binary_search(&u).is_ok();
        // Redundancy: drop u→v when it is a plain dependency of v on u and v also depends on a
        // group u belongs to.
        let subsumed = |&(u, v): &(u32, u32), rels: &Vec<&GraphEdge>| {
            !is_member_pair(u, v)
                && rels.iter().all(|e| is_dependency(e.rel_type))
                && groups_of.get(&u).is_some_and(|gs| {
                    gs.iter()
                        .any(|&grp| grp != v && pairs.contains_key(&(grp, v)))
                })
        };
        let kept: Vec<((u32, u32), &GraphEdge)> = pairs
            .iter()
            .filter(|(p, rels)| !subsumed(p, rels))
            .map(|(p, rels)| {
                // Explain a member pair by its PART_OF edge, otherwise by the smallest edge.
                let why = rels
                    .iter()
                    .filter(|e| e.rel_type == RelType::PartOf)
                    .min()
                    .or_else(|| rels.iter().min())
                    .copied();
                (*p, why.unwrap_or(rels[0]))
            })
            .collect();
        let mut succ: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<(u32, bool)>> = vec![Vec::new(); n];
        let mut why = HashMap::with_capacity(kept.len());
        for ((u, v), e) in kept {
            succ[u as usize].push(v);
            pred[v as usize].push((u, is_member_pair(u, v)));
            why.insert((u, v), e);
        }
        for s in &mut succ {
            s.sort_unstable();
        }
        for p in &mut pred {
            p.sort_unstable();
        }
        let rule = |i: usize| g.rules.get(ids[i]).copied().unwrap_or_default();
        let min_up = members
            .iter()
            .enumerate()
            .map(|(i, ms)| rule(i).min_up_of(ms.len() as u32))
            .collect();
        let at_risk_up = members
            .iter()
            .enumerate()
            .map(|(i, ms)| rule(i).at_risk_up_of(ms.len() as u32))
            .collect();
        Compiled {
            ids,
            index,
            class,
            succ,
            pred,
            members,
            min_up,
            at_risk_up,
            why,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_group(&self, v: u32) -> bool {
        !self.members[v as usize].is_empty()
    }

    pub fn id(&self, v: u32) -> CiId {
        self.ids[v as usize].clone()
    }

    pub fn edge(&self, u: u32, v: u32) -> GraphEdge {
        self.why[&(u, v)].clone()
    }
}
