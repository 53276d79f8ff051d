//! The HTTP face: GraphQL over POST/GET, GraphiQL, WebSocket subscriptions, health and
//! readiness, bearer-token access, body limits, graceful shutdown. The only module that knows
//! actix-web.
//!
//! Hardening (docs/security.md): POSTs must be JSON or GraphQL, and in open mode Host and
//! Origin must be this machine's ([`browser`]); GraphQL work runs off the actix workers within
//! a time budget ([`exec`]), so health checks and shutdown never wait behind it; WebSocket
//! messages are capped in size ([`wsframe`]); the request limits themselves are checked by the
//! schema (`cmdb_graphql::guard`).

pub mod auth;
pub mod browser;
mod console;
mod events;
pub mod exec;
pub mod wsframe;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Data};
use async_graphql_actix_web::GraphQLSubscription;
use cmdb_graphql::{Api, Role};
use cmdb_store::GraphStore;
use futures::StreamExt;
use serde_json::json;

pub use auth::{Auth, AuthError, Caller};

/// What the HTTP layer needs.
#[derive(Clone)]
pub struct HttpOptions {
    pub bind: String,
    pub max_body_bytes: usize,
    /// Operations in one batched POST.
    pub max_batch: usize,
    /// Worker threads (0 = one per CPU).
    pub workers: usize,
    /// How long in-flight requests may take to finish at shutdown.
    pub shutdown_timeout: Duration,
    /// Wall-clock budget of one GraphQL request ([`exec`]).
    pub request_timeout: Duration,
    /// Operations at once on one WebSocket connection.
    pub max_ws_operations: usize,
    /// Threads of the runtime GraphQL work runs on (0 = one per CPU, at least 2).
    pub graphql_threads: usize,
    /// Largest body of an event intake (`[events] max_body_bytes`).
    pub max_event_body_bytes: usize,
    /// Events in one `POST /api/v1/events`.
    pub max_events_per_request: usize,
}

impl HttpOptions {
    /// Defaults for everything but the address (tests and embedders).
    pub fn new(bind: impl Into<String>) -> HttpOptions {
        HttpOptions {
            bind: bind.into(),
            max_body_bytes: 1 << 20,
            max_batch: 20,
            workers: 0,
            shutdown_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_ws_operations: 100,
            graphql_threads: 0,
            max_event_body_bytes: 8 << 20,
            max_events_per_request: 10_000,
        }
    }
}

struct AppState {
    api: Api,
    auth: Auth,
    store: Arc<dyn GraphStore>,
    max_body_bytes: usize,
    max_batch: usize,
    budget: exec::Budget,
    max_ws_operations: usize,
    live: Arc<cmdb_live::Live>,
    max_event_body_bytes: usize,
    max_events_per_request: usize,
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: actix_web::dev::ServerHandle,
    pub join: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The runtime GraphQL work runs on; dropped without waiting at stop.
    graphql: Option<tokio::runtime::Runtime>,
}

impl Running {
    /// Stop accepting, let in-flight requests finish (each within its time budget, all within
    /// the shutdown timeout), wait for the workers, then drop whatever GraphQL work is left.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.handle.stop(true).await;
        if let Some(rt) = self.graphql.take() {
            rt.shutdown_background();
        }
        (&mut self.join)
            .await
            .context("server task panicked")?
            .context("server failed")?;
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Dropping a runtime may not block inside another runtime: let it go in the background.
        if let Some(rt) = self.graphql.take() {
            rt.shutdown_background();
        }
    }
}

/// Refuse a non-loopback bind without tokens.
pub fn check_bind(bind: &str, auth: &Auth) -> anyhow::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "cannot resolve bind address `{bind}` (expected HOST:PORT, e.g. 127.0.0.1:8080)"
            )
        })?
        .collect();
    if addrs.is_empty() {
        anyhow::bail!("bind address `{bind}` resolves to nothing");
    }
    if auth.is_open() {
        if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            anyhow::bail!(
                "refusing to listen on {a} without API tokens: the API would be open to the network. \
                 Configure [[auth.tokens]] (name, sha256, role) or bind to a loopback address such as 127.0.0.1:8080"
            );
        }
    }
    Ok(addrs)
}

