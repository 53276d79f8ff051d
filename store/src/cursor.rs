//! Opaque page cursors and sort keys, shared by every backend so a cursor means the same thing
//! whichever store answers: hex of a small JSON array (sort value, id).

use cmdb_model::search::{SearchError, SearchPlan};
use cmdb_model::Ci;
use serde_json::Value;

use crate::types::{CiOrder, CiOrderField, Page, PageRequest, SearchQuery};
use crate::StoreError;
use cmdb_model::{HistoryEntry, Relationship};

pub(crate) fn encode_cursor(v: &Value) -> String {
    v.to_string().bytes().map(|b| format!("{b:02x}")).collect()
}

/// `None` for anything that is not a cursor we made (bounded, hex, JSON).
pub(crate) fn decode_cursor(c: &str) -> Option<Value> {
    if !c.len().is_multiple_of(2) || c.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..c.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(c.get(i..i + 2)?, 16).ok())
        .collect();
    serde_json::from_slice(&bytes?).ok()
}

/// The stored field an order sorts by (a column in SQLite, a property in Neo4j; same names).
pub(crate) fn order_field(f: CiOrderField) -> &'static str {
    match f {
        CiOrderField::Id => "id",
        CiOrderField::Name => "name",
        CiOrderField::Class => "class",
        CiOrderField::LastSeen => "last_seen",
        CiOrderField::FirstSeen => "first_seen",
    }
}

/// The value of that field for a CI, as it goes into a cursor.
pub(crate) fn sort_value(ci: &Ci, f: CiOrderField) -> Value {
    match f {
        CiOrderField::Id => Value::String(ci.id.to_string()),
        CiOrderField::Name => Value::String(ci.name.clone()),
        CiOrderField::Class => Value::String(ci.class.to_string()),
        CiOrderField::LastSeen => Value::from(ci.last_seen.timestamp_millis()),
        CiOrderField::FirstSeen => Value::from(ci.first_seen.timestamp_millis()),
    }
}

/// A search page's cursor: the (rank, name, id) of its row.
pub(crate) fn encode_search_cursor(rank: i64, ci: &Ci) -> String {
    encode_cursor(&serde_json::json!([rank, ci.name, ci.id.as_str()]))
}

/// A search page from the rows a backend fetched (one more than `limit` when more follow),
/// in order, each with its rank (`has_previous_page`: it started after a cursor): the cursors and page flags are the same on every backend.
pub(crate) fn search_page(
    mut found: Vec<(i64, Ci)>,
    limit: usize,
    total_count: usize,
    has_previous_page: bool,
) -> crate::types::Page<Ci> {
    let has_next_page = found.len() > limit;
    found.truncate(limit);
    crate::types::Page {
        items: found
            .into_iter()
            .map(|(rank, ci)| (encode_search_cursor(rank, &ci), ci))
            .collect(),
        total_count,
        has_next_page,
        has_previous_page,
    }
}

/// Where a search page starts: the (rank, name, id) of the row before it.
pub(crate) struct SearchAfter {
    pub rank: i64,
    pub name: String,
    pub id: String,
}

/// Where a search page starts, from the `after` cursor.
pub(crate) fn decode_search_cursor(c: &str) -> Result<SearchAfter, StoreError> {
    let bad = || StoreError::InvalidInput("invalid cursor".into());
    let v = decode_cursor(c).ok_or_else(bad)?;
    match (
        v.get(0).and_then(Value::as_i64),
        v.get(1).and_then(Value::as_str),
        v.get(2).and_then(Value::as_str),
    ) {
        (Some(rank), Some(name), Some(id)) => Ok(SearchAfter {
            rank,
            name: name.to_string(),
            id: id.to_string(),
        }),
        _ => Err(bad()),
    }
}

/// A search request as every backend checks it before searching.
pub(crate) struct SearchRequest {
    pub plan: SearchPlan,
    /// Rows on the page.
    pub limit: usize,
    pub after: Option<SearchAfter>,
}

/// The plan of the text, the page size and the page's start. Search pages go forward only.
pub(crate) fn search_request(
    q: &SearchQuery,
    page: &PageRequest,
) -> Result<SearchRequest, StoreError> {
    let plan = SearchPlan::new(&q.text, &q.classes)
        .map_err(|e: SearchError| StoreError::InvalidInput(e.to_string()))?;
    if page.last.is_some() || page.before.is_some() {
        return Err(StoreError::InvalidInput(
            "search pages go forward only: use `first` and `after`".into(),
        ));
    }
    let limit = page.first.unwrap_or(100).min(100_000);
    let after = page
        .after
        .as_deref()
        .map(decode_search_cursor)
        .transpose()?;
    Ok(SearchRequest { plan, limit, after })
}

/// How every backend reads a page of `find`: its direction and size, and the bounds its
/// cursors set.
pub(crate) struct FindRequest {
    /// Paging back from `before` (`last` without `first`).
    pub backwards: bool,
    pub limit: usize,
    /// Scan direction: ascending unless (descending XOR backwards).
    pub ascending: bool,
    pub bounds: Vec<FindBound>,
}

