//! Identification and reconciliation: an observation plus a read-only view of the current graph
//! becomes a [`Delta`] (what to write) and one [`Explanation`] per record (why).
//!
//! Pure: the view is the only input besides the observation, and nothing is written here.
//! The store applies the delta atomically (or not at all, for a dry run).
//!
//! The algorithm, per record (parents before dependents):
//! 1. A record carrying a known `id` matches that CI.
//! 2. Otherwise the class's rules are tried strongest first. A candidate found by a rule is
//!    rejected when a *stronger* rule has values on both sides that disagree (same IP, different
//!    serial: two machines). The first rule with an acceptable candidate wins; the explanation
//!    names it and the identifier values that matched.
//! 3. Further acceptable candidates found by any rule are the same thing seen twice (an LLDP
//!    placeholder and an FDB placeholder of one switch): they are merged into the winner, their
//!    dependents re-homed or merged with the winner's, and their ids become aliases.
//! 4. No candidate: a new CI, its id derived from its strongest identifier (deterministic).
//! 5. Attributes merge under source precedence: a lower-ranked source never overwrites a value
//!    set by a higher-ranked one; placeholders never overwrite at all.

use crate::attrs;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::ci::{Attribute, Ci, CiStatus, Identification, IdentificationOutcome};
use crate::class::{CiClass, IdentRule};
use crate::history::{ChangeKind, HistoryEntry};
use crate::identify::{identifier_key, rule_values};
use crate::ids::{CiId, RunId, Source};
use crate::observation::{Observation, Record, RelationshipObs, Scope};
use crate::rel::{Evidence, EvidenceKind, RelKey, RelStatus, RelType, Relationship};
use crate::sighting::Sighted;
use crate::time::Timestamp;

/// Read-only access to the current graph, as reconciliation needs it.
pub trait CurrentView {
    /// A CI by id. Ids of CIs merged away resolve to the CI that absorbed them.
    fn ci(&self, id: &CiId) -> Result<Option<Ci>, ViewError>;
    /// The CIs holding an identifier key.
    fn lookup(&self, key: &str) -> Result<Vec<CiId>, ViewError>;
    fn relationship(&self, key: &RelKey) -> Result<Option<Relationship>, ViewError>;
    /// CIs identified within `parent`, each with its identifier keys.
    fn dependents(&self, parent: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError>;
    /// Relationships of type `rel_type` into `to`, whatever their status.
    fn incoming(&self, to: &CiId, rel_type: RelType) -> Result<Vec<Relationship>, ViewError>;
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("reading the current graph failed: {0}")]
pub struct ViewError(pub String);

/// Source ranking, highest first. Unknown sources rank below every listed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Precedence(pub Vec<String>);

impl Default for Precedence {
    /// manual > import > ssh = local > snmp > sweep (ssh and local are the same agentless
    /// view of a host, so `local` follows `ssh`).
    fn default() -> Self {
        Precedence(
            ["manual", "import", "ssh", "local", "snmp", "sweep"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        )
    }
}

impl Precedence {
    /// Lower is stronger.
    pub fn rank(&self, source: &Source) -> usize {
        self.0
            .iter()
            .position(|s| s == source.as_str())
            .unwrap_or(self.0.len())
    }
    /// May `incoming` overwrite a value set by `existing`?
    pub fn may_overwrite(&self, incoming: &Source, existing: &Source) -> bool {
        self.rank(incoming) <= self.rank(existing)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub precedence: Precedence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WriteKind {
    Created,
    Updated,
    /// Seen again, nothing but last-seen changed.
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiWrite {
    /// The full new state.
    pub ci: Ci,
    pub kind: WriteKind,
    /// Only `last_seen` differs from what is stored (a store may write just that column).
    #[serde(default)]
    pub touch_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelWrite {
    pub rel: Relationship,
    pub kind: WriteKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierEntry {
    pub key: String,
    pub ci: CiId,
    /// The parent a dependent CI is identified within.
    pub parent: Option<CiId>,
}

/// `from` was found to be the same CI as `into`: the store re-points its relationships,
/// sightings and history to `into`, drops its identifiers and keeps `from` as an alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merge {
    pub from: CiId,
    pub into: CiId,
}

/// What to write. Applied atomically by a store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub source: Source,
    pub run_id: RunId,
    pub at: Timestamp,
    pub scope: Scope,
    /// Merges first, in order (parents before their dependents).
    pub merges: Vec<Merge>,
    pub cis: Vec<CiWrite>,
    /// Identifier keys to add. For a CI that absorbed or re-homed another, these include the
    /// rewritten keys; the store drops every key of a merged-away CI and of re-homed dependents
    /// before inserting these.
    pub identifiers: Vec<IdentifierEntry>,
    /// Dependents whose parent was merged away: their old keys are replaced.
    pub rehomed: Vec<CiId>,
    pub relationships: Vec<RelWrite>,
    /// Seen, but nothing to write (not even last-seen): placeholders matching existing CIs and
    /// the relationships they imply. Stores record them as sightings only, so staleness stays
    /// right without rewriting rows the observation did not change.
    #[serde(default)]
    pub seen_cis: Vec<CiId>,
    #[serde(default)]
    pub seen_relationships: Vec<RelKey>,
    pub history: Vec<HistoryEntry>,
}

impl Delta {
    pub fn count(&self, kind: WriteKind) -> usize {
        self.cis.iter().filter(|w| w.kind == kind).count()
    }
    pub fn rel_count(&self, kind: WriteKind) -> usize {
        self.relationships.iter().filter(|w| w.kind == kind).count()
    }
    /// The CIs this delta counts as seen by its source (for scoped staleness): those it writes
    /// and those it saw unchanged.
    pub fn sighted_cis(&self) -> impl Iterator<Item = &CiId> {
        self.cis
            .iter()
            .map(|w| &w.ci.id)
            .chain(self.seen_cis.iter())
    }
    /// The relationships this delta counts as seen by its source: those it writes ACTIVE and
    /// those it saw unchanged. A relationship it closes (a host-level connection handed to its
    /// process) is not a sighting.
    pub fn sighted_relationships(&self) -> impl Iterator<Item = RelKey> + '_ {
        self.relationships
            .iter()
            .filter(|w| w.rel.status == RelStatus::Active)
            .map(|w| w.rel.key())
            .chain(self.seen_relationships.iter().cloned())
    }
    /// Everything this delta counts as seen by its source (`sighted_cis`, then
    /// `sighted_relationships`).
    pub fn sighted(&self) -> impl Iterator<Item = Sighted> + '_ {
        self.sighted_cis()
            .cloned()
            .map(Sighted::Ci)
            .chain(self.sighted_relationships().map(Sighted::Relationship))
    }
    pub fn is_empty(&self) -> bool {
        self.merges.is_empty()
            && self.cis.is_empty()
            && self.relationships.is_empty()
            && self.identifiers.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Outcome {
    /// Matched an existing CI (or one created earlier in the same observation).
    Matched {
        rule: String,
        identifiers: BTreeMap<String, String>,
    },
    Created {
        reason: String,
    },
    Rejected {
        code: String,
        field: Option<String>,
        message: String,
    },
}

/// Why a record became what it became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    pub record: String,
    pub class: Option<CiClass>,
    pub ci: Option<CiId>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// CIs merged into this one because the record proved them the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<CiId>,
    /// Candidates passed over, and why (conflicting stronger identifiers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Explanation {
    /// The decision in one sentence, as `upsertCi` returns it and a CI's recorded
    /// [`Identification`] keeps it: `matched by rule `serial_number` (serial_number=SN1)`,
    /// `created: no existing device matched …`, with `; merged ci_a, ci_b into it` when the
    /// record proved other CIs to be this one.
    pub fn sentence(&self) -> String {
        let mut text = match &self.outcome {
            Outcome::Created { reason } => format!("created: {reason}"),
            Outcome::Matched { rule, identifiers } => {
                let ids: Vec<String> = identifiers
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                format!("matched by rule `{rule}` ({})", ids.join(", "))
            }
            Outcome::Rejected { message, .. } => format!("rejected: {message}"),
        };
        if !self.merged.is_empty() {
            let merged: Vec<&str> = self.merged.iter().map(CiId::as_str).collect();
            text.push_str(&format!("; merged {} into it", merged.join(", ")));
        }
        text
    }
}

/// Is a match by rule `rule` a new decision about a CI whose recorded identification is
/// `stored`? Only when nothing is recorded, or `rule` is stronger (earlier in `rules`) than the
/// recorded one: a match by the same or a weaker rule confirms what is known (two sources that
/// match one host by different rules — SSH by serial number, SNMP by MAC — do not rewrite it
/// on every run).
pub fn is_new_match(rule: &str, stored: Option<&Identification>, rules: &[IdentRule]) -> bool {
    let rank = |name: Option<&str>| {
        name.and_then(|n| rules.iter().position(|r| r.name == n))
            .unwrap_or(usize::MAX)
    };
    match stored {
        None => true,
        Some(s) => rank(Some(rule)) < rank(s.rule.as_deref()),
    }
}

/// A record or relationship that could not be used. Nothing from it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    /// Record key (or `from->to` for a relationship).
    pub record: String,
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconciled {
    pub delta: Delta,
    pub explanations: Vec<Explanation>,
    pub errors: Vec<RecordError>,
}

/// Reconcile one observation against the current graph.
pub fn reconcile(
    obs: &Observation,
    view: &dyn CurrentView,
    policy: &Policy,
) -> Result<Reconciled, ViewError> {
    let mut r = Reconciler::new(obs, view, policy);
    r.run()?;
    Ok(r.finish())
}

struct Working {
    ci: Ci,
    original: Option<Ci>,
}

struct Reconciler<'a> {
    obs: &'a Observation,
    view: &'a dyn CurrentView,
    policy: &'a Policy,
    at: Timestamp,
    cis: HashMap<CiId, Working>,
    order: Vec<CiId>,
    /// Identifier keys added in this observation.
    local_index: HashMap<String, Vec<CiId>>,
    new_identifiers: Vec<IdentifierEntry>,
    known_keys: HashSet<(String, CiId)>,
    aliases: HashMap<CiId, CiId>,
    merges: Vec<Merge>,
    rehomed: Vec<CiId>,
    rels: BTreeMap<RelKey, (Relationship, Option<Relationship>)>,
    history: Vec<HistoryEntry>,
    explanations: Vec<Explanation>,
    errors: Vec<RecordError>,
    record_ids: HashMap<String, CiId>,
    /// CIs this observation actually saw (created, matched, merged into). Others in `cis` were
    /// only looked at — references and rejected candidates — and are not written or sighted.
    touched: HashSet<CiId>,
    /// The processes known to run on a host: this observation's and the graph's.
    host_processes: HashMap<CiId, HashSet<CiId>>,
}

fn err(record: &str, code: &str, field: Option<&str>, message: impl Into<String>) -> RecordError {
    RecordError {
        record: record.to_string(),
        code: code.to_string(),
        field: field.map(str::to_string),
        message: message.into(),
    }
}

/// How many parents up record `i`'s chain of `parent` keys goes within the observation
/// (`usize::MAX` for a chain that is broken, cyclic or deeper than 16).
fn nesting_depth(recs: &[Record], by_key: &HashMap<&str, usize>, i: usize) -> usize {
    let mut d = 0;
    let mut cur = i;
    while let Some(p) = recs[cur].parent.as_deref() {
        match by_key.get(p) {
            Some(&pi) if d < 16 => {
                cur = pi;
                d += 1;
            }
            _ => return usize::MAX,
        }
    }
    d
}
/// A record's CI and how it was identified.
type Identified = (CiId, Explanation);

/// A matching candidate: the CI, the index of the rule that found it, and the identifier.
type Candidate = (CiId, usize, BTreeMap<String, String>);

/// Why identifying one record stopped: the record is rejected (the observation goes on
/// without it), or the current graph could not be read (reconciliation fails).
enum Rejection {
    Record(RecordError),
    View(ViewError),
}

impl From<ViewError> for Rejection {
    fn from(e: ViewError) -> Self {
        Rejection::View(e)
    }
}

/// The values of each of `rules` the record offers, by rule index (rules without values left
/// out), strongest first.
fn rule_values_of(rec: &Record, rules: &[IdentRule]) -> Vec<(usize, Vec<String>)> {
    rules
        .iter()
        .enumerate()
        .map(|(ri, rule)| (ri, rule_values(rule, &|a| record_value(rec, a))))
        .filter(|(_, values)| !values.is_empty())
        .collect()
}

/// The explanation of a record matched by its `id`.
fn matched_by_id(record: &str, class: Option<CiClass>, found: CiId) -> Explanation {
    let ids = BTreeMap::from([("id".to_string(), found.to_string())]);
    Explanation {
        record: record.into(),
        class,
        ci: Some(found),
        outcome: Outcome::Matched {
            rule: "id".into(),
            identifiers: ids,
        },
        merged: vec![],
        notes: vec![],
    }
}

/// Attributes that change on their own (counters, uptimes, pids): kept current, but their
/// changes are not history and do not make a CI count as updated.
pub const VOLATILE_ATTRIBUTES: &[&str] = &[
    "uptime_seconds",
    "pid",
    "memory_free_bytes",
    "load_average",
    "boot_time",
];

fn is_volatile(key: &str) -> bool {
    VOLATILE_ATTRIBUTES.contains(&key)
}

/// Look an identifying attribute up on a record: identifiers, then attributes, then `name`.
fn record_value(rec: &Record, attr: &str) -> Option<Value> {
    rec.identifiers
        .get(attr)
        .or_else(|| rec.attributes.get(attr))
        .cloned()
        .or_else(|| {
            if attr == "name" {
                rec.name.clone().map(Value::String)
            } else {
                None
            }
        })
}

fn ci_values(ci: &Ci, rule: &IdentRule) -> Vec<String> {
    rule_values(rule, &|a| {
        ci.attr(a).cloned().or_else(|| {
            if a == "name" {
                Some(Value::String(ci.name.clone()))
            } else {
                None
            }
        })
    })
}

/// Do two value sets for one rule disagree? (Both present and no shared value.)
fn disagree(a: &[String], b: &[String]) -> bool {
    !a.is_empty() && !b.is_empty() && !a.iter().any(|x| b.contains(x))
}

/// A display name when the record does not give one.
fn default_name(class: CiClass, rec: &Record) -> Option<String> {
    let s = |a: &str| {
        record_value(rec, a).and_then(|v| match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(items) => items.first().and_then(|v| v.as_str().map(str::to_string)),
            _ => None,
        })
    };
    match class {
        CiClass::Host | CiClass::NetworkDevice => s("hostname")
            .or_else(|| s("fqdn"))
            .or_else(|| s("ip_addresses"))
            .or_else(|| s("serial_number"))
            .or_else(|| s("mac_addresses")),
        CiClass::Interface => s("if_name")
            .or_else(|| s("if_descr"))
            .or_else(|| s("mac_address"))
            .or_else(|| s("if_index").map(|i| format!("if{i}"))),
        CiClass::IpAddress => s("address"),
        CiClass::Subnet => s("cidr"),
        CiClass::Process => s("service_unit").or_else(|| s("executable")),
        CiClass::ListeningEndpoint => match (s(attrs::PROTOCOL), s(attrs::PORT)) {
            (Some(p), Some(n)) => Some(format!("{}/{}", p.to_lowercase(), n)),
            _ => None,
        },
        CiClass::SoftwarePackage => s("package_name"),
        CiClass::Container => s("container_name").or_else(|| s("container_id")),
        CiClass::Application | CiClass::BusinessService | CiClass::Cluster => s("name"),
    }
}

impl<'a> Reconciler<'a> {
    fn new(obs: &'a Observation, view: &'a dyn CurrentView, policy: &'a Policy) -> Self {
        Reconciler {
            obs,
            view,
            policy,
            at: obs.observed_at,
            cis: HashMap::new(),
            order: Vec::new(),
            local_index: HashMap::new(),
            new_identifiers: Vec::new(),
            known_keys: HashSet::new(),
            aliases: HashMap::new(),
            merges: Vec::new(),
            rehomed: Vec::new(),
            rels: BTreeMap::new(),
            history: Vec::new(),
            explanations: Vec::new(),
            errors: Vec::new(),
            record_ids: HashMap::new(),
            touched: HashSet::new(),
            host_processes: HashMap::new(),
        }
    }

