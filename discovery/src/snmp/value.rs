//! Owned SNMP data: object identifiers, values, and the `.snmprec` text format (snmpsim's
//! recording format) so recorded walks can feed `transform` in tests.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// An object identifier. `Vec<u32>` ordering is exactly SNMP's lexicographic OID ordering.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Oid(pub Vec<u32>);

impl Oid {
    pub fn new(parts: &[u32]) -> Self {
        Oid(parts.to_vec())
    }
    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }
    pub fn child(&self, more: &[u32]) -> Oid {
        let mut v = self.0.clone();
        v.extend_from_slice(more);
        Oid(v)
    }
    /// The sub-identifiers after `prefix`, if this OID is under it.
    pub fn suffix(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }
    pub fn parts(&self) -> &[u32] {
        &self.0
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl FromStr for Oid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().trim_start_matches('.');
        if s.is_empty() {
            return Err("empty OID".into());
        }
        s.split('.')
            .map(|p| p.parse::<u32>().map_err(|_| format!("bad OID `{s}`")))
            .collect::<Result<Vec<_>, _>>()
            .map(Oid)
    }
}

impl From<Oid> for String {
    fn from(o: Oid) -> String {
        o.to_string()
    }
}

impl TryFrom<String> for Oid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A varbind value, owned. Exceptions (endOfMibView, noSuch*) never get stored: the walker
/// treats them as the end of a subtree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SnmpValue {
    Integer(i64),
    Octets(Vec<u8>),
    Oid(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    Gauge32(u32),
    Timeticks(u32),
    Counter64(u64),
    Opaque(Vec<u8>),
    Null,
}

impl SnmpValue {
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            SnmpValue::Integer(i) => Some(i),
            SnmpValue::Counter32(v) | SnmpValue::Gauge32(v) | SnmpValue::Timeticks(v) => {
                Some(v as i64)
            }
            SnmpValue::Counter64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            SnmpValue::Counter64(v) => Some(v),
            _ => self.as_i64().and_then(|v| u64::try_from(v).ok()),
        }
    }
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            SnmpValue::Octets(b) | SnmpValue::Opaque(b) => Some(b),
            SnmpValue::IpAddress(b) => Some(b),
            _ => None,
        }
    }
    /// Text of an octet string: lossy UTF-8 (non-UTF-8 bytes become U+FFFD), control characters
    /// and trailing NULs stripped, trimmed. Never fails.
    pub fn as_text(&self) -> Option<String> {
        let b = self.as_bytes()?;
        Some(clean_text(b))
    }
    pub fn as_oid(&self) -> Option<&Oid> {
        match self {
            SnmpValue::Oid(o) => Some(o),
            _ => None,
        }
    }
}

