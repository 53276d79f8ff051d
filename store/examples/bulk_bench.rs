//! Bulk-load benchmark of issue 14 (a separate command, not a timed test; docs/benchmarks.md
//! "Bulk load: `cmdb import` into an empty store").
//!
//! The synthetic enterprise of `cmdb_model::synthetic::enterprise` (the impact benchmark's
//! estate, ~4 relationships per CI) is written as an import file (the export format: one CI
//! line per CI with its id, one relationship line per relationship), then, in one run:
//! - ours: `cmdb import FILE` into an empty data directory (the release binary; the empty store
//!   takes the bulk path), timed end to end as a user sees it;
//! - floors, same run: reading and parsing the file's lines alone (`interchange::parse_line`),
//!   and `EmbeddedStore::load_snapshot` of the same graph into an empty store (the sorted
//!   writer with no parsing and no reconciliation: SQLite's insert rate for these rows);
//! - theirs: the same CIs and relationships written to the Bolt server (ArcadeDB) with raw
//!   `UNWIND … CREATE` in explicit transactions of `BENCH_BATCH` rows, as impact_bench does.
//!
//! ```text
//! cargo build --release -p cmdb-server --bin cmdb
//! BOLT_LAB_PORT=17797 BOLT_LAB_HTTP_PORT=12590 BOLT_LAB_DIR=/tmp/bolt-bulk BOLT_LAB_HEAP=12g \
//!   tests/lab/bolt/start.sh --fresh
//! BOLT_LAB_PORT=17797 cargo run --release -p cmdb-store --example bulk_bench
//! BOLT_LAB_PORT=17797 BOLT_LAB_HTTP_PORT=12590 BOLT_LAB_DIR=/tmp/bolt-bulk tests/lab/bolt/stop.sh
//! ```
//!
//! Environment: `BENCH_CIS` (default 1,000,000; 200,000 for a quicker run), `BOLT_LAB_PORT`
//! (unset: no Bolt load), `BENCH_BATCH` (Bolt rows per transaction, 5,000), `BENCH_CMDB` (default
//! `target/release/cmdb`), `BENCH_DIR` (where the file and stores go; default a temporary
//! directory), `BENCH_NORMAL` (set: also time `cmdb import --no-bulk`, only sensible for small
//! sizes).

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cmdb_model::interchange::{ci_line, parse_line, rel_line, Line};
use cmdb_model::synthetic::{enterprise, Enterprise, EnterpriseSpec};
use cmdb_model::{CiClass, RelType};
use cmdb_store::neo4j::{Neo4jConfig, Neo4jStore, Snapshot};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use serde_json::json;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(d)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn write_file(e: &Enterprise, path: &Path) -> u64 {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    // Export lines without the fields import ignores (status, sources, timestamps, evidence
    // detail): the file a user would prepare, and a third of the disk.
    let lean = |line: Line, drop: &[&str]| {
        let mut v = serde_json::to_value(line).unwrap();
        if let Some(m) = v.as_object_mut() {
            for k in drop {
                m.remove(*k);
            }
        }
        v
    };
    // A dependent CI (Interface, Process, …) names the CI it lives in: the container of its
    // CONTAINS relationship, or the host a process RUNS_ON.
    let mut parent: std::collections::HashMap<&str, String> = Default::default();
    for r in &e.relationships {
        match r.rel_type {
            RelType::Contains => parent.insert(r.to.as_str(), r.from.to_string()),
            RelType::RunsOn => parent.insert(r.from.as_str(), r.to.to_string()),
            _ => None,
        };
    }
    for ci in &e.cis {
        let p = match ci.class.rules().parent {
            Some(_) => parent.get(ci.id.as_str()).cloned(),
            None => None,
        };
        let v = lean(
            ci_line(ci, p),
            &["status", "sources", "first_seen", "last_seen"],
        );
        serde_json::to_writer(&mut out, &v).unwrap();
        out.write_all(b"\n").unwrap();
    }
    for r in &e.relationships {
        let v = lean(
            rel_line(r),
            &["status", "evidence_detail", "first_seen", "last_seen"],
        );
        serde_json::to_writer(&mut out, &v).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// Read and parse every line, as `cmdb import` does twice (two passes), and nothing else.
fn parse_only(path: &Path) -> Duration {
    let t = Instant::now();
    for _pass in 0..2 {
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).unwrap());
        for (n, line) in f.lines().enumerate() {
            let line = line.unwrap();
            std::hint::black_box(parse_line(n + 1, &line).is_ok());
        }
    }
    t.elapsed()
}

fn cmdb_bin() -> PathBuf {
    std::env::var_os("BENCH_CMDB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/release/cmdb")
                .to_path_buf()
        })
}

