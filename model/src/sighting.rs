//! Sightings: which entity a source saw on a target — a CI, or a relationship by its key —
//! the ground of scoped staleness (`lifecycle::StalePlan`). One text form, read and written
//! here only: the CI id, or `r|TYPE|from|to` for a relationship.

use crate::ids::CiId;
use crate::rel::{RelKey, RelType};

/// An entity a source saw on a target: a CI, or a relationship by its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sighted {
    Ci(CiId),
    Relationship(RelKey),
}

/// The prefix of a relationship's sighting text.
const REL_PREFIX: &str = "r|";

impl Sighted {
    /// The stored text: the CI id, or `r|TYPE|from|to` for a relationship.
    pub fn encode(&self) -> String {
        match self {
            Sighted::Ci(id) => id.to_string(),
            Sighted::Relationship(k) => {
                format!("{REL_PREFIX}{}|{}|{}", k.rel_type.as_str(), k.from, k.to)
            }
        }
    }

    /// Read a stored text back; `None` for a relationship text that does not name a known
    /// type and two ends (such a sighting is ignored).
    pub fn parse(text: &str) -> Option<Sighted> {
        let Some(rest) = text.strip_prefix(REL_PREFIX) else {
            return Some(Sighted::Ci(CiId(text.to_string())));
        };
        let mut parts = rest.splitn(3, '|');
        let (Some(t), Some(from), Some(to)) = (parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let rel_type = t.parse::<RelType>().ok()?;
        Some(Sighted::Relationship(RelKey {
            rel_type,
            from: CiId(from.to_string()),
            to: CiId(to.to_string()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: RelType, f: &str, to: &str) -> RelKey {
        RelKey {
            rel_type: t,
            from: CiId(f.into()),
            to: CiId(to.into()),
        }
    }

    #[test]
    fn sighting_text_round_trips() {
        for s in [
            Sighted::Ci(CiId("ci-1".into())),
            Sighted::Relationship(key(RelType::RunsOn, "a", "b|c")),
        ] {
            assert_eq!(Sighted::parse(&s.encode()), Some(s.clone()));
        }
        assert_eq!(
            Sighted::Relationship(key(RelType::RunsOn, "a", "b")).encode(),
            "r|RUNS_ON|a|b"
        );
        assert_eq!(Sighted::parse("r|NOPE|a|b"), None);
        assert_eq!(Sighted::parse("r|RUNS_ON|a"), None);
    }
}
