//! Configuration items with attribute-level provenance.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use crate::class::CiClass;
use crate::ids::{CiId, RunId, Source};
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
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "ACTIVE" => Ok(CiStatus::Active),
            "STALE" => Ok(CiStatus::Stale),
            "RETIRED" => Ok(CiStatus::Retired),
            _ => Err(format!("unknown status `{s}`")),
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
}

impl Ci {
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key).map(|a| &a.value)
    }
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attr(key).and_then(Value::as_str)
    }
}
