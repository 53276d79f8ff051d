//! The live side's background work in `cmdb serve`: webhook delivery from the outbox, and
//! binding open alerts again. Each loop stops at the shutdown signal after the step it is in.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How often the outbox is looked at when idle.
const OUTBOX_POLL: Duration = Duration::from_millis(500);

/// Send due incident webhooks until `stop` turns true.
pub async fn deliver_webhooks(live: Arc<cmdb_live::Live>, mut stop: watch::Receiver<bool>) {
    let hooks = live.config().webhooks.clone();
    if hooks.is_empty() {
        return;
    }
    let client = match cmdb_live::outbox::client() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; incident webhooks are not sent");
            return;
        }
    };
    tracing::info!(webhooks = hooks.len(), "incident webhook delivery started");
    loop {
        if *stop.borrow() {
            return;
        }
        let sent = cmdb_live::outbox::deliver_due(live.store().ops(), &hooks, &client, chrono::Utc::now)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, code = e.code(), "reading the webhook outbox failed; retrying");
                0
            });
        if sent == 0 {
            tokio::select! {
                _ = tokio::time::sleep(OUTBOX_POLL) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Bind open alerts again every `every` until `stop` turns true.
pub async fn rebind_periodically(
    live: Arc<cmdb_live::Live>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        if let Err(e) = live.rebind(chrono::Utc::now()).await {
            tracing::warn!(error = %e, code = e.code(), "binding open alerts again failed");
        }
    }
}
