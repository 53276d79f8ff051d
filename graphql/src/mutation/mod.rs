//! Mutations. Every write goes through identification and reconciliation
//! (`GraphStore::ingest`) as an observation of source `manual` with an empty scope, so it obeys
//! source precedence and lands in history like any discovered change. CIs and relationships
//! here; business services in `service.rs`.

mod service;

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, ID};
use cmdb_model::{CiClass, CiId, EvidenceKind, Record, RelType, RelationshipObs, Source};
use serde_json::{Map, Value};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::events::CiChangeKind;
use crate::guard::{Role, RoleGuard};
use crate::loaders::CiObj;
use crate::manual::{
    check_name, ingest, manual_observation, outcome_of, publish, reference, reread,
};
use crate::resolve::{require_ci, require_service, state};
use crate::types::{BusinessServiceObj, CiClassG, RelTypeG, RelationshipObj};

pub use service::{DefineBusinessServiceInput, DeletePayload, UpdateBusinessServiceInput};

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

pub struct MutationRoot;

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
        let ci = reread(s, &id).await?;
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
        let rels = s
            .store
            .relationships(std::slice::from_ref(&key.from), &q)
            .await
            .api()?;
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
        let ci = service::define(state(ctx)?, input).await?;
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
        let ci = service::update(s, svc, input).await?;
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