/// Rows strictly past (`greater`) or before a cursor's (sort value, id).
pub(crate) struct FindBound {
    /// `after` or `before`.
    pub name: &'static str,
    /// A string or an integer.
    pub value: Value,
    pub id: String,
    pub greater: bool,
}

pub(crate) fn find_request(order: CiOrder, page: &PageRequest) -> Result<FindRequest, StoreError> {
    let backwards = page.last.is_some() && page.first.is_none();
    let limit = if backwards {
        page.last.unwrap_or(100)
    } else {
        page.first.unwrap_or(100)
    };
    // `after` bounds the scan start in the forward order; `before` in the backward one.
    let mut bounds = Vec::new();
    if let Some(cur) = &page.after {
        bounds.push(find_bound("after", cur, !order.descending)?);
    }
    if let Some(cur) = &page.before {
        bounds.push(find_bound("before", cur, order.descending)?);
    }
    Ok(FindRequest {
        backwards,
        limit,
        ascending: order.descending == backwards,
        bounds,
    })
}

fn find_bound(name: &'static str, cur: &str, greater: bool) -> Result<FindBound, StoreError> {
    let bad = || StoreError::InvalidInput("invalid cursor".into());
    let v = decode_cursor(cur).ok_or_else(bad)?;
    let (Some(sv), Some(id)) = (v.get(0).cloned(), v.get(1).and_then(Value::as_str)) else {
        return Err(bad());
    };
    let value = match sv {
        Value::String(s) => Value::String(s),
        Value::Number(n) => Value::from(n.as_i64().unwrap_or(0)),
        _ => return Err(bad()),
    };
    Ok(FindBound {
        name,
        value,
        id: id.to_string(),
        greater,
    })
}

/// A `find` page from the rows a backend read in scan order (one more than the limit when
/// more follow): cursors and page flags the same on every backend.
pub(crate) fn find_page(
    mut cis: Vec<Ci>,
    req: &FindRequest,
    limit: usize,
    order: CiOrder,
    page: &PageRequest,
    total_count: usize,
) -> Page<Ci> {
    let more = cis.len() > limit;
    cis.truncate(limit);
    if req.backwards {
        cis.reverse();
    }
    let items = cis
        .into_iter()
        .map(|ci| {
            let cursor = serde_json::json!([sort_value(&ci, order.field), ci.id.as_str()]);
            (encode_cursor(&cursor), ci)
        })
        .collect();
    let (has_next_page, has_previous_page) = if req.backwards {
        (page.before.is_some(), more)
    } else {
        (more, page.after.is_some())
    };
    Page {
        items,
        total_count,
        has_next_page,
        has_previous_page,
    }
}

/// Where a page of all relationships starts: the (from, type, to) of the last one before it
/// (empty texts for the first page).
pub(crate) fn decode_relationship_cursor(
    after: Option<&str>,
) -> Result<(String, String, String), StoreError> {
    let Some(cur) = after else {
        return Ok(Default::default());
    };
    let v = decode_cursor(cur).ok_or_else(|| StoreError::InvalidInput("invalid cursor".into()))?;
    let s = |i: usize| {
        v.get(i)
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_default()
    };
    Ok((s(0), s(1), s(2)))
}

/// The cursor after a full page of all relationships (none when the page is not full).
pub(crate) fn next_relationship_cursor(page: &[Relationship], limit: usize) -> Option<String> {
    if page.len() != limit {
        return None;
    }
    let r = page.last()?;
    Some(encode_cursor(&serde_json::json!([
        r.from.as_str(),
        r.rel_type.as_str(),
        r.to.as_str()
    ])))
}

/// A page of a CI's history, newest first: its size and the sequence number it starts below.
pub(crate) struct HistoryRequest {
    pub limit: usize,
    pub before_seq: i64,
}

pub(crate) fn history_request(page: &PageRequest) -> Result<HistoryRequest, StoreError> {
    let limit = page.first.or(page.last).unwrap_or(100).min(10_000);
    let before_seq: i64 = match &page.after {
        Some(cur) => decode_cursor(cur)
            .and_then(|v| v.get(0).and_then(Value::as_i64))
            .ok_or_else(|| StoreError::InvalidInput("invalid cursor".into()))?,
        None => i64::MAX,
    };
    Ok(HistoryRequest { limit, before_seq })
}

/// A history page from the (seq, entry) rows a backend read newest first (one more than the
/// limit when more follow).
pub(crate) fn history_page(
    rows: impl IntoIterator<Item = (i64, HistoryEntry)>,
    req: &HistoryRequest,
    total_count: usize,
    page: &PageRequest,
) -> Page<HistoryEntry> {
    let mut items: Vec<(String, HistoryEntry)> = rows
        .into_iter()
        .take(req.limit + 1)
        .map(|(seq, e)| (encode_cursor(&serde_json::json!([seq])), e))
        .collect();
    let has_next_page = items.len() > req.limit;
    items.truncate(req.limit);
    Page {
        items,
        total_count,
        has_next_page,
        has_previous_page: page.after.is_some(),
    }
}
