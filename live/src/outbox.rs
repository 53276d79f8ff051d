//! Incident webhooks through a durable outbox.
//!
//! An incident change and its deliveries (one per configured webhook) are written in the same
//! commit as the change itself, so a crash never loses one nor sends one twice for one change.
//! [`deliver_due`] sends what is due: the body exactly as stored, signed with HMAC-SHA256
//! (`X-Cmdb-Signature: sha256=<hex>` over the body), with the delivery id as
//! `Idempotency-Key` (a retry after a lost answer carries the same key, so receivers
//! de-duplicate). A failure is retried with exponential backoff (base × 2^attempt, capped)
//! until `max_attempts`, then recorded FAILED with the last error.

use std::time::Duration;

use cmdb_events::incident::IncidentChange;
use cmdb_model::Timestamp;
use cmdb_store::ops::{Delivery, DeliveryState, OpsStore};
use cmdb_store::StoreError;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

/// One receiver of incident changes (`[[events.webhooks]]`).
#[derive(Clone)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    /// HMAC-SHA256 key; never logged or shown.
    pub secret: Option<String>,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Webhook {
        Webhook {
            name: name.into(),
            url: url.into(),
            secret: None,
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
        }
    }

    /// Delay before attempt `attempts + 1`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let f = 2u32.saturating_pow(attempts.saturating_sub(1).min(30));
        self.backoff_base.saturating_mul(f).min(self.backoff_max)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the receiver answered HTTP {0}")]
    Status(u16),
    #[error("sending failed: {0}")]
    Send(String),
}

/// The body receivers get.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    /// Same as the `Idempotency-Key` header.
    delivery_id: &'a str,
    /// `incident.opened`, `incident.updated`, `incident.resolved`.
    event: String,
    incident: &'a cmdb_events::Incident,
}

/// One delivery per webhook for an incident change (written with the change).
pub fn deliveries_for(hooks: &[Webhook], change: &IncidentChange, now: Timestamp) -> Vec<Delivery> {
    hooks
        .iter()
        .filter_map(|h| {
            let id = uuid::Uuid::new_v4().to_string();
            let body = serde_json::to_string(&Body {
                delivery_id: &id,
                event: format!("incident.{}", change.kind.as_str().to_ascii_lowercase()),
                incident: &change.incident,
            })
            .ok()?;
            Some(Delivery {
                id,
                webhook: h.name.clone(),
                body,
                created: now,
                attempts: 0,
                next_attempt: now,
                state: DeliveryState::Pending,
                last_error: None,
                finished: None,
            })
        })
        .collect()
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The HTTP client deliveries go through: no redirects (a receiver that moved must be
/// configured anew, not followed with a signed body), rustls with the web PKI roots.
pub fn client() -> Result<reqwest::Client, WebhookError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cmdb/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebhookError::Send(e.to_string()))
}

/// Send every due delivery once (in order); returns how many were attempted.
pub async fn deliver_due(
    ops: &dyn OpsStore,
    hooks: &[Webhook],
    client: &reqwest::Client,
    now: impl Fn() -> Timestamp,
) -> Result<usize, StoreError> {
    let due = ops.due_deliveries(now(), 100).await?;
    let n = due.len();
    for mut d in due {
        let Some(hook) = hooks.iter().find(|h| h.name == d.webhook) else {
            // The webhook was removed from the configuration: nothing to send it to.
            d.state = DeliveryState::Failed;
            d.last_error = Some(format!("webhook {:?} is no longer configured", d.webhook));
            d.finished = Some(now());
            ops.update_delivery(&d).await?;
            continue;
        };
        let result = send(client, hook, &d).await;
        d.attempts += 1;
        match result {
            Ok(()) => {
                d.state = DeliveryState::Delivered;
                d.finished = Some(now());
                d.last_error = None;
                tracing::info!(webhook = %hook.name, delivery = %d.id, attempts = d.attempts, "incident webhook delivered");
            }
            Err(e) => {
                d.last_error = Some(e.to_string());
                if d.attempts >= hook.max_attempts {
                    d.state = DeliveryState::Failed;
                    d.finished = Some(now());
                    tracing::warn!(webhook = %hook.name, delivery = %d.id, attempts = d.attempts, error = %e, "incident webhook given up");
                } else {
                    let wait = hook.backoff(d.attempts);
                    d.next_attempt = now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    tracing::warn!(webhook = %hook.name, delivery = %d.id, attempts = d.attempts, retry_in_ms = wait.as_millis() as u64, error = %e, "incident webhook failed; will retry");
                }
            }
        }
        ops.update_delivery(&d).await?;
    }
    Ok(n)
}

async fn send(client: &reqwest::Client, hook: &Webhook, d: &Delivery) -> Result<(), WebhookError> {
    let mut req = client
        .post(&hook.url)
        .timeout(hook.timeout)
        .header("content-type", "application/json")
        .header("idempotency-key", &d.id)
        .header("x-cmdb-delivery", &d.id)
        .header("x-cmdb-attempt", (d.attempts + 1).to_string());
    if let Some(secret) = &hook.secret {
        req = req.header("x-cmdb-signature", signature(secret, d.body.as_bytes()));
    }
    let resp = req
        .body(d.body.clone())
        .send()
        .await
        // Without the URL: it may carry a token in its query.
        .map_err(|e| WebhookError::Send(e.without_url().to_string()))?;
    let status = resp.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(WebhookError::Status(status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let h = Webhook::new("x", "http://127.0.0.1:1/");
        let got: Vec<u64> = (1..=14).map(|a| h.backoff(a).as_secs()).collect();
        assert_eq!(got[..5], [1, 2, 4, 8, 16]);
        assert_eq!(got[13], 3600);
    }
}
