//! Business services by hand: define, update (members added and removed), delete. Each
//! writes through [`crate::manual`]; a service with a rule or entry points is mapped right
//! after.

use async_graphql::{InputObject, SimpleObject, ID};
use cmdb_model::attrs;
use cmdb_model::{
    Ci, CiClass, CiId, EvidenceKind, Observation, Record, RelKey, RelType, RelationshipObs, Source,
};
use cmdb_store::services::{ServiceDefinition, ServiceKind};
use cmdb_store::{CiFilter, NameMatch, PageRequest, StoreError};
use serde_json::Value;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::events::CiChangeKind;
use crate::manual::{
    check_name, ingest, manual_observation, outcome_of, publish, reference, reread,
};
use crate::resolve::require_ci;
use crate::services::{map_now, mapping_attributes, ServiceRuleInput};
use crate::ApiState;

#[derive(InputObject)]
pub struct DefineBusinessServiceInput {
    pub name: String,
    /// 1 (highest) – 5.
    pub criticality: i32,
    pub owner: Option<String>,
    pub sla_target: Option<String>,
    /// CI ids that are MEMBER_OF the service.
    pub members: Option<Vec<ID>>,
    pub tags: Option<Vec<String>>,
    /// Members are the CIs matching this rule, kept current after every discovery run.
    pub rule: Option<ServiceRuleInput>,
    /// `host:port` or URLs (`https://shop.example.com/…`): the service is mapped top-down from
    /// them along listening processes and their outbound connections.
    pub entry_points: Option<Vec<String>>,
    /// Connection tiers followed from the entry points (default 8).
    pub mapping_depth: Option<i32>,
}

#[derive(InputObject)]
pub struct UpdateBusinessServiceInput {
    pub name: Option<String>,
    pub criticality: Option<i32>,
    pub owner: Option<String>,
    pub sla_target: Option<String>,
    /// CI ids to add as members.
    pub add_members: Option<Vec<ID>>,
    /// CI ids that stop being members (their MEMBER_OF relationship is closed; history kept).
    pub remove_members: Option<Vec<ID>>,
    pub tags: Option<Vec<String>>,
    /// Replace the rule; an empty rule (`{}`) switches rule mapping off.
    pub rule: Option<ServiceRuleInput>,
    /// Replace the entry points; `[]` switches entry-point mapping off.
    pub entry_points: Option<Vec<String>>,
    pub mapping_depth: Option<i32>,
}

#[derive(SimpleObject)]
pub struct DeletePayload {
    pub id: ID,
    pub deleted: bool,
}

fn check_criticality(c: i32) -> async_graphql::Result<()> {
    if (1..=5).contains(&c) {
        Ok(())
    } else {
        Err(gql(ApiError::InvalidInput(format!(
            "criticality must be 1–5 (got {c})"
        ))))
    }
}

async fn add_members(
    state: &ApiState,
    obs: &mut Observation,
    service_key: &str,
    members: &[ID],
) -> async_graphql::Result<()> {
    let mut ids: Vec<CiId> = members.iter().map(|m| CiId::new(m.as_str())).collect();
    ids.sort();
    ids.dedup();
    if ids.len() > state.limits.max_page_size {
        return Err(gql(ApiError::LimitExceeded(format!(
            "more than {} members in one call",
            state.limits.max_page_size
        ))));
    }
    let found = state.store.get_many(&ids).await.api()?;
    let known: std::collections::HashSet<&CiId> = found.iter().map(|c| &c.id).collect();
    let missing: Vec<&str> = ids
        .iter()
        .filter(|i| !known.contains(i))
        .map(|i| i.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(gql(ApiError::NotFound(format!(
            "unknown member CI ids: {}",
            missing.join(", ")
        ))));
    }
    for (i, ci) in found.iter().enumerate() {
        let key = format!("member{i}");
        obs.records.push(reference(&key, ci));
        obs.relationships.push(RelationshipObs::new(
            RelType::MemberOf,
            key,
            service_key,
            EvidenceKind::Manual,
            1.0,
        ));
    }
    Ok(())
}

/// The descriptive attributes a define or update sets (those given).
fn describe(rec: &mut Record, criticality: Option<i32>, owner: Option<&str>, sla: Option<&str>) {
    if let Some(c) = criticality {
        rec.attributes.insert(attrs::CRITICALITY.into(), c.into());
    }
    if let Some(o) = owner {
        rec.attributes.insert(attrs::OWNER.into(), Value::from(o));
    }
    if let Some(sla) = sla {
        rec.attributes
            .insert(attrs::SLA_TARGET.into(), Value::from(sla));
    }
}

