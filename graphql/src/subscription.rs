//! Subscriptions: CI changes and discovery progress from the event bus, service status and
//! incident changes from the live side; a lagging subscriber skips what it missed.

use async_graphql::{Context, Subscription, ID};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

use crate::events::{CiChange, DiscoveryProgress, Event};
use crate::ApiState;

pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// CIs changed through the API; restricted to `ids` when given.
    async fn ci_changed(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<impl Stream<Item = CiChange>> {
        let rx = ctx.data::<ApiState>()?.events.subscribe();
        Ok(events(rx).filter_map(move |e| {
            let out = match e {
                Ok(Event::CiChanged(c))
                    if ids.as_ref().map(|ids| ids.contains(&c.id)).unwrap_or(true) =>
                {
                    Some(c)
                }
                _ => None,
            };
            async move { out }
        }))
    }

    /// A business service's operational status changed (restricted to `ids` when given).
    async fn service_status_changed(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<impl Stream<Item = crate::types::StatusChangeG>> {
        let rx = ctx.data::<ApiState>()?.live.subscribe();
        Ok(notices(rx).filter_map(move |n| {
            let out = match &n {
                cmdb_live::LiveNotice::ServiceStatus(c)
                    if crate::types::is_service(c)
                        && ids
                            .as_ref()
                            .map(|ids| ids.iter().any(|i| i.as_str() == c.change.subject.as_str()))
                            .unwrap_or(true) =>
                {
                    Some(crate::types::StatusChangeG::from(c))
                }
                _ => None,
            };
            async move { out }
        }))
    }

    /// An incident opened, changed or resolved.
    async fn incident_changed(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = crate::types::IncidentChangeG>> {
        let rx = ctx.data::<ApiState>()?.live.subscribe();
        Ok(notices(rx).filter_map(|n| {
            let out = match n {
                cmdb_live::LiveNotice::Incident(c) => Some(crate::types::IncidentChangeG(c)),
                _ => None,
            };
            async move { out }
        }))
    }

    /// Progress events of one discovery run.
    async fn discovery_progress(
        &self,
        ctx: &Context<'_>,
        run_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = DiscoveryProgress>> {
        let rx = ctx.data::<ApiState>()?.events.subscribe();
        Ok(events(rx).filter_map(move |e| {
            let out = match e {
                Ok(Event::Discovery(p)) if p.run_id == run_id => Some(p),
                _ => None,
            };
            async move { out }
        }))
    }
}

/// Live notices as a stream; a lagging receiver skips what it missed and goes on.
fn notices(
    rx: broadcast::Receiver<cmdb_live::LiveNotice>,
) -> impl Stream<Item = cmdb_live::LiveNotice> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((e, rx)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "subscriber lagged; live notices dropped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Events as a stream; a lagging receiver skips what it missed and goes on.
fn events(rx: broadcast::Receiver<Event>) -> impl Stream<Item = Result<Event, ()>> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((Ok(e), rx)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "subscriber lagged; events dropped");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
