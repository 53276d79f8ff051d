//! Whole-graph copies (`cmdb migrate`), backend-neutral: read everything any `GraphStore`
//! holds through the contract, and the identifier keys reconciliation would index for it
//! (recomputed from the CIs with the model's rules, so later discovery runs match the copied
//! CIs). Each backend loads a `Snapshot` verbatim (`EmbeddedStore::load_snapshot`,
//! `Neo4jStore::load_snapshot`).

use std::collections::{BTreeSet, HashMap};

use cmdb_model::identify::{identifier_key, rule_values};
use cmdb_model::{Ci, CiId, HistoryEntry, IdentifierEntry, Relationship};
use serde_json::Value;

use crate::types::*;
use crate::{GraphStore, StoreError};

/// Everything needed to recreate a graph elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub cis: Vec<Ci>,
    pub relationships: Vec<Relationship>,
    pub identifiers: Vec<IdentifierEntry>,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
}

/// Read the whole graph of `store` (pages of `page` items).
pub async fn read_snapshot(store: &dyn GraphStore, page: usize) -> Result<Snapshot, StoreError> {
    let page = page.clamp(100, 50_000);
    let mut cis = Vec::new();
    let mut after = None;
    loop {
        let p = store
            .find(
                &CiFilter::default(),
                CiOrder::default(),
                &PageRequest {
                    first: Some(page),
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .await?;
        after = p.items.last().map(|(c, _)| c.clone());
        cis.extend(p.items.into_iter().map(|(_, c)| c));
        if !p.has_next_page {
            break;
        }
    }
    let mut relationships = Vec::new();
    let mut cur: Option<String> = None;
    loop {
        let (rels, next) = store.all_relationships(cur.as_deref(), page).await?;
        relationships.extend(rels);
        match next {
            Some(n) => cur = Some(n),
            None => break,
        }
    }
    // History per CI; relationship entries show under both ends, so keep each once.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut history = Vec::new();
    for ci in &cis {
        let mut after = None;
        let mut mine = Vec::new();
        loop {
            let p = store
                .history(
                    &ci.id,
                    &PageRequest {
                        first: Some(page),
                        after: after.clone(),
                        ..Default::default()
                    },
                )
                .await?;
            after = p.items.last().map(|(c, _)| c.clone());
            for (_, e) in p.items {
                let key = serde_json::to_string(&e).unwrap_or_default();
                if seen.insert(key) {
                    mine.push(e);
                }
            }
            if !p.has_next_page {
                break;
            }
        }
        // Newest first from the store; keep each CI's own order, oldest first.
        mine.reverse();
        history.extend(mine);
    }
    // Stable: entries of one millisecond keep their per-CI order (the global order of
    // same-millisecond entries of different CIs is not part of the contract).
    history.sort_by_key(|a| a.at);
    let identifiers = derive_identifiers(&cis, &relationships);
    Ok(Snapshot {
        cis,
        relationships,
        identifiers,
        history,
    })
}

/// The identifier keys reconciliation would index for these CIs: every rule of the class over
/// the CI's attributes (and name), within the parent found through the class's structural
/// relationship for dependent classes.
pub fn derive_identifiers(cis: &[Ci], rels: &[Relationship]) -> Vec<IdentifierEntry> {
    let class_of: HashMap<&CiId, cmdb_model::CiClass> =
        cis.iter().map(|c| (&c.id, c.class)).collect();
    let mut out = Vec::new();
    for ci in cis {
        let rules = ci.class.rules();
        let parent: Option<CiId> = rules.parent.as_ref().and_then(|spec| {
            rels.iter().find_map(|r| {
                if r.rel_type != spec.rel {
                    return None;
                }
                let (child, parent) = if spec.parent_is_from {
                    (&r.to, &r.from)
                } else {
                    (&r.from, &r.to)
                };
                (child == &ci.id
                    && class_of
                        .get(parent)
                        .is_some_and(|c| spec.classes.contains(c)))
                .then(|| parent.clone())
            })
        });
        if rules.parent.is_some() && parent.is_none() {
            continue; // a dependent without its parent cannot be identified again anyway
        }
        for rule in rules.rules {
            let values = rule_values(rule, &|a| {
                ci.attr(a).cloned().or_else(|| {
                    if a == "name" {
                        Some(Value::String(ci.name.clone()))
                    } else {
                        None
                    }
                })
            });
            for v in values {
                out.push(IdentifierEntry {
                    key: identifier_key(ci.class, parent.as_ref(), rule, &v),
                    ci: ci.id.clone(),
                    parent: parent.clone(),
                });
            }
        }
    }
    out
}
