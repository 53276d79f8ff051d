//! Service mapping over GraphQL: how a business service is defined (`serviceDefinition`), its
//! map for drawing (`serviceMap`), recomputation (`recomputeServices`) and manual redundancy
//! (`setRedundancy`). The mapping itself lives in `cmdb_store::services`.

mod definition;
mod map;
mod redundancy;

use async_graphql::{Context, Object, ID};
use cmdb_store::services as sm;

use crate::error::ApiResultExt;
use crate::guard::{Role, RoleGuard};
use crate::loaders::CiObj;
use crate::resolve::{check_depth, require_ci, require_service, state};
use crate::types::{MappingReportG, ServiceDefinitionObj, ServiceMap};

pub use definition::{map_now, mapping_attributes, ServiceRuleInput};

#[derive(Default)]
pub struct ServicesQuery;

#[Object]
impl ServicesQuery {
    /// How a business service is defined (manual, rule, entry points) and its mapping state.
    async fn service_definition(
        &self,
        ctx: &Context<'_>,
        service_id: ID,
    ) -> async_graphql::Result<ServiceDefinitionObj> {
        Ok(ServiceDefinitionObj(
            require_service(state(ctx)?, service_id.as_str()).await?,
        ))
    }

    /// A business service's map for drawing: for entry-point services the mapped subgraph;
    /// otherwise its members plus what they rely on, `maxDepth` hops upstream.
    async fn service_map(
        &self,
        ctx: &Context<'_>,
        service_id: ID,
        #[graphql(default = 8)] max_depth: Option<i32>,
    ) -> async_graphql::Result<ServiceMap> {
        let s = state(ctx)?;
        let max_depth = check_depth(s, max_depth.unwrap_or(8))?;
        let svc = require_service(s, service_id.as_str()).await?;
        map::build_map(s.store.as_ref(), svc, max_depth).await
    }
}

#[derive(Default)]
pub struct ServicesMutation;

#[Object]
impl ServicesMutation {
    /// Infer pools and map every rule and entry-point service now (also done after every
    /// discovery run and at server start).
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn recompute_services(&self, ctx: &Context<'_>) -> async_graphql::Result<MappingReportG> {
        let s = state(ctx)?;
        let r = sm::recompute_services(s.store.as_ref(), &s.ingest)
            .await
            .api()?;
        tracing::info!(
            services = r.services_mapped,
            members_added = r.members_added,
            members_removed = r.members_removed,
            pools_created = r.pools_created,
            errors = r.errors.len(),
            duration_ms = r.duration_ms,
            "services recomputed on request"
        );
        Ok(r.into())
    }

    /// How many members of a group (a CI others are PART_OF, e.g. an inferred pool) must be up
    /// for it to work. Set by hand (source `manual`), it wins over the inferred value and
    /// survives re-inference.
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn set_redundancy(
        &self,
        ctx: &Context<'_>,
        group_id: ID,
        min_up: i32,
        #[graphql(
            desc = "With some members down and at most this many up, the group is AT_RISK rather than DEGRADED (default: minUp, i.e. AT_RISK when no spare is left; 0: never AT_RISK)."
        )]
        at_risk_up: Option<i32>,
    ) -> async_graphql::Result<CiObj> {
        let s = state(ctx)?;
        let group = require_ci(s, group_id.as_str()).await?;
        let ci = redundancy::set_redundancy(s, group, min_up, at_risk_up).await?;
        Ok(ci.into())
    }
}
