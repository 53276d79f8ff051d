//! The three passes run over every request, as an async-graphql extension.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::{Request, ServerError, ServerResult};

use crate::error::INVALID_INPUT;

use super::document::check_document;
use super::limits::RequestLimits;
use super::text::scan_text;
use super::variables::check_variables;

/// All three passes over a request; on success the parsed document is stored in it (so
/// async-graphql does not parse again). Safe to run more than once.
pub fn check_request(req: &mut Request, limits: &RequestLimits) -> Result<(), ServerError> {
    scan_text(&req.query, limits)?;
    check_variables(&req.variables, limits)?;
    let doc = req.parsed_query().map_err(|mut e| {
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", INVALID_INPUT);
        e
    })?;
    check_document(doc, limits)
}

/// The extension that runs [`check_request`] on every request before parsing.
pub struct RequestGuard(pub Arc<RequestLimits>);

impl ExtensionFactory for RequestGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestGuardImpl(self.0.clone()))
    }
}

struct RequestGuardImpl(Arc<RequestLimits>);

#[async_trait::async_trait]
impl Extension for RequestGuardImpl {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Err(e) = check_request(&mut request, &self.0) {
            tracing::debug!(code = ?e.extensions.as_ref().and_then(|x| x.get("code").cloned()), message = %e.message, "request refused by the request limits");
            return Err(e);
        }
        next.run(ctx, request).await
    }
}
