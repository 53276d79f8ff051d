//! Impact questions answered from the in-memory adjacency index by number: the walk, group
//! completion and the engine run on interned `u32` nodes under one read of the index, and the
//! only database reads are the redundancy rules of groups not seen before (then cached in the
//! index until the CI is written again).

use std::sync::atomic::Ordering;

use cmdb_model::impact::{self, GroupRule, ImpactGraph, ImpactOptions, ImpactReport, NodeGraph};
use cmdb_model::CiId;

use super::view::get_ci;
use super::EmbeddedStore;
use crate::adjacency::Adjacency;
use crate::StoreError;

impl EmbeddedStore {
    /// [`crate::GraphStore::impact`] on this store.
    pub(super) fn impact_blocking(
        &self,
        failing: &[CiId],
        opts: &ImpactOptions,
    ) -> Result<ImpactReport, StoreError> {
        self.with_impact_subgraph(failing, opts.max_depth, |g, start| {
            impact::evaluate_nodes(g, start, opts)
        })
    }

    /// [`crate::GraphStore::impact_graph`] on this store.
    pub(super) fn impact_graph_blocking(
        &self,
        start: &[CiId],
        max_depth: u32,
    ) -> Result<ImpactGraph, StoreError> {
        self.with_impact_subgraph(start, max_depth, |g, _| g.to_impact_graph())
    }

    /// Run `f` over the impact subgraph of `start` (with the groups' rules), holding the index.
    fn with_impact_subgraph<T>(
        &self,
        start: &[CiId],
        max_depth: u32,
        f: impl FnOnce(NodeGraph<'_>, &[u32]) -> T,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        self.sync()?;
        let st = self.adjacency.read();
        let mut sub = st.adj.impact_subgraph(start, max_depth);
        for (node, rule) in self.group_rules(&st.adj, &sub.groups)? {
            sub.graph.set_rule(node, rule);
        }
        Ok(f(sub.graph, &sub.start))
    }

    /// The rules of `groups` ((graph node, adjacency number)): from the index's cache, reading
    /// the CIs not seen before.
    fn group_rules(
        &self,
        adj: &Adjacency,
        groups: &[(u32, u32)],
    ) -> Result<Vec<(u32, GroupRule)>, StoreError> {
        let (mut known, missing) = adj.cached_rules(groups);
        if missing.is_empty() {
            return Ok(known);
        }
        let read = self.read(|c| {
            missing
                .iter()
                .map(|(node, id)| {
                    let rule = get_ci(c, id.as_str())?.and_then(|ci| GroupRule::of(&ci));
                    Ok((*node, id.clone(), rule))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        known.extend(read.iter().filter_map(|(node, _, r)| Some((*node, (*r)?))));
        adj.remember_rules(read.into_iter().map(|(_, id, r)| (id, r)));
        Ok(known)
    }
}

#[cfg(test)]
mod tests {
    use cmdb_model::impact::{evaluate, ImpactOptions};
    use cmdb_model::synthetic::{enterprise, EnterpriseSpec, Rng};

    use crate::{analysis, EmbeddedOptions, EmbeddedStore, GraphStore};

    /// The answer by number from the index equals the engine's answer over the graph loaded by
    /// id through the contract (`impact_subgraph` + `analysis::complete_graph`, what the Neo4j
    /// backend does), on an estate with pools, clusters, nested groups and LINKED_TO cycles:
    /// single failures (every hub and a sample) and combined ones, at several depths.
    #[tokio::test(flavor = "multi_thread")]
    async fn by_number_equals_by_id_through_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("db"), EmbeddedOptions::default()).unwrap();
        let mut spec = EnterpriseSpec::new(4_000);
        spec.services = 30;
        let e = enterprise(&spec);
        store
            .load_snapshot(&crate::snapshot::Snapshot {
                cis: e.cis.clone(),
                relationships: e.relationships.clone(),
                ..Default::default()
            })
            .unwrap();
        let ids = e.non_service_ids();
        let mut rng = Rng::new(7);
        let mut cases: Vec<Vec<cmdb_model::CiId>> = e.hubs.iter().map(|(_, h)| vec![h.clone()]).collect();
        for _ in 0..150 {
            cases.push(vec![ids[rng.below(ids.len() as u64) as usize].clone()]);
        }
        for _ in 0..30 {
            let k = 2 + rng.below(3) as usize;
            cases.push((0..k).map(|_| ids[rng.below(ids.len() as u64) as usize].clone()).collect());
        }
        cases.push(vec!["ci_not_in_the_store".into()]);
        for (i, failing) in cases.iter().enumerate() {
            let opts = ImpactOptions {
                max_depth: [1, 3, 6, 10][i % 4],
                max_paths_per_service: 5,
            };
            let fast = store.impact(failing, &opts).await.unwrap();
            let rels = store.impact_subgraph(failing, opts.max_depth).await.unwrap();
            let edges = rels.iter().map(Into::into).collect();
            let g = analysis::complete_graph(&store, failing, edges).await.unwrap();
            assert_eq!(fast, evaluate(failing, &g, &opts), "failing {failing:?}, depth {}", opts.max_depth);
            let by_id = store.impact_graph(failing, opts.max_depth).await.unwrap();
            assert_eq!(evaluate(failing, &by_id, &opts), fast);
        }
    }
}
