//! Business services: the `BusinessService` type, how one is defined (`ServiceDefinition`)
//! and what a recomputation did (`MappingReport`).

use async_graphql::{Context, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;
use cmdb_model::attrs;
use cmdb_model::Ci;
use cmdb_store as st;
use cmdb_store::services::{self as sm, ServiceDefinition, ServiceKind};
use serde_json::Value;

use crate::error::ApiResultExt;
use crate::loaders::{level_rels, CiLoaderExt, CiObj, RelArgs};
use crate::resolve::state;

use super::enums::{CiStatusG, OperationalStatusG, ServiceKindG};

/// A business service: a CI of class BusinessService with attributes `criticality` (1–5),
/// `owner`, `sla_target`, and members linked by `member MEMBER_OF service`.
#[derive(Clone, Debug)]
pub struct BusinessServiceObj(pub CiObj);

pub fn criticality_of(ci: &m::Ci) -> Option<i32> {
    st::analysis::criticality_of(ci).map(|c| c as i32)
}

/// A service's SLA target as text (numbers are printed as they are).
pub fn sla_target_of(ci: &m::Ci) -> Option<String> {
    match ci.attr(attrs::SLA_TARGET)? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[Object(name = "BusinessService")]
impl BusinessServiceObj {
    async fn id(&self) -> ID {
        ID(self.0 .0.id.0.clone())
    }
    async fn name(&self) -> &str {
        &self.0 .0.name
    }
    /// 1 (highest) – 5.
    async fn criticality(&self) -> Option<i32> {
        criticality_of(&self.0 .0)
    }
    async fn owner(&self) -> Option<String> {
        self.0 .0.attr_str(attrs::OWNER).map(str::to_string)
    }
    /// Free text, e.g. `99.9%` or `4h restore`.
    async fn sla_target(&self) -> Option<String> {
        sla_target_of(&self.0 .0)
    }
    /// The CI lifecycle status (ACTIVE, STALE, RETIRED); see `operationalStatus` for how the
    /// service is doing.
    async fn status(&self) -> CiStatusG {
        self.0 .0.status.into()
    }
    /// How the service is doing now, from every open alert through the impact engine (OK,
    /// DEGRADED, AT_RISK, DOWN); `serviceStatus` says why.
    async fn operational_status(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<OperationalStatusG> {
        let now = state(ctx)?.live.services_now().await.api()?;
        Ok(now
            .get(&self.0 .0.id)
            .copied()
            .unwrap_or(cmdb_events::OperationalStatus::Ok)
            .into())
    }
    /// The service as a CI (history, relationships, attributes).
    async fn ci(&self) -> CiObj {
        self.0.clone()
    }
    /// How membership is decided (MANUAL, RULE, ENTRY_POINT) and the mapper's last result.
    async fn definition(&self) -> ServiceDefinitionObj {
        ServiceDefinitionObj((*self.0 .0).clone())
    }
    /// CIs that are MEMBER_OF this service (batched across services).
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        let args = RelArgs {
            direction: st::Direction::In,
            types: vec![m::RelType::MemberOf],
            include_closed: false,
            from_ends: true,
            to_ends: false,
        };
        let batch = level_rels(ctx, &self.0, args).await?;
        let ends = batch.ends.clone().unwrap_or_default();
        let mut out = Vec::new();
        for r in batch
            .of(&self.0 .0.id)
            .iter()
            .filter(|r| r.to == self.0 .0.id)
        {
            match ends.get(&r.from) {
                Some(ci) => out.push(CiObj(ci.clone(), batch.ends_level.clone())),
                None => out.extend(ctx.load_ci(&r.from).await?),
            }
        }
        Ok(out)
    }
}

/// An entry point a recomputation could not resolve, and why.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "UnresolvedEntryPoint")]
pub struct UnresolvedEntryPointG {
    pub service_id: ID,
    pub entry_point: String,
    pub reason: String,
}

/// A service a recomputation could not map.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "MappingError")]
pub struct MappingErrorG {
    pub service_id: ID,
    /// INVALID_INPUT or LIMIT_EXCEEDED.
    pub code: String,
    pub message: String,
}

/// What a recomputation did.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "MappingReport")]
pub struct MappingReportG {
    pub services_mapped: usize,
    pub members_added: usize,
    pub members_removed: usize,
    pub pools_created: usize,
    pub pool_edges_added: usize,
    pub pool_edges_removed: usize,
    pub pools_retired: usize,
    /// Dependencies written/closed for host-level connections on service maps.
    pub host_level_edges_added: usize,
    pub host_level_edges_removed: usize,
    /// Network dependencies (hosts on switches, switches on uplinks) written/closed, and
    /// groups of redundant network paths created/retired.
    pub network_edges_added: usize,
    pub network_edges_removed: usize,
    pub network_groups_created: usize,
    pub network_groups_retired: usize,
    pub unresolved_entry_points: Vec<UnresolvedEntryPointG>,
    /// Services that could not be mapped (their membership is unchanged).
    pub errors: Vec<MappingErrorG>,
    pub duration_ms: u64,
}

impl From<sm::MappingReport> for MappingReportG {
    fn from(r: sm::MappingReport) -> Self {
        MappingReportG {
            services_mapped: r.services_mapped,
            members_added: r.members_added,
            members_removed: r.members_removed,
            pools_created: r.pools_created,
            pool_edges_added: r.pool_edges_added,
            pool_edges_removed: r.pool_edges_removed,
            pools_retired: r.pools_retired,
            host_level_edges_added: r.host_level_edges_added,
            host_level_edges_removed: r.host_level_edges_removed,
            network_edges_added: r.network_edges_added,
            network_edges_removed: r.network_edges_removed,
            network_groups_created: r.network_groups_created,
            network_groups_retired: r.network_groups_retired,
            unresolved_entry_points: r
                .unresolved_entry_points
                .into_iter()
                .map(|u| UnresolvedEntryPointG {
                    service_id: ID(u.service.0),
                    entry_point: u.entry_point,
                    reason: u.reason,
                })
                .collect(),
            errors: r
                .errors
                .into_iter()
                .map(|e| MappingErrorG {
                    service_id: ID(e.service.0),
                    code: e.code,
                    message: e.message,
                })
                .collect(),
            duration_ms: r.duration_ms,
        }
    }
}

#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "ServiceEntryPointProblem")]
pub struct EntryPointProblem {
    pub entry_point: String,
    pub reason: String,
}

/// How a business service is defined and when it was last mapped.
#[derive(Clone, Debug)]
pub struct ServiceDefinitionObj(pub Ci);

#[Object(name = "ServiceDefinition")]
impl ServiceDefinitionObj {
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn service(&self) -> BusinessServiceObj {
        BusinessServiceObj(self.0.clone().into())
    }
    async fn kind(&self) -> ServiceKindG {
        ServiceDefinition::of(&self.0)
            .map(|d| d.kind())
            .unwrap_or(ServiceKind::Manual)
            .into()
    }
    /// The stored rule (`{classes, tags, namePattern, attributes}`), if any.
    async fn rule(&self) -> Option<Json<Value>> {
        self.0.attr(attrs::RULE).cloned().map(Json)
    }
    /// A stored definition that cannot be used (a rule naming an unknown class…).
    async fn definition_error(&self) -> Option<String> {
        ServiceDefinition::of(&self.0)
            .err()
            .or_else(|| {
                ServiceDefinition::of(&self.0)
                    .ok()?
                    .rule
                    .as_ref()
                    .and_then(|r| r.filter().err())
            })
            .map(|e| e.to_string())
    }
    async fn entry_points(&self) -> Vec<String> {
        ServiceDefinition::of(&self.0)
            .map(|d| d.entry_points)
            .unwrap_or_default()
    }
    async fn mapping_depth(&self) -> u32 {
        ServiceDefinition::of(&self.0)
            .map(|d| d.mapping_depth)
            .unwrap_or(sm::DEFAULT_MAPPING_DEPTH)
    }
    /// Entry points the last mapping could not resolve, and why.
    async fn unresolved_entry_points(&self) -> Vec<EntryPointProblem> {
        let Some(Value::Array(items)) = self.0.attr(attrs::UNRESOLVED_ENTRY_POINTS) else {
            return vec![];
        };
        items
            .iter()
            .map(|v| EntryPointProblem {
                entry_point: v["entry_point"].as_str().unwrap_or_default().to_string(),
                reason: v["reason"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }
    /// When the mapper last changed this service's members or map.
    async fn mapped_at(&self) -> Option<DateTime<Utc>> {
        self.0
            .attr_str(attrs::MAPPED_AT)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }
    /// CIs in the stored entry-point map.
    async fn map_size(&self) -> usize {
        self.0
            .attr(attrs::MAP_CIS)
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0)
    }
}
