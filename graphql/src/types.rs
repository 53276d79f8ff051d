//! GraphQL types. They are their own structs, converted from model types: the model carries no
//! GraphQL attributes.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use cmdb_model as m;
use cmdb_store as st;
use serde_json::Value;

use crate::error::{gql, ApiError, ApiResultExt};
use crate::loaders::{level_rels, CiLoaderExt, Level, RelArgs};
use crate::{page_request, ApiState};

// ---------------------------------------------------------------- enums

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

/// Relationship direction relative to a CI.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "RelDirection")]
pub enum RelDirection {
    /// Relationships where the CI is `from`.
    Out,
    /// Relationships where the CI is `to`.
    In,
    #[default]
    Both,
}

impl From<RelDirection> for st::Direction {
    fn from(d: RelDirection) -> Self {
        match d {
            RelDirection::Out => st::Direction::Out,
            RelDirection::In => st::Direction::In,
            RelDirection::Both => st::Direction::Both,
        }
    }
}

/// Traversal direction in terms of failure impact.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "DependencyDirection")]
pub enum DependencyDirection {
    /// What this CI relies on (against each relationship type's impact flow).
    Upstream,
    /// What this CI's failure would affect (along each relationship type's impact flow).
    Downstream,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
#[graphql(name = "CIOrderField")]
pub enum CiOrderFieldG {
    #[default]
    Id,
    Name,
    Class,
    LastSeen,
    FirstSeen,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug, Default)]
pub enum OrderDirection {
    #[default]
    Asc,
    Desc,
}

// ---------------------------------------------------------------- inputs

/// Name condition: exactly one of the three.
#[derive(InputObject, Debug, Clone, Default)]
pub struct NameFilter {
    pub equals: Option<String>,
    pub contains: Option<String>,
    /// Rust `regex` syntax, matched anywhere in the name.
    pub regex: Option<String>,
}

#[derive(InputObject, Debug, Clone)]
pub struct AttributeFilter {
    pub key: String,
    /// Compared exactly as JSON (strings as strings, numbers as numbers).
    pub equals: Json<Value>,
}

/// CI filter; all given conditions must hold.
#[derive(InputObject, Debug, Clone, Default)]
#[graphql(name = "CIFilter")]
pub struct CiFilterG {
    pub class: Option<CiClassG>,
    /// Any of these classes.
    pub classes: Option<Vec<CiClassG>>,
    pub name: Option<NameFilter>,
    /// Has this tag.
    pub tag: Option<String>,
    /// Has all of these tags.
    pub tags: Option<Vec<String>>,
    pub status: Option<CiStatusG>,
    pub statuses: Option<Vec<CiStatusG>>,
    /// Reported by this source (`manual`, `ssh`, `snmp`, …).
    pub source: Option<String>,
    /// IpAddress CIs with this address and devices listing it.
    pub ip_address: Option<String>,
    pub attribute: Option<AttributeFilter>,
    pub attributes: Option<Vec<AttributeFilter>>,
    pub last_seen_before: Option<DateTime<Utc>>,
    pub last_seen_after: Option<DateTime<Utc>>,
    pub ids: Option<Vec<ID>>,
}

