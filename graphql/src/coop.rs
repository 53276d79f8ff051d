//! Cooperative yielding during execution. Many fields resolve without ever waiting (the
//! embedded store answers synchronously), so a large response could be computed in one long
//! poll of its task: nothing else gets the thread, and a request cancelled for exceeding its
//! time budget (the server aborts its task) would not stop until the poll ends. Each field
//! resolution spends one unit of tokio's cooperative budget, so a task yields every few hundred
//! fields; an aborted request then stops within that many fields.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ServerResult, Value};

pub struct Cooperative;

impl ExtensionFactory for Cooperative {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CooperativeImpl)
    }
}

struct CooperativeImpl;

#[async_trait::async_trait]
impl Extension for CooperativeImpl {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        tokio::task::consume_budget().await;
        next.run(ctx, info).await
    }
}
