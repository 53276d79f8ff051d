//! A service map for drawing: nodes with their role, edges with evidence and impact flow.

use async_graphql::{Enum, Object, SimpleObject, ID};
use cmdb_model as m;
use cmdb_model::Ci;

use crate::loaders::CiObj;

use super::enums::{CiClassG, ImpactFlowG, RelTypeG};
use super::relationship::EvidenceG;
use super::service::ServiceDefinitionObj;

/// A node's part in a service map.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, PartialOrd, Ord)]
pub enum ServiceMapRole {
    Service,
    EntryPoint,
    Member,
    Pool,
    Dependency,
}

#[derive(Clone, Debug)]
pub struct ServiceMapNode {
    pub ci: Ci,
    pub role: ServiceMapRole,
}

#[Object]
impl ServiceMapNode {
    async fn id(&self) -> ID {
        ID(self.ci.id.0.clone())
    }
    async fn ci(&self) -> CiObj {
        self.ci.clone().into()
    }
    async fn class(&self) -> CiClassG {
        self.ci.class.into()
    }
    async fn name(&self) -> &str {
        &self.ci.name
    }
    async fn role(&self) -> ServiceMapRole {
        self.role
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct ServiceMapEdge {
    pub from: ID,
    pub to: ID,
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    /// All the evidence combined (independent sightings: `1 − Π(1 − cᵢ)`).
    pub confidence: f64,
    pub evidence: Vec<EvidenceG>,
    /// All its evidence is host-level: a connection seen on a host without the process that
    /// holds it, or a dependency guessed from such connections.
    pub rests_on_host_level_evidence: bool,
    /// Which way a failure travels along this edge (the relationship type's rule, so a
    /// drawing can put what is relied on below what relies on it).
    pub impact_flow: ImpactFlowG,
}

impl From<&m::Relationship> for ServiceMapEdge {
    fn from(r: &m::Relationship) -> Self {
        ServiceMapEdge {
            from: ID(r.from.0.clone()),
            to: ID(r.to.0.clone()),
            rel_type: r.rel_type.into(),
            confidence: r.confidence(),
            rests_on_host_level_evidence: r.rests_on_host_level(),
            impact_flow: r.rel_type.impact_flow().into(),
            evidence: r.evidence.iter().map(EvidenceG::from).collect(),
        }
    }
}

/// A service and what it consists of and relies on, for drawing.
#[derive(SimpleObject, Clone)]
pub struct ServiceMap {
    pub service: ServiceDefinitionObj,
    pub nodes: Vec<ServiceMapNode>,
    /// Active relationships between the nodes.
    pub edges: Vec<ServiceMapEdge>,
    /// More nodes existed than one answer holds.
    pub truncated: bool,
    /// Nodes of the whole map, those cut off by `truncated` included.
    pub node_count: i32,
}