impl CiFilterG {
    pub fn to_store(&self) -> Result<st::CiFilter, ApiError> {
        let mut f = st::CiFilter::default();
        if let Some(c) = self.class {
            f.classes.push(c.into());
        }
        for c in self.classes.iter().flatten() {
            f.classes.push((*c).into());
        }
        if let Some(n) = &self.name {
            let given: Vec<(st::NameMatch, &String)> = [
                (st::NameMatch::Equals, n.equals.as_ref()),
                (st::NameMatch::Contains, n.contains.as_ref()),
                (st::NameMatch::Regex, n.regex.as_ref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            match given.as_slice() {
                [(k, v)] => {
                    if *k == st::NameMatch::Regex {
                        if v.len() > 1000 {
                            return Err(ApiError::LimitExceeded(
                                "name regex longer than 1000 characters".into(),
                            ));
                        }
                        regex::RegexBuilder::new(v)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|e| {
                                ApiError::InvalidInput(format!("invalid name regex: {e}"))
                            })?;
                    }
                    f.name = Some((*k, (*v).clone()));
                }
                [] => {}
                _ => {
                    return Err(ApiError::InvalidInput(
                        "name filter: give exactly one of equals, contains, regex".into(),
                    ))
                }
            }
        }
        f.tags.extend(self.tag.iter().cloned());
        f.tags.extend(self.tags.iter().flatten().cloned());
        f.statuses.extend(self.status.map(m::CiStatus::from));
        f.statuses.extend(
            self.statuses
                .iter()
                .flatten()
                .map(|s| m::CiStatus::from(*s)),
        );
        f.source = self.source.clone();
        f.ip_address = self.ip_address.clone();
        for a in self
            .attribute
            .iter()
            .chain(self.attributes.iter().flatten())
        {
            f.attributes.push((a.key.clone(), a.equals.0.clone()));
        }
        f.last_seen_before = self.last_seen_before;
        f.last_seen_after = self.last_seen_after;
        f.ids = self
            .ids
            .as_ref()
            .map(|v| v.iter().map(|i| m::CiId::new(i.as_str())).collect());
        Ok(f)
    }
}

#[derive(InputObject, Debug, Clone, Copy, Default)]
#[graphql(name = "CIOrder")]
pub struct CiOrderG {
    #[graphql(default)]
    pub field: CiOrderFieldG,
    #[graphql(default)]
    pub direction: OrderDirection,
}

impl From<CiOrderG> for st::CiOrder {
    fn from(o: CiOrderG) -> Self {
        st::CiOrder {
            field: match o.field {
                CiOrderFieldG::Id => st::CiOrderField::Id,
                CiOrderFieldG::Name => st::CiOrderField::Name,
                CiOrderFieldG::Class => st::CiOrderField::Class,
                CiOrderFieldG::LastSeen => st::CiOrderField::LastSeen,
                CiOrderFieldG::FirstSeen => st::CiOrderField::FirstSeen,
            },
            descending: o.direction == OrderDirection::Desc,
        }
    }
}

// ---------------------------------------------------------------- objects

/// Relay page info.
#[derive(SimpleObject, Debug, Clone, Default)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

impl PageInfo {
    pub fn from_cursors(cursors: &[String], has_next_page: bool, has_previous_page: bool) -> Self {
        PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        }
    }
}

/// A configuration item.
/// A configuration item, and the level (list) it was produced in, for batching.
#[derive(Clone, Debug)]
pub struct CiObj(pub Arc<m::Ci>, pub Option<Arc<Level>>);

impl From<m::Ci> for CiObj {
    fn from(c: m::Ci) -> Self {
        CiObj(Arc::new(c), None)
    }
}

impl CiObj {
    /// CIs produced by one list: they share a level.
    pub fn level(cis: Vec<m::Ci>) -> Vec<CiObj> {
        let level = Level::new(cis.iter().map(|c| c.id.clone()).collect());
        cis.into_iter()
            .map(|c| CiObj(Arc::new(c), Some(level.clone())))
            .collect()
    }
}

/// An identifier key a CI holds: what identification finds it by.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "CIIdentifier")]
pub struct CiIdentifierG {
    /// The stored key, `family|parent|rule|value` (`device||mac_addresses|52:54:00:aa:00:01`).
    pub key: String,
    /// The identification rule (`serial_number`, `mac_addresses`, `if_name`, …).
    pub rule: String,
    /// The value as identification normalised it (rules over several attributes join them with
    /// `|`).
    pub value: String,
}

impl CiIdentifierG {
    /// `None` (logged) for a stored key that is not one.
    pub fn parse(key: String) -> Option<Self> {
        let Some(p) = m::identify::parse_identifier_key(&key) else {
            tracing::warn!(key = %key, "stored identifier key is malformed; not shown");
            return None;
        };
        let (rule, value) = (p.rule.to_string(), p.value.to_string());
        Some(CiIdentifierG { key, rule, value })
    }
}

