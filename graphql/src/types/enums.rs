//! The domain's enumerations as the schema spells them (mirrors of model, store and events
//! enums; each converts both ways).

use async_graphql::Enum;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "CIClass", remote = "cmdb_model::CiClass")]
pub enum CiClassG {
    Host,
    NetworkDevice,
    Interface,
    IpAddress,
    Subnet,
    Process,
    ListeningEndpoint,
    Application,
    SoftwarePackage,
    Container,
    BusinessService,
    Cluster,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "CIStatus", remote = "cmdb_model::CiStatus")]
pub enum CiStatusG {
    Active,
    Stale,
    Retired,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "RelType", remote = "cmdb_model::RelType")]
pub enum RelTypeG {
    Contains,
    HasIp,
    RunsOn,
    ListensOn,
    ConnectsTo,
    DependsOn,
    LinkedTo,
    MemberOf,
    PartOf,
    /// A connection seen on a host whose owning process is unknown; carries no failure.
    CommunicatesWith,
    /// A switch or router learnt this address on that port (ARP + bridge table).
    LearnedOn,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "RelStatus", remote = "cmdb_model::RelStatus")]
pub enum RelStatusG {
    Active,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "EvidenceKind", remote = "cmdb_model::EvidenceKind")]
pub enum EvidenceKindG {
    Lldp,
    Cdp,
    Fdb,
    Arp,
    Socket,
    /// A connection seen on a host without its owning process, or a dependency inferred
    /// from such connections alone.
    HostSocket,
    Inventory,
    Config,
    Tag,
    Rule,
    Inferred,
    Manual,
    Import,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ChangeKind", remote = "cmdb_model::ChangeKind")]
pub enum ChangeKindG {
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
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "Severity", remote = "cmdb_model::impact::Severity")]
pub enum SeverityG {
    /// It cannot work.
    Down,
    /// No redundancy left: the next failure makes it DOWN.
    AtRisk,
    /// Redundancy partly lost; it still works.
    Degraded,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(
    name = "IdentificationOutcome",
    remote = "cmdb_model::IdentificationOutcome"
)]
pub enum IdentificationOutcomeG {
    /// An existing CI matched by one of its class's identification rules.
    Matched,
    /// No existing CI matched: this one was created.
    Created,
    /// A record proved other CIs to be this one: they were merged into it.
    Merged,
}

/// Which way a failure travels along a relationship (`cmdb_model::ImpactFlow`).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ImpactFlow", remote = "cmdb_model::ImpactFlow")]
pub enum ImpactFlowG {
    /// A failure of `from` impacts `to` (a process failing takes its endpoint down).
    FromToTo,
    /// A failure of `to` impacts `from` (a host failing takes down what RUNS_ON it).
    ToToFrom,
    /// Both ways (an L2 link).
    Both,
    /// Neither way: evidence without a failure travelling along it.
    None,
}

/// How a business service's members are defined.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "ServiceKind", remote = "cmdb_store::services::ServiceKind")]
pub enum ServiceKindG {
    /// Linked by hand.
    Manual,
    /// The CIs matching `rule`.
    Rule,
    /// Mapped from `entryPoints`.
    EntryPoint,
}

/// A service's state now, from monitoring (beside its lifecycle `status`).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::OperationalStatus", name = "OperationalStatus")]
pub enum OperationalStatusG {
    Ok,
    Degraded,
    AtRisk,
    Down,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::IncidentState", name = "IncidentState")]
pub enum IncidentStateG {
    Open,
    Resolved,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::priority::Level", name = "PriorityLevel")]
pub enum LevelG {
    High,
    Medium,
    Low,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "cmdb_events::AlertState", name = "AlertState")]
pub enum AlertStateG {
    Open,
    Closed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(
    remote = "cmdb_events::IncidentChangeKind",
    name = "IncidentChangeKind"
)]
pub enum IncidentChangeKindG {
    Opened,
    Updated,
    Resolved,
}

/// What a live status change is about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "StatusSubjectKind", remote = "cmdb_store::ops::SubjectKind")]
pub enum SubjectKindG {
    /// A business service (status from the impact engine).
    Service,
    /// A CI monitoring reports on (status from its open alerts).
    Ci,
}
