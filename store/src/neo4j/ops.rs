//! The operations contract on a Bolt server: one node label per record kind, beside the graph
//! and never linked to it (a CI is named by id, as in the embedded store, so retiring or
//! merging a CI never touches an alert's history). A batch is one transaction, retried whole.

use std::collections::HashMap;

use async_trait::async_trait;
use cmdb_events::Incident;
use cmdb_model::{CiId, Timestamp};
use serde::Deserialize;
use serde_json::{json, Value};

use super::db::{q, run_batched, Tx};
use super::Neo4jStore;
use crate::ops::*;
use crate::StoreError;

/// Schema statements of the operations records (migration 2 of the Bolt backend).
pub(crate) const MIGRATION: &[&str] = &[
    "CREATE CONSTRAINT cmdb_alert_id IF NOT EXISTS FOR (n:CmdbAlert) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX cmdb_alert_key IF NOT EXISTS FOR (n:CmdbAlert) ON (n.key)",
    "CREATE INDEX cmdb_alert_open IF NOT EXISTS FOR (n:CmdbAlert) ON (n.open)",
    "CREATE INDEX cmdb_alert_ci IF NOT EXISTS FOR (n:CmdbAlert) ON (n.ci)",
    "CREATE INDEX cmdb_status_subject IF NOT EXISTS FOR (n:CmdbStatus) ON (n.subject)",
    "CREATE CONSTRAINT cmdb_status_now_k IF NOT EXISTS FOR (n:CmdbStatusNow) REQUIRE n.k IS UNIQUE",
    "CREATE INDEX cmdb_status_now_kind IF NOT EXISTS FOR (n:CmdbStatusNow) ON (n.kind)",
    "CREATE CONSTRAINT cmdb_incident_id IF NOT EXISTS FOR (n:CmdbIncident) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX cmdb_incident_open IF NOT EXISTS FOR (n:CmdbIncident) ON (n.open)",
    "CREATE CONSTRAINT cmdb_delivery_id IF NOT EXISTS FOR (n:CmdbDelivery) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX cmdb_delivery_state IF NOT EXISTS FOR (n:CmdbDelivery) ON (n.state)",
];

/// Labels `erase_everything` clears.
pub(crate) const LABELS: &[&str] = &[
    "CmdbAlert",
    "CmdbStatus",
    "CmdbStatusNow",
    "CmdbIncident",
    "CmdbDelivery",
];

#[derive(Deserialize)]
struct Doc {
    doc: String,
}

#[derive(Deserialize)]
struct StatusRow {
    subject: String,
    kind: String,
    status: String,
    at: i64,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

fn status_of(r: StatusRow) -> Result<StatusChange, StoreError> {
    Ok(StatusChange {
        subject: CiId::new(r.subject),
        kind: SubjectKind::parse(&r.kind)?,
        status: parse_status(&r.status)?,
        at: from_ms(r.at)?,
    })
}

fn parse_docs<T: serde::de::DeserializeOwned>(
    rows: Vec<Doc>,
    what: &str,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(|d| from_json(&d.doc, what)).collect()
}

/// `cypher` with ` LIMIT $lim` when `n` limits (0 = no limit), and the parameters with `lim`.
/// No limit is no clause: ArcadeDB reads LIMIT as a 32-bit integer and refuses huge ones.
fn limited(cypher: &str, n: usize, mut params: Value) -> Result<neo4rs::Query, StoreError> {
    if n == 0 {
        return q(cypher, params);
    }
    params["lim"] = json!(n.min(i32::MAX as usize) as i64);
    q(&format!("{cypher} LIMIT $lim"), params)
}

/// Status changes: the timeline (numbered from a sequence, which orders changes of one
/// subject within one millisecond) and each subject's current status.
async fn write_status_changes(
    tx: &mut Tx,
    changes: &[StatusChange],
    bs: usize,
) -> Result<(), StoreError> {
    // A sequence orders changes of one subject within one millisecond.
    #[derive(Deserialize)]
    struct Seq {
        v: i64,
    }
    let n = changes.len() as i64;
    let seq: Vec<Seq> = tx
        .rows(q(
            "MERGE (m:CmdbMeta {key: 'ops_status_seq'}) SET m.value = coalesce(m.value, 0) + $n RETURN m.value AS v",
            json!({ "n": n }),
        )?)
        .await?;
    let last = seq.first().map(|s| s.v).unwrap_or(n);
    let rows: Vec<Value> = changes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "seq": last - n + 1 + i as i64,
                "subject": s.subject.as_str(), "kind": s.kind.as_str(),
                "status": status_code(s.status), "at": ms(s.at),
                "k": format!("{}|{}", s.kind.as_str(), s.subject.as_str()),
            })
        })
        .collect();
    run_batched(
        tx,
        "UNWIND $rows AS r CREATE (:CmdbStatus {seq: r.seq, subject: r.subject, kind: r.kind, status: r.status, at: r.at})",
        rows.clone(),
        bs,
        &json!({}),
    )
    .await?;
    run_batched(
        tx,
        "UNWIND $rows AS r MERGE (s:CmdbStatusNow {k: r.k})
         SET s.subject = r.subject, s.kind = r.kind, s.status = r.status, s.at = r.at",
        rows,
        bs,
        &json!({}),
    )
    .await?;
    Ok(())
}

