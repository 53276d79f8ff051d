//! Service mapping over GraphQL: how a business service is defined (`serviceDefinition`), its
//! map for drawing (`serviceMap`), recomputation (`recomputeServices`) and manual redundancy
//! (`setRedundancy`). The mapping itself lives in `cmdb_store::services`.

use crate::state;
use std::collections::{BTreeMap, BTreeSet};

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model::{Ci, CiClass, CiId, Observation, Record, RelStatus, RunId, Scope, Source};
use cmdb_store::services::{self as sm, ServiceDefinition, ServiceKind};
use cmdb_store::{Direction, RelQuery, TraverseDirection, TraverseQuery};
use serde_json::{Map, Value};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::events::CiChange;
use crate::mutation::RoleGuard;
use crate::types::{BusinessServiceObj, CiClassG, CiObj, EvidenceG, RelTypeG};
use crate::{ApiState, Role};

/// Most nodes one `serviceMap` answer holds (the rest is cut; `truncated` says so).
const MAX_MAP_NODES: usize = 2000;
/// Most entry points one service may have.
const MAX_ENTRY_POINTS: usize = 100;

async fn require_ci(state: &ApiState, id: &str) -> async_graphql::Result<Ci> {
    state
        .store
        .get(&CiId::new(id))
        .await
        .api()?
        .ok_or_else(|| gql(ApiError::NotFound(format!("no CI with id `{id}`"))))
}

async fn require_service(state: &ApiState, id: &str) -> async_graphql::Result<Ci> {
    let ci = require_ci(state, id).await?;
    if ci.class != CiClass::BusinessService {
        return Err(gql(ApiError::NotFound(format!(
            "CI `{id}` is a {}, not a business service",
            ci.class
        ))));
    }
    Ok(ci)
}

// ------------------------------------------------------------------ inputs

/// Members are the ACTIVE CIs meeting every condition given (business services never are).
/// An empty rule (`{}`) switches rule mapping off.
#[derive(InputObject, Clone, Default)]
pub struct ServiceRuleInput {
    pub classes: Option<Vec<CiClassG>>,
    /// Every tag must be present.
    pub tags: Option<Vec<String>>,
    /// Regular expression over the CI's name.
    pub name_pattern: Option<String>,
    /// Attribute equals (JSON values compared exactly).
    pub attributes: Option<Json<Map<String, Value>>>,
}

impl ServiceRuleInput {
    fn to_rule(&self) -> sm::ServiceRule {
        sm::ServiceRule {
            classes: self
                .classes
                .iter()
                .flatten()
                .map(|c| CiClass::from(*c).as_str().to_string())
                .collect(),
            tags: self.tags.clone().unwrap_or_default(),
            name_pattern: self.name_pattern.clone().filter(|p| !p.is_empty()),
            attributes: self
                .attributes
                .as_ref()
                .map(|j| j.0.clone())
                .unwrap_or_default(),
        }
    }
}

