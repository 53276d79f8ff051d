//! The `Relationship` type, its evidence, direction argument and connection.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;
use cmdb_store as st;
use serde_json::Value;

use crate::loaders::{CiLoaderExt, CiObj, Level};

use super::enums::{EvidenceKindG, RelStatusG, RelTypeG};
use super::page::PageInfo;

/// Relationship direction relative to a CI.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "RelDirection")]
pub enum RelDirection {
    /// Relationships where the CI is `from`.
    Out,
    /// Relationships where the CI is `to`.
    In,
    #[default]
    Both,
}

impl From<RelDirection> for st::Direction {
    fn from(d: RelDirection) -> Self {
        match d {
            RelDirection::Out => st::Direction::Out,
            RelDirection::In => st::Direction::In,
            RelDirection::Both => st::Direction::Both,
        }
    }
}

/// One source's support for a relationship.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Evidence")]
pub struct EvidenceG {
    pub source: String,
    pub kind: EvidenceKindG,
    pub confidence: f64,
    /// How many distinct runs reported it.
    pub observations: u32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl From<&m::Evidence> for EvidenceG {
    fn from(e: &m::Evidence) -> Self {
        EvidenceG {
            source: e.source.0.clone(),
            kind: e.kind.into(),
            confidence: e.confidence,
            observations: e.observations,
            first_seen: e.first_seen,
            last_seen: e.last_seen,
        }
    }
}

#[derive(Clone)]
pub struct RelationshipObj {
    pub rel: Arc<m::Relationship>,
    /// The end CIs when they were fetched with the relationships.
    pub ends: Option<Arc<std::collections::HashMap<m::CiId, Arc<m::Ci>>>>,
    pub ends_level: Option<Arc<Level>>,
}

impl RelationshipObj {
    pub fn new(rel: m::Relationship) -> Self {
        RelationshipObj {
            rel: Arc::new(rel),
            ends: None,
            ends_level: None,
        }
    }
    async fn end(&self, ctx: &Context<'_>, id: &m::CiId) -> async_graphql::Result<Option<CiObj>> {
        if let Some(ci) = self.ends.as_ref().and_then(|e| e.get(id)) {
            return Ok(Some(CiObj(ci.clone(), self.ends_level.clone())));
        }
        ctx.load_ci(id).await
    }
}

#[Object(name = "Relationship")]
impl RelationshipObj {
    #[graphql(name = "type")]
    async fn rel_type(&self) -> RelTypeG {
        self.rel.rel_type.into()
    }
    async fn from(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        self.end(ctx, &self.rel.from).await
    }
    async fn to(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        self.end(ctx, &self.rel.to).await
    }
    async fn from_id(&self) -> ID {
        ID(self.rel.from.0.clone())
    }
    async fn to_id(&self) -> ID {
        ID(self.rel.to.0.clone())
    }
    async fn status(&self) -> RelStatusG {
        self.rel.status.into()
    }
    /// All the evidence combined: independent sightings (another source, another kind of
    /// evidence) make it more certain, `1 − Π(1 − cᵢ)`.
    async fn confidence(&self) -> f64 {
        self.rel.confidence()
    }
    /// All its evidence is host-level: a connection seen on a host without the process that
    /// holds it (it carries no failure), or a dependency guessed from such connections.
    async fn rests_on_host_level_evidence(&self) -> bool {
        self.rel.rests_on_host_level()
    }
    async fn evidence(&self) -> Vec<EvidenceG> {
        self.rel.evidence.iter().map(EvidenceG::from).collect()
    }
    async fn attributes(&self) -> Json<serde_json::Map<String, Value>> {
        Json(self.rel.attributes.clone())
    }
    async fn first_seen(&self) -> DateTime<Utc> {
        self.rel.first_seen
    }
    async fn last_seen(&self) -> DateTime<Utc> {
        self.rel.last_seen
    }
}

#[derive(SimpleObject, Clone)]
pub struct RelationshipEdge {
    pub cursor: String,
    pub node: RelationshipObj,
}

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct RelationshipConnection {
    pub total_count: usize,
    pub page_info: PageInfo,
    pub edges: Vec<RelationshipEdge>,
}

#[ComplexObject]
impl RelationshipConnection {
    async fn nodes(&self) -> Vec<RelationshipObj> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}
