//! Which operational state an open alert puts its CI in, and a service's operational status.

use cmdb_model::impact::Severity;
use serde::{Deserialize, Serialize};

use crate::event::EventSeverity;

/// A business service's (or any CI's) state now: what monitoring and the impact engine say,
/// beside the lifecycle `status` a CI has in the CMDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OperationalStatus {
    Ok,
    Degraded,
    AtRisk,
    Down,
}

impl OperationalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationalStatus::Ok => "OK",
            OperationalStatus::Degraded => "DEGRADED",
            OperationalStatus::AtRisk => "AT_RISK",
            OperationalStatus::Down => "DOWN",
        }
    }

    pub fn parse(s: &str) -> Option<OperationalStatus> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "OK" => OperationalStatus::Ok,
            "DEGRADED" => OperationalStatus::Degraded,
            "AT_RISK" => OperationalStatus::AtRisk,
            "DOWN" => OperationalStatus::Down,
            _ => return None,
        })
    }
}

impl From<Option<Severity>> for OperationalStatus {
    fn from(s: Option<Severity>) -> Self {
        match s {
            None => OperationalStatus::Ok,
            Some(Severity::Degraded) => OperationalStatus::Degraded,
            Some(Severity::AtRisk) => OperationalStatus::AtRisk,
            Some(Severity::Down) => OperationalStatus::Down,
        }
    }
}

/// The state an open alert of each severity puts its CI in (`[events.severity_states]` in
/// `cmdb.toml`). Default: critical → DOWN, major and minor → DEGRADED, warning and info →
/// nothing (recorded, bound, shown, but no CI changes state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateMapping {
    pub critical: MappedState,
    pub major: MappedState,
    pub minor: MappedState,
    pub warning: MappedState,
    pub info: MappedState,
}

/// A state an alert may set, or `NONE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MappedState {
    Down,
    AtRisk,
    Degraded,
    None,
}

impl Default for StateMapping {
    fn default() -> Self {
        StateMapping {
            critical: MappedState::Down,
            major: MappedState::Degraded,
            minor: MappedState::Degraded,
            warning: MappedState::None,
            info: MappedState::None,
        }
    }
}

impl StateMapping {
    /// The state an open alert of `severity` puts its CI in.
    pub fn state(&self, severity: EventSeverity) -> Option<Severity> {
        let m = match severity {
            EventSeverity::Clear => return None,
            EventSeverity::Critical => self.critical,
            EventSeverity::Major => self.major,
            EventSeverity::Minor => self.minor,
            EventSeverity::Warning => self.warning,
            EventSeverity::Info => self.info,
        };
        match m {
            MappedState::Down => Some(Severity::Down),
            MappedState::AtRisk => Some(Severity::AtRisk),
            MappedState::Degraded => Some(Severity::Degraded),
            MappedState::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mapping_and_overrides() {
        let m = StateMapping::default();
        assert_eq!(m.state(EventSeverity::Critical), Some(Severity::Down));
        assert_eq!(m.state(EventSeverity::Major), Some(Severity::Degraded));
        assert_eq!(m.state(EventSeverity::Minor), Some(Severity::Degraded));
        assert_eq!(m.state(EventSeverity::Warning), None);
        assert_eq!(m.state(EventSeverity::Clear), None);
        let m: StateMapping =
            serde_json::from_str(r#"{"major": "DOWN", "warning": "DEGRADED"}"#).unwrap();
        assert_eq!(m.state(EventSeverity::Major), Some(Severity::Down));
        assert_eq!(m.state(EventSeverity::Warning), Some(Severity::Degraded));
        assert_eq!(m.state(EventSeverity::Critical), Some(Severity::Down));
        assert!(serde_json::from_str::<StateMapping>(r#"{"majr": "DOWN"}"#).is_err());
        assert!(serde_json::from_str::<StateMapping>(r#"{"major": "BROKEN"}"#).is_err());
    }

    #[test]
    fn status_order_and_names() {
        assert!(OperationalStatus::Down > OperationalStatus::AtRisk);
        assert!(OperationalStatus::AtRisk > OperationalStatus::Degraded);
        assert!(OperationalStatus::Degraded > OperationalStatus::Ok);
        for s in [
            OperationalStatus::Ok,
            OperationalStatus::Degraded,
            OperationalStatus::AtRisk,
            OperationalStatus::Down,
        ] {
            assert_eq!(OperationalStatus::parse(s.as_str()), Some(s));
        }
    }
}
