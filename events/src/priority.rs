//! ITIL priority: impact × urgency.
//!
//! Impact comes from the affected service's criticality (1 most critical … 5; default 3):
//! 1–2 HIGH, 3 MEDIUM, 4–5 LOW. Urgency comes from how bad the service is now: DOWN HIGH,
//! AT_RISK MEDIUM, DEGRADED LOW. The matrix is the common ITIL one:
//!
//! | impact \ urgency | HIGH | MEDIUM | LOW |
//! |---|---|---|---|
//! | HIGH   | P1 | P2 | P3 |
//! | MEDIUM | P2 | P3 | P4 |
//! | LOW    | P3 | P4 | P5 |
//!
//! An incident over several services takes the highest priority among them.

use serde::{Deserialize, Serialize};

use crate::status::OperationalStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    High,
    Medium,
    Low,
}

/// P1 (most urgent) … P5. Ordered most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Priority {
    P1,
    P2,
    P3,
    P4,
    P5,
}

impl Priority {
    pub fn number(self) -> u8 {
        self as u8 + 1
    }
    pub fn as_str(self) -> &'static str {
        ["P1", "P2", "P3", "P4", "P5"][self as usize]
    }
}

pub fn impact_from_criticality(criticality: Option<u32>) -> Level {
    match criticality
        .unwrap_or(cmdb_model::impact::DEFAULT_CRITICALITY)
        .clamp(1, 5)
    {
        1 | 2 => Level::High,
        3 => Level::Medium,
        _ => Level::Low,
    }
}

/// `None` for a service that is OK (no incident).
pub fn urgency_from_status(status: OperationalStatus) -> Option<Level> {
    match status {
        OperationalStatus::Ok => None,
        OperationalStatus::Degraded => Some(Level::Low),
        OperationalStatus::AtRisk => Some(Level::Medium),
        OperationalStatus::Down => Some(Level::High),
    }
}

pub fn priority(impact: Level, urgency: Level) -> Priority {
    const P: [Priority; 5] = [
        Priority::P1,
        Priority::P2,
        Priority::P3,
        Priority::P4,
        Priority::P5,
    ];
    P[impact as usize + urgency as usize]
}

/// The priority of one affected service, `None` when it is OK.
pub fn service_priority(criticality: Option<u32>, status: OperationalStatus) -> Option<Priority> {
    urgency_from_status(status).map(|u| priority(impact_from_criticality(criticality), u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Level::*;

    #[test]
    fn the_matrix() {
        let want = [
            (High, High, Priority::P1),
            (High, Medium, Priority::P2),
            (High, Low, Priority::P3),
            (Medium, High, Priority::P2),
            (Medium, Medium, Priority::P3),
            (Medium, Low, Priority::P4),
            (Low, High, Priority::P3),
            (Low, Medium, Priority::P4),
            (Low, Low, Priority::P5),
        ];
        for (i, u, p) in want {
            assert_eq!(priority(i, u), p, "{i:?} × {u:?}");
        }
    }

    #[test]
    fn from_criticality_and_status() {
        assert_eq!(
            service_priority(Some(1), OperationalStatus::Down),
            Some(Priority::P1)
        );
        assert_eq!(
            service_priority(None, OperationalStatus::Down),
            Some(Priority::P2)
        );
        assert_eq!(
            service_priority(Some(5), OperationalStatus::Degraded),
            Some(Priority::P5)
        );
        assert_eq!(
            service_priority(Some(99), OperationalStatus::AtRisk),
            Some(Priority::P4)
        );
        assert_eq!(service_priority(Some(1), OperationalStatus::Ok), None);
        assert_eq!(Priority::P3.number(), 3);
    }
}
