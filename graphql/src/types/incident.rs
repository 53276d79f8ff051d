//! Incidents: the `Incident` type, the services it touches and its changes.

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use crate::loaders::{CiLoaderExt, CiObj};
use crate::resolve::ids;

use super::alert::{alerts_by_id, AlertObj};
use super::enums::{IncidentChangeKindG, IncidentStateG, LevelG, OperationalStatusG};

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
        ctx.load_cis(&self.0.root_causes).await
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
