//! Impact answers: `ImpactReport`, affected services, groups and CIs, the hops of a failure
//! chain, single points of failure.

use std::sync::Arc;

use async_graphql::{Context, Object, SimpleObject, ID};
use cmdb_model as m;
use cmdb_model::attrs;
use cmdb_model::impact::GraphEdge;

use crate::error::ApiResultExt;
use crate::loaders::{CiLoaderExt, CiObj};
use crate::resolve::{ids, state};

use super::enums::{CiClassG, RelTypeG, SeverityG};
use super::service::{criticality_of, sla_target_of, BusinessServiceObj};

/// An affected business service and why.
#[derive(Clone, Debug)]
pub struct ImpactedService(pub m::impact::ServiceImpact);

#[Object]
impl ImpactedService {
    async fn service(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BusinessServiceObj>> {
        Ok(ctx.load_ci(&self.0.service).await?.map(BusinessServiceObj))
    }
    async fn service_id(&self) -> ID {
        ID(self.0.service.0.clone())
    }
    async fn severity(&self) -> SeverityG {
        self.0.severity.into()
    }
    /// Hops from the nearest failing CI.
    async fn depth(&self) -> u32 {
        self.0.depth
    }
    /// CI-id chains `failing CI, …, service` that explain the impact (shortest first-found,
    /// lexicographic order).
    async fn paths(&self) -> Vec<Vec<ID>> {
        self.0.paths.iter().map(|p| ids(p)).collect()
    }
    /// More explaining chains exist than were returned.
    async fn paths_truncated(&self) -> bool {
        self.0.paths_truncated
    }
    /// CIs between the failure and the service on its shortest failure chains.
    async fn breadth(&self) -> u32 {
        self.0.breadth
    }
    /// The service's criticality, 1 (highest) – 5.
    async fn criticality(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .and_then(|c| criticality_of(&c.0)))
    }
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .and_then(|c| c.0.attr_str(attrs::OWNER).map(str::to_string)))
    }
    async fn sla_target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .and_then(|c| sla_target_of(&c.0)))
    }
    async fn name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .map(|c| c.0.name.clone()))
    }
    /// The relationships on this service's shortest failure chains (all of them, not only the
    /// returned `paths`), each `from -[type]-> to` as stored.
    async fn path_edges(&self) -> Vec<ChainHop> {
        self.0.path_edges.iter().map(Into::into).collect()
    }
    /// Those of `pathEdges` that rest on host-level evidence only: a connection seen on a host
    /// without the process holding it (TCP-MIB without process ids, SSH without root), so the
    /// dependency it stands for is a guess. Empty when every hop rests on facts.
    async fn host_level_edges(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ChainHop>> {
        Ok(self.host_level(ctx).await?.iter().map(Into::into).collect())
    }
    /// Whether any hop of the answer rests on host-level evidence only (see `hostLevelEdges`).
    async fn rests_on_host_level_evidence(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        Ok(!self.host_level(ctx).await?.is_empty())
    }
}

impl ImpactedService {
    /// The hops of `path_edges` that rest on host-level evidence only.
    async fn host_level(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<GraphEdge>> {
        let s = state(ctx)?;
        cmdb_store::analysis::host_level_edges(s.store.as_ref(), &self.0.path_edges)
            .await
            .api()
    }
}

/// A pool or cluster (a CI with PART_OF members) that lost members or redundancy.
#[derive(Clone, Debug)]
pub struct GroupImpactG(pub m::impact::GroupImpact);

#[Object(name = "GroupImpact")]
impl GroupImpactG {
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.0.group).await
    }
    async fn group_id(&self) -> ID {
        ID(self.0.group.0.clone())
    }
    async fn class(&self) -> Option<CiClassG> {
        self.0.class.map(Into::into)
    }
    /// Members (PART_OF) in all.
    async fn members(&self) -> u32 {
        self.0.members
    }
    /// Members DOWN in this answer.
    async fn down(&self) -> u32 {
        self.0.down
    }
    /// Members that must be up (the group's `min_up`, default all).
    async fn min_up(&self) -> u32 {
        self.0.min_up
    }
    /// With members down and at most this many up, the group is AT_RISK (the group's
    /// `at_risk_up`, default `minUp`; 0 for inferred network paths: DEGRADED while one works).
    async fn at_risk_up(&self) -> u32 {
        self.0.at_risk_up
    }
    async fn severity(&self) -> SeverityG {
        self.0.severity.into()
    }
}

