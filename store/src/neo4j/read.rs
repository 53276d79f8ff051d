//! Reads: filtered, cursor-paginated CI lists; traversals; history. Parameterised Cypher only:
//! what is spliced into statement text comes from fixed tables (property names of the order
//! field, relationship types of the model), never from the caller.

use std::collections::{HashMap, HashSet};

use cmdb_model::{Ci, CiId, HistoryEntry, ImpactFlow, RelType, Relationship};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::db::{q, rows_batched, Tx};
use super::rows::{attr_kv, ms, CiRow, RelRow, CI_FIELDS, REL_FIELDS};
use crate::cursor::{find_page, find_request, history_page, history_request, order_field};
use crate::types::check_name_regex;
use crate::types::*;
use crate::StoreError;

/// WHERE clauses (fixed text) and their parameters.
async fn filter_cypher(
    tx: &mut Tx,
    f: &CiFilter,
    params: &mut Map<String, Value>,
) -> Result<Vec<String>, StoreError> {
    let mut clauses = Vec::new();
    if !f.classes.is_empty() {
        params.insert(
            "classes".into(),
            json!(f.classes.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
        );
        clauses.push("n.class IN $classes".to_string());
    }
    if let Some((mode, value)) = &f.name {
        clauses.push(name_clause(*mode, value, params)?);
    }
    for (i, tag) in f.tags.iter().enumerate() {
        params.insert(format!("tag{i}"), json!(tag));
        clauses.push(format!("$tag{i} IN n.tags"));
    }
    if !f.statuses.is_empty() {
        params.insert(
            "statuses".into(),
            json!(f.statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
        );
        clauses.push("n.status IN $statuses".into());
    }
    if let Some(src) = &f.source {
        params.insert("source".into(), json!(src));
        clauses.push("$source IN n.sources".into());
    }
    if let Some(ip) = &f.ip_address {
        params.insert("ip_ids".into(), json!(cis_with_ip(tx, ip).await?));
        clauses.push("n.id IN $ip_ids".into());
    }
    for (i, (k, v)) in f.attributes.iter().enumerate() {
        params.insert(format!("kv{i}"), json!(attr_kv(k, v)));
        clauses.push(format!("$kv{i} IN n.attr_kv"));
    }
    if let Some(t) = f.last_seen_before {
        params.insert("ls_before".into(), json!(ms(t)));
        clauses.push("n.last_seen < $ls_before".into());
    }
    if let Some(t) = f.last_seen_after {
        params.insert("ls_after".into(), json!(ms(t)));
        clauses.push("n.last_seen > $ls_after".into());
    }
    if let Some(ids) = &f.ids {
        params.insert(
            "ids".into(),
            json!(ids.iter().map(|i| i.as_str()).collect::<Vec<_>>()),
        );
        clauses.push("n.id IN $ids".into());
    }
    Ok(clauses)
}

fn name_clause(
    mode: NameMatch,
    value: &str,
    params: &mut Map<String, Value>,
) -> Result<String, StoreError> {
    Ok(match mode {
        NameMatch::Equals => {
            params.insert("name".into(), json!(value));
            "n.name = $name".into()
        }
        NameMatch::Contains => {
            params.insert("name".into(), json!(value));
            "n.name CONTAINS $name".into()
        }
        NameMatch::Regex => {
            check_name_regex(value)?;
            // Cypher's =~ matches the whole string; the contract searches within it.
            params.insert("name".into(), json!(format!("(?s).*(?:{value}).*")));
            "n.name =~ $name".into()
        }
    })
}

/// The ids of the CIs holding an IP address (through its identifier keys).
async fn cis_with_ip(tx: &mut Tx, ip: &str) -> Result<Vec<String>, StoreError> {
    #[derive(Deserialize)]
    struct Id {
        ci: String,
    }
    let ids: Vec<Id> = tx
        .rows(q(
            "UNWIND $keys AS k MATCH (i:CiIdentifier {key: k}) RETURN DISTINCT i.ci AS ci",
            json!({ "keys": cmdb_model::identify::ip_address_keys(ip) }),
        )?)
        .await?;
    Ok(ids.into_iter().map(|i| i.ci).collect())
}

pub(crate) async fn find(
    tx: &mut Tx,
    filter: &CiFilter,
    order: CiOrder,
    page: &PageRequest,
) -> Result<Page<Ci>, StoreError> {
    let mut params = Map::new();
    let clauses = filter_cypher(tx, filter, &mut params).await?;
    let where_all = if clauses.is_empty() {
        "true".to_string()
    } else {
        clauses.join(" AND ")
    };
    #[derive(Deserialize)]
    struct C {
        c: i64,
    }
    let total: Vec<C> = tx
        .rows(q(
            &format!("MATCH (n:CI) WHERE {where_all} RETURN count(n) AS c"),
            Value::Object(params.clone()),
        )?)
        .await?;
    let total = total.first().map(|c| c.c.max(0) as usize).unwrap_or(0);
    let col = order_field(order.field);
    let req = find_request(order, page)?;
    let limit = req.limit.min(100_000);
    let mut clauses = vec![where_all];
    for b in &req.bounds {
        let name = b.name;
        params.insert(format!("{name}_v"), b.value.clone());
        params.insert(format!("{name}_id"), Value::String(b.id.clone()));
        let op = if b.greater { ">" } else { "<" };
        clauses.push(format!(
            "(n.{col} {op} ${name}_v OR (n.{col} = ${name}_v AND n.id {op} ${name}_id))"
        ));
    }
    let asc = req.ascending;
    let dir = if asc { "ASC" } else { "DESC" };
    params.insert("limit".into(), json!((limit + 1) as i64));
    let rows: Vec<CiRow> = tx
        .rows(q(
            &format!("MATCH (n:CI) WHERE {} WITH n ORDER BY n.{col} {dir}, n.id {dir} LIMIT $limit RETURN {CI_FIELDS}", clauses.join(" AND ")),
            Value::Object(params),
        )?)
        .await?;
    let mut cis = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(ci) = r.into_ci()? {
            cis.push(ci);
        }
    }
    Ok(find_page(cis, &req, limit, order, page, total))
}

/// The CIs whose identifiers the search matches: exact keys by index lookup, dependent
/// classes' patterns as `STARTS WITH` the family and `ENDS WITH` the rule and value.
async fn search_hits(
    tx: &mut Tx,
    plan: &cmdb_model::search::SearchPlan,
    batch: usize,
) -> Result<std::collections::BTreeSet<String>, StoreError> {
    #[derive(Deserialize)]
    struct Hit {
        ci: String,
    }
    let mut hits: std::collections::BTreeSet<String> = Default::default();
    if !plan.keys.is_empty() {
        let rows: Vec<Hit> = rows_batched(
            tx,
            "UNWIND $rows AS k MATCH (i:CiIdentifier {key: k}) RETURN DISTINCT i.ci AS ci",
            plan.keys.iter().cloned().map(Value::String).collect(),
            batch,
            &json!({}),
        )
        .await?;
        hits.extend(rows.into_iter().map(|h| h.ci));
    }
    for (prefix, suffixes) in plan.patterns_by_prefix() {
        let rows: Vec<Hit> = tx
            .rows(q(
                "MATCH (i:CiIdentifier) WHERE i.key STARTS WITH $prefix AND any(s IN $suffixes WHERE i.key ENDS WITH s) \
                 RETURN DISTINCT i.ci AS ci",
                json!({ "prefix": prefix, "suffixes": suffixes }),
            )?)
            .await?;
        hits.extend(rows.into_iter().map(|h| h.ci));
    }
    Ok(hits)
}

/// The search box (`GraphStore::search`) in Cypher: the identifier matches first (index
/// lookups of exact keys; dependent classes' patterns as `STARTS WITH` the family and `ENDS
/// WITH` the rule and value), then one count and one page over the CIs matching by those, by
/// name (`toLower … CONTAINS`) or by tag.
pub(crate) async fn search(
    tx: &mut Tx,
    query: &SearchQuery,
    page: &PageRequest,
    batch: usize,
) -> Result<Page<Ci>, StoreError> {
    let crate::cursor::SearchRequest { plan, limit, after } =
        crate::cursor::search_request(query, page)?;
    let hits = search_hits(tx, &plan, batch).await?;
    let mut params = Map::new();
    params.insert("hits".into(), json!(hits.into_iter().collect::<Vec<_>>()));
    params.insert("folded".into(), json!(plan.folded));
    params.insert("tag".into(), json!(plan.text));
    let mut cond =
        vec!["(n.id IN $hits OR toLower(n.name) CONTAINS $folded OR $tag IN n.tags)".to_string()];
    if !query.classes.is_empty() {
        params.insert(
            "classes".into(),
            json!(query.classes.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
        );
        cond.insert(0, "n.class IN $classes".into());
    }
    let where_sql = cond.join(" AND ");
    #[derive(Deserialize)]
    struct C {
        c: i64,
    }
    let total: Vec<C> = tx
        .rows(q(
            &format!("MATCH (n:CI) WHERE {where_sql} RETURN count(n) AS c"),
            Value::Object(params.clone()),
        )?)
        .await?;
    let total = total.first().map(|c| c.c.max(0) as usize).unwrap_or(0);
    let mut bound = "true".to_string();
    if let Some(a) = &after {
        params.insert("after_rank".into(), json!(a.rank));
        params.insert("after_name".into(), json!(a.name));
        params.insert("after_id".into(), json!(a.id));
        bound = "(rank > $after_rank OR (rank = $after_rank AND (n.name > $after_name \
                 OR (n.name = $after_name AND n.id > $after_id))))"
            .into();
    }
    params.insert("limit".into(), json!((limit + 1) as i64));
    #[derive(Deserialize)]
    struct Ranked {
        rank: i64,
        #[serde(flatten)]
        ci: CiRow,
    }
    let rows: Vec<Ranked> = tx
        .rows(q(
            &format!(
                "MATCH (n:CI) WHERE {where_sql} \
                 WITH n, CASE WHEN n.id IN $hits THEN {} ELSE {} END AS rank \
                 WHERE {bound} WITH n, rank ORDER BY rank, n.name, n.id LIMIT $limit \
                 RETURN rank, {CI_FIELDS}",
                cmdb_model::search::RANK_IDENTIFIER,
                cmdb_model::search::RANK_OTHER,
            ),
            Value::Object(params),
        )?)
        .await?;
    let mut found = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(ci) = r.ci.into_ci()? {
            found.push((r.rank, ci));
        }
    }
    Ok(crate::cursor::search_page(
        found,
        limit,
        total,
        after.is_some(),
    ))
}

/// Does a step along `t` from its `from` end to its `to` end (`forward`) follow `dir`?
fn follows(t: RelType, dir: TraverseDirection, forward: bool) -> bool {
    let flow = t.impact_flow();
    match (dir, forward) {
        (TraverseDirection::Downstream, true) | (TraverseDirection::Upstream, false) => {
            matches!(flow, ImpactFlow::FromToTo | ImpactFlow::Both)
        }
        (TraverseDirection::Downstream, false) | (TraverseDirection::Upstream, true) => {
            matches!(flow, ImpactFlow::ToToFrom | ImpactFlow::Both)
        }
    }
}

/// Breadth-first along active relationships, one batched round-trip per level and direction;
/// each CI once at its shortest depth (the same order as the embedded store's adjacency walk,
/// ties broken by type and id). With `want_edges`, also every relationship crossed.
pub(crate) async fn bfs(
    tx: &mut Tx,
    start: &[CiId],
    dir: TraverseDirection,
    max_depth: u32,
    types: &[RelType],
    want_edges: bool,
    batch: usize,
) -> Result<(Vec<Reached>, Vec<Relationship>), StoreError> {
    let allowed = |t: RelType| types.is_empty() || types.contains(&t);
    let out_types: Vec<&str> = RelType::ALL
        .iter()
        .filter(|t| allowed(**t) && follows(**t, dir, true))
        .map(|t| t.as_str())
        .collect();
    let in_types: Vec<&str> = RelType::ALL
        .iter()
        .filter(|t| allowed(**t) && follows(**t, dir, false))
        .map(|t| t.as_str())
        .collect();
    let fields = if want_edges {
        REL_FIELDS
    } else {
        "type(e) AS t, a.id AS from, b.id AS to"
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut frontier: Vec<String> = Vec::new();
    for s in start {
        if seen.insert(s.to_string()) {
            frontier.push(s.to_string());
        }
    }
    let mut reached = Vec::new();
    let mut edges = Vec::new();
    let mut edge_seen = HashSet::new();
    let mut depth = 0;
    while !frontier.is_empty() && depth < max_depth {
        let mut out_of = step_rows(tx, &frontier, &out_types, fields, true, batch).await?;
        let mut in_of = step_rows(tx, &frontier, &in_types, fields, false, batch).await?;
        let mut next = Vec::new();
        for n in &frontier {
            let mut outs = out_of.remove(n).unwrap_or_default();
            outs.sort_by(|a, b| (&a.t, &a.to).cmp(&(&b.t, &b.to)));
            let mut ins = in_of.remove(n).unwrap_or_default();
            ins.sort_by(|a, b| (&a.t, &a.from).cmp(&(&b.t, &b.from)));
            let steps = outs
                .into_iter()
                .map(|r| (r.to.clone(), r))
                .chain(ins.into_iter().map(|r| (r.from.clone(), r)));
            for (m, r) in steps {
                if want_edges && edge_seen.insert((r.from.clone(), r.t.clone(), r.to.clone())) {
                    edges.push(r.into_rel()?);
                }
                if seen.insert(m.clone()) {
                    reached.push(Reached {
                        id: CiId(m.clone()),
                        depth: depth + 1,
                        via: Some(CiId(n.clone())),
                    });
                    next.push(m);
                }
            }
        }
        frontier = next;
        depth += 1;
    }
    Ok((reached, edges))
}

/// The ACTIVE relationships of `types` leaving (`outgoing`) or entering the frontier's CIs,
/// by the frontier CI they touch.
async fn step_rows(
    tx: &mut Tx,
    frontier: &[String],
    types: &[&str],
    fields: &str,
    outgoing: bool,
    batch: usize,
) -> Result<HashMap<String, Vec<RelRow>>, StoreError> {
    let mut by_node: HashMap<String, Vec<RelRow>> = HashMap::new();
    if types.is_empty() {
        return Ok(by_node);
    }
    let pattern = if outgoing {
        "(a:CI {id: id})-[e]->(b:CI)"
    } else {
        "(b:CI {id: id})<-[e]-(a:CI)"
    };
    let rows: Vec<RelRow> = rows_batched(
        tx,
        &format!("UNWIND $rows AS id MATCH {pattern} WHERE e.status = 'ACTIVE' AND type(e) IN $types RETURN {fields}"),
        frontier.iter().cloned().map(Value::String).collect(),
        batch,
        &json!({ "types": types }),
    )
    .await?;
    for r in rows {
        let node = if outgoing {
            r.from.clone()
        } else {
            r.to.clone()
        };
        by_node.entry(node).or_default().push(r);
    }
    Ok(by_node)
}

pub(crate) async fn history(
    tx: &mut Tx,
    id: &str,
    page: &PageRequest,
) -> Result<Page<HistoryEntry>, StoreError> {
    #[derive(Deserialize)]
    struct C {
        c: i64,
    }
    #[derive(Deserialize)]
    struct H {
        seq: i64,
        body: String,
    }
    let mut total = 0usize;
    for prop in ["ci", "other"] {
        let c: Vec<C> = tx
            .rows(q(
                &format!("MATCH (h:History {{{prop}: $id}}) RETURN count(h) AS c"),
                json!({ "id": id }),
            )?)
            .await?;
        total += c.first().map(|c| c.c.max(0) as usize).unwrap_or(0);
    }
    let req = history_request(page)?;
    let (limit, before_seq) = (req.limit, req.before_seq);
    let mut rows: Vec<H> = Vec::new();
    for prop in ["ci", "other"] {
        rows.extend(
            tx.rows::<H>(q(
                &format!("MATCH (h:History {{{prop}: $id}}) WHERE h.seq < $before WITH h ORDER BY h.seq DESC LIMIT $limit RETURN h.seq AS seq, h.body AS body"),
                json!({ "id": id, "before": before_seq, "limit": (limit + 1) as i64 }),
            )?)
            .await?,
        );
    }
    rows.sort_by_key(|h| std::cmp::Reverse(h.seq));
    rows.dedup_by_key(|h| h.seq);
    let mut read = Vec::new();
    for h in rows.into_iter().take(limit + 1) {
        let e: HistoryEntry = serde_json::from_str(&h.body)
            .map_err(|e| StoreError::Corrupt(format!("history {}: {e}", h.seq)))?;
        read.push((h.seq, e));
    }
    Ok(history_page(read, &req, total, page))
}
