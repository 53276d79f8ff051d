//! The search box (GraphQL `search`): what one line of text matches, decided here once so every
//! backend answers the same.
//!
//! A CI matches the text when
//! - its **name** contains the text, ignoring case (both lower-cased, Unicode rules);
//! - it holds an **identifier** whose value is the text normalised the way identification
//!   normalises that identifier (`00-1A-2B-3C-4D-5E` finds MAC `00:1a:2b:3c:4d:5e`, `sn123`
//!   finds serial `SN123`, `web1.example.com` finds host name `web1`, `10.0.0.5/24` finds
//!   `10.0.0.5`) — for every identification rule over one attribute, of every class asked for;
//! - or it carries the text as a **tag**, exactly.
//!
//! Identifier matches rank first ([`RANK_IDENTIFIER`]), then everything else
//! ([`RANK_OTHER`]); within a rank by name, then id. A store turns a [`SearchPlan`] into its
//! own query: exact identifier keys for classes identified on their own, and key patterns
//! (family prefix and `|rule|value` suffix, any parent between) for dependent classes.

use serde_json::Value;
use std::collections::BTreeSet;

use crate::ci::Ci;
use crate::class::CiClass;
use crate::identify::{identifier_key, normalize};
use crate::ids::CiId;

/// Longest search text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Rank of a CI that holds an identifier matching the text.
pub const RANK_IDENTIFIER: i64 = 0;
/// Rank of a CI that matches by name or tag only.
pub const RANK_OTHER: i64 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("the search text is empty; give a name, an identifier (IP, MAC, serial number, host name) or a tag")]
    Empty,
    #[error("the search text is longer than {max} characters")]
    TooLong { max: usize },
}

/// The identifier keys of a dependent class that hold one value: they start with `prefix`
/// (`Interface|`) and end with `suffix` (`|mac_address|00:1a:2b:3c:4d:5e`); the parent's id is
/// between.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyPattern {
    pub prefix: String,
    pub suffix: String,
}

impl KeyPattern {
    pub fn matches(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && key.ends_with(&self.suffix)
    }
}

/// What a search text matches, ready for a store to query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPlan {
    /// The text, trimmed: compared with tags exactly.
    pub text: String,
    /// The text lower-cased: names are lower-cased and searched for it.
    pub folded: String,
    /// Identifier keys of classes identified on their own (sorted, unique).
    pub keys: Vec<String>,
    /// Identifier key patterns of dependent classes (sorted, unique).
    pub patterns: Vec<KeyPattern>,
}

impl SearchPlan {
    /// The patterns' suffixes grouped by their family prefix (one key-range scan each).
    pub fn patterns_by_prefix(&self) -> std::collections::BTreeMap<&str, Vec<&str>> {
        let mut by_prefix: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for p in &self.patterns {
            by_prefix.entry(&p.prefix).or_default().push(&p.suffix);
        }
        by_prefix
    }

    /// The plan for `text` over `classes` (all classes when empty).
    pub fn new(text: &str, classes: &[CiClass]) -> Result<SearchPlan, SearchError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SearchError::Empty);
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(SearchError::TooLong {
                max: MAX_TEXT_CHARS,
            });
        }
        let classes: &[CiClass] = if classes.is_empty() {
            &CiClass::ALL
        } else {
            classes
        };
        let value = Value::String(text.to_string());
        let mut keys = BTreeSet::new();
        let mut patterns = BTreeSet::new();
        let mut done = BTreeSet::new();
        for &class in classes {
            let class_rules = class.rules();
            for rule in class_rules.rules {
                // Rules over several attributes identify by a combination, not by one value.
                if rule.attributes.len() != 1 || !done.insert((class.family(), rule.name)) {
                    continue;
                }
                let Some(v) = normalize(&value, rule.normalize) else {
                    continue;
                };
                if class_rules.parent.is_some() {
                    // `family||rule|value` from the one key formatter, split where the parent
                    // goes.
                    let key = identifier_key(class, Some(&CiId::new("")), rule, &v);
                    let prefix = format!("{}|", class.family());
                    let suffix = key[prefix.len()..].to_string();
                    patterns.insert(KeyPattern { prefix, suffix });
                } else {
                    keys.insert(identifier_key(class, None, rule, &v));
                }
            }
        }
        Ok(SearchPlan {
            text: text.to_string(),
            folded: fold(text),
            keys: keys.into_iter().collect(),
            patterns: patterns.into_iter().collect(),
        })
    }

    /// Does an identifier key match?
    pub fn identifier_matches(&self, key: &str) -> bool {
        self.keys.binary_search_by(|k| k.as_str().cmp(key)).is_ok()
            || self.patterns.iter().any(|p| p.matches(key))
    }

    pub fn name_matches(&self, name: &str) -> bool {
        name_contains(name, &self.folded)
    }

    /// The rank of `ci` (holding identifier keys `keys`), or `None` when it does not match.
    /// The reference the stores' queries are tested against.
    pub fn rank(&self, ci: &Ci, keys: &[String]) -> Option<i64> {
        if keys.iter().any(|k| self.identifier_matches(k)) {
            Some(RANK_IDENTIFIER)
        } else if self.name_matches(&ci.name) || ci.tags.contains(&self.text) {
            Some(RANK_OTHER)
        } else {
            None
        }
    }
}