/// How identification decided for a CI the last time it decided something new: when it was
/// created, when other CIs were merged into it, or when a stronger rule than the recorded one
/// matched it. Matches by the same or a weaker rule confirm it and change nothing.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(name = "Identification")]
pub struct IdentificationG {
    pub outcome: IdentificationOutcomeG,
    /// The rule that matched; for a created CI the strongest rule its record offered (the one
    /// its id derives from); null when a CI was created by id alone.
    pub rule: Option<String>,
    /// The decision in one sentence, as `upsertCi` returns it.
    pub explanation: String,
    /// The source whose observation decided it (`ssh`, `snmp`, `import`, `manual`, …).
    pub source: String,
    pub run_id: Option<String>,
    /// When that observation was made.
    pub at: DateTime<Utc>,
    /// The CIs merged into this one by that decision (their ids now resolve to it).
    pub merged: Vec<ID>,
}

impl From<&m::Identification> for IdentificationG {
    fn from(i: &m::Identification) -> Self {
        IdentificationG {
            outcome: i.outcome.into(),
            rule: i.rule.clone(),
            explanation: i.explanation.clone(),
            source: i.source.0.clone(),
            run_id: i.run_id.as_ref().map(|r| r.0.clone()),
            at: i.at,
            merged: i.merged.iter().map(|c| ID(c.0.clone())).collect(),
        }
    }
}

/// An attribute with its provenance.
#[derive(SimpleObject, Debug, Clone)]
pub struct AttributeValue {
    pub key: String,
    pub value: Json<Value>,
    pub source: String,
    /// The source's place in the configured precedence (`[reconcile] precedence`): 1 is the
    /// strongest; a source may overwrite a value set by one of equal or higher number.
    pub precedence: i32,
    pub updated_at: DateTime<Utc>,
}

