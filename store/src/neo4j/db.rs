//! The thin layer over neo4rs: bounded waits on every round-trip, explicit transactions, rows
//! deserialised into plain structs, and neo4rs errors mapped onto `StoreError` (never with the
//! password in them: neo4rs errors never carry it, and we never format the config).

use std::time::Duration;

use neo4rs::{BoltType, Graph, Query, Txn};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::StoreError;

/// Prefix of the message of an authentication failure (not retried).
pub(crate) const AUTH_FAILED: &str = "authentication failed";

/// Map a neo4rs error met while doing `during`.
pub(crate) fn map_err(e: neo4rs::Error, during: &str) -> StoreError {
    use neo4rs::{Error as E, Neo4jClientErrorKind as C, Neo4jErrorKind as K};
    match e {
        E::IOError { detail } => StoreError::Unavailable(format!(
            "{during}: the graph database connection failed: {detail}"
        )),
        E::ConnectionError => {
            StoreError::Unavailable(format!("{during}: no connection to the graph database"))
        }
        E::AuthenticationError(m) => StoreError::Unavailable(format!(
            "{AUTH_FAILED} ({during}): the server said: {m}; check the [store] user and password"
        )),
        E::Neo4j(n) => match n.kind() {
            K::Transient => StoreError::Conflict(format!("{during}: {} {}", n.code(), n.message())),
            K::Client(C::Security(_)) => StoreError::Unavailable(format!(
                "{AUTH_FAILED} ({during}): {} {}",
                n.code(),
                n.message()
            )),
            K::Client(C::SessionExpired) => {
                StoreError::Unavailable(format!("{during}: {} {}", n.code(), n.message()))
            }
            _ if n.code().contains("ConstraintValidationFailed")
                || n.code().contains("Deadlock") =>
            {
                StoreError::Conflict(format!("{during}: {} {}", n.code(), n.message()))
            }
            _ => StoreError::Backend(format!("{during}: {} {}", n.code(), n.message())),
        },
        // ArcadeDB reports commit-time conflicts (unique keys, optimistic concurrency) as a
        // FAILURE neo4rs does not expect at COMMIT: a conflict to retry.
        E::UnexpectedMessage(m) if during == "commit" => {
            StoreError::Conflict(format!("commit: {}", truncate(&m, 400)))
        }
        // neo4rs reports a connection that breaks while it streams a result (the server killed
        // mid-PULL) as an unexpected message wrapping the I/O error: the same fault as an
        // IOError, so the same class: unavailable, retried on a fresh pool.
        E::UnexpectedMessage(m) if m.contains("IOError") || m.contains("ConnectionReset") => {
            StoreError::Unavailable(format!(
                "{during}: the graph database connection failed: {}",
                truncate(&m, 400)
            ))
        }
        E::UnexpectedMessage(m) => {
            if m.contains("Duplicated key")
                || m.contains("DuplicatedKey")
                || m.contains("ConcurrentModification")
            {
                StoreError::Conflict(format!("{during}: {}", truncate(&m, 400)))
            } else {
                StoreError::Backend(format!("{during}: {}", truncate(&m, 400)))
            }
        }
        E::DeserializationError(d) => StoreError::Corrupt(format!("{during}: {d}")),
        other => StoreError::Backend(format!("{during}: {other}")),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// May this failure go away if the whole transaction is tried again?
pub(crate) fn retryable(e: &StoreError) -> bool {
    match e {
        StoreError::Conflict(_) => true,
        StoreError::Unavailable(m) => !m.starts_with(AUTH_FAILED),
        _ => false,
    }
}

/// A JSON value as a Bolt parameter (maps, lists, strings, numbers, booleans, null).
pub(crate) fn bolt(v: Value) -> Result<BoltType, StoreError> {
    BoltType::try_from(v).map_err(|e| {
        StoreError::InvalidInput(format!("a value cannot be sent to the graph database: {e}"))
    })
}

/// A Cypher statement with its parameters as JSON.
pub(crate) fn q(cypher: &str, params: Value) -> Result<Query, StoreError> {
    if statement_tracing() {
        LAST.with(|l| *l.borrow_mut() = cypher.chars().take(160).collect());
    }
    let mut query = neo4rs::query(cypher);
    if let Value::Object(map) = params {
        for (k, v) in map {
            query = query.param(&k, bolt(v)?);
        }
    }
    Ok(query)
}

/// Set when a connection may be out of step with the server (a round-trip timed out or the
/// connection broke half-way): neo4rs would hand such a connection out again after a RESET
/// whose answer can be confused with a late one, so the store builds a fresh pool instead.
pub(crate) type Poison = std::sync::Arc<std::sync::atomic::AtomicBool>;

async fn timed<T>(
    limit: Duration,
    during: &str,
    poison: &Poison,
    fut: impl std::future::Future<Output = Result<T, neo4rs::Error>>,
) -> Result<T, StoreError> {
    let r = match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| map_err(e, during)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "{during}: the graph database did not answer within {} s",
            limit.as_secs_f32()
        ))),
    };
    if let Err(StoreError::Unavailable(_) | StoreError::Backend(_) | StoreError::Corrupt(_)) = &r {
        poison.store(true, std::sync::atomic::Ordering::Release);
    }
    r
}

