//! History: every create/update/delete of a CI attribute or relationship, old → new.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{CiId, RunId, Source, UnknownName};
use crate::rel::RelKey;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    CiCreated,
    AttributeSet,
    AttributeChanged,
    AttributeRemoved,
    TagAdded,
    TagRemoved,
    ClassChanged,
    StatusChanged,
    /// This CI absorbed another (`old` holds the merged id).
    Merged,
    CiDeleted,
    RelationshipCreated,
    RelationshipClosed,
    RelationshipReopened,
    RelationshipDeleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::CiCreated => "CI_CREATED",
            ChangeKind::AttributeSet => "ATTRIBUTE_SET",
            ChangeKind::AttributeChanged => "ATTRIBUTE_CHANGED",
            ChangeKind::AttributeRemoved => "ATTRIBUTE_REMOVED",
            ChangeKind::TagAdded => "TAG_ADDED",
            ChangeKind::TagRemoved => "TAG_REMOVED",
            ChangeKind::ClassChanged => "CLASS_CHANGED",
            ChangeKind::StatusChanged => "STATUS_CHANGED",
            ChangeKind::Merged => "MERGED",
            ChangeKind::CiDeleted => "CI_DELETED",
            ChangeKind::RelationshipCreated => "RELATIONSHIP_CREATED",
            ChangeKind::RelationshipClosed => "RELATIONSHIP_CLOSED",
            ChangeKind::RelationshipReopened => "RELATIONSHIP_REOPENED",
            ChangeKind::RelationshipDeleted => "RELATIONSHIP_DELETED",
        }
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use ChangeKind::*;
        [
            CiCreated,
            AttributeSet,
            AttributeChanged,
            AttributeRemoved,
            TagAdded,
            TagRemoved,
            ClassChanged,
            StatusChanged,
            Merged,
            CiDeleted,
            RelationshipCreated,
            RelationshipClosed,
            RelationshipReopened,
            RelationshipDeleted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| UnknownName::new("change kind", s))
    }
}

/// One recorded change. Relationship changes are recorded once with `ci` = the `from` end and
/// `relationship` set; per-CI history queries include both ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub ci: CiId,
    pub at: Timestamp,
    pub kind: ChangeKind,
    /// Attribute name, `tags`, `class`, `status` … (None for whole-CI and relationship events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<RelKey>,
    #[serde(default)]
    pub old: Option<Value>,
    #[serde(default)]
    pub new: Option<Value>,
    pub source: Source,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
}
