//! Read queries in SQL: CI filters, ordered pages, the search box, history pages and
//! relationship rows by key.

use cmdb_model::{Ci, HistoryEntry, RelType, Relationship};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::Value;

use super::codec::*;
use super::EmbeddedStore;
use crate::cursor::{find_page, find_request, history_page, history_request, order_field};
use crate::types::check_name_regex;
use crate::types::*;
use crate::StoreError;

impl EmbeddedStore {
    pub(super) fn history_entries(
        &self,
        c: &Connection,
        id: &str,
        page: &PageRequest,
    ) -> Result<Page<HistoryEntry>, StoreError> {
        let total: i64 = c.query_row(
            "SELECT COUNT(*) FROM history WHERE ci_id = ?1 OR other_id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let req = history_request(page)?;
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {HISTORY_COLUMNS} FROM history WHERE (ci_id = ?1 OR other_id = ?1) AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![id, req.before_seq, (req.limit + 1) as i64],
            row_to_history,
        )?;
        let mut read = Vec::new();
        for r in rows {
            read.push(r??);
        }
        Ok(history_page(read, &req, total as usize, page))
    }

    pub(super) fn load_rels(
        &self,
        c: &Connection,
        keys: &[(String, RelType, String)],
    ) -> Result<Vec<Relationship>, StoreError> {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3"
        ))?;
        let mut out = Vec::with_capacity(keys.len());
        for (f, t, d) in keys {
            if let Some(r) = stmt
                .query_row(params![f, t.as_str(), d], row_to_rel)
                .optional()?
            {
                out.push(r?);
            }
        }
        Ok(out)
    }
}

/// A WHERE clause being built: fixed SQL fragments and the parameters they bind.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    params: Vec<rusqlite::types::Value>,
}

impl Where {
    /// Bind `vals` and return their placeholders (`?3, ?4`).
    fn bind(&mut self, vals: Vec<rusqlite::types::Value>) -> String {
        let mut ps = Vec::new();
        for v in vals {
            self.params.push(v);
            ps.push(format!("?{}", self.params.len()));
        }
        ps.join(", ")
    }

    fn text(&mut self, v: &str) -> String {
        self.bind(vec![rusqlite::types::Value::Text(v.to_string())])
    }
}

/// WHERE clause (fixed SQL fragments only) and its bound parameters.
pub(super) fn filter_sql(
    f: &CiFilter,
) -> Result<(String, Vec<rusqlite::types::Value>), StoreError> {
    use rusqlite::types::Value as V;
    let mut w = Where::default();
    if !f.classes.is_empty() {
        let p = w.bind(f.classes.iter().map(|c| V::Text(c.to_string())).collect());
        w.clauses.push(format!("class IN ({p})"));
    }
    if let Some((mode, value)) = &f.name {
        let clause = name_clause(&mut w, *mode, value)?;
        w.clauses.push(clause);
    }
    for tag in &f.tags {
        let p = w.text(tag);
        w.clauses
            .push(format!("id IN (SELECT ci_id FROM ci_tags WHERE tag = {p})"));
    }
    if !f.statuses.is_empty() {
        let p = w.bind(
            f.statuses
                .iter()
                .map(|s| V::Text(s.as_str().into()))
                .collect(),
        );
        w.clauses.push(format!("status IN ({p})"));
    }
    if let Some(src) = &f.source {
        let p = w.text(src);
        w.clauses.push(format!(
            "id IN (SELECT ci_id FROM ci_sources WHERE source = {p})"
        ));
    }
    if let Some(ip) = &f.ip_address {
        let keys = cmdb_model::identify::ip_address_keys(ip);
        let p = w.bind(keys.into_iter().map(V::Text).collect());
        w.clauses.push(format!(
            "id IN (SELECT ci_id FROM identifiers WHERE key IN ({p}))"
        ));
    }
    for (k, v) in &f.attributes {
        let clause = attribute_clause(&mut w, k, v);
        w.clauses.push(clause);
    }
    if let Some(t) = f.last_seen_before {
        let p = w.bind(vec![V::Integer(ms(t))]);
        w.clauses.push(format!("last_seen < {p}"));
    }
    if let Some(t) = f.last_seen_after {
        let p = w.bind(vec![V::Integer(ms(t))]);
        w.clauses.push(format!("last_seen > {p}"));
    }
    if let Some(ids) = &f.ids {
        if ids.is_empty() {
            w.clauses.push("0".into());
        } else {
            let p = w.bind(ids.iter().map(|i| V::Text(i.to_string())).collect());
            w.clauses.push(format!("id IN ({p})"));
        }
    }
    let sql = if w.clauses.is_empty() {
        "1".to_string()
    } else {
        w.clauses.join(" AND ")
    };
    Ok((sql, w.params))
}

