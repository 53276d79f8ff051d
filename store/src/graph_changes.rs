//! The `graph_changes` log: how every process with the same SQLite file keeps its in-memory
//! adjacency index equal to the committed graph.
//!
//! Every write transaction that changes an active edge or a CI's class appends one row naming
//! the CIs it touched (`ids`, a JSON array; NULL = "too many, reload everything"), *in the same
//! transaction* — so the row exists exactly when the change does, even across a crash. Each
//! open store remembers the newest `seq` its index reflects (`applied`). Before answering from
//! the index it asks SQLite whether any other connection committed since it last looked
//! (`PRAGMA data_version`, no page read); if so it reads the rows after `applied` and re-reads
//! just those CIs' edges and classes, all in one read transaction so the index moves to one
//! consistent snapshot. Its own writes patch the index from their delta when nothing else
//! committed in between (`applied == prev`), and fall back to the same catch-up otherwise.
//!
//! The log is trimmed from the old end (bounded in rows and in ids); a store that fell behind
//! the trimmed part, meets a NULL row, or would re-read more CIs than a reload costs, reloads
//! the whole index instead.

use std::collections::BTreeSet;

use cmdb_model::{CiClass, RelType};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::adjacency::Adjacency;
use crate::StoreError;

/// A write that touches more CIs than this logs "reload everything".
pub const MAX_LOGGED_IDS: usize = 250_000;
/// Rows kept in the log (newest first) …
const KEEP_ROWS: usize = if cfg!(test) { 20 } else { 10_000 };
/// … and ids kept across them; what falls out makes a store that lags that far reload.
const KEEP_IDS: i64 = if cfg!(test) { 200 } else { 250_000 };
/// Trim every this many writes.
const TRIM_EVERY: i64 = if cfg!(test) { 4 } else { 64 };
/// Below this many CIs to re-read, a catch-up never reloads (re-reading is always cheaper).
const MIN_RELOAD_IDS: usize = 10_000;

const TRIMMED_KEY: &str = "graph_changes_trimmed";

/// Where a write's log row landed: the newest seq before it and its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    pub prev: i64,
    pub seq: i64,
}

/// Append the row for a write inside its transaction. `ids: None` (or too many) means the
/// write changed more than can be listed (a snapshot load): readers reload. An empty set logs
/// nothing: the write changed no edge and no class.
pub fn log(
    tx: &Transaction<'_>,
    ids: Option<&BTreeSet<String>>,
) -> Result<Option<Logged>, StoreError> {
    let (text, n) = match ids {
        Some(ids) if ids.is_empty() => return Ok(None),
        Some(ids) if ids.len() <= MAX_LOGGED_IDS => (
            Some(
                serde_json::to_string(ids)
                    .map_err(|e| StoreError::Backend(format!("serialising: {e}")))?,
            ),
            ids.len() as i64,
        ),
        _ => (None, 0),
    };
    let prev: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM graph_changes")?
        .query_row([], |r| r.get(0))?;
    tx.prepare_cached("INSERT INTO graph_changes (ids, n) VALUES (?1, ?2)")?
        .execute(params![text, n])?;
    let seq = tx.last_insert_rowid();
    if seq % TRIM_EVERY == 0 {
        trim(tx)?;
    }
    Ok(Some(Logged { prev, seq }))
}

/// Drop the oldest rows beyond the row and id budgets (and everything before a reload row,
/// which a lagging reader would not need), remembering the highest seq dropped.
fn trim(tx: &Transaction<'_>) -> Result<(), StoreError> {
    let mut cut: Option<i64> = None;
    {
        let mut stmt =
            tx.prepare("SELECT seq, n, ids IS NULL FROM graph_changes ORDER BY seq DESC")?;
        let mut rows = stmt.query([])?;
        let (mut count, mut ids) = (0usize, 0i64);
        while let Some(r) = rows.next()? {
            let (seq, n, reload): (i64, i64, bool) = (r.get(0)?, r.get(1)?, r.get(2)?);
            count += 1;
            ids += n;
            if reload {
                cut = Some(seq - 1);
                break;
            }
            if count > KEEP_ROWS || ids > KEEP_IDS {
                cut = Some(seq);
                break;
            }
        }
    }
    if let Some(cut) = cut {
        let n = tx.execute("DELETE FROM graph_changes WHERE seq <= ?1", [cut])?;
        if n > 0 {
            let old = trimmed(tx)?;
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
                params![TRIMMED_KEY, cut.max(old).to_string()],
            )?;
        }
    }
    Ok(())
}

