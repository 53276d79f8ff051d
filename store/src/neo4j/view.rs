//! Reconciliation's view of the graph, backed by batched Cypher reads.
//!
//! `cmdb_model::reconcile` is pure and synchronous and asks its view one question at a time.
//! Asking the server each question would cost one round-trip per record, so reconciliation runs
//! in passes over a cache: every question the cache cannot answer is recorded (and answered
//! "nothing" for this pass); the misses are then fetched in a few batched `UNWIND` reads and
//! the observation is reconciled again. A pass without misses saw only real answers, so its
//! result is exactly what reconciling against the server would give. Passes are bounded by the
//! depth of the questions' dependencies (a parent before its dependents, a candidate before
//! its merge), typically 2–4. The writer lock is held throughout, so the graph cannot change
//! between passes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use cmdb_model::{
    reconcile, Ci, CiId, CurrentView, Observation, Policy, Reconciled, RelKey, RelType,
    Relationship, ViewError,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::db::{rows_batched, Tx};
use super::rows::{CiRow, RelRow, CI_FIELDS, REL_FIELDS};
use crate::StoreError;

const MAX_PASSES: usize = 64;

#[derive(Default)]
pub(crate) struct Cache {
    cis: HashMap<String, Option<Ci>>,
    lookups: HashMap<String, Vec<CiId>>,
    rels: HashMap<RelKey, Option<Relationship>>,
    dependents: HashMap<String, Vec<(CiId, Vec<String>)>>,
    incoming: HashMap<(String, RelType), Vec<Relationship>>,
}

#[derive(Default)]
struct Misses {
    cis: BTreeSet<String>,
    lookups: BTreeSet<String>,
    rels: BTreeSet<RelKey>,
    dependents: BTreeSet<String>,
    incoming: BTreeSet<(String, RelType)>,
}

impl Misses {
    fn is_empty(&self) -> bool {
        self.cis.is_empty()
            && self.lookups.is_empty()
            && self.rels.is_empty()
            && self.dependents.is_empty()
            && self.incoming.is_empty()
    }
}

struct CachedView<'a> {
    cache: &'a Cache,
    misses: RefCell<Misses>,
}

impl CurrentView for CachedView<'_> {
    fn ci(&self, id: &CiId) -> Result<Option<Ci>, ViewError> {
        match self.cache.cis.get(id.as_str()) {
            Some(c) => Ok(c.clone()),
            None => {
                self.misses.borrow_mut().cis.insert(id.to_string());
                Ok(None)
            }
        }
    }
    fn lookup(&self, key: &str) -> Result<Vec<CiId>, ViewError> {
        match self.cache.lookups.get(key) {
            Some(ids) => Ok(ids.clone()),
            None => {
                self.misses.borrow_mut().lookups.insert(key.to_string());
                Ok(Vec::new())
            }
        }
    }
    fn relationship(&self, key: &RelKey) -> Result<Option<Relationship>, ViewError> {
        match self.cache.rels.get(key) {
            Some(r) => Ok(r.clone()),
            None => {
                self.misses.borrow_mut().rels.insert(key.clone());
                Ok(None)
            }
        }
    }
    fn dependents(&self, parent: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError> {
        match self.cache.dependents.get(parent.as_str()) {
            Some(d) => Ok(d.clone()),
            None => {
                self.misses
                    .borrow_mut()
                    .dependents
                    .insert(parent.to_string());
                Ok(Vec::new())
            }
        }
    }
    fn incoming(&self, to: &CiId, rel_type: RelType) -> Result<Vec<Relationship>, ViewError> {
        let key = (to.to_string(), rel_type);
        match self.cache.incoming.get(&key) {
            Some(r) => Ok(r.clone()),
            None => {
                self.misses.borrow_mut().incoming.insert(key);
                Ok(Vec::new())
            }
        }
    }
}

/// Reconcile `obs` against the graph as read through `tx`.
pub(crate) async fn reconcile_via(
    tx: &mut Tx,
    obs: &Observation,
    policy: &Policy,
    batch: usize,
) -> Result<Reconciled, StoreError> {
    let mut cache = Cache::default();
    for pass in 0..MAX_PASSES {
        let (result, misses) = {
            let view = CachedView {
                cache: &cache,
                misses: RefCell::new(Misses::default()),
            };
            let r = reconcile(obs, &view, policy);
            (r, view.misses.into_inner())
        };
        tracing::trace!(
            pass,
            cis = misses.cis.len(),
            lookups = misses.lookups.len(),
            relationships = misses.rels.len(),
            dependents = misses.dependents.len(),
            "reconcile pass: reads still missing"
        );
        if misses.is_empty() {
            tracing::debug!(passes = pass + 1, "reconciled against the graph");
            return Ok(result?);
        }
        fetch(tx, &mut cache, misses, batch).await?;
    }
    Err(StoreError::Backend(format!(
        "reconciliation did not settle after {MAX_PASSES} passes"
    )))
}

