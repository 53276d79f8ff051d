//! Loading a whole-graph `Snapshot` (`crate::snapshot`) verbatim into a Neo4j graph (ids,
//! provenance, timestamps, evidence and history kept).

use cmdb_model::CiId;
use serde_json::{json, Value};

use super::apply::{identifier_kc, HistoryWriter};
use super::db::run_batched;
use super::rows::{ci_row, rel_row};
use super::Neo4jStore;
use crate::snapshot::Snapshot;
use crate::{GraphStore, StoreError};

impl Neo4jStore {
    /// Does the graph hold no CI at all?
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.stats().await?.cis == 0)
    }

    /// Write a snapshot verbatim (batched, one transaction per statement batch, MERGE on our
    /// ids, so an interrupted load can simply be run again over the same snapshot — except
    /// history, which is appended: load into an empty graph).
    pub async fn load_snapshot(&self, snap: &Snapshot) -> Result<(), StoreError> {
        let _w = self.writer.lock().await;
        let batch = self.batch_size;
        let ci_rows = snap.cis.iter().map(ci_row).collect::<Result<Vec<_>, _>>()?;
        for part in ci_rows.chunks(batch) {
            self.write_part(
                "UNWIND $rows AS r MERGE (n:CI {id: r.id}) SET n += r.props",
                part.to_vec(),
            )
            .await?;
        }
        let idents: Vec<Value> = snap
            .identifiers
            .iter()
            .map(|e| json!({"kc": identifier_kc(&e.key, e.ci.as_str()), "key": e.key, "ci": e.ci.as_str(), "parent": e.parent.as_ref().map(CiId::as_str)}))
            .collect();
        for part in idents.chunks(batch) {
            self.write_part(
                "UNWIND $rows AS r MERGE (i:CiIdentifier {kc: r.kc}) ON CREATE SET i.key = r.key, i.ci = r.ci, i.parent = r.parent",
                part.to_vec(),
            )
            .await?;
        }
        for t in cmdb_model::RelType::ALL {
            let rows = snap
                .relationships
                .iter()
                .filter(|r| r.rel_type == t)
                .map(rel_row)
                .collect::<Result<Vec<_>, _>>()?;
            let stmt = format!(
                "UNWIND $rows AS r MATCH (a:CI {{id: r.from}}) MATCH (b:CI {{id: r.to}}) MERGE (a)-[e:{}]->(b) SET e += r.props",
                t.as_str()
            );
            for part in rows.chunks(batch) {
                self.write_part(&stmt, part.to_vec()).await?;
            }
        }
        for part in snap.history.chunks(batch) {
            self.with_retries("load history", || async {
                let mut tx = self.begin().await?;
                let mut h = HistoryWriter::new();
                for e in part {
                    h.push(e)?;
                }
                h.flush(&mut tx, batch).await?;
                tx.commit().await
            })
            .await?;
        }
        drop(_w);
        self.repair_labels().await
    }

    async fn write_part(&self, stmt: &str, rows: Vec<Value>) -> Result<(), StoreError> {
        self.with_retries("load", || {
            let rows = rows.clone();
            async move {
                let mut tx = self.begin().await?;
                run_batched(&mut tx, stmt, rows, self.batch_size, &json!({})).await?;
                tx.commit().await
            }
        })
        .await
    }
}
