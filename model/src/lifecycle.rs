//! The lifecycle of CIs and relationships outside reconciliation — retirement, closing a
//! relationship by hand, deletion, and scoped staleness after a complete run — as pure rules
//! that say what changes and which history records it. Backends only read what a rule needs,
//! apply the change it returns and store its history entries, so both backends record the
//! same changes the same way.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::ci::{Ci, CiStatus};
use crate::history::{ChangeKind, HistoryEntry};
use crate::ids::{CiId, RunId, Source};
use crate::rel::{RelKey, RelStatus, Relationship};
use crate::sighting::Sighted;
use crate::time::Timestamp;

/// The source recorded on what scheduled retirement (`GraphStore::retire_stale`) changes.
pub const RETIREMENT_SOURCE: &str = "retirement";

/// Who made a change, and when: a person or service by its source name, or a discovery run.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub source: Source,
    pub at: Timestamp,
    pub run_id: Option<RunId>,
}

impl Actor {
    /// A change made by hand (or by a service) now, outside any run.
    pub fn by_hand(source: &str, at: Timestamp) -> Actor {
        Actor {
            source: Source::new(source),
            at,
            run_id: None,
        }
    }

    /// Scheduled retirement.
    pub fn retirement(at: Timestamp) -> Actor {
        Actor::by_hand(RETIREMENT_SOURCE, at)
    }

    /// A discovery run of `source` (staleness after its complete scope).
    pub fn run(source: Source, run_id: RunId, at: Timestamp) -> Actor {
        Actor {
            source,
            at,
            run_id: Some(run_id),
        }
    }

    fn entry(&self, ci: CiId, kind: ChangeKind) -> HistoryEntry {
        HistoryEntry {
            ci,
            at: self.at,
            kind,
            field: None,
            relationship: None,
            old: None,
            new: None,
            source: self.source.clone(),
            run_id: self.run_id.clone(),
        }
    }
}

impl RelStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RelStatus::Active => "ACTIVE",
            RelStatus::Closed => "CLOSED",
        }
    }
}

impl HistoryEntry {
    /// A CI's status went from `old` to `new`.
    pub fn status_change(ci: CiId, old: CiStatus, new: CiStatus, by: &Actor) -> HistoryEntry {
        HistoryEntry {
            field: Some("status".into()),
            old: Some(Value::String(old.as_str().into())),
            new: Some(Value::String(new.as_str().into())),
            ..by.entry(ci, ChangeKind::StatusChanged)
        }
    }

    /// An ACTIVE relationship was closed (filed under its `from` end).
    pub fn relationship_closed(key: RelKey, by: &Actor) -> HistoryEntry {
        HistoryEntry {
            relationship: Some(key.clone()),
            old: Some(Value::String(RelStatus::Active.as_str().into())),
            new: Some(Value::String(RelStatus::Closed.as_str().into())),
            ..by.entry(key.from, ChangeKind::RelationshipClosed)
        }
    }

    /// A relationship in `status` was deleted with one of its ends.
    pub fn relationship_deleted(key: RelKey, status: RelStatus, by: &Actor) -> HistoryEntry {
        HistoryEntry {
            relationship: Some(key.clone()),
            old: Some(Value::String(status.as_str().into())),
            ..by.entry(key.from, ChangeKind::RelationshipDeleted)
        }
    }

    /// A CI was deleted (`old` keeps its class and name).
    pub fn ci_deleted(ci: &Ci, by: &Actor) -> HistoryEntry {
        HistoryEntry {
            old: Some(json!({"class": ci.class, "name": ci.name})),
            ..by.entry(ci.id.clone(), ChangeKind::CiDeleted)
        }
    }
}

/// What a lifecycle rule changes: CI statuses, relationships closed or deleted, sightings
/// dropped, and the history that records it (in the order it is to be stored).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LifecycleDelta {
    pub statuses: Vec<(CiId, CiStatus)>,
    pub closed: Vec<RelKey>,
    pub deleted_relationships: Vec<RelKey>,
    /// The CI deleted (with its identifiers, aliases and sightings).
    pub deleted_ci: Option<CiId>,
    /// Sightings of these entities are dropped (what was deleted is seen by no one).
    pub forget: Vec<Sighted>,
    pub history: Vec<HistoryEntry>,
}

