//! The generic event: what a monitoring tool, a script or a ticketing integration sends.
//!
//! Field names follow what integrations already speak (ServiceNow's event table, the
//! `source`/`node`/`resource`/`type`/`metric_name` split): `source`, `node`, `resource`, `type`,
//! `metricName`, `severity` (1 critical … 5 info, 0 clear), `messageKey`, `description`, `time`,
//! `additionalInfo`. Only `source`, `node` and `severity` are required.

use std::fmt;

use cmdb_model::Timestamp;
use serde::{Deserialize, Serialize};

/// Longest accepted identifying field (`source`, `node`, `resource`, `type`, `metricName`,
/// `messageKey`), in characters.
pub const MAX_FIELD_CHARS: usize = 1024;
/// Longest accepted `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 16 * 1024;
/// Largest accepted `additionalInfo`, as JSON bytes.
pub const MAX_ADDITIONAL_INFO_BYTES: usize = 64 * 1024;

/// How bad: the ITOM scale. 0 clears the alert with the same message key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventSeverity {
    #[serde(alias = "clear")]
    Clear,
    #[serde(alias = "critical")]
    Critical,
    #[serde(alias = "major")]
    Major,
    #[serde(alias = "minor")]
    Minor,
    #[serde(alias = "warning")]
    Warning,
    #[serde(alias = "info")]
    Info,
}

impl EventSeverity {
    pub const ALL: [EventSeverity; 6] = [
        EventSeverity::Clear,
        EventSeverity::Critical,
        EventSeverity::Major,
        EventSeverity::Minor,
        EventSeverity::Warning,
        EventSeverity::Info,
    ];

    /// 0 clear, 1 critical … 5 info.
    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn from_number(n: i64) -> Option<EventSeverity> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventSeverity::Clear => "clear",
            EventSeverity::Critical => "critical",
            EventSeverity::Major => "major",
            EventSeverity::Minor => "minor",
            EventSeverity::Warning => "warning",
            EventSeverity::Info => "info",
        }
    }

    /// A severity by number (`"1"`) or by name, as tools spell it: `critical`, `major`
    /// (`error`, `high`), `minor` (`medium`), `warning` (`warn`, `low`), `info`
    /// (`informational`, `none`), `clear` (`ok`, `resolved`, `normal`). Case-insensitive.
    pub fn parse(s: &str) -> Option<EventSeverity> {
        let t = s.trim().to_ascii_lowercase();
        if let Ok(n) = t.parse::<i64>() {
            return Self::from_number(n);
        }
        Some(match t.as_str() {
            "clear" | "cleared" | "ok" | "resolved" | "normal" => EventSeverity::Clear,
            "critical" | "crit" | "fatal" | "emergency" | "page" | "disaster" => {
                EventSeverity::Critical
            }
            "major" | "error" | "high" => EventSeverity::Major,
            "minor" | "medium" | "average" => EventSeverity::Minor,
            "warning" | "warn" | "low" => EventSeverity::Warning,
            "info" | "informational" | "information" | "none" | "notice" => EventSeverity::Info,
            _ => return None,
        })
    }

    pub fn is_clear(self) -> bool {
        self == EventSeverity::Clear
    }
}

impl fmt::Display for EventSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event, as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// What sent it (`prometheus`, `nagios`, a script's name).
    pub source: String,
    /// The CI it is about: a name, FQDN, IP or MAC address.
    pub node: String,
    /// The part of the node it is about: a process, an endpoint (`tcp/5432`), an interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// What kind of event (`alertname` for Alertmanager).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    pub severity: EventSeverity,
    /// Events with one message key are one alert. Default: see [`Event::key`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it happened (the receiver's clock when not given).
    pub time: Timestamp,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub additional_info: serde_json::Value,
}

/// Why an event was refused. Nothing of a refused event is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("`{0}` is required")]
    Missing(&'static str),
    #[error("`{field}` is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("`severity`: `{0}` is not a severity (0 clear, 1 critical, 2 major, 3 minor, 4 warning, 5 info, or one of those names)")]
    BadSeverity(String),
    #[error("`time`: `{0}` is not an RFC 3339 time")]
    BadTime(String),
    #[error("`additionalInfo` is larger than {MAX_ADDITIONAL_INFO_BYTES} bytes")]
    AdditionalInfoTooLarge,
    #[error("{0}")]
    Malformed(String),
}

impl EventError {
    /// The stable code API answers carry.
    pub fn code(&self) -> &'static str {
        "INVALID_INPUT"
    }
}

