//! `path`: the dependency chains between two CIs.

use async_graphql::{Context, Object, ID};
use cmdb_model::impact::GraphEdge;
use cmdb_model::CiId;
use cmdb_store::analysis::{self as an, ChainDirection};

use crate::loaders::{CiLoaderExt, CiObj};
use crate::resolve::ids;

use super::impact::ChainHop;

/// Which way the dependency runs between the two CIs of `path`.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PathDirection {
    /// `to` depends on `from`: a failure of `from` reaches `to`.
    FromAffectsTo,
    /// `from` depends on `to`: a failure of `to` reaches `from`.
    ToAffectsFrom,
}

/// One dependency chain from `from` to `to`.
#[derive(Clone, Debug)]
pub struct DependencyChain {
    ids: Vec<CiId>,
    hops: Vec<GraphEdge>,
}

#[Object]
impl DependencyChain {
    /// CI ids from `from` to `to`.
    async fn ids(&self) -> Vec<ID> {
        ids(&self.ids)
    }
    async fn cis(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        ctx.load_cis(&self.ids).await
    }
    /// The relationship behind each step, in order.
    async fn relationships(&self) -> Vec<ChainHop> {
        self.hops.iter().map(Into::into).collect()
    }
    async fn length(&self) -> usize {
        self.hops.len()
    }
}

/// The answer to `path(from, to)`.
#[derive(Clone, Debug)]
pub struct PathResult {
    pub from: CiId,
    pub to: CiId,
    pub found: an::DependencyPaths,
}

#[Object]
impl PathResult {
    async fn from_id(&self) -> ID {
        ID(self.from.0.clone())
    }
    async fn to_id(&self) -> ID {
        ID(self.to.0.clone())
    }
    /// Whether any dependency chain links the two within the depth asked.
    async fn connected(&self) -> bool {
        !self.found.chains.is_empty()
    }
    async fn direction(&self) -> Option<PathDirection> {
        self.found.direction.map(|d| match d {
            ChainDirection::FromAffectsTo => PathDirection::FromAffectsTo,
            ChainDirection::ToAffectsFrom => PathDirection::ToAffectsFrom,
        })
    }
    /// The shortest chains, in lexicographic order of CI ids.
    async fn chains(&self) -> Vec<DependencyChain> {
        self.found
            .chains
            .iter()
            .zip(&self.found.hops)
            .map(|(c, h)| DependencyChain {
                ids: c.clone(),
                hops: h.clone(),
            })
            .collect()
    }
    /// More shortest chains exist than were returned.
    async fn truncated(&self) -> bool {
        self.found.truncated
    }
}