/// Validate the mapping fields of a define/update input and turn them into the service's
/// attributes (`rule`, `entry_points`, `mapping_depth`).
pub(crate) async fn mapping_attributes(
    state: &ApiState,
    rule: Option<&ServiceRuleInput>,
    entry_points: Option<&[String]>,
    mapping_depth: Option<i32>,
) -> async_graphql::Result<Map<String, Value>> {
    let mut out = Map::new();
    if let Some(r) = rule {
        let rule = r.to_rule();
        if !rule.is_empty() {
            let filter = rule
                .filter()
                .map_err(|e| gql(ApiError::InvalidInput(e.to_string())))?;
            let page = state
                .store
                .find(
                    &filter,
                    Default::default(),
                    &cmdb_store::PageRequest::first(1),
                )
                .await
                .api()?;
            if page.total_count > sm::MAX_RULE_MEMBERS {
                return Err(gql(ApiError::LimitExceeded(format!(
                    "the rule matches {} CIs; a rule service may have at most {}",
                    page.total_count,
                    sm::MAX_RULE_MEMBERS
                ))));
            }
        }
        out.insert(
            "rule".into(),
            serde_json::to_value(&rule).map_err(|e| gql(ApiError::Internal(e.to_string())))?,
        );
    }
    if let Some(eps) = entry_points {
        if eps.len() > MAX_ENTRY_POINTS {
            return Err(gql(ApiError::LimitExceeded(format!(
                "more than {MAX_ENTRY_POINTS} entry points"
            ))));
        }
        let mut clean = Vec::new();
        for (i, ep) in eps.iter().enumerate() {
            if ep.len() > 500 {
                return Err(gql(ApiError::LimitExceeded(format!(
                    "entry point {} is longer than 500 characters",
                    i + 1
                ))));
            }
            // The message never echoes the entry point: it may hold a credential.
            sm::parse_entry_point(ep).map_err(|e| {
                gql(ApiError::InvalidInput(format!(
                    "entry point {}: {e}",
                    i + 1
                )))
            })?;
            clean.push(Value::String(ep.trim().to_string()));
        }
        out.insert("entry_points".into(), Value::Array(clean));
    }
    if let Some(d) = mapping_depth {
        if d < 1 || d as u32 > sm::MAX_MAPPING_DEPTH {
            return Err(gql(ApiError::InvalidInput(format!(
                "mappingDepth must be 1–{} (got {d})",
                sm::MAX_MAPPING_DEPTH
            ))));
        }
        out.insert("mapping_depth".into(), d.into());
    }
    Ok(out)
}

/// Map a service right after it was defined or changed. A mapping error (e.g. a rule that
/// matches too many CIs) is the caller's error; membership is then left as it was.
pub(crate) async fn map_now(state: &ApiState, id: &CiId) -> async_graphql::Result<()> {
    let report = sm::recompute_service(state.store.as_ref(), id, &state.ingest)
        .await
        .api()?;
    tracing::info!(service = %id, added = report.members_added, removed = report.members_removed, unresolved = report.unresolved_entry_points.len(), "service mapped");
    if let Some(e) = report.errors.first() {
        let err = match e.code.as_str() {
            "LIMIT_EXCEEDED" => ApiError::LimitExceeded(e.message.clone()),
            _ => ApiError::InvalidInput(e.message.clone()),
        };
        return Err(gql(err));
    }
    Ok(())
}

// ------------------------------------------------------------------ output types

/// How a business service's members are defined.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ServiceKind", remote = "cmdb_store::services::ServiceKind")]
pub enum ServiceKindG {
    /// Linked by hand.
    Manual,
    /// The CIs matching `rule`.
    Rule,
    /// Mapped from `entryPoints`.
    EntryPoint,
}

/// A node's part in a service map.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, PartialOrd, Ord)]
pub enum ServiceMapRole {
    Service,
    EntryPoint,
    Member,
    Pool,
    Dependency,
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
        self.0.attr("rule").cloned().map(Json)
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
        let Some(Value::Array(items)) = self.0.attr("unresolved_entry_points") else {
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
            .attr_str("mapped_at")
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
    }
    /// CIs in the stored entry-point map.
    async fn map_size(&self) -> usize {
        self.0
            .attr("map_cis")
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0)
    }
}

#[derive(Clone, Debug)]
pub struct ServiceMapNode {
    pub ci: Ci,
    pub role: ServiceMapRole,
}

