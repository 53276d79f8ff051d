//! How model values are stored in rows: the compact JSON bodies of CIs and relationships,
//! millisecond timestamps, and the row decoders.

use std::collections::BTreeSet;

use cmdb_model::{
    Ci, CiId, Evidence, HistoryEntry, RelKey, RelStatus, Relationship, Source, Timestamp,
};
use rusqlite::{params, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::StoreError;

/// What the CI row's `body` column holds (the rest are columns). Compact on purpose: keys are
/// one letter and provenance is a tuple, because at a million CIs every byte per attribute is a
/// megabyte of page cache.
#[derive(Serialize, Deserialize)]
pub(super) struct CiBody {
    #[serde(rename = "t", default, skip_serializing_if = "BTreeSet::is_empty")]
    pub(super) tags: BTreeSet<String>,
    #[serde(rename = "a", default)]
    pub(super) attributes: std::collections::BTreeMap<String, StoredAttr>,
    #[serde(rename = "s", default)]
    pub(super) sources: BTreeSet<Source>,
    /// Absent in rows written before identifications were recorded.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub(super) identification: Option<StoredIdentification>,
}

/// `[outcome, rule, explanation, source, at_ms, run_id, merged]`
#[derive(Serialize, Deserialize)]
pub(super) struct StoredIdentification(
    cmdb_model::IdentificationOutcome,
    Option<String>,
    String,
    String,
    i64,
    #[serde(default)] Option<String>,
    #[serde(default)] Vec<String>,
);

impl From<&cmdb_model::Identification> for StoredIdentification {
    fn from(i: &cmdb_model::Identification) -> Self {
        StoredIdentification(
            i.outcome,
            i.rule.clone(),
            i.explanation.clone(),
            i.source.0.clone(),
            ms(i.at),
            i.run_id.as_ref().map(|r| r.0.clone()),
            i.merged.iter().map(|m| m.0.clone()).collect(),
        )
    }
}

impl From<StoredIdentification> for cmdb_model::Identification {
    fn from(s: StoredIdentification) -> Self {
        cmdb_model::Identification {
            outcome: s.0,
            rule: s.1,
            explanation: s.2,
            source: Source(s.3),
            at: from_ms(s.4),
            run_id: s.5.map(cmdb_model::RunId),
            merged: s.6.into_iter().map(CiId).collect(),
        }
    }
}

/// `[value, source, updated_at_ms, run_id]`
#[derive(Serialize, Deserialize)]
pub(super) struct StoredAttr(Value, String, i64, #[serde(default)] Option<String>);

impl From<&cmdb_model::Attribute> for StoredAttr {
    fn from(a: &cmdb_model::Attribute) -> Self {
        StoredAttr(
            a.value.clone(),
            a.source.0.clone(),
            ms(a.updated_at),
            a.run_id.as_ref().map(|r| r.0.clone()),
        )
    }
}

impl From<StoredAttr> for cmdb_model::Attribute {
    fn from(s: StoredAttr) -> Self {
        cmdb_model::Attribute {
            value: s.0,
            source: Source(s.1),
            updated_at: from_ms(s.2),
            run_id: s.3.map(cmdb_model::RunId),
        }
    }
}

/// `[source, kind, confidence, observations, first_seen_ms, last_seen_ms, last_run]`
#[derive(Serialize, Deserialize)]
pub(super) struct StoredEvidence(
    String,
    cmdb_model::EvidenceKind,
    f64,
    u32,
    i64,
    i64,
    #[serde(default)] Option<String>,
);

impl From<&Evidence> for StoredEvidence {
    fn from(e: &Evidence) -> Self {
        StoredEvidence(
            e.source.0.clone(),
            e.kind,
            e.confidence,
            e.observations,
            ms(e.first_seen),
            ms(e.last_seen),
            e.last_run.as_ref().map(|r| r.0.clone()),
        )
    }
}

impl From<StoredEvidence> for Evidence {
    fn from(s: StoredEvidence) -> Self {
        Evidence {
            source: Source(s.0),
            kind: s.1,
            confidence: s.2,
            observations: s.3,
            first_seen: from_ms(s.4),
            last_seen: from_ms(s.5),
            last_run: s.6.map(cmdb_model::RunId),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct RelBody {
    #[serde(rename = "e")]
    pub(super) evidence: Vec<StoredEvidence>,
    #[serde(
        rename = "a",
        default,
        skip_serializing_if = "serde_json::Map::is_empty"
    )]
    pub(super) attributes: serde_json::Map<String, Value>,
}

pub(super) fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_ms(v: i64) -> Timestamp {
    chrono::DateTime::from_timestamp_millis(v).unwrap_or_default()
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Backend(format!("serialising: {e}")))
}

pub(super) fn row_to_ci(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Ci, StoreError>> {
    let id: String = row.get(0)?;
    let class: String = row.get(1)?;
    let name: String = row.get(2)?;
    let status: String = row.get(3)?;
    let placeholder: i64 = row.get(4)?;
    let first_seen: i64 = row.get(5)?;
    let last_seen: i64 = row.get(6)?;
    let body: String = row.get(7)?;
    Ok((|| {
        let body: CiBody = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("CI {id}: {e}")))?;
        Ok(Ci {
            class: class.parse()?,
            status: status.parse()?,
            id: CiId(id),
            name,
            tags: body.tags,
            attributes: body
                .attributes
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            sources: body.sources,
            placeholder: placeholder != 0,
            first_seen: from_ms(first_seen),
            last_seen: from_ms(last_seen),
            identification: body.identification.map(Into::into),
        })
    })())
}

pub(super) const CI_COLUMNS: &str =
    "id, class, name, status, placeholder, first_seen, last_seen, body";
pub(super) const REL_COLUMNS: &str = "from_id, type, to_id, status, first_seen, last_seen, body";

pub(super) fn row_to_rel(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<Relationship, StoreError>> {
    let from: String = row.get(0)?;
    let t: String = row.get(1)?;
    let to: String = row.get(2)?;
    let status: String = row.get(3)?;
    let first_seen: i64 = row.get(4)?;
    let last_seen: i64 = row.get(5)?;
    let body: String = row.get(6)?;
    Ok((|| {
        let body: RelBody = serde_json::from_str(&body)
            .map_err(|e| StoreError::Corrupt(format!("relationship {from}-{t}->{to}: {e}")))?;
        Ok(Relationship {
            rel_type: t.parse()?,
            from: CiId(from),
            to: CiId(to),
            status: if status == "ACTIVE" {
                RelStatus::Active
            } else {
                RelStatus::Closed
            },
            evidence: body.evidence.into_iter().map(Into::into).collect(),
            attributes: body.attributes,
            first_seen: from_ms(first_seen),
            last_seen: from_ms(last_seen),
        })
    })())
}

pub(super) fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<Result<T, StoreError>>>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r??);
    }
    Ok(out)
}

