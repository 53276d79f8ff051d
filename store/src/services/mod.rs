//! Service mapping, backend-neutral over [`GraphStore`]: business services defined by a rule or
//! by entry points, and load-balancer pools inferred from connections (redundancy groups).
//!
//! Everything here is written as observations of source [`MAPPER_SOURCE`] with an empty scope,
//! so it goes through reconciliation, obeys source precedence (an unknown source ranks below
//! every listed one, so `manual` always wins) and lands in history. Related CIs are referenced
//! by bare id records (no class), which reconciliation never modifies: mapping never refreshes
//! `last_seen`, never reactivates a STALE CI and never adds a sighting.
//!
//! - **Rule services**: attribute `rule` = `{"classes", "tags", "namePattern", "attributes"}`;
//!   members are the matching ACTIVE CIs (`MEMBER_OF`, evidence `rule`).
//! - **Entry-point services**: attribute `entry_points` = `["host:port", "https://…"]`; the
//!   mapper follows endpoint → listening process → outbound connections … up to
//!   `mapping_depth` tiers, stores the map's node ids in `map_cis`, and makes only the entry
//!   endpoints and their processes members (impact reaches the service through the graph, so
//!   a pool backend failing degrades rather than kills it).
//! - **Pools**: a process connecting to ≥ 2 endpoints with the same protocol/port on different
//!   hosts depends on a `Cluster` (tag `inferred-pool`, `min_up` = 1) the endpoints are
//!   `PART_OF`.
//!
//! The mapper only closes relationships it alone supports: a member or dependency someone
//! else also asserts stays.

use cmdb_model::attrs;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use cmdb_model::{
    Ci, CiClass, CiId, CiStatus, EvidenceKind, Record, RelKey, RelType, Relationship,
    RelationshipObs,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{CiFilter, Direction, GraphStore, IngestOptions, NameMatch, StoreError};

/// The source every mapper write is recorded under.
pub const MAPPER_SOURCE: &str = "service-mapper";
/// Tag of inferred pool CIs.
pub const POOL_TAG: &str = "inferred-pool";
/// Most members a rule may give a service.
pub const MAX_RULE_MEMBERS: usize = 10_000;
/// Most CIs one entry-point map may hold.
pub const MAX_MAP_CIS: usize = 10_000;
/// Default number of connection tiers followed from an entry point.
pub const DEFAULT_MAPPING_DEPTH: u32 = 8;
/// Largest `mapping_depth` accepted.
pub const MAX_MAPPING_DEPTH: u32 = 50;

pub(crate) const BATCH: usize = 500;
pub(crate) const PAGE: usize = 1000;
/// Host names/addresses an entry point may resolve to (a name shared by more is ambiguous).
pub(crate) const MAX_ENTRY_HOSTS: usize = 20;

mod entry_points;
mod host_level;
mod io;
mod network;
mod pools;

pub use entry_points::{map_entry_points, ServiceMapResult};
pub use host_level::{HOST_LEVEL_CONFIDENCE, MAP_INFERRED_DEPENDENCIES};
pub use network::{infer_network_dependencies, NETWORK_SOURCE, PATHS_TAG};
pub use pools::{group_members, infer_pools};

use host_level::{apply_host_level_dependencies, inferred_dependencies_of};
use io::{find_all, ingest_checked, mapper_only, observation, reference, rels_of};
use pools::retire_empty_pools;

/// How a business service's membership is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceKind {
    /// Members are linked by hand only.
    Manual,
    /// Members are the CIs matching `rule`.
    Rule,
    /// Members and map come from `entry_points`.
    EntryPoint,
}

/// A parsed `rule` attribute. All conditions given must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRule {
    #[serde(default)]
    pub classes: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_pattern: Option<String>,
    #[serde(default)]
    pub attributes: Map<String, Value>,
}

impl ServiceRule {
    /// Parse the stored attribute (an object, or a string holding one).
    pub fn from_value(v: &Value) -> Result<ServiceRule, DefinitionError> {
        let v = match v {
            Value::String(s) => serde_json::from_str::<Value>(s)
                .map_err(|e| DefinitionError::RuleNotJson(e.to_string()))?,
            other => other.clone(),
        };
        serde_json::from_value(v).map_err(|e| DefinitionError::InvalidRule(e.to_string()))
    }