    fn src(&self) -> &Source {
        &self.obs.source
    }

    fn hist(
        &mut self,
        ci: &CiId,
        kind: ChangeKind,
        field: Option<&str>,
        old: Option<Value>,
        new: Option<Value>,
    ) {
        self.history.push(HistoryEntry {
            ci: ci.clone(),
            at: self.at,
            kind,
            field: field.map(str::to_string),
            relationship: None,
            old,
            new,
            source: self.obs.source.clone(),
            run_id: Some(self.obs.run_id.clone()),
        });
    }

    fn resolve(&self, id: &CiId) -> CiId {
        let mut cur = id.clone();
        let mut hops = 0;
        while let Some(next) = self.aliases.get(&cur) {
            cur = next.clone();
            hops += 1;
            if hops > 64 {
                break;
            }
        }
        cur
    }

    /// Load a CI into the working set (from the view on first use).
    fn load(&mut self, id: &CiId) -> Result<Option<CiId>, ViewError> {
        let id = self.resolve(id);
        if self.cis.contains_key(&id) {
            return Ok(Some(id));
        }
        match self.view.ci(&id)? {
            Some(ci) => {
                let real = ci.id.clone();
                if !self.cis.contains_key(&real) {
                    self.order.push(real.clone());
                    self.cis.insert(
                        real.clone(),
                        Working {
                            ci: ci.clone(),
                            original: Some(ci),
                        },
                    );
                }
                Ok(Some(real))
            }
            None => Ok(None),
        }
    }

