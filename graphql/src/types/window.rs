//! The `ChangeWindow` scalar: when a change happens, as ISO 8601 text or an object.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, Duration, Utc};
use cmdb_store::analysis::ChangeWindow;

/// The longest change window accepted (a year): longer ones are almost always a typo.
const MAX_WINDOW_DAYS: i64 = 366;

/// When a change happens. Accepts an ISO 8601 interval string (`"2026-12-01T02:00:00Z/2026-12-01T04:00:00Z"`
/// or `"2026-12-01T02:00:00Z/PT2H"`), a bare duration starting now (`"PT2H"`), or an object
/// `{start: "...", end: "..."}` / `{start: "...", duration: "PT2H"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeWindowScalar(pub ChangeWindow);

/// Why a change window was refused (the message the caller reads).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeWindowError {
    #[error("`{text}` is not an RFC 3339 time: {source}")]
    NotATime {
        text: String,
        source: chrono::ParseError,
    },
    #[error("`{0}` is not an ISO 8601 duration such as PT2H or P1DT30M")]
    NotADuration(String),
    #[error("the window ends ({end}) before it starts ({start})")]
    EndsBeforeStart {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("a change window longer than {} days", MAX_WINDOW_DAYS)]
    TooLong,
    #[error("a change window longer than {} characters", MAX_WINDOW_TEXT)]
    TextTooLong,
    #[error("`{0}` is not a change window: give `start/end`, `start/duration` or a duration")]
    NotAWindow(String),
    #[error("a change window object needs `start` and one of `end` or `duration` (strings)")]
    ObjectFields,
    #[error("a change window is a string or an object")]
    NotTextOrObject,
}

/// The longest change window text accepted.
const MAX_WINDOW_TEXT: usize = 200;

fn parse_instant(s: &str) -> Result<DateTime<Utc>, ChangeWindowError> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|source| ChangeWindowError::NotATime {
            text: s.to_string(),
            source,
        })
}

/// ISO 8601 durations of days, hours, minutes and seconds (`P1DT2H30M`, `PT45M`).
fn parse_duration(s: &str) -> Result<Duration, ChangeWindowError> {
    let bad = || ChangeWindowError::NotADuration(s.to_string());
    let t = s.trim().to_ascii_uppercase();
    let rest = t.strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total = Duration::zero();
    let mut any = false;
    for (part, units) in [
        (date, &[('W', 7 * 86_400i64), ('D', 86_400)][..]),
        (time, &[('H', 3600i64), ('M', 60), ('S', 1)][..]),
    ] {
        let mut num = String::new();
        for ch in part.chars() {
            if ch.is_ascii_digit() {
                num.push(ch);
                continue;
            }
            let secs = units
                .iter()
                .find(|(u, _)| *u == ch)
                .map(|(_, s)| *s)
                .ok_or_else(bad)?;
            let n: i64 = num.parse().map_err(|_| bad())?;
            total += Duration::seconds(n.checked_mul(secs).ok_or_else(bad)?);
            num.clear();
            any = true;
        }
        if !num.is_empty() {
            return Err(bad());
        }
    }
    if !any {
        return Err(bad());
    }
    Ok(total)
}

fn window(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<ChangeWindow, ChangeWindowError> {
    if end <= start {
        return Err(ChangeWindowError::EndsBeforeStart { start, end });
    }
    if end - start > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ChangeWindowError::TooLong);
    }
    Ok(ChangeWindow { start, end })
}

impl ChangeWindowScalar {
    fn parse_str(s: &str) -> Result<ChangeWindow, ChangeWindowError> {
        let s = s.trim();
        if s.len() > MAX_WINDOW_TEXT {
            return Err(ChangeWindowError::TextTooLong);
        }
        match s.split_once('/') {
            Some((a, b)) => {
                let start = parse_instant(a)?;
                let end = if b.trim_start().starts_with(['P', 'p']) {
                    start + parse_duration(b)?
                } else {
                    parse_instant(b)?
                };
                window(start, end)
            }
            None if s.starts_with(['P', 'p']) => {
                let start = Utc::now();
                window(start, start + parse_duration(s)?)
            }
            None => Err(ChangeWindowError::NotAWindow(s.to_string())),
        }
    }
}

#[Scalar(name = "ChangeWindow")]
impl ScalarType for ChangeWindowScalar {
    fn parse(value: Value) -> InputValueResult<Self> {
        let w = match &value {
            Value::String(s) => Self::parse_str(s),
            Value::Object(o) => {
                let get = |k: &str| {
                    o.get(k).and_then(|v| {
                        if let Value::String(s) = v {
                            Some(s.as_str())
                        } else {
                            None
                        }
                    })
                };
                match (get("start"), get("end"), get("duration")) {
                    (Some(s), Some(e), None) => {
                        parse_instant(s).and_then(|s| parse_instant(e).and_then(|e| window(s, e)))
                    }
                    (Some(s), None, Some(d)) => parse_instant(s)
                        .and_then(|s| parse_duration(d).and_then(|d| window(s, s + d))),
                    _ => Err(ChangeWindowError::ObjectFields),
                }
            }
            _ => Err(ChangeWindowError::NotTextOrObject),
        };
        w.map(ChangeWindowScalar).map_err(InputValueError::custom)
    }
    fn to_value(&self) -> Value {
        Value::String(format!(
            "{}/{}",
            self.0.start.to_rfc3339(),
            self.0.end.to_rfc3339()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_windows_parse_in_every_documented_form() {
        let w = ChangeWindowScalar::parse_str("2026-12-01T02:00:00Z/2026-12-01T04:00:00Z").unwrap();
        assert_eq!(w.end - w.start, Duration::hours(2));
        let w = ChangeWindowScalar::parse_str("2026-12-01T02:00:00+01:00/P1DT30M").unwrap();
        assert_eq!(w.end - w.start, Duration::minutes(24 * 60 + 30));
        assert_eq!(parse_duration("PT45M").unwrap(), Duration::minutes(45));
        assert!(ChangeWindowScalar::parse_str("PT2H").is_ok());
        for bad in [
            "",
            "tomorrow",
            "2026-12-01T04:00:00Z/2026-12-01T02:00:00Z",
            "2026-12-01T02:00:00Z/P",
            "P9999999999999999999D",
            "2026-12-01T02:00:00Z/P400D",
            "PT2X",
        ] {
            assert!(
                ChangeWindowScalar::parse_str(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