/// Refuse a second service of the same name.
async fn check_unique(s: &ApiState, name: &str) -> async_graphql::Result<()> {
    let filter = CiFilter {
        classes: vec![CiClass::BusinessService],
        name: Some((NameMatch::Equals, name.to_string())),
        ..Default::default()
    };
    let existing = s
        .store
        .find(&filter, Default::default(), &PageRequest::first(1))
        .await
        .api()?;
    match existing.items.first() {
        Some((_, e)) => Err(gql(ApiError::InvalidInput(format!(
            "a business service named `{}` already exists ({}); use updateBusinessService",
            e.name, e.id
        )))),
        None => Ok(()),
    }
}

/// `defineBusinessService`: the new service as stored.
pub async fn define(s: &ApiState, input: DefineBusinessServiceInput) -> async_graphql::Result<Ci> {
    check_name(&input.name)?;
    check_criticality(input.criticality)?;
    let name = input.name.trim();
    check_unique(s, name).await?;
    let mut obs = manual_observation();
    let mut rec = Record::new("service", CiClass::BusinessService)
        .name(name)
        .ident("name", name);
    describe(
        &mut rec,
        Some(input.criticality),
        input.owner.as_deref(),
        input.sla_target.as_deref(),
    );
    rec.tags = input.tags.unwrap_or_default().into_iter().collect();
    let mapping = mapping_attributes(
        s,
        input.rule.as_ref(),
        input.entry_points.as_deref(),
        input.mapping_depth,
    )
    .await?;
    let mapped = !mapping.is_empty();
    rec.attributes.extend(mapping);
    obs.records.push(rec);
    add_members(
        s,
        &mut obs,
        "service",
        input.members.as_deref().unwrap_or_default(),
    )
    .await?;
    let report = ingest(s, obs).await?;
    let (id, _, _) = outcome_of(&report, "service")
        .ok_or_else(|| gql(ApiError::Internal("no outcome for the service".into())))?;
    if mapped {
        map_now(s, &id).await?;
    }
    let ci = reread(s, &id).await?;
    publish(s, &ci.id, CiChangeKind::Upserted);
    Ok(ci)
}

/// `updateBusinessService` of `svc`: the service as stored after.
pub async fn update(
    s: &ApiState,
    svc: Ci,
    input: UpdateBusinessServiceInput,
) -> async_graphql::Result<Ci> {
    if let Some(n) = &input.name {
        check_name(n)?;
    }
    if let Some(c) = input.criticality {
        check_criticality(c)?;
    }
    let mut obs = manual_observation();
    let mut rec = reference("service", &svc);
    rec.name = input.name.as_ref().map(|n| n.trim().to_string());
    describe(
        &mut rec,
        input.criticality,
        input.owner.as_deref(),
        input.sla_target.as_deref(),
    );
    rec.tags = input.tags.unwrap_or_default().into_iter().collect();
    let mapping = mapping_attributes(
        s,
        input.rule.as_ref(),
        input.entry_points.as_deref(),
        input.mapping_depth,
    )
    .await?;
    let mapped = !mapping.is_empty() || is_mapped(&svc);
    rec.attributes.extend(mapping);
    obs.records.push(rec);
    let added = input.add_members.as_deref().unwrap_or_default();
    add_members(s, &mut obs, "service", added).await?;
    // Resolve removals before writing anything, so an unknown member changes nothing.
    let removed = input.remove_members.as_deref().unwrap_or_default();
    let removals = memberships(s, &svc, removed).await?;
    ingest(s, obs).await?;
    close_memberships(s, removals).await?;
    if mapped {
        map_now(s, &svc.id).await?;
    }
    let ci = reread(s, &svc.id).await?;
    publish(s, &ci.id, CiChangeKind::Upserted);
    Ok(ci)
}

/// Whether the service's members come from a rule or entry points (so it is mapped again).
fn is_mapped(svc: &Ci) -> bool {
    ServiceDefinition::of(svc)
        .map(|d| d.kind() != ServiceKind::Manual)
        .unwrap_or(false)
}

/// The MEMBER_OF keys of `members` to `svc`; NOT_FOUND for an unknown member.
async fn memberships(s: &ApiState, svc: &Ci, members: &[ID]) -> async_graphql::Result<Vec<RelKey>> {
    let mut out = Vec::new();
    for m in members {
        let member = require_ci(s, m.as_str()).await?;
        out.push(RelKey::new(RelType::MemberOf, member.id, svc.id.clone()));
    }
    Ok(out)
}

async fn close_memberships(s: &ApiState, keys: Vec<RelKey>) -> async_graphql::Result<()> {
    for key in keys {
        s.store
            .close_relationship(&key, Source::MANUAL)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => gql(ApiError::InvalidInput(format!(
                    "{} is not a member of {}",
                    key.from, key.to
                ))),
                other => gql(ApiError::from(other)),
            })?;
    }
    Ok(())
}
