//! Events with one message key are one alert: a count, a first and a last time. A clear (or an
//! Alertmanager `resolved`) closes it; a later problem event with the same key opens a new
//! alert, so each alert is one episode and its open time is an outage's length.

use cmdb_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventSeverity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertState {
    Open,
    Closed,
}

/// One alert: the events of one message key from its first problem event to its clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub key: String,
    pub source: String,
    pub node: String,
    pub resource: Option<String>,
    pub event_type: Option<String>,
    pub metric_name: Option<String>,
    /// The severity of the latest problem event (never `Clear`).
    pub severity: EventSeverity,
    pub state: AlertState,
    /// Events received for this alert, the clear included.
    pub count: u64,
    /// Time of the earliest problem event.
    pub first_time: Timestamp,
    /// Time of the latest event.
    pub last_time: Timestamp,
    /// When it was cleared.
    pub closed_time: Option<Timestamp>,
    pub description: Option<String>,
    pub additional_info: serde_json::Value,
}

/// What one event did.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertChange {
    /// A new alert (the first problem event of a key, or one after the last alert closed).
    Opened(Alert),
    /// The open alert, counted and updated.
    Updated {
        alert: Alert,
        severity_changed: bool,
    },
    /// The open alert, cleared.
    Closed(Alert),
    /// Nothing to change; why.
    Ignored(IgnoredBecause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredBecause {
    /// A clear with no open alert of its key.
    NothingOpen,
    /// A clear dated before the open alert's latest problem event (a late clear).
    ClearBeforeAlert,
    /// A problem event dated at or before the clear that closed its alert (a late duplicate,
    /// as Alertmanager re-sends a group's firing alerts).
    OlderThanClear,
}

impl IgnoredBecause {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnoredBecause::NothingOpen => "no open alert has this key",
            IgnoredBecause::ClearBeforeAlert => {
                "the clear is older than the alert's latest problem event"
            }
            IgnoredBecause::OlderThanClear => {
                "the event is older than the clear that closed its alert"
            }
        }
    }
}

impl Alert {
    fn open(e: &Event) -> Alert {
        Alert {
            key: e.key(),
            source: e.source.clone(),
            node: e.node.clone(),
            resource: e.resource.clone(),
            event_type: e.event_type.clone(),
            metric_name: e.metric_name.clone(),
            severity: e.severity,
            state: AlertState::Open,
            count: 1,
            first_time: e.time,
            last_time: e.time,
            closed_time: None,
            description: e.description.clone(),
            additional_info: e.additional_info.clone(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.state == AlertState::Open
    }
}

/// What `event` does to `latest`, the newest alert of its key (if any). Pure: the caller stores
/// the result.
pub fn apply(latest: Option<&Alert>, event: &Event) -> AlertChange {
    let clear = event.severity.is_clear();
    match latest {
        None if clear => AlertChange::Ignored(IgnoredBecause::NothingOpen),
        None => AlertChange::Opened(Alert::open(event)),
        Some(a) if a.is_open() => {
            if clear {
                if event.time < a.last_time {
                    // A late clear: the alert has seen a problem since.
                    return AlertChange::Ignored(IgnoredBecause::ClearBeforeAlert);
                }
                let mut a = a.clone();
                a.count += 1;
                a.last_time = a.last_time.max(event.time);
                a.state = AlertState::Closed;
                a.closed_time = Some(event.time);
                return AlertChange::Closed(a);
            }
            let mut a = a.clone();
            a.count += 1;
            a.first_time = a.first_time.min(event.time);
            let newest = event.time >= a.last_time;
            a.last_time = a.last_time.max(event.time);
            let mut severity_changed = false;
            if newest {
                severity_changed = a.severity != event.severity;
                a.severity = event.severity;
                if event.description.is_some() {
                    a.description = event.description.clone();
                }
                if !event.additional_info.is_null() {
                    a.additional_info = event.additional_info.clone();
                }
            }
            AlertChange::Updated {
                alert: a,
                severity_changed,
            }
        }
        Some(a) => {
            if clear {
                return AlertChange::Ignored(IgnoredBecause::NothingOpen);
            }
            if a.closed_time.is_some_and(|c| event.time <= c) {
                return AlertChange::Ignored(IgnoredBecause::OlderThanClear);
            }
            AlertChange::Opened(Alert::open(event))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(sev: EventSeverity, secs: i64) -> Event {
        Event {
            source: "s".into(),
            node: "web1".into(),
            resource: None,
            event_type: Some("down".into()),
            metric_name: None,
            severity: sev,
            message_key: None,
            description: Some(format!("at {secs}")),
            time: chrono::DateTime::from_timestamp(secs, 0).unwrap(),
            additional_info: serde_json::Value::Null,
        }
    }

    fn step(a: Option<Alert>, e: Event) -> (Option<Alert>, AlertChange) {
        let c = apply(a.as_ref(), &e);
        let next = match &c {
            AlertChange::Opened(x) | AlertChange::Closed(x) => Some(x.clone()),
            AlertChange::Updated { alert, .. } => Some(alert.clone()),
            AlertChange::Ignored(_) => a,
        };
        (next, c)
    }

    #[test]
    fn an_episode_opens_counts_and_closes() {
        use EventSeverity::*;
        let (a, c) = step(None, ev(Major, 100));
        assert!(matches!(c, AlertChange::Opened(_)));
        let (a, c) = step(a, ev(Critical, 160));
        assert!(matches!(
            c,
            AlertChange::Updated {
                severity_changed: true,
                ..
            }
        ));
        // An older event is counted but does not set the severity.
        let (a, c) = step(a, ev(Minor, 130));
        assert!(matches!(
            c,
            AlertChange::Updated {
                severity_changed: false,
                ..
            }
        ));
        let x = a.clone().unwrap();
        assert_eq!(
            (
                x.count,
                x.severity,
                x.first_time.timestamp(),
                x.last_time.timestamp()
            ),
            (3, Critical, 100, 160)
        );
        let (a, c) = step(a, ev(Clear, 200));
        assert!(matches!(c, AlertChange::Closed(_)));
        let x = a.clone().unwrap();
        assert_eq!(
            (x.state, x.count, x.closed_time.unwrap().timestamp()),
            (AlertState::Closed, 4, 200)
        );
        assert_eq!(
            x.severity, Critical,
            "a closed alert keeps its last problem severity"
        );
        // A re-sent firing event older than the clear changes nothing; a new one is a new alert.
        let (a, c) = step(a, ev(Critical, 150));
        assert_eq!(c, AlertChange::Ignored(IgnoredBecause::OlderThanClear));
        let (_, c) = step(a, ev(Critical, 300));
        match c {
            AlertChange::Opened(n) => assert_eq!((n.count, n.first_time.timestamp()), (1, 300)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clears_with_nothing_to_close_are_ignored() {
        use EventSeverity::*;
        assert_eq!(
            step(None, ev(Clear, 1)).1,
            AlertChange::Ignored(IgnoredBecause::NothingOpen)
        );
        let (a, _) = step(None, ev(Major, 100));
        assert_eq!(
            step(a, ev(Clear, 50)).1,
            AlertChange::Ignored(IgnoredBecause::ClearBeforeAlert)
        );
    }
}