#[Object]
impl ServiceMapNode {
    async fn id(&self) -> ID {
        ID(self.ci.id.0.clone())
    }
    async fn ci(&self) -> CiObj {
        self.ci.clone().into()
    }
    async fn class(&self) -> CiClassG {
        self.ci.class.into()
    }
    async fn name(&self) -> &str {
        &self.ci.name
    }
    async fn role(&self) -> ServiceMapRole {
        self.role
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct ServiceMapEdge {
    pub from: ID,
    pub to: ID,
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    /// All the evidence combined (independent sightings: `1 − Π(1 − cᵢ)`).
    pub confidence: f64,
    pub evidence: Vec<EvidenceG>,
    /// All its evidence is host-level: a connection seen on a host without the process that
    /// holds it, or a dependency guessed from such connections.
    pub rests_on_host_level_evidence: bool,
    /// Which way a failure travels along this edge (the relationship type's rule, so a
    /// drawing can put what is relied on below what relies on it).
    pub impact_flow: ImpactFlowG,
}

/// Which way a failure travels along a relationship (`cmdb_model::ImpactFlow`).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ImpactFlow", remote = "cmdb_model::ImpactFlow")]
pub enum ImpactFlowG {
    /// A failure of `from` impacts `to` (a process failing takes its endpoint down).
    FromToTo,
    /// A failure of `to` impacts `from` (a host failing takes down what RUNS_ON it).
    ToToFrom,
    /// Both ways (an L2 link).
    Both,
    /// Neither way: evidence without a failure travelling along it.
    None,
}

/// A service and what it consists of and relies on, for drawing.
#[derive(SimpleObject, Clone)]
pub struct ServiceMap {
    pub service: ServiceDefinitionObj,
    pub nodes: Vec<ServiceMapNode>,
    /// Active relationships between the nodes.
    pub edges: Vec<ServiceMapEdge>,
    /// More nodes existed than one answer holds.
    pub truncated: bool,
    /// Nodes of the whole map, those cut off by `truncated` included.
    pub node_count: i32,
}

fn id_list(ci: &Ci, key: &str) -> Vec<CiId> {
    ci.attr(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(CiId::new)).collect())
        .unwrap_or_default()
}

async fn build_map(state: &ApiState, svc: Ci, max_depth: u32) -> async_graphql::Result<ServiceMap> {
    let store = state.store.as_ref();
    let member_q = RelQuery {
        direction: Direction::In,
        types: vec![cmdb_model::RelType::MemberOf],
        include_closed: false,
    };
    let members: BTreeSet<CiId> = store
        .relationships(std::slice::from_ref(&svc.id), &member_q)
        .await
        .api()?
        .into_iter()
        .filter(|r| r.to == svc.id && r.status == RelStatus::Active)
        .map(|r| r.from)
        .collect();
    let kind = ServiceDefinition::of(&svc)
        .map(|d| d.kind())
        .unwrap_or(ServiceKind::Manual);
    let mut nodes: Vec<CiId> = vec![svc.id.clone()];
    nodes.extend(members.iter().cloned());
    let mut entry: BTreeSet<CiId> = BTreeSet::new();
    let stored_map = id_list(&svc, "map_cis");
    if kind == ServiceKind::EntryPoint && !stored_map.is_empty() {
        // The mapped subgraph, as the mapper stored it.
        entry = id_list(&svc, "map_entry_cis").into_iter().collect();
        nodes.extend(stored_map);
    } else if !members.is_empty() && max_depth > 0 {
        // Members plus what they rely on (upstream along impact flow).
        let q = TraverseQuery {
            direction: TraverseDirection::Upstream,
            max_depth,
            types: vec![],
        };
        let start: Vec<CiId> = members.iter().cloned().collect();
        let mut reached = store.traverse(&start, &q).await.api()?;
        reached.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
        nodes.extend(reached.into_iter().map(|r| r.id));
    }
    let mut seen = BTreeSet::new();
    nodes.retain(|id| seen.insert(id.clone()));
    let node_count = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
    let truncated = nodes.len() > MAX_MAP_NODES;
    nodes.truncate(MAX_MAP_NODES);

    let mut cis: BTreeMap<CiId, Ci> = BTreeMap::new();
    for chunk in nodes.chunks(500) {
        for ci in store.get_many(chunk).await.api()? {
            cis.insert(ci.id.clone(), ci);
        }
    }
    cis.insert(svc.id.clone(), svc.clone());
    let ids: Vec<CiId> = cis.keys().cloned().collect();
    let out_q = RelQuery {
        direction: Direction::Out,
        types: vec![],
        include_closed: false,
    };
    let mut edges: BTreeMap<cmdb_model::RelKey, ServiceMapEdge> = BTreeMap::new();
    for chunk in ids.chunks(500) {
        for r in store.relationships(chunk, &out_q).await.api()? {
            if r.status != RelStatus::Active
                || !cis.contains_key(&r.from)
                || !cis.contains_key(&r.to)
            {
                continue;
            }
            edges.entry(r.key()).or_insert_with(|| ServiceMapEdge {
                from: ID(r.from.0.clone()),
                to: ID(r.to.0.clone()),
                rel_type: r.rel_type.into(),
                confidence: r.confidence(),
                rests_on_host_level_evidence: r.rests_on_host_level(),
                impact_flow: r.rel_type.impact_flow().into(),
                evidence: r
                    .evidence
                    .iter()
                    .map(|e| EvidenceG {
                        source: e.source.0.clone(),
                        kind: e.kind.into(),
                        confidence: e.confidence,
                        observations: e.observations,
                        first_seen: e.first_seen,
                        last_seen: e.last_seen,
                    })
                    .collect(),
            });
        }
    }
    let mut out: Vec<ServiceMapNode> = cis
        .into_values()
        .map(|ci| {
            let role = if ci.id == svc.id {
                ServiceMapRole::Service
            } else if entry.contains(&ci.id) {
                ServiceMapRole::EntryPoint
            } else if members.contains(&ci.id) {
                ServiceMapRole::Member
            } else if ci.class == CiClass::Cluster {
                ServiceMapRole::Pool
            } else {
                ServiceMapRole::Dependency
            };
            ServiceMapNode { ci, role }
        })
        .collect();
    out.sort_by(|a, b| (a.role, &a.ci.id).cmp(&(b.role, &b.ci.id)));
    Ok(ServiceMap {
        service: ServiceDefinitionObj(svc),
        nodes: out,
        edges: edges.into_values().collect(),
        truncated,
        node_count,
    })
}

// ------------------------------------------------------------------ roots

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
        let max_depth = max_depth.unwrap_or(8);
        if max_depth < 0 {
            return Err(gql(ApiError::InvalidInput(format!(
                "maxDepth must not be negative (got {max_depth})"
            ))));
        }
        if max_depth as u32 > s.limits.max_traversal_depth {
            return Err(gql(ApiError::LimitExceeded(format!(
                "maxDepth {max_depth} exceeds the maximum of {}",
                s.limits.max_traversal_depth
            ))));
        }
        let svc = require_service(s, service_id.as_str()).await?;
        build_map(s, svc, max_depth as u32).await
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
        let n = sm::group_members(s.store.as_ref(), &group.id)
            .await
            .api()?
            .len();
        if n == 0 {
            return Err(gql(ApiError::InvalidInput(format!(
                "{} has no members (nothing is PART_OF it)",
                group.id
            ))));
        }
        if min_up < 1 || min_up as usize > n {
            return Err(gql(ApiError::InvalidInput(format!(
                "minUp must be 1–{n}, the group's member count (got {min_up})"
            ))));
        }
        if let Some(a) = at_risk_up {
            if a < 0 || a > min_up {
                return Err(gql(ApiError::InvalidInput(format!(
                    "atRiskUp must be 0–{min_up} (minUp), got {a}"
                ))));
            }
        }
        let mut obs = Observation::new(Source::manual(), RunId::generate(), Scope::none());
        let mut rec = Record::new("group", group.class);
        rec.id = Some(group.id.clone());
        rec = rec.attr(cmdb_model::impact::MIN_UP_ATTR, min_up);
        if let Some(a) = at_risk_up {
            rec = rec.attr(cmdb_model::impact::AT_RISK_UP_ATTR, a);
        }
        obs.push(rec);
        let report = s.store.ingest(obs, &s.ingest).await.api()?;
        if let Some(e) = report.errors.first() {
            return Err(gql(ApiError::InvalidInput(format!(
                "{} ({}): {}",
                e.record, e.code, e.message
            ))));
        }
        let ci = s
            .store
            .get(&group.id)
            .await
            .api()?
            .ok_or_else(|| gql(ApiError::Internal(format!("group {} vanished", group.id))))?;
        tracing::info!(group = %ci.id, min_up, "redundancy set by hand");
        s.events.publish_ci_change(CiChange {
            id: ID(ci.id.0.clone()),
            kind: "UPSERTED".into(),
            source: Source::MANUAL.into(),
            at: cmdb_model::now(),
        });
        Ok(ci.into())
    }
}