fn name_clause(w: &mut Where, mode: NameMatch, value: &str) -> Result<String, StoreError> {
    Ok(match mode {
        NameMatch::Equals => format!("name = {}", w.text(value)),
        NameMatch::Contains => {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let p = w.text(&format!("%{escaped}%"));
            format!("name LIKE {p} ESCAPE '\\'")
        }
        NameMatch::Regex => {
            check_name_regex(value)?;
            format!("regexp({}, name)", w.text(value))
        }
    })
}

/// An attribute equals a value. `CiBody` keeps attributes under `a` as `[value, source, at,
/// run]`; strings compare as text, anything else as JSON text (numbers, booleans, arrays and
/// objects match exactly).
fn attribute_clause(w: &mut Where, k: &str, v: &Value) -> String {
    let path = format!("$.a.\"{}\"[0]", k.replace('"', "\\\""));
    let p1 = w.text(&path);
    match v {
        Value::String(s) => {
            let p2 = w.text(s);
            format!("json_extract(body, {p1}) = {p2}")
        }
        other => {
            let p2 = w.text(&other.to_string());
            format!("json(json_extract(body, {p1})) = json({p2})")
        }
    }
}

pub(super) fn find(
    c: &Connection,
    filter: &CiFilter,
    order: CiOrder,
    page: &PageRequest,
) -> Result<Page<Ci>, StoreError> {
    use rusqlite::types::Value as V;
    let (where_sql, mut params) = filter_sql(filter)?;
    let total: i64 = c.query_row(
        &format!("SELECT COUNT(*) FROM cis WHERE {where_sql}"),
        params_from_iter(params.iter()),
        |r| r.get(0),
    )?;
    let col = order_field(order.field);
    let req = find_request(order, page)?;
    let limit = req.limit;
    let mut clauses = vec![where_sql];
    for b in &req.bounds {
        params.push(match &b.value {
            Value::String(s) => V::Text(s.clone()),
            v => V::Integer(v.as_i64().unwrap_or(0)),
        });
        params.push(V::Text(b.id.clone()));
        let (a, i) = (params.len() - 1, params.len());
        let op = if b.greater { ">" } else { "<" };
        clauses.push(format!("({col}, id) {op} (?{a}, ?{i})"));
    }
    let asc = req.ascending;
    let dir = if asc { "ASC" } else { "DESC" };
    params.push(V::Integer((limit + 1) as i64));
    let sql = format!(
        "SELECT {CI_COLUMNS} FROM cis WHERE {} ORDER BY {col} {dir}, id {dir} LIMIT ?{}",
        clauses.join(" AND "),
        params.len()
    );
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter()), row_to_ci)?;
    let cis = collect(rows)?;
    Ok(find_page(cis, &req, limit, order, page, total as usize))
}

/// The CIs whose identifiers the search matches, as a UNION of selects: exact keys through
/// the primary key, dependent classes' patterns as a range scan over their family's keys
/// compared by suffix.
fn search_hits(w: &mut Where, plan: &cmdb_model::search::SearchPlan) -> String {
    let mut hit_parts: Vec<String> = Vec::new();
    if !plan.keys.is_empty() {
        let ps: Vec<String> = plan.keys.iter().map(|k| w.text(k)).collect();
        hit_parts.push(format!(
            "SELECT ci_id FROM identifiers WHERE key IN ({})",
            ps.join(", ")
        ));
    }
    for (prefix, suffixes) in plan.patterns_by_prefix() {
        // Keys of the family: from `F|` up to (excluding) `F}` (`}` follows `|`).
        let lo = w.text(prefix);
        let hi = w.text(&format!("{}}}", &prefix[..prefix.len() - 1]));
        let conds: Vec<String> = suffixes
            .iter()
            .map(|sfx| {
                let ps = w.text(sfx);
                format!("substr(key, -length({ps})) = {ps}")
            })
            .collect();
        hit_parts.push(format!(
            "SELECT ci_id FROM identifiers WHERE key >= {lo} AND key < {hi} AND ({})",
            conds.join(" OR ")
        ));
    }
    if hit_parts.is_empty() {
        hit_parts.push("SELECT NULL WHERE 0".into());
    }
    hit_parts.join(" UNION ")
}