#[Object(name = "CI")]
impl CiObj {
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn class(&self) -> CiClassG {
        self.0.class.into()
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn status(&self) -> CiStatusG {
        self.0.status.into()
    }
    async fn tags(&self) -> Vec<String> {
        self.0.tags.iter().cloned().collect()
    }
    /// Attribute values as one JSON object (`{"hostname": "web1", …}`).
    async fn attributes(&self) -> Json<serde_json::Map<String, Value>> {
        Json(
            self.0
                .attributes
                .iter()
                .map(|(k, a)| (k.clone(), a.value.clone()))
                .collect(),
        )
    }
    /// One attribute's value, or null.
    async fn attribute(&self, key: String) -> Option<Json<Value>> {
        self.0.attr(&key).cloned().map(Json)
    }
    /// Attributes with the source that set each and when.
    async fn attribute_details(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AttributeValue>> {
        let precedence = &crate::state(ctx)?.ingest.precedence;
        Ok(self
            .0
            .attributes
            .iter()
            .map(|(k, a)| AttributeValue {
                key: k.clone(),
                value: Json(a.value.clone()),
                source: a.source.0.clone(),
                precedence: i32::try_from(precedence.rank(&a.source) + 1).unwrap_or(i32::MAX),
                updated_at: a.updated_at,
            })
            .collect())
    }
    async fn first_seen(&self) -> DateTime<Utc> {
        self.0.first_seen
    }
    async fn last_seen(&self) -> DateTime<Utc> {
        self.0.last_seen
    }
    /// Every source that has reported this CI.
    async fn sources(&self) -> Vec<String> {
        self.0.sources.iter().map(|s| s.0.clone()).collect()
    }
    /// Only seen from elsewhere so far (unmanaged neighbour, far end of a socket).
    async fn placeholder(&self) -> bool {
        self.0.placeholder
    }
    /// The identifier keys that identify this CI, by key. Batched: one store round trip for
    /// all CIs of a level.
    async fn identifiers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiIdentifierG>> {
        let keys = crate::loaders::identifiers(ctx, self).await?;
        Ok(keys
            .iter()
            .cloned()
            .filter_map(CiIdentifierG::parse)
            .collect())
    }
    /// How identification decided for this CI the last time it decided something new; null
    /// for a CI stored before decisions were recorded, until it is next identified.
    async fn identification(&self) -> Option<IdentificationG> {
        self.0.identification.as_ref().map(Into::into)
    }
    /// Relationships touching this CI. Batched: one store round trip for all CIs of a level.
    #[graphql(complexity = "crate::page_complexity(first, None, child_complexity)")]
    async fn relationships(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] direction: RelDirection,
        types: Option<Vec<RelTypeG>>,
        first: Option<i32>,
        after: Option<String>,
        #[graphql(default = false)] include_closed: bool,
    ) -> async_graphql::Result<RelationshipConnection> {
        let state = ctx.data::<ApiState>()?;
        let limit = state.page_size(first, None)?;
        let mut types: Vec<m::RelType> = types
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        types.sort();
        types.dedup();
        let la = ctx.look_ahead();
        let nodes = [la.field("edges").field("node"), la.field("nodes")];
        let args = RelArgs {
            direction: direction.into(),
            types,
            include_closed,
            from_ends: nodes.iter().any(|n| n.field("from").exists()),
            to_ends: nodes.iter().any(|n| n.field("to").exists()),
        };
        let batch = level_rels(ctx, self, args).await?;
        let rels = batch.of(&self.0.id);
        let start = match &after {
            None => 0,
            Some(c) => {
                decode_offset(c)
                    .ok_or_else(|| gql(ApiError::InvalidInput(format!("invalid cursor `{c}`"))))?
                    + 1
            }
        };
        let total = rels.len();
        let edges: Vec<RelationshipEdge> = rels
            .iter()
            .enumerate()
            .skip(start)
            .take(limit)
            .map(|(i, r)| RelationshipEdge {
                cursor: encode_offset(i),
                node: RelationshipObj {
                    rel: Arc::new(r.clone()),
                    ends: batch.ends.clone(),
                    ends_level: batch.ends_level.clone(),
                },
            })
            .collect();
        let cursors: Vec<String> = edges.iter().map(|e| e.cursor.clone()).collect();
        Ok(RelationshipConnection {
            total_count: total,
            page_info: PageInfo::from_cursors(&cursors, start + edges.len() < total, start > 0),
            edges,
        })
    }
    /// This CI's recorded changes, newest first.
    #[graphql(complexity = "crate::page_complexity(first, None, child_complexity)")]
    async fn history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<HistoryConnection> {
        let state = ctx.data::<ApiState>()?;
        let page = page_request(state, first, after, None, None)?;
        let p = state.store.history(&self.0.id, &page).await.api()?;
        Ok(HistoryConnection::from_page(p))
    }
}

pub(crate) fn encode_offset(i: usize) -> String {
    format!("o{i}")
}

pub(crate) fn decode_offset(c: &str) -> Option<usize> {
    c.strip_prefix('o')?.parse().ok()
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "CIEdge")]
pub struct CiEdge {
    pub cursor: String,
    pub node: CiObj,
}

#[derive(SimpleObject, Clone)]
#[graphql(name = "CIConnection", complex)]
pub struct CiConnection {
    pub total_count: usize,
    pub page_info: PageInfo,
    pub edges: Vec<CiEdge>,
}

#[ComplexObject]
impl CiConnection {
    /// The nodes of `edges`, for clients that need no cursors.
    async fn nodes(&self) -> Vec<CiObj> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

impl CiConnection {
    pub fn from_page(p: st::Page<m::Ci>) -> Self {
        let cursors: Vec<String> = p.items.iter().map(|(c, _)| c.clone()).collect();
        CiConnection {
            total_count: p.total_count,
            page_info: PageInfo::from_cursors(&cursors, p.has_next_page, p.has_previous_page),
            edges: {
                let (cursors, cis): (Vec<String>, Vec<m::Ci>) = p.items.into_iter().unzip();
                cursors
                    .into_iter()
                    .zip(CiObj::level(cis))
                    .map(|(cursor, node)| CiEdge { cursor, node })
                    .collect()
            },
        }
    }
}

/// One source's support for a relationship.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "Evidence")]
pub struct EvidenceG {
    pub source: String,
    pub kind: EvidenceKindG,
    pub confidence: f64,
    /// How many distinct runs reported it.
    pub observations: u32,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Clone)]