/// `cmdb --data-dir DIR import FILE [extra]`: wall time and the summary line.
fn cmdb_import(dir: &Path, file: &Path, extra: &[&str]) -> (Duration, String) {
    let t = Instant::now();
    let out = Command::new(cmdb_bin())
        .arg("--data-dir")
        .arg(dir)
        .arg("import")
        .args(extra)
        .arg(file)
        .env("CMDB_LOG", "info")
        .output()
        .expect("run cmdb (build it first: cargo build --release -p cmdb-server --bin cmdb)");
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cmdb import failed: {err}");
    let summary = err
        .lines()
        .filter(|l| l.contains("imported") || l.contains("bulk"))
        .collect::<Vec<_>>()
        .join("\n    ");
    (took, summary)
}

/// The impact benchmark's Bolt loader (store/examples/impact_bench.rs `load_bolt`): the graph
/// as the Neo4j backend stores it, `UNWIND … CREATE` in explicit transactions of `batch` rows.
async fn load_bolt(graph: &neo4rs::Graph, e: &Enterprise, batch: usize) -> Duration {
    let t = Instant::now();
    let to_bolt = |v: serde_json::Value| neo4rs::BoltType::try_from(v).unwrap();
    let ms = |t: cmdb_model::Timestamp| t.timestamp_millis();
    for class in CiClass::ALL {
        let rows: Vec<serde_json::Value> = e
            .cis
            .iter()
            .filter(|c| c.class == class)
            .map(|c| {
                let kv: Vec<String> = c.attributes.iter().map(|(k, a)| format!("{k}\u{1f}{}", a.value)).collect();
                json!({"id": c.id.as_str(), "props": {"class": c.class.as_str(), "name": c.name, "status": c.status.as_str(), "placeholder": c.placeholder,
                    "first_seen": ms(c.first_seen), "last_seen": ms(c.last_seen), "tags": c.tags.iter().collect::<Vec<_>>(),
                    "sources": c.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(), "attributes": serde_json::to_string(&c.attributes).unwrap(), "attr_kv": kv}})
            })
            .collect();
        let stmt = format!(
            "UNWIND $rows AS r CREATE (n:CI:{}) SET n = r.props, n.id = r.id",
            class.as_str()
        );
        for part in rows.chunks(batch) {
            let mut tx = graph.start_txn().await.unwrap();
            tx.run(neo4rs::query(&stmt).param("rows", to_bolt(json!(part))))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    let nodes = t.elapsed();
    for rt in RelType::ALL {
        let rows: Vec<serde_json::Value> = e
            .relationships
            .iter()
            .filter(|r| r.rel_type == rt)
            .map(|r| {
                let mut kinds: Vec<&str> = r.evidence.iter().map(|e| e.kind.as_str()).collect();
                kinds.dedup();
                let mut sources: Vec<&str> = r.evidence.iter().map(|e| e.source.as_str()).collect();
                sources.dedup();
                json!({"from": r.from.as_str(), "to": r.to.as_str(), "props": {"status": "ACTIVE", "first_seen": ms(r.first_seen), "last_seen": ms(r.last_seen),
                    "confidence": r.confidence(), "evidence_kinds": kinds, "sources": sources, "evidence": serde_json::to_string(&r.evidence).unwrap(), "attributes": "{}"}})
            })
            .collect();
        let stmt = format!("UNWIND $rows AS r MATCH (a:CI {{id: r.from}}) MATCH (b:CI {{id: r.to}}) CREATE (a)-[e:{}]->(b) SET e = r.props", rt.as_str());
        for part in rows.chunks(batch) {
            let mut tx = graph.start_txn().await.unwrap();
            tx.run(neo4rs::query(&stmt).param("rows", to_bolt(json!(part))))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    println!(
        "  bolt: {} nodes in {:.1} s, {} relationships in {:.1} s",
        e.cis.len(),
        nodes.as_secs_f64(),
        e.relationships.len(),
        (t.elapsed() - nodes).as_secs_f64()
    );
    t.elapsed()
}

async fn bolt(e: &Enterprise, port: usize) -> Duration {
    let password =
        std::env::var("BOLT_LAB_PASSWORD").unwrap_or_else(|_| "cmdb-lab-password".into());
    let database = std::env::var("BOLT_LAB_DATABASE").unwrap_or_else(|_| "cmdb".into());
    let cfg = Neo4jConfig {
        uri: format!("bolt://127.0.0.1:{port}"),
        user: "root".into(),
        password: password.clone(),
        database: database.clone(),
        batch_size: 5_000,
        max_connections: 2,
        connect_timeout: Duration::from_secs(30),
        query_timeout: Duration::from_secs(1800),
        max_retries: 2,
    };
    // The backend's connect creates the schema (the :CI(id) index the MATCHes use).
    let backend = Neo4jStore::connect(&cfg)
        .await
        .expect("connect to the Bolt server (start it first, see the module docs)");
    backend.erase_everything().await.unwrap();
    let graph = neo4rs::Graph::connect(
        neo4rs::ConfigBuilder::default()
            .uri(format!("127.0.0.1:{port}"))
            .user("root")
            .password(password.as_str())
            .db(database.as_str())
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let took = load_bolt(&graph, e, env_usize("BENCH_BATCH", 5_000)).await;
    let st = backend.stats().await.unwrap();
    assert_eq!(
        (st.cis, st.relationships),
        (e.cis.len(), e.relationships.len()),
        "bolt load complete"
    );
    backend.close().await.unwrap();
    took
}

/// The floors, same run: parsing alone, and the sorted writer alone.
async fn floors(e: &Enterprise, file: &Path, dir: &Path) -> Vec<String> {
    let n_cis = e.cis.len();
    let mut report = Vec::new();
    let parse = parse_only(file);
    report.push(format!(
        "floor: read + parse the file twice (two passes), nothing else: {:.1} s, {:.0} CIs/s",
        parse.as_secs_f64(),
        per_s(n_cis, parse)
    ));
    let snap_dir = dir.join("data-snapshot");
    let _ = std::fs::remove_dir_all(&snap_dir);
    std::fs::create_dir_all(&snap_dir).unwrap();
    let store =
        EmbeddedStore::open(&snap_dir.join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    let snap = Snapshot {
        cis: e.cis.clone(),
        relationships: e.relationships.clone(),
        identifiers: vec![],
        history: vec![],
    };
    let t = Instant::now();
    store.load_snapshot(&snap).unwrap();
    let write = t.elapsed();
    store.close().await.unwrap();
    drop(snap);
    let _ = std::fs::remove_dir_all(&snap_dir);
    report.push(format!(
        "floor: load_snapshot of the same graph (sorted inserts, indexes after; no parsing, no reconciliation, no history): {:.1} s, {:.0} CIs/s",
        write.as_secs_f64(),
        per_s(n_cis, write)
    ));

    report
}

fn per_s(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let size = env_usize("BENCH_CIS", 1_000_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "bulk_bench: {size} CIs, load average at start: {}",
        loadavg()
    );
    let t = Instant::now();
    let e = enterprise(&EnterpriseSpec::new(size));
    let (n_cis, n_rels) = (e.cis.len(), e.relationships.len());
    println!(
        "graph: {n_cis} CIs, {n_rels} relationships (generated in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let file = dir.join("enterprise.jsonl");
    let t = Instant::now();
    let bytes = write_file(&e, &file);
    println!(
        "import file: {} ({:.0} MiB, written in {:.1} s)",
        file.display(),
        bytes as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );

    // Ours, as a user runs it.
    let data = dir.join("data-bulk");
    let _ = std::fs::remove_dir_all(&data);
    println!("load average before cmdb import: {}", loadavg());
    let (ours, summary) = cmdb_import(&data, &file, &[]);
    println!("  {summary}");
    let sqlite_mib = std::fs::metadata(data.join("cmdb.sqlite"))
        .map(|m| m.len() as f64 / 1048576.0)
        .unwrap_or(0.0);
    let _ = std::fs::remove_dir_all(&data);
    let mut report = vec![format!(
        "cmdb import (bulk, empty store): {:.1} s, {:.0} CIs/s ({:.0} CIs+relationships/s), store {sqlite_mib:.0} MiB",
        ours.as_secs_f64(),
        per_s(n_cis, ours),
        per_s(n_cis + n_rels, ours)
    )];
    if std::env::var_os("BENCH_NORMAL").is_some() {
        let data = dir.join("data-normal");
        let _ = std::fs::remove_dir_all(&data);
        let (normal, summary) = cmdb_import(&data, &file, &["--no-bulk"]);
        println!("  {summary}");
        let _ = std::fs::remove_dir_all(&data);
        report.push(format!(
            "cmdb import --no-bulk (normal path): {:.1} s, {:.0} CIs/s",
            normal.as_secs_f64(),
            per_s(n_cis, normal)
        ));
    }

    report.extend(floors(&e, &file, &dir).await);
    // Theirs.
    if let Ok(port) = std::env::var("BOLT_LAB_PORT") {
        let port: usize = port.parse().expect("BOLT_LAB_PORT");
        println!("load average before the Bolt load: {}", loadavg());
        let theirs = bolt(&e, port).await;
        report.push(format!(
            "bolt UNWIND … CREATE (ArcadeDB, batches of {}): {:.1} s, {:.0} CIs/s",
            env_usize("BENCH_BATCH", 5_000),
            theirs.as_secs_f64(),
            per_s(n_cis, theirs)
        ));
        report.push(format!(
            "ratio: cmdb import is {:.1}× the Bolt load",
            theirs.as_secs_f64() / ours.as_secs_f64()
        ));
    }
    println!(
        "\nresults ({n_cis} CIs, {n_rels} relationships; load average now {}):",
        loadavg()
    );
    for l in report {
        println!("  {l}");
    }
}