    /// A rule without conditions matches nothing (an empty rule switches rule mapping off;
    /// it never means "everything").
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
            && self.tags.is_empty()
            && self.name_pattern.is_none()
            && self.attributes.is_empty()
    }

    /// The store filter for this rule: ACTIVE CIs only.
    pub fn filter(&self) -> Result<CiFilter, DefinitionError> {
        let mut classes = Vec::new();
        for c in &self.classes {
            let class: CiClass = c.parse()?;
            if class != CiClass::BusinessService {
                classes.push(class);
            }
        }
        if !self.classes.is_empty() && classes.is_empty() {
            return Err(DefinitionError::SelectsServices);
        }
        if let Some(p) = &self.name_pattern {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| DefinitionError::InvalidNamePattern(e.to_string()))?;
        }
        Ok(CiFilter {
            classes,
            name: self.name_pattern.clone().map(|p| (NameMatch::Regex, p)),
            tags: self.tags.clone(),
            statuses: vec![CiStatus::Active],
            attributes: self
                .attributes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Default::default()
        })
    }
}

/// Why a stored service definition (rule, entry points) cannot be used. The text is what the
/// API shows (`definitionError`, and `INVALID_INPUT` when it is given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("`rule` is not JSON: {0}")]
    RuleNotJson(String),
    #[error("invalid `rule`: {0}")]
    InvalidRule(String),
    #[error(transparent)]
    UnknownClass(#[from] cmdb_model::UnknownName),
    #[error("a rule cannot select business services")]
    SelectsServices,
    #[error("invalid namePattern: {0}")]
    InvalidNamePattern(String),
    #[error("`entry_points` must be an array of strings")]
    EntryPointsNotStrings,
}

/// Why an entry point text cannot be used. Never echoes the text (it may hold a credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryPointError {
    #[error("empty entry point")]
    Empty,
    #[error("an entry point must not contain credentials")]
    Credentials,
    #[error("unclosed `[` in entry point")]
    UnclosedBracket,
    #[error("an IPv6 address needs brackets: `[addr]:port`")]
    BareIpv6,
    #[error("entry point without a host")]
    NoHost,
    #[error("invalid port `{0}`")]
    InvalidPort(String),
    #[error("no port given and none known for scheme `{0}`")]
    UnknownScheme(String),
    #[error("entry point needs a port: `host:port` or a URL")]
    NoPort,
}

/// One entry point, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// Lower-cased host name, FQDN or IP address.
    pub host: String,
    pub port: u16,
}

/// Parse `host:port`, `[v6]:port` or a URL (`https://shop.example.com:8443/path`; the port
/// defaults by scheme: http 80, https 443). Credentials in a URL are rejected.
pub fn parse_entry_point(s: &str) -> Result<EntryPoint, EntryPointError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(EntryPointError::Empty);
    }
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, s),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(EntryPointError::Credentials);
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or(EntryPointError::UnclosedBracket)?;
        (h.to_string(), after.strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p.to_string())),
            Some(_) => return Err(EntryPointError::BareIpv6),
            None => (authority.to_string(), None),
        }
    };
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err(EntryPointError::NoHost);
    }
    let port = match (port, scheme.as_deref()) {
        (Some(p), _) if !p.is_empty() => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| EntryPointError::InvalidPort(p.clone()))?,
        (_, Some("http")) => 80,
        (_, Some("https")) => 443,
        (_, Some(other)) => return Err(EntryPointError::UnknownScheme(other.to_string())),
        (_, None) => return Err(EntryPointError::NoPort),
    };
    Ok(EntryPoint { host, port })
}

/// The mapping settings stored on a service CI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceDefinition {
    pub rule: Option<ServiceRule>,
    pub entry_points: Vec<String>,
    pub mapping_depth: u32,
}

impl ServiceDefinition {
    pub fn of(ci: &Ci) -> Result<ServiceDefinition, DefinitionError> {
        let rule = match ci.attr(attrs::RULE) {
            None | Some(Value::Null) => None,
            Some(v) => Some(ServiceRule::from_value(v)?).filter(|r| !r.is_empty()),
        };
        let entry_points = match ci.attr(attrs::ENTRY_POINTS) {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(_) => return Err(DefinitionError::EntryPointsNotStrings),
        };
        let mapping_depth = match ci.attr(attrs::MAPPING_DEPTH) {
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .map(|d| d.clamp(1, MAX_MAPPING_DEPTH as u64) as u32),
            None => None,
        }
        .unwrap_or(DEFAULT_MAPPING_DEPTH);
        Ok(ServiceDefinition {
            rule,
            entry_points,
            mapping_depth,
        })
    }

