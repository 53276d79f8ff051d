//! The live side in GraphQL: `serviceStatus`, `alerts`, `incidents`, `incident`,
//! `serviceHealth`, the `ingestEvent` mutation, `BusinessService.operationalStatus`, and the
//! `serviceStatusChanged` / `incidentChanged` subscriptions. Rules and storage are in
//! `cmdb_live`; this file only shapes them.

use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_events::{EventInput, OperationalStatus};
use cmdb_live::LiveError;
use cmdb_model::{CiClass, CiId};
use cmdb_store::ops::{AlertQuery, AlertRecord, IncidentQuery, SubjectKind};
use cmdb_store::{CiFilter, CiOrder, PageRequest};

use crate::error::{gql, ApiError, ApiResultExt};
use crate::loaders::CiLoaderExt;
use crate::types::{BusinessServiceObj, CiObj};
use crate::{state, Role};

impl From<LiveError> for ApiError {
    fn from(e: LiveError) -> Self {
        match e {
            LiveError::Store(s) => s.into(),
            LiveError::Invalid(m) => ApiError::InvalidInput(m),
        }
    }
}

/// A service's state now, from monitoring (beside its lifecycle `status`).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::OperationalStatus", name = "OperationalStatus")]
pub enum OperationalStatusG {
    Ok,
    Degraded,
    AtRisk,
    Down,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::IncidentState", name = "IncidentState")]
pub enum IncidentStateG {
    Open,
    Resolved,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::priority::Level", name = "PriorityLevel")]
pub enum LevelG {
    High,
    Medium,
    Low,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::AlertState", name = "AlertState")]
pub enum AlertStateG {
    Open,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(
    remote = "cmdb_events::IncidentChangeKind",
    name = "IncidentChangeKind"
)]
pub enum IncidentChangeKindG {
    Opened,
    Updated,
    Resolved,
}

fn ids(v: &[CiId]) -> Vec<ID> {
    v.iter().map(|i| ID(i.to_string())).collect()
}

async fn load_all(ctx: &Context<'_>, v: &[CiId]) -> async_graphql::Result<Vec<CiObj>> {
    ctx.load_cis(v).await
}

async fn alerts_by_id(ctx: &Context<'_>, v: &[String]) -> async_graphql::Result<Vec<AlertObj>> {
    let ops = state(ctx)?.store.ops();
    let mut out = Vec::with_capacity(v.len());
    for id in v {
        if let Some(a) = ops.alert(id).await.api()? {
            out.push(AlertObj(a));
        }
    }
    Ok(out)
}

/// One alert: the events of one message key from the first problem to its clear.
pub struct AlertObj(pub AlertRecord);

#[Object(name = "Alert")]
impl AlertObj {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The de-duplication key (source + message key, or source + node + type + resource +
    /// metric; Alertmanager: its fingerprint).
    async fn key(&self) -> &str {
        &self.0.alert.key
    }
    async fn source(&self) -> &str {
        &self.0.alert.source
    }
    async fn node(&self) -> &str {
        &self.0.alert.node
    }
    async fn resource(&self) -> Option<&str> {
        self.0.alert.resource.as_deref()
    }
    #[graphql(name = "type")]
    async fn event_type(&self) -> Option<&str> {
        self.0.alert.event_type.as_deref()
    }
    async fn metric_name(&self) -> Option<&str> {
        self.0.alert.metric_name.as_deref()
    }
    /// 1 critical … 5 info.
    async fn severity(&self) -> i32 {
        self.0.alert.severity.number() as i32
    }
    async fn severity_name(&self) -> &'static str {
        self.0.alert.severity.as_str()
    }
    async fn state(&self) -> AlertStateG {
        self.0.alert.state.into()
    }
    /// Events received for it, the clear included.
    async fn count(&self) -> u64 {
        self.0.alert.count
    }
    async fn first_time(&self) -> DateTime<Utc> {
        self.0.alert.first_time
    }
    async fn last_time(&self) -> DateTime<Utc> {
        self.0.alert.last_time
    }
    async fn closed_time(&self) -> Option<DateTime<Utc>> {
        self.0.alert.closed_time
    }
    async fn description(&self) -> Option<&str> {
        self.0.alert.description.as_deref()
    }
    async fn additional_info(&self) -> Json<serde_json::Value> {
        Json(self.0.alert.additional_info.clone())
    }
    /// The CI it is bound to (the resource's CI when found, else the node's).
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        match &self.0.binding.ci {
            Some(id) => ctx.load_ci(id).await,
            None => Ok(None),
        }
    }
    async fn ci_id(&self) -> Option<ID> {
        self.0.binding.ci.as_ref().map(|i| ID(i.to_string()))
    }
    async fn bound(&self) -> bool {
        self.0.binding.ci.is_some()
    }
    /// Why it is unbound, or what was only partly found.
    async fn binding_note(&self) -> Option<&str> {
        self.0.binding.reason.as_deref()
    }
    async fn received_at(&self) -> DateTime<Utc> {
        self.0.received_last
    }
}

/// A business service's operational status and what drives it.
pub struct ServiceStatusObj {
    ci: CiObj,
    status: OperationalStatus,
    live: Option<cmdb_live::ServiceStatus>,
}

#[Object(name = "ServiceStatus")]
impl ServiceStatusObj {
    async fn service(&self) -> BusinessServiceObj {
        BusinessServiceObj(self.ci.clone())
    }
    async fn id(&self) -> ID {
        ID(self.ci.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.ci.0.name
    }
    async fn status(&self) -> OperationalStatusG {
        self.status.into()
    }
    /// Hops from the nearest CI monitoring reports on (absent when OK).
    async fn depth(&self) -> Option<u32> {
        self.live.as_ref().map(|l| l.depth)
    }
    /// The CIs with open alerts that drive this status.
    async fn root_causes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        match &self.live {
            Some(l) => load_all(ctx, &l.root_causes).await,
            None => Ok(vec![]),
        }
    }
    /// The open alerts on those CIs.
    async fn alerts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AlertObj>> {
        match &self.live {
            Some(l) => alerts_by_id(ctx, &l.alerts).await,
            None => Ok(vec![]),
        }
    }
    /// Shortest dependency chains from a root cause to the service (CI ids).
    async fn paths(&self) -> Vec<Vec<ID>> {
        self.live
            .as_ref()
            .map(|l| l.paths.iter().map(|p| ids(p)).collect())
            .unwrap_or_default()
    }
}

#[derive(SimpleObject)]
#[graphql(name = "IncidentService")]
pub struct IncidentServiceG {
    pub id: ID,
    pub name: String,
    pub criticality: Option<i32>,
    pub status: OperationalStatusG,
    pub worst_status: OperationalStatusG,
}

/// One episode of trouble: the services it touches, their causes and alerts.
pub struct IncidentObj(pub cmdb_events::Incident);

#[Object(name = "Incident")]
impl IncidentObj {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    async fn state(&self) -> IncidentStateG {
        self.0.state.into()
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    /// `P1` (most urgent) … `P5`, from the ITIL impact × urgency matrix.
    async fn priority(&self) -> &'static str {
        self.0.priority.as_str()
    }
    /// From the services' criticality.
    async fn impact(&self) -> LevelG {
        self.0.impact.into()
    }
    /// From how bad the services are.
    async fn urgency(&self) -> LevelG {
        self.0.urgency.into()
    }
    async fn services(&self) -> Vec<IncidentServiceG> {
        self.0
            .services
            .iter()
            .map(|s| IncidentServiceG {
                id: ID(s.id.to_string()),
                name: s.name.clone(),
                criticality: s.criticality.map(|c| c as i32),
                status: s.status.into(),
                worst_status: s.worst_status.into(),
            })
            .collect()
    }
    async fn root_causes(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        load_all(ctx, &self.0.root_causes).await
    }
    async fn root_cause_ids(&self) -> Vec<ID> {
        ids(&self.0.root_causes)
    }
    async fn alerts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AlertObj>> {
        alerts_by_id(ctx, &self.0.alerts).await
    }
    async fn paths(&self) -> Vec<Vec<ID>> {
        self.0.paths.iter().map(|p| ids(p)).collect()
    }
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }
    /// Changes so far; webhook receivers order updates by it.
    async fn revision(&self) -> u64 {
        self.0.revision
    }
}

/// Service-level figures of a service or CI over a window.
#[derive(SimpleObject)]
#[graphql(name = "ServiceHealth")]
pub struct HealthG {
    pub id: ID,
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Time not DOWN / window, in percent.
    pub availability_percent: f64,
    pub down_seconds: f64,
    pub degraded_seconds: f64,
    pub at_risk_seconds: f64,
    /// Stretches of DOWN overlapping the window.
    pub outages: u32,
    /// Mean outage length.
    pub mttr_seconds: Option<f64>,
    /// Mean up time between outages.
    pub mtbf_seconds: Option<f64>,
    pub incident_count: u32,
    /// The CI's `sla_target` as a percentage, when it has one.
    pub sla_target_percent: Option<f64>,
    pub sla_met: Option<bool>,
    /// DOWN time the target allows over the window.
    pub error_budget_seconds: Option<f64>,
    /// What is left of it (negative when breached).
    pub error_budget_left_seconds: Option<f64>,
    /// Set when the CI's `sla_target` does not parse.
    pub sla_problem: Option<String>,
}

fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

impl From<cmdb_live::SubjectHealth> for HealthG {
    fn from(h: cmdb_live::SubjectHealth) -> Self {
        let f = &h.figures;
        HealthG {
            id: ID(h.id.to_string()),
            name: h.name.clone(),
            from: f.from,
            to: f.to,
            availability_percent: f.availability_percent,
            down_seconds: secs(f.down_ms),
            degraded_seconds: secs(f.degraded_ms),
            at_risk_seconds: secs(f.at_risk_ms),
            outages: f.outages,
            mttr_seconds: f.mttr_ms.map(secs),
            mtbf_seconds: f.mtbf_ms.map(secs),
            incident_count: h.incidents as u32,
            sla_target_percent: f.sla.as_ref().map(|s| s.target_percent),
            sla_met: f.sla.as_ref().map(|s| s.met),
            error_budget_seconds: f.sla.as_ref().map(|s| secs(s.error_budget_ms)),
            error_budget_left_seconds: f
                .sla
                .as_ref()
                .map(|s| s.error_budget_left_ms as f64 / 1000.0),
            sla_problem: h.sla_problem,
        }
    }
}

/// An event as integrations send it (`POST /api/v1/events` takes the same fields as JSON).
#[derive(InputObject)]
#[graphql(name = "EventInput")]
pub struct EventInputG {
    pub source: String,
    /// Host name, FQDN, IP or MAC address (or `host:port`).
    pub node: String,
    /// A process, an endpoint (`tcp/5432`) or an interface on the node.
    pub resource: Option<String>,
    #[graphql(name = "type")]
    pub event_type: Option<String>,
    pub metric_name: Option<String>,
    /// 0 clear, 1 critical, 2 major, 3 minor, 4 warning, 5 info.
    pub severity: i32,
    pub message_key: Option<String>,
    pub description: Option<String>,
    /// RFC 3339; the time of receipt when absent.
    pub time: Option<DateTime<Utc>>,
    pub additional_info: Option<Json<serde_json::Value>>,
}

#[derive(SimpleObject)]
#[graphql(name = "IngestEventResult")]
pub struct IngestEventResultG {
    // Only scalars and AlertRef here: the `events` role may read this answer.
    /// The alert the event belongs to (absent when it changed nothing).
    pub alert: Option<AlertObjRef>,
    /// OPENED, UPDATED, CLOSED or IGNORED.
    pub outcome: String,
    /// Why an ignored event changed nothing.
    pub ignored_reason: Option<String>,
    /// Services whose status changed in the commit that held this event (intakes arriving
    /// together are committed together).
    pub services_changed: u32,
    /// Incidents changed by that commit.
    pub incidents_changed: u32,
}

/// An alert by id (resolved lazily so the mutation's answer reflects the commit).
#[derive(Clone)]
pub struct AlertObjRef(pub String);

#[Object(name = "AlertRef")]
impl AlertObjRef {
    async fn id(&self) -> ID {
        ID(self.0.clone())
    }
    /// The alert itself (a reader's right: the `events` role gets the id only, so a monitor's
    /// token reads nothing of the CMDB through the mutation's answer).
    #[graphql(guard = "crate::mutation::RoleGuard::new(Role::Reader)")]
    async fn alert(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<AlertObj>> {
        Ok(state(ctx)?
            .store
            .ops()
            .alert(&self.0)
            .await
            .api()?
            .map(AlertObj))
    }
}

#[derive(SimpleObject)]
#[graphql(name = "MissingAttribute")]
pub struct MissingAttributeG {
    /// `a|b`: one of them was expected.
    pub attribute: String,
    pub count: u64,
}

#[derive(SimpleObject)]
#[graphql(name = "ClassCompleteness")]
pub struct ClassCompletenessG {
    pub class: crate::types::CiClassG,
    /// Current CIs (not retired, not placeholders).
    pub total: u64,
    pub complete: u64,
    pub missing: Vec<MissingAttributeG>,
    /// Some incomplete CIs.
    pub examples: Vec<ID>,
}

#[derive(SimpleObject)]
#[graphql(name = "StalenessBySource")]
pub struct StalenessG {
    pub class: crate::types::CiClassG,
    pub source: String,
    pub active: u64,
    pub stale: u64,
    pub retired: u64,
}

#[derive(SimpleObject)]
#[graphql(name = "DuplicateCandidate")]
pub struct DuplicateG {
    pub class: crate::types::CiClassG,
    pub name: String,
    pub ids: Vec<ID>,
}

/// Can the answers built on the CMDB be trusted?
#[derive(SimpleObject)]
#[graphql(name = "CmdbHealth")]
pub struct CmdbHealthG {
    pub cis: u64,
    pub completeness_percent: f64,
    pub completeness: Vec<ClassCompletenessG>,
    pub staleness: Vec<StalenessG>,
    pub duplicates: Vec<DuplicateG>,
    pub open_alerts: u64,
    pub unbound_alerts: u64,
    pub unbound_alerts_percent: f64,
}

impl From<cmdb_live::CmdbHealth> for CmdbHealthG {
    fn from(h: cmdb_live::CmdbHealth) -> Self {
        CmdbHealthG {
            cis: h.cis as u64,
            completeness_percent: h.completeness_percent,
            completeness: h
                .completeness
                .into_iter()
                .map(|c| ClassCompletenessG {
                    class: c.class.into(),
                    total: c.total as u64,
                    complete: c.complete as u64,
                    missing: c
                        .missing
                        .into_iter()
                        .map(|(attribute, n)| MissingAttributeG {
                            attribute,
                            count: n as u64,
                        })
                        .collect(),
                    examples: ids(&c.examples),
                })
                .collect(),
            staleness: h
                .staleness
                .into_iter()
                .map(|s| StalenessG {
                    class: s.class.into(),
                    source: s.source,
                    active: s.active as u64,
                    stale: s.stale as u64,
                    retired: s.retired as u64,
                })
                .collect(),
            duplicates: h
                .duplicates
                .into_iter()
                .map(|d| DuplicateG {
                    class: d.class.into(),
                    name: d.name,
                    ids: ids(&d.ids),
                })
                .collect(),
            open_alerts: h.open_alerts as u64,
            unbound_alerts: h.unbound_alerts as u64,
            unbound_alerts_percent: h.unbound_alerts_percent,
        }
    }
}

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

/// Whether `role` may post events: the `events` role and editors and admins.
pub fn may_ingest(role: Role) -> bool {
    role == Role::Events || role >= Role::Editor
}

struct IngestGuard;

impl async_graphql::Guard for IngestGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let role = ctx.data_opt::<Role>().copied().unwrap_or(Role::Reader);
        if may_ingest(role) {
            Ok(())
        } else {
            Err(gql(ApiError::Forbidden(format!(
                "posting events needs the events, editor or admin role; the caller is a {}",
                role.as_str()
            ))))
        }
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

/// A service's (or a monitored CI's) operational status changed.
#[derive(SimpleObject, Clone)]
#[graphql(name = "ServiceStatusChange")]
pub struct StatusChangeG {
    pub id: ID,
    /// SERVICE or CI.
    pub kind: String,
    pub previous: OperationalStatusG,
    pub status: OperationalStatusG,
    pub at: DateTime<Utc>,
}

impl From<&cmdb_live::StatusChangeNotice> for StatusChangeG {
    fn from(n: &cmdb_live::StatusChangeNotice) -> Self {
        StatusChangeG {
            id: ID(n.change.subject.to_string()),
            kind: n.kind.as_str().into(),
            previous: n.previous.into(),
            status: n.change.status.into(),
            at: n.change.at,
        }
    }
}

pub fn is_service(n: &cmdb_live::StatusChangeNotice) -> bool {
    n.kind == SubjectKind::Service
}

/// An incident opened, changed or resolved.
pub struct IncidentChangeG(pub cmdb_events::IncidentChange);

#[Object(name = "IncidentChange")]
impl IncidentChangeG {
    async fn kind(&self) -> IncidentChangeKindG {
        self.0.kind.into()
    }
    async fn incident(&self) -> IncidentObj {
        IncidentObj(self.0.incident.clone())
    }
}
