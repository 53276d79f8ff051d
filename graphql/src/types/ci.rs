//! The `CI` type: its fields, attributes with provenance, relationships and history (batched
//! per level), and the CI connection.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;
use cmdb_store as st;
use serde_json::Value;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::loaders::{level_rels, CiObj, RelArgs};
use crate::resolve::{page_request, state};

use super::enums::{CiClassG, CiStatusG, RelTypeG};
use super::history::HistoryConnection;
use super::identification::{CiIdentifierG, IdentificationG};
use super::page::{decode_offset, encode_offset, PageInfo};
use super::relationship::{
    RelDirection, RelationshipConnection, RelationshipEdge, RelationshipObj,
};

/// An attribute with its provenance.
#[derive(SimpleObject, Debug, Clone)]
pub struct AttributeValue {
    pub key: String,
    pub value: Json<Value>,
    pub source: String,
    /// The source's place in the configured precedence (`[reconcile] precedence`): 1 is the
    /// strongest; a source may overwrite a value set by one of equal or higher number.
    pub precedence: i32,
    pub updated_at: DateTime<Utc>,
}

#[Object(name = "CI")]
impl CiObj {
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn class(&self) -> CiClassG {
        self.0.class.into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> CiStatusG {
        self.0.status.into()
    }
    async fn tags(&self) -> Vec<String> {
        self.0.tags.iter().cloned().collect()
    }
    /// Attribute values as one JSON object (`{"hostname": "web1", …}`).
    async fn attributes(&self) -> Json<serde_json::Map<String, Value>> {
        Json(
            self.0
                .attributes
                .iter()
                .map(|(k, a)| (k.clone(), a.value.clone()))
                .collect(),
        )
    }
    /// One attribute's value, or null.
    async fn attribute(&self, key: String) -> Option<Json<Value>> {
        self.0.attr(&key).cloned().map(Json)
    }
    /// Attributes with the source that set each and when.
    async fn attribute_details(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AttributeValue>> {
        let precedence = &state(ctx)?.ingest.precedence;
        Ok(self
            .0
            .attributes
            .iter()
            .map(|(k, a)| AttributeValue {
                key: k.clone(),
                value: Json(a.value.clone()),
                source: a.source.0.clone(),
                precedence: i32::try_from(precedence.rank(&a.source) + 1).unwrap_or(i32::MAX),
                updated_at: a.updated_at,
            })
            .collect())
    }
    async fn first_seen(&self) -> DateTime<Utc> {
        self.0.first_seen
    }
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.last_seen
    }
    /// Every source that has reported this CI.
    async fn sources(&self) -> Vec<String> {
        self.0.sources.iter().map(|s| s.0.clone()).collect()
    }
    /// Only seen from elsewhere so far (unmanaged neighbour, far end of a socket).
    async fn placeholder(&self) -> bool {
        self.0.placeholder
    }
    /// The identifier keys that identify this CI, by key. Batched: one store round trip for
    /// all CIs of a level.
    async fn identifiers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiIdentifierG>> {
        let keys = crate::loaders::identifiers(ctx, self).await?;
        Ok(keys
            .iter()
            .cloned()
            .filter_map(CiIdentifierG::parse)
            .collect())
    }
    /// How identification decided for this CI the last time it decided something new; null
    /// for a CI stored before decisions were recorded, until it is next identified.
    async fn identification(&self) -> Option<IdentificationG> {
        self.0.identification.as_ref().map(Into::into)
    }
    /// Relationships touching this CI. Batched: one store round trip for all CIs of a level.
    #[graphql(complexity = "crate::resolve::page_complexity(first, None, child_complexity)")]
    async fn relationships(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] direction: RelDirection,
        types: Option<Vec<RelTypeG>>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default = false)] include_closed: bool,
    ) -> async_graphql::Result<RelationshipConnection> {
        let state = state(ctx)?;
        let limit = state.page_size(first, None)?;
        let mut types: Vec<m::RelType> = types
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        types.sort();
        types.dedup();
        let la = ctx.look_ahead();
        let nodes = [la.field("edges").field("node"), la.field("nodes")];
        let args = RelArgs {
            direction: direction.into(),
            types,
            include_closed,
            from_ends: nodes.iter().any(|n| n.field("from").exists()),
            to_ends: nodes.iter().any(|n| n.field("to").exists()),
        };
        let batch = level_rels(ctx, self, args).await?;
        let rels = batch.of(&self.0.id);
        let start = match &after {
            None => 0,
            Some(c) => {
                decode_offset(c)
                    .ok_or_else(|| gql(ApiError::InvalidInput(format!("invalid cursor `{c}`"))))?
                    + 1
            }
        };
        let total = rels.len();
        let edges: Vec<RelationshipEdge> = rels
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(i, r)| RelationshipEdge {
                cursor: encode_offset(i),
                node: RelationshipObj {
                    rel: Arc::new(r.clone()),
                    ends: batch.ends.clone(),
                    ends_level: batch.ends_level.clone(),
                },
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(RelationshipConnection {
            total_count: total,
            page_info: PageInfo::from_cursors(&cursors, start + edges.len() < total, start > 0),
            edges,
        })
    }
    /// This CI's recorded changes, newest first.
    #[graphql(complexity = "crate::resolve::page_complexity(first, None, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<HistoryConnection> {
        let state = state(ctx)?;
        let page = page_request(state, first, after, None, None)?;
        let p = state.store.history(&self.0.id, &page).await.api()?;
        Ok(HistoryConnection::from_page(p))
    }
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "CIEdge")]
pub struct CiEdge {
    pub cursor: String,
    pub node: CiObj,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "CIConnection", complex)]
pub struct CiConnection {
    pub total_count: usize,
    pub page_info: PageInfo,
    pub edges: Vec<CiEdge>,
}

#[ComplexObject]
impl CiConnection {
    /// The nodes of `edges`, for clients that need no cursors.
    async fn nodes(&self) -> Vec<CiObj> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

impl CiConnection {
    pub fn from_page(p: st::Page<m::Ci>) -> Self {
        let cursors: Vec<String> = p.items.iter().map(|(c, _)| c.clone()).collect();
        CiConnection {
            total_count: p.total_count,
            page_info: PageInfo::from_cursors(&cursors, p.has_next_page, p.has_previous_page),
            edges: {
                let (cursors, cis): (Vec<String>, Vec<m::Ci>) = p.items.into_iter().unzip();
                cursors
                    .into_iter()
                    .zip(CiObj::level(cis))
                    .map(|(cursor, node)| CiEdge { cursor, node })
                    .collect()
            },
        }
    }
}
