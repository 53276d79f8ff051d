//! Identifiers: CI ids, run ids and source names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A CI's stable id: `ci_` + 16 hex digits of a BLAKE3 hash of the identifier that created it.
/// Deterministic: the same first sighting gives the same id in any store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CiId(pub String);

impl CiId {
    pub fn new(s: impl Into<String>) -> Self {
        CiId(s.into())
    }
    /// Derive an id from its creating identifier key and a disambiguating salt (0 normally).
    pub fn derive(identifier_key: &str, salt: u32) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(identifier_key.as_bytes());
        if salt > 0 {
            h.update(&salt.to_le_bytes());
        }
        let hex = h.finalize().to_hex();
        CiId(format!("ci_{}", &hex[..16]))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CiId {
    fn from(s: &str) -> Self {
        CiId(s.to_string())
    }
}

/// One discovery run (Cartography's update tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    pub fn new(s: impl Into<String>) -> Self {
        RunId(s.into())
    }
    /// A fresh, time-ordered run id (time to the nanosecond plus a per-process counter).
    pub fn generate() -> Self {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_subsec_nanos();
        let mut h = blake3::Hasher::new();
        h.update(&now.timestamp_micros().to_le_bytes());
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        h.update(
            &COUNTER
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_le_bytes(),
        );
        let hex = h.finalize().to_hex();
        RunId(format!(
            "run_{}{:09}_{}",
            now.format("%Y%m%dT%H%M%S"),
            nanos,
            &hex[..6]
        ))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who reported something: `manual`, `import`, `ssh`, `local`, `snmp`, `sweep`, …
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Source(pub String);

impl Source {
    pub const MANUAL: &'static str = "manual";
    pub const IMPORT: &'static str = "import";
    pub const SSH: &'static str = "ssh";
    pub const LOCAL: &'static str = "local";
    pub const SNMP: &'static str = "snmp";
    pub const SWEEP: &'static str = "sweep";

    pub fn new(s: impl Into<String>) -> Self {
        Source(s.into())
    }
    pub fn manual() -> Self {
        Source(Self::MANUAL.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Source {
    fn from(s: &str) -> Self {
        Source(s.to_string())
    }
}

/// A text that names none of an enum's values (a CI class, relationship type, status, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{text}`")]
pub struct UnknownName {
    /// What was being named (`CI class`, `relationship type`, …).
    pub what: &'static str,
    pub text: String,
}

impl UnknownName {
    pub fn new(what: &'static str, text: &str) -> UnknownName {
        UnknownName {
            what,
            text: text.to_string(),
        }
    }
}
