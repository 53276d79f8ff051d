//! What resolvers share: the API state from the context, the CIs a request names (`require_*`,
//! merged ids resolving to their survivor), page requests and their complexity, and the
//! `maxDepth` check of traversals.

use std::collections::HashSet;

use async_graphql::{Context, ErrorExtensions, ID};
use cmdb_model::{Ci, CiClass, CiId};
use cmdb_store::PageRequest;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::ApiState;

/// The API's shared state, as every resolver reaches it.
pub fn state<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a ApiState> {
    ctx.data::<ApiState>()
}

/// The CI `id` names (a merged id resolves to its survivor), or NOT_FOUND.
pub async fn require_ci(state: &ApiState, id: &str) -> async_graphql::Result<Ci> {
    state
        .store
        .get(&CiId::new(id))
        .await
        .api()?
        .ok_or_else(|| gql(ApiError::NotFound(format!("no CI with id `{id}`"))))
}

/// As [`require_ci`], and the CI must be a business service.
pub async fn require_service(state: &ApiState, id: &str) -> async_graphql::Result<Ci> {
    let ci = require_ci(state, id).await?;
    if ci.class != CiClass::BusinessService {
        return Err(gql(ApiError::NotFound(format!(
            "CI `{id}` is a {}, not a business service",
            ci.class
        ))));
    }
    Ok(ci)
}

/// The current ids of the CIs asked about (merged ids resolve to their survivor), or one
/// NOT_FOUND error naming every unknown id (`extensions.ids`).
pub async fn resolve_ids(s: &ApiState, ids: &[ID], what: &str) -> async_graphql::Result<Vec<CiId>> {
    check_id_count(s, ids.len(), what)?;
    let asked: Vec<CiId> = ids.iter().map(|i| CiId::new(i.as_str())).collect();
    let found = s.store.get_many(&asked).await.api()?;
    let known: HashSet<&CiId> = found.iter().map(|c| &c.id).collect();
    let mut out: Vec<CiId> = found.iter().map(|c| c.id.clone()).collect();
    // Merged ids resolve to their survivor; check them one by one before failing.
    let mut missing = Vec::new();
    for a in asked.iter().filter(|a| !known.contains(a)) {
        match s.store.get(a).await.api()? {
            Some(survivor) => out.push(survivor.id),
            None => missing.push(a.as_str()),
        }
    }
    if !missing.is_empty() {
        return Err(unknown_ids(missing));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn check_id_count(s: &ApiState, n: usize, what: &str) -> async_graphql::Result<()> {
    if n == 0 {
        return Err(gql(ApiError::InvalidInput(format!(
            "{what} needs at least one CI id"
        ))));
    }
    if n > s.limits.max_impact_ids {
        return Err(gql(ApiError::LimitExceeded(format!(
            "{n} ids exceed the maximum of {} per {what} question",
            s.limits.max_impact_ids
        ))));
    }
    Ok(())
}

/// NOT_FOUND naming every unknown id, in message and in `extensions.ids`.
fn unknown_ids(mut missing: Vec<&str>) -> async_graphql::Error {
    missing.sort();
    missing.dedup();
    let listed: Vec<async_graphql::Value> = missing
        .iter()
        .map(|m| async_graphql::Value::from(*m))
        .collect();
    ApiError::NotFound(format!("unknown CI ids: {}", missing.join(", ")))
        .extend()
        .extend_with(|_, x| x.set("ids", listed))
}

/// A traversal's `maxDepth`: not negative, at most the configured maximum.
pub fn check_depth(state: &ApiState, max_depth: i32) -> async_graphql::Result<u32> {
    if max_depth < 0 {
        return Err(gql(ApiError::InvalidInput(format!(
            "maxDepth must not be negative (got {max_depth})"
        ))));
    }
    if max_depth as u32 > state.limits.max_traversal_depth {
        return Err(gql(ApiError::LimitExceeded(format!(
            "maxDepth {max_depth} exceeds the maximum of {}",
            state.limits.max_traversal_depth
        ))));
    }
    Ok(max_depth as u32)
}

/// A store page request from Relay arguments, the page size checked against the cap.
pub fn page_request(
    state: &ApiState,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> async_graphql::Result<PageRequest> {
    let n = state.page_size(first, last)?;
    Ok(if last.is_some() {
        PageRequest {
            first: None,
            after,
            last: Some(n),
            before,
        }
    } else {
        PageRequest {
            first: Some(n),
            after,
            last: None,
            before,
        }
    })
}

/// Complexity of a connection field: children count once per requested item.
pub fn page_complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let n = first.or(last).unwrap_or(20).clamp(1, 100_000) as usize;
    n.saturating_mul(child_complexity).saturating_add(1)
}

/// CI ids as the schema's ids.
pub fn ids(v: &[CiId]) -> Vec<ID> {
    v.iter().map(|i| ID(i.to_string())).collect()
}