pub struct RelationshipObj {
    pub rel: Arc<m::Relationship>,
    /// The end CIs when they were fetched with the relationships.
    pub ends: Option<Arc<std::collections::HashMap<m::CiId, Arc<m::Ci>>>>,
    pub ends_level: Option<Arc<Level>>,
}

impl RelationshipObj {
    pub fn new(rel: m::Relationship) -> Self {
        RelationshipObj {
            rel: Arc::new(rel),
            ends: None,
            ends_level: None,
        }
    }
    async fn end(&self, ctx: &Context<'_>, id: &m::CiId) -> async_graphql::Result<Option<CiObj>> {
        if let Some(ci) = self.ends.as_ref().and_then(|e| e.get(id)) {
            return Ok(Some(CiObj(ci.clone(), self.ends_level.clone())));
        }
        ctx.load_ci(id).await
    }
}

#[Object(name = "Relationship")]
impl RelationshipObj {
    #[graphql(name = "type")]
    async fn rel_type(&self) -> RelTypeG {
        self.rel.rel_type.into()
    }
    async fn from(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        self.end(ctx, &self.rel.from).await
    }
    async fn to(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        self.end(ctx, &self.rel.to).await
    }
    async fn from_id(&self) -> ID {
        ID(self.rel.from.0.clone())
    }
    async fn to_id(&self) -> ID {
        ID(self.rel.to.0.clone())
    }
    async fn status(&self) -> RelStatusG {
        self.rel.status.into()
    }
    /// All the evidence combined: independent sightings (another source, another kind of
    /// evidence) make it more certain, `1 − Π(1 − cᵢ)`.
    async fn confidence(&self) -> f64 {
        self.rel.confidence()
    }
    /// All its evidence is host-level: a connection seen on a host without the process that
    /// holds it (it carries no failure), or a dependency guessed from such connections.
    async fn rests_on_host_level_evidence(&self) -> bool {
        self.rel.rests_on_host_level()
    }
    async fn evidence(&self) -> Vec<EvidenceG> {
        self.rel
            .evidence
            .iter()
            .map(|e| EvidenceG {
                source: e.source.0.clone(),
                kind: e.kind.into(),
                confidence: e.confidence,
                observations: e.observations,
                first_seen: e.first_seen,
                last_seen: e.last_seen,
            })
            .collect()
    }
    async fn attributes(&self) -> Json<serde_json::Map<String, Value>> {
        Json(self.rel.attributes.clone())
    }
    async fn first_seen(&self) -> DateTime<Utc> {
        self.rel.first_seen
    }
    async fn last_seen(&self) -> DateTime<Utc> {
        self.rel.last_seen
    }
}

#[derive(SimpleObject, Clone)]
pub struct RelationshipEdge {
    pub cursor: String,
    pub node: RelationshipObj,
}

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct RelationshipConnection {
    pub total_count: usize,
    pub page_info: PageInfo,
    pub edges: Vec<RelationshipEdge>,
}

