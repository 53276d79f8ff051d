//! The GraphQL API over a [`GraphStore`]: schema, resolvers, DataLoaders, error codes,
//! subscriptions. Transport-neutral: the server crate mounts it over HTTP/WebSocket, the CLI
//! runs single operations through [`Api::execute`].

pub mod analysis;
mod coop;
pub mod discovery;
pub mod error;
pub mod events;
pub mod guard;
pub mod live;
mod loaders;
mod manual;
mod mutation;
mod query;
mod resolve;
mod services;
mod subscription;
pub mod types;

use std::sync::Arc;

use async_graphql::{Data, Request, Response, Schema};
use cmdb_store::GraphStore;

pub use error::{ApiError, ApiResultExt};
pub use events::{CiChange, CiChangeKind, DiscoveryProgress, EventBus};
pub use guard::{RequestLimits, Role};
pub use mutation::MutationRoot;
pub use query::QueryRoot;
pub use subscription::SubscriptionRoot;

pub use discovery::{DiscoveryHandle, DiscoveryService, RunRequest};

/// The query root: the CMDB queries plus discovery runs.
#[derive(async_graphql::MergedObject)]
pub struct Query(
    QueryRoot,
    discovery::DiscoveryQuery,
    analysis::AnalysisQuery,
    services::ServicesQuery,
    live::LiveQuery,
);

impl Default for Query {
    fn default() -> Self {
        Query(
            QueryRoot,
            discovery::DiscoveryQuery,
            analysis::AnalysisQuery,
            services::ServicesQuery,
            live::LiveQuery,
        )
    }
}

/// The mutation root: CI and service mutations plus `runDiscovery`.
#[derive(async_graphql::MergedObject)]
pub struct Mutation(
    MutationRoot,
    discovery::DiscoveryMutation,
    services::ServicesMutation,
    live::LiveMutation,
);

impl Default for Mutation {
    fn default() -> Self {
        Mutation(
            MutationRoot,
            discovery::DiscoveryMutation,
            services::ServicesMutation,
            live::LiveMutation,
        )
    }
}

pub type CmdbSchema = Schema<Query, Mutation, SubscriptionRoot>;

/// Default `maxDepth` of impact, changeRisk, singlePointsOfFailure and path: deep enough for a
/// multi-tier service behind load balancers and redundant switches (the lab estate's deepest
/// chain, core switch to service, is 12 hops).
pub const DEFAULT_IMPACT_DEPTH: i32 = 20;

/// Limits enforced by the schema.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Largest `first`/`last` accepted; larger → LIMIT_EXCEEDED.
    pub max_page_size: usize,
    /// Page size when neither `first` nor `last` is given.
    pub default_page_size: usize,
    /// What every request is checked against before it is parsed and validated (query size,
    /// nesting of selections and values, selections with fragments expanded, aliases,
    /// directives, list sizes); see [`guard`]. Its `max_query_depth` is also async-graphql's
    /// `limit_depth`.
    pub request: RequestLimits,
    /// Query complexity (async-graphql `limit_complexity`); connection fields count
    /// `first × children`.
    pub max_query_complexity: usize,
    /// Largest `maxDepth` for `dependencies` and `impact`.
    pub max_traversal_depth: u32,
    /// Largest number of ids in one `impact` question.
    pub max_impact_ids: usize,
    /// Explaining paths returned per impacted service.
    pub max_paths_per_service: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            max_page_size: 1000,
            default_page_size: 100,
            request: RequestLimits::default(),
            max_query_complexity: 5000,
            max_traversal_depth: 50,
            max_impact_ids: 1000,
            max_paths_per_service: 10,
        }
    }
}

/// Schema-wide state, reachable from every resolver.
pub struct ApiState {
    pub store: Arc<dyn GraphStore>,
    pub limits: ApiLimits,
    pub events: EventBus,
    pub ingest: cmdb_store::IngestOptions,
    /// Alerts, live status, incidents.
    pub live: Arc<cmdb_live::Live>,
}

impl ApiState {
    /// Validate a requested page size against the cap.
    pub fn page_size(&self, first: Option<i32>, last: Option<i32>) -> async_graphql::Result<usize> {
        let n = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(error::gql(ApiError::InvalidInput(
                    "give `first` or `last`, not both".into(),
                )))
            }
            (Some(n), None) | (None, Some(n)) => n,
            (None, None) => return Ok(self.limits.default_page_size),
        };
        if n < 0 {
            return Err(error::gql(ApiError::InvalidInput(format!(
                "page size must not be negative (got {n})"
            ))));
        }
        let n = n as usize;
        if n > self.limits.max_page_size {
            return Err(error::gql(ApiError::LimitExceeded(format!(
                "page size {n} exceeds the maximum of {}",
                self.limits.max_page_size
            ))));
        }
        Ok(n)
    }

    /// At most `first` items when given (checked like a page size), else the page size cap.
    pub fn at_most(&self, first: Option<i32>) -> async_graphql::Result<usize> {
        match first {
            Some(_) => self.page_size(first, None),
            None => Ok(self.limits.max_page_size),
        }
    }
}