#[derive(Deserialize)]
struct QCiRow {
    qid: String,
    #[serde(flatten)]
    ci: CiRow,
}

#[derive(Deserialize)]
struct KeyRow {
    k: String,
    ci: String,
}

#[derive(Deserialize)]
struct DepRow {
    p: String,
    ci: String,
    key: String,
}

async fn fetch_direct(
    tx: &mut Tx,
    ids: Vec<String>,
    batch: usize,
) -> Result<HashMap<String, Ci>, StoreError> {
    let rows = ids.into_iter().map(Value::String).collect();
    let found: Vec<QCiRow> = rows_batched(
        tx,
        &format!("UNWIND $rows AS qid MATCH (n:CI {{id: qid}}) RETURN qid, {CI_FIELDS}"),
        rows,
        batch,
        &json!({}),
    )
    .await?;
    let mut out = HashMap::new();
    for r in found {
        if let Some(ci) = r.ci.into_ci()? {
            out.insert(r.qid, ci);
        }
    }
    Ok(out)
}

/// CIs by id, resolving aliases of merged-away ids (a CI with the id itself wins). Plain
/// index lookups only: ArcadeDB plans chained OPTIONAL MATCHes on computed ids as scans.
pub(crate) async fn fetch_cis(
    tx: &mut Tx,
    ids: Vec<String>,
    batch: usize,
) -> Result<Vec<(String, Option<Ci>)>, StoreError> {
    let mut found = fetch_direct(tx, ids.clone(), batch).await?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !found.contains_key(*id))
        .cloned()
        .collect();
    let mut via_alias: HashMap<String, String> = HashMap::new();
    if !missing.is_empty() {
        #[derive(Deserialize)]
        struct A {
            qid: String,
            ci: Option<String>,
        }
        let aliases: Vec<A> = rows_batched(
            tx,
            "UNWIND $rows AS qid MATCH (al:CiAlias {id: qid}) RETURN qid, al.ci AS ci",
            missing.into_iter().map(Value::String).collect(),
            batch,
            &json!({}),
        )
        .await?;
        for a in aliases {
            if let Some(ci) = a.ci {
                via_alias.insert(a.qid, ci);
            }
        }
        let targets: Vec<String> = via_alias
            .values()
            .filter(|t| !found.contains_key(*t))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !targets.is_empty() {
            found.extend(fetch_direct(tx, targets, batch).await?);
        }
    }
    Ok(ids
        .into_iter()
        .map(|qid| {
            let ci = found
                .get(&qid)
                .cloned()
                .or_else(|| via_alias.get(&qid).and_then(|t| found.get(t).cloned()));
            (qid, ci)
        })
        .collect())
}

pub(crate) async fn fetch_rels(
    tx: &mut Tx,
    keys: &[RelKey],
    batch: usize,
) -> Result<Vec<Relationship>, StoreError> {
    let mut out = Vec::new();
    for t in RelType::ALL {
        let rows: Vec<Value> = keys
            .iter()
            .filter(|k| k.rel_type == t)
            .map(|k| json!({"from": k.from.as_str(), "to": k.to.as_str()}))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let found: Vec<RelRow> = rows_batched(
            tx,
            &format!("UNWIND $rows AS r MATCH (a:CI {{id: r.from}})-[e:{}]->(b:CI {{id: r.to}}) RETURN {REL_FIELDS}", t.as_str()),
            rows,
            batch,
            &json!({}),
        )
        .await?;
        for r in found {
            out.push(r.into_rel()?);
        }
    }
    Ok(out)
}

async fn fetch(
    tx: &mut Tx,
    cache: &mut Cache,
    misses: Misses,
    batch: usize,
) -> Result<(), StoreError> {
    let mut more_cis: BTreeSet<String> = misses.cis;
    if !misses.lookups.is_empty() {
        more_cis.extend(fetch_lookups(tx, cache, misses.lookups, batch).await?);
    }
    if !misses.dependents.is_empty() {
        more_cis.extend(fetch_dependents(tx, cache, misses.dependents, batch).await?);
    }
    if !misses.rels.is_empty() {
        fetch_relationships(tx, cache, misses.rels, batch).await?;
    }
    if !misses.incoming.is_empty() {
        fetch_incoming(tx, cache, &misses.incoming, batch).await?;
    }
    let ids: Vec<String> = more_cis
        .into_iter()
        .filter(|id| !cache.cis.contains_key(id))
        .collect();
    if !ids.is_empty() {
        for (qid, ci) in fetch_cis(tx, ids, batch).await? {
            cache.cis.insert(qid, ci);
        }
    }
    Ok(())
}