impl LifecycleDelta {
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
            && self.closed.is_empty()
            && self.deleted_relationships.is_empty()
            && self.deleted_ci.is_none()
    }

    /// The CIs whose edges change (for adjacency indexes and change logs).
    pub fn touched(&self) -> Vec<CiId> {
        let mut out: Vec<CiId> = Vec::new();
        let mut seen = HashSet::new();
        let ends = self
            .closed
            .iter()
            .chain(&self.deleted_relationships)
            .flat_map(|k| [&k.from, &k.to]);
        for id in self.deleted_ci.iter().chain(ends) {
            if seen.insert(id.clone()) {
                out.push(id.clone());
            }
        }
        out
    }
}

/// Each relationship once, in first-seen order (a backend may return one twice, e.g. a
/// self-loop matched from both ends).
fn distinct(rels: &[Relationship]) -> Vec<&Relationship> {
    let mut seen = HashSet::new();
    rels.iter().filter(|r| seen.insert(r.key())).collect()
}

/// Retire `ci` by hand: RETIRED, and every ACTIVE relationship touching it (`touching`, any
/// status) closed. Nothing when it is already retired.
pub fn retire(ci: &Ci, touching: &[Relationship], by: &Actor) -> LifecycleDelta {
    if ci.status == CiStatus::Retired {
        return LifecycleDelta::default();
    }
    let mut d = LifecycleDelta {
        statuses: vec![(ci.id.clone(), CiStatus::Retired)],
        history: vec![HistoryEntry::status_change(
            ci.id.clone(),
            ci.status,
            CiStatus::Retired,
            by,
        )],
        ..Default::default()
    };
    for r in distinct(touching) {
        if r.status == RelStatus::Active {
            d.closed.push(r.key());
            d.history
                .push(HistoryEntry::relationship_closed(r.key(), by));
        }
    }
    d
}

/// Scheduled retirement: these STALE CIs (stale since before the cutoff, see
/// `retirement_cutoff`) become RETIRED.
pub fn retire_stale(stale: &[CiId], at: Timestamp) -> LifecycleDelta {
    let by = Actor::retirement(at);
    LifecycleDelta {
        statuses: stale
            .iter()
            .map(|id| (id.clone(), CiStatus::Retired))
            .collect(),
        history: stale
            .iter()
            .map(|id| {
                HistoryEntry::status_change(id.clone(), CiStatus::Stale, CiStatus::Retired, &by)
            })
            .collect(),
        ..Default::default()
    }
}

/// STALE CIs last seen before this instant are due for retirement.
pub fn retirement_cutoff(now: Timestamp, older_than: chrono::Duration) -> Timestamp {
    now - older_than
}

/// Close `rel` by hand; nothing when it is closed already.
pub fn close_relationship(rel: &Relationship, by: &Actor) -> LifecycleDelta {
    if rel.status != RelStatus::Active {
        return LifecycleDelta::default();
    }
    LifecycleDelta {
        closed: vec![rel.key()],
        history: vec![HistoryEntry::relationship_closed(rel.key(), by)],
        ..Default::default()
    }
}

/// Delete `ci` and every relationship touching it (any status). Their sightings go too.
pub fn delete(ci: &Ci, touching: &[Relationship], by: &Actor) -> LifecycleDelta {
    let mut d = LifecycleDelta {
        deleted_ci: Some(ci.id.clone()),
        ..Default::default()
    };
    for r in distinct(touching) {
        d.deleted_relationships.push(r.key());
        d.forget.push(Sighted::Relationship(r.key()));
        d.history
            .push(HistoryEntry::relationship_deleted(r.key(), r.status, by));
    }
    d.forget.push(Sighted::Ci(ci.id.clone()));
    d.history.push(HistoryEntry::ci_deleted(ci, by));
    d
}

/// The key a relationship gets when a merge re-points it from the merged-away CI `from` onto
/// the survivor `into` (canonical for symmetric types), or `None` when it would join the
/// survivor to itself: such a relationship is dropped.
pub fn repointed_key(key: &RelKey, from: &CiId, into: &CiId) -> Option<RelKey> {
    let end = |id: &CiId| if id == from { into.clone() } else { id.clone() };
    let new = RelKey::new(key.rel_type, end(&key.from), end(&key.to));
    (new.from != new.to).then_some(new)
}

