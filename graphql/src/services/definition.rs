//! How a business service is defined: the rule input, the mapping attributes a define or
//! update writes (validated), and mapping a service right after.

use async_graphql::{InputObject, Json};
use cmdb_model::attrs;
use cmdb_model::{CiClass, CiId};
use cmdb_store::services as sm;
use serde_json::{Map, Value};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::types::CiClassG;
use crate::ApiState;

/// Most entry points one service may have.
const MAX_ENTRY_POINTS: usize = 100;

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
pub async fn mapping_attributes(
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
            attrs::RULE.into(),
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
        out.insert(attrs::ENTRY_POINTS.into(), Value::Array(clean));
    }
    if let Some(d) = mapping_depth {
        if d < 1 || d as u32 > sm::MAX_MAPPING_DEPTH {
            return Err(gql(ApiError::InvalidInput(format!(
                "mappingDepth must be 1–{} (got {d})",
                sm::MAX_MAPPING_DEPTH
            ))));
        }
        out.insert(attrs::MAPPING_DEPTH.into(), d.into());
    }
    Ok(out)
}

/// Map a service right after it was defined or changed. A mapping error (e.g. a rule that
/// matches too many CIs) is the caller's error; membership is then left as it was.
pub async fn map_now(state: &ApiState, id: &CiId) -> async_graphql::Result<()> {
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