impl Event {
    /// Check the limits and required fields; trims identifying fields.
    pub fn validated(mut self) -> Result<Event, EventError> {
        fn check(v: &mut String, field: &'static str, max: usize) -> Result<(), EventError> {
            let t = v.trim();
            if t.chars().count() > max {
                return Err(EventError::TooLong { field, max });
            }
            if t.len() != v.len() {
                *v = t.to_string();
            }
            Ok(())
        }
        fn opt(v: &mut Option<String>, field: &'static str, max: usize) -> Result<(), EventError> {
            if let Some(s) = v {
                check(s, field, max)?;
                if s.is_empty() {
                    *v = None;
                }
            }
            Ok(())
        }
        check(&mut self.source, "source", MAX_FIELD_CHARS)?;
        check(&mut self.node, "node", MAX_FIELD_CHARS)?;
        if self.source.is_empty() {
            return Err(EventError::Missing("source"));
        }
        if self.node.is_empty() {
            return Err(EventError::Missing("node"));
        }
        opt(&mut self.resource, "resource", MAX_FIELD_CHARS)?;
        opt(&mut self.event_type, "type", MAX_FIELD_CHARS)?;
        opt(&mut self.metric_name, "metricName", MAX_FIELD_CHARS)?;
        opt(&mut self.message_key, "messageKey", MAX_FIELD_CHARS)?;
        if let Some(d) = &mut self.description {
            // Too long a description is cut, not refused: the alert matters more than its prose.
            if d.chars().count() > MAX_DESCRIPTION_CHARS {
                *d = d
                    .chars()
                    .take(MAX_DESCRIPTION_CHARS - 1)
                    .chain(['…'])
                    .collect();
            }
        }
        if !self.additional_info.is_null()
            && serde_json::to_vec(&self.additional_info)
                .map_or(true, |v| v.len() > MAX_ADDITIONAL_INFO_BYTES)
        {
            return Err(EventError::AdditionalInfoTooLarge);
        }
        Ok(self)
    }

    /// The alert this event belongs to: `source` with `messageKey` when given, else
    /// `source`, `node`, `type`, `resource` and `metricName` together (node case-folded, so
    /// `WEB1` and `web1` are one alert). A key never reaches across sources: one tool cannot
    /// clear another's alert by naming its key.
    pub fn key(&self) -> String {
        if let Some(k) = &self.message_key {
            return format!("{}\u{1f}{k}", self.source);
        }
        // Unit separators cannot be typed into a field by accident, so two different events
        // never share a key by concatenation.
        [
            self.source.as_str(),
            &self.node.to_ascii_lowercase(),
            self.event_type.as_deref().unwrap_or(""),
            self.resource.as_deref().unwrap_or(""),
            self.metric_name.as_deref().unwrap_or(""),
        ]
        .join("\u{1f}")
    }
}

/// The generic intake's wire form: like [`Event`] but lenient where senders differ — severity
/// as a number or a name, `time` optional (the receiver's clock), `additionalInfo` an object
/// or a JSON string holding one.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventInput {
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(rename = "type", default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub severity: Option<serde_json::Value>,
    #[serde(default)]
    pub message_key: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub time: Option<String>,
    #[serde(default)]
    pub additional_info: Option<serde_json::Value>,
}

impl EventInput {
    /// The event, validated; `now` stands in for a missing `time`.
    pub fn into_event(self, now: Timestamp) -> Result<Event, EventError> {
        let severity = match &self.severity {
            None | Some(serde_json::Value::Null) => return Err(EventError::Missing("severity")),
            Some(serde_json::Value::Number(n)) => {
                n.as_i64()
                    .and_then(EventSeverity::from_number)
                    .ok_or_else(|| EventError::BadSeverity(n.to_string()))?
            }
            Some(serde_json::Value::String(s)) => {
                EventSeverity::parse(s).ok_or_else(|| EventError::BadSeverity(clip(s)))?
            }
            Some(other) => return Err(EventError::BadSeverity(clip(&other.to_string()))),
        };
        let time = match self.time.as_deref().map(str::trim) {
            None | Some("") => now,
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| EventError::BadTime(clip(t)))?,
        };
        let additional_info = match self.additional_info {
            None => serde_json::Value::Null,
            Some(serde_json::Value::String(s)) if s.trim_start().starts_with('{') => {
                serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s))
            }
            Some(v) => v,
        };
        Event {
            source: self.source.unwrap_or_default(),
            node: self.node.unwrap_or_default(),
            resource: self.resource,
            event_type: self.event_type,
            metric_name: self.metric_name,
            severity,
            message_key: self.message_key,
            description: self.description,
            time,
            additional_info,
        }
        .validated()
    }
}