/// Names are compared lower-cased.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Does `name`, lower-cased, contain `folded` (already lower-cased)?
pub fn name_contains(name: &str, folded: &str) -> bool {
    if name.is_ascii() && folded.is_ascii() {
        // Without allocating; the same answer as lower-casing (ASCII lower-cases to ASCII,
        // and only ASCII does).
        let (n, f) = (name.as_bytes(), folded.as_bytes());
        return f.is_empty()
            || n.windows(f.len())
                .any(|w| w.iter().zip(f).all(|(a, b)| a.to_ascii_lowercase() == *b));
    }
    fold(name).contains(folded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::CiClass;

    fn plan(text: &str) -> SearchPlan {
        SearchPlan::new(text, &[]).unwrap()
    }

    #[test]
    fn empty_and_long_texts_are_refused() {
        assert_eq!(SearchPlan::new("", &[]), Err(SearchError::Empty));
        assert_eq!(SearchPlan::new(" \t\n ", &[]), Err(SearchError::Empty));
        assert!(matches!(
            SearchPlan::new(&"x".repeat(MAX_TEXT_CHARS + 1), &[]),
            Err(SearchError::TooLong { .. })
        ));
        assert!(SearchPlan::new(&"é".repeat(MAX_TEXT_CHARS), &[]).is_ok());
    }

    #[test]
    fn identifiers_are_normalised_as_identification_does() {
        let p = plan(" 00-1A-2B-3C-4D-5E ");
        assert!(p
            .keys
            .contains(&"device||mac_addresses|00:1a:2b:3c:4d:5e".to_string()));
        assert!(p.identifier_matches("Interface|ci_0123456789abcdef|mac_address|00:1a:2b:3c:4d:5e"));
        assert!(
            !p.identifier_matches("Interface|ci_0123456789abcdef|mac_address|00:1a:2b:3c:4d:5f")
        );
        assert_eq!(p.text, "00-1A-2B-3C-4D-5E");
        for (text, key) in [
            ("001a.2b3c.4d5e", "device||mac_addresses|00:1a:2b:3c:4d:5e"),
            ("sn-web1", "device||serial_number|SN-WEB1"),
            ("WEB1.Example.com", "device||hostname|web1"),
            ("WEB1.Example.com", "device||fqdn|web1.example.com"),
            ("10.0.0.11/24", "device||ip_addresses|10.0.0.11"),
            ("10.0.0.11", "IpAddress||address|10.0.0.11"),
            ("Online Shop", "BusinessService||name|online shop"),
        ] {
            assert!(plan(text).identifier_matches(key), "{text} → {key}");
        }
        // Junk that identifies nothing is no identifier.
        assert!(!plan("To be filled by O.E.M.")
            .keys
            .iter()
            .any(|k| k.contains("serial_number")));
        assert!(!plan("127.0.0.1")
            .keys
            .iter()
            .any(|k| k.contains("ip_addresses")));
        // Interface names as identification spells them.
        assert!(plan("Gi1/0/1").identifier_matches("Interface|ci_x|if_name|gigabitethernet1/0/1"));
        // Rules over several attributes are not searched by one value.
        assert!(!plan("80")
            .patterns
            .iter()
            .any(|p| p.suffix.contains("protocol_port")));
    }

    #[test]
    fn classes_narrow_the_rules() {
        let p = SearchPlan::new("eth0", &[CiClass::Interface]).unwrap();
        assert!(p.keys.is_empty(), "{p:?}");
        assert!(p.patterns.iter().all(|k| k.prefix == "Interface|"), "{p:?}");
        let p = SearchPlan::new("eth0", &[CiClass::Host, CiClass::NetworkDevice]).unwrap();
        assert!(p.patterns.is_empty());
        assert!(p.keys.iter().all(|k| k.starts_with("device|")), "{p:?}");
    }

    #[test]
    fn names_contain_the_text_in_any_case() {
        for (name, text, hit) in [
            ("web1.example.com", "WEB1", true),
            ("Web-Frontend", "end", true),
            ("École Centrale", "école", true),
            ("ÉCOLE", "éco", true),
            ("db1", "web", false),
            // The Kelvin sign lower-cases to an ASCII k.
            ("\u{212A}afka", "kafka", true),
        ] {
            assert_eq!(name_contains(name, &fold(text)), hit, "{name} / {text}");
        }
    }

    #[test]
    fn ranks() {
        let p = plan("web1");
        let mut ci = Ci {
            id: CiId::new("ci_1"),
            class: CiClass::Host,
            name: "web-frontend".into(),
            status: crate::ci::CiStatus::Active,
            tags: Default::default(),
            attributes: Default::default(),
            sources: Default::default(),
            placeholder: false,
            first_seen: crate::time::now(),
            last_seen: crate::time::now(),
            identification: None,
        };
        assert_eq!(p.rank(&ci, &[]), None);
        ci.name = "WEB1".into();
        assert_eq!(p.rank(&ci, &[]), Some(RANK_OTHER));
        assert_eq!(
            p.rank(&ci, &["device||hostname|web1".into()]),
            Some(RANK_IDENTIFIER)
        );
        ci.name = "x".into();
        ci.tags.insert("web1".into());
        assert_eq!(p.rank(&ci, &[]), Some(RANK_OTHER));
    }
}
