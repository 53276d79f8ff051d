//! The CMDB's domain: configuration items, relationships, observations, identification and
//! reconciliation rules. Pure code: this crate performs no I/O of any kind.

pub mod attrs;
pub mod ci;
pub mod class;
pub mod ids;
pub mod impact;
pub mod observation;
pub mod rel;
pub mod time;

pub use ci::{Attribute, Ci, CiStatus, Identification, IdentificationOutcome};
pub use class::{CiClass, ClassRules, IdentRule, MatchMode, Normalize, ParentSpec};
pub use ids::{CiId, RunId, Source, UnknownName};
pub use observation::{Observation, Record, RelationshipObs, Scope};
pub use rel::{Evidence, EvidenceKind, ImpactFlow, RelKey, RelStatus, RelType, Relationship};
pub use time::{now, Timestamp};
pub mod history;
pub mod identify;
pub mod lifecycle;
pub mod reconcile;
pub mod search;
pub mod sighting;

pub use history::{ChangeKind, HistoryEntry};
pub use lifecycle::{Actor, LifecycleDelta, StalePlan};
pub use reconcile::{
    reconcile, CiWrite, CurrentView, Delta, Explanation, IdentifierEntry, Merge, Outcome, Policy,
    Precedence, Reconciled, RecordError, RelWrite, ViewError, WriteKind,
};
pub use sighting::Sighted;
pub mod interchange;
pub mod synthetic;
pub mod topology;
