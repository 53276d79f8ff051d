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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use cmdb_model::{
    Ci, CiClass, CiId, CiStatus, EvidenceKind, Observation, Record, RelKey, RelStatus, RelType,
    Relationship, RelationshipObs, RunId, Scope, Source,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{
    CiFilter, CiOrder, Direction, GraphStore, IngestOptions, NameMatch, PageRequest, RelQuery,
    StoreError,
};

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

const BATCH: usize = 500;
const PAGE: usize = 1000;
/// Host names/addresses an entry point may resolve to (a name shared by more is ambiguous).
const MAX_ENTRY_HOSTS: usize = 20;

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
    pub fn from_value(v: &Value) -> Result<ServiceRule, String> {
        let v = match v {
            Value::String(s) => {
                serde_json::from_str::<Value>(s).map_err(|e| format!("`rule` is not JSON: {e}"))?
            }
            other => other.clone(),
        };
        serde_json::from_value(v).map_err(|e| format!("invalid `rule`: {e}"))
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
    pub fn filter(&self) -> Result<CiFilter, String> {
        let mut classes = Vec::new();
        for c in &self.classes {
            let class: CiClass = c.parse()?;
            if class != CiClass::BusinessService {
                classes.push(class);
            }
        }
        if !self.classes.is_empty() && classes.is_empty() {
            return Err("a rule cannot select business services".into());
        }
        if let Some(p) = &self.name_pattern {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("invalid namePattern: {e}"))?;
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

/// One entry point, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    /// Lower-cased host name, FQDN or IP address.
    pub host: String,
    pub port: u16,
}

/// Parse `host:port`, `[v6]:port` or a URL (`https://shop.example.com:8443/path`; the port
/// defaults by scheme: http 80, https 443). Credentials in a URL are rejected.
pub fn parse_entry_point(s: &str) -> Result<EntryPoint, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty entry point".into());
    }
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
        None => (None, s),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("an entry point must not contain credentials".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[` in entry point")?;
        (h.to_string(), after.strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p.to_string())),
            Some(_) => return Err("an IPv6 address needs brackets: `[addr]:port`".into()),
            None => (authority.to_string(), None),
        }
    };
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return Err("entry point without a host".into());
    }
    let port = match (port, scheme.as_deref()) {
        (Some(p), _) if !p.is_empty() => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid port `{p}`"))?,
        (_, Some("http")) => 80,
        (_, Some("https")) => 443,
        (_, Some(other)) => {
            return Err(format!("no port given and none known for scheme `{other}`"))
        }
        (_, None) => return Err("entry point needs a port: `host:port` or a URL".into()),
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
    pub fn of(ci: &Ci) -> Result<ServiceDefinition, String> {
        let rule = match ci.attr("rule") {
            None | Some(Value::Null) => None,
            Some(v) => Some(ServiceRule::from_value(v)?).filter(|r| !r.is_empty()),
        };
        let entry_points = match ci.attr("entry_points") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(_) => return Err("`entry_points` must be an array of strings".into()),
        };
        let mapping_depth = match ci.attr("mapping_depth") {
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
            > 0
    }
}

// ------------------------------------------------------------------ store helpers

fn mapper() -> Source {
    Source::new(MAPPER_SOURCE)
}

fn observation() -> Observation {
    Observation::new(mapper(), RunId::generate(), Scope::none())
}

/// A bare reference: a relationship end that reconciliation never modifies or sights.
fn reference(key: &str, id: &CiId) -> Record {
    Record {
        key: key.into(),
        class: None,
        id: Some(id.clone()),
        ..Default::default()
    }
}

async fn find_all(
    store: &dyn GraphStore,
    filter: &CiFilter,
    cap: usize,
) -> Result<(Vec<Ci>, bool), StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .find(
                filter,
                CiOrder::default(),
                &PageRequest {
                    first: Some(PAGE),
                    after,
                    ..Default::default()
                },
            )
            .await?;
        let next = page.items.last().map(|(c, _)| c.clone());
        out.extend(page.items.into_iter().map(|(_, ci)| ci));
        if out.len() > cap {
            out.truncate(cap);
            return Ok((out, true));
        }
        if !page.has_next_page || next.is_none() {
            return Ok((out, false));
        }
        after = next;
    }
}

async fn rels_of(
    store: &dyn GraphStore,
    ids: &[CiId],
    direction: Direction,
    types: &[RelType],
) -> Result<Vec<Relationship>, StoreError> {
    let q = RelQuery {
        direction,
        types: types.to_vec(),
        include_closed: false,
    };
    let mut out = Vec::new();
    for chunk in ids.chunks(BATCH) {
        out.extend(
            store
                .relationships(chunk, &q)
                .await?
                .into_iter()
                .filter(|r| r.status == RelStatus::Active),
        );
    }
    Ok(out)
}

async fn cis_of(store: &dyn GraphStore, ids: &[CiId]) -> Result<HashMap<CiId, Ci>, StoreError> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(BATCH) {
        for ci in store.get_many(chunk).await? {
            out.insert(ci.id.clone(), ci);
        }
    }
    Ok(out)
}

/// Only the mapper supports this relationship.
fn mapper_only(r: &Relationship) -> bool {
    !r.evidence.is_empty()
        && r.evidence
            .iter()
            .all(|e| e.source.as_str() == MAPPER_SOURCE)
}

fn by_mapper(r: &Relationship) -> bool {
    r.evidence
        .iter()
        .any(|e| e.source.as_str() == MAPPER_SOURCE)
}

async fn ingest_checked(
    store: &dyn GraphStore,
    obs: Observation,
    opts: &IngestOptions,
) -> Result<crate::IngestReport, StoreError> {
    let report = store
        .ingest(
            obs,
            &IngestOptions {
                dry_run: false,
                ..opts.clone()
            },
        )
        .await?;
    if let Some(e) = report.errors.first() {
        return Err(StoreError::InvalidInput(format!(
            "service mapping was rejected: {} ({}): {}",
            e.record, e.code, e.message
        )));
    }
    Ok(report)
}

fn port_of(ci: &Ci) -> Option<u16> {
    match ci.attr("port")? {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn protocol_of(ci: &Ci) -> String {
    ci.attr_str("protocol")
        .unwrap_or("tcp")
        .to_ascii_lowercase()
}

// ------------------------------------------------------------------ entry points

/// The CIs an entry-point service maps to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceMapResult {
    /// Entry endpoints and their listening processes: the service's members.
    pub members: BTreeSet<CiId>,
    pub entry_endpoints: BTreeSet<CiId>,
    /// Every CI of the map (members included), sorted.
    pub nodes: BTreeSet<CiId>,
    pub unresolved: Vec<(String, String)>,
    /// The map hit [`MAX_MAP_CIS`].
    pub truncated: bool,
}

fn is_device(c: CiClass) -> bool {
    matches!(c, CiClass::Host | CiClass::NetworkDevice)
}

async fn resolve_hosts(store: &dyn GraphStore, host: &str) -> Result<Vec<CiId>, StoreError> {
    let base = CiFilter {
        classes: vec![CiClass::Host, CiClass::NetworkDevice],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let mut filters = Vec::new();
    if host.parse::<std::net::IpAddr>().is_ok() {
        filters.push(CiFilter {
            ip_address: Some(host.to_string()),
            ..base.clone()
        });
    } else {
        let short = host.split('.').next().unwrap_or(host).to_string();
        filters.push(CiFilter {
            name: Some((NameMatch::Equals, host.to_string())),
            ..base.clone()
        });
        filters.push(CiFilter {
            attributes: vec![("fqdn".into(), json!(host))],
            ..base.clone()
        });
        filters.push(CiFilter {
            attributes: vec![("hostname".into(), json!(host))],
            ..base.clone()
        });
        if short != host {
            // A short name matches only when no FQDN-qualified host answered.
            filters.push(CiFilter {
                attributes: vec![("hostname".into(), json!(short))],
                ..base.clone()
            });
            filters.push(CiFilter {
                name: Some((NameMatch::Equals, short)),
                ..base.clone()
            });
        }
    }
    let mut out = BTreeSet::new();
    let last_exact = if filters.len() > 3 { 3 } else { filters.len() };
    for (i, f) in filters.iter().enumerate() {
        if i == last_exact && !out.is_empty() {
            break;
        }
        let (found, _) = find_all(store, f, MAX_ENTRY_HOSTS).await?;
        out.extend(found.into_iter().map(|c| c.id));
    }
    Ok(out.into_iter().take(MAX_ENTRY_HOSTS).collect())
}

/// Resolve entry points and follow connections from them, `depth` tiers deep.
pub async fn map_entry_points(
    store: &dyn GraphStore,
    entry_points: &[String],
    depth: u32,
) -> Result<ServiceMapResult, StoreError> {
    let mut res = ServiceMapResult::default();
    let mut classes: HashMap<CiId, CiClass> = HashMap::new();
    // Tier 1: the entry endpoints.
    let mut tier: BTreeSet<CiId> = BTreeSet::new();
    for raw in entry_points {
        let ep = match parse_entry_point(raw) {
            Ok(ep) => ep,
            Err(e) => {
                res.unresolved.push((raw.clone(), e));
                continue;
            }
        };
        let hosts = resolve_hosts(store, &ep.host).await?;
        if hosts.is_empty() {
            res.unresolved.push((
                raw.clone(),
                format!("no active host named or addressed `{}`", ep.host),
            ));
            continue;
        }
        let contained = rels_of(store, &hosts, Direction::Out, &[RelType::Contains]).await?;
        let ids: Vec<CiId> = contained.iter().map(|r| r.to.clone()).collect();
        let cis = cis_of(store, &ids).await?;
        let mut found: Vec<&Ci> = cis
            .values()
            .filter(|c| {
                c.class == CiClass::ListeningEndpoint
                    && c.status == CiStatus::Active
                    && port_of(c) == Some(ep.port)
            })
            .collect();
        // Prefer TCP when a port is open for both.
        if found.iter().any(|c| protocol_of(c) == "tcp") {
            found.retain(|c| protocol_of(c) == "tcp");
        }
        if found.is_empty() {
            res.unresolved.push((
                raw.clone(),
                format!(
                    "`{}` has no active listening endpoint on port {}",
                    ep.host, ep.port
                ),
            ));
            continue;
        }
        for c in found {
            classes.insert(c.id.clone(), c.class);
            res.entry_endpoints.insert(c.id.clone());
            tier.insert(c.id.clone());
        }
    }
    let mut visited: BTreeSet<CiId> = tier.clone();
    let mut t = 1;
    let entry = res.entry_endpoints.clone();
    while !tier.is_empty() {
        // Within a tier: endpoint → its listening processes and host; pool → its backends;
        // process → the host it runs on. Outbound connections lead to the next tier.
        let mut next: BTreeSet<CiId> = BTreeSet::new();
        let mut fresh: Vec<CiId> = tier.iter().cloned().collect();
        while !fresh.is_empty() {
            let rels = rels_of(
                store,
                &fresh,
                Direction::Both,
                &[
                    RelType::ListensOn,
                    RelType::Contains,
                    RelType::PartOf,
                    RelType::RunsOn,
                    RelType::ConnectsTo,
                    RelType::DependsOn,
                ],
            )
            .await?;
            let fresh_set: BTreeSet<&CiId> = fresh.iter().collect();
            let mut same: BTreeSet<CiId> = BTreeSet::new();
            let mut outward: BTreeSet<CiId> = BTreeSet::new();
            for r in &rels {
                let from_class = classes.get(&r.from).copied();
                let to_class = classes.get(&r.to).copied();
                match r.rel_type {
                    // process LISTENS_ON endpoint: the endpoint's providers.
                    RelType::ListensOn
                        if fresh_set.contains(&r.to)
                            && to_class == Some(CiClass::ListeningEndpoint) =>
                    {
                        same.insert(r.from.clone());
                    }
                    // host CONTAINS endpoint: where the endpoint lives.
                    RelType::Contains
                        if fresh_set.contains(&r.to)
                            && to_class == Some(CiClass::ListeningEndpoint) =>
                    {
                        same.insert(r.from.clone());
                    }
                    // backend PART_OF pool.
                    RelType::PartOf
                        if fresh_set.contains(&r.to) && to_class == Some(CiClass::Cluster) =>
                    {
                        same.insert(r.from.clone());
                    }
                    RelType::RunsOn
                        if fresh_set.contains(&r.from) && from_class == Some(CiClass::Process) =>
                    {
                        same.insert(r.to.clone());
                    }
                    RelType::ConnectsTo | RelType::DependsOn
                        if fresh_set.contains(&r.from) && from_class == Some(CiClass::Process) =>
                    {
                        outward.insert(r.to.clone());
                    }
                    _ => {}
                }
            }
            let unknown: Vec<CiId> = same
                .iter()
                .chain(outward.iter())
                .filter(|i| !classes.contains_key(*i))
                .cloned()
                .collect();
            for (id, ci) in cis_of(store, &unknown).await? {
                if ci.status == CiStatus::Active {
                    classes.insert(id, ci.class);
                }
            }
            fresh = Vec::new();
            for id in same {
                let Some(c) = classes.get(&id).copied() else {
                    continue;
                };
                if c == CiClass::BusinessService || visited.contains(&id) {
                    continue;
                }
                if visited.len() >= MAX_MAP_CIS {
                    res.truncated = true;
                    break;
                }
                visited.insert(id.clone());
                // A process listening on an entry endpoint is a member.
                if c == CiClass::Process
                    && t == 1
                    && rels.iter().any(|r| {
                        r.rel_type == RelType::ListensOn && r.from == id && entry.contains(&r.to)
                    })
                {
                    res.members.insert(id.clone());
                }
                if !is_device(c) {
                    fresh.push(id);
                }
            }
            for id in outward {
                if classes
                    .get(&id)
                    .is_some_and(|c| *c != CiClass::BusinessService)
                    && !visited.contains(&id)
                {
                    next.insert(id);
                }
            }
        }
        t += 1;
        if t > depth || res.truncated {
            break;
        }
        next.retain(|id| !visited.contains(id));
        for id in &next {
            if visited.len() >= MAX_MAP_CIS {
                res.truncated = true;
                break;
            }
            visited.insert(id.clone());
        }
        tier = next;
    }
    res.members.extend(res.entry_endpoints.iter().cloned());
    res.nodes = visited;
    Ok(res)
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
    let mut r = map_service(store, &svc, opts).await?;
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
    let mut report = infer_pools(store, opts).await?;
    for svc in services(store).await? {
        if svc.status == CiStatus::Retired {
            continue;
        }
        let r = map_service(store, &svc, opts).await?;
        report.absorb(r);
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

async fn map_service(
    store: &dyn GraphStore,
    svc: &Ci,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let mut report = MappingReport::default();
    if svc.status == CiStatus::Retired {
        return Ok(report);
    }
    let def = match ServiceDefinition::of(svc) {
        Ok(d) => d,
        Err(message) => {
            report.errors.push(MappingError {
                service: svc.id.clone(),
                code: "INVALID_INPUT".into(),
                message,
            });
            return Ok(report);
        }
    };
    // Desired members, plus the attributes the mapper keeps on the service.
    let mut desired: BTreeSet<CiId> = BTreeSet::new();
    let mut attrs: Map<String, Value> = Map::new();
    if let Some(rule) = &def.rule {
        let filter = match rule.filter() {
            Ok(f) => f,
            Err(message) => {
                report.errors.push(MappingError {
                    service: svc.id.clone(),
                    code: "INVALID_INPUT".into(),
                    message,
                });
                return Ok(report);
            }
        };
        let (found, over) = find_all(store, &filter, MAX_RULE_MEMBERS).await?;
        if over {
            report.errors.push(MappingError {
                service: svc.id.clone(),
                code: "LIMIT_EXCEEDED".into(),
                message: format!("the rule of `{}` matches more than {MAX_RULE_MEMBERS} CIs; narrow it (membership left unchanged)", svc.name),
            });
            return Ok(report);
        }
        desired.extend(
            found
                .into_iter()
                .filter(|c| c.class != CiClass::BusinessService && c.id != svc.id)
                .map(|c| c.id),
        );
    }
    if !def.entry_points.is_empty() {
        let m = map_entry_points(store, &def.entry_points, def.mapping_depth).await?;
        desired.extend(m.members.iter().cloned());
        let mut nodes: Vec<Value> = m.nodes.iter().map(|i| json!(i.as_str())).collect();
        nodes.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        attrs.insert("map_cis".into(), Value::Array(nodes));
        attrs.insert(
            "map_entry_cis".into(),
            Value::Array(
                m.entry_endpoints
                    .iter()
                    .map(|i| json!(i.as_str()))
                    .collect(),
            ),
        );
        attrs.insert("map_truncated".into(), json!(m.truncated));
        let unresolved: Vec<Value> = m
            .unresolved
            .iter()
            .map(|(ep, why)| json!({"entry_point": ep, "reason": why}))
            .collect();
        attrs.insert("unresolved_entry_points".into(), Value::Array(unresolved));
        for (ep, reason) in m.unresolved {
            report.unresolved_entry_points.push(UnresolvedEntryPoint {
                service: svc.id.clone(),
                entry_point: ep,
                reason,
            });
        }
    } else if svc
        .attr("map_cis")
        .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    {
        // No longer an entry-point service: forget the old map.
        attrs.insert("map_cis".into(), json!([]));
        attrs.insert("map_entry_cis".into(), json!([]));
        attrs.insert("unresolved_entry_points".into(), json!([]));
    }
    if def.kind() != ServiceKind::Manual {
        report.services_mapped = 1;
    }

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
    let to_add: Vec<CiId> = desired
        .iter()
        .filter(|m| !current.contains_key(*m))
        .cloned()
        .collect();
    let to_close: Vec<RelKey> = current
        .iter()
        .filter(|(m, r)| !desired.contains(*m) && mapper_only(r))
        .map(|(_, r)| r.key())
        .collect();
    // Only write attributes that differ: recomputing an unchanged map writes nothing.
    attrs.retain(|k, v| svc.attr(k) != Some(v));
    let members_changed = !to_add.is_empty() || !to_close.is_empty();
    let first_mapping = def.kind() != ServiceKind::Manual && svc.attr("mapped_at").is_none();
    if !attrs.is_empty() || (members_changed && def.kind() != ServiceKind::Manual) || first_mapping
    {
        attrs.insert("mapped_at".into(), json!(cmdb_model::now().to_rfc3339()));
    }

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
    // Bare references alone would write nothing: skip the round trip.
    if !obs.relationships.is_empty() || obs.records.iter().any(|r| r.class.is_some()) {
        ingest_checked(store, obs, opts).await?;
    }
    for key in &to_close {
        store.close_relationship(key, MAPPER_SOURCE).await?;
    }
    report.members_added = to_add.len();
    report.members_removed = to_close.len();
    Ok(report)
}

// ------------------------------------------------------------------ pools

/// A pool wanted by the current connections: `process` connects to `backends` (same
/// protocol/port, ≥ 2 hosts).
#[derive(Debug, Clone)]
struct WantedPool {
    process: CiId,
    protocol: String,
    port: u16,
    backends: BTreeSet<CiId>,
}

fn pool_key(process: &CiId, protocol: &str, port: u16) -> String {
    format!("{process}|{protocol}|{port}")
}

/// Infer pools from connections and bring the graph in line: new pools, new backends, gone
/// backends and gone pools. Manual attributes (`min_up`) and edges someone else asserts stay.
pub async fn infer_pools(
    store: &dyn GraphStore,
    opts: &IngestOptions,
) -> Result<MappingReport, StoreError> {
    let mut report = MappingReport::default();
    let procs_filter = CiFilter {
        classes: vec![CiClass::Process],
        statuses: vec![CiStatus::Active],
        ..Default::default()
    };
    let procs: Vec<CiId> = find_all(store, &procs_filter, usize::MAX)
        .await?
        .0
        .into_iter()
        .map(|c| c.id)
        .collect();
    let conns = rels_of(store, &procs, Direction::Out, &[RelType::ConnectsTo]).await?;
    let targets: Vec<CiId> = conns
        .iter()
        .map(|r| r.to.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let endpoints = cis_of(store, &targets).await?;
    let homes = rels_of(store, &targets, Direction::In, &[RelType::Contains]).await?;
    let home_of: HashMap<&CiId, &CiId> = homes.iter().map(|r| (&r.to, &r.from)).collect();

    // (process, protocol, port) → endpoints per host.
    let mut groups: BTreeMap<(CiId, String, u16), BTreeMap<CiId, BTreeSet<CiId>>> = BTreeMap::new();
    for r in &conns {
        let Some(ep) = endpoints.get(&r.to) else {
            continue;
        };
        if ep.class != CiClass::ListeningEndpoint || ep.status != CiStatus::Active {
            continue;
        }
        let (Some(port), Some(host)) = (port_of(ep), home_of.get(&ep.id)) else {
            continue;
        };
        groups
            .entry((r.from.clone(), protocol_of(ep), port))
            .or_default()
            .entry((*host).clone())
            .or_default()
            .insert(ep.id.clone());
    }
    let wanted: BTreeMap<String, WantedPool> = groups
        .into_iter()
        .filter(|(_, hosts)| hosts.len() >= 2)
        .map(|((process, protocol, port), hosts)| {
            let backends = hosts.into_values().flatten().collect();
            (
                pool_key(&process, &protocol, port),
                WantedPool {
                    process,
                    protocol,
                    port,
                    backends,
                },
            )
        })
        .collect();

    // Existing inferred pools, by key.
    let pool_filter = CiFilter {
        classes: vec![CiClass::Cluster],
        tags: vec![POOL_TAG.into()],
        ..Default::default()
    };
    let existing: Vec<Ci> = find_all(store, &pool_filter, usize::MAX).await?.0;
    let mut by_key: BTreeMap<String, Ci> = BTreeMap::new();
    for p in existing {
        if let Some(k) = p.attr_str("pool_key") {
            by_key.insert(k.to_string(), p);
        }
    }
    let pool_ids: Vec<CiId> = by_key.values().map(|p| p.id.clone()).collect();
    let pool_rels = rels_of(
        store,
        &pool_ids,
        Direction::In,
        &[RelType::PartOf, RelType::DependsOn],
    )
    .await?;
    let mut rels_by_pool: HashMap<&CiId, Vec<&Relationship>> = HashMap::new();
    for r in &pool_rels {
        rels_by_pool.entry(&r.to).or_default().push(r);
    }

    // Names for new pools: `pool <process>@<host> → :<port>`.
    let new_procs: Vec<CiId> = wanted
        .iter()
        .filter(|(k, _)| !by_key.contains_key(*k))
        .map(|(_, w)| w.process.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let proc_cis = cis_of(store, &new_procs).await?;
    let runs_on = rels_of(store, &new_procs, Direction::Out, &[RelType::RunsOn]).await?;
    let proc_hosts: HashMap<&CiId, &CiId> = runs_on.iter().map(|r| (&r.from, &r.to)).collect();
    let host_ids: Vec<CiId> = proc_hosts.values().map(|h| (*h).clone()).collect();
    let host_cis = cis_of(store, &host_ids).await?;

    let mut taken_names: BTreeSet<String> =
        by_key.values().map(|p| p.name.to_lowercase()).collect();
    let mut obs = observation();
    for (n, (key, w)) in wanted.iter().enumerate() {
        let pkey = format!("proc{n}");
        let poolkey = format!("pool{n}");
        let present: BTreeSet<CiId> = match by_key.get(key) {
            Some(p) => rels_by_pool
                .get(&p.id)
                .map(|rs| {
                    rs.iter()
                        .filter(|r| r.rel_type == RelType::PartOf)
                        .map(|r| r.from.clone())
                        .collect()
                })
                .unwrap_or_default(),
            None => BTreeSet::new(),
        };
        let depends = by_key.get(key).is_some_and(|p| {
            rels_by_pool.get(&p.id).is_some_and(|rs| {
                rs.iter()
                    .any(|r| r.rel_type == RelType::DependsOn && r.from == w.process)
            })
        });
        let missing: Vec<&CiId> = w
            .backends
            .iter()
            .filter(|b| !present.contains(*b))
            .collect();
        let pool_rec = match by_key.get(key) {
            Some(p) if p.status == CiStatus::Active && p.attr("min_up").is_some() => {
                if missing.is_empty() && depends {
                    continue;
                }
                reference(&poolkey, &p.id)
            }
            Some(p) => {
                // Retired or STALE pool coming back, or `min_up` lost: an update reactivates it.
                let mut rec = Record::new(&poolkey, CiClass::Cluster);
                rec.id = Some(p.id.clone());
                if p.attr("min_up").is_none() {
                    rec = rec.attr("min_up", 1);
                }
                rec
            }
            None => {
                let proc_name = proc_cis
                    .get(&w.process)
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| w.process.to_string());
                let host_name = proc_hosts
                    .get(&w.process)
                    .and_then(|h| host_cis.get(*h))
                    .map(|c| c.name.clone())
                    .unwrap_or_else(|| "?".into());
                let mut name = format!("pool {proc_name}@{host_name} → :{}", w.port);
                if w.protocol != "tcp" {
                    name = format!("{name}/{}", w.protocol);
                }
                if taken_names.contains(&name.to_lowercase()) {
                    name = format!("{name} ({})", w.process);
                }
                taken_names.insert(name.to_lowercase());
                report.pools_created += 1;
                Record::new(&poolkey, CiClass::Cluster)
                    .name(name.clone())
                    .ident("name", name)
                    .tag(POOL_TAG)
                    .attr("min_up", 1)
                    .attr("inferred", true)
                    .attr("pool_key", key.as_str())
                    .attr("protocol", w.protocol.as_str())
                    .attr("port", w.port)
            }
        };
        obs.push(pool_rec);
        obs.push(reference(&pkey, &w.process));
        if !depends {
            obs.relationships.push(RelationshipObs::new(
                RelType::DependsOn,
                &pkey,
                &poolkey,
                EvidenceKind::Inferred,
                0.8,
            ));
            report.pool_edges_added += 1;
        }
        for (i, b) in missing.iter().enumerate() {
            let bkey = format!("{poolkey}.b{i}");
            obs.push(reference(&bkey, b));
            obs.relationships.push(RelationshipObs::new(
                RelType::PartOf,
                &bkey,
                &poolkey,
                EvidenceKind::Inferred,
                0.8,
            ));
            report.pool_edges_added += 1;
        }
        if obs.records.len() >= BATCH {
            ingest_checked(store, std::mem::replace(&mut obs, observation()), opts).await?;
        }
    }
    if !obs.records.is_empty() {
        ingest_checked(store, obs, opts).await?;
    }

    // Backends and pools that are gone.
    for (key, pool) in &by_key {
        let rels = rels_by_pool.get(&pool.id).cloned().unwrap_or_default();
        let w = wanted.get(key);
        let mut closed = 0usize;
        for r in &rels {
            let keep = match (w, r.rel_type) {
                (Some(w), RelType::PartOf) => w.backends.contains(&r.from),
                (Some(w), RelType::DependsOn) => w.process == r.from,
                _ => false,
            };
            if !keep && by_mapper(r) && mapper_only(r) {
                store.close_relationship(&r.key(), MAPPER_SOURCE).await?;
                closed += 1;
            }
        }
        report.pool_edges_removed += closed;
        if w.is_none() && pool.status != CiStatus::Retired && closed == rels.len() {
            // Nothing but the mapper's own edges held it: the pool is gone.
            let others =
                rels_of(store, std::slice::from_ref(&pool.id), Direction::Both, &[]).await?;
            if others.is_empty() {
                store.retire(&pool.id, MAPPER_SOURCE).await?;
                report.pools_retired += 1;
            }
        }
    }
    Ok(report)
}

/// Members a group has (active `PART_OF`).
pub async fn group_members(store: &dyn GraphStore, group: &CiId) -> Result<Vec<CiId>, StoreError> {
    let rels = rels_of(
        store,
        std::slice::from_ref(group),
        Direction::In,
        &[RelType::PartOf],
    )
    .await?;
    Ok(rels
        .into_iter()
        .filter(|r| &r.to == group)
        .map(|r| r.from)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests;
