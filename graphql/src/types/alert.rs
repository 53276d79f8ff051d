//! Alerts: the `Alert` type, the event input and what ingesting one answers.

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_store::ops::AlertRecord;

use crate::error::ApiResultExt;
use crate::guard::RoleGuard;
use crate::loaders::{CiLoaderExt, CiObj};
use crate::resolve::state;
use crate::Role;

use super::enums::AlertStateG;

pub(super) async fn alerts_by_id(
    ctx: &Context<'_>,
    v: &[String],
) -> async_graphql::Result<Vec<AlertObj>> {
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
    #[graphql(guard = "RoleGuard::new(Role::Reader)")]
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
