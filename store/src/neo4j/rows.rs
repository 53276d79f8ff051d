//! How CIs, relationships and history entries look as graph properties, both ways.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::{
    Attribute, Ci, CiId, HistoryEntry, RelStatus, RelType, Relationship, Source, Timestamp,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::StoreError;

/// What every CI read returns (the node bound to `n`).
pub(crate) const CI_FIELDS: &str = "n.id AS id, n.class AS class, n.name AS name, n.status AS status, \
    n.placeholder AS placeholder, n.first_seen AS first_seen, n.last_seen AS last_seen, n.tags AS tags, \
    n.sources AS sources, n.attributes AS attributes, n.identification AS identification";

/// What every relationship read returns (`(a)-[e]->(b)`).
pub(crate) const REL_FIELDS: &str = "type(e) AS t, a.id AS from, b.id AS to, e.status AS status, \
    e.first_seen AS first_seen, e.last_seen AS last_seen, e.evidence AS evidence, e.attributes AS attributes";

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(v: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(v).unwrap_or_default()
}

#[derive(Deserialize)]
pub(crate) struct CiRow {
    pub id: Option<String>,
    pub class: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub placeholder: Option<bool>,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub tags: Option<Vec<String>>,
    pub sources: Option<Vec<String>>,
    pub attributes: Option<String>,
    /// JSON of `cmdb_model::Identification`; absent on nodes written before it was recorded.
    #[serde(default)]
    pub identification: Option<String>,
}

impl CiRow {
    /// None when the row is an OPTIONAL MATCH that found nothing.
    pub(crate) fn into_ci(self) -> Result<Option<Ci>, StoreError> {
        let Some(id) = self.id else { return Ok(None) };
        let corrupt = |what: &str| StoreError::Corrupt(format!("CI {id}: {what}"));
        let attributes: BTreeMap<String, Attribute> = match &self.attributes {
            Some(s) => serde_json::from_str(s).map_err(|e| corrupt(&format!("attributes: {e}")))?,
            None => BTreeMap::new(),
        };
        let identification = match &self.identification {
            Some(s) => Some(
                serde_json::from_str(s).map_err(|e| corrupt(&format!("identification: {e}")))?,
            ),
            None => None,
        };
        Ok(Some(Ci {
            class: self.class.as_deref().unwrap_or("").parse()?,
            status: self.status.as_deref().unwrap_or("").parse()?,
            name: self.name.unwrap_or_default(),
            tags: self.tags.unwrap_or_default().into_iter().collect(),
            attributes,
            sources: self
                .sources
                .unwrap_or_default()
                .into_iter()
                .map(Source::new)
                .collect::<BTreeSet<_>>(),
            placeholder: self.placeholder.unwrap_or(false),
            first_seen: from_ms(self.first_seen.unwrap_or(0)),
            last_seen: from_ms(self.last_seen.unwrap_or(0)),
            identification,
            id: CiId(id),
        }))
    }
}

#[derive(Deserialize)]
pub(crate) struct RelRow {
    pub t: String,
    pub from: String,
    pub to: String,
    pub status: Option<String>,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub evidence: Option<String>,
    pub attributes: Option<String>,
}

impl RelRow {
    pub(crate) fn into_rel(self) -> Result<Relationship, StoreError> {
        let corrupt = |what: String| {
            StoreError::Corrupt(format!(
                "relationship {}-{}->{}: {what}",
                self.from, self.t, self.to
            ))
        };
        let evidence = match &self.evidence {
            Some(s) => serde_json::from_str(s).map_err(|e| corrupt(format!("evidence: {e}")))?,
            None => Vec::new(),
        };
        let attributes = match &self.attributes {
            Some(s) => serde_json::from_str(s).map_err(|e| corrupt(format!("attributes: {e}")))?,
            None => serde_json::Map::new(),
        };
        let rel_type: RelType = self.t.parse()?;
        Ok(Relationship {
            rel_type,
            status: if self.status.as_deref() == Some("CLOSED") {
                RelStatus::Closed
            } else {
                RelStatus::Active
            },
            evidence,
            attributes,
            first_seen: from_ms(self.first_seen.unwrap_or(0)),
            last_seen: from_ms(self.last_seen.unwrap_or(0)),
            from: CiId(self.from),
            to: CiId(self.to),
        })
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("serialising: {e}")))
}

/// `name\u{1f}json(value)`: attribute equality filters become list membership.
pub(crate) fn attr_kv(name: &str, value: &Value) -> String {
    format!("{name}\u{1f}{value}")
}

/// A CI as one `UNWIND` row: `{id, props}`.
pub(crate) fn ci_row(ci: &Ci) -> Result<Value, StoreError> {
    let kv: Vec<String> = ci
        .attributes
        .iter()
        .map(|(k, a)| attr_kv(k, &a.value))
        .collect();
    let mut row = json!({
        "id": ci.id.as_str(),
        "props": {
            "class": ci.class.as_str(),
            "name": ci.name,
            "status": ci.status.as_str(),
            "placeholder": ci.placeholder,
            "first_seen": ms(ci.first_seen),
            "last_seen": ms(ci.last_seen),
            "tags": ci.tags.iter().collect::<Vec<_>>(),
            "sources": ci.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "attributes": to_json(&ci.attributes)?,
            "attr_kv": kv,
        }
    });
    // Only when recorded: a CI never loses its identification once it has one, and a node
    // without the property reads as none.
    if let Some(i) = &ci.identification {
        row["props"]["identification"] = Value::String(to_json(i)?);
    }
    Ok(row)
}

/// A relationship as one `UNWIND` row: `{from, to, props}`. Besides the full evidence (JSON),
/// the summary an analyst filters on in Neo4j Browser: confidence, evidence kinds, sources.
pub(crate) fn rel_row(r: &Relationship) -> Result<Value, StoreError> {
    let mut kinds: Vec<&str> = r.evidence.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut sources: Vec<&str> = r.evidence.iter().map(|e| e.source.as_str()).collect();
    sources.sort_unstable();
    sources.dedup();
    Ok(json!({
        "from": r.from.as_str(),
        "to": r.to.as_str(),
        "props": {
            "status": r.status.as_str(),
            "first_seen": ms(r.first_seen),
            "last_seen": ms(r.last_seen),
            "confidence": r.confidence(),
            "evidence_kinds": kinds,
            "sources": sources,
            "evidence": to_json(&r.evidence)?,
            "attributes": to_json(&r.attributes)?,
        }
    }))
}

/// A history entry as one row (`seq` is assigned by the writer).
pub(crate) fn history_row(seq: i64, e: &HistoryEntry) -> Result<Value, StoreError> {
    let other = e.relationship.as_ref().map(|k| {
        if k.from == e.ci {
            k.to.as_str()
        } else {
            k.from.as_str()
        }
    });
    Ok(json!({
        "seq": seq,
        "ci": e.ci.as_str(),
        "other": other,
        "at": ms(e.at),
        "kind": e.kind.as_str(),
        "field": e.field,
        "source": e.source.as_str(),
        "body": to_json(e)?,
    }))
}

pub(crate) fn sighting_key(source: &str, target: &str, entity: &str) -> String {
    format!("{source}\u{1f}{target}\u{1f}{entity}")
}

pub(crate) fn source_target(source: &str, target: &str) -> String {
    format!("{source}\u{1f}{target}")
}