#[derive(Clone, Debug)]
pub struct ImpactedCi(pub m::impact::AffectedCi);

#[Object(name = "ImpactedCI")]
impl ImpactedCi {
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.0.id).await
    }
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn class(&self) -> Option<CiClassG> {
        self.0.class.map(Into::into)
    }
    async fn depth(&self) -> u32 {
        self.0.depth
    }
    async fn severity(&self) -> SeverityG {
        self.0.severity.into()
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct ClassCount {
    pub class: CiClassG,
    pub count: usize,
}

/// The answer to "what breaks if these fail".
#[derive(Clone, Debug)]
pub struct ImpactReportObj {
    pub report: Arc<m::impact::ImpactReport>,
    pub max_depth: u32,
}

#[Object(name = "ImpactReport")]
impl ImpactReportObj {
    async fn failing(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        ctx.load_cis(&self.report.failing).await
    }
    async fn failing_ids(&self) -> Vec<ID> {
        ids(&self.report.failing)
    }
    /// Affected business services, worst and nearest first.
    async fn services(&self) -> Vec<ImpactedService> {
        self.report
            .services
            .iter()
            .cloned()
            .map(ImpactedService)
            .collect()
    }
    /// Affected CIs (the failing ones excluded), nearest first; at most `first` (default and
    /// maximum: the page size cap).
    async fn affected(
        &self,
        ctx: &Context<'_>,
        class: Option<CiClassG>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<ImpactedCi>> {
        let state = state(ctx)?;
        let limit = state.at_most(first)?;
        Ok(self
            .report
            .affected
            .iter()
            .filter(|a| class.map(|c| a.class == Some(c.into())).unwrap_or(true))
            .take(limit)
            .cloned()
            .map(ImpactedCi)
            .collect())
    }
    async fn affected_count(&self) -> usize {
        self.report.affected.len()
    }
    async fn affected_by_class(&self) -> Vec<ClassCount> {
        let mut counts: std::collections::BTreeMap<m::CiClass, usize> = Default::default();
        for a in &self.report.affected {
            if let Some(c) = a.class {
                *counts.entry(c).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(c, n)| ClassCount {
                class: c.into(),
                count: n,
            })
            .collect()
    }
    async fn max_depth(&self) -> u32 {
        self.max_depth
    }
    /// Pools and clusters in the answer that lost members, by id.
    async fn groups(&self) -> Vec<GroupImpactG> {
        self.report
            .groups
            .iter()
            .cloned()
            .map(GroupImpactG)
            .collect()
    }
}

/// One relationship of a chain: `from -[type]-> to` as stored.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ChainHop")]
pub struct ChainHop {
    pub from: ID,
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    pub to: ID,
}

impl From<&GraphEdge> for ChainHop {
    fn from(e: &GraphEdge) -> Self {
        ChainHop {
            from: ID(e.from.0.clone()),
            rel_type: e.rel_type.into(),
            to: ID(e.to.0.clone()),
        }
    }
}

/// A CI whose failure alone takes the service down.
#[derive(Clone, Debug)]
pub struct SinglePointOfFailureG(pub cmdb_model::impact::SinglePointOfFailure);

#[Object(name = "SinglePointOfFailure")]
impl SinglePointOfFailureG {
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.0.id).await
    }
    async fn class(&self) -> Option<CiClassG> {
        self.0.class.map(Into::into)
    }
    /// Hops between it and the service.
    async fn depth(&self) -> u32 {
        self.0.depth
    }
    /// One chain `this CI, …, service` along which its failure takes the service down.
    async fn path(&self) -> Vec<ID> {
        ids(&self.0.path)
    }
}