pub fn clean_text(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    s.chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Format 6 bytes as a MAC (`aa:bb:cc:dd:ee:ff`); anything else is `None`.
pub fn mac_text(b: &[u8]) -> Option<String> {
    if b.len() != 6 || b.iter().all(|x| *x == 0) || b.iter().all(|x| *x == 0xff) {
        return None;
    }
    Some(
        b.iter()
            .map(|x| format!("{x:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// Parse snmpsim's `.snmprec` text (`oid|tag|value` lines) into varbinds. Unknown tags and
/// malformed lines are skipped and counted.
pub fn parse_snmprec(text: &str) -> (BTreeMap<Oid, SnmpValue>, usize) {
    let mut out = BTreeMap::new();
    let mut bad = 0;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.splitn(3, '|');
        let (Some(oid), Some(tag), Some(val)) = (it.next(), it.next(), it.next()) else {
            bad += 1;
            continue;
        };
        let Ok(oid) = oid.parse::<Oid>() else {
            bad += 1;
            continue;
        };
        match parse_snmprec_value(tag, val) {
            Some(v) => {
                out.insert(oid, v);
            }
            None => bad += 1,
        }
    }
    (out, bad)
}

fn parse_snmprec_value(tag: &str, val: &str) -> Option<SnmpValue> {
    // Tags may carry modifiers: `4x` = hex-encoded value, `4e`/`:variation` for snmpsim modules.
    let hex = tag.ends_with('x');
    let base: String = tag.chars().take_while(|c| c.is_ascii_digit()).collect();
    let bytes = |v: &str| -> Option<Vec<u8>> {
        if hex {
            hex::decode(v.trim()).ok()
        } else {
            Some(v.as_bytes().to_vec())
        }
    };
    Some(match base.as_str() {
        "2" => SnmpValue::Integer(val.trim().parse().ok()?),
        "4" => SnmpValue::Octets(bytes(val)?),
        "5" => SnmpValue::Null,
        "6" => SnmpValue::Oid(val.parse().ok()?),
        "64" => {
            let b = if hex {
                hex::decode(val.trim()).ok()?
            } else {
                val.trim()
                    .split('.')
                    .map(|p| p.parse::<u8>().ok())
                    .collect::<Option<Vec<u8>>>()?
            };
            SnmpValue::IpAddress(b.try_into().ok()?)
        }
        "65" => SnmpValue::Counter32(val.trim().parse().ok()?),
        "66" => SnmpValue::Gauge32(val.trim().parse().ok()?),
        "67" => SnmpValue::Timeticks(val.trim().parse().ok()?),
        "68" => SnmpValue::Opaque(bytes(val)?),
        "70" => SnmpValue::Counter64(val.trim().parse().ok()?),
        _ => return None,
    })
}

/// Render varbinds as `.snmprec` text (used by the lab generator and for saving fixtures).
pub fn to_snmprec(vbs: &BTreeMap<Oid, SnmpValue>) -> String {
    let mut s = String::new();
    for (oid, v) in vbs {
        let (tag, val) = match v {
            SnmpValue::Integer(i) => ("2".to_string(), i.to_string()),
            SnmpValue::Octets(b) => match std::str::from_utf8(b) {
                Ok(t) if t.chars().all(|c| !c.is_control() && c != '|') => {
                    ("4".into(), t.to_string())
                }
                _ => ("4x".into(), hex::encode(b)),
            },
            SnmpValue::Null => ("5".into(), String::new()),
            SnmpValue::Oid(o) => ("6".into(), o.to_string()),
            SnmpValue::IpAddress(b) => {
                ("64".into(), format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]))
            }
            SnmpValue::Counter32(x) => ("65".into(), x.to_string()),
            SnmpValue::Gauge32(x) => ("66".into(), x.to_string()),
            SnmpValue::Timeticks(x) => ("67".into(), x.to_string()),
            SnmpValue::Opaque(b) => ("68x".into(), hex::encode(b)),
            SnmpValue::Counter64(x) => ("70".into(), x.to_string()),
        };
        s.push_str(&format!("{oid}|{tag}|{val}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_order_and_parse() {
        let a: Oid = "1.3.6.1.2.1.2.2.1.2.10".parse().unwrap();
        let b: Oid = ".1.3.6.1.2.1.2.2.1.2.9".parse().unwrap();
        assert!(b < a);
        assert_eq!(a.to_string(), "1.3.6.1.2.1.2.2.1.2.10");
        assert!("1.x".parse::<Oid>().is_err());
    }

    #[test]
    fn snmprec_roundtrip_and_junk() {
        let text = "1.3.6.1.2.1.1.5.0|4|sw1\n1.3.6.1.2.1.2.2.1.6.1|4x|0011223344ff\nbad line\n1.3|99|x\n1.3.6.1.2.1.4.20.1.1.10.0.0.1|64|10.0.0.1\n";
        let (vbs, bad) = parse_snmprec(text);
        assert_eq!(bad, 2);
        assert_eq!(vbs.len(), 3);
        let again = parse_snmprec(&to_snmprec(&vbs)).0;
        assert_eq!(vbs, again);
    }

    #[test]
    fn text_is_lossy_and_clean() {
        let v = SnmpValue::Octets(vec![b'a', 0xff, 0xfe, b'b', 0, 0]);
        assert_eq!(v.as_text().unwrap(), "a\u{fffd}\u{fffd}b");
        assert_eq!(
            mac_text(&[0, 0x11, 0x22, 0x33, 0x44, 0xff]).unwrap(),
            "00:11:22:33:44:ff"
        );
        assert!(mac_text(&[0; 6]).is_none());
        assert!(mac_text(&[1, 2]).is_none());
    }
}
