//! Credential affinity (which credential worked where) remembered between runs.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Credential affinity of both protocols, persisted as JSON in the data directory.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct AffinityFile {
    #[serde(default)]
    pub(super) snmp: cmdb_discovery::sweep::AffinityMap,
    #[serde(default)]
    pub(super) ssh: std::collections::BTreeMap<String, String>,
}

pub(super) fn load_affinity(path: Option<&Path>) -> AffinityFile {
    path.and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}
