//! Service-level figures from a status timeline over a window.
//!
//! - availability = time not DOWN / window (DEGRADED and AT_RISK time count as available and
//!   are reported beside it);
//! - an outage is a stretch of DOWN; outages overlapping the window are counted, their
//!   lengths clipped to it;
//! - MTTR = mean outage length; MTBF = time not DOWN / number of outages (the mean up time
//!   between outages); both `None` without an outage;
//! - the SLA target (`99.9%`) is met when availability ≥ target; the error budget is the DOWN
//!   time the target allows over the window, and what is left of it (negative when breached).

use cmdb_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::status::OperationalStatus;

/// Status changes: the status before the first change, then each change in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub initial: Option<OperationalStatus>,
    pub changes: Vec<(Timestamp, OperationalStatus)>,
}

/// An availability target, as a fraction (`99.9%` → 0.999).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SlaTarget(f64);

/// A value that is not an availability target: what was given (its first 40 characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an availability target such as `99.9%`")]
pub struct SlaTargetError(String);

impl SlaTargetError {
    pub fn new(given: &str) -> SlaTargetError {
        SlaTargetError(given.chars().take(40).collect())
    }
}

impl SlaTarget {
    /// `99.9%`, `99.9 %` or `99.9`: a percentage above 0 and at most 100.
    pub fn parse(s: &str) -> Result<SlaTarget, SlaTargetError> {
        let t = s.trim().trim_end_matches('%').trim();
        match t.parse::<f64>() {
            Ok(p) if p > 0.0 && p <= 100.0 && p.is_finite() => Ok(SlaTarget(p / 100.0)),
            _ => Err(SlaTargetError::new(s)),
        }
    }
    pub fn fraction(self) -> f64 {
        self.0
    }
    pub fn percent(self) -> f64 {
        self.0 * 100.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sla {
    /// The target, in percent.
    pub target_percent: f64,
    pub met: bool,
    /// DOWN time the target allows over the window.
    pub error_budget_ms: u64,
    /// What is left of it; negative when the target is breached.
    pub error_budget_left_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub from: Timestamp,
    pub to: Timestamp,
    pub window_ms: u64,
    pub down_ms: u64,
    pub at_risk_ms: u64,
    pub degraded_ms: u64,
    /// Time not DOWN / window, in percent.
    pub availability_percent: f64,
    pub outages: u32,
    pub mttr_ms: Option<u64>,
    pub mtbf_ms: Option<u64>,
    pub sla: Option<Sla>,
}

/// The figures of `timeline` over `[from, to)`. `None` when the window is empty.
pub fn figures(
    timeline: &Timeline,
    from: Timestamp,
    to: Timestamp,
    sla: Option<SlaTarget>,
) -> Option<Figures> {
    if to <= from {
        return None;
    }
    let window_ms = (to - from).num_milliseconds() as u64;
    let mut tally = Tally::default();
    for (status, a, b) in stretches(timeline, from, to) {
        tally.add(status, (b - a).num_milliseconds().max(0) as u64);
    }
    tally.end_outage();
    let down = tally.down;
    let up = window_ms - down;
    let n = tally.outages.len() as u64;
    let availability = up as f64 / window_ms as f64;
    Some(Figures {
        from,
        to,
        window_ms,
        down_ms: down,
        at_risk_ms: tally.at_risk,
        degraded_ms: tally.degraded,
        availability_percent: availability * 100.0,
        outages: n as u32,
        mttr_ms: (n > 0).then(|| down / n),
        mtbf_ms: (n > 0).then(|| up / n),
        sla: sla.map(|t| sla_of_window(t, window_ms, down)),
    })
}

/// The stretches of one status covering `[from, to)`: the status at `from` (the timeline's
/// initial status, or its last change at or before `from`), then each change inside the window.
fn stretches(
    timeline: &Timeline,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(OperationalStatus, Timestamp, Timestamp)> {
    let mut changes = timeline.changes.clone();
    changes.sort_by_key(|(t, _)| *t);
    let mut status = timeline.initial.unwrap_or(OperationalStatus::Ok);
    let mut cursor = from;
    let mut out = Vec::new();
    for (t, s) in changes {
        if t <= from {
            status = s;
        } else if t < to {
            out.push((status, cursor, t));
            cursor = t;
            status = s;
        }
    }
    out.push((status, cursor, to));
    out
}

/// Time per status and the outages (consecutive DOWN time), added stretch by stretch.
#[derive(Default)]
struct Tally {
    down: u64,
    at_risk: u64,
    degraded: u64,
    /// The length of each finished outage.
    outages: Vec<u64>,
    /// The outage the last stretch was part of, so far.
    in_outage: Option<u64>,
}

impl Tally {
    fn add(&mut self, status: OperationalStatus, ms: u64) {
        if status == OperationalStatus::Down {
            self.down += ms;
            self.in_outage = Some(self.in_outage.unwrap_or(0) + ms);
            return;
        }
        self.end_outage();
        match status {
            OperationalStatus::AtRisk => self.at_risk += ms,
            OperationalStatus::Degraded => self.degraded += ms,
            _ => {}
        }
    }

    fn end_outage(&mut self) {
        if let Some(len) = self.in_outage.take() {
            self.outages.push(len);
        }
    }
}

/// The SLA over a window with `down_ms` of downtime: the error budget is the time the target
/// allows to be down.
fn sla_of_window(target: SlaTarget, window_ms: u64, down_ms: u64) -> Sla {
    let budget = ((1.0 - target.fraction()) * window_ms as f64).round() as u64;
    Sla {
        target_percent: target.percent(),
        met: down_ms <= budget,
        error_budget_ms: budget,
        error_budget_left_ms: budget as i64 - down_ms as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperationalStatus::*;

    fn t(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn a_hand_computed_day() {
        // One day; DOWN 10:00–10:30 and 14:00–15:00, DEGRADED 12:00–13:00.
        let h = 3600;
        let tl = Timeline {
            initial: Some(Ok),
            changes: vec![
                (t(10 * h), Down),
                (t(10 * h + 1800), Ok),
                (t(12 * h), Degraded),
                (t(13 * h), Ok),
                (t(14 * h), Down),
                (t(15 * h), Ok),
            ],
        };
        let f = figures(
            &tl,
            t(0),
            t(24 * h),
            Some(SlaTarget::parse("99.9%").unwrap()),
        )
        .unwrap();
        assert_eq!(f.down_ms, 5_400_000);
        assert_eq!(f.degraded_ms, 3_600_000);
        assert_eq!(f.outages, 2);
        assert_eq!(f.mttr_ms, Some(2_700_000));
        assert_eq!(f.mtbf_ms, Some((86_400_000 - 5_400_000) / 2));
        assert!((f.availability_percent - 93.75).abs() < 1e-9);
        let sla = f.sla.unwrap();
        assert!(!sla.met);
        assert_eq!(sla.error_budget_ms, 86_400);
        assert_eq!(sla.error_budget_left_ms, 86_400 - 5_400_000);
    }

    #[test]
    fn outages_are_clipped_to_the_window_and_joined_across_down_changes() {
        // DOWN from before the window until 100 s in; DOWN again from 900 s to after it.
        let tl = Timeline {
            initial: Some(Down),
            changes: vec![(t(100), Ok), (t(900), Down), (t(950), Down)],
        };
        let f = figures(&tl, t(0), t(1000), None).unwrap();
        assert_eq!(
            (f.down_ms, f.outages, f.mttr_ms),
            (200_000, 2, Some(100_000))
        );
        assert_eq!(f.availability_percent, 80.0);
        // A window inside one outage; an empty window.
        let f = figures(&tl, t(910), t(990), Some(SlaTarget::parse("50").unwrap())).unwrap();
        assert_eq!((f.availability_percent, f.outages), (0.0, 1));
        assert!(!f.sla.unwrap().met);
        assert!(figures(&tl, t(5), t(5), None).is_none());
        // No changes at all: fully available, no outage.
        let f = figures(
            &Timeline::default(),
            t(0),
            t(10),
            Some(SlaTarget::parse("100%").unwrap()),
        )
        .unwrap();
        assert_eq!(
            (f.availability_percent, f.mttr_ms, f.mtbf_ms),
            (100.0, None, None)
        );
        assert!(f.sla.unwrap().met);
    }

    #[test]
    fn sla_targets() {
        assert!((SlaTarget::parse("99.9%").unwrap().fraction() - 0.999).abs() < 1e-12);
        assert!((SlaTarget::parse(" 99.95 % ").unwrap().percent() - 99.95).abs() < 1e-9);
        for bad in ["", "0", "101%", "abc", "NaN", "-5%", "inf"] {
            assert!(SlaTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
