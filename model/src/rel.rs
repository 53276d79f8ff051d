//! Relationship types, the direction failure impact flows along each, and evidence.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::ids::{CiId, Source, UnknownName};

use crate::time::Timestamp;

/// Relationship types. `from -[TYPE]-> to` reads as a sentence: Host CONTAINS Interface,
/// Process RUNS_ON Host, Process LISTENS_ON ListeningEndpoint, Process CONNECTS_TO
/// ListeningEndpoint, Interface LINKED_TO Interface, CI MEMBER_OF BusinessService,
/// CI PART_OF Cluster, Host COMMUNICATES_WITH ListeningEndpoint (a connection seen on the host
/// whose owning process is unknown), IpAddress LEARNED_ON Interface (a switch or router learnt
/// the address on that port: its ARP table and bridge forwarding table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RelType {
    Contains,
    HasIp,
    RunsOn,
    ListensOn,
    ConnectsTo,
    DependsOn,
    LinkedTo,
    MemberOf,
    PartOf,
    CommunicatesWith,
    LearnedOn,
}

/// Which way a failure travels along a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImpactFlow {
    /// A failure of `from` impacts `to` (a Host failing takes its contained Interface down).
    FromToTo,
    /// A failure of `to` impacts `from` (a Host failing takes down the Process that RUNS_ON it).
    ToToFrom,
    /// Both ways (an L2 link).
    Both,
    /// Neither way: evidence the graph keeps without a failure travelling along it.
    None,
}

impl RelType {
    pub const ALL: [RelType; 11] = [
        RelType::Contains,
        RelType::HasIp,
        RelType::RunsOn,
        RelType::ListensOn,
        RelType::ConnectsTo,
        RelType::DependsOn,
        RelType::LinkedTo,
        RelType::MemberOf,
        RelType::PartOf,
        RelType::CommunicatesWith,
        RelType::LearnedOn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RelType::Contains => "CONTAINS",
            RelType::HasIp => "HAS_IP",
            RelType::RunsOn => "RUNS_ON",
            RelType::ListensOn => "LISTENS_ON",
            RelType::ConnectsTo => "CONNECTS_TO",
            RelType::DependsOn => "DEPENDS_ON",
            RelType::LinkedTo => "LINKED_TO",
            RelType::MemberOf => "MEMBER_OF",
            RelType::PartOf => "PART_OF",
            RelType::CommunicatesWith => "COMMUNICATES_WITH",
            RelType::LearnedOn => "LEARNED_ON",
        }
    }

    /// The declared direction of failure impact for this type.
    pub fn impact_flow(self) -> ImpactFlow {
        match self {
            // The container/owner failing takes the contained thing with it.
            RelType::Contains | RelType::HasIp => ImpactFlow::FromToTo,
            // The process providing an endpoint failing makes the endpoint fail.
            RelType::ListensOn => ImpactFlow::FromToTo,
            // Members failing degrade what they belong to.
            RelType::MemberOf | RelType::PartOf => ImpactFlow::FromToTo,
            // The thing depended upon failing breaks the dependant.
            RelType::RunsOn | RelType::ConnectsTo | RelType::DependsOn => ImpactFlow::ToToFrom,
            RelType::LinkedTo => ImpactFlow::Both,
            // A host does not fail because a remote service it talks to fails: which of its
            // processes uses the connection is unknown. Discovery attributes the evidence to
            // the owning process once one is known (reconciliation folds it into that
            // process's CONNECTS_TO), and service mapping decides what on the host a service
            // relies on (docs/service-mapping.md).
            RelType::CommunicatesWith => ImpactFlow::None,
            // Where an address was seen, not what it relies on: the physical dependencies of
            // hosts on switches are inferred from attachments (docs/impact.md).
            RelType::LearnedOn => ImpactFlow::None,
        }
    }

    /// Symmetric types are stored once with the endpoints in a canonical order.
    pub fn is_symmetric(self) -> bool {
        matches!(self, RelType::LinkedTo)
    }
}

impl fmt::Display for RelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RelType {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RelType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName::new("relationship type", s))
    }
}

/// What kind of observation supports a relationship.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    Lldp,
    Cdp,
    Fdb,
    Arp,
    Socket,
    /// A connection seen on a host whose owning process is unknown (TCP-MIB rows without a
    /// process, `ss` without the privileges to name owners), and dependencies inferred from
    /// such connections alone. A relationship all of whose evidence is of this kind rests on
    /// host-level evidence: the process that really depends on it is a guess.
    #[serde(rename = "host_socket")]
    HostSocket,
    /// Structure reported directly by the device (its own interfaces, addresses, processes).
    Inventory,
    Config,
    Tag,
    Rule,
    Inferred,
    Manual,
    Import,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 13] = [
        EvidenceKind::Lldp,
        EvidenceKind::Cdp,
        EvidenceKind::Fdb,
        EvidenceKind::Arp,
        EvidenceKind::Socket,
        EvidenceKind::HostSocket,
        EvidenceKind::Inventory,
        EvidenceKind::Config,
        EvidenceKind::Tag,
        EvidenceKind::Rule,
        EvidenceKind::Inferred,
        EvidenceKind::Manual,
        EvidenceKind::Import,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Lldp => "lldp",
            EvidenceKind::Cdp => "cdp",
            EvidenceKind::Fdb => "fdb",
            EvidenceKind::Arp => "arp",
            EvidenceKind::Socket => "socket",
            EvidenceKind::HostSocket => "host_socket",
            EvidenceKind::Inventory => "inventory",
            EvidenceKind::Config => "config",
            EvidenceKind::Tag => "tag",
            EvidenceKind::Rule => "rule",
            EvidenceKind::Inferred => "inferred",
            EvidenceKind::Manual => "manual",
            EvidenceKind::Import => "import",
        }
    }
}