/// Bind and start serving; returns once listening.
pub fn start(api: Api, auth: Auth, opts: HttpOptions) -> anyhow::Result<Running> {
    let addrs = check_bind(&opts.bind, &auth)?;
    let graphql =
        exec::runtime(opts.graphql_threads).context("cannot start the GraphQL runtime")?;
    let state = web::Data::new(AppState {
        store: api.store().clone(),
        live: api.live().clone(),
        max_event_body_bytes: opts.max_event_body_bytes,
        max_events_per_request: opts.max_events_per_request.max(1),
        api,
        auth: auth.clone(),
        max_body_bytes: opts.max_body_bytes,
        max_batch: opts.max_batch.max(1),
        budget: exec::Budget::new(graphql.handle().clone(), opts.request_timeout),
        max_ws_operations: opts.max_ws_operations.max(1),
    });
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .wrap_fn(|req, srv| {
                use actix_web::dev::Service as _;
                let measured = Measured::start(&req);
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    measured.finish(res.status());
                    Ok(res)
                }
            })
            .configure(routes)
    })
    .disable_signals()
    .shutdown_timeout(opts.shutdown_timeout.as_secs().max(1));
    if opts.workers > 0 {
        server = server.workers(opts.workers);
    }
    let server = server
        .bind(&addrs[..])
        .with_context(|| format!("cannot listen on {}", opts.bind))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .context("the server bound no address")?;
    let server = server.run();
    let handle = server.handle();
    let join = tokio::spawn(server);
    if auth.is_open() {
        tracing::warn!(%addr, "no API tokens configured: the API is open to every local user (loopback only)");
    }
    tracing::info!(%addr, graphql = %format!("http://{addr}/graphql"), graphiql = %format!("http://{addr}/graphiql"), "listening");
    Ok(Running {
        addr,
        handle,
        join,
        graphql: Some(graphql),
    })
}

/// Every route the server answers (anything else is [`not_found`]).
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/graphql", web::post().to(graphql_post))
        .route("/graphql", web::get().to(graphql_get))
        .route("/graphql/ws", web::get().to(graphql_ws))
        .configure(console::routes)
        .route("/api/v1/events", web::post().to(events::post_events))
        .route(
            "/api/v1/alerts/alertmanager",
            web::post().to(events::post_alertmanager),
        )
        .route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics_get))
        .route("/readyz", web::get().to(readyz))
        .default_service(web::to(not_found));
}

/// One request as the HTTP metrics count it: its route pattern and method, and how long it
/// took.
struct Measured {
    route: String,
    method: String,
    started: std::time::Instant,
}

impl Measured {
    fn start(req: &actix_web::dev::ServiceRequest) -> Measured {
        let route = req.match_pattern().unwrap_or_else(|| "other".into());
        // A fixed set: a client sending made-up methods must not grow the series.
        let method = match req.method().as_str() {
            m @ ("GET" | "POST" | "HEAD" | "OPTIONS" | "PUT" | "DELETE" | "PATCH") => m,
            _ => "OTHER",
        }
        .to_string();
        Measured {
            route,
            method,
            started: std::time::Instant::now(),
        }
    }

    fn finish(self, status: StatusCode) {
        let m = crate::metrics::metrics();
        m.http_requests
            .get_or_create(&crate::metrics::HttpLabels {
                route: self.route.clone(),
                method: self.method,
                status: status.as_u16().to_string(),
            })
            .inc();
        m.http_duration
            .get_or_create(&crate::metrics::RouteLabel { route: self.route })
            .observe(self.started.elapsed().as_secs_f64());
    }
}

fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] }))
}

fn refused(req: &HttpRequest, r: browser::Refusal) -> HttpResponse {
    let peer = req
        .peer_addr()
        .map(|p| p.ip().to_string())
        .unwrap_or_default();
    tracing::warn!(peer = %peer, path = req.path(), reason = %r.message(), "request refused");
    match r {
        browser::Refusal::ContentType(_) => json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "INVALID_INPUT",
            &r.message(),
        ),
        browser::Refusal::Host(_) | browser::Refusal::Origin(_) => {
            json_error(StatusCode::FORBIDDEN, "FORBIDDEN", &r.message())
        }
    }
}

/// In open mode, Host and Origin must be this machine's (see [`browser`]). The refusal is
/// the answer to send (boxed: a response is large).
fn check_browser(req: &HttpRequest, st: &AppState) -> Result<(), Box<HttpResponse>> {
    if st.auth.is_open() {
        browser::check_open_mode(req).map_err(|r| Box::new(refused(req, r)))?;
    }
    Ok(())
}

