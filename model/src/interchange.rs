//! The JSON-lines interchange format of `cmdb import` / `cmdb export` (see docs/import-format.md).
//! Parsing only; reading files is the binary's job.
//!
//! One JSON object per line, `"kind": "ci"` or `"kind": "relationship"`. Relationship ends and
//! CI parents are references: the `key` of a CI line in the same file, or a CI id.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

use crate::ci::Ci;
use crate::class::CiClass;
use crate::ids::{CiId, UnknownName};
use crate::observation::Record;
use crate::rel::{EvidenceKind, RelType, Relationship};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiLine {
    /// A CI id: matches that CI, or creates it with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A name other lines of the file use to refer to this CI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub class: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Parent reference (key or id), required for dependent classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub identifiers: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    // Written by export for the reader's benefit; ignored on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

impl CiLine {
    /// The observation record this line stands for, under `key`, with its parent reference
    /// already resolved by the caller (import and the fuzz target resolve them alike).
    pub fn into_record(self, key: String, class: CiClass, parent: Option<String>) -> Record {
        Record {
            key,
            class: Some(class),
            name: self.name,
            id: self.id.map(CiId::new),
            parent,
            identifiers: self.identifiers,
            attributes: self.attributes,
            tags: self.tags,
            placeholder: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelLine {
    #[serde(rename = "type")]
    pub rel_type: String,
    pub from: String,
    pub to: String,
    /// Evidence kind; default `import`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// 0–1; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    // Written by export; ignored on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_detail: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Line {
    Ci(CiLine),
    Relationship(RelLine),
}

/// A line that cannot be imported: which line, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {}{message}", field.as_ref().map(|f| format!("field `{f}`: ")).unwrap_or_default())]
pub struct LineError {
    pub line: usize,
    pub field: Option<String>,
    pub message: String,
}

/// A validated line.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Ci {
        class: CiClass,
        line: CiLine,
    },
    Relationship {
        rel_type: RelType,
        evidence: EvidenceKind,
        confidence: f64,
        line: RelLine,
    },
}

/// Parse and validate one line (1-based `line_no` for messages).
pub fn parse_line(line_no: usize, text: &str) -> Result<Parsed, LineError> {
    let e = |field: Option<&str>, message: String| LineError {
        line: line_no,
        field: field.map(str::to_string),
        message,
    };
    let value: Value =
        serde_json::from_str(text).map_err(|x| e(None, format!("not valid JSON: {x}")))?;
    let Value::Object(obj) = &value else {
        return Err(e(None, "expected a JSON object".into()));
    };
    match obj.get("kind").and_then(Value::as_str) {
        Some("ci") | Some("relationship") => {}
        Some(other) => {
            return Err(e(
                Some("kind"),
                format!("must be \"ci\" or \"relationship\", not {other:?}"),
            ))
        }
        None => {
            return Err(e(
                Some("kind"),
                "missing (\"ci\" or \"relationship\")".into(),
            ))
        }
    }
    let is_ci = obj.get("kind").and_then(Value::as_str) == Some("ci");
    let mut body = obj.clone();
    body.remove("kind");
    let line = if is_ci {
        typed::<CiLine>(line_no, body).map(Line::Ci)
    } else {
        typed::<RelLine>(line_no, body).map(Line::Relationship)
    }?;
    match line {
        Line::Ci(l) => check_ci_line(l).map_err(|(field, message)| e(Some(field), message)),
        Line::Relationship(l) => {
            check_rel_line(l).map_err(|(field, message)| e(Some(field), message))
        }
    }
}

/// A CI line's class, id and parent checked: the offending field and why.
fn check_ci_line(l: CiLine) -> Result<Parsed, (&'static str, String)> {
    let class: CiClass = l
        .class
        .parse()
        .map_err(|m: UnknownName| ("class", m.to_string()))?;
    if l.id
        .as_deref()
        .map(str::trim)
        .map(str::is_empty)
        .unwrap_or(false)
    {
        return Err(("id", "must not be empty".into()));
    }
    if class.rules().parent.is_some() && l.parent.is_none() && l.id.is_none() {
        return Err((
            "parent",
            format!("a {class} is identified within its parent: `parent` is required"),
        ));
    }
    Ok(Parsed::Ci { class, line: l })
}

/// A relationship line's type, evidence, confidence and ends checked.
fn check_rel_line(l: RelLine) -> Result<Parsed, (&'static str, String)> {
    let rel_type: RelType = l
        .rel_type
        .parse()
        .map_err(|m: UnknownName| ("type", m.to_string()))?;
    let evidence: EvidenceKind = match &l.evidence {
        Some(k) => k
            .parse()
            .map_err(|m: UnknownName| ("evidence", m.to_string()))?,
        None => EvidenceKind::Import,
    };
    let confidence = l.confidence.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&confidence) {
        return Err(("confidence", "must be between 0 and 1".into()));
    }
    if l.from.trim().is_empty() {
        return Err(("from", "must not be empty".into()));
    }
    if l.to.trim().is_empty() {
        return Err(("to", "must not be empty".into()));
    }
    Ok(Parsed::Relationship {
        rel_type,
        evidence,
        confidence,
        line: l,
    })
}

/// Deserialize a line's fields, naming the offending one: its path (`name`, `tags[2]`,
/// `confidence`) for a wrong type, the field itself for an unknown or missing one.
fn typed<T: serde::de::DeserializeOwned>(
    line_no: usize,
    body: Map<String, Value>,
) -> Result<T, LineError> {
    serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // Unknown and missing fields are reported at the object itself, with the field's name
        // in backticks.
        let field = if path.is_empty() || path == "." {
            message.split('`').nth(1).map(str::to_string)
        } else {
            Some(path)
        };
        LineError {
            line: line_no,
            field,
            message,
        }
    })
}