fn trimmed(c: &Connection) -> Result<i64, StoreError> {
    let v: Option<String> = c
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([TRIMMED_KEY], |r| r.get(0))
        .optional()?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// The newest seq (0 for an empty log).
pub fn newest(c: &Connection) -> Result<i64, StoreError> {
    Ok(
        c.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM graph_changes")?
            .query_row([], |r| r.get(0))?,
    )
}

/// One CI as the database has it: its class (None: gone) and its active edges.
pub struct NodeState {
    pub id: String,
    pub class: Option<CiClass>,
    pub edges: Vec<(String, RelType, String)>,
}

/// Read the current state of `ids`.
pub fn read_nodes<'a>(
    c: &Connection,
    ids: impl IntoIterator<Item = &'a String>,
) -> Result<Vec<NodeState>, StoreError> {
    let mut class_q = c.prepare_cached("SELECT class FROM cis WHERE id = ?1")?;
    let mut out_q = c.prepare_cached(
        "SELECT from_id, type, to_id FROM rels WHERE from_id = ?1 AND status = 'ACTIVE'",
    )?;
    let mut in_q = c.prepare_cached(
        "SELECT from_id, type, to_id FROM rels WHERE to_id = ?1 AND status = 'ACTIVE'",
    )?;
    let mut out = Vec::new();
    for id in ids {
        let class: Option<String> = class_q.query_row([id], |r| r.get(0)).optional()?;
        let mut edges = Vec::new();
        for q in [&mut out_q, &mut in_q] {
            let rows = q.query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for r in rows {
                let (f, t, d) = r?;
                if let Ok(t) = t.parse::<RelType>() {
                    edges.push((f, t, d));
                }
            }
        }
        out.push(NodeState {
            id: id.clone(),
            class: class.and_then(|c| c.parse().ok()),
            edges,
        });
    }
    Ok(out)
}

/// Replace what the index knows of these CIs with their state.
pub fn apply_nodes(adj: &mut Adjacency, nodes: Vec<NodeState>) {
    for n in &nodes {
        adj.clear_node(&n.id);
        adj.set_class_opt(&n.id, n.class);
    }
    for n in nodes {
        for (f, t, d) in n.edges {
            adj.add(&f, t, &d);
        }
    }
}

/// The whole index, read from `c`.
pub fn load_all(c: &Connection) -> Result<Adjacency, StoreError> {
    let mut adj = Adjacency::default();
    let mut stmt = c.prepare("SELECT from_id, type, to_id FROM rels WHERE status = 'ACTIVE'")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for r in rows {
        let (f, t, d) = r?;
        let t: RelType = t.parse()?;
        adj.add(&f, t, &d);
    }
    let mut stmt = c.prepare("SELECT id, class FROM cis")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for r in rows {
        let (id, class) = r?;
        if let Ok(c) = class.parse::<CiClass>() {
            adj.set_class(&id, c);
        }
    }
    Ok(adj)
}

/// What bringing an index from `applied` to the newest committed state takes.
pub enum CatchUp {
    /// Nothing was committed after `applied`.
    Current,
    /// Re-read these CIs.
    Nodes { nodes: Vec<NodeState>, to: i64 },
    /// Rebuild everything.
    Reload {
        adj: Adjacency,
        to: i64,
        why: &'static str,
    },
}

