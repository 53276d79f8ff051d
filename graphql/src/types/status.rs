//! Operational status: `ServiceStatus` (what drives a service's status now) and its changes.

use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_events::OperationalStatus;
use cmdb_store::ops::SubjectKind;

use crate::loaders::{CiLoaderExt, CiObj};
use crate::resolve::ids;

use super::alert::{alerts_by_id, AlertObj};
use super::enums::{OperationalStatusG, SubjectKindG};
use super::service::BusinessServiceObj;

/// A business service's operational status and what drives it.
pub struct ServiceStatusObj {
    pub ci: CiObj,
    pub status: OperationalStatus,
    pub live: Option<cmdb_live::ServiceStatus>,
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
            Some(l) => ctx.load_cis(&l.root_causes).await,
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

/// A service's (or a monitored CI's) operational status changed.
#[derive(SimpleObject, Clone)]
#[graphql(name = "ServiceStatusChange")]
pub struct StatusChangeG {
    pub id: ID,
    pub kind: SubjectKindG,
    pub previous: OperationalStatusG,
    pub status: OperationalStatusG,
    pub at: DateTime<Utc>,
}

impl From<&cmdb_live::StatusChangeNotice> for StatusChangeG {
    fn from(n: &cmdb_live::StatusChangeNotice) -> Self {
        StatusChangeG {
            id: ID(n.change.subject.to_string()),
            kind: n.kind.into(),
            previous: n.previous.into(),
            status: n.change.status.into(),
            at: n.change.at,
        }
    }
}

pub fn is_service(n: &cmdb_live::StatusChangeNotice) -> bool {
    n.kind == SubjectKind::Service
}