/// The API: a built schema plus what each request needs.
#[derive(Clone)]
pub struct Api {
    pub schema: CmdbSchema,
    store: Arc<dyn GraphStore>,
    request_limits: Arc<RequestLimits>,
    live: Arc<cmdb_live::Live>,
}

impl Api {
    pub fn new(
        store: Arc<dyn GraphStore>,
        limits: ApiLimits,
        events: EventBus,
        ingest: cmdb_store::IngestOptions,
    ) -> Self {
        Self::with_discovery(store, limits, events, ingest, None)
    }

    /// As [`Api::new`], with a discovery service behind `runDiscovery` and `discoveryRun(s)`.
    pub fn with_discovery(
        store: Arc<dyn GraphStore>,
        limits: ApiLimits,
        events: EventBus,
        ingest: cmdb_store::IngestOptions,
        discovery: Option<Arc<dyn DiscoveryService>>,
    ) -> Self {
        let live = Arc::new(cmdb_live::Live::new(store.clone(), Default::default()));
        Self::with_services(store, limits, events, ingest, discovery, live)
    }

    /// As [`Api::with_discovery`], with the live side the server configured (`[events]`).
    pub fn with_services(
        store: Arc<dyn GraphStore>,
        limits: ApiLimits,
        events: EventBus,
        ingest: cmdb_store::IngestOptions,
        discovery: Option<Arc<dyn DiscoveryService>>,
        live: Arc<cmdb_live::Live>,
    ) -> Self {
        let mut builder = Schema::build(Query::default(), Mutation::default(), SubscriptionRoot);
        if let Some(d) = discovery {
            builder = builder.data(DiscoveryHandle(d));
        }
        let request_limits = Arc::new(limits.request.clone());
        let schema = builder
            .data(ApiState {
                store: store.clone(),
                limits: limits.clone(),
                events,
                ingest,
                live: live.clone(),
            })
            .limit_depth(limits.request.max_query_depth)
            .limit_recursive_depth(limits.request.max_nesting())
            .limit_complexity(limits.max_query_complexity)
            .extension(error::CodeExtension)
            .extension(guard::RequestGuard(request_limits.clone()))
            .extension(guard::EventsOnly)
            .extension(coop::Cooperative)
            .finish();
        Api {
            schema,
            store,
            request_limits,
            live,
        }
    }

    /// Per-request data: the caller's role and fresh DataLoaders.
    pub fn request_data(&self, role: Role) -> Data {
        let mut d = Data::default();
        d.insert(role);
        d.insert(loaders::Loaders::new(self.store.clone()));
        d
    }

    /// Attach per-request data to a request.
    pub fn prepare(&self, req: Request, role: Role) -> Request {
        req.data(role)
            .data(loaders::Loaders::new(self.store.clone()))
    }

    /// Check a request against the request limits and parse it (what the schema does first
    /// anyway; for transports that must look at the operation before executing it). On
    /// success the parsed document is in the request.
    pub fn check_request(&self, req: &mut Request) -> Result<(), async_graphql::ServerError> {
        guard::check_request(req, &self.request_limits)
    }

    /// Run one operation as `role`.
    pub async fn execute(&self, req: Request, role: Role) -> Response {
        self.schema.execute(self.prepare(req, role)).await
    }

    /// Run one operation given as text with JSON variables; the response as JSON. For callers
    /// that should not depend on async-graphql's types (scripts, tests, other transports).
    pub async fn execute_json(
        &self,
        query: &str,
        variables: serde_json::Value,
        role: Role,
    ) -> serde_json::Value {
        let req = Request::new(query).variables(async_graphql::Variables::from_json(variables));
        let resp = self.execute(req, role).await;
        serde_json::to_value(&resp).unwrap_or_else(|e| serde_json::json!({"errors": [{"message": format!("cannot encode the response: {e}"), "extensions": {"code": "INTERNAL"}}]}))
    }

    pub fn store(&self) -> &Arc<dyn GraphStore> {
        &self.store
    }

    pub fn live(&self) -> &Arc<cmdb_live::Live> {
        &self.live
    }
}

/// The schema's SDL (what `docs/schema.graphql` holds).
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), SubscriptionRoot)
        .finish()
        .sdl()
}
