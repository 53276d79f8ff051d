//! What `collect` returns: raw varbinds per walked subtree plus how each walk ended. No parsing
//! of meaning happens here; `transform` does that.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use super::mib::{Subtree, SUBTREES};
use super::value::{Oid, SnmpValue};

/// How the walk of one subtree ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WalkStatus {
    /// Walked to its end.
    Complete { rows: usize },
    /// The agent has nothing there (noSuchObject, endOfMibView or the next OID is outside).
    Missing,
    /// Stopped at the per-subtree row cap; data is partial but bounded.
    Truncated { limit: usize },
    /// The agent returned a non-increasing OID; stopped to avoid looping.
    Looping { at: String },
    /// The walk failed midway (timeout, dead agent, unparsable reply): collection incomplete.
    Failed { code: String, message: String },
    /// Not attempted because an earlier failure made the agent unusable.
    Skipped,
}

/// Raw result of collecting one target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawCollection {
    pub target: String,
    /// All varbinds of all walked subtrees.
    pub varbinds: BTreeMap<Oid, SnmpValue>,
    /// Walk outcome per subtree name.
    pub walks: BTreeMap<String, WalkStatus>,
    /// Management address used to reach the agent, if it is an IP.
    pub management_ip: Option<String>,
}

impl RawCollection {
    /// A collection built from recorded varbinds (a `.snmprec` file): every subtree that has data
    /// counts as complete, the others as missing.
    pub fn from_recording(target: &str, varbinds: BTreeMap<Oid, SnmpValue>) -> Self {
        let mut walks = BTreeMap::new();
        for st in SUBTREES {
            let root = Oid::new(st.oid);
            let rows = varbinds
                .range(root.clone()..)
                .take_while(|(o, _)| o.starts_with(&root))
                .count();
            walks.insert(
                st.name.to_string(),
                if rows == 0 {
                    WalkStatus::Missing
                } else {
                    WalkStatus::Complete { rows }
                },
            );
        }
        RawCollection {
            target: target.to_string(),
            varbinds,
            walks,
            management_ip: None,
        }
    }

    /// True when no walk failed midway.
    pub fn complete(&self) -> bool {
        !self
            .walks
            .values()
            .any(|w| matches!(w, WalkStatus::Failed { .. } | WalkStatus::Skipped))
    }
}