/// The caller a request's token names, or the answer refusing it.
fn authenticate(req: &HttpRequest, st: &AppState) -> Result<Caller, Box<HttpResponse>> {
    let h = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    st.auth.check_header(h).map_err(|e| {
        let peer = req
            .peer_addr()
            .map(|p| p.ip().to_string())
            .unwrap_or_default();
        tracing::warn!(peer = %peer, path = req.path(), code = e.code(), reason = %e.message(), "request refused");
        Box::new(e.response())
    })
}

async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    req: &HttpRequest,
) -> Result<web::Bytes, HttpResponse> {
    let too_big = || {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "LIMIT_EXCEEDED",
            &format!("request body exceeds the limit of {limit} bytes"),
        )
    };
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_big());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            json_error(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &format!("cannot read the request body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn run_batch(api: &Api, batch: BatchRequest, role: Role) -> BatchResponse {
    match batch {
        BatchRequest::Single(r) => BatchResponse::Single(api.execute(r, role).await),
        BatchRequest::Batch(rs) => {
            let mut out = Vec::with_capacity(rs.len());
            for r in rs {
                out.push(api.execute(r, role).await);
            }
            BatchResponse::Batch(out)
        }
    }
}

fn respond(resp: &BatchResponse) -> HttpResponse {
    match serde_json::to_vec(resp) {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a GraphQL response");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "cannot serialise the response",
            )
        }
    }
}

/// A request that ran out of budget or failed: 503 for the time budget (the server is busy
/// with it, retrying later may work), 500 for a bug.
fn overrun(o: exec::Overrun) -> HttpResponse {
    let status = match o {
        exec::Overrun::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
        exec::Overrun::Panicked => StatusCode::INTERNAL_SERVER_ERROR,
    };
    match serde_json::to_vec(&o.response()) {
        Ok(body) => HttpResponse::build(status)
            .content_type("application/json")
            .body(body),
        Err(_) => json_error(status, o.code(), &o.message()),
    }
}

/// The operations of a POST body (`application/graphql`: the query itself), or the answer
/// refusing it (not UTF-8, not a GraphQL request, an empty or too large batch).
fn parse_batch(
    body: &[u8],
    graphql_body: bool,
    max_batch: usize,
) -> Result<BatchRequest, Box<HttpResponse>> {
    let invalid = |message: &str| {
        Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            message,
        ))
    };
    let batch: BatchRequest = if graphql_body {
        match std::str::from_utf8(body) {
            Ok(q) => BatchRequest::Single(async_graphql::Request::new(q)),
            Err(_) => return Err(invalid("the body is not UTF-8")),
        }
    } else {
        // serde_json refuses nesting deeper than 128 before it could hurt the stack.
        serde_json::from_slice(body).map_err(|e| {
            invalid(&format!("the body is not a GraphQL request (JSON with `query`, optional `variables`, `operationName`): {e}"))
        })?
    };
    if let BatchRequest::Batch(v) = &batch {
        if v.is_empty() {
            return Err(invalid("an empty batch: send at least one operation"));
        }
        if v.len() > max_batch {
            return Err(Box::new(json_error(
                StatusCode::OK,
                "LIMIT_EXCEEDED",
                &format!(
                    "{} operations in one batch exceed the maximum of {max_batch}",
                    v.len()
                ),
            )));
        }
    }
    Ok(batch)
}

async fn graphql_post(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> HttpResponse {
    if let Err(r) = check_browser(&req, &st) {
        return *r;
    }
    let graphql_body = match browser::post_body_kind(&req) {
        Ok(g) => g,
        Err(r) => return refused(&req, r),
    };
    let caller = match authenticate(&req, &st) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // Reading the body counts against the budget too (a client trickling it in holds no
    // worker, but should not hold a request open for ever).
    let body =
        match tokio::time::timeout(st.budget.limit, read_body(payload, st.max_body_bytes, &req))
            .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(r)) => return r,
            Err(_) => return overrun(exec::Overrun::TimedOut(st.budget.limit)),
        };
    let batch = match parse_batch(&body, graphql_body, st.max_batch) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let started = std::time::Instant::now();
    let api = st.api.clone();
    let resp = match st
        .budget
        .run(async move { run_batch(&api, batch, caller.role).await })
        .await
    {
        Ok(r) => r,
        Err(o) => return overrun(o),
    };
    tracing::debug!(caller = %caller.name, role = caller.role.as_str(), elapsed_us = started.elapsed().as_micros() as u64, ok = resp.is_ok(), "graphql");
    respond(&resp)
}

