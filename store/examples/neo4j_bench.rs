//! Benchmark (a separate command, not part of the test suite): ingest of a synthetic estate of ≥100k CIs
//! and ≥400k relationships through the Neo4j backend vs a raw `UNWIND … MERGE` of the same rows
//! on the same server in the same run, and impact latency vs the embedded store.
//!
//! ```text
//! tests/lab/bolt/setup.sh
//! BENCH_HOSTS=20000 cargo run --release -p cmdb-store --example neo4j_bench
//! ```
//! Uses a private lab server on port 17699 (data under /var/tmp/cmdb-bolt-lab/bench).

#[path = "../tests/support/bolt_lab.rs"]
mod bolt_lab;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cmdb_model::{CiClass, CiId, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use cmdb_store::neo4j::{Neo4jConfig, Neo4jStore};
use cmdb_store::{
    CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, PageRequest,
};
use serde_json::json;

/// Hosts `from..to`: 5 CIs per host; per host 5 structural relationships plus `fanout`
/// CONNECTS_TO from its process to endpoints of other hosts of the same chunk.
fn chunk(from: usize, to: usize, fanout: usize, run: &str) -> Observation {
    let mut o = Observation::new(
        Source::new("ssh"),
        RunId::new(run),
        Scope::complete([format!("range-{from}-{to}")]),
    );
    for i in from..to {
        let ip = format!("10.{}.{}.{}", i / 62500, (i / 250) % 250, i % 250 + 1);
        let d = format!("d{i}");
        o.push(
            Record::new(&d, CiClass::Host)
                .name(format!("host-{i:06}"))
                .ident("serial_number", format!("SN-{i:08}"))
                .ident("hostname", format!("host-{i:06}"))
                .ident("ip_addresses", json!([ip]))
                .attr("os_name", "Debian GNU/Linux")
                .attr("rack", format!("r{}", i % 40)),
        );
        o.push(
            Record::new(format!("e{i}"), CiClass::Interface)
                .parent(&d)
                .ident("if_name", "eth0"),
        );
        o.push(Record::new(format!("ip{i}"), CiClass::IpAddress).ident("address", ip.as_str()));
        o.push(
            Record::new(format!("p{i}"), CiClass::Process)
                .parent(&d)
                .ident("executable", "java")
                .ident("command_line", "java -jar app.jar"),
        );
        o.push(
            Record::new(format!("l{i}"), CiClass::ListeningEndpoint)
                .parent(&d)
                .ident("protocol", "tcp")
                .ident("port", 8443),
        );
        o.relate(
            RelType::HasIp,
            &format!("e{i}"),
            &format!("ip{i}"),
            EvidenceKind::Inventory,
            1.0,
        );
        o.relate(
            RelType::ListensOn,
            &format!("p{i}"),
            &format!("l{i}"),
            EvidenceKind::Socket,
            0.9,
        );
        let n = to - from;
        for k in 1..=fanout.min(n - 1) {
            let j = from + (i - from + k) % n;
            o.relate(
                RelType::ConnectsTo,
                &format!("p{i}"),
                &format!("l{j}"),
                EvidenceKind::Socket,
                0.5,
            );
        }
    }
    o
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let hosts: usize = std::env::var("BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let per_chunk: usize = std::env::var("BENCH_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let fanout: usize = std::env::var("BENCH_FANOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let batch: usize = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let lab = bolt_lab::PrivateLab::start(17699, 12499, "bench");
    let cfg = Neo4jConfig {
        batch_size: batch,
        query_timeout: Duration::from_secs(300),
        ..lab.config()
    };
    let store = Neo4jStore::connect(&cfg).await.expect("connect");
    let chunks: Vec<Observation> = (0..hosts)
        .step_by(per_chunk)
        .map(|f| chunk(f, (f + per_chunk).min(hosts), fanout, "r1"))
        .collect();

    // 1. Through the backend.
    let t = Instant::now();
    for o in &chunks {
        let r = store
            .ingest(o.clone(), &IngestOptions::default())
            .await
            .expect("ingest");
        assert!(
            r.errors.is_empty(),
            "{:?}",
            &r.errors[..r.errors.len().min(3)]
        );
    }
    let backend = t.elapsed();
    let stats = store.stats().await.unwrap();
    eprintln!(
        "backend: {} CIs, {} relationships, {} history entries in {:.1} s",
        stats.cis,
        stats.relationships,
        stats.history_entries,
        backend.as_secs_f64()
    );

    // The rows the backend wrote, for the raw run and the embedded store.
    let mut cis = Vec::new();
    let mut after = None;
    loop {
        let p = store
            .find(
                &CiFilter::default(),
                CiOrder::default(),
                &PageRequest {
                    first: Some(20_000),
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        after = p.items.last().map(|(c, _)| c.clone());
        cis.extend(p.items.into_iter().map(|(_, c)| c));
        if !p.has_next_page {
            break;
        }
    }
    let mut rels = Vec::new();
    let mut cur: Option<String> = None;
    loop {
        let (page, next) = store
            .all_relationships(cur.as_deref(), 50_000)
            .await
            .unwrap();
        rels.extend(page);
        match next {
            Some(n) => cur = Some(n),
            None => break,
        }
    }
    assert_eq!((cis.len(), rels.len()), (stats.cis, stats.relationships));

    // Impact latency on the backend (before erasing).
    let starts: Vec<CiId> = cis
        .iter()
        .filter(|c| c.class == CiClass::Host)
        .step_by((hosts / 20).max(1))
        .map(|c| c.id.clone())
        .take(20)
        .collect();
    let mut neo_lat = Vec::new();
    let mut edges_neo = Vec::new();
    for s in &starts {
        let t = Instant::now();
        let e = store
            .impact_subgraph(std::slice::from_ref(s), 6)
            .await
            .unwrap();
        neo_lat.push(t.elapsed());
        edges_neo.push(e.len());
    }

    // Every node and relationship the backend wrote, as property maps (for the "all rows" raw run).
    let graph = neo4rs::Graph::connect(
        neo4rs::ConfigBuilder::default()
            .uri(format!("127.0.0.1:{}", lab.port))
            .user("root")
            .password(cfg.password.as_str())
            .db(cfg.database.as_str())
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut all_nodes: Vec<(&str, Vec<neo4rs::BoltType>)> = Vec::new();
    for label in ["CI", "CiIdentifier", "Sighting", "History", "CmdbMeta"] {
        let mut tx = graph.start_txn().await.unwrap();
        let mut st = tx
            .execute(neo4rs::query(&format!(
                "MATCH (x:{label}) RETURN properties(x) AS p"
            )))
            .await
            .unwrap();
        let mut v = Vec::new();
        while let Some(row) = st.next(tx.handle()).await.unwrap() {
            v.push(row.get::<neo4rs::BoltType>("p").unwrap());
        }
        tx.commit().await.unwrap();
        all_nodes.push((label, v));
    }
    let mut all_rels: Vec<(RelType, Vec<neo4rs::BoltType>)> = Vec::new();
    for t in RelType::ALL {
        let mut tx = graph.start_txn().await.unwrap();
        let mut st = tx
            .execute(neo4rs::query(&format!("MATCH (a:CI)-[e:{}]->(b:CI) RETURN {{from: a.id, to: b.id, props: properties(e)}} AS r", t.as_str())))
            .await
            .unwrap();
        let mut v = Vec::new();
        while let Some(row) = st.next(tx.handle()).await.unwrap() {
            v.push(row.get::<neo4rs::BoltType>("r").unwrap());
        }
        tx.commit().await.unwrap();
        if !v.is_empty() {
            all_rels.push((t, v));
        }
    }
    let node_rows: usize = all_nodes.iter().map(|(_, v)| v.len()).sum();

    // 2. Raw UNWIND … MERGE of the same graph rows (CIs and relationships) on the same server.
    store.erase_everything().await.unwrap();
    let to_bolt = |v: serde_json::Value| neo4rs::BoltType::try_from(v).unwrap();
    let ci_rows: Vec<serde_json::Value> = cis
        .iter()
        .map(|c| json!({"id": c.id.as_str(), "props": {"class": c.class.as_str(), "name": c.name, "status": c.status.as_str(), "placeholder": c.placeholder,
            "first_seen": c.first_seen.timestamp_millis(), "last_seen": c.last_seen.timestamp_millis(),
            "tags": c.tags.iter().collect::<Vec<_>>(), "sources": c.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "attributes": serde_json::to_string(&c.attributes).unwrap()}}))
        .collect();
    let mut rel_rows: HashMap<RelType, Vec<serde_json::Value>> = HashMap::new();
    for r in &rels {
        rel_rows.entry(r.rel_type).or_default().push(json!({"from": r.from.as_str(), "to": r.to.as_str(), "props": {"status": "ACTIVE",
            "first_seen": r.first_seen.timestamp_millis(), "last_seen": r.last_seen.timestamp_millis(), "confidence": r.confidence(),
            "evidence": serde_json::to_string(&r.evidence).unwrap()}}));
    }
    let t = Instant::now();
    for part in ci_rows.chunks(batch) {
        let mut tx = graph.start_txn().await.unwrap();
        tx.run(
            neo4rs::query("UNWIND $rows AS r MERGE (n:CI {id: r.id}) SET n += r.props")
                .param("rows", to_bolt(json!(part))),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    for (t_, rows) in &rel_rows {
        let stmt = format!("UNWIND $rows AS r MATCH (a:CI {{id: r.from}}) MATCH (b:CI {{id: r.to}}) MERGE (a)-[e:{}]->(b) SET e += r.props", t_.as_str());
        for part in rows.chunks(batch) {
            let mut tx = graph.start_txn().await.unwrap();
            tx.run(neo4rs::query(&stmt).param("rows", to_bolt(json!(part))))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    let raw = t.elapsed();
    eprintln!(
        "raw UNWIND … MERGE of the same {} nodes and {} relationships: {:.1} s",
        ci_rows.len(),
        rels.len(),
        raw.as_secs_f64()
    );

    // 2b. Raw UNWIND … MERGE/CREATE of every row the backend wrote (CIs, identifier keys,
    // sightings, history, relationships): the backend's own overhead, data model aside.
    store.erase_everything().await.unwrap();
    let t = Instant::now();
    for (label, rows) in &all_nodes {
        let stmt = match *label {
            "CI" => "UNWIND $rows AS r MERGE (n:CI {id: r.id}) SET n = r",
            "CiIdentifier" => "UNWIND $rows AS r MERGE (n:CiIdentifier {kc: r.kc}) SET n = r",
            "Sighting" => "UNWIND $rows AS r MERGE (n:Sighting {k: r.k}) SET n = r",
            "History" => "UNWIND $rows AS r CREATE (n:History) SET n = r",
            _ => "UNWIND $rows AS r MERGE (n:CmdbMeta {key: r.key}) SET n = r",
        };
        for part in rows.chunks(batch) {
            let mut tx = graph.start_txn().await.unwrap();
            tx.run(neo4rs::query(stmt).param("rows", part.to_vec()))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    for (t_, rows) in &all_rels {
        let stmt = format!("UNWIND $rows AS r MATCH (a:CI {{id: r.from}}) MATCH (b:CI {{id: r.to}}) MERGE (a)-[e:{}]->(b) SET e = r.props", t_.as_str());
        for part in rows.chunks(batch) {
            let mut tx = graph.start_txn().await.unwrap();
            tx.run(neo4rs::query(&stmt).param("rows", part.to_vec()))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    }
    let raw_all = t.elapsed();
    eprintln!(
        "raw UNWIND of all {node_rows} nodes and {} relationships the backend wrote: {:.1} s",
        rels.len(),
        raw_all.as_secs_f64()
    );

    // 3. Embedded store: same observations, impact latency.
    let dir = tempfile::tempdir().unwrap();
    let emb =
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    let t = Instant::now();
    for o in &chunks {
        emb.ingest(o.clone(), &IngestOptions::default())
            .await
            .unwrap();
    }
    let emb_ingest = t.elapsed();
    let mut emb_lat = Vec::new();
    for (i, s) in starts.iter().enumerate() {
        let t = Instant::now();
        let e = emb
            .impact_subgraph(std::slice::from_ref(s), 6)
            .await
            .unwrap();
        emb_lat.push(t.elapsed());
        assert_eq!(
            e.len(),
            edges_neo[i],
            "both backends return the same impact subgraph"
        );
    }
    eprintln!(
        "embedded ingest of the same observations: {:.1} s",
        emb_ingest.as_secs_f64()
    );
    eprintln!(
        "RESULT hosts={hosts} cis={} rels={} node_rows={node_rows} batch={batch} backend={:.1}s raw_graph={:.1}s ratio_graph={:.2} raw_all={:.1}s ratio_all={:.2} embedded_ingest={:.1}s impact_median neo4j={:.1}ms embedded={:.2}ms edges_per_impact={}",
        stats.cis,
        stats.relationships,
        backend.as_secs_f64(),
        raw.as_secs_f64(),
        raw.as_secs_f64() / backend.as_secs_f64(),
        raw_all.as_secs_f64(),
        raw_all.as_secs_f64() / backend.as_secs_f64(),
        emb_ingest.as_secs_f64(),
        median(neo_lat).as_secs_f64() * 1000.0,
        median(emb_lat).as_secs_f64() * 1000.0,
        edges_neo[0]
    );
}