/// An explicit transaction with a time limit on every round-trip. Dropped without commit, it
/// rolls back (the connection is reset before reuse).
pub(crate) struct Tx {
    txn: Txn,
    limit: Duration,
    poison: Poison,
}

fn slow(started: std::time::Instant, what: &str, rows: usize) {
    let el = started.elapsed();
    if el > Duration::from_millis(500) {
        tracing::debug!(
            ms = el.as_millis() as u64,
            rows,
            statement = what,
            "slow graph statement"
        );
    }
}

impl Tx {
    pub(crate) async fn begin(
        graph: &Graph,
        limit: Duration,
        poison: Poison,
    ) -> Result<Tx, StoreError> {
        let txn = timed(limit, "begin", &poison, graph.start_txn()).await?;
        Ok(Tx { txn, limit, poison })
    }

    pub(crate) async fn run(&mut self, query: Query) -> Result<(), StoreError> {
        let t = std::time::Instant::now();
        let text = if statement_tracing() {
            query_text(&query)
        } else {
            String::new()
        };
        let r = timed(self.limit, "write", &self.poison, self.txn.run(query)).await;
        slow(t, &text, 0);
        r
    }

    pub(crate) async fn rows<T: DeserializeOwned>(
        &mut self,
        query: Query,
    ) -> Result<Vec<T>, StoreError> {
        let limit = self.limit;
        let t = std::time::Instant::now();
        let text = if statement_tracing() {
            query_text(&query)
        } else {
            String::new()
        };
        let mut stream = timed(limit, "query", &self.poison, self.txn.execute(query)).await?;
        let mut out = Vec::new();
        loop {
            let next = timed(limit, "query", &self.poison, stream.next(self.txn.handle())).await?;
            match next {
                Some(row) => out.push(row.to::<T>().map_err(|e| {
                    StoreError::Corrupt(format!("unexpected row from the graph database: {e}"))
                })?),
                None => break,
            }
        }
        slow(t, &text, out.len());
        Ok(out)
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        timed(self.limit, "commit", &self.poison, self.txn.commit()).await
    }

    pub(crate) async fn rollback(self) -> Result<(), StoreError> {
        timed(self.limit, "rollback", &self.poison, self.txn.rollback()).await
    }
}

/// Run a write statement with many rows in slices of `batch` rows: `$rows` is bound to each
/// slice (plus the fixed `extra` parameters).
pub(crate) async fn run_batched(
    tx: &mut Tx,
    cypher: &str,
    rows: Vec<Value>,
    batch: usize,
    extra: &Value,
) -> Result<(), StoreError> {
    let batch = batch.max(1);
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = if rows.len() > batch {
            rows.split_off(batch)
        } else {
            Vec::new()
        };
        let mut params = match extra {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        params.insert("rows".into(), Value::Array(rows));
        tx.run(q(cypher, Value::Object(params))?).await?;
        rows = rest;
    }
    Ok(())
}

/// Like [`run_batched`] for statements returning rows.
pub(crate) async fn rows_batched<T: DeserializeOwned>(
    tx: &mut Tx,
    cypher: &str,
    rows: Vec<Value>,
    batch: usize,
    extra: &Value,
) -> Result<Vec<T>, StoreError> {
    let batch = batch.max(1);
    let mut out = Vec::new();
    let mut rows = rows;
    while !rows.is_empty() {
        let rest = if rows.len() > batch {
            rows.split_off(batch)
        } else {
            Vec::new()
        };
        let mut params = match extra {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        params.insert("rows".into(), Value::Array(rows));
        out.extend(tx.rows::<T>(q(cypher, Value::Object(params))?).await?);
        rows = rest;
    }
    Ok(out)
}

thread_local! {
    static LAST: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Slow statements are logged with their text only when the store's TRACE level is on
/// (`RUST_LOG=cmdb_store=trace`): keeping the text costs a copy per statement.
fn statement_tracing() -> bool {
    tracing::enabled!(tracing::Level::TRACE)
}

fn query_text(_q: &Query) -> String {
    LAST.with(|l| l.borrow().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_broken_mid_stream_is_unavailable_and_retried() {
        // What neo4rs 0.8 returned when the Bolt lab's server was killed during a PULL.
        let e = neo4rs::Error::UnexpectedMessage(
            "unexpected response for PULL: Err(IOError { detail: Os { code: 104, kind: \
             ConnectionReset, message: \"Connection reset by peer\" } })"
                .into(),
        );
        let mapped = map_err(e, "query");
        assert!(matches!(mapped, StoreError::Unavailable(_)), "{mapped:?}");
        assert!(retryable(&mapped));
    }

    #[test]
    fn other_unexpected_messages_stay_backend_errors_and_commit_failures_conflicts() {
        let e = neo4rs::Error::UnexpectedMessage("unexpected response for RUN: Ignored".into());
        assert!(matches!(map_err(e, "query"), StoreError::Backend(_)));
        let e = neo4rs::Error::UnexpectedMessage("Duplicated key".into());
        assert!(matches!(map_err(e, "query"), StoreError::Conflict(_)));
        let e = neo4rs::Error::UnexpectedMessage("anything".into());
        assert!(matches!(map_err(e, "commit"), StoreError::Conflict(_)));
    }
}
