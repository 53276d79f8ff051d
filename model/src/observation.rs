//! What a probe reports: CI records and relationships between them, stamped with source, scope
//! and run id. Records refer to each other by a `key` local to the observation; reconciliation
//! turns those into CI ids.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

use crate::class::CiClass;
use crate::ids::{CiId, RunId, Source};
use crate::rel::{EvidenceKind, RelType};
use crate::time::Timestamp;

/// One probe's report over one scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub source: Source,
    pub run_id: RunId,
    pub observed_at: Timestamp,
    pub scope: Scope,
    pub records: Vec<Record>,
    #[serde(default)]
    pub relationships: Vec<RelationshipObs>,
}

/// The targets a run covered, and whether it covered them completely.
///
/// Staleness is only ever computed for a complete scope: what `source` saw before under one of
/// these targets and did not see this time becomes STALE. A partial or failed collection sets
/// `complete = false` and marks nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Scope {
    /// Target names as the probe knows them (`10.0.0.1`, `web1:22`, `local`).
    pub targets: BTreeSet<String>,
    pub complete: bool,
}

impl Scope {
    /// Does an observation over this scope mark what its source no longer sees there? Only a
    /// complete run over named targets does; a failed or partial one never stales anything.
    pub fn marks_staleness(&self) -> bool {
        self.complete && !self.targets.is_empty()
    }
    /// A scope that covers nothing for staleness purposes (manual edits, imports).
    pub fn none() -> Self {
        Scope::default()
    }
    pub fn complete(targets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Scope {
            targets: targets.into_iter().map(Into::into).collect(),
            complete: true,
        }
    }
    pub fn partial(targets: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Scope {
            targets: targets.into_iter().map(Into::into).collect(),
            complete: false,
        }
    }
}

/// One CI as a source sees it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    /// Reference for relationships and `parent` within this observation. Any string unique in
    /// the observation.
    pub key: String,
    pub class: Option<CiClass>,
    /// Display name; follows source precedence like any attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A known CI id (manual edits, re-import of an export). Matches that CI directly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<CiId>,
    /// Local key of the parent record, required for dependent classes (Interface, Process, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Identifying attributes named by the class's rules (`serial_number`, `mac_addresses`, …).
    #[serde(default)]
    pub identifiers: Map<String, Value>,
    /// Everything else the source knows.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// A weak record: something seen only from elsewhere (an LLDP neighbour, the far end of a
    /// socket). It identifies and creates a CI but never overwrites attributes of an existing
    /// one or changes its class.
    #[serde(default)]
    pub placeholder: bool,
}

impl Record {
    pub fn new(key: impl Into<String>, class: CiClass) -> Self {
        Record {
            key: key.into(),
            class: Some(class),
            ..Default::default()
        }
    }
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    pub fn parent(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }
    pub fn ident(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.identifiers.insert(k.to_string(), v.into());
        self
    }
    pub fn attr(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.attributes.insert(k.to_string(), v.into());
        self
    }
    pub fn tag(mut self, t: impl Into<String>) -> Self {
        self.tags.insert(t.into());
        self
    }
    pub fn placeholder(mut self) -> Self {
        self.placeholder = true;
        self
    }
}

/// A relationship between two records of the same observation, by their keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationshipObs {
    pub rel_type: RelType,
    pub from: String,
    pub to: String,
    pub evidence: EvidenceKind,
    /// Base confidence 0.0–1.0 of one sighting; repeated runs reinforce it.
    pub confidence: f64,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl RelationshipObs {
    pub fn new(
        rel_type: RelType,
        from: impl Into<String>,
        to: impl Into<String>,
        evidence: EvidenceKind,
        confidence: f64,
    ) -> Self {
        RelationshipObs {
            rel_type,
            from: from.into(),
            to: to.into(),
            evidence,
            confidence,
            attributes: Map::new(),
        }
    }
}

impl Observation {
    pub fn new(source: Source, run_id: RunId, scope: Scope) -> Self {
        Observation {
            source,
            run_id,
            observed_at: crate::time::now(),
            scope,
            records: Vec::new(),
            relationships: Vec::new(),
        }
    }
    pub fn push(&mut self, r: Record) -> &mut Self {
        self.records.push(r);
        self
    }
    pub fn relate(
        &mut self,
        rel_type: RelType,
        from: &str,
        to: &str,
        evidence: EvidenceKind,
        confidence: f64,
    ) -> &mut Self {
        self.relationships.push(RelationshipObs::new(
            rel_type, from, to, evidence, confidence,
        ));
        self
    }
}