impl EvidenceKind {
    /// Evidence a probe infers from what it sees (as opposed to what someone states).
    pub fn is_discovered(self) -> bool {
        matches!(
            self,
            EvidenceKind::Lldp
                | EvidenceKind::Cdp
                | EvidenceKind::Fdb
                | EvidenceKind::Arp
                | EvidenceKind::Socket
                | EvidenceKind::HostSocket
                | EvidenceKind::Inferred
        )
    }
}

impl FromStr for EvidenceKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EvidenceKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName::new("evidence kind", s))
    }
}

/// One source's support for a relationship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub source: Source,
    pub kind: EvidenceKind,
    /// 0.0–1.0. Grows with repeated observations in distinct runs (see [`Evidence::reinforce`]).
    pub confidence: f64,
    /// How many distinct runs reported it.
    pub observations: u32,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The run that last reported it: a link seen twice in one run is one observation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<crate::ids::RunId>,
}

impl Evidence {
    /// Combine a new sighting with base confidence `base`: `1 - (1-base)^n` over `n` runs, so
    /// a socket seen once at 0.5 reaches 0.75 after two runs and 0.875 after three.
    pub fn reinforce(base: f64, observations: u32) -> f64 {
        let base = base.clamp(0.0, 1.0);
        let n = observations.max(1) as i32;
        let c = 1.0 - (1.0 - base).powi(n);
        (c * 1000.0).round() / 1000.0
    }
}

/// Independent confidences combined (`1 − Π(1 − cᵢ)`, rounded to 3 decimals); 0 for none.
pub fn combined_confidence(cs: impl IntoIterator<Item = f64>) -> f64 {
    let miss: f64 = cs.into_iter().map(|c| 1.0 - c.clamp(0.0, 1.0)).product();
    ((1.0 - miss) * 1000.0).round() / 1000.0
}

/// Identity of a relationship: type plus endpoints (canonically ordered for symmetric types).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RelKey {
    pub rel_type: RelType,
    pub from: CiId,
    pub to: CiId,
}

impl RelKey {
    pub fn new(rel_type: RelType, from: CiId, to: CiId) -> Self {
        if rel_type.is_symmetric() && to < from {
            RelKey {
                rel_type,
                from: to,
                to: from,
            }
        } else {
            RelKey { rel_type, from, to }
        }
    }
}

impl fmt::Display for RelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})-[{}]->({})", self.from, self.rel_type, self.to)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RelStatus {
    Active,
    /// No source that saw it saw it again in a successful run over its scope.
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship {
    pub rel_type: RelType,
    pub from: CiId,
    pub to: CiId,
    pub status: RelStatus,
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

impl Relationship {
    pub fn key(&self) -> RelKey {
        RelKey {
            rel_type: self.rel_type,
            from: self.from.clone(),
            to: self.to.clone(),
        }
    }
    /// Take in another relationship that turned out to be this one (after a CI merge):
    /// evidence combined per (source, kind), the earliest first-seen, the latest last-seen,
    /// attributes this one lacks, and ACTIVE if either was.
    pub fn absorb(&mut self, other: Relationship) {
        for e in other.evidence {
            match self
                .evidence
                .iter_mut()
                .find(|x| x.source == e.source && x.kind == e.kind)
            {
                Some(x) => {
                    x.observations = x.observations.max(e.observations);
                    x.confidence = x.confidence.max(e.confidence);
                    x.first_seen = x.first_seen.min(e.first_seen);
                    x.last_seen = x.last_seen.max(e.last_seen);
                }
                None => self.evidence.push(e),
            }
        }
        for (k, v) in other.attributes {
            self.attributes.entry(k).or_insert(v);
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        if other.status == RelStatus::Active {
            self.status = RelStatus::Active;
        }
    }

    /// How certain the relationship is, all its evidence combined: each (source, kind) entry
    /// is an independent sighting, so the chance that all of them are wrong is the product of
    /// each being wrong: `1 − Π(1 − cᵢ)`. An SSH socket (0.5) corroborated by SNMP's view of
    /// the same connection (0.5) is 0.75; a single entry is its own confidence.
    pub fn confidence(&self) -> f64 {
        combined_confidence(self.evidence.iter().map(|e| e.confidence))
    }

    /// Every piece of evidence is host-level (see [`EvidenceKind::HostSocket`]): the
    /// relationship says a host talks to something, not which of its processes relies on it.
    pub fn rests_on_host_level(&self) -> bool {
        self.rel_type == RelType::CommunicatesWith
            || (!self.evidence.is_empty()
                && self
                    .evidence
                    .iter()
                    .all(|e| e.kind == EvidenceKind::HostSocket))
    }
}
