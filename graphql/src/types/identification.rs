//! How a CI is identified: the identifier keys it holds and the last identification decision.

use async_graphql::{SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;

use crate::resolve::ids;

use super::enums::IdentificationOutcomeG;

/// An identifier key a CI holds: what identification finds it by.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "CIIdentifier")]
pub struct CiIdentifierG {
    /// The stored key, `family|parent|rule|value` (`device||mac_addresses|52:54:00:aa:00:01`).
    pub key: String,
    /// The identification rule (`serial_number`, `mac_addresses`, `if_name`, …).
    pub rule: String,
    /// The value as identification normalised it (rules over several attributes join them with
    /// `|`).
    pub value: String,
}

impl CiIdentifierG {
    /// `None` (logged) for a stored key that is not one.
    pub fn parse(key: String) -> Option<Self> {
        let Some(p) = m::identify::parse_identifier_key(&key) else {
            tracing::warn!(key = %key, "stored identifier key is malformed; not shown");
            return None;
        };
        let (rule, value) = (p.rule.to_string(), p.value.to_string());
        Some(CiIdentifierG { key, rule, value })
    }
}

/// How identification decided for a CI the last time it decided something new: when it was
/// created, when other CIs were merged into it, or when a stronger rule than the recorded one
/// matched it. Matches by the same or a weaker rule confirm it and change nothing.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Identification")]
pub struct IdentificationG {
    pub outcome: IdentificationOutcomeG,
    /// The rule that matched; for a created CI the strongest rule its record offered (the one
    /// its id derives from); null when a CI was created by id alone.
    pub rule: Option<String>,
    /// The decision in one sentence, as `upsertCi` returns it.
    pub explanation: String,
    /// The source whose observation decided it (`ssh`, `snmp`, `import`, `manual`, …).
    pub source: String,
    pub run_id: Option<String>,
    /// When that observation was made.
    pub at: DateTime<Utc>,
    /// The CIs merged into this one by that decision (their ids now resolve to it).
    pub merged: Vec<ID>,
}

impl From<&m::Identification> for IdentificationG {
    fn from(i: &m::Identification) -> Self {
        IdentificationG {
            outcome: i.outcome.into(),
            rule: i.rule.clone(),
            explanation: i.explanation.clone(),
            source: i.source.0.clone(),
            run_id: i.run_id.as_ref().map(|r| r.0.clone()),
            at: i.at,
            merged: ids(&i.merged),
        }
    }
}
