//! Reconciliation's view of the graph, read inside the write transaction, and the point
//! reads it shares with the read path.

use cmdb_model::{Ci, CiId, CurrentView, RelKey, RelType, Relationship, ViewError};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::codec::*;
use crate::StoreError;

/// Reconciliation's view of the graph, read inside the write transaction.
pub(super) struct TxView<'a> {
    pub(super) tx: &'a Transaction<'a>,
}

pub(super) fn verr(e: impl std::fmt::Display) -> ViewError {
    ViewError(e.to_string())
}

pub(super) fn get_ci(c: &Connection, id: &str) -> Result<Option<Ci>, StoreError> {
    let mut stmt = c.prepare_cached(&format!("SELECT {CI_COLUMNS} FROM cis WHERE id = ?1"))?;
    if let Some(ci) = stmt.query_row([id], row_to_ci).optional()? {
        return Ok(Some(ci?));
    }
    let mut alias = c.prepare_cached("SELECT ci_id FROM aliases WHERE old_id = ?1")?;
    let target: Option<String> = alias.query_row([id], |r| r.get(0)).optional()?;
    match target {
        Some(t) if t != id => {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {CI_COLUMNS} FROM cis WHERE id = ?1"))?;
            match stmt.query_row([&t], row_to_ci).optional()? {
                Some(ci) => Ok(Some(ci?)),
                None => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

pub(super) fn get_rel(c: &Connection, k: &RelKey) -> Result<Option<Relationship>, StoreError> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {REL_COLUMNS} FROM rels WHERE from_id = ?1 AND type = ?2 AND to_id = ?3"
    ))?;
    match stmt
        .query_row(
            params![k.from.as_str(), k.rel_type.as_str(), k.to.as_str()],
            row_to_rel,
        )
        .optional()?
    {
        Some(r) => Ok(Some(r?)),
        None => Ok(None),
    }
}

impl CurrentView for TxView<'_> {
    fn ci(&self, id: &CiId) -> Result<Option<Ci>, ViewError> {
        get_ci(self.tx, id.as_str()).map_err(verr)
    }
    fn lookup(&self, key: &str) -> Result<Vec<CiId>, ViewError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT ci_id FROM identifiers WHERE key = ?1")
            .map_err(verr)?;
        let rows = stmt
            .query_map([key], |r| r.get::<_, String>(0))
            .map_err(verr)?;
        rows.map(|r| r.map(CiId).map_err(verr)).collect()
    }
    fn relationship(&self, key: &RelKey) -> Result<Option<Relationship>, ViewError> {
        get_rel(self.tx, key).map_err(verr)
    }
    fn dependents(&self, parent: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT ci_id, key FROM identifiers WHERE parent = ?1 ORDER BY ci_id, key",
            )
            .map_err(verr)?;
        let rows = stmt
            .query_map([parent.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(verr)?;
        let mut out: Vec<(CiId, Vec<String>)> = Vec::new();
        for r in rows {
            let (id, key) = r.map_err(verr)?;
            match out.last_mut() {
                Some((last, keys)) if last.as_str() == id => keys.push(key),
                _ => out.push((CiId(id), vec![key])),
            }
        }
        Ok(out)
    }
    fn incoming(&self, to: &CiId, rel_type: RelType) -> Result<Vec<Relationship>, ViewError> {
        let mut stmt = self
            .tx
            .prepare_cached(&format!(
                "SELECT {REL_COLUMNS} FROM rels WHERE to_id = ?1 AND type = ?2"
            ))
            .map_err(verr)?;
        let rows = stmt
            .query_map(params![to.as_str(), rel_type.as_str()], row_to_rel)
            .map_err(verr)?;
        collect(rows).map_err(verr)
    }
}