#[ComplexObject]
impl RelationshipConnection {
    async fn nodes(&self) -> Vec<RelationshipObj> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

/// A relationship's identity.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "RelKey")]
pub struct RelKeyG {
    #[graphql(name = "type")]
    pub rel_type: RelTypeG,
    pub from: ID,
    pub to: ID,
}

/// One recorded change.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(name = "HistoryEntry")]
pub struct HistoryEntryG {
    pub ci: ID,
    pub at: DateTime<Utc>,
    pub kind: ChangeKindG,
    /// Attribute name, `tags`, `class`, `status` (null for whole-CI and relationship events).
    pub field: Option<String>,
    pub relationship: Option<RelKeyG>,
    pub old: Option<Json<Value>>,
    pub new: Option<Json<Value>>,
    pub source: String,
    pub run_id: Option<String>,
}

impl From<m::HistoryEntry> for HistoryEntryG {
    fn from(h: m::HistoryEntry) -> Self {
        HistoryEntryG {
            ci: ID(h.ci.0),
            at: h.at,
            kind: h.kind.into(),
            field: h.field,
            relationship: h.relationship.map(|k| RelKeyG {
                rel_type: k.rel_type.into(),
                from: ID(k.from.0),
                to: ID(k.to.0),
            }),
            old: h.old.map(Json),
            new: h.new.map(Json),
            source: h.source.0,
            run_id: h.run_id.map(|r| r.0),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct HistoryEdge {
    pub cursor: String,
    pub node: HistoryEntryG,
}

#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct HistoryConnection {
    pub total_count: usize,
    pub page_info: PageInfo,
    pub edges: Vec<HistoryEdge>,
}

#[ComplexObject]
impl HistoryConnection {
    async fn nodes(&self) -> Vec<HistoryEntryG> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

impl HistoryConnection {
    pub fn from_page(p: st::Page<m::HistoryEntry>) -> Self {
        let cursors: Vec<String> = p.items.iter().map(|(c, _)| c.clone()).collect();
        HistoryConnection {
            total_count: p.total_count,
            page_info: PageInfo::from_cursors(&cursors, p.has_next_page, p.has_previous_page),
            edges: p
                .items
                .into_iter()
                .map(|(cursor, h)| HistoryEdge {
                    cursor,
                    node: h.into(),
                })
                .collect(),
        }
    }
}

/// A CI reached by a traversal.
#[derive(Clone, Debug)]
pub struct ReachedCi {
    pub id: m::CiId,
    pub depth: u32,
    pub via: Option<m::CiId>,
}

#[Object(name = "Dependency")]
impl ReachedCi {
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.id).await
    }
    async fn id(&self) -> ID {
        ID(self.id.0.clone())
    }
    /// Hops from the start CI (≥ 1).
    async fn depth(&self) -> u32 {
        self.depth
    }
    /// The CI it was reached from.
    async fn via(&self) -> Option<ID> {
        self.via.as_ref().map(|v| ID(v.0.clone()))
    }
}

/// A business service: a CI of class BusinessService with attributes `criticality` (1–5),
/// `owner`, `sla_target`, and members linked by `member MEMBER_OF service`.
#[derive(Clone, Debug)]
pub struct BusinessServiceObj(pub CiObj);

pub fn criticality_of(ci: &m::Ci) -> Option<i32> {
    st::analysis::criticality_of(ci).map(|c| c as i32)
}

/// A service's SLA target as text (numbers are printed as they are).
pub fn sla_target_of(ci: &m::Ci) -> Option<String> {
    match ci.attr("sla_target")? {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[Object(name = "BusinessService")]
impl BusinessServiceObj {
    async fn id(&self) -> ID {
        ID(self.0 .0.id.0.clone())
    }
    async fn name(&self) -> &str {
        &self.0 .0.name
    }
    /// 1 (highest) – 5.
    async fn criticality(&self) -> Option<i32> {
        criticality_of(&self.0 .0)
    }
    async fn owner(&self) -> Option<String> {
        self.0 .0.attr_str("owner").map(str::to_string)
    }
    /// Free text, e.g. `99.9%` or `4h restore`.
    async fn sla_target(&self) -> Option<String> {
        sla_target_of(&self.0 .0)
    }
    /// The CI lifecycle status (ACTIVE, STALE, RETIRED); see `operationalStatus` for how the
    /// service is doing.
    async fn status(&self) -> CiStatusG {
        self.0 .0.status.into()
    }
    /// How the service is doing now, from every open alert through the impact engine (OK,
    /// DEGRADED, AT_RISK, DOWN); `serviceStatus` says why.
    async fn operational_status(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::live::OperationalStatusG> {
        let now = crate::state(ctx)?.live.services_now().await.api()?;
        Ok(now
            .get(&self.0 .0.id)
            .copied()
            .unwrap_or(cmdb_events::OperationalStatus::Ok)
            .into())
    }
    /// The service as a CI (history, relationships, attributes).
    async fn ci(&self) -> CiObj {
        self.0.clone()
    }
    /// How membership is decided (MANUAL, RULE, ENTRY_POINT) and the mapper's last result.
    async fn definition(&self) -> crate::services::ServiceDefinitionObj {
        crate::services::ServiceDefinitionObj((*self.0 .0).clone())
    }
    /// CIs that are MEMBER_OF this service (batched across services).
    async fn members(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        let args = RelArgs {
            direction: st::Direction::In,
            types: vec![m::RelType::MemberOf],
            include_closed: false,
            from_ends: true,
            to_ends: false,
        };
        let batch = level_rels(ctx, &self.0, args).await?;
        let ends = batch.ends.clone().unwrap_or_default();
        let mut out = Vec::new();
        for r in batch
            .of(&self.0 .0.id)
            .iter()
            .filter(|r| r.to == self.0 .0.id)
        {
            match ends.get(&r.from) {
                Some(ci) => out.push(CiObj(ci.clone(), batch.ends_level.clone())),
                None => out.extend(ctx.load_ci(&r.from).await?),
            }
        }
        Ok(out)
    }
}

/// An affected business service and why.
#[derive(Clone, Debug)]
pub struct ImpactedService(pub m::impact::ServiceImpact);

#[Object]
impl ImpactedService {
    async fn service(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<BusinessServiceObj>> {
        Ok(ctx.load_ci(&self.0.service).await?.map(BusinessServiceObj))
    }
    async fn service_id(&self) -> ID {
        ID(self.0.service.0.clone())
    }
    async fn severity(&self) -> SeverityG {
        self.0.severity.into()
    }
    /// Hops from the nearest failing CI.
    async fn depth(&self) -> u32 {
        self.0.depth
    }
    /// CI-id chains `failing CI, …, service` that explain the impact (shortest first-found,
    /// lexicographic order).
    async fn paths(&self) -> Vec<Vec<ID>> {
        self.0
            .paths
            .iter()
            .map(|p| p.iter().map(|c| ID(c.0.clone())).collect())
            .collect()
    }
    /// More explaining chains exist than were returned.
    async fn paths_truncated(&self) -> bool {
        self.0.paths_truncated
    }
    /// CIs between the failure and the service on its shortest failure chains.
    async fn breadth(&self) -> u32 {
        self.0.breadth
    }
    /// The service's criticality, 1 (highest) – 5.
    async fn criticality(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<i32>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .and_then(|c| criticality_of(&c.0)))
    }
    async fn owner(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .and_then(|c| c.0.attr_str("owner").map(str::to_string)))
    }
    async fn sla_target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .and_then(|c| sla_target_of(&c.0)))
    }
    async fn name(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        Ok(ctx
            .load_ci(&self.0.service)
            .await?
            .map(|c| c.0.name.clone()))
    }
    /// The relationships on this service's shortest failure chains (all of them, not only the
    /// returned `paths`), each `from -[type]-> to` as stored.
    async fn path_edges(&self) -> Vec<crate::analysis::ChainHop> {
        self.0.path_edges.iter().map(Into::into).collect()
    }
    /// Those of `pathEdges` that rest on host-level evidence only: a connection seen on a host
    /// without the process holding it (TCP-MIB without process ids, SSH without root), so the
    /// dependency it stands for is a guess. Empty when every hop rests on facts.
    async fn host_level_edges(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::analysis::ChainHop>> {
        let s = crate::state(ctx)?;
        let found = cmdb_store::analysis::host_level_edges(s.store.as_ref(), &self.0.path_edges)
            .await
            .api()?;
        Ok(found.iter().map(Into::into).collect())
    }
    /// Whether any hop of the answer rests on host-level evidence only (see `hostLevelEdges`).
    async fn rests_on_host_level_evidence(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        let s = crate::state(ctx)?;
        Ok(
            !cmdb_store::analysis::host_level_edges(s.store.as_ref(), &self.0.path_edges)
                .await
                .api()?
                .is_empty(),
        )
    }
}

/// A pool or cluster (a CI with PART_OF members) that lost members or redundancy.
#[derive(Clone, Debug)]
pub struct GroupImpactG(pub m::impact::GroupImpact);

#[Object(name = "GroupImpact")]
impl GroupImpactG {
    async fn group(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.0.group).await
    }
    async fn group_id(&self) -> ID {
        ID(self.0.group.0.clone())
    }
    async fn class(&self) -> Option<CiClassG> {
        self.0.class.map(Into::into)
    }
    /// Members (PART_OF) in all.
    async fn members(&self) -> u32 {
        self.0.members
    }
    /// Members DOWN in this answer.
    async fn down(&self) -> u32 {
        self.0.down
    }
    /// Members that must be up (the group's `min_up`, default all).
    async fn min_up(&self) -> u32 {
        self.0.min_up
    }
    /// With members down and at most this many up, the group is AT_RISK (the group's
    /// `at_risk_up`, default `minUp`; 0 for inferred network paths: DEGRADED while one works).
    async fn at_risk_up(&self) -> u32 {
        self.0.at_risk_up
    }
    async fn severity(&self) -> SeverityG {
        self.0.severity.into()
    }
}

#[derive(Clone, Debug)]
pub struct ImpactedCi(pub m::impact::AffectedCi);

#[Object(name = "ImpactedCI")]
impl ImpactedCi {
    async fn ci(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<CiObj>> {
        ctx.load_ci(&self.0.id).await
    }
    async fn id(&self) -> ID {
        ID(self.0.id.0.clone())
    }
    async fn class(&self) -> Option<CiClassG> {
        self.0.class.map(Into::into)
    }
    async fn depth(&self) -> u32 {
        self.0.depth
    }
    async fn severity(&self) -> SeverityG {
        self.0.severity.into()
    }
}

#[derive(SimpleObject, Clone, Debug)]
pub struct ClassCount {
    pub class: CiClassG,
    pub count: usize,
}

/// The answer to "what breaks if these fail".
#[derive(Clone, Debug)]
pub struct ImpactReportObj {
    pub report: Arc<m::impact::ImpactReport>,
    pub max_depth: u32,
}

#[Object(name = "ImpactReport")]
impl ImpactReportObj {
    async fn failing(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CiObj>> {
        ctx.load_cis(&self.report.failing).await
    }
    async fn failing_ids(&self) -> Vec<ID> {
        self.report
            .failing
            .iter()
            .map(|c| ID(c.0.clone()))
            .collect()
    }
    /// Affected business services, worst and nearest first.
    async fn services(&self) -> Vec<ImpactedService> {
        self.report
            .services
            .iter()
            .cloned()
            .map(ImpactedService)
            .collect()
    }
    /// Affected CIs (the failing ones excluded), nearest first; at most `first` (default and
    /// maximum: the page size cap).
    async fn affected(
        &self,
        ctx: &Context<'_>,
        class: Option<CiClassG>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<ImpactedCi>> {
        let state = ctx.data::<ApiState>()?;
        let limit = match first {
            Some(_) => state.page_size(first, None)?,
            None => state.limits.max_page_size,
        };
        Ok(self
            .report
            .affected
            .iter()
            .filter(|a| class.map(|c| a.class == Some(c.into())).unwrap_or(true))
            .take(limit)
            .cloned()
            .map(ImpactedCi)
            .collect())
    }
    async fn affected_count(&self) -> usize {
        self.report.affected.len()
    }
    async fn affected_by_class(&self) -> Vec<ClassCount> {
        let mut counts: std::collections::BTreeMap<m::CiClass, usize> = Default::default();
        for a in &self.report.affected {
            if let Some(c) = a.class {
                *counts.entry(c).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .map(|(c, n)| ClassCount {
                class: c.into(),
                count: n,
            })
            .collect()
    }
    async fn max_depth(&self) -> u32 {
        self.max_depth
    }
    /// Pools and clusters in the answer that lost members, by id.
    async fn groups(&self) -> Vec<GroupImpactG> {
        self.report
            .groups
            .iter()
            .cloned()
            .map(GroupImpactG)
            .collect()
    }
}