async fn graphql_get(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let qs = req.query_string();
    if qs.is_empty() {
        // A browser opening /graphql gets the IDE.
        return console::graphiql(req).await;
    }
    if let Err(r) = check_browser(&req, &st) {
        return *r;
    }
    let caller = match authenticate(&req, &st) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if qs.len() > st.max_body_bytes {
        return json_error(
            StatusCode::URI_TOO_LONG,
            "LIMIT_EXCEEDED",
            "query string too long",
        );
    }
    let gql = match async_graphql::http::parse_query_string(qs) {
        Ok(r) => r,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                &format!("invalid GraphQL GET request: {e}"),
            )
        }
    };
    let api = st.api.clone();
    let role = caller.role;
    let outcome = st
        .budget
        .run(async move {
            let mut gql = gql;
            // The limits first: they also parse, and the operation's type decides.
            if let Err(e) = api.check_request(&mut gql) {
                let mut resp = async_graphql::Response::from_errors(vec![e]);
                cmdb_graphql::error::ensure_codes(&mut resp);
                return Ok(resp);
            }
            match exec::operation_type(&mut gql) {
                Some(OperationType::Query) | None => Ok(api.execute(gql, role).await),
                Some(_) => Err(()),
            }
        })
        .await;
    match outcome {
        Ok(Ok(resp)) => respond(&BatchResponse::Single(resp)),
        Ok(Err(())) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID_INPUT",
            "GET only runs queries; send mutations with POST",
        ),
        Err(o) => overrun(o),
    }
}

async fn graphql_ws(
    req: HttpRequest,
    payload: web::Payload,
    st: web::Data<AppState>,
) -> actix_web::Result<HttpResponse> {
    // Browsers let any page open a WebSocket to any address: in open mode the Origin decides.
    if let Err(r) = check_browser(&req, &st) {
        return Ok(*r);
    }
    let header_auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("").to_string());
    let executor = exec::WsExecutor {
        api: st.api.clone(),
        budget: st.budget.clone(),
        max_operations: st.max_ws_operations,
        active: Default::default(),
    };
    let sub = GraphQLSubscription::new(executor);
    let payload = wsframe::LimitMessages::new(payload, st.max_body_bytes);
    if header_auth.is_some() || st.auth.is_open() {
        let caller = match authenticate(&req, &st) {
            Ok(c) => c,
            Err(r) => return Ok(*r),
        };
        let data: Data = exec::session_data(&st.api, &caller);
        return sub.with_data(data).start(&req, payload);
    }
    // Browsers cannot set headers on WebSockets: accept the token in connection_init
    // (`{"Authorization": "Bearer …"}` or `{"token": "…"}`).
    let auth = st.auth.clone();
    let api = st.api.clone();
    sub.on_connection_init(move |init: serde_json::Value| async move {
        let field = |k: &str| init.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let result = match (
            field("Authorization").or_else(|| field("authorization")),
            field("token"),
        ) {
            (Some(h), _) => auth.check_header(Some(&h)),
            (None, Some(t)) => auth.check_token(&t),
            (None, None) => Err(AuthError::Missing),
        };
        match result {
            Ok(c) => Ok(exec::session_data(&api, &c)),
            Err(e) => {
                tracing::warn!(code = e.code(), reason = %e.message(), "websocket refused");
                Err(e.ws_error())
            }
        }
    })
    .start(&req, payload)
}

/// Prometheus metrics; any reader (a scraper's token) may read them.
async fn metrics_get(req: HttpRequest, st: web::Data<AppState>) -> HttpResponse {
    let caller = match authenticate(&req, &st) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if caller.role < Role::Reader {
        return json_error(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "metrics need a reader, editor or admin token",
        );
    }
    let text = crate::metrics::metrics().render(&st.live).await;
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    match st.store.ping().await {
        Ok(()) => HttpResponse::Ok().json(json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .json(json!({ "status": "unavailable", "error": e.to_string(), "code": e.code() }))
        }
    }
}

/// What `/` and 404 answers list.
pub(crate) const ENDPOINTS: &[&str] = &[
    "POST /graphql",
    "GET /graphql",
    "GET /graphql/ws",
    "GET /graphiql",
    "GET /console/",
    "POST /api/v1/events",
    "POST /api/v1/alerts/alertmanager",
    "GET /metrics",
    "GET /healthz",
    "GET /readyz",
];

pub(crate) async fn not_found(req: HttpRequest) -> HttpResponse {
    let message = format!("no such endpoint: {} {}", req.method(), req.path());
    HttpResponse::NotFound().json(json!({
        "error": message,
        "errors": [{ "message": message, "extensions": { "code": "NOT_FOUND" } }],
        "endpoints": ENDPOINTS
    }))
}
