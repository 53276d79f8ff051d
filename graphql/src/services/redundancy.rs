//! `setRedundancy`: how many members of a group must be up, set by hand.

use cmdb_model::impact::{AT_RISK_UP_ATTR, MIN_UP_ATTR};
use cmdb_model::{Ci, Record};
use cmdb_store::services as sm;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::events::CiChangeKind;
use crate::manual::{manual_observation, publish, reread};
use crate::ApiState;

/// Write `min_up` (and `at_risk_up`) on `group` as source `manual`, after checking them
/// against its member count; the group as it is then.
pub async fn set_redundancy(
    s: &ApiState,
    group: Ci,
    min_up: i32,
    at_risk_up: Option<i32>,
) -> async_graphql::Result<Ci> {
    check(s, &group, min_up, at_risk_up).await?;
    let mut obs = manual_observation();
    let mut rec = Record::new("group", group.class);
    rec.id = Some(group.id.clone());
    rec = rec.attr(MIN_UP_ATTR, min_up);
    if let Some(a) = at_risk_up {
        rec = rec.attr(AT_RISK_UP_ATTR, a);
    }
    obs.push(rec);
    let report = s.store.ingest(obs, &s.ingest).await.api()?;
    if let Some(e) = report.errors.first() {
        return Err(gql(ApiError::InvalidInput(format!(
            "{} ({}): {}",
            e.record, e.code, e.message
        ))));
    }
    let ci = reread(s, &group.id).await?;
    tracing::info!(group = %ci.id, min_up, "redundancy set by hand");
    publish(s, &ci.id, CiChangeKind::Upserted);
    Ok(ci)
}

/// `min_up` is 1 to the member count, `at_risk_up` 0 to `min_up`.
async fn check(
    s: &ApiState,
    group: &Ci,
    min_up: i32,
    at_risk_up: Option<i32>,
) -> async_graphql::Result<()> {
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
    match at_risk_up {
        Some(a) if a < 0 || a > min_up => Err(gql(ApiError::InvalidInput(format!(
            "atRiskUp must be 0–{min_up} (minUp), got {a}"
        )))),
        _ => Ok(()),
    }
}
