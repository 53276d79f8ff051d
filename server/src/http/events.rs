//! Event intake over HTTP: `POST /api/v1/events` (the generic event, one or many) and
//! `POST /api/v1/alerts/alertmanager` (Alertmanager's webhook, version 4). Both need a token
//! with the `events`, `editor` or `admin` role; both read at most `[events] max_body_bytes`
//! before parsing anything, and hand validated events to the one pipeline (`cmdb_live`).
//!
//! A malformed request is refused whole with a 4xx naming what is wrong, and nothing is stored.
//! In an Alertmanager payload one bad alert is reported and skipped (Alertmanager re-sends a
//! whole group on failure, so refusing all would block the good alerts for ever); a broken
//! envelope refuses the payload.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use cmdb_events::alertmanager::WebhookPayload;
use cmdb_events::{Event, EventInput};
use cmdb_live::LiveError;
use serde_json::{json, Value};

use super::{
    authenticate, browser, check_browser, json_error, overrun, read_body, refused, AppState,
};

/// Common steps: browser checks, JSON only, token with a role that may post events, body.
async fn intake_body(
    req: &HttpRequest,
    payload: web::Payload,
    st: &AppState,
) -> Result<(String, web::Bytes), HttpResponse> {
    check_browser(req, st).map_err(|r| *r)?;
    match browser::post_body_kind(req) {
        Ok(false) => {}
        Ok(true) => {
            return Err(json_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "INVALID_INPUT",
                "events are JSON (Content-Type: application/json)",
            ))
        }
        Err(r) => return Err(refused(req, r)),
    }
    let caller = authenticate(req, st).map_err(|r| *r)?;
    if !cmdb_graphql::live::may_ingest(caller.role) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            &format!(
                "posting events needs the events, editor or admin role; the caller is a {}",
                caller.role.as_str()
            ),
        ));
    }
    let body = match tokio::time::timeout(
        st.budget.limit,
        read_body(payload, st.max_event_body_bytes, req),
    )
    .await
    {
        Ok(Ok(b)) => b,
        Ok(Err(r)) => return Err(r),
        Err(_) => return Err(overrun(super::exec::Overrun::TimedOut(st.budget.limit))),
    };
    Ok((caller.name, body))
}

/// `what at `path`: message` from a typed-JSON error (the path omitted at the top level).
fn located<E: std::fmt::Display>(what: &str, e: serde_path_to_error::Error<E>) -> String {
    let path = e.path().to_string();
    if path.is_empty() || path == "." {
        format!("{what}: {}", e.inner())
    } else {
        format!("{what} at `{path}`: {}", e.inner())
    }
}

fn bad(message: impl Into<String>) -> HttpResponse {
    json_error(StatusCode::BAD_REQUEST, "INVALID_INPUT", &message.into())
}

/// Run the pipeline off the HTTP workers, within the request budget.
async fn ingest(
    st: &AppState,
    events: Vec<Event>,
    rejected: Vec<Value>,
    caller: &str,
    intake: &'static str,
) -> HttpResponse {
    let live = st.live.clone();
    let now = chrono::Utc::now();
    let n = events.len();
    let result = st
        .budget
        .run(async move { live.ingest(&events, now).await })
        .await;
    match result {
        Ok(Ok(sum)) => {
            tracing::info!(
                caller,
                intake,
                events = n,
                opened = sum.opened,
                updated = sum.updated,
                closed = sum.closed,
                unbound = sum.unbound,
                rejected = rejected.len(),
                services_changed = sum.services_changed,
                incidents_changed = sum.incidents_changed,
                "events ingested"
            );
            crate::metrics::metrics().ingested(intake, &sum, rejected.len());
            let mut body = serde_json::to_value(&sum).unwrap_or_else(|_| json!({}));
            body["rejected"] = Value::Array(rejected);
            HttpResponse::Ok().json(body)
        }
        Ok(Err(e)) => {
            let status = match &e {
                LiveError::Invalid(_) => StatusCode::BAD_REQUEST,
                LiveError::Store(cmdb_store::StoreError::Unavailable(_))
                | LiveError::Store(cmdb_store::StoreError::Conflict(_))
                | LiveError::Store(cmdb_store::StoreError::Closed) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                LiveError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(caller, intake, events = n, code = e.code(), error = %e, "events not ingested");
            json_error(status, e.code(), &e.to_string())
        }
        Err(o) => overrun(o),
    }
}

/// `POST /api/v1/events`: one event object, an array of them, or `{"events": [...]}`.
pub(super) async fn post_events(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> HttpResponse {
    let (caller, body) = match intake_body(&req, payload, &st).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("the body is not JSON: {e}")),
    };
    let items: Vec<Value> = match v {
        Value::Array(a) => a,
        Value::Object(mut o) if o.contains_key("events") && o.len() == 1 => {
            match o.remove("events") {
                Some(Value::Array(a)) => a,
                _ => return bad("`events` must be an array of events"),
            }
        }
        Value::Object(o) => vec![Value::Object(o)],
        _ => return bad("expected an event object, an array of events or {\"events\": [...]}"),
    };
    if items.is_empty() {
        return bad("no events in the request");
    }
    if items.len() > st.max_events_per_request {
        return json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "LIMIT_EXCEEDED",
            &format!(
                "{} events in one request exceed the maximum of {}",
                items.len(),
                st.max_events_per_request
            ),
        );
    }
    let now = chrono::Utc::now();
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let input: EventInput = match serde_path_to_error::deserialize(item) {
            Ok(e) => e,
            Err(e) => return bad(located(&format!("event {i}"), e)),
        };
        match input.into_event(now) {
            Ok(e) => events.push(e),
            Err(e) => return bad(format!("event {i}: {e}")),
        }
    }
    ingest(&st, events, Vec::new(), &caller, "events").await
}

/// `POST /api/v1/alerts/alertmanager`: Alertmanager's webhook payload, version 4.
pub(super) async fn post_alertmanager(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> HttpResponse {
    let (caller, body) = match intake_body(&req, payload, &st).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut de = serde_json::Deserializer::from_slice(&body);
    let p: WebhookPayload = match serde_path_to_error::deserialize(&mut de) {
        Ok(p) => p,
        Err(e) => return bad(located("not an Alertmanager webhook payload", e)),
    };
    if p.truncated_alerts > 0 {
        tracing::warn!(caller, truncated_alerts = p.truncated_alerts, group_key = %p.group_key, "Alertmanager truncated this notification: raise max_alerts in its receiver, or the missing alerts arrive only on the next notification");
    }
    let now = chrono::Utc::now();
    let results = match p.events(&st.live.config().alertmanager, now) {
        Ok(r) => r,
        Err(e) => return bad(e.to_string()),
    };
    let mut events = Vec::with_capacity(results.len());
    let mut rejected = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(e) => events.push(e),
            Err(e) => {
                tracing::warn!(caller, alert = i, error = %e, "Alertmanager alert skipped");
                rejected.push(json!({ "index": i, "error": e.to_string(), "code": e.code() }));
            }
        }
    }
    ingest(&st, events, rejected, &caller, "alertmanager").await
}
