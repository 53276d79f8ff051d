//! Mutations. Every write goes through identification and reconciliation
//! (`GraphStore::ingest`) as an observation of source `manual` with an empty scope, so it obeys
//! source precedence and lands in history like any discovered change.

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, ID};
use cmdb_model::{
    CiClass, CiId, EvidenceKind, Observation, Record, RelType, RelationshipObs, Source,
};
use serde_json::{Map, Value};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::events::CiChangeKind;
use crate::guard::{Role, RoleGuard};
use crate::loaders::CiObj;
use crate::manual::{check_name, ingest, manual_observation, outcome_of, publish, reference};
use crate::resolve::{require_ci, require_service, state};
use crate::services::{map_now, mapping_attributes, ServiceRuleInput};
use crate::types::{BusinessServiceObj, CiClassG, RelTypeG, RelationshipObj};
use crate::ApiState;
#[derive(InputObject)]
#[graphql(name = "UpsertCIInput")]
pub struct UpsertCiInput {
    /// Address an existing CI directly. Without it the CI is identified by its class's rules
    /// from `identifiers` (and created when nothing matches).
    pub id: Option<ID>,
    /// Required when creating; defaults to the existing CI's class with `id`.
    pub class: Option<CiClassG>,
    pub name: Option<String>,
    /// Identifying attributes as the class's rules name them (`hostname`, `serial_number`, …).
    pub identifiers: Option<Json<Map<String, Value>>>,
    pub attributes: Option<Json<Map<String, Value>>>,
    pub tags: Option<Vec<String>>,
    /// The parent CI (a Host) for dependent classes (Interface, Process, ListeningEndpoint, …).
    pub parent_id: Option<ID>,
}

#[derive(SimpleObject)]
#[graphql(name = "UpsertCIPayload")]
pub struct UpsertCiPayload {
    pub ci: CiObj,
    /// A new CI was created (otherwise an existing one matched).
    pub created: bool,
    /// How identification decided (rule that matched, or why a CI was created).
    pub explanation: String,
}

#[derive(InputObject)]
pub struct UpsertRelationshipInput {
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    pub from: ID,
    pub to: ID,
    /// 0–1; manual assertions default to 1.
    #[graphql(default = 1.0)]
    pub confidence: f64,
    pub attributes: Option<Json<Map<String, Value>>>,
}

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

pub struct MutationRoot;

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

#[Object]
impl MutationRoot {
    /// Create or update a CI through identification and reconciliation (source `manual`).
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn upsert_ci(
        &self,
        ctx: &Context<'_>,
        input: UpsertCiInput,
    ) -> async_graphql::Result<UpsertCiPayload> {
        let s = state(ctx)?;
        let existing = match &input.id {
            Some(id) => s.store.get(&CiId::new(id.as_str())).await.api()?,
            None => None,
        };
        let class: CiClass = match (input.class, &existing) {
            (Some(c), _) => c.into(),
            (None, Some(e)) => e.class,
            (None, None) => {
                return Err(gql(ApiError::InvalidInput(
                    "`class` is required when creating a CI".into(),
                )))
            }
        };
        if let Some(n) = &input.name {
            check_name(n)?;
        }
        let mut obs = manual_observation();
        let mut rec = Record::new("ci", class);
        rec.id = input.id.as_ref().map(|i| CiId::new(i.as_str()));
        rec.name = input.name.clone();
        rec.identifiers = input.identifiers.map(|j| j.0).unwrap_or_default();
        rec.attributes = input.attributes.map(|j| j.0).unwrap_or_default();
        rec.tags = input.tags.unwrap_or_default().into_iter().collect();
        if let Some(pid) = &input.parent_id {
            let parent = require_ci(s, pid.as_str()).await?;
            obs.records.push(reference("parent", &parent));
            rec.parent = Some("parent".into());
        } else if class.rules().parent.is_some() && existing.is_none() {
            return Err(gql(ApiError::InvalidInput(format!(
                "a {class} is identified within its parent: give `parentId`"
            ))));
        }
        obs.records.push(rec);
        let report = ingest(s, obs).await?;
        let (id, created, explanation) = outcome_of(&report, "ci").ok_or_else(|| {
            gql(ApiError::Internal(
                "ingest reported no outcome for the record".into(),
            ))
        })?;
        let ci = s
            .store
            .get(&id)
            .await
            .api()?
            .ok_or_else(|| gql(ApiError::Internal(format!("CI {id} vanished after upsert"))))?;
        publish(s, &ci.id, CiChangeKind::Upserted);
        Ok(UpsertCiPayload {
            ci: ci.into(),
            created,
            explanation,
        })
    }