impl Neo4jStore {
    async fn commit_once(&self, batch: &OpsBatch) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let bs = self.batch_size;
        let alerts: Vec<Value> = batch
            .alerts
            .iter()
            .map(|a| {
                Ok(json!({
                    "id": a.id, "key": a.alert.key, "open": a.alert.is_open(),
                    "ci": a.binding.ci.as_ref().map(CiId::as_str),
                    "rf": ms(a.received_first), "rl": ms(a.received_last), "doc": to_json(a)?,
                }))
            })
            .collect::<Result<_, StoreError>>()?;
        run_batched(
            &mut tx,
            "UNWIND $rows AS r MERGE (a:CmdbAlert {id: r.id})
             SET a.key = r.key, a.open = r.open, a.ci = r.ci, a.rf = r.rf, a.rl = r.rl, a.doc = r.doc",
            alerts,
            bs,
            &json!({}),
        )
        .await?;
        if !batch.status_changes.is_empty() {
            write_status_changes(&mut tx, &batch.status_changes, bs).await?;
        }
        let incidents: Vec<Value> = batch
            .incidents
            .iter()
            .map(|i| {
                Ok(json!({
                    "id": i.id, "open": i.is_open(), "opened": ms(i.opened_at), "doc": to_json(i)?,
                }))
            })
            .collect::<Result<_, StoreError>>()?;
        run_batched(
            &mut tx,
            "UNWIND $rows AS r MERGE (i:CmdbIncident {id: r.id})
             SET i.open = r.open, i.opened = r.opened, i.doc = r.doc",
            incidents,
            bs,
            &json!({}),
        )
        .await?;
        let deliveries: Vec<Value> = batch
            .deliveries
            .iter()
            .map(|d| {
                Ok(json!({
                    "id": d.id, "state": delivery_state(d.state), "next": ms(d.next_attempt),
                    "created": ms(d.created), "doc": to_json(d)?,
                }))
            })
            .collect::<Result<_, StoreError>>()?;
        run_batched(
            &mut tx,
            // MERGE: a retry after a commit whose answer was lost finds the delivery there.
            "UNWIND $rows AS r MERGE (d:CmdbDelivery {id: r.id})
             ON CREATE SET d.state = r.state, d.next = r.next, d.created = r.created, d.doc = r.doc",
            deliveries,
            bs,
            &json!({}),
        )
        .await?;
        tx.commit().await
    }
}

