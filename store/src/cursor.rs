//! Opaque page cursors and sort keys, shared by every backend so a cursor means the same thing
//! whichever store answers: hex of a small JSON array (sort value, id).

use cmdb_model::Ci;
use serde_json::Value;

use crate::types::CiOrderField;

pub(crate) fn encode_cursor(v: &Value) -> String {
    v.to_string().bytes().map(|b| format!("{b:02x}")).collect()
}

/// `None` for anything that is not a cursor we made (bounded, hex, JSON).
pub(crate) fn decode_cursor(c: &str) -> Option<Value> {
    if c.len() % 2 != 0 || c.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..c.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(c.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

/// The stored field an order sorts by (a column in SQLite, a property in Neo4j; same names).
pub(crate) fn order_field(f: CiOrderField) -> &'static str {
    match f {
        CiOrderField::Id => "id",
        CiOrderField::Name => "name",
        CiOrderField::Class => "class",
        CiOrderField::LastSeen => "last_seen",
        CiOrderField::FirstSeen => "first_seen",
    }
}

/// The value of that field for a CI, as it goes into a cursor.
pub(crate) fn sort_value(ci: &Ci, f: CiOrderField) -> Value {
    match f {
        CiOrderField::Id => Value::String(ci.id.to_string()),
        CiOrderField::Name => Value::String(ci.name.clone()),
        CiOrderField::Class => Value::String(ci.class.to_string()),
        CiOrderField::LastSeen => Value::from(ci.last_seen.timestamp_millis()),
        CiOrderField::FirstSeen => Value::from(ci.first_seen.timestamp_millis()),
    }
}
