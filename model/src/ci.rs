//! Configuration items with attribute-level provenance.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::class::CiClass;
use crate::ids::{CiId, RunId, Source, UnknownName};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CiStatus {
    Active,
    /// No source that saw it saw it again in a successful run over its scope.
    Stale,
    /// Stale for longer than the retirement age, or retired by hand.
    Retired,
}

impl CiStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CiStatus::Active => "ACTIVE",
            CiStatus::Stale => "STALE",
            CiStatus::Retired => "RETIRED",
        }
    }
}

impl fmt::Display for CiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CiStatus {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ACTIVE" => Ok(CiStatus::Active),
            "STALE" => Ok(CiStatus::Stale),
            "RETIRED" => Ok(CiStatus::Retired),
            _ => Err(UnknownName::new("status", s)),
        }
    }
}

/// An attribute value and who set it when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    pub value: Value,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    pub updated_at: Timestamp,
}

/// A configuration item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ci {
    pub id: CiId,
    pub class: CiClass,
    pub name: String,
    pub status: CiStatus,
    #[serde(default)]
    pub tags: BTreeSet<String>,
    /// Identifying and descriptive attributes alike, each with provenance. The display name is
    /// kept here too, under `name`, so it obeys source precedence.
    #[serde(default)]
    pub attributes: BTreeMap<String, Attribute>,
    /// Every source that has reported this CI.
    #[serde(default)]
    pub sources: BTreeSet<Source>,
    /// Only seen from elsewhere so far (unmanaged neighbour, far end of a socket).
    #[serde(default)]
    pub placeholder: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// How identification decided for this CI the last time it decided something new (see
    /// [`Identification`]). `None` for CIs stored before identifications were recorded, until
    /// identification next decides something about them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identification: Option<Identification>,
}

/// What identification decided about a CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdentificationOutcome {
    /// An existing CI matched by one of its class's identification rules.
    Matched,
    /// No existing CI matched: this one was created.
    Created,
    /// A record proved several existing CIs to be this one: they were merged into it.
    Merged,
}

impl IdentificationOutcome {
    pub const ALL: [IdentificationOutcome; 3] = [
        IdentificationOutcome::Matched,
        IdentificationOutcome::Created,
        IdentificationOutcome::Merged,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            IdentificationOutcome::Matched => "MATCHED",
            IdentificationOutcome::Created => "CREATED",
            IdentificationOutcome::Merged => "MERGED",
        }
    }
}

impl fmt::Display for IdentificationOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IdentificationOutcome {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdentificationOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownName::new("identification outcome", s))
    }
}

/// How identification decided for a CI, kept with the CI. Recorded by reconciliation
/// (`model::reconcile`) when the decision is new: the CI was created, other CIs were merged
/// into it, or it was matched by a stronger rule than the one recorded (or none was). A match by
/// the same or a weaker rule confirms what is known and changes nothing, so re-ingesting an
/// unchanged CI writes nothing new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identification {
    pub outcome: IdentificationOutcome,
    /// The identification rule that matched (for a created CI: the strongest rule its record
    /// offered, the one its id derives from). `None` when a record created a CI by id alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The sentence `Explanation::sentence` gives (what `upsertCi` returns).
    pub explanation: String,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
    /// When the deciding observation was made.
    pub at: Timestamp,
    /// The CIs merged into this one by that decision (empty unless `Merged`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<CiId>,
}

impl Ci {
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key).map(|a| &a.value)
    }
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
}
