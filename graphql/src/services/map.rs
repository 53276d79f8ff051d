//! A business service's map for drawing: which CIs it holds (the service, its members, and the
//! entry-point mapper's subgraph or what the members rely on), each one's role, and the active
//! relationships between them.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::attrs;
use cmdb_model::{Ci, CiClass, CiId, RelKey, RelStatus, RelType};
use cmdb_store::services::{ServiceDefinition, ServiceKind};
use cmdb_store::{Direction, GraphStore, RelQuery, TraverseDirection, TraverseQuery};
use serde_json::Value;

use crate::error::ApiResultExt;
use crate::types::{
    ServiceDefinitionObj, ServiceMap, ServiceMapEdge, ServiceMapNode, ServiceMapRole,
};

/// Most nodes one `serviceMap` answer holds (the rest is cut; `truncated` says so).
const MAX_MAP_NODES: usize = 2000;
/// CIs asked of the store in one call.
const CHUNK: usize = 500;

/// The map of `svc`: for entry-point services the mapped subgraph; otherwise its members plus
/// what they rely on, `max_depth` hops upstream.
pub async fn build_map(
    store: &dyn GraphStore,
    svc: Ci,
    max_depth: u32,
) -> async_graphql::Result<ServiceMap> {
    let members = active_members(store, &svc).await?;
    let (mut nodes, entry) = node_ids(store, &svc, &members, max_depth).await?;
    let node_count = i32::try_from(nodes.len()).unwrap_or(i32::MAX);
    let truncated = nodes.len() > MAX_MAP_NODES;
    nodes.truncate(MAX_MAP_NODES);
    let cis = load_nodes(store, &svc, &nodes).await?;
    let edges = edges_between(store, &cis).await?;
    let mut out: Vec<ServiceMapNode> = cis
        .into_values()
        .map(|ci| ServiceMapNode {
            role: role_of(&ci, &svc.id, &entry, &members),
            ci,
        })
        .collect();
    out.sort_by(|a, b| (a.role, &a.ci.id).cmp(&(b.role, &b.ci.id)));
    Ok(ServiceMap {
        service: ServiceDefinitionObj(svc),
        nodes: out,
        edges,
        truncated,
        node_count,
    })
}

/// The CIs with an active MEMBER_OF the service.
async fn active_members(store: &dyn GraphStore, svc: &Ci) -> async_graphql::Result<BTreeSet<CiId>> {
    let q = RelQuery {
        direction: Direction::In,
        types: vec![RelType::MemberOf],
        include_closed: false,
    };
    Ok(store
        .relationships(std::slice::from_ref(&svc.id), &q)
        .await
        .api()?
        .into_iter()
        .filter(|r| r.to == svc.id && r.status == RelStatus::Active)
        .map(|r| r.from)
        .collect())
}

/// The map's CI ids in drawing order (service, members, the rest), each once, and the entry
/// CIs of an entry-point map.
async fn node_ids(
    store: &dyn GraphStore,
    svc: &Ci,
    members: &BTreeSet<CiId>,
    max_depth: u32,
) -> async_graphql::Result<(Vec<CiId>, BTreeSet<CiId>)> {
    let kind = ServiceDefinition::of(svc)
        .map(|d| d.kind())
        .unwrap_or(ServiceKind::Manual);
    let mut nodes: Vec<CiId> = vec![svc.id.clone()];
    nodes.extend(members.iter().cloned());
    let mut entry: BTreeSet<CiId> = BTreeSet::new();
    let stored_map = id_list(svc, attrs::MAP_CIS);
    if kind == ServiceKind::EntryPoint && !stored_map.is_empty() {
        // The mapped subgraph, as the mapper stored it.
        entry = id_list(svc, attrs::MAP_ENTRY_CIS).into_iter().collect();
        nodes.extend(stored_map);
    } else if !members.is_empty() && max_depth > 0 {
        nodes.extend(relied_on(store, members, max_depth).await?);
    }
    let mut seen = BTreeSet::new();
    nodes.retain(|id| seen.insert(id.clone()));
    Ok((nodes, entry))
}

/// What the members rely on (upstream along impact flow), nearest first.
async fn relied_on(
    store: &dyn GraphStore,
    members: &BTreeSet<CiId>,
    max_depth: u32,
) -> async_graphql::Result<Vec<CiId>> {
    let q = TraverseQuery {
        direction: TraverseDirection::Upstream,
        max_depth,
        types: vec![],
    };
    let start: Vec<CiId> = members.iter().cloned().collect();
    let mut reached = store.traverse(&start, &q).await.api()?;
    reached.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    Ok(reached.into_iter().map(|r| r.id).collect())
}

fn id_list(ci: &Ci, key: &str) -> Vec<CiId> {
    ci.attr(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(CiId::new)).collect())
        .unwrap_or_default()
}

async fn load_nodes(
    store: &dyn GraphStore,
    svc: &Ci,
    nodes: &[CiId],
) -> async_graphql::Result<BTreeMap<CiId, Ci>> {
    let mut cis: BTreeMap<CiId, Ci> = BTreeMap::new();
    for chunk in nodes.chunks(CHUNK) {
        for ci in store.get_many(chunk).await.api()? {
            cis.insert(ci.id.clone(), ci);
        }
    }
    cis.insert(svc.id.clone(), svc.clone());
    Ok(cis)
}

/// The active relationships between the map's CIs, each once.
async fn edges_between(
    store: &dyn GraphStore,
    cis: &BTreeMap<CiId, Ci>,
) -> async_graphql::Result<Vec<ServiceMapEdge>> {
    let ids: Vec<CiId> = cis.keys().cloned().collect();
    let out_q = RelQuery {
        direction: Direction::Out,
        types: vec![],
        include_closed: false,
    };
    let mut edges: BTreeMap<RelKey, ServiceMapEdge> = BTreeMap::new();
    for chunk in ids.chunks(CHUNK) {
        for r in store.relationships(chunk, &out_q).await.api()? {
            if r.status == RelStatus::Active && cis.contains_key(&r.from) && cis.contains_key(&r.to)
            {
                edges.entry(r.key()).or_insert_with(|| (&r).into());
            }
        }
    }
    Ok(edges.into_values().collect())
}

fn role_of(
    ci: &Ci,
    service: &CiId,
    entry: &BTreeSet<CiId>,
    members: &BTreeSet<CiId>,
) -> ServiceMapRole {
    if &ci.id == service {
        ServiceMapRole::Service
    } else if entry.contains(&ci.id) {
        ServiceMapRole::EntryPoint
    } else if members.contains(&ci.id) {
        ServiceMapRole::Member
    } else if ci.class == CiClass::Cluster {
        ServiceMapRole::Pool
    } else {
        ServiceMapRole::Dependency
    }
}
