//! The operations contract on the embedded store: five tables beside the graph's, in the same
//! file, written through the same single writer (so a batch is one SQLite transaction).

use std::collections::HashMap;

use async_trait::async_trait;
use cmdb_events::Incident;
use cmdb_model::{CiId, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};

use super::EmbeddedStore;
use crate::ops::*;
use crate::StoreError;

/// Created with the graph's schema (`CREATE … IF NOT EXISTS`: older files gain them on open).
pub(crate) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ops_alerts (
  id TEXT PRIMARY KEY, key TEXT NOT NULL, open INTEGER NOT NULL, ci_id TEXT,
  received_first INTEGER NOT NULL, received_last INTEGER NOT NULL, doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ops_alerts_key ON ops_alerts (key, received_first);
CREATE INDEX IF NOT EXISTS ops_alerts_open ON ops_alerts (open, received_last);
CREATE INDEX IF NOT EXISTS ops_alerts_ci ON ops_alerts (ci_id, received_last) WHERE ci_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS ops_alerts_last ON ops_alerts (received_last);
CREATE TABLE IF NOT EXISTS ops_status (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, kind TEXT NOT NULL,
  status TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS ops_status_subject ON ops_status (subject, at, seq);
CREATE TABLE IF NOT EXISTS ops_status_now (
  subject TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (kind, subject)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ops_incidents (
  id TEXT PRIMARY KEY, open INTEGER NOT NULL, opened_at INTEGER NOT NULL, doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ops_incidents_open ON ops_incidents (open, opened_at);
CREATE INDEX IF NOT EXISTS ops_incidents_opened ON ops_incidents (opened_at);
CREATE TABLE IF NOT EXISTS ops_outbox (
  id TEXT PRIMARY KEY, state TEXT NOT NULL, next_attempt INTEGER NOT NULL,
  created INTEGER NOT NULL, doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ops_outbox_due ON ops_outbox (state, next_attempt);
CREATE INDEX IF NOT EXISTS ops_outbox_created ON ops_outbox (created);
"#;

fn alert_rows(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<AlertRecord>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let docs = stmt
        .query_map(p, |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    docs.iter().map(|d| from_json(d, "alert")).collect()
}

fn status_rows(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<StatusChange>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt
        .query_map(p, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(subject, kind, status, at)| {
            Ok(StatusChange {
                subject: CiId::new(subject),
                kind: SubjectKind::parse(&kind)?,
                status: parse_status(&status)?,
                at: from_ms(at)?,
            })
        })
        .collect()
}

fn docs<T: serde::de::DeserializeOwned>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = c.prepare_cached(sql)?;
    let docs = stmt
        .query_map(p, |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    docs.iter().map(|d| from_json(d, what)).collect()
}

fn sql_limit(n: usize) -> i64 {
    if n == 0 {
        i64::MAX
    } else {
        n as i64
    }
}

#[async_trait]
impl OpsStore for EmbeddedStore {
    async fn latest_alerts(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, AlertRecord>, StoreError> {
        self.read(|c| {
            let mut out = HashMap::with_capacity(keys.len());
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM ops_alerts WHERE key = ?1 ORDER BY received_first DESC, id DESC LIMIT 1",
            )?;
            for k in keys {
                if out.contains_key(k) {
                    continue;
                }
                if let Some(doc) = stmt
                    .query_row([k], |r| r.get::<_, String>(0))
                    .optional()?
                {
                    out.insert(k.clone(), from_json::<AlertRecord>(&doc, "alert")?);
                }
            }
            Ok(out)
        })
    }

    async fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        self.read(|c| {
            Ok(
                alert_rows(c, "SELECT doc FROM ops_alerts WHERE id = ?1", [id])?
                    .into_iter()
                    .next(),
            )
        })
    }

    async fn alerts(&self, q: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError> {
        self.read(|c| {
            let lim = sql_limit(q.limit);
            let mut out = match &q.cis {
                Some(cis) => {
                    let mut all = Vec::new();
                    for ci in cis {
                        all.extend(alert_rows(
                            c,
                            "SELECT doc FROM ops_alerts WHERE ci_id = ?1 AND (open = 1 OR ?2 = 0) ORDER BY received_last DESC LIMIT ?3",
                            params![ci.as_str(), q.open_only as i64, lim],
                        )?);
                    }
                    all.sort_by(|a, b| b.received_last.cmp(&a.received_last).then_with(|| b.id.cmp(&a.id)));
                    all
                }
                None if q.open_only => alert_rows(
                    c,
                    "SELECT doc FROM ops_alerts WHERE open = 1 AND (ci_id IS NULL OR ?1 = 0) ORDER BY received_last DESC, id DESC LIMIT ?2",
                    params![q.unbound_only as i64, lim],
                )?,
                None => alert_rows(
                    c,
                    "SELECT doc FROM ops_alerts WHERE (ci_id IS NULL OR ?1 = 0) ORDER BY received_last DESC, id DESC LIMIT ?2",
                    params![q.unbound_only as i64, lim],
                )?,
            };
            if q.unbound_only {
                out.retain(|a| a.binding.ci.is_none());
            }
            if q.limit > 0 {
                out.truncate(q.limit);
            }
            Ok(out)
        })
    }

    async fn open_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        self.read(|c| {
            alert_rows(
                c,
                "SELECT doc FROM ops_alerts WHERE open = 1 ORDER BY received_first, id",
                [],
            )
        })
    }

    async fn commit(&self, batch: &OpsBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(|c| {
            let tx = c.transaction()?;
            {
                let mut put = tx.prepare_cached(
                    "INSERT INTO ops_alerts (id, key, open, ci_id, received_first, received_last, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET key = excluded.key, open = excluded.open,
                       ci_id = excluded.ci_id, received_first = excluded.received_first,
                       received_last = excluded.received_last, doc = excluded.doc",
                )?;
                for a in &batch.alerts {
                    put.execute(params![
                        a.id,
                        a.alert.key,
                        a.alert.is_open() as i64,
                        a.binding.ci.as_ref().map(CiId::as_str),
                        ms(a.received_first),
                        ms(a.received_last),
                        to_json(a)?,
                    ])?;
                }
                let mut hist = tx.prepare_cached(
                    "INSERT INTO ops_status (subject, kind, status, at) VALUES (?1, ?2, ?3, ?4)",
                )?;
                let mut now = tx.prepare_cached(
                    "INSERT INTO ops_status_now (subject, kind, status, at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, subject) DO UPDATE SET status = excluded.status, at = excluded.at",
                )?;
                for s in &batch.status_changes {
                    let p = params![
                        s.subject.as_str(),
                        s.kind.as_str(),
                        status_code(s.status),
                        ms(s.at)
                    ];
                    hist.execute(p)?;
                    now.execute(p)?;
                }
                let mut inc = tx.prepare_cached(
                    "INSERT INTO ops_incidents (id, open, opened_at, doc) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET open = excluded.open, doc = excluded.doc",
                )?;
                for i in &batch.incidents {
                    inc.execute(params![i.id, i.is_open() as i64, ms(i.opened_at), to_json(i)?])?;
                }
                let mut out = tx.prepare_cached(
                    "INSERT INTO ops_outbox (id, state, next_attempt, created, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for d in &batch.deliveries {
                    out.execute(params![
                        d.id,
                        delivery_state(d.state),
                        ms(d.next_attempt),
                        ms(d.created),
                        to_json(d)?
                    ])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    async fn current_statuses(&self, kind: SubjectKind) -> Result<Vec<StatusChange>, StoreError> {
        self.read(|c| {
            status_rows(
                c,
                "SELECT subject, kind, status, at FROM ops_status_now WHERE kind = ?1 ORDER BY subject",
                [kind.as_str()],
            )
        })
    }

    async fn status_history(
        &self,
        subject: &CiId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatusChange>, StoreError> {
        self.read(|c| {
            let mut out = status_rows(
                c,
                "SELECT subject, kind, status, at FROM ops_status WHERE subject = ?1 AND at < ?2
                 ORDER BY at DESC, seq DESC LIMIT 1",
                params![subject.as_str(), ms(from)],
            )?;
            out.extend(status_rows(
                c,
                "SELECT subject, kind, status, at FROM ops_status WHERE subject = ?1 AND at >= ?2 AND at < ?3
                 ORDER BY at, seq",
                params![subject.as_str(), ms(from), ms(to)],
            )?);
            Ok(out)
        })
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        self.read(|c| {
            Ok(docs(
                c,
                "SELECT doc FROM ops_incidents WHERE id = ?1",
                [id],
                "incident",
            )?
            .into_iter()
            .next())
        })
    }

    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>, StoreError> {
        self.read(|c| {
            docs(
                c,
                "SELECT doc FROM ops_incidents WHERE (open = 1 OR ?1 = 0) ORDER BY opened_at DESC, id DESC LIMIT ?2",
                params![q.open_only as i64, sql_limit(q.limit)],
                "incident",
            )
        })
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.read(|c| {
            docs(
                c,
                "SELECT doc FROM ops_outbox WHERE state = 'PENDING' AND next_attempt <= ?1
                 ORDER BY next_attempt, created, id LIMIT ?2",
                params![ms(now), sql_limit(limit)],
                "delivery",
            )
        })
    }

    async fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        self.write(|c| {
            let n = c.execute(
                "UPDATE ops_outbox SET state = ?2, next_attempt = ?3, doc = ?4 WHERE id = ?1",
                params![
                    d.id,
                    delivery_state(d.state),
                    ms(d.next_attempt),
                    to_json(d)?
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("delivery {}", d.id)));
            }
            Ok(())
        })
    }

    async fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        self.read(|c| {
            docs(
                c,
                "SELECT doc FROM ops_outbox ORDER BY created DESC, id DESC LIMIT ?1",
                [sql_limit(limit)],
                "delivery",
            )
        })
    }

    async fn ops_counts(&self) -> Result<OpsCounts, StoreError> {
        self.read(|c| {
            let one = |sql: &str| -> Result<usize, StoreError> {
                Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as usize)
            };
            Ok(OpsCounts {
                open_alerts: one("SELECT count(*) FROM ops_alerts WHERE open = 1")?,
                open_unbound_alerts: one(
                    "SELECT count(*) FROM ops_alerts WHERE open = 1 AND ci_id IS NULL",
                )?,
                open_incidents: one("SELECT count(*) FROM ops_incidents WHERE open = 1")?,
                pending_deliveries: one("SELECT count(*) FROM ops_outbox WHERE state = 'PENDING'")?,
            })
        })
    }
}
