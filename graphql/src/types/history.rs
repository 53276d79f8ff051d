//! Recorded changes: `HistoryEntry`, the relationship key it names, and the history connection.

use async_graphql::{ComplexObject, Json, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;
use cmdb_store as st;
use serde_json::Value;

use super::enums::{ChangeKindG, RelTypeG};
use super::page::PageInfo;

/// A relationship's identity.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "RelKey")]
pub struct RelKeyG {
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    pub from: ID,
    pub to: ID,
}

/// One recorded change.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "HistoryEntry")]
pub struct HistoryEntryG {
    pub ci: ID,
    pub at: DateTime<Utc>,
    pub kind: ChangeKindG,
    /// Attribute name, `tags`, `class`, `status` (null for whole-CI and relationship events).
    pub field: Option<String>,
    pub relationship: Option<RelKeyG>,
    pub old: Option<Json<Value>>,
    pub new: Option<Json<Value>>,
    pub source: String,
    pub run_id: Option<String>,
}

impl From<m::HistoryEntry> for HistoryEntryG {
    fn from(h: m::HistoryEntry) -> Self {
        HistoryEntryG {
            ci: ID(h.ci.0),
            at: h.at,
            kind: h.kind.into(),
            field: h.field,
            relationship: h.relationship.map(|k| RelKeyG {
                rel_type: k.rel_type.into(),
                from: ID(k.from.0),
                to: ID(k.to.0),
            }),
            old: h.old.map(Json),
            new: h.new.map(Json),
            source: h.source.0,
            run_id: h.run_id.map(|r| r.0),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct HistoryEdge {
    pub cursor: String,
    pub node: HistoryEntryG,
}

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct HistoryConnection {
    pub total_count: usize,
    pub page_info: PageInfo,
    pub edges: Vec<HistoryEdge>,
}

#[ComplexObject]
impl HistoryConnection {
    async fn nodes(&self) -> Vec<HistoryEntryG> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

impl HistoryConnection {
    pub fn from_page(p: st::Page<m::HistoryEntry>) -> Self {
        let cursors: Vec<String> = p.items.iter().map(|(c, _)| c.clone()).collect();
        HistoryConnection {
            total_count: p.total_count,
            page_info: PageInfo::from_cursors(&cursors, p.has_next_page, p.has_previous_page),
            edges: p
                .items
                .into_iter()
                .map(|(cursor, h)| HistoryEdge {
                    cursor,
                    node: h.into(),
                })
                .collect(),
        }
    }
}