pub(super) const HISTORY_COLUMNS: &str =
    "seq, ci_id, other_id, at, kind, field, rel_type, old, new, source, run_id";

pub(super) fn row_to_history(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<(i64, HistoryEntry), StoreError>> {
    let seq: i64 = row.get(0)?;
    let ci: String = row.get(1)?;
    let other: Option<String> = row.get(2)?;
    let at: i64 = row.get(3)?;
    let kind: String = row.get(4)?;
    let field: Option<String> = row.get(5)?;
    let rel_type: Option<String> = row.get(6)?;
    let old: Option<String> = row.get(7)?;
    let new: Option<String> = row.get(8)?;
    let source: String = row.get(9)?;
    let run_id: Option<String> = row.get(10)?;
    Ok((|| {
        let parse = |v: Option<String>| -> Result<Option<Value>, StoreError> {
            v.map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("history {seq}: {e}")))
            })
            .transpose()
        };
        let relationship = match (rel_type, &other) {
            (Some(t), Some(o)) => Some(RelKey {
                rel_type: t.parse()?,
                from: CiId(ci.clone()),
                to: CiId(o.clone()),
            }),
            _ => None,
        };
        Ok((
            seq,
            HistoryEntry {
                ci: CiId(ci),
                at: from_ms(at),
                kind: kind.parse()?,
                field,
                relationship,
                old: parse(old)?,
                new: parse(new)?,
                source: Source(source),
                run_id: run_id.map(cmdb_model::RunId),
            },
        ))
    })())
}

pub(super) fn insert_history(tx: &Transaction<'_>, e: &HistoryEntry) -> Result<(), StoreError> {
    // Relationship entries are filed under the `from` end with the `to` end in other_id.
    let (ci, other) = match &e.relationship {
        Some(k) => (k.from.as_str(), Some(k.to.as_str())),
        None => (e.ci.as_str(), None),
    };
    insert_history_row(tx, ci, other, e)
}

/// A history row with its CI and other-end columns given (a merge may have re-pointed them).
pub(super) fn insert_history_row(
    tx: &Transaction<'_>,
    ci: &str,
    other: Option<&str>,
    e: &HistoryEntry,
) -> Result<(), StoreError> {
    let js = |v: &Option<Value>| v.as_ref().map(|v| v.to_string());
    let mut stmt = tx.prepare_cached(
        "INSERT INTO history (ci_id, other_id, at, kind, field, rel_type, old, new, source, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    stmt.execute(params![
        ci,
        other,
        ms(e.at),
        e.kind.as_str(),
        e.field,
        e.relationship.as_ref().map(|k| k.rel_type.as_str()),
        js(&e.old),
        js(&e.new),
        e.source.as_str(),
        e.run_id.as_ref().map(|r| r.as_str())
    ])?;
    Ok(())
}

/// The `body` column of a CI row.
pub(super) fn ci_body_json(ci: &Ci) -> Result<String, StoreError> {
    json(&CiBody {
        tags: ci.tags.clone(),
        attributes: ci
            .attributes
            .iter()
            .map(|(k, a)| (k.clone(), a.into()))
            .collect(),
        sources: ci.sources.clone(),
        identification: ci.identification.as_ref().map(Into::into),
    })
}

/// The `body` column of a relationship row.
pub(super) fn rel_body_json(r: &Relationship) -> Result<String, StoreError> {
    json(&RelBody {
        evidence: r.evidence.iter().map(Into::into).collect(),
        attributes: r.attributes.clone(),
    })
}

/// The values of a `cis` row in column order (`id, class, name, status, placeholder,
/// first_seen, last_seen, body`), for every statement that writes one.
pub(super) fn ci_row(ci: &Ci) -> Result<[rusqlite::types::Value; 8], StoreError> {
    use rusqlite::types::Value as V;
    Ok([
        V::Text(ci.id.as_str().to_string()),
        V::Text(ci.class.as_str().to_string()),
        V::Text(ci.name.clone()),
        V::Text(ci.status.as_str().to_string()),
        V::Integer(ci.placeholder as i64),
        V::Integer(ms(ci.first_seen)),
        V::Integer(ms(ci.last_seen)),
        V::Text(ci_body_json(ci)?),
    ])
}