/// The export line of a CI (`parent` = the id of the CI it is identified within).
pub fn ci_line(ci: &Ci, parent: Option<String>) -> Line {
    Line::Ci(CiLine {
        id: Some(ci.id.to_string()),
        key: None,
        class: ci.class.to_string(),
        name: Some(ci.name.clone()),
        parent,
        identifiers: Map::new(),
        attributes: ci
            .attributes
            .iter()
            .filter(|(k, _)| k.as_str() != "name")
            .map(|(k, a)| (k.clone(), a.value.clone()))
            .collect(),
        tags: ci.tags.clone(),
        status: Some(ci.status.to_string()),
        sources: Some(ci.sources.iter().map(|s| s.to_string()).collect()),
        first_seen: Some(
            ci.first_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        last_seen: Some(
            ci.last_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    })
}

pub fn rel_line(r: &Relationship) -> Line {
    let best = r
        .evidence
        .iter()
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence));
    Line::Relationship(RelLine {
        rel_type: r.rel_type.to_string(),
        from: r.from.to_string(),
        to: r.to.to_string(),
        evidence: best.map(|e| e.kind.as_str().to_string()),
        confidence: best.map(|e| e.confidence),
        attributes: r.attributes.clone(),
        status: Some(match r.status {
            crate::rel::RelStatus::Active => "ACTIVE".into(),
            crate::rel::RelStatus::Closed => "CLOSED".into(),
        }),
        evidence_detail: serde_json::to_value(&r.evidence).ok(),
        first_seen: Some(
            r.first_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
        last_seen: Some(
            r.last_seen
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines() {
        let p = parse_line(
            1,
            r#"{"kind":"ci","key":"h1","class":"Host","identifiers":{"hostname":"h1"}}"#,
        )
        .unwrap();
        assert!(matches!(
            p,
            Parsed::Ci {
                class: CiClass::Host,
                ..
            }
        ));
        let p = parse_line(2, r#"{"kind":"relationship","type":"RUNS_ON","from":"p","to":"h1","evidence":"config","confidence":0.5}"#).unwrap();
        assert!(matches!(
            p,
            Parsed::Relationship {
                rel_type: RelType::RunsOn,
                evidence: EvidenceKind::Config,
                ..
            }
        ));
    }

    #[test]
    fn bad_lines_name_line_and_field() {
        let cases = [
            (r#"{"kind":"ci","class":"Hots"}"#, Some("class")),
            (
                r#"{"kind":"ci","class":"Interface","identifiers":{"if_name":"e0"}}"#,
                Some("parent"),
            ),
            (
                r#"{"kind":"ci","class":"Host","colour":"red"}"#,
                Some("colour"),
            ),
            (
                r#"{"kind":"relationship","type":"LOVES","from":"a","to":"b"}"#,
                Some("type"),
            ),
            (
                r#"{"kind":"relationship","type":"RUNS_ON","from":"a"}"#,
                Some("to"),
            ),
            (
                r#"{"kind":"relationship","type":"RUNS_ON","from":"a","to":"b","confidence":7}"#,
                Some("confidence"),
            ),
            (r#"{"kind":"vm"}"#, Some("kind")),
            (r#"{"class":"Host"}"#, Some("kind")),
            (r#"{"kind":"ci","class":"Host""#, None),
            (r#"{"kind":"ci","class":"Host","name":5}"#, Some("name")),
            (
                r#"{"kind":"ci","class":"Host","tags":["a",5]}"#,
                Some("tags[1]"),
            ),
            (
                r#"{"kind":"ci","class":"Host","identifiers":"h1"}"#,
                Some("identifiers"),
            ),
            (r#"{"kind":"ci","class":7}"#, Some("class")),
            (
                r#"{"kind":"relationship","type":"RUNS_ON","from":"a","to":"b","confidence":"high"}"#,
                Some("confidence"),
            ),
            (
                r#"{"kind":"relationship","type":"RUNS_ON","from":["a"],"to":"b"}"#,
                Some("from"),
            ),
            (r#"[1,2]"#, None),
        ];
        for (text, field) in cases {
            let e = parse_line(7, text).unwrap_err();
            assert_eq!(e.line, 7);
            assert_eq!(e.field.as_deref(), field, "{text}: {e}");
            assert!(e.to_string().starts_with("line 7: "), "{e}");
        }
    }
}
