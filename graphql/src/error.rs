//! The one place where store/model/API failures become GraphQL errors with a stable
//! `extensions.code`.
//!
//! Codes: NOT_FOUND, INVALID_INPUT, LIMIT_EXCEEDED, UNAUTHENTICATED, FORBIDDEN, CONFLICT,
//! UNAVAILABLE, INTERNAL. Internal details (SQL errors, corrupt rows) are logged, never returned.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::{ErrorExtensions, Response, ServerError};
use cmdb_store::StoreError;
use futures::stream::{BoxStream, StreamExt};

pub const NOT_FOUND: &str = "NOT_FOUND";
pub const INVALID_INPUT: &str = "INVALID_INPUT";
pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const CONFLICT: &str = "CONFLICT";
pub const UNAVAILABLE: &str = "UNAVAILABLE";
pub const INTERNAL: &str = "INTERNAL";

/// An API failure. `code()` is the stable `extensions.code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error (see the server log)")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => NOT_FOUND,
            ApiError::InvalidInput(_) => INVALID_INPUT,
            ApiError::LimitExceeded(_) => LIMIT_EXCEEDED,
            ApiError::Forbidden(_) => FORBIDDEN,
            ApiError::Unauthenticated(_) => UNAUTHENTICATED,
            ApiError::Conflict(_) => CONFLICT,
            ApiError::Unavailable(_) => UNAVAILABLE,
            ApiError::Internal(_) => INTERNAL,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::InvalidInput(m) => ApiError::InvalidInput(m),
            StoreError::Conflict(m) => {
                ApiError::Conflict(format!("a conflicting write happened; retry ({m})"))
            }
            StoreError::Closed => {
                ApiError::Unavailable("the store is closed (shutting down)".into())
            }
            StoreError::Unavailable(m) => {
                ApiError::Unavailable(format!("the store is unavailable: {m}"))
            }
            other => {
                tracing::error!(error = %other, code = other.code(), "store failure");
                ApiError::Internal(other.to_string())
            }
        }
    }
}

impl From<cmdb_live::LiveError> for ApiError {
    fn from(e: cmdb_live::LiveError) -> Self {
        match e {
            cmdb_live::LiveError::Store(s) => s.into(),
            cmdb_live::LiveError::Invalid(m) => ApiError::InvalidInput(m),
        }
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, e| e.set("code", code))
    }
}

/// `result.api()?` in resolvers: any error convertible to [`ApiError`] becomes a GraphQL error
/// with its code.
pub trait ApiResultExt<T> {
    fn api(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> ApiResultExt<T> for Result<T, E> {
    fn api(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().extend())
    }
}

/// Shorthand for returning an error from a resolver.
pub fn gql(e: ApiError) -> async_graphql::Error {
    e.extend()
}

/// Give every error in a response a code: async-graphql's own limit and validation errors carry
/// none. Applied by [`CodeExtension`] to every request, and callable on responses built
/// elsewhere.
pub fn ensure_codes(resp: &mut Response) {
    for e in &mut resp.errors {
        ensure_code(e);
    }
}

fn ensure_code(e: &mut ServerError) {
    if e.extensions.as_ref().and_then(|x| x.get("code")).is_some() {
        return;
    }
    let m = e.message.to_ascii_lowercase();
    let code = if m.contains("too complex")
        || m.contains("nested too deep")
        || m.contains("recursion depth")
        || m.contains("limit")
    {
        LIMIT_EXCEEDED
    } else {
        INVALID_INPUT
    };
    e.extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// Extension that runs [`ensure_codes`] on every response.
pub struct CodeExtension;

impl ExtensionFactory for CodeExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CodeExtensionImpl)
    }
}

struct CodeExtensionImpl;

#[async_trait::async_trait]
impl Extension for CodeExtensionImpl {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut resp = next.run(ctx).await;
        ensure_codes(&mut resp);
        resp
    }

    /// Subscriptions (and anything sent over the WebSocket) do not pass through `request`.
    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut resp| {
                ensure_codes(&mut resp);
                resp
            })
            .boxed()
    }
}