    /// Close one relationship by hand: it stays queryable as CLOSED, impact no longer follows
    /// it, and history records who closed it. Discovery seeing it again reopens it.
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn close_relationship(
        &self,
        ctx: &Context<'_>,
        r#type: RelTypeG,
        from: ID,
        to: ID,
    ) -> async_graphql::Result<RelationshipObj> {
        let s = state(ctx)?;
        let (from, to) = (
            require_ci(s, from.as_str()).await?,
            require_ci(s, to.as_str()).await?,
        );
        let key = cmdb_model::RelKey::new(r#type.into(), from.id, to.id);
        let rel = s
            .store
            .close_relationship(&key, Source::MANUAL)
            .await
            .map_err(|e| gql(ApiError::from(e)))?;
        publish(s, &key.from, CiChangeKind::RelationshipClosed);
        Ok(RelationshipObj::new(rel))
    }

    /// Assert a relationship between two existing CIs (evidence `manual`).
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn upsert_relationship(
        &self,
        ctx: &Context<'_>,
        input: UpsertRelationshipInput,
    ) -> async_graphql::Result<RelationshipObj> {
        let s = state(ctx)?;
        if !(0.0..=1.0).contains(&input.confidence) {
            return Err(gql(ApiError::InvalidInput(format!(
                "confidence must be between 0 and 1 (got {})",
                input.confidence
            ))));
        }
        let from = require_ci(s, input.from.as_str()).await?;
        let to = require_ci(s, input.to.as_str()).await?;
        if from.id == to.id {
            return Err(gql(ApiError::InvalidInput(
                "a relationship needs two different CIs".into(),
            )));
        }
        let rel_type: RelType = input.rel_type.into();
        let mut obs = manual_observation();
        obs.records.push(reference("from", &from));
        obs.records.push(reference("to", &to));
        let mut r = RelationshipObs::new(
            rel_type,
            "from",
            "to",
            EvidenceKind::Manual,
            input.confidence,
        );
        r.attributes = input.attributes.map(|j| j.0).unwrap_or_default();
        obs.relationships.push(r);
        ingest(s, obs).await?;
        let key = cmdb_model::RelKey::new(rel_type, from.id.clone(), to.id.clone());
        let q = cmdb_store::RelQuery {
            direction: cmdb_store::Direction::Out,
            types: vec![rel_type],
            include_closed: true,
        };
        let rels = s.store.relationships(&[key.from.clone()], &q).await.api()?;
        let rel = rels.into_iter().find(|r| r.key() == key).ok_or_else(|| {
            gql(ApiError::Internal(format!(
                "relationship {key} not found after upsert"
            )))
        })?;
        publish(s, &from.id, CiChangeKind::RelationshipUpserted);
        publish(s, &to.id, CiChangeKind::RelationshipUpserted);
        Ok(RelationshipObj::new(rel))
    }

    /// Retire a CI by hand: it stays queryable as RETIRED; its relationships close.
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn retire_ci(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<CiObj> {
        let s = state(ctx)?;
        let ci = require_ci(s, id.as_str()).await?;
        let ci = s.store.retire(&ci.id, Source::MANUAL).await.api()?;
        publish(s, &ci.id, CiChangeKind::Retired);
        Ok(ci.into())
    }

    /// Define a business service with its members (each `member MEMBER_OF service`).
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn define_business_service(
        &self,
        ctx: &Context<'_>,
        input: DefineBusinessServiceInput,
    ) -> async_graphql::Result<BusinessServiceObj> {
        let s = state(ctx)?;
        check_name(&input.name)?;
        check_criticality(input.criticality)?;
        let existing = s
            .store
            .find(
                &cmdb_store::CiFilter {
                    classes: vec![CiClass::BusinessService],
                    name: Some((cmdb_store::NameMatch::Equals, input.name.trim().to_string())),
                    ..Default::default()
                },
                Default::default(),
                &cmdb_store::PageRequest::first(1),
            )
            .await
            .api()?;
        if let Some((_, e)) = existing.items.first() {
            return Err(gql(ApiError::InvalidInput(format!(
                "a business service named `{}` already exists ({}); use updateBusinessService",
                e.name, e.id
            ))));
        }
        let mut obs = manual_observation();
        let mut rec = Record::new("service", CiClass::BusinessService)
            .name(input.name.trim())
            .ident("name", input.name.trim());
        rec = rec.attr("criticality", input.criticality);
        if let Some(o) = &input.owner {
            rec = rec.attr("owner", o.as_str());
        }
        if let Some(sla) = &input.sla_target {
            rec = rec.attr("sla_target", sla.as_str());
        }
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
        let ci = s
            .store
            .get(&id)
            .await
            .api()?
            .ok_or_else(|| gql(ApiError::Internal(format!("service {id} vanished"))))?;
        publish(s, &ci.id, CiChangeKind::Upserted);
        Ok(BusinessServiceObj(ci.into()))
    }

    /// Change a business service's name, criticality, owner, SLA target; add members.
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn update_business_service(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateBusinessServiceInput,
    ) -> async_graphql::Result<BusinessServiceObj> {
        let s = state(ctx)?;
        let svc = require_service(s, id.as_str()).await?;
        if let Some(n) = &input.name {
            check_name(n)?;
        }
        if let Some(c) = input.criticality {
            check_criticality(c)?;
        }
        let mut obs = manual_observation();
        let mut rec = reference("service", &svc);
        rec.name = input.name.as_ref().map(|n| n.trim().to_string());
        if let Some(c) = input.criticality {
            rec.attributes.insert("criticality".into(), c.into());
        }
        if let Some(o) = &input.owner {
            rec.attributes.insert("owner".into(), o.as_str().into());
        }
        if let Some(sla) = &input.sla_target {
            rec.attributes
                .insert("sla_target".into(), sla.as_str().into());
        }
        rec.tags = input.tags.unwrap_or_default().into_iter().collect();
        let mapping = mapping_attributes(
            s,
            input.rule.as_ref(),
            input.entry_points.as_deref(),
            input.mapping_depth,
        )
        .await?;
        let mapped = !mapping.is_empty()
            || cmdb_store::services::ServiceDefinition::of(&svc)
                .map(|d| d.kind() != cmdb_store::services::ServiceKind::Manual)
                .unwrap_or(false);
        rec.attributes.extend(mapping);
        obs.records.push(rec);
        add_members(
            s,
            &mut obs,
            "service",
            input.add_members.as_deref().unwrap_or_default(),
        )
        .await?;
        // Resolve removals before writing anything, so an unknown member changes nothing.
        let mut removals = Vec::new();
        for m in input.remove_members.as_deref().unwrap_or_default() {
            let member = require_ci(s, m.as_str()).await?;
            removals.push(cmdb_model::RelKey::new(
                RelType::MemberOf,
                member.id,
                svc.id.clone(),
            ));
        }
        ingest(s, obs).await?;
        for key in removals {
            s.store
                .close_relationship(&key, Source::MANUAL)
                .await
                .map_err(|e| match e {
                    cmdb_store::StoreError::NotFound(_) => gql(ApiError::InvalidInput(format!(
                        "{} is not a member of {}",
                        key.from, key.to
                    ))),
                    other => gql(ApiError::from(other)),
                })?;
        }
        if mapped {
            map_now(s, &svc.id).await?;
        }
        let ci = s
            .store
            .get(&svc.id)
            .await
            .api()?
            .ok_or_else(|| gql(ApiError::Internal(format!("service {} vanished", svc.id))))?;
        publish(s, &ci.id, CiChangeKind::Upserted);
        Ok(BusinessServiceObj(ci.into()))
    }

    /// Delete a business service and its MEMBER_OF relationships (the members stay).
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn delete_business_service(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DeletePayload> {
        let s = state(ctx)?;
        let svc = require_service(s, id.as_str()).await?;
        s.store.delete(&svc.id, Source::MANUAL).await.api()?;
        publish(s, &svc.id, CiChangeKind::Deleted);
        Ok(DeletePayload {
            id: ID(svc.id.0),
            deleted: true,
        })
    }
}