/// `rel` re-pointed under `key` (from `repointed_key`); `existing`, what the graph already
/// holds under that key, absorbs it.
pub fn repoint(rel: Relationship, key: &RelKey, existing: Option<Relationship>) -> Relationship {
    let moved = Relationship {
        from: key.from.clone(),
        to: key.to.clone(),
        ..rel
    };
    match existing {
        Some(mut e) => {
            e.absorb(moved);
            e
        }
        None => moved,
    }
}

/// Scoped staleness after a complete run of a source over its targets.
///
/// The backend deletes that source's sightings on those targets from older runs (`gone`, in
/// the order it found them), asks which of those entities some sighting still names, and
/// passes both here. The plan lists what no source sees any more, each once, in `gone` order:
/// CIs to turn STALE and relationships to close. The backend applies it — each only if it is
/// ACTIVE — and passes what changed to `outcome`, whose history follows `gone` order again,
/// so both backends record the same entries in the same order however they batch writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StalePlan {
    pub unseen: Vec<Sighted>,
}

impl StalePlan {
    pub fn new(gone: &[String], still_seen: &HashSet<String>) -> StalePlan {
        let mut done = HashSet::new();
        let unseen = gone
            .iter()
            .filter(|e| !still_seen.contains(*e) && done.insert(e.as_str()))
            .filter_map(|e| Sighted::parse(e))
            .collect();
        StalePlan { unseen }
    }

    /// The CIs to turn STALE (when ACTIVE).
    pub fn cis(&self) -> impl Iterator<Item = &CiId> {
        self.unseen.iter().filter_map(|s| match s {
            Sighted::Ci(id) => Some(id),
            Sighted::Relationship(_) => None,
        })
    }

    /// The relationships to close (when ACTIVE).
    pub fn relationships(&self) -> impl Iterator<Item = &RelKey> {
        self.unseen.iter().filter_map(|s| match s {
            Sighted::Relationship(k) => Some(k),
            Sighted::Ci(_) => None,
        })
    }

    /// What was ACTIVE and changed (`staled` CIs, `closed` relationships) as a delta whose
    /// history follows the plan's order (its changes are those the backend just applied).
    pub fn outcome(
        &self,
        staled: &HashSet<CiId>,
        closed: &HashSet<RelKey>,
        by: &Actor,
    ) -> LifecycleDelta {
        let mut d = LifecycleDelta::default();
        for s in &self.unseen {
            match s {
                Sighted::Ci(id) if staled.contains(id) => {
                    d.statuses.push((id.clone(), CiStatus::Stale));
                    d.history.push(HistoryEntry::status_change(
                        id.clone(),
                        CiStatus::Active,
                        CiStatus::Stale,
                        by,
                    ));
                }
                Sighted::Relationship(k) if closed.contains(k) => {
                    d.closed.push(k.clone());
                    d.history
                        .push(HistoryEntry::relationship_closed(k.clone(), by));
                }
                _ => {}
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rel::RelType;

    fn key(t: RelType, f: &str, to: &str) -> RelKey {
        RelKey {
            rel_type: t,
            from: CiId(f.into()),
            to: CiId(to.into()),
        }
    }

    #[test]
    fn stale_plan_keeps_gone_order_once_and_skips_what_is_still_seen() {
        let gone: Vec<String> = ["r|RUNS_ON|a|b", "c1", "c2", "c1", "junk"]
            .map(String::from)
            .to_vec();
        let still: HashSet<String> = ["c2".to_string()].into();
        let plan = StalePlan::new(&gone, &still);
        assert_eq!(
            plan.unseen,
            vec![
                Sighted::Relationship(key(RelType::RunsOn, "a", "b")),
                Sighted::Ci(CiId("c1".into())),
                Sighted::Ci(CiId("junk".into())),
            ]
        );
        let by = Actor::run(Source::new("snmp"), RunId("r2".into()), crate::now());
        let out = plan.outcome(
            &[CiId("c1".into())].into(),
            &[key(RelType::RunsOn, "a", "b")].into(),
            &by,
        );
        let kinds: Vec<ChangeKind> = out.history.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            vec![ChangeKind::RelationshipClosed, ChangeKind::StatusChanged]
        );
        assert_eq!(out.history[1].run_id, Some(RunId("r2".into())));
        assert_eq!(out.history[1].new, Some(Value::String("STALE".into())));
    }
}
