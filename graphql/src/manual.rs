//! Writes made by hand: one observation of source `manual` with an empty scope, ingested through
//! identification and reconciliation like any discovered change, and the change published to
//! `ciChanged` subscribers.

use async_graphql::ErrorExtensions;
use cmdb_model::{Ci, CiId, Observation, Record, RunId, Scope, Source};
use cmdb_store::IngestReport;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::events::{CiChange, CiChangeKind};
use crate::ApiState;

pub fn manual_observation() -> Observation {
    Observation::new(Source::manual(), RunId::generate(), Scope::none())
}

/// A record that addresses an existing CI by id without changing it.
pub fn reference(key: &str, ci: &cmdb_model::Ci) -> Record {
    Record {
        key: key.into(),
        class: Some(ci.class),
        id: Some(ci.id.clone()),
        ..Default::default()
    }
}

pub async fn ingest(state: &ApiState, obs: Observation) -> async_graphql::Result<IngestReport> {
    let records = obs.records.len();
    let rels = obs.relationships.len();
    let report = state.store.ingest(obs, &state.ingest).await.api()?;
    tracing::info!(
        records,
        relationships = rels,
        created = report.created,
        updated = report.updated,
        relationships_created = report.relationships_created,
        errors = report.errors.len(),
        "manual change ingested"
    );
    if !report.errors.is_empty() {
        let msgs: Vec<String> = report
            .errors
            .iter()
            .map(|e| match &e.field {
                Some(f) => format!("{} ({}, field `{f}`): {}", e.record, e.code, e.message),
                None => format!("{} ({}): {}", e.record, e.code, e.message),
            })
            .collect();
        let codes: Vec<async_graphql::Value> = report
            .errors
            .iter()
            .map(|e| async_graphql::Value::from(e.code.clone()))
            .collect();
        return Err(ApiError::InvalidInput(msgs.join("; "))
            .extend()
            .extend_with(|_, x| x.set("reasons", codes)));
    }
    Ok(report)
}

pub fn outcome_of(report: &IngestReport, key: &str) -> Option<(CiId, bool, String)> {
    let e = report.explanations.iter().find(|e| e.record == key)?;
    let ci = e.ci.clone()?;
    let created = matches!(e.outcome, cmdb_model::Outcome::Created { .. });
    Some((ci, created, e.sentence()))
}

pub fn publish(state: &ApiState, id: &CiId, kind: CiChangeKind) {
    state.events.publish_ci_change(CiChange {
        id: async_graphql::ID(id.0.clone()),
        kind,
        source: Source::MANUAL.into(),
        at: cmdb_model::now(),
    });
}

pub fn check_name(n: &str) -> async_graphql::Result<()> {
    if n.trim().is_empty() {
        return Err(gql(ApiError::InvalidInput("name must not be empty".into())));
    }
    if n.len() > 500 {
        return Err(gql(ApiError::LimitExceeded(
            "name longer than 500 characters".into(),
        )));
    }
    Ok(())
}

/// A CI just written, read back as stored (INTERNAL if it is gone).
pub async fn reread(state: &ApiState, id: &CiId) -> async_graphql::Result<Ci> {
    state.store.get(id).await.api()?.ok_or_else(|| {
        gql(ApiError::Internal(format!(
            "{id} vanished after a manual write"
        )))
    })
}