    pub fn kind(&self) -> ServiceKind {
        if !self.entry_points.is_empty() {
            ServiceKind::EntryPoint
        } else if self.rule.is_some() {
            ServiceKind::Rule
        } else {
            ServiceKind::Manual
        }
    }
}

/// An entry point that did not resolve, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnresolvedEntryPoint {
    pub service: CiId,
    pub entry_point: String,
    pub reason: String,
}

/// A service that could not be mapped (its previous membership is left as it was).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingError {
    pub service: CiId,
    /// `INVALID_INPUT` (bad rule or entry point) or `LIMIT_EXCEEDED` (too many members).
    pub code: String,
    pub message: String,
}

/// What one recomputation did. Deterministic apart from `duration_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MappingReport {
    /// Rule and entry-point services mapped.
    pub services_mapped: usize,
    pub members_added: usize,
    pub members_removed: usize,
    pub pools_created: usize,
    /// Pool PART_OF/DEPENDS_ON edges added (including those of new pools).
    pub pool_edges_added: usize,
    /// Pool edges closed because backends or connections disappeared.
    pub pool_edges_removed: usize,
    pub pools_retired: usize,
    /// DEPENDS_ON edges written/closed for host-level connections on service maps.
    pub host_level_edges_added: usize,
    pub host_level_edges_removed: usize,
    /// Network dependencies (device on switch, switch on uplinks) and redundant-path groups.
    pub network_edges_added: usize,
    pub network_edges_removed: usize,
    pub network_groups_created: usize,
    pub network_groups_retired: usize,
    pub unresolved_entry_points: Vec<UnresolvedEntryPoint>,
    pub errors: Vec<MappingError>,
    pub duration_ms: u64,
}

impl MappingReport {
    fn absorb(&mut self, o: MappingReport) {
        self.services_mapped += o.services_mapped;
        self.members_added += o.members_added;
        self.members_removed += o.members_removed;
        self.pools_created += o.pools_created;
        self.pool_edges_added += o.pool_edges_added;
        self.pool_edges_removed += o.pool_edges_removed;
        self.pools_retired += o.pools_retired;
        self.host_level_edges_added += o.host_level_edges_added;
        self.host_level_edges_removed += o.host_level_edges_removed;
        self.network_edges_added += o.network_edges_added;
        self.network_edges_removed += o.network_edges_removed;
        self.network_groups_created += o.network_groups_created;
        self.network_groups_retired += o.network_groups_retired;
        self.unresolved_entry_points
            .extend(o.unresolved_entry_points);
        self.errors.extend(o.errors);
    }
    /// Did this recomputation change the graph?
    pub fn changed(&self) -> bool {
        self.members_added
            + self.members_removed
            + self.pools_created
            + self.pool_edges_added
            + self.pool_edges_removed
            + self.pools_retired
            + self.host_level_edges_added
            + self.host_level_edges_removed
            + self.network_edges_added
            + self.network_edges_removed
            + self.network_groups_created
            + self.network_groups_retired
            > 0
    }
}

// ------------------------------------------------------------------ services

async fn services(store: &dyn GraphStore) -> Result<Vec<Ci>, StoreError> {
    let f = CiFilter {
        classes: vec![CiClass::BusinessService],
        ..Default::default()
    };
    Ok(find_all(store, &f, usize::MAX).await?.0)
}

/// One recomputation at a time in this process: two discovery runs finishing together (or a
/// run and `recomputeServices`) would otherwise race on the same pools and memberships.
static MAPPING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Recompute one business service's membership (and map, for entry-point services).
pub async fn recompute_service(
    store: &dyn GraphStore,
    id: &CiId,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let _one_at_a_time = MAPPING.lock().await;
    let started = Instant::now();
    let svc = store
        .get(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("CI {id}")))?;
    if svc.class != CiClass::BusinessService {
        return Err(StoreError::InvalidInput(format!(
            "{id} is a {}, not a business service",
            svc.class
        )));
    }
    let others: BTreeSet<(CiId, CiId)> = services(store)
        .await?
        .iter()
        .filter(|o| o.id != svc.id)
        .flat_map(inferred_dependencies_of)
        .collect();
    let mut r = map_service(store, &svc, &others, opts).await?;
    r.duration_ms = started.elapsed().as_millis() as u64;
    Ok(r)
}

