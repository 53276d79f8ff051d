//! Scoped staleness after a complete run.

use cmdb_model::{ChangeKind, CiId, Delta, HistoryEntry, RelKey, RelType};
use rusqlite::{params, Transaction};
use serde_json::Value;

use super::codec::*;
use super::EdgeChange;
use crate::StoreError;

/// After a complete run over a scope: what this source saw there before and not now loses
/// that sighting; what no source sees any more becomes STALE (CIs) or CLOSED (relationships).
pub(super) fn mark_stale(
    tx: &Transaction<'_>,
    d: &Delta,
    edges: &mut Vec<EdgeChange>,
) -> Result<(usize, usize), StoreError> {
    if !d.scope.complete || d.scope.targets.is_empty() {
        return Ok((0, 0));
    }
    let mut gone = Vec::new();
    for target in &d.scope.targets {
        let mut stmt = tx.prepare_cached(
            "SELECT entity FROM sightings WHERE source = ?1 AND target = ?2 AND run_id != ?3",
        )?;
        let rows = stmt.query_map(params![d.source.as_str(), target, d.run_id.as_str()], |r| {
            r.get::<_, String>(0)
        })?;
        for r in rows {
            gone.push(r?);
        }
        tx.prepare_cached(
            "DELETE FROM sightings WHERE source = ?1 AND target = ?2 AND run_id != ?3",
        )?
        .execute(params![d.source.as_str(), target, d.run_id.as_str()])?;
    }
    let (mut staled, mut closed) = (0, 0);
    for entity in gone {
        let remaining: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM sightings WHERE entity = ?1")?
            .query_row([&entity], |r| r.get(0))?;
        if remaining > 0 {
            continue;
        }
        let hist = |ci: &CiId,
                    kind: ChangeKind,
                    field: Option<&str>,
                    rel: Option<RelKey>,
                    old: &str,
                    new: &str| HistoryEntry {
            ci: ci.clone(),
            at: d.at,
            kind,
            field: field.map(str::to_string),
            relationship: rel,
            old: Some(Value::String(old.into())),
            new: Some(Value::String(new.into())),
            source: d.source.clone(),
            run_id: Some(d.run_id.clone()),
        };
        if let Some(rest) = entity.strip_prefix("r|") {
            let mut parts = rest.splitn(3, '|');
            let (Some(t), Some(f), Some(to)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let Ok(t) = t.parse::<RelType>() else {
                continue;
            };
            let key = RelKey {
                rel_type: t,
                from: CiId(f.into()),
                to: CiId(to.into()),
            };
            let n = tx
                .prepare_cached("UPDATE rels SET status = 'CLOSED' WHERE from_id = ?1 AND type = ?2 AND to_id = ?3 AND status = 'ACTIVE'")?
                .execute(params![f, t.as_str(), to])?;
            if n > 0 {
                closed += 1;
                edges.push((f.to_string(), t, to.to_string(), false));
                insert_history(
                    tx,
                    &hist(
                        &key.from.clone(),
                        ChangeKind::RelationshipClosed,
                        None,
                        Some(key),
                        "ACTIVE",
                        "CLOSED",
                    ),
                )?;
            }
        } else {
            let n = tx
                .prepare_cached(
                    "UPDATE cis SET status = 'STALE' WHERE id = ?1 AND status = 'ACTIVE'",
                )?
                .execute([&entity])?;
            if n > 0 {
                staled += 1;
                insert_history(
                    tx,
                    &hist(
                        &CiId(entity.clone()),
                        ChangeKind::StatusChanged,
                        Some("status"),
                        None,
                        "ACTIVE",
                        "STALE",
                    ),
                )?;
            }
        }
    }
    Ok((staled, closed))
}