/// Work out (and read) the catch-up from `applied`, inside one read transaction on `c` so the
/// result is one consistent snapshot. `indexed` is the size of the current index (a catch-up
/// re-reading a large share of it reloads instead).
pub fn catch_up(c: &Connection, applied: i64, indexed: usize) -> Result<CatchUp, StoreError> {
    let tx = c.unchecked_transaction()?;
    let newest = newest(&tx)?;
    let result = if newest == applied {
        CatchUp::Current
    } else if newest < applied {
        // The log went backwards: the file was replaced (restored from a backup) under us.
        CatchUp::Reload {
            adj: load_all(&tx)?,
            to: newest,
            why: "the database file was replaced",
        }
    } else if applied < trimmed(&tx)? {
        CatchUp::Reload {
            adj: load_all(&tx)?,
            to: newest,
            why: "fell behind the trimmed log",
        }
    } else {
        let mut ids: BTreeSet<String> = BTreeSet::new();
        let mut reload = false;
        {
            let mut stmt =
                tx.prepare_cached("SELECT ids FROM graph_changes WHERE seq > ?1 ORDER BY seq")?;
            let mut rows = stmt.query([applied])?;
            while let Some(r) = rows.next()? {
                match r.get::<_, Option<String>>(0)? {
                    None => {
                        reload = true;
                        break;
                    }
                    Some(text) => {
                        let list: Vec<String> = serde_json::from_str(&text)
                            .map_err(|e| StoreError::Corrupt(format!("graph_changes: {e}")))?;
                        ids.extend(list);
                    }
                }
                if ids.len() > MIN_RELOAD_IDS.max(indexed / 4) {
                    reload = true;
                    break;
                }
            }
        }
        if reload {
            CatchUp::Reload {
                adj: load_all(&tx)?,
                to: newest,
                why: "a large or unlisted change",
            }
        } else {
            CatchUp::Nodes {
                nodes: read_nodes(&tx, &ids)?,
                to: newest,
            }
        }
    };
    tx.commit()?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use cmdb_model::{
        CiClass, CiId, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source,
    };

    use crate::{
        EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, TraverseDirection, TraverseQuery,
    };

    fn chain(run: &str, from: usize, len: usize) -> Observation {
        let mut o = Observation::new(Source::new("import"), RunId::new(run), Scope::none());
        let names: Vec<String> = (from..from + len).map(|i| format!("c{i}")).collect();
        for n in &names {
            o.push(
                Record::new(n.clone(), CiClass::Host)
                    .name(n.clone())
                    .ident("hostname", n.clone()),
            );
        }
        for w in names.windows(2) {
            o.relate(RelType::DependsOn, &w[1], &w[0], EvidenceKind::Config, 1.0);
        }
        o
    }

    async fn reach(s: &EmbeddedStore, id: &CiId) -> usize {
        s.traverse(
            std::slice::from_ref(id),
            &TraverseQuery {
                direction: TraverseDirection::Downstream,
                max_depth: 1000,
                types: vec![],
            },
        )
        .await
        .unwrap()
        .len()
    }

    /// The log stays bounded, and a store that lagged behind its trimmed end reloads.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_behind_the_trimmed_log_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cmdb.sqlite");
        let (a, b) = (
            EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap(),
            EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap(),
        );
        b.ingest(chain("r0", 0, 2), &IngestOptions::default())
            .await
            .unwrap();
        let first = b
            .find(
                &Default::default(),
                Default::default(),
                &crate::PageRequest::first(10),
            )
            .await
            .unwrap()
            .items;
        let root = first
            .iter()
            .map(|(_, c)| c)
            .find(|c| c.name == "c0")
            .unwrap()
            .id
            .clone();
        assert_eq!(reach(&a, &root).await, 1);
        // Many small writes by b while a does not look: the log is trimmed past a's position.
        for i in 1..60 {
            b.ingest(chain(&format!("r{i}"), i, 2), &IngestOptions::default())
                .await
                .unwrap();
        }
        let (rows, trimmed) = b
            .read(|c| {
                Ok((
                    c.query_row("SELECT COUNT(*) FROM graph_changes", [], |r| {
                        r.get::<_, i64>(0)
                    })?,
                    super::trimmed(c)?,
                ))
            })
            .unwrap();
        assert!(
            rows as usize <= super::KEEP_ROWS + super::TRIM_EVERY as usize,
            "{rows} rows kept"
        );
        assert!(trimmed > 1, "nothing trimmed");
        assert_eq!(
            reach(&a, &root).await,
            60,
            "a must reload and see the whole chain"
        );
        assert!(a.check_integrity().unwrap().problems.is_empty());
    }
}
