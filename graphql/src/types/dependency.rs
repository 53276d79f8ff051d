//! `dependencies`: a CI reached by a traversal, and the direction argument.

use async_graphql::{Context, Enum, Object, ID};
use cmdb_model as m;

use crate::loaders::{CiLoaderExt, CiObj};

/// Traversal direction in terms of failure impact.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "DependencyDirection")]
pub enum DependencyDirection {
    /// What this CI relies on (against each relationship type's impact flow).
    Upstream,
    /// What this CI's failure would affect (along each relationship type's impact flow).
    Downstream,
}

/// A CI reached by a traversal.
#[derive(Clone, Debug)]
pub struct ReachedCi {
    pub id: m::CiId,
    pub depth: u32,
    pub via: Option<m::CiId>,
}

#[Object(name = "Dependency")]
impl ReachedCi {
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.id).await
    }
    async fn id(&self) -> ID {
        ID(self.id.0.clone())
    }
    /// Hops from the start CI (≥ 1).
    async fn depth(&self) -> u32 {
        self.depth
    }
    /// The CI it was reached from.
    async fn via(&self) -> Option<ID> {
        self.via.as_ref().map(|v| ID(v.0.clone()))
    }
}