/// Which CIs the search matches: a hit, a name containing the text (the model's rule), or a
/// tag equal to it; within the classes asked for.
fn search_condition(
    w: &mut Where,
    q: &SearchQuery,
    plan: &cmdb_model::search::SearchPlan,
) -> String {
    let mut cond = Vec::new();
    if !q.classes.is_empty() {
        let ps: Vec<String> = q.classes.iter().map(|c| w.text(c.as_str())).collect();
        cond.push(format!("class IN ({})", ps.join(", ")));
    }
    let folded = w.text(&plan.folded);
    let tag = w.text(&plan.text);
    cond.push(format!(
        "(id IN hit OR cmdb_name_contains(name, {folded}) OR id IN (SELECT ci_id FROM ci_tags WHERE tag = {tag}))"
    ));
    cond.join(" AND ")
}

/// The search box (`GraphStore::search`) in SQL. Identifier matches are a materialised set:
/// exact keys through the primary key, dependent classes' patterns as a range scan over their
/// family's keys compared by suffix. Names are scanned with the model's rule.
pub(super) fn search(
    c: &Connection,
    q: &SearchQuery,
    page: &PageRequest,
) -> Result<Page<Ci>, StoreError> {
    use rusqlite::types::Value as V;
    let crate::cursor::SearchRequest { plan, limit, after } =
        crate::cursor::search_request(q, page)?;
    let mut w = Where::default();
    let hits = search_hits(&mut w, &plan);
    let cond = search_condition(&mut w, q, &plan);
    let mut params = w.params;
    // One statement: the identifier hits and the matching CIs (`m`) are computed once and
    // serve both the count and the page.
    let with = format!(
        "WITH hit(id) AS MATERIALIZED ({}), \
         m AS MATERIALIZED (SELECT id, name, CASE WHEN id IN hit THEN {} ELSE {} END AS rank FROM cis WHERE {})",
        hits,
        cmdb_model::search::RANK_IDENTIFIER,
        cmdb_model::search::RANK_OTHER,
        cond,
    );
    let n_shared = params.len();
    let mut bound = String::from("1");
    if let Some(a) = &after {
        params.extend([
            V::Integer(a.rank),
            V::Text(a.name.clone()),
            V::Text(a.id.clone()),
        ]);
        let k = params.len();
        bound = format!("(m.rank, m.name, m.id) > (?{}, ?{}, ?{k})", k - 2, k - 1);
    }
    params.push(V::Integer((limit + 1) as i64));
    let columns: Vec<String> = CI_COLUMNS.split(", ").map(|c| format!("cis.{c}")).collect();
    let sql = format!(
        "{with} SELECT {}, m.rank, (SELECT COUNT(*) FROM m) FROM m JOIN cis ON cis.id = m.id \
         WHERE {bound} ORDER BY m.rank, m.name, m.id LIMIT ?{}",
        columns.join(", "),
        params.len()
    );
    let mut total: Option<i64> = None;
    let mut stmt = c.prepare(&sql)?;
    let rows = stmt.query_map(params_from_iter(params.iter()), |row| {
        let rank: i64 = row.get(8)?;
        let n: i64 = row.get(9)?;
        Ok(row_to_ci(row)?.map(|ci| (rank, n, ci)))
    })?;
    let mut found = Vec::new();
    for r in collect(rows)? {
        let (rank, n, ci) = r;
        total = Some(n);
        found.push((rank, ci));
    }
    let total = match total {
        Some(n) => n,
        // A page past the end (or nothing at all) carries no count.
        None if after.is_some() => c.query_row(
            &format!("{with} SELECT COUNT(*) FROM m"),
            params_from_iter(params[..n_shared].iter()),
            |r| r.get(0),
        )?,
        None => 0,
    };
    Ok(crate::cursor::search_page(
        found,
        limit,
        total as usize,
        after.is_some(),
    ))
}