#[async_trait]
impl OpsStore for Neo4jStore {
    async fn latest_alerts(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, AlertRecord>, StoreError> {
        let mut out = HashMap::with_capacity(keys.len());
        if keys.is_empty() {
            return Ok(out);
        }
        let mut uniq: Vec<&String> = keys.iter().collect();
        uniq.sort();
        uniq.dedup();
        for chunk in uniq.chunks(self.batch_size.max(1)) {
            let rows: Vec<Doc> = self
                .read_rows(q(
                    "UNWIND $keys AS k MATCH (a:CmdbAlert {key: k})
                     WITH k, a ORDER BY a.rf DESC, a.id DESC
                     WITH k, collect(a.doc)[0] AS doc RETURN doc",
                    json!({ "keys": chunk }),
                )?)
                .await?;
            for r in parse_docs::<AlertRecord>(rows, "alert")? {
                out.insert(r.alert.key.clone(), r);
            }
        }
        Ok(out)
    }

    async fn alert(&self, id: &str) -> Result<Option<AlertRecord>, StoreError> {
        let rows: Vec<Doc> = self
            .read_rows(q(
                "MATCH (a:CmdbAlert {id: $id}) RETURN a.doc AS doc",
                json!({ "id": id }),
            )?)
            .await?;
        Ok(parse_docs(rows, "alert")?.into_iter().next())
    }

    async fn alerts(&self, aq: &AlertQuery) -> Result<Vec<AlertRecord>, StoreError> {
        let rows: Vec<Doc> = match &aq.cis {
            Some(cis) => {
                let ids: Vec<&str> = cis.iter().map(CiId::as_str).collect();
                self.read_rows(limited(
                    "UNWIND $cis AS c MATCH (a:CmdbAlert {ci: c})
                     WHERE a.open = true OR $open = false
                     RETURN a.doc AS doc ORDER BY a.rl DESC, a.id DESC",
                    aq.limit,
                    json!({ "cis": ids, "open": aq.open_only }),
                )?)
                .await?
            }
            None if aq.open_only => {
                self.read_rows(limited(
                    "MATCH (a:CmdbAlert) WHERE a.open = true AND (a.ci IS NULL OR $unbound = false)
                     RETURN a.doc AS doc ORDER BY a.rl DESC, a.id DESC",
                    aq.limit,
                    json!({ "unbound": aq.unbound_only }),
                )?)
                .await?
            }
            None => {
                self.read_rows(limited(
                    "MATCH (a:CmdbAlert) WHERE a.ci IS NULL OR $unbound = false
                     RETURN a.doc AS doc ORDER BY a.rl DESC, a.id DESC",
                    aq.limit,
                    json!({ "unbound": aq.unbound_only }),
                )?)
                .await?
            }
        };
        let mut out: Vec<AlertRecord> = parse_docs(rows, "alert")?;
        if aq.unbound_only {
            out.retain(|a| a.binding.ci.is_none());
        }
        Ok(out)
    }

    async fn open_alerts(&self) -> Result<Vec<AlertRecord>, StoreError> {
        let rows: Vec<Doc> = self
            .read_rows(q(
                "MATCH (a:CmdbAlert) WHERE a.open = true RETURN a.doc AS doc ORDER BY a.rf, a.id",
                json!({}),
            )?)
            .await?;
        parse_docs(rows, "alert")
    }

    async fn commit(&self, batch: &OpsBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let _w = self.writer.lock().await;
        self.with_retries("ops commit", || self.commit_once(batch))
            .await
    }

    async fn current_statuses(&self, kind: SubjectKind) -> Result<Vec<StatusChange>, StoreError> {
        let rows: Vec<StatusRow> = self
            .read_rows(q(
                "MATCH (s:CmdbStatusNow) WHERE s.kind = $kind
                 RETURN s.subject AS subject, s.kind AS kind, s.status AS status, s.at AS at
                 ORDER BY s.subject",
                json!({ "kind": kind.as_str() }),
            )?)
            .await?;
        rows.into_iter().map(status_of).collect()
    }

    async fn status_history(
        &self,
        subject: &CiId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StatusChange>, StoreError> {
        let p = json!({ "s": subject.as_str(), "from": ms(from), "to": ms(to) });
        let mut out: Vec<StatusRow> = self
            .read_rows(q(
                "MATCH (c:CmdbStatus {subject: $s}) WHERE c.at < $from
                 RETURN c.subject AS subject, c.kind AS kind, c.status AS status, c.at AS at
                 ORDER BY c.at DESC, c.seq DESC LIMIT 1",
                p.clone(),
            )?)
            .await?;
        out.extend(
            self.read_rows::<StatusRow>(q(
                "MATCH (c:CmdbStatus {subject: $s}) WHERE c.at >= $from AND c.at < $to
                 RETURN c.subject AS subject, c.kind AS kind, c.status AS status, c.at AS at
                 ORDER BY c.at, c.seq",
                p,
            )?)
            .await?,
        );
        out.into_iter().map(status_of).collect()
    }

    async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let rows: Vec<Doc> = self
            .read_rows(q(
                "MATCH (i:CmdbIncident {id: $id}) RETURN i.doc AS doc",
                json!({ "id": id }),
            )?)
            .await?;
        Ok(parse_docs(rows, "incident")?.into_iter().next())
    }

    async fn incidents(&self, iq: &IncidentQuery) -> Result<Vec<Incident>, StoreError> {
        let rows: Vec<Doc> = self
            .read_rows(limited(
                "MATCH (i:CmdbIncident) WHERE i.open = true OR $open = false
                 RETURN i.doc AS doc ORDER BY i.opened DESC, i.id DESC",
                iq.limit,
                json!({ "open": iq.open_only }),
            )?)
            .await?;
        parse_docs(rows, "incident")
    }

    async fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<Doc> = self
            .read_rows(limited(
                "MATCH (d:CmdbDelivery) WHERE d.state = 'PENDING' AND d.next <= $now
                 RETURN d.doc AS doc ORDER BY d.next, d.created, d.id",
                limit,
                json!({ "now": ms(now) }),
            )?)
            .await?;
        parse_docs(rows, "delivery")
    }

