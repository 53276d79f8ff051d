//! What-if questions beyond `impact`: change risk, single points of failure, dependency paths.
//! Each resolver validates its input, asks `cmdb_store::analysis` (which runs the pure engine
//! of `cmdb_model::impact`) and wraps the answer.

use std::sync::Arc;

use async_graphql::{Context, Object, ID};
use cmdb_model::impact::ImpactOptions;
use cmdb_store::analysis::{self as an, RiskOptions};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::resolve::{check_depth, require_ci, require_service, resolve_ids, state};
use crate::types::{ChangeRiskG, ChangeWindowScalar, PathResult, SinglePointOfFailureG};

#[derive(Default)]
pub struct AnalysisQuery;

#[Object]
impl AnalysisQuery {
    /// Services touched by changing the CIs `ids` (assumed to fail during the change), ranked
    /// by criticality × severity × breadth (see `scoreFormula`), with the stale or low-confidence relationships
    /// each answer rests on. `window` is when the change happens (staleness is judged at its
    /// start; default: now).
    async fn change_risk(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
        window: Option<ChangeWindowScalar>,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
    ) -> async_graphql::Result<ChangeRiskG> {
        let s = state(ctx)?;
        let max_depth = check_depth(s, max_depth)?;
        let changed = resolve_ids(s, &ids, "changeRisk").await?;
        let opts = RiskOptions {
            impact: ImpactOptions {
                max_depth,
                max_paths_per_service: s.limits.max_paths_per_service,
            },
            ..Default::default()
        };
        let risk = an::change_risk(s.store.as_ref(), &changed, window.map(|w| w.0), &opts)
            .await
            .api()?;
        Ok(ChangeRiskG {
            risk: Arc::new(risk),
            max_depth,
        })
    }

    /// CIs whose failure alone makes the service DOWN, redundancy respected (a member of a
    /// 1-of-3 pool is not one; the host all three members run on is). Nearest first.
    async fn single_points_of_failure(
        &self,
        ctx: &Context<'_>,
        service_id: ID,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
    ) -> async_graphql::Result<Vec<SinglePointOfFailureG>> {
        let s = state(ctx)?;
        let max_depth = check_depth(s, max_depth)?;
        let svc = require_service(s, service_id.as_str()).await?;
        let found = an::single_points_of_failure(s.store.as_ref(), &svc.id, max_depth)
            .await
            .api()?;
        Ok(found.into_iter().map(SinglePointOfFailureG).collect())
    }

    /// The shortest dependency chains between two CIs, whichever way the dependency runs.
    async fn path(
        &self,
        ctx: &Context<'_>,
        from: ID,
        to: ID,
        #[graphql(default_with = "crate::DEFAULT_IMPACT_DEPTH")] max_depth: i32,
        #[graphql(desc = "At most this many chains (default 10, maximum 100).")] first: Option<i32>,
    ) -> async_graphql::Result<PathResult> {
        let s = state(ctx)?;
        let max_depth = check_depth(s, max_depth)?;
        let cap = match first {
            None => 10,
            Some(n) if (1..=100).contains(&n) => n as usize,
            Some(n) => {
                return Err(gql(ApiError::InvalidInput(format!(
                    "first must be 1–100 (got {n})"
                ))))
            }
        };
        let (a, b) = (
            require_ci(s, from.as_str()).await?,
            require_ci(s, to.as_str()).await?,
        );
        let found = an::dependency_paths(s.store.as_ref(), &a.id, &b.id, max_depth, cap)
            .await
            .api()?;
        Ok(PathResult {
            from: a.id,
            to: b.id,
            found,
        })
    }
}
