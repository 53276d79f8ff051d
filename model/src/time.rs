//! Time stamps are UTC with millisecond precision, serialised as RFC 3339.
pub type Timestamp = chrono::DateTime<chrono::Utc>;

/// Now, truncated to milliseconds so values round-trip through every store unchanged.
pub fn now() -> Timestamp {
    let t = chrono::Utc::now();
    chrono::DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}