    async fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        let doc = to_json(d)?;
        let _w = self.writer.lock().await;
        self.with_retries("delivery update", || async {
            let mut tx = self.begin().await?;
            let n: Vec<Count> = tx
                .rows(q(
                    "MATCH (d:CmdbDelivery {id: $id}) SET d.state = $state, d.next = $next, d.doc = $doc RETURN count(d) AS n",
                    json!({ "id": d.id, "state": delivery_state(d.state), "next": ms(d.next_attempt), "doc": doc }),
                )?)
                .await?;
            tx.commit().await?;
            if n.first().map(|c| c.n).unwrap_or(0) == 0 {
                return Err(StoreError::NotFound(format!("delivery {}", d.id)));
            }
            Ok(())
        })
        .await
    }

    async fn deliveries(&self, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        let rows: Vec<Doc> = self
            .read_rows(limited(
                "MATCH (d:CmdbDelivery) RETURN d.doc AS doc ORDER BY d.created DESC, d.id DESC",
                limit,
                json!({}),
            )?)
            .await?;
        parse_docs(rows, "delivery")
    }

    async fn ops_counts(&self) -> Result<OpsCounts, StoreError> {
        let count = |cypher: &'static str| async move {
            let r: Vec<Count> = self.read_rows(q(cypher, json!({}))?).await?;
            Ok::<usize, StoreError>(r.first().map(|c| c.n).unwrap_or(0) as usize)
        };
        Ok(OpsCounts {
            open_alerts: count("MATCH (a:CmdbAlert) WHERE a.open = true RETURN count(a) AS n")
                .await?,
            open_unbound_alerts: count(
                "MATCH (a:CmdbAlert) WHERE a.open = true AND a.ci IS NULL RETURN count(a) AS n",
            )
            .await?,
            open_incidents: count(
                "MATCH (i:CmdbIncident) WHERE i.open = true RETURN count(i) AS n",
            )
            .await?,
            pending_deliveries: count(
                "MATCH (d:CmdbDelivery) WHERE d.state = 'PENDING' RETURN count(d) AS n",
            )
            .await?,
        })
    }
}