/// CIs by identifier key; returns the CIs found (to fetch too).
async fn fetch_lookups(
    tx: &mut Tx,
    cache: &mut Cache,
    lookups: BTreeSet<String>,
    batch: usize,
) -> Result<BTreeSet<String>, StoreError> {
    let mut more_cis = BTreeSet::new();
    let keys: Vec<String> = lookups.into_iter().collect();
    let rows: Vec<KeyRow> = rows_batched(
        tx,
        "UNWIND $rows AS k MATCH (i:CiIdentifier {key: k}) RETURN k, i.ci AS ci",
        keys.iter().cloned().map(Value::String).collect(),
        batch,
        &json!({}),
    )
    .await?;
    let mut found: HashMap<String, Vec<CiId>> = HashMap::new();
    for r in rows {
        more_cis.insert(r.ci.clone());
        let v = found.entry(r.k).or_default();
        if !v.iter().any(|c| c.as_str() == r.ci) {
            v.push(CiId(r.ci));
        }
    }
    for k in keys {
        let mut ids = found.remove(&k).unwrap_or_default();
        ids.sort();
        cache.lookups.insert(k, ids);
    }
    Ok(more_cis)
}

/// Dependents by parent; returns the CIs found (to fetch too).
async fn fetch_dependents(
    tx: &mut Tx,
    cache: &mut Cache,
    dependents: BTreeSet<String>,
    batch: usize,
) -> Result<BTreeSet<String>, StoreError> {
    let mut more_cis = BTreeSet::new();
    let parents: Vec<String> = dependents.into_iter().collect();
    let rows: Vec<DepRow> = rows_batched(
        tx,
        "UNWIND $rows AS p MATCH (i:CiIdentifier {parent: p}) RETURN p, i.ci AS ci, i.key AS key",
        parents.iter().cloned().map(Value::String).collect(),
        batch,
        &json!({}),
    )
    .await?;
    let mut found: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
    for r in rows {
        more_cis.insert(r.ci.clone());
        found
            .entry(r.p)
            .or_default()
            .entry(r.ci)
            .or_default()
            .push(r.key);
    }
    for p in parents {
        let deps = found
            .remove(&p)
            .unwrap_or_default()
            .into_iter()
            .map(|(ci, mut keys)| {
                keys.sort();
                (CiId(ci), keys)
            })
            .collect();
        cache.dependents.insert(p, deps);
    }
    Ok(more_cis)
}

/// Relationships by key (`None` cached for those that do not exist).
async fn fetch_relationships(
    tx: &mut Tx,
    cache: &mut Cache,
    rels: BTreeSet<RelKey>,
    batch: usize,
) -> Result<(), StoreError> {
    let keys: Vec<RelKey> = rels.into_iter().collect();
    let found = fetch_rels(tx, &keys, batch).await?;
    let mut by_key: HashMap<RelKey, Relationship> =
        found.into_iter().map(|r| (r.key(), r)).collect();
    for k in keys {
        let r = by_key.remove(&k);
        cache.rels.insert(k, r);
    }
    Ok(())
}

/// Incoming relationships of one type, by target.
async fn fetch_incoming(
    tx: &mut Tx,
    cache: &mut Cache,
    incoming: &BTreeSet<(String, RelType)>,
    batch: usize,
) -> Result<(), StoreError> {
    for t in RelType::ALL {
        let targets: Vec<String> = incoming
            .iter()
            .filter(|(_, rt)| *rt == t)
            .map(|(id, _)| id.clone())
            .collect();
        if targets.is_empty() {
            continue;
        }
        let found: Vec<RelRow> = rows_batched(
            tx,
            &format!(
                "UNWIND $rows AS t MATCH (a:CI)-[e:{}]->(b:CI {{id: t}}) RETURN {REL_FIELDS}",
                t.as_str()
            ),
            targets.iter().cloned().map(Value::String).collect(),
            batch,
            &json!({}),
        )
        .await?;
        let mut by_target: HashMap<String, Vec<Relationship>> = HashMap::new();
        for r in found {
            let rel = r.into_rel()?;
            by_target.entry(rel.to.to_string()).or_default().push(rel);
        }
        for id in targets {
            let rels = by_target.remove(&id).unwrap_or_default();
            cache.incoming.insert((id, t), rels);
        }
    }
    Ok(())
}