/// At most 80 characters of something a sender wrote, for an error message.
fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: serde_json::Value) -> Result<Event, EventError> {
        let i: EventInput =
            serde_json::from_value(json).map_err(|e| EventError::Malformed(e.to_string()))?;
        i.into_event(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap())
    }

    #[test]
    fn severities_by_number_and_name() {
        for (s, want) in [
            ("0", EventSeverity::Clear),
            ("1", EventSeverity::Critical),
            ("CRITICAL", EventSeverity::Critical),
            ("error", EventSeverity::Major),
            ("warning", EventSeverity::Warning),
            ("5", EventSeverity::Info),
            ("resolved", EventSeverity::Clear),
        ] {
            assert_eq!(EventSeverity::parse(s), Some(want), "{s}");
        }
        for bad in ["6", "-1", "", "sev1", "99999999999999999999"] {
            assert_eq!(EventSeverity::parse(bad), None, "{bad}");
        }
        for s in EventSeverity::ALL {
            assert_eq!(EventSeverity::from_number(s.number() as i64), Some(s));
            assert_eq!(EventSeverity::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_minimal_event_takes_the_receivers_clock() {
        let e = input(serde_json::json!({"source": "nagios", "node": " web1 ", "severity": 1}))
            .unwrap();
        assert_eq!(e.node, "web1");
        assert_eq!(e.time.timestamp(), 1_700_000_000);
        assert_eq!(e.severity, EventSeverity::Critical);
        let e = input(serde_json::json!({
            "source": "zabbix", "node": "db1", "resource": "tcp/5432", "type": "down",
            "metricName": "pg_up", "severity": "major", "time": "2026-11-24T10:00:00+01:00",
            "additionalInfo": "{\"runbook\": \"r1\"}", "description": "pg down"
        }))
        .unwrap();
        assert_eq!(e.time.to_rfc3339(), "2026-11-24T09:00:00+00:00");
        assert_eq!(e.additional_info["runbook"], "r1");
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                serde_json::json!({"node": "a", "severity": 1}),
                "`source` is required",
            ),
            (
                serde_json::json!({"source": "s", "node": "  ", "severity": 1}),
                "`node` is required",
            ),
            (
                serde_json::json!({"source": "s", "node": "a"}),
                "`severity` is required",
            ),
            (
                serde_json::json!({"source": "s", "node": "a", "severity": 9}),
                "`severity`: `9`",
            ),
            (
                serde_json::json!({"source": "s", "node": "a", "severity": [1]}),
                "`severity`",
            ),
            (
                serde_json::json!({"source": "s", "node": "a", "severity": 1, "time": "yesterday"}),
                "`time`",
            ),
            (
                serde_json::json!({"source": "s", "node": "x".repeat(1025), "severity": 1}),
                "`node` is longer",
            ),
            (
                serde_json::json!({"source": "s", "node": "a", "severity": 1, "additionalInfo": {"a": "x".repeat(70_000)}}),
                "additionalInfo",
            ),
        ];
        for (json, want) in cases {
            let err = input(json.clone()).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
        // Unknown fields are refused too (a misspelt `severty` must not pass as no severity).
        let err = input(serde_json::json!({"source": "s", "node": "a", "severty": 1})).unwrap_err();
        assert!(err.to_string().contains("severty"), "{err}");
    }

    #[test]
    fn the_default_key_joins_what_identifies_the_alert() {
        let a =
            input(serde_json::json!({"source": "s", "node": "WEB1", "type": "t", "severity": 1}))
                .unwrap();
        let b =
            input(serde_json::json!({"source": "s", "node": "web1", "type": "t", "severity": 0}))
                .unwrap();
        let c = input(
            serde_json::json!({"source": "s", "node": "web1", "resource": "t", "severity": 1}),
        )
        .unwrap();
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key(), "type and resource are different fields");
        let d = input(
            serde_json::json!({"source": "s", "node": "a", "messageKey": "k1", "severity": 1}),
        )
        .unwrap();
        assert_eq!(d.key(), "s\u{1f}k1");
        let e = input(
            serde_json::json!({"source": "other", "node": "a", "messageKey": "k1", "severity": 0}),
        )
        .unwrap();
        assert_ne!(d.key(), e.key(), "keys are per source");
    }
}
