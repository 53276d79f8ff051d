//! The live side in GraphQL: `serviceStatus`, `alerts`, `incidents`, `incident`,
//! `serviceHealth`, the `ingestEvent` mutation, `BusinessService.operationalStatus`, and the
//! `serviceStatusChanged` / `incidentChanged` subscriptions. Rules and storage are in
//! `cmdb_live`; this file only shapes them.

use async_graphql::{Context, Object, ID};
use chrono::{DateTime, Utc};
use cmdb_events::{EventInput, OperationalStatus};
use cmdb_model::{CiClass, CiId};
use cmdb_store::ops::{AlertQuery, IncidentQuery};
use cmdb_store::{CiFilter, CiOrder, PageRequest};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::guard::IngestGuard;
use crate::resolve::state;
use crate::types::{
    AlertObj, AlertObjRef, CmdbHealthG, EventInputG, HealthG, IncidentObj, IngestEventResultG,
    ServiceStatusObj,
};

/// Kept here for the server's event intakes, which ask the same question.
pub use crate::guard::may_ingest;

#[derive(Default)]
pub struct LiveQuery;

#[Object]
impl LiveQuery {
    /// Every business service's operational status now (OK ones included unless
    /// `onlyAffected`), worst first, with the alerts and paths that drive it.
    async fn service_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] only_affected: bool,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<ServiceStatusObj>> {
        let st = state(ctx)?;
        let n = st.page_size(first, None)?;
        let live = st.live.service_status().await.api()?;
        let mut out = Vec::new();
        let affected_ids: Vec<CiId> = live.iter().map(|s| s.service.clone()).collect();
        let cis = st.store.get_many(&affected_ids).await.api()?;
        for s in live {
            if let Some(ci) = cis.iter().find(|c| c.id == s.service) {
                out.push(ServiceStatusObj {
                    ci: ci.clone().into(),
                    status: s.status,
                    live: Some(s),
                });
            }
        }
        out.sort_by(|a, b| {
            b.status
                .cmp(&a.status)
                .then_with(|| a.ci.0.name.cmp(&b.ci.0.name))
        });
        if !only_affected && out.len() < n {
            let f = CiFilter {
                classes: vec![CiClass::BusinessService],
                ..Default::default()
            };
            let page = st
                .store
                .find(
                    &f,
                    CiOrder::default(),
                    &PageRequest::first(n + affected_ids.len()),
                )
                .await
                .api()?;
            for (_, ci) in page.items {
                if ci.status == cmdb_model::CiStatus::Retired || affected_ids.contains(&ci.id) {
                    continue;
                }
                out.push(ServiceStatusObj {
                    ci: ci.into(),
                    status: OperationalStatus::Ok,
                    live: None,
                });
            }
        }
        out.truncate(n);
        Ok(out)
    }

    /// Alerts, newest first.
    async fn alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] open_only: bool,
        #[graphql(default = false)] unbound_only: bool,
        ci_id: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<AlertObj>> {
        let st = state(ctx)?;
        let n = st.page_size(first, None)?;
        let q = AlertQuery {
            open_only,
            unbound_only,
            cis: ci_id.map(|i| vec![CiId::new(i.as_str())]),
            limit: n,
        };
        Ok(st
            .store
            .ops()
            .alerts(&q)
            .await
            .api()?
            .into_iter()
            .map(AlertObj)
            .collect())
    }

    /// Incidents, newest opened first.
    async fn incidents(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] open_only: bool,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<IncidentObj>> {
        let st = state(ctx)?;
        let n = st.page_size(first, None)?;
        let q = IncidentQuery {
            open_only,
            limit: n,
        };
        Ok(st
            .store
            .ops()
            .incidents(&q)
            .await
            .api()?
            .into_iter()
            .map(IncidentObj)
            .collect())
    }

    async fn incident(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<IncidentObj>> {
        Ok(state(ctx)?
            .store
            .ops()
            .incident(id.as_str())
            .await
            .api()?
            .map(IncidentObj))
    }

    /// The CMDB's own health: completeness by class, staleness by class and source, duplicate
    /// candidates, and the share of open alerts bound to no CI. Scans every CI.
    #[graphql(complexity = 1000)]
    async fn cmdb_health(&self, ctx: &Context<'_>) -> async_graphql::Result<CmdbHealthG> {
        let st = state(ctx)?;
        Ok(cmdb_live::cmdb_health(&*st.store).await.api()?.into())
    }

    /// Availability, MTTR, MTBF, incidents and SLA of a service (or any CI monitoring reports
    /// on) over `[from, to)`.
    async fn service_health(
        &self,
        ctx: &Context<'_>,
        id: ID,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> async_graphql::Result<Option<HealthG>> {
        let st = state(ctx)?;
        Ok(
            cmdb_live::subject_health(&*st.store, &CiId::new(id.as_str()), from, to)
                .await
                .api()?
                .map(Into::into),
        )
    }
}

#[derive(Default)]
pub struct LiveMutation;

#[Object]
impl LiveMutation {
    /// Post one event (as `POST /api/v1/events` does): it opens, updates or clears its alert,
    /// and service status and incidents follow.
    #[graphql(guard = "IngestGuard")]
    async fn ingest_event(
        &self,
        ctx: &Context<'_>,
        input: EventInputG,
    ) -> async_graphql::Result<IngestEventResultG> {
        let st = state(ctx)?;
        let now = Utc::now();
        let wire = EventInput {
            source: Some(input.source),
            node: Some(input.node),
            resource: input.resource,
            event_type: input.event_type,
            metric_name: input.metric_name,
            severity: Some(serde_json::json!(input.severity)),
            message_key: input.message_key,
            description: input.description,
            time: input.time.map(|t| t.to_rfc3339()),
            additional_info: input.additional_info.map(|j| j.0),
        };
        let event = wire
            .into_event(now)
            .map_err(|e| gql(ApiError::InvalidInput(e.to_string())))?;
        let sum = st
            .live
            .ingest(std::slice::from_ref(&event), now)
            .await
            .api()?;
        let outcome = if sum.opened > 0 {
            "OPENED"
        } else if sum.closed > 0 {
            "CLOSED"
        } else if sum.updated > 0 {
            "UPDATED"
        } else {
            "IGNORED"
        };
        Ok(IngestEventResultG {
            alert: sum.alert_ids.first().cloned().flatten().map(AlertObjRef),
            outcome: outcome.into(),
            ignored_reason: sum.ignored.first().map(|i| i.reason.to_string()),
            services_changed: sum.services_changed as u32,
            incidents_changed: sum.incidents_changed as u32,
        })
    }
}