    fn lookup(&mut self, key: &str) -> Result<Vec<CiId>, ViewError> {
        let mut out: Vec<CiId> = Vec::new();
        for id in self.view.lookup(key)? {
            let id = self.resolve(&id);
            if !out.contains(&id) {
                out.push(id);
            }
        }
        if let Some(local) = self.local_index.get(key) {
            for id in local.clone() {
                let id = self.resolve(&id);
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    fn add_key(&mut self, key: String, ci: &CiId, parent: Option<&CiId>) {
        if self.known_keys.insert((key.clone(), ci.clone())) {
            self.local_index
                .entry(key.clone())
                .or_default()
                .push(ci.clone());
            self.new_identifiers.push(IdentifierEntry {
                key,
                ci: ci.clone(),
                parent: parent.cloned(),
            });
        }
    }

    fn run(&mut self) -> Result<(), ViewError> {
        let order = self.record_order();
        for idx in order {
            let rec = &self.obs.records[idx];
            match self.identify(rec) {
                Ok((id, explanation)) => {
                    self.record_ids.insert(rec.key.clone(), id);
                    self.explanations.push(explanation);
                }
                Err(Rejection::View(e)) => return Err(e),
                Err(Rejection::Record(e)) => {
                    self.explanations.push(Explanation {
                        record: rec.key.clone(),
                        class: rec.class,
                        ci: None,
                        outcome: Outcome::Rejected {
                            code: e.code.clone(),
                            field: e.field.clone(),
                            message: e.message.clone(),
                        },
                        merged: vec![],
                        notes: vec![],
                    });
                    self.errors.push(e);
                }
            }
        }
        self.relationships()?;
        Ok(())
    }

    /// Parents before dependents; records whose parent chain is broken come last and fail.
    fn record_order(&mut self) -> Vec<usize> {
        let recs = &self.obs.records;
        let mut by_key: HashMap<&str, usize> = HashMap::new();
        let mut duplicate = HashSet::new();
        for (i, r) in recs.iter().enumerate() {
            if by_key.insert(r.key.as_str(), i).is_some() {
                duplicate.insert(i);
            }
        }
        let depth: Vec<usize> = (0..recs.len())
            .map(|i| nesting_depth(recs, &by_key, i))
            .collect();
        let mut idx: Vec<usize> = (0..recs.len()).collect();
        idx.sort_by_key(|&i| (depth[i], i));
        for i in duplicate {
            let key = &recs[i].key;
            self.errors.push(err(
                key,
                "DUPLICATE_KEY",
                Some("key"),
                format!(
                    "record key `{key}` is used by more than one record; later ones are ignored"
                ),
            ));
        }
        let first_of: HashSet<usize> = by_key.values().copied().collect();
        idx.retain(|i| first_of.contains(i));
        idx
    }

    /// Find or create the CI a record stands for: by id, else by its identifier keys, strongest
    /// rule first (further candidates it proves to be the same thing are merged in).
    fn identify(&mut self, rec: &Record) -> Result<Identified, Rejection> {
        let key = rec.key.as_str();
        let Some(class) = rec.class else {
            return self.identify_reference(rec);
        };
        let rules = class.rules();
        let parent = self.parent_of(rec, class)?;
        let per_rule = rule_values_of(rec, rules.rules);
        // 1. By id.
        if let Some(found) = self.match_by_id(rec, class, parent.as_ref(), &per_rule)? {
            return Ok(found);
        }
        if per_rule.is_empty() && rec.id.is_none() {
            let wanted: Vec<String> = rules.rules.iter().map(|r| r.attributes.join("+")).collect();
            return Err(Rejection::Record(err(
                key,
                "MISSING_IDENTIFIERS",
                Some("identifiers"),
                format!(
                    "a {class} needs one of these identifiers: {}",
                    wanted.join(", ")
                ),
            )));
        }
        // 2. Candidates by rule, strongest first.
        let mut notes = Vec::new();
        let (winner, others) =
            self.candidates(rec, class, parent.as_ref(), &per_rule, &mut notes)?;
        // The rule a created CI's id derives from: the strongest its record offers.
        let created_rule = per_rule.first().map(|(ri, _)| rules.rules[*ri].name);
        let (id, outcome) = match winner {
            Some((id, ri, ids)) => {
                self.update(&id, rec, class)?;
                let rule = rules.rules[ri].name.to_string();
                (
                    id,
                    Outcome::Matched {
                        rule,
                        identifiers: ids,
                    },
                )
            }
            None => self.create_for(rec, class, parent.as_ref(), &per_rule)?,
        };
        // 3. Merge further candidates that the record proves to be the same thing.
        let mut merged = Vec::new();
        for other in others {
            if other != id && self.mergeable(&id, &other, rules.rules) {
                self.merge(&other, &id, parent.as_ref(), class)?;
                merged.push(other);
            }
        }
        self.index(&id, class, parent.as_ref(), &per_rule);
        let explanation = Explanation {
            record: key.into(),
            class: Some(class),
            ci: Some(id.clone()),
            outcome,
            merged,
            notes,
        };
        self.record_identification(&id, rec, rules.rules, &explanation, created_rule);
        Ok((id, explanation))
    }

    /// A record without a class is a bare reference to an existing CI by id: used as a
    /// relationship end, never modified.
    fn identify_reference(&mut self, rec: &Record) -> Result<Identified, Rejection> {
        let key = rec.key.as_str();
        let Some(id) = &rec.id else {
            return Err(Rejection::Record(err(
                key,
                "MISSING_FIELD",
                Some("class"),
                "record has no class",
            )));
        };
        let Some(found) = self.load(id)? else {
            return Err(Rejection::Record(err(
                key,
                "NOT_FOUND",
                Some("id"),
                format!("no CI has id `{id}`"),
            )));
        };
        Ok((found.clone(), matched_by_id(key, None, found)))
    }

    /// The CI a dependent class's record belongs to (its `parent` record, identified first).
    fn parent_of(&self, rec: &Record, class: CiClass) -> Result<Option<CiId>, Rejection> {
        let key = rec.key.as_str();
        let invalid = |message: String| {
            Rejection::Record(err(key, "INVALID_PARENT", Some("parent"), message))
        };
        match (&class.rules().parent, &rec.parent) {
            (Some(spec), Some(pkey)) => {
                let Some(pid) = self.record_ids.get(pkey) else {
                    return Err(invalid(format!(
                        "parent record `{pkey}` is missing or was rejected"
                    )));
                };
                let pid = self.resolve(pid);
                match self.cis.get(&pid).map(|w| w.ci.class) {
                    Some(pc) if !spec.classes.contains(&pc) => {
                        Err(invalid(format!("a {class} cannot belong to a {pc}")))
                    }
                    _ => Ok(Some(pid)),
                }
            }
            (Some(_), None) if rec.id.is_none() => Err(Rejection::Record(err(
                key,
                "MISSING_FIELD",
                Some("parent"),
                format!("a {class} is identified within its parent: `parent` is required"),
            ))),
            _ => Ok(None),
        }
    }

    /// The record's `id`, when it names a CI of the same family: that CI, updated.
    fn match_by_id(
        &mut self,
        rec: &Record,
        class: CiClass,
        parent: Option<&CiId>,
        per_rule: &[(usize, Vec<String>)],
    ) -> Result<Option<Identified>, Rejection> {
        let Some(id) = &rec.id else { return Ok(None) };
        let Some(found) = self.load(id)? else {
            return Ok(None);
        };
        let found_class = self.cis[&found].ci.class;
        if found_class.family() != class.family() {
            return Err(Rejection::Record(err(
                &rec.key,
                "CLASS_MISMATCH",
                Some("class"),
                format!("CI {found} is a {found_class}, not a {class}"),
            )));
        }
        self.update(&found, rec, class)?;
        self.index(&found, class, parent, per_rule);
        let explanation = matched_by_id(&rec.key, Some(class), found.clone());
        Ok(Some((found, explanation)))
    }

    /// The CIs the record's identifier keys find, strongest rule first: the winner (with the
    /// rule and the identifier that matched) and the others. A candidate whose stronger
    /// identifiers contradict the record is skipped, with a note.
    fn candidates(
        &mut self,
        rec: &Record,
        class: CiClass,
        parent: Option<&CiId>,
        per_rule: &[(usize, Vec<String>)],
        notes: &mut Vec<String>,
    ) -> Result<(Option<Candidate>, Vec<CiId>), ViewError> {
        let rules = class.rules().rules;
        let mut winner: Option<Candidate> = None;
        let mut others: Vec<CiId> = Vec::new();
        for (ri, values) in per_rule {
            let rule = &rules[*ri];
            for v in values {
                let k = identifier_key(class, parent, rule, v);
                for cand in self.lookup(&k)? {
                    let Some(cand) = self.load(&cand)? else {
                        continue;
                    };
                    if winner.as_ref().is_some_and(|w| w.0 == cand) || others.contains(&cand) {
                        continue;
                    }
                    if let Some(conflict) = self.conflict(&cand, rec, *ri, per_rule, rules) {
                        notes.push(format!("{cand} matched `{}` but {conflict}", rule.name));
                        continue;
                    }
                    if winner.is_none() {
                        let ids = BTreeMap::from([(rule.attributes.join("+"), v.clone())]);
                        winner = Some((cand, *ri, ids));
                    } else {
                        others.push(cand);
                    }
                }
            }
        }
        Ok((winner, others))
    }

    /// A new CI for a record nothing matched: the record's own id when it is free, else one
    /// derived from its strongest identifier key.
    fn create_for(
        &mut self,
        rec: &Record,
        class: CiClass,
        parent: Option<&CiId>,
        per_rule: &[(usize, Vec<String>)],
    ) -> Result<(CiId, Outcome), ViewError> {
        let rules = class.rules().rules;
        let id = match &rec.id {
            Some(given) if self.load(given)?.is_none() => given.clone(),
            _ => {
                let (ri, values) = &per_rule[0];
                let base = identifier_key(class, parent, &rules[*ri], &values[0]);
                let mut salt = 0u32;
                loop {
                    let id = CiId::derive(&base, salt);
                    if !self.cis.contains_key(&id) && self.view.ci(&id)?.is_none() {
                        break id;
                    }
                    salt += 1;
                }
            }
        };
        let tried: Vec<String> = per_rule
            .iter()
            .map(|(ri, v)| format!("{}={}", rules[*ri].name, v.join(",")))
            .collect();
        let reason = format!(
            "no existing {} matched {}",
            class.family(),
            tried.join(", ")
        );
        self.create(&id, rec, class);
        Ok((id, Outcome::Created { reason }))
    }

    /// Keep the decision on the CI when it is new (see [`Identification`]): a creation, a
    /// merge, or a match by a stronger rule than the recorded one. A placeholder (seen from
    /// elsewhere) that merely matches decides nothing about the CI, and a CI created by this
    /// observation stays CREATED unless a later record of it merges others into it.
    fn record_identification(
        &mut self,
        id: &CiId,
        rec: &Record,
        rules: &[IdentRule],
        explanation: &Explanation,
        created_rule: Option<&str>,
    ) {
        let (outcome, rule) = match &explanation.outcome {
            Outcome::Created { .. } => (
                IdentificationOutcome::Created,
                created_rule.map(str::to_string),
            ),
            Outcome::Matched { rule, .. } if explanation.merged.is_empty() => {
                (IdentificationOutcome::Matched, Some(rule.clone()))
            }
            Outcome::Matched { rule, .. } => (IdentificationOutcome::Merged, Some(rule.clone())),
            Outcome::Rejected { .. } => return,
        };
        let Some(w) = self.cis.get_mut(id) else {
            return;
        };
        if outcome == IdentificationOutcome::Matched
            && (rec.placeholder
                || w.original.is_none()
                || !is_new_match(
                    rule.as_deref().unwrap_or_default(),
                    w.ci.identification.as_ref(),
                    rules,
                ))
        {
            return;
        }
        w.ci.identification = Some(Identification {
            outcome,
            rule,
            explanation: explanation.sentence(),
            source: self.obs.source.clone(),
            run_id: Some(self.obs.run_id.clone()),
            at: self.at,
            merged: explanation.merged.clone(),
        });
    }

    /// Why candidate `cand` (found by rule `ri`) is not this record: a stronger rule disagrees.
    fn conflict(
        &self,
        cand: &CiId,
        rec: &Record,
        ri: usize,
        per_rule: &[(usize, Vec<String>)],
        rules: &[IdentRule],
    ) -> Option<String> {
        let ci = &self.cis.get(cand)?.ci;
        for (rj, values) in per_rule {
            if *rj >= ri {
                break;
            }
            let theirs = ci_values(ci, &rules[*rj]);
            if disagree(values, &theirs) {
                return Some(format!(
                    "its `{}` differs ({} vs {})",
                    rules[*rj].name,
                    theirs.join(","),
                    values.join(",")
                ));
            }
        }
        let _ = rec;
        None
    }

    /// Two existing CIs may merge when no rule has disagreeing values on both.
    fn mergeable(&self, a: &CiId, b: &CiId, rules: &[IdentRule]) -> bool {
        let (Some(a), Some(b)) = (self.cis.get(a), self.cis.get(b)) else {
            return false;
        };
        rules
            .iter()
            .all(|r| !disagree(&ci_values(&a.ci, r), &ci_values(&b.ci, r)))
    }

    fn create(&mut self, id: &CiId, rec: &Record, class: CiClass) {
        let src = self.src().clone();
        let mut ci = Ci {
            id: id.clone(),
            class,
            name: String::new(),
            status: CiStatus::Active,
            tags: BTreeSet::new(),
            attributes: BTreeMap::new(),
            sources: BTreeSet::from([src]),
            placeholder: rec.placeholder,
            first_seen: self.at,
            last_seen: self.at,
            identification: None,
        };
        let name = rec
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .or_else(|| default_name(class, rec))
            .unwrap_or_else(|| id.to_string());
        self.set_attr(&mut ci, "name", Value::String(name), false);
        for (k, v) in rec.identifiers.iter().chain(rec.attributes.iter()) {
            self.set_attr(&mut ci, k, v.clone(), false);
        }
        ci.tags = rec.tags.clone();
        ci.name = ci.attr_str("name").unwrap_or_default().to_string();
        self.history.push(HistoryEntry {
            ci: id.clone(),
            at: self.at,
            kind: ChangeKind::CiCreated,
            field: None,
            relationship: None,
            old: None,
            new: Some(Value::String(class.to_string())),
            source: self.obs.source.clone(),
            run_id: Some(self.obs.run_id.clone()),
        });
        self.order.push(id.clone());
        self.touched.insert(id.clone());
        self.cis.insert(id.clone(), Working { ci, original: None });
    }

    /// Set one attribute on a CI being built or updated, obeying precedence. Records history
    /// when `record_history` (CI creation records one CI_CREATED entry instead).
    fn set_attr(&mut self, ci: &mut Ci, key: &str, value: Value, placeholder: bool) -> bool {
        if value.is_null() {
            return false;
        }
        let src = self.obs.source.clone();
        let new_attr = Attribute {
            value: value.clone(),
            source: src.clone(),
            run_id: Some(self.obs.run_id.clone()),
            updated_at: self.at,
        };
        match ci.attributes.get(key) {
            None => {
                ci.attributes.insert(key.to_string(), new_attr);
                true
            }
            Some(existing) if existing.value == value => {
                // Same value; a stronger source takes over its provenance.
                if !placeholder
                    && self.policy.precedence.rank(&src)
                        < self.policy.precedence.rank(&existing.source)
                {
                    ci.attributes.insert(key.to_string(), new_attr);
                }
                false
            }
            Some(existing) => {
                if placeholder || !self.policy.precedence.may_overwrite(&src, &existing.source) {
                    return false;
                }
                ci.attributes.insert(key.to_string(), new_attr);
                true
            }
        }
    }

    fn update(&mut self, id: &CiId, rec: &Record, class: CiClass) -> Result<(), ViewError> {
        let Some(mut w) = self.cis.remove(id) else {
            return Ok(());
        };
        self.touched.insert(id.clone());
        let ci = &mut w.ci;
        let before = ci.clone();
        let ph = rec.placeholder;
        if let Some(name) = rec.name.clone().filter(|n| !n.trim().is_empty()) {
            self.set_attr(ci, "name", Value::String(name), ph);
        } else if ci.attr("name").is_none() {
            if let Some(name) = default_name(class, rec) {
                self.set_attr(ci, "name", Value::String(name), ph);
            }
        }
        for (k, v) in rec.identifiers.iter().chain(rec.attributes.iter()) {
            self.set_attr(ci, k, v.clone(), ph);
        }
        ci.name = ci.attr_str("name").unwrap_or(&before.name).to_string();
        for t in &rec.tags {
            ci.tags.insert(t.clone());
        }
        ci.sources.insert(self.obs.source.clone());
        if !ph {
            if ci.class != class
                && (ci.placeholder
                    || self
                        .strongest_source(&before)
                        .map(|s| self.policy.precedence.may_overwrite(&self.obs.source, &s))
                        .unwrap_or(true))
            {
                ci.class = class;
            }
            ci.placeholder = false;
        }
        if ci.status != CiStatus::Active && !ph {
            ci.status = CiStatus::Active;
        }
        // Seen from elsewhere (a placeholder) is not seen: only direct sightings move last-seen.
        if !ph {
            ci.last_seen = ci.last_seen.max(self.at);
        }
        let after = ci.clone();
        self.cis.insert(id.clone(), w);
        self.diff_history(&before, &after);
        Ok(())
    }

    fn strongest_source(&self, ci: &Ci) -> Option<Source> {
        ci.sources
            .iter()
            .min_by_key(|s| self.policy.precedence.rank(s))
            .cloned()
    }

    /// History entries for what changed between two states of one CI.
    fn diff_history(&mut self, before: &Ci, after: &Ci) {
        let id = after.id.clone();
        if before.class != after.class {
            self.hist(
                &id,
                ChangeKind::ClassChanged,
                Some("class"),
                Some(before.class.to_string().into()),
                Some(after.class.to_string().into()),
            );
        }
        if before.status != after.status {
            self.hist(
                &id,
                ChangeKind::StatusChanged,
                Some("status"),
                Some(before.status.as_str().into()),
                Some(after.status.as_str().into()),
            );
        }
        for (k, a) in after.attributes.iter().filter(|(k, _)| !is_volatile(k)) {
            match before.attributes.get(k) {
                None => self.hist(
                    &id,
                    ChangeKind::AttributeSet,
                    Some(k),
                    None,
                    Some(a.value.clone()),
                ),
                Some(b) if b.value != a.value => self.hist(
                    &id,
                    ChangeKind::AttributeChanged,
                    Some(k),
                    Some(b.value.clone()),
                    Some(a.value.clone()),
                ),
                _ => {}
            }
        }
        for t in after.tags.difference(&before.tags) {
            self.hist(
                &id,
                ChangeKind::TagAdded,
                Some("tags"),
                None,
                Some(Value::String(t.clone())),
            );
        }
    }

    /// Index every identifier the record offered, so future sightings find this CI.
    fn index(
        &mut self,
        id: &CiId,
        class: CiClass,
        parent: Option<&CiId>,
        per_rule: &[(usize, Vec<String>)],
    ) {
        let rules = class.rules().rules;
        for (ri, values) in per_rule {
            for v in values {
                let k = identifier_key(class, parent, &rules[*ri], v);
                self.add_key(k, id, parent);
            }
        }
    }

    /// Merge CI `from` into `into`, and `from`'s dependents into `into`'s.
    fn merge(
        &mut self,
        from: &CiId,
        into: &CiId,
        parent: Option<&CiId>,
        class: CiClass,
    ) -> Result<(), ViewError> {
        let Some(fw) = self.cis.remove(from) else {
            return Ok(());
        };
        self.order.retain(|x| x != from);
        let from_ci = fw.ci;
        self.absorb(into, &from_ci);
        self.touched.remove(from);
        self.touched.insert(into.clone());
        self.hist(
            into,
            ChangeKind::Merged,
            None,
            Some(Value::String(from.to_string())),
            Some(Value::String(into.to_string())),
        );
        self.aliases.insert(from.clone(), into.clone());
        self.merges.push(Merge {
            from: from.clone(),
            into: into.clone(),
        });
        // Re-key the merged CI's own identifiers onto the survivor.
        let rules = class.rules().rules;
        let per_rule: Vec<(usize, Vec<String>)> = rules
            .iter()
            .enumerate()
            .map(|(i, r)| (i, ci_values(&from_ci, r)))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        self.index(into, class, parent, &per_rule);
        self.merge_dependents(from, into)
    }

    /// The survivor `into` takes the merged CI's data: attributes it lacks or that a
    /// higher-precedence source gave the other, tags, sources and the widest seen span.
    fn absorb(&mut self, into: &CiId, from_ci: &Ci) {
        let Some(mut iw) = self.cis.remove(into) else {
            return;
        };
        let before = iw.ci.clone();
        let ci = &mut iw.ci;
        for (k, a) in &from_ci.attributes {
            let take = match ci.attributes.get(k) {
                None => true,
                Some(e) => {
                    e.value != a.value
                        && self.policy.precedence.rank(&a.source)
                            < self.policy.precedence.rank(&e.source)
                }
            };
            if take {
                ci.attributes.insert(k.clone(), a.clone());
            }
        }
        ci.name = ci.attr_str("name").unwrap_or(&before.name).to_string();
        ci.tags.extend(from_ci.tags.iter().cloned());
        ci.sources.extend(from_ci.sources.iter().cloned());
        ci.first_seen = ci.first_seen.min(from_ci.first_seen);
        ci.last_seen = ci.last_seen.max(from_ci.last_seen);
        ci.placeholder = ci.placeholder && from_ci.placeholder;
        let after = ci.clone();
        self.cis.insert(into.clone(), iw);
        self.diff_history(&before, &after);
    }

    /// The merged CI's dependents: each merges into the survivor's matching dependent, or is
    /// re-homed under the survivor.
    fn merge_dependents(&mut self, from: &CiId, into: &CiId) -> Result<(), ViewError> {
        for (child, keys) in self.view.dependents(from)? {
            let child = self.resolve(&child);
            let Some(child) = self.load(&child)? else {
                continue;
            };
            let child_class = self.cis[&child].ci.class;
            let mut target = None;
            for k in &keys {
                let rekeyed = rekey(k, from, into);
                for cand in self.lookup(&rekeyed)? {
                    if cand != child && self.load(&cand)?.is_some() {
                        target = Some(cand);
                        break;
                    }
                }
                if target.is_some() {
                    break;
                }
            }
            match target {
                Some(t) if self.mergeable(&t, &child, child_class.rules().rules) => {
                    self.merge(&child, &t, Some(into), child_class)?;
                }
                _ => {
                    self.rehomed.push(child.clone());
                    for k in &keys {
                        self.add_key(rekey(k, from, into), &child, Some(into));
                    }
                }
            }
        }
        Ok(())
    }

    fn relationships(&mut self) -> Result<(), ViewError> {
        for (rel_type, from, to, weak) in self.structural() {
            let evidence = EvidenceKind::Inventory;
            self.upsert_rel(rel_type, from, to, evidence, 1.0, Map::new(), weak);
        }
        // Host-level connections last, so the process-level ones of the same observation are
        // there to take them.
        let (host_level, rest): (Vec<_>, Vec<_>) = self
            .obs
            .relationships
            .iter()
            .partition(|r| r.rel_type == RelType::CommunicatesWith);
        for r in rest.into_iter().chain(host_level) {
            let Some((from, to)) = self.relationship_ends(r) else {
                continue;
            };
            let attrs = r.attributes.clone();
            match r.rel_type {
                RelType::CommunicatesWith => {
                    self.host_connection(from, to, r.evidence, r.confidence, attrs)?
                }
                RelType::ConnectsTo => {
                    let (f, t) = (from.clone(), to.clone());
                    self.upsert_rel(r.rel_type, f, t, r.evidence, r.confidence, attrs, false);
                    self.take_host_level(&from, &to)?;
                }
                _ => self.upsert_rel(r.rel_type, from, to, r.evidence, r.confidence, attrs, false),
            }
        }
        // Relationships of CIs merged away are re-pointed by the store; nothing to do here.
        Ok(())
    }

    /// Structural relationships implied by `parent`: (type, from, to, weak).
    fn structural(&self) -> Vec<(RelType, CiId, CiId, bool)> {
        let mut structural = Vec::new();
        for rec in &self.obs.records {
            let (Some(class), Some(pkey)) = (rec.class, rec.parent.as_ref()) else {
                continue;
            };
            let Some(spec) = &class.rules().parent else {
                continue;
            };
            let (Some(child), Some(parent)) =
                (self.record_ids.get(&rec.key), self.record_ids.get(pkey))
            else {
                continue;
            };
            let (child, parent) = (self.resolve(child), self.resolve(parent));
            let (from, to) = if spec.parent_is_from {
                (parent, child)
            } else {
                (child, parent)
            };
            structural.push((spec.rel, from, to, rec.placeholder));
        }
        structural
    }

    /// The CIs an observed relationship joins; `None` (with an error noted, unless it joins a
    /// CI to itself) when an end is unknown or the confidence is out of range.
    fn relationship_ends(&mut self, r: &RelationshipObs) -> Option<(CiId, CiId)> {
        let label = format!("{}->{}", r.from, r.to);
        let end = |this: &mut Self, key: &str, field: &str| match this.record_ids.get(key) {
            Some(id) => Some(this.resolve(id)),
            None => {
                let msg = this.unknown_end(r.rel_type, key);
                this.errors
                    .push(err(&label, "UNKNOWN_RECORD", Some(field), msg));
                None
            }
        };
        let from = end(self, &r.from, "from")?;
        let to = end(self, &r.to, "to")?;
        if from == to {
            return None;
        }
        if !(0.0..=1.0).contains(&r.confidence) || r.confidence.is_nan() {
            self.errors.push(err(
                &label,
                "INVALID_VALUE",
                Some("confidence"),
                "confidence must be between 0 and 1",
            ));
            return None;
        }
        Some((from, to))
    }

    /// The processes on `host`: those this observation places there and those the graph does.
    fn processes_on(&mut self, host: &CiId) -> Result<&HashSet<CiId>, ViewError> {
        if !self.host_processes.contains_key(host) {
            let prefix = format!("{}|", CiClass::Process.family());
            let mut procs: HashSet<CiId> = HashSet::new();
            for (id, keys) in self.view.dependents(host)? {
                if keys.iter().any(|k| k.starts_with(&prefix)) {
                    procs.insert(self.resolve(&id));
                }
            }
            for rec in &self.obs.records {
                if rec.class != Some(CiClass::Process) {
                    continue;
                }
                let parent = rec
                    .parent
                    .as_ref()
                    .and_then(|p| self.record_ids.get(p))
                    .map(|p| self.resolve(p));
                if parent.as_ref() == Some(host) {
                    if let Some(id) = self.record_ids.get(&rec.key) {
                        procs.insert(self.resolve(id));
                    }
                }
            }
            self.host_processes.insert(host.clone(), procs);
        }
        Ok(&self.host_processes[host])
    }

    /// The host a process of this observation runs on (its record's parent).
    fn host_of(&self, process: &CiId) -> Option<CiId> {
        self.obs.records.iter().find_map(|rec| {
            if rec.class != Some(CiClass::Process)
                || self
                    .record_ids
                    .get(&rec.key)
                    .map(|i| self.resolve(i))
                    .as_ref()
                    != Some(process)
            {
                return None;
            }
            rec.parent
                .as_ref()
                .and_then(|p| self.record_ids.get(p))
                .map(|p| self.resolve(p))
        })
    }

    /// A connection `host` holds to `endpoint` whose owning process the probe could not name.
    /// If a process of that host is known to hold a connection there (an active CONNECTS_TO,
    /// from this observation or the graph), the sighting is further evidence on that edge:
    /// the edge stays one and grows more certain. Otherwise it is kept as what it is, a
    /// host-level COMMUNICATES_WITH, which carries no failure (docs/impact.md).
    fn host_connection(
        &mut self,
        host: CiId,
        endpoint: CiId,
        kind: EvidenceKind,
        base: f64,
        attrs: Map<String, Value>,
    ) -> Result<(), ViewError> {
        let procs = self.processes_on(&host)?.clone();
        let mut owners: BTreeSet<CiId> = BTreeSet::new();
        for (key, (rel, _)) in &self.rels {
            if key.rel_type == RelType::ConnectsTo
                && key.to == endpoint
                && rel.status == RelStatus::Active
                && procs.contains(&key.from)
            {
                owners.insert(key.from.clone());
            }
        }
        for rel in self.view.incoming(&endpoint, RelType::ConnectsTo)? {
            let from = self.resolve(&rel.from);
            let active = match self.rels.get(&RelKey::new(
                RelType::ConnectsTo,
                from.clone(),
                endpoint.clone(),
            )) {
                Some((working, _)) => working.status == RelStatus::Active,
                None => rel.status == RelStatus::Active,
            };
            if active && procs.contains(&from) {
                owners.insert(from);
            }
        }
        if owners.is_empty() {
            self.upsert_rel(
                RelType::CommunicatesWith,
                host,
                endpoint,
                kind,
                base,
                attrs,
                false,
            );
        } else {
            for p in owners {
                self.upsert_rel(
                    RelType::ConnectsTo,
                    p,
                    endpoint.clone(),
                    kind,
                    base,
                    attrs.clone(),
                    false,
                );
            }
        }
        Ok(())
    }

    /// `process` is now known to connect to `endpoint`: a host-level COMMUNICATES_WITH its host
    /// holds there is the same connection seen without its owner. Its evidence moves onto the
    /// process's edge and the host-level edge is closed, so the sighting is counted once.
    fn take_host_level(&mut self, process: &CiId, endpoint: &CiId) -> Result<(), ViewError> {
        let Some(host) = self.host_of(process) else {
            return Ok(());
        };
        let key = RelKey::new(RelType::CommunicatesWith, host, endpoint.clone());
        if !self.rels.contains_key(&key) {
            match self.view.relationship(&key)? {
                Some(existing) if existing.status == RelStatus::Active => {
                    self.rels
                        .insert(key.clone(), (existing.clone(), Some(existing)));
                }
                _ => return Ok(()),
            }
        }
        let (host_rel, _) = self.rels.get_mut(&key).expect("present");
        if host_rel.status != RelStatus::Active {
            return Ok(());
        }
        host_rel.status = RelStatus::Closed;
        let evidence = host_rel.evidence.clone();
        let attributes = host_rel.attributes.clone();
        let (first, last) = (host_rel.first_seen, host_rel.last_seen);
        let pkey = RelKey::new(RelType::ConnectsTo, process.clone(), endpoint.clone());
        if let Some((rel, _)) = self.rels.get_mut(&pkey) {
            rel.absorb(Relationship {
                rel_type: RelType::ConnectsTo,
                from: pkey.from.clone(),
                to: pkey.to.clone(),
                status: RelStatus::Active,
                evidence,
                attributes,
                first_seen: first,
                last_seen: last,
            });
        }
        Ok(())
    }

    /// Why a relationship end could not be resolved, in the user's terms.
    fn unknown_end(&self, rel_type: RelType, key: &str) -> String {
        match self.obs.records.iter().find(|r| r.key == key) {
            Some(Record {
                class: None,
                id: Some(id),
                ..
            }) => format!("{rel_type} refers to CI `{id}`, which does not exist"),
            Some(_) => format!("{rel_type} refers to record `{key}`, which was rejected"),
            None => {
                format!("{rel_type} refers to record `{key}`, which is not in this observation")
            }
        }
    }

    /// `weak`: implied by a placeholder (the structure of something seen from elsewhere). It
    /// creates the relationship if missing but does not refresh an existing one.
    #[allow(clippy::too_many_arguments)]
    fn upsert_rel(
        &mut self,
        rel_type: RelType,
        from: CiId,
        to: CiId,
        kind: EvidenceKind,
        base: f64,
        attrs: Map<String, Value>,
        weak: bool,
    ) {
        let key = RelKey::new(rel_type, from, to);
        if !self.rels.contains_key(&key) {
            let existing = self.view.relationship(&key).unwrap_or_default();
            let working = existing.clone().unwrap_or_else(|| Relationship {
                rel_type,
                from: key.from.clone(),
                to: key.to.clone(),
                status: RelStatus::Active,
                evidence: vec![],
                attributes: Map::new(),
                first_seen: self.at,
                last_seen: self.at,
            });
            self.rels.insert(key.clone(), (working, existing));
        }
        let src = self.obs.source.clone();
        let run = self.obs.run_id.clone();
        let at = self.at;
        let (rel, original) = self.rels.get_mut(&key).expect("inserted above");
        if weak && original.is_some() {
            return;
        }
        match rel
            .evidence
            .iter_mut()
            .find(|e| e.source == src && e.kind == kind)
        {
            Some(e) => {
                // Discovered evidence grows more certain with every run that sees it again;
                // asserted evidence (manual, import, config…) is as certain as it was stated.
                if kind.is_discovered() && e.last_run.as_ref() != Some(&run) {
                    e.observations += 1;
                    e.last_run = Some(run.clone());
                }
                e.confidence = if kind.is_discovered() {
                    Evidence::reinforce(base, e.observations).max(e.confidence)
                } else {
                    base
                };
                e.last_seen = e.last_seen.max(at);
            }
            None => rel.evidence.push(Evidence {
                source: src,
                kind,
                confidence: Evidence::reinforce(base, 1),
                observations: 1,
                first_seen: at,
                last_seen: at,
                last_run: Some(run.clone()),
            }),
        }
        for (k, v) in attrs {
            rel.attributes.insert(k, v);
        }
        rel.last_seen = rel.last_seen.max(at);
        rel.status = RelStatus::Active;
    }

    fn finish(mut self) -> Reconciled {
        let (cis, seen_cis) = self.ci_writes();
        let (relationships, seen_relationships) = self.relationship_writes();
        Reconciled {
            delta: Delta {
                source: self.obs.source.clone(),
                run_id: self.obs.run_id.clone(),
                at: self.at,
                scope: self.obs.scope.clone(),
                merges: self.merges,
                cis,
                identifiers: self.new_identifiers,
                rehomed: self.rehomed,
                relationships,
                seen_cis,
                seen_relationships,
                history: self.history,
            },
            explanations: self.explanations,
            errors: self.errors,
        }
    }

    /// The touched CIs, in the order first met: written (created, updated, or only touched)
    /// or, when nothing about them changed, merely seen.
    fn ci_writes(&mut self) -> (Vec<CiWrite>, Vec<CiId>) {
        let mut cis = Vec::new();
        let mut seen_cis = Vec::new();
        for id in std::mem::take(&mut self.order) {
            if !self.touched.contains(&id) {
                continue;
            }
            let Some(w) = self.cis.remove(&id) else {
                continue;
            };
            if w.original.as_ref() == Some(&w.ci) {
                seen_cis.push(w.ci.id);
                continue;
            }
            let (kind, touch_only) = ci_write_kind(&w);
            cis.push(CiWrite {
                ci: w.ci,
                kind,
                touch_only,
            });
        }
        (cis, seen_cis)
    }

    /// The relationships met: written (with their creation, reopening or closing in history)
    /// or, when nothing about them changed, merely seen.
    fn relationship_writes(&mut self) -> (Vec<RelWrite>, Vec<RelKey>) {
        let mut relationships = Vec::new();
        let mut seen_relationships = Vec::new();
        for (key, (rel, original)) in std::mem::take(&mut self.rels) {
            if original.as_ref() == Some(&rel) {
                seen_relationships.push(key);
                continue;
            }
            let kind = match &original {
                None => {
                    let summary = Some(rel_summary(&rel));
                    self.rel_hist(&key, ChangeKind::RelationshipCreated, None, summary);
                    WriteKind::Created
                }
                Some(o) => {
                    self.status_history(&key, o.status, rel.status);
                    rel_write_kind(o, &rel)
                }
            };
            relationships.push(RelWrite { rel, kind });
        }
        (relationships, seen_relationships)
    }

    /// A relationship reopened, or closed (a host-level connection attributed to its process,
    /// see `take_host_level`).
    fn status_history(&mut self, key: &RelKey, old: RelStatus, new: RelStatus) {
        let kind = match (old, new) {
            (RelStatus::Closed, RelStatus::Active) => ChangeKind::RelationshipReopened,
            (RelStatus::Active, RelStatus::Closed) => ChangeKind::RelationshipClosed,
            _ => return,
        };
        let text = |s: RelStatus| Some(Value::String(s.as_str().into()));
        self.rel_hist(key, kind, text(old), text(new));
    }

    fn rel_hist(&mut self, key: &RelKey, kind: ChangeKind, old: Option<Value>, new: Option<Value>) {
        self.history.push(HistoryEntry {
            ci: key.from.clone(),
            at: self.at,
            kind,
            field: None,
            relationship: Some(key.clone()),
            old,
            new,
            source: self.obs.source.clone(),
            run_id: Some(self.obs.run_id.clone()),
        });
    }
}

/// How a CI's write counts: created, updated, or unchanged (only `last_seen`, volatile
/// attributes or the identification decision moved — no history, not counted as updated);
/// and whether only `last_seen` moved (`touch_only`).
fn ci_write_kind(w: &Working) -> (WriteKind, bool) {
    let Some(o) = &w.original else {
        return (WriteKind::Created, false);
    };
    let mut a = o.clone();
    a.last_seen = w.ci.last_seen;
    let touch_only = a == w.ci;
    for (k, v) in &w.ci.attributes {
        if is_volatile(k) {
            a.attributes.insert(k.clone(), v.clone());
        }
    }
    // A new identification decision is written, but is not a change of the CI's data.
    a.identification = w.ci.identification.clone();
    let kind = if a == w.ci {
        WriteKind::Unchanged
    } else {
        WriteKind::Updated
    };
    (kind, touch_only)
}

/// A relationship's write is unchanged when only its `last_seen` (and its evidence's) moved.
fn rel_write_kind(o: &Relationship, rel: &Relationship) -> WriteKind {
    let mut a = o.clone();
    a.last_seen = rel.last_seen;
    for (ae, re) in a.evidence.iter_mut().zip(rel.evidence.iter()) {
        ae.last_seen = re.last_seen;
        ae.last_run = re.last_run.clone();
    }
    if a == *rel {
        WriteKind::Unchanged
    } else {
        WriteKind::Updated
    }
}

fn rel_summary(rel: &Relationship) -> Value {
    let ev: Vec<Value> = rel
        .evidence
        .iter()
        .map(
            |e| serde_json::json!({"source": e.source, "kind": e.kind, "confidence": e.confidence}),
        )
        .collect();
    // Type and ends are in the entry's relationship key already.
    serde_json::json!({"evidence": ev})
}

/// Rewrite the parent part of a dependent's identifier key.
fn rekey(key: &str, from: &CiId, into: &CiId) -> String {
    let mut parts = key.splitn(3, '|');
    let family = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("");
    if parent == from.as_str() {
        format!("{family}|{into}|{rest}")
    } else {
        key.to_string()
    }
}

#[cfg(test)]
mod tests {
    //! Rules and precedence on a plain in-memory view: no store involved.
    use super::*;
    use crate::ids::RunId;
    use crate::observation::{Observation, Record, Scope};
    use serde_json::json;
    use std::cell::RefCell;

    #[derive(Default)]
    struct MemView {
        cis: RefCell<HashMap<CiId, Ci>>,
        keys: RefCell<HashMap<String, Vec<CiId>>>,
        rels: RefCell<BTreeMap<RelKey, Relationship>>,
        deps: RefCell<HashMap<CiId, BTreeMap<CiId, Vec<String>>>>,
    }

    impl MemView {
        fn apply(&self, d: &Delta) {
            for w in &d.cis {
                self.cis.borrow_mut().insert(w.ci.id.clone(), w.ci.clone());
            }
            for e in &d.identifiers {
                self.keys
                    .borrow_mut()
                    .entry(e.key.clone())
                    .or_default()
                    .push(e.ci.clone());
                if let Some(p) = &e.parent {
                    self.deps
                        .borrow_mut()
                        .entry(p.clone())
                        .or_default()
                        .entry(e.ci.clone())
                        .or_default()
                        .push(e.key.clone());
                }
            }
            for w in &d.relationships {
                self.rels.borrow_mut().insert(w.rel.key(), w.rel.clone());
            }
        }
        fn run(&self, o: &Observation) -> Reconciled {
            let r = reconcile(o, self, &Policy::default()).unwrap();
            self.apply(&r.delta);
            r
        }
    }

    impl CurrentView for MemView {
        fn ci(&self, id: &CiId) -> Result<Option<Ci>, ViewError> {
            Ok(self.cis.borrow().get(id).cloned())
        }
        fn lookup(&self, key: &str) -> Result<Vec<CiId>, ViewError> {
            Ok(self.keys.borrow().get(key).cloned().unwrap_or_default())
        }
        fn relationship(&self, key: &RelKey) -> Result<Option<Relationship>, ViewError> {
            Ok(self.rels.borrow().get(key).cloned())
        }
        fn dependents(&self, parent: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError> {
            Ok(self
                .deps
                .borrow()
                .get(parent)
                .map(|d| d.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default())
        }
        fn incoming(&self, to: &CiId, rel_type: RelType) -> Result<Vec<Relationship>, ViewError> {
            Ok(self
                .rels
                .borrow()
                .values()
                .filter(|r| &r.to == to && r.rel_type == rel_type)
                .cloned()
                .collect())
        }
    }

    /// One host's view of its connection to `10.0.0.2:5432`: `owned` names the owning process
    /// (an SSH `ss -p` row), otherwise the row has no owner (TCP-MIB without a process).
    fn connection(source: &str, run: &str, owned: bool) -> Observation {
        let mut o = Observation::new(Source::new(source), RunId::new(run), Scope::none());
        o.push(Record::new("h", CiClass::Host).ident("hostname", "app1"));
        o.push(
            Record::new("p", CiClass::Process)
                .parent("h")
                .ident("executable", "java")
                .ident("command_line", "java -jar app.jar"),
        );
        o.push(
            Record::new("rh", CiClass::Host)
                .ident("ip_addresses", json!(["10.0.0.2"]))
                .placeholder(),
        );
        o.push(
            Record::new("re", CiClass::ListeningEndpoint)
                .parent("rh")
                .ident("protocol", "tcp")
                .ident("port", 5432)
                .placeholder(),
        );
        if owned {
            o.relate(RelType::ConnectsTo, "p", "re", EvidenceKind::Socket, 0.5);
        } else {
            o.relate(
                RelType::CommunicatesWith,
                "h",
                "re",
                EvidenceKind::HostSocket,
                0.5,
            );
        }
        o
    }

    fn active(v: &MemView, t: RelType) -> Vec<Relationship> {
        v.rels
            .borrow()
            .values()
            .filter(|r| r.rel_type == t && r.status == RelStatus::Active)
            .cloned()
            .collect()
    }

    #[test]
    fn a_connection_without_owner_is_evidence_on_the_owners_edge_in_either_order() {
        for owned_first in [true, false] {
            let v = MemView::default();
            v.run(&connection(
                if owned_first { "ssh" } else { "snmp" },
                "r1",
                owned_first,
            ));
            let r = v.run(&connection(
                if owned_first { "snmp" } else { "ssh" },
                "r2",
                !owned_first,
            ));
            let conns = active(&v, RelType::ConnectsTo);
            assert_eq!(conns.len(), 1, "one edge, owned_first={owned_first}");
            assert!(
                active(&v, RelType::CommunicatesWith).is_empty(),
                "no host-level edge left, owned_first={owned_first}"
            );
            let kinds: BTreeSet<(String, EvidenceKind)> = conns[0]
                .evidence
                .iter()
                .map(|e| (e.source.as_str().to_string(), e.kind))
                .collect();
            assert_eq!(
                kinds,
                BTreeSet::from([
                    ("ssh".into(), EvidenceKind::Socket),
                    ("snmp".into(), EvidenceKind::HostSocket)
                ])
            );
            assert_eq!(
                conns[0].confidence(),
                0.75,
                "corroborated: more certain than either sighting"
            );
            assert!(!conns[0].rests_on_host_level());
            if !owned_first {
                let closed = r
                    .delta
                    .history
                    .iter()
                    .filter(|h| h.kind == ChangeKind::RelationshipClosed)
                    .count();
                assert_eq!(closed, 1, "the host-level edge's closing is history");
            }
        }
    }

    #[test]
    fn a_connection_nobody_owns_stays_host_level() {
        let v = MemView::default();
        v.run(&connection("snmp", "r1", false));
        assert!(active(&v, RelType::ConnectsTo).is_empty());
        let host_level = active(&v, RelType::CommunicatesWith);
        assert_eq!(host_level.len(), 1);
        assert!(host_level[0].rests_on_host_level());
        // Seen again by the same source: still one edge, reinforced.
        v.run(&connection("snmp", "r2", false));
        let host_level = active(&v, RelType::CommunicatesWith);
        assert_eq!(
            (host_level.len(), host_level[0].evidence[0].observations),
            (1, 2)
        );
    }

    fn host(source: &str, f: impl FnOnce(Record) -> Record) -> Observation {
        let mut o = Observation::new(Source::new(source), RunId::new("r"), Scope::none());
        o.push(f(Record::new("h", CiClass::Host)));
        o
    }

    #[test]
    fn stronger_rule_wins_and_is_explained() {
        let v = MemView::default();
        v.run(&host("snmp", |r| {
            r.ident("hostname", "web1")
                .ident("ip_addresses", json!(["10.0.0.1"]))
        }));
        let r = v.run(&host("ssh", |r| {
            r.ident("serial_number", "S1")
                .ident("hostname", "WEB1.example.com")
        }));
        assert_eq!(r.delta.count(WriteKind::Created), 0);
        match &r.explanations[0].outcome {
            Outcome::Matched { rule, identifiers } => {
                assert_eq!(rule, "hostname");
                assert_eq!(identifiers["hostname"], "web1");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_disagreeing_stronger_identifier_makes_another_ci() {
        let v = MemView::default();
        v.run(&host("ssh", |r| {
            r.ident("serial_number", "S1")
                .ident("ip_addresses", json!(["10.0.0.1"]))
        }));
        let r = v.run(&host("ssh", |r| {
            r.ident("serial_number", "S2")
                .ident("ip_addresses", json!(["10.0.0.1"]))
        }));
        assert_eq!(r.delta.count(WriteKind::Created), 1);
        assert!(
            r.explanations[0].notes[0].contains("serial_number"),
            "{:?}",
            r.explanations[0]
        );
    }

    #[test]
    fn junk_identifiers_identify_nothing() {
        let v = MemView::default();
        v.run(&host("ssh", |r| {
            r.ident("serial_number", "To be filled by O.E.M.")
                .ident("hostname", "a")
        }));
        let r = v.run(&host("ssh", |r| {
            r.ident("serial_number", "To be filled by O.E.M.")
                .ident("hostname", "b")
        }));
        assert_eq!(
            r.delta.count(WriteKind::Created),
            1,
            "a shared junk serial must not merge two machines"
        );
    }

    #[test]
    fn precedence_is_per_attribute_and_configurable() {
        let v = MemView::default();
        v.run(&host("ssh", |r| {
            r.ident("hostname", "a").attr("os_name", "Debian")
        }));
        let r = v.run(&host("snmp", |r| {
            r.ident("hostname", "a")
                .attr("os_name", "Linux")
                .attr("sys_location", "rack 1")
        }));
        let ci = &r.delta.cis[0].ci;
        assert_eq!(
            ci.attr_str("os_name"),
            Some("Debian"),
            "snmp ranks below ssh"
        );
        assert_eq!(
            ci.attributes["sys_location"].source.as_str(),
            "snmp",
            "but fills what ssh does not know"
        );
        // With snmp ranked first, it wins.
        let policy = Policy {
            precedence: Precedence(vec!["snmp".into(), "ssh".into()]),
        };
        let o = host("snmp", |r| {
            r.ident("hostname", "a").attr("os_name", "Linux")
        });
        let r = reconcile(&o, &v, &policy).unwrap();
        assert_eq!(r.delta.cis[0].ci.attr_str("os_name"), Some("Linux"));
        let h = r
            .delta
            .history
            .iter()
            .find(|h| h.field.as_deref() == Some("os_name"))
            .unwrap();
        assert_eq!(
            (h.old.clone(), h.new.clone()),
            (Some(json!("Debian")), Some(json!("Linux")))
        );
    }

    #[test]
    fn placeholders_never_overwrite() {
        let v = MemView::default();
        v.run(&host("ssh", |r| {
            r.ident("ip_addresses", json!(["10.0.0.9"]))
                .ident("hostname", "db1")
                .attr("role", "db")
        }));
        let r = v.run(&host("ssh", |r| {
            r.ident("ip_addresses", json!(["10.0.0.9"]))
                .attr("role", "guess")
                .placeholder()
        }));
        assert!(
            r.delta.cis.is_empty(),
            "nothing to write: {:?}",
            r.delta.cis
        );
        assert_eq!(r.delta.seen_cis.len(), 1, "but it was seen");
    }

    fn host_ci(v: &MemView) -> Ci {
        let cis = v.cis.borrow();
        assert_eq!(cis.len(), 1, "{cis:?}");
        cis.values().next().unwrap().clone()
    }

    #[test]
    fn identification_is_kept_when_new_and_only_then() {
        let v = MemView::default();
        let snmp = || {
            host("snmp", |r| {
                r.ident("hostname", "web1")
                    .ident("mac_addresses", json!(["52:54:00:aa:00:01"]))
            })
        };
        let r = v.run(&snmp());
        let id = host_ci(&v).identification.expect("recorded on create");
        assert_eq!(id.outcome, IdentificationOutcome::Created);
        assert_eq!(
            id.rule.as_deref(),
            Some("mac_addresses"),
            "the strongest offered"
        );
        assert_eq!(id.explanation, r.explanations[0].sentence());
        assert!(
            id.explanation
                .starts_with("created: no existing device matched"),
            "{id:?}"
        );
        assert_eq!(
            (id.source.as_str(), id.run_id.as_ref().map(RunId::as_str)),
            ("snmp", Some("r"))
        );
        // Seen again: nothing new, nothing written but last-seen.
        let r = v.run(&snmp());
        assert!(
            r.delta.cis.iter().all(|w| w.touch_only),
            "{:?}",
            r.delta.cis
        );
        // SSH matches by MAC — the rule the CI was created by — and adds a serial number.
        let ssh = || {
            host("ssh", |r| {
                r.ident("serial_number", "S1")
                    .ident("mac_addresses", json!(["52:54:00:aa:00:01"]))
                    .ident("hostname", "web1")
            })
        };
        v.run(&ssh());
        assert_eq!(
            host_ci(&v).identification.unwrap().outcome,
            IdentificationOutcome::Created
        );
        // Next time the serial number matches: a stronger rule is a new decision. It is
        // written (not touch-only), but is no change of the CI's data: no history, not updated.
        let r = v.run(&ssh());
        let id = host_ci(&v).identification.unwrap();
        assert_eq!(
            (id.outcome, id.rule.as_deref()),
            (IdentificationOutcome::Matched, Some("serial_number"))
        );
        assert_eq!(
            id.explanation,
            "matched by rule `serial_number` (serial_number=S1)"
        );
        assert_eq!(id.source.as_str(), "ssh");
        assert_eq!(r.delta.cis.len(), 1);
        assert_eq!(
            (r.delta.cis[0].kind, r.delta.cis[0].touch_only),
            (WriteKind::Unchanged, false)
        );
        assert!(r.delta.history.is_empty(), "{:?}", r.delta.history);
        // SNMP matching by the weaker MAC again does not take it back.
        for o in [snmp(), ssh(), snmp()] {
            let r = v.run(&o);
            assert!(
                r.delta.cis.iter().all(|w| w.touch_only),
                "{:?}",
                r.delta.cis
            );
            assert_eq!(host_ci(&v).identification.as_ref(), Some(&id));
        }
    }

    #[test]
    fn a_merge_is_recorded_on_the_survivor() {
        let v = MemView::default();
        v.run(&host("snmp", |r| r.ident("hostname", "db1")));
        v.run(&host("sweep", |r| {
            r.ident("ip_addresses", json!(["10.0.0.9"]))
        }));
        let r = reconcile(
            &host("ssh", |r| {
                r.ident("hostname", "db1")
                    .ident("ip_addresses", json!(["10.0.0.9"]))
            }),
            &v,
            &Policy::default(),
        )
        .unwrap();
        assert_eq!(r.delta.merges.len(), 1);
        let survivor = r.explanations[0].ci.clone().unwrap();
        let w = r.delta.cis.iter().find(|w| w.ci.id == survivor).unwrap();
        let id = w.ci.identification.clone().unwrap();
        assert_eq!(
            (id.outcome, id.rule.as_deref()),
            (IdentificationOutcome::Merged, Some("hostname"))
        );
        assert_eq!(id.merged, vec![r.delta.merges[0].from.clone()]);
        assert_eq!(id.explanation, r.explanations[0].sentence());
        assert!(
            id.explanation
                .ends_with(&format!("; merged {} into it", id.merged[0])),
            "{}",
            id.explanation
        );
    }

    #[test]
    fn placeholders_and_second_records_decide_nothing_new() {
        let v = MemView::default();
        // Created and seen again (as a placeholder) in one observation: it stays CREATED.
        let mut o = host("ssh", |r| {
            r.ident("hostname", "db1").ident("serial_number", "S9")
        });
        o.push(
            Record::new("again", CiClass::Host)
                .ident("hostname", "db1")
                .placeholder(),
        );
        o.push(Record::new("third", CiClass::Host).ident("serial_number", "S9"));
        v.run(&o);
        let id = host_ci(&v).identification.unwrap();
        assert_eq!(
            (id.outcome, id.rule.as_deref()),
            (IdentificationOutcome::Created, Some("serial_number"))
        );
        // An existing CI whose identification predates recording (None): a placeholder's match
        // records nothing, a real sighting does.
        let mut ci = host_ci(&v);
        ci.identification = None;
        v.cis.borrow_mut().insert(ci.id.clone(), ci);
        v.run(&host("snmp", |r| r.ident("hostname", "db1").placeholder()));
        assert_eq!(host_ci(&v).identification, None);
        v.run(&host("snmp", |r| r.ident("hostname", "db1")));
        let id = host_ci(&v).identification.unwrap();
        assert_eq!(
            (id.outcome, id.rule.as_deref()),
            (IdentificationOutcome::Matched, Some("hostname"))
        );
    }

    #[test]
    fn ids_are_deterministic() {
        let (a, b) = (MemView::default(), MemView::default());
        let o = host("ssh", |r| {
            r.ident("serial_number", "S9").ident("hostname", "x")
        });
        assert_eq!(a.run(&o).delta.cis[0].ci.id, b.run(&o).delta.cis[0].ci.id);
    }
}