/// Infer pools, then map every rule and entry-point service. A service that cannot be mapped
/// (bad rule, too many members) is reported in `errors` and keeps its membership.
pub async fn recompute_services(
    store: &dyn GraphStore,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let _one_at_a_time = MAPPING.lock().await;
    let started = Instant::now();
    let mut report = network::infer_network_dependencies(store, opts).await?;
    report.absorb(infer_pools(store, opts).await?);
    let all = services(store).await?;
    // The host-level dependencies each service's map keeps, updated as services are mapped:
    // one service's map may no longer need an edge another's still does.
    let mut kept: BTreeMap<CiId, BTreeSet<(CiId, CiId)>> = all
        .iter()
        .map(|s| (s.id.clone(), inferred_dependencies_of(s)))
        .collect();
    for svc in all {
        if svc.status == CiStatus::Retired {
            continue;
        }
        let others: BTreeSet<(CiId, CiId)> = kept
            .iter()
            .filter(|(id, _)| **id != svc.id)
            .flat_map(|(_, d)| d.iter().cloned())
            .collect();
        let r = map_service(store, &svc, &others, opts).await?;
        if let Some(now) = store.get(&svc.id).await? {
            kept.insert(svc.id.clone(), inferred_dependencies_of(&now));
        }
        report.absorb(r);
    }
    report.pools_retired += retire_empty_pools(store).await?;
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// Attribute of an entry-point service: the host-level dependencies its map stands for, as
/// `[dependant, target]` pairs.
async fn map_service(
    store: &dyn GraphStore,
    svc: &Ci,
    others: &BTreeSet<(CiId, CiId)>,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let mut report = MappingReport::default();
    if svc.status == CiStatus::Retired {
        return Ok(report);
    }
    let (def, map) = match desired_map(store, svc).await {
        Ok(found) => found,
        Err(Refusal::Store(e)) => return Err(e),
        Err(Refusal::Mapping(e)) => {
            report.errors.push(e);
            return Ok(report);
        }
    };
    if def.kind() != ServiceKind::Manual {
        report.services_mapped = 1;
    }
    for (ep, reason) in &map.unresolved {
        report.unresolved_entry_points.push(UnresolvedEntryPoint {
            service: svc.id.clone(),
            entry_point: ep.clone(),
            reason: reason.clone(),
        });
    }
    write_membership(store, svc, &def, &map, opts, &mut report).await?;
    let previous = inferred_dependencies_of(svc);
    if !previous.is_empty() || !map.host_level.is_empty() {
        let (added, removed) =
            apply_host_level_dependencies(store, &previous, &map.host_level, others, opts).await?;
        report.host_level_edges_added = added;
        report.host_level_edges_removed = removed;
    }
    Ok(report)
}

/// Why a service is not mapped this time: its definition (reported, the rest goes on), or
/// the store.
enum Refusal {
    Mapping(MappingError),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

/// What a service's definition calls for now: its members, the attributes the mapper keeps
/// on it, the host-level dependencies its map infers and its unresolved entry points.
#[derive(Default)]
struct DesiredMap {
    members: BTreeSet<CiId>,
    attrs: Map<String, Value>,
    host_level: BTreeSet<(CiId, CiId)>,
    unresolved: Vec<(String, String)>,
}

async fn desired_map(
    store: &dyn GraphStore,
    svc: &Ci,
) -> Result<(ServiceDefinition, DesiredMap), Refusal> {
    let refuse = |code: &str, message: String| {
        Refusal::Mapping(MappingError {
            service: svc.id.clone(),
            code: code.into(),
            message,
        })
    };
    let def = ServiceDefinition::of(svc).map_err(|e| refuse("INVALID_INPUT", e.to_string()))?;
    let mut map = DesiredMap::default();
    if let Some(rule) = &def.rule {
        let filter = rule
            .filter()
            .map_err(|e| refuse("INVALID_INPUT", e.to_string()))?;
        let (found, over) = find_all(store, &filter, MAX_RULE_MEMBERS).await?;
        if over {
            return Err(refuse("LIMIT_EXCEEDED", format!("the rule of `{}` matches more than {MAX_RULE_MEMBERS} CIs; narrow it (membership left unchanged)", svc.name)));
        }
        map.members.extend(
            found
                .into_iter()
                .filter(|c| c.class != CiClass::BusinessService && c.id != svc.id)
                .map(|c| c.id),
        );
    }
    if !def.entry_points.is_empty() {
        let m = map_entry_points(store, &def.entry_points, def.mapping_depth).await?;
        map.members.extend(m.members.iter().cloned());
        map.attrs = map_attributes(&m);
        map.host_level = m.host_level_deps;
        map.unresolved = m.unresolved;
    } else if svc
        .attr(attrs::MAP_CIS)
        .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    {
        // No longer an entry-point service: forget the old map.
        for name in [
            attrs::MAP_CIS,
            attrs::MAP_ENTRY_CIS,
            attrs::UNRESOLVED_ENTRY_POINTS,
            MAP_INFERRED_DEPENDENCIES,
        ] {
            map.attrs.insert(name.into(), json!([]));
        }
    }
    Ok((def, map))
}

/// The attributes an entry-point map leaves on its service.
fn map_attributes(m: &ServiceMapResult) -> Map<String, Value> {
    let ids = |set: &BTreeSet<CiId>| -> Value {
        Value::Array(set.iter().map(|i| json!(i.as_str())).collect())
    };
    let deps: Vec<Value> = m
        .host_level_deps
        .iter()
        .map(|(d, t)| json!([d.as_str(), t.as_str()]))
        .collect();
    let unresolved: Vec<Value> = m
        .unresolved
        .iter()
        .map(|(ep, why)| json!({"entry_point": ep, "reason": why}))
        .collect();
    let mut out = Map::new();
    out.insert(MAP_INFERRED_DEPENDENCIES.into(), Value::Array(deps));
    out.insert(attrs::MAP_CIS.into(), ids(&m.nodes));
    out.insert(attrs::MAP_ENTRY_CIS.into(), ids(&m.entry_endpoints));
    out.insert(attrs::MAP_TRUNCATED.into(), json!(m.truncated));
    out.insert(
        attrs::UNRESOLVED_ENTRY_POINTS.into(),
        Value::Array(unresolved),
    );
    out
}

/// Bring the service's `MEMBER_OF` edges and mapper attributes in line with `map`: only what
/// differs is written, so recomputing an unchanged map writes nothing.
async fn write_membership(
    store: &dyn GraphStore,
    svc: &Ci,
    def: &ServiceDefinition,
    map: &DesiredMap,
    opts: &IngestOptions,
    report: &mut MappingReport,
) -> Result<(), StoreError> {
    let current = rels_of(
        store,
        std::slice::from_ref(&svc.id),
        Direction::In,
        &[RelType::MemberOf],
    )
    .await?;
    let current: BTreeMap<CiId, &Relationship> = current
        .iter()
        .filter(|r| r.to == svc.id)
        .map(|r| (r.from.clone(), r))
        .collect();
    let to_add: Vec<CiId> = map
        .members
        .iter()
        .filter(|m| !current.contains_key(*m))
        .cloned()
        .collect();
    let to_close: Vec<RelKey> = current
        .iter()
        .filter(|(m, r)| !map.members.contains(*m) && mapper_only(r))
        .map(|(_, r)| r.key())
        .collect();
    let mut attrs = map.attrs.clone();
    attrs.retain(|k, v| svc.attr(k) != Some(v));
    let mapped = def.kind() != ServiceKind::Manual;
    let members_changed = !to_add.is_empty() || !to_close.is_empty();
    let first_mapping = mapped && svc.attr(attrs::MAPPED_AT).is_none();
    if !attrs.is_empty() || (members_changed && mapped) || first_mapping {
        attrs.insert(
            attrs::MAPPED_AT.into(),
            json!(cmdb_model::now().to_rfc3339()),
        );
    }
    let obs = membership_observation(svc, attrs, &to_add);
    // Bare references alone would write nothing: skip the round trip.
    if !obs.relationships.is_empty() || obs.records.iter().any(|r| r.class.is_some()) {
        ingest_checked(store, obs, opts).await?;
    }
    for key in &to_close {
        store.close_relationship(key, MAPPER_SOURCE).await?;
    }
    report.members_added = to_add.len();
    report.members_removed = to_close.len();
    Ok(())
}

/// The service (with the attributes to write, if any) and its new members.
fn membership_observation(
    svc: &Ci,
    attrs: Map<String, Value>,
    to_add: &[CiId],
) -> cmdb_model::Observation {
    let mut obs = observation();
    if attrs.is_empty() {
        obs.push(reference("service", &svc.id));
    } else {
        let mut rec = Record::new("service", CiClass::BusinessService);
        rec.id = Some(svc.id.clone());
        rec.attributes = attrs;
        obs.push(rec);
    }
    for (i, m) in to_add.iter().enumerate() {
        let key = format!("m{i}");
        obs.push(reference(&key, m));
        obs.relationships.push(RelationshipObs::new(
            RelType::MemberOf,
            key,
            "service",
            EvidenceKind::Rule,
            1.0,
        ));
    }
    obs
}

#[cfg(test)]
mod tests;
