//! Impact benchmark of issue 6 (a separate command, not a timed test; docs/benchmarks.md).
//!
//! The synthetic enterprise of `cmdb_model::synthetic::enterprise` (hosts, ToR/core network,
//! infrastructure hubs, application tiers with k-of-n clusters, 2,000 business services, ~4
//! relationships per CI), and the question "what does the failure of this one CI affect, up to
//! 6 hops":
//! - ours: `cmdb_store::analysis::impact` (what the GraphQL `impact` query runs) on the
//!   embedded store, and for information on the Neo4j backend;
//! - theirs: one Cypher traversal on the Bolt server (ArcadeDB) holding the same graph as the
//!   Neo4j backend stores it, returning the affected business services and their depth.
//!
//! Phase 1 loads a graph of `BENCH_BOLT_CIS` CIs into both the Bolt server and an embedded
//! store, checks that both name the same affected services for every sampled failure, and
//! times both in the same run. Phase 2 times the embedded store alone on `BENCH_CIS` CIs.
//!
//! ```text
//! BOLT_LAB_PORT=17787 BOLT_LAB_HTTP_PORT=12580 BOLT_LAB_DIR=/tmp/bolt-bench BOLT_LAB_HEAP=12g \
//!   tests/lab/bolt/start.sh --fresh
//! BOLT_LAB_PORT=17787 cargo run --release -p cmdb-store --example impact_bench
//! BOLT_LAB_PORT=17787 BOLT_LAB_HTTP_PORT=12580 BOLT_LAB_DIR=/tmp/bolt-bench tests/lab/bolt/stop.sh
//! ```
//!
//! Environment: `BENCH_CIS` (default 1,000,000; 0 skips phase 2), `BENCH_BOLT_CIS` (200,000; 0
//! skips phase 1), `BENCH_SAMPLES` (1,000 failures timed on the embedded store),
//! `BENCH_CYPHER_SAMPLES` (300), `BENCH_BACKEND_SAMPLES` (30, Neo4j backend),
//! `BENCH_DEPTH` (6), `BENCH_SEED` (1), `BENCH_HUB_REPEAT` (5 timings per hub), `BENCH_CYPHER` (comma-separated formulations timed in
//! the same run: `apoc`, `qpp`, `varlen`; default `apoc,qpp`; see `CYPHER_*`), `BENCH_CYPHER_TIMEOUT` (seconds per query, 60).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use cmdb_model::impact::ImpactOptions;
use cmdb_model::synthetic::{enterprise, Enterprise, EnterpriseSpec, Rng};
use cmdb_model::{CiClass, CiId, RelType};
use cmdb_store::neo4j::{Neo4jConfig, Neo4jStore, Snapshot};
use cmdb_store::{analysis, EmbeddedOptions, EmbeddedStore, GraphStore};
use serde_json::json;

/// Relationship types along which failure travels from → to, and to → from (model::rel).
const FORWARD: [&str; 5] = ["CONTAINS", "HAS_IP", "LISTENS_ON", "MEMBER_OF", "PART_OF"];
const BACKWARD: [&str; 3] = ["RUNS_ON", "CONNECTS_TO", "DEPENDS_ON"];

/// Standard Cypher (Neo4j 5.9+ quantified path pattern): every hop must follow its type's
/// impact direction; LINKED_TO both ways. Returns each reachable business service with its
/// shortest depth.
const CYPHER_QPP: &str = "MATCH (f:CI {id: $id}) \
    MATCH p = (f) ((a)-[r]-(b) WHERE (type(r) IN $fwd AND startNode(r) = a) OR (type(r) IN $bwd AND endNode(r) = a) OR type(r) = 'LINKED_TO'){1,6} (s:BusinessService) \
    WHERE length(p) <= $depth \
    RETURN s.id AS service, min(length(p)) AS depth";

/// APOC's breadth-first spanning tree (ArcadeDB implements `apoc.path.*`): each node once, at
/// its shortest depth, relationship filter with per-type directions.
const CYPHER_APOC: &str = "MATCH (f:CI {id: $id}) \
    CALL apoc.path.spanningTree(f, $cfg) YIELD path \
    WITH last(nodes(path)) AS s, length(path) AS d WHERE s:BusinessService \
    RETURN s.id AS service, min(d) AS depth";

/// Plain variable-length pattern over all types, directions checked afterwards (every path
/// enumerated first: the textbook formulation).
const CYPHER_VARLEN: &str = "MATCH (f:CI {id: $id}) \
    MATCH p = (f)-[rs*1..6]-(s:BusinessService) \
    WHERE length(p) <= $depth AND all(i IN range(0, size(rs) - 1) WHERE (type(rs[i]) IN $fwd AND startNode(rs[i]) = nodes(p)[i]) OR (type(rs[i]) IN $bwd AND endNode(rs[i]) = nodes(p)[i]) OR type(rs[i]) = 'LINKED_TO') \
    RETURN s.id AS service, min(length(p)) AS depth";

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(d)
}

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

#[derive(Default, Clone)]
struct Lat(Vec<Duration>);

impl Lat {
    fn q(&self, p: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        if v.is_empty() {
            return Duration::ZERO;
        }
        v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]
    }
    fn ms(&self, p: f64) -> f64 {
        self.q(p).as_secs_f64() * 1e3
    }
    fn row(&self) -> String {
        format!(
            "{:>9.3} {:>9.3} {:>9.3}",
            self.ms(0.5),
            self.ms(0.99),
            self.ms(1.0)
        )
    }
}

fn sample(e: &Enterprise, n: usize, seed: u64) -> Vec<CiId> {
    let pool = e.non_service_ids();
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| pool[rng.below(pool.len() as u64) as usize].clone())
        .collect()
}

fn describe(e: &Enterprise) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &e.cis {
        *by.entry(c.class.as_str()).or_default() += 1;
    }
    let mut rt: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &e.relationships {
        *rt.entry(r.rel_type.as_str()).or_default() += 1;
    }
    format!(
        "{} CIs {:?}\n  {} relationships {:?}",
        e.cis.len(),
        by,
        e.relationships.len(),
        rt
    )
}

async fn load_embedded(e: &Enterprise, dir: &std::path::Path) -> (EmbeddedStore, Duration) {
    let t = Instant::now();
    let store =
        EmbeddedStore::open(&dir.join("cmdb.sqlite"), EmbeddedOptions::default()).expect("open");
    let snap = Snapshot {
        cis: e.cis.clone(),
        relationships: e.relationships.clone(),
        identifiers: vec![],
        history: vec![],
    };
    store.load_snapshot(&snap).expect("load_snapshot");
    let took = t.elapsed();
    let st = store.stats().await.unwrap();
    assert_eq!(
        (st.cis, st.relationships),
        (e.cis.len(), e.relationships.len())
    );
    (store, took)
}

/// The graph as the Neo4j backend stores it (docs/graph-model.md: `:CI:<Class>` nodes with the
/// backend's properties, typed relationships), written with `UNWIND … CREATE` in explicit
/// transactions of `batch` rows (the fastest bulk path; the graph is empty).
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
        // Labels come from the model's enum, never from input.
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
    eprintln!(
        "  bolt: {} nodes in {:.1} s",
        e.cis.len(),
        t.elapsed().as_secs_f64()
    );
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
        eprintln!(
            "  bolt: {} {} in {:.1} s total",
            rows.len(),
            rt.as_str(),
            t.elapsed().as_secs_f64()
        );
    }
    t.elapsed()
}

fn cypher_query(kind: &str, id: &CiId, depth: u32) -> neo4rs::Query {
    let fwd: Vec<&str> = FORWARD.to_vec();
    let bwd: Vec<&str> = BACKWARD.to_vec();
    match kind {
        "apoc" => {
            let filter = "CONTAINS>|HAS_IP>|LISTENS_ON>|MEMBER_OF>|PART_OF>|<RUNS_ON|<CONNECTS_TO|<DEPENDS_ON|LINKED_TO";
            let cfg = json!({"relationshipFilter": filter, "minLevel": 1, "maxLevel": depth, "bfs": true});
            neo4rs::query(CYPHER_APOC)
                .param("id", id.as_str())
                .param("cfg", neo4rs::BoltType::try_from(cfg).unwrap())
        }
        "varlen" => neo4rs::query(CYPHER_VARLEN)
            .param("id", id.as_str())
            .param("fwd", fwd)
            .param("bwd", bwd)
            .param("depth", depth as i64),
        _ => neo4rs::query(CYPHER_QPP)
            .param("id", id.as_str())
            .param("fwd", fwd)
            .param("bwd", bwd)
            .param("depth", depth as i64),
    }
}

/// Affected services (id → depth) by one Cypher query; `None` on timeout or error.
async fn cypher_services(
    graph: &neo4rs::Graph,
    kind: &str,
    id: &CiId,
    depth: u32,
    limit: Duration,
) -> Result<BTreeMap<String, i64>, String> {
    let run = async {
        let mut rows = graph
            .execute(cypher_query(kind, id, depth))
            .await
            .map_err(|e| e.to_string())?;
        let mut out = BTreeMap::new();
        while let Some(row) = rows.next().await.map_err(|e| e.to_string())? {
            let s: String = row.get("service").map_err(|e| e.to_string())?;
            let d: i64 = row.get("depth").map_err(|e| e.to_string())?;
            out.insert(s, d);
        }
        Ok::<_, String>(out)
    };
    match tokio::time::timeout(limit, run).await {
        Ok(r) => r,
        Err(_) => Err(format!("timeout after {limit:?}")),
    }
}

async fn ours(
    store: &dyn GraphStore,
    id: &CiId,
    opts: &ImpactOptions,
) -> (Duration, BTreeMap<String, i64>, usize) {
    let t = Instant::now();
    let r = analysis::impact(store, std::slice::from_ref(id), opts)
        .await
        .expect("impact");
    let took = t.elapsed();
    (
        took,
        r.services
            .iter()
            .map(|s| (s.service.as_str().to_string(), s.depth as i64))
            .collect(),
        r.affected.len(),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let big = env_usize("BENCH_CIS", 1_000_000);
    let bolt_cis = env_usize("BENCH_BOLT_CIS", 200_000);
    let n_samples = env_usize("BENCH_SAMPLES", 1_000);
    let n_cypher = env_usize("BENCH_CYPHER_SAMPLES", 300);
    let n_backend = env_usize("BENCH_BACKEND_SAMPLES", 30);
    let depth = env_usize("BENCH_DEPTH", 6) as u32;
    let seed = env_usize("BENCH_SEED", 1) as u64;
    let kinds: Vec<String> = std::env::var("BENCH_CYPHER")
        .unwrap_or_else(|_| "apoc,qpp".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let kind = kinds.join(",");
    let limit = Duration::from_secs(env_usize("BENCH_CYPHER_TIMEOUT", 60) as u64);
    let opts = ImpactOptions {
        max_depth: depth,
        ..Default::default()
    };
    let started = Instant::now();
    let mut report: Vec<String> = Vec::new();
    println!("impact_bench: depth {depth}, seed {seed}, cypher formulation {kind}, load average at start: {}", std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim());

    // ---- Phase 1: the same graph on the Bolt server and the embedded store. ----
    if bolt_cis > 0 {
        let port = env_usize("BOLT_LAB_PORT", 17787);
        let t = Instant::now();
        let e = enterprise(&EnterpriseSpec::new(bolt_cis));
        println!(
            "phase 1 graph (generated in {:.1} s): {}",
            t.elapsed().as_secs_f64(),
            describe(&e)
        );
        let cfg = Neo4jConfig {
            uri: format!("bolt://127.0.0.1:{port}"),
            user: "root".into(),
            password: std::env::var("BOLT_LAB_PASSWORD")
                .unwrap_or_else(|_| "cmdb-lab-password".into()),
            database: std::env::var("BOLT_LAB_DATABASE").unwrap_or_else(|_| "cmdb".into()),
            batch_size: 5_000,
            max_connections: 2,
            connect_timeout: Duration::from_secs(30),
            query_timeout: Duration::from_secs(600),
            max_retries: 2,
        };
        let backend = Neo4jStore::connect(&cfg)
            .await
            .expect("connect to the Bolt server (start it first, see the module docs)");
        let graph = neo4rs::Graph::connect(
            neo4rs::ConfigBuilder::default()
                .uri(format!("127.0.0.1:{port}"))
                .user("root")
                .password(cfg.password.as_str())
                .db(cfg.database.as_str())
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        let existing = backend.stats().await.unwrap();
        let bolt_load = if existing.cis == e.cis.len()
            && existing.relationships == e.relationships.len()
            && std::env::var("BENCH_RELOAD").is_err()
        {
            println!(
                "bolt: reusing the loaded graph ({} CIs, {} relationships)",
                existing.cis, existing.relationships
            );
            None
        } else {
            backend.erase_everything().await.unwrap();
            let took = load_bolt(&graph, &e, env_usize("BENCH_BATCH", 5_000)).await;
            let st = backend.stats().await.unwrap();
            assert_eq!(
                (st.cis, st.relationships),
                (e.cis.len(), e.relationships.len()),
                "bolt load complete"
            );
            Some(took)
        };
        let dir = tempfile::tempdir().unwrap();
        let (emb, emb_load) = load_embedded(&e, dir.path()).await;
        println!(
            "loads: bolt {} · embedded {:.1} s (load_snapshot, one transaction, adjacency rebuilt)",
            bolt_load
                .map(|d| format!("{:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "reused".into()),
            emb_load.as_secs_f64()
        );

        let failing = sample(&e, n_cypher.max(n_backend), seed);
        // Warm-up (JIT, caches) on other CIs.
        for id in sample(&e, 20, seed ^ 0xABCD) {
            let _ = ours(&emb, &id, &opts).await;
            for k in &kinds {
                let _ = cypher_services(&graph, k, &id, depth, limit).await;
            }
        }
        let (mut lat_ours, mut lat_be) = (Lat::default(), Lat::default());
        let mut lat_cys: Vec<Lat> = vec![Lat::default(); kinds.len()];
        let mut slow_ours: Vec<(Duration, usize, String)> = Vec::new();
        let (
            mut same,
            mut differ,
            mut failed,
            mut services_total,
            mut affected_total,
            mut with_services,
        ) = (0, 0, 0, 0usize, 0usize, 0usize);
        let mut depth_hist: BTreeMap<i64, usize> = BTreeMap::new();
        // Our side first, as one pass (not interleaved with the server's work: with 2 cores a
        // busy JVM next to us would be timed too), then the Cypher passes, then ours again.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut answers: Vec<(BTreeMap<String, i64>, usize)> = Vec::new();
        let wanted: std::collections::HashSet<&CiId> = failing.iter().collect();
        let class_of: HashMap<&CiId, CiClass> = e
            .cis
            .iter()
            .filter(|c| wanted.contains(&c.id))
            .map(|c| (&c.id, c.class))
            .collect();
        for id in failing.iter().take(n_cypher) {
            let (d, s_ours, aff) = ours(&emb, id, &opts).await;
            lat_ours.0.push(d);
            let class = class_of.get(id).map(|c| c.as_str()).unwrap_or("?");
            slow_ours.push((d, aff, format!("{class} {id}")));
            answers.push((s_ours, aff));
        }
        for (i, id) in failing.iter().take(n_cypher).enumerate() {
            let (s_ours, aff) = answers[i].clone();
            for (ki, k) in kinds.iter().enumerate() {
                let lat_cy = &mut lat_cys[ki];
                let t = Instant::now();
                let r = cypher_services(&graph, k, id, depth, limit).await;
                let dc = t.elapsed();
                match r {
                    Ok(s_cy) => {
                        lat_cy.0.push(dc);
                        let a: BTreeSet<&String> = s_ours.keys().collect();
                        let b: BTreeSet<&String> = s_cy.keys().collect();
                        if a == b && s_ours.iter().all(|(k, v)| s_cy.get(k) == Some(v)) {
                            same += 1;
                        } else {
                            differ += 1;
                            if differ <= 3 {
                                eprintln!("DIFFERENT answer ({k}) for {id}: ours {s_ours:?} cypher {s_cy:?}");
                            }
                        }
                    }
                    Err(err) => {
                        failed += 1;
                        lat_cy.0.push(dc);
                        eprintln!("cypher {k} failed for {id}: {err}");
                    }
                }
            }
            services_total += s_ours.len();
            affected_total += aff;
            with_services += usize::from(!s_ours.is_empty());
            for v in s_ours.values() {
                *depth_hist.entry(*v).or_default() += 1;
            }
            if (i + 1) % 50 == 0 {
                eprintln!(
                    "  {} failures: ours p50 {:.3} ms, cypher p50 {:?} ms",
                    i + 1,
                    lat_ours.ms(0.5),
                    lat_cys.iter().map(|l| l.ms(0.5)).collect::<Vec<_>>()
                );
            }
        }
        let mut lat_ours2 = Lat::default();
        for id in failing.iter().take(n_cypher) {
            lat_ours2.0.push(ours(&emb, id, &opts).await.0);
        }
        for id in failing.iter().take(n_backend) {
            let (d, _, _) = ours(&backend, id, &opts).await;
            lat_be.0.push(d);
        }
        let hubs: Vec<(String, Duration, Vec<Duration>, usize, String)> = {
            let mut v = Vec::new();
            for (name, id) in &e.hubs {
                let mut l = Lat::default();
                let (mut s, mut aff) = (BTreeMap::new(), 0);
                for _ in 0..5 {
                    let (d, s1, a1) = ours(&emb, id, &opts).await;
                    l.0.push(d);
                    (s, aff) = (s1, a1);
                }
                let d = l.q(0.5);
                let mut checks = Vec::new();
                let mut dcs = Vec::new();
                for k in &kinds {
                    let t = Instant::now();
                    let r = cypher_services(&graph, k, id, depth, limit).await;
                    dcs.push(t.elapsed());
                    checks.push(match r {
                        Ok(c) if c.keys().collect::<Vec<_>>() == s.keys().collect::<Vec<_>>() => {
                            format!("{k}: same services")
                        }
                        Ok(_) => format!("{k}: DIFFERENT services"),
                        Err(err) => format!("{k}: {err}"),
                    });
                }
                v.push((
                    name.clone(),
                    d,
                    dcs,
                    aff,
                    format!("{} services; {}", s.len(), checks.join(", ")),
                ));
            }
            v
        };
        let n = lat_ours.0.len().max(1);
        report.push(format!(
            "PHASE 1 — same graph on both sides: {} CIs, {} relationships, {} business services; Cypher formulation `{kind}`\n\
             loads: Bolt server {} · embedded {:.1} s\n\
             {} uniformly sampled failing CIs (non-service), maxDepth {depth}: answers same {same}, different {differ}, Cypher failed/timed out {failed}\n\
             avg affected CIs {:.1}, avg affected services {:.2}, failures reaching ≥1 service {with_services}; service depths {:?}\n\
             {:<44} {:>9} {:>9} {:>9}   (ms)\n\
             {:<44} {}\n{:<44} {}\n{}{:<44} {}   ({} failures, for information)\n\
             {}  slowest of ours: {:?}",
            e.cis.len(),
            e.relationships.len(),
            e.cis.iter().filter(|c| c.class == CiClass::BusinessService).count(),
            bolt_load.map(|d| format!("{:.1} s", d.as_secs_f64())).unwrap_or_else(|| "(reused from an earlier run)".into()),
            emb_load.as_secs_f64(),
            n,
            affected_total as f64 / n as f64,
            services_total as f64 / n as f64,
            depth_hist,
            "",
            "p50",
            "p99",
            "max",
            "ours: analysis::impact, embedded store",
            lat_ours.row(),
            "  same, second pass after the Cypher passes",
            lat_ours2.row(),
            kinds.iter().zip(&lat_cys).map(|(k, l)| format!("{:<44} {}\n", format!("Cypher `{k}` on ArcadeDB over Bolt"), l.row())).collect::<String>(),
            "ours: analysis::impact, Neo4j backend",
            lat_be.row(),
            lat_be.0.len(),
            kinds.iter().zip(&lat_cys).map(|(k, l)| format!("ratio Cypher `{k}` / ours: p50 {:.0}×, p99 {:.0}×\n", l.ms(0.5) / lat_ours.ms(0.5), l.ms(0.99) / lat_ours.ms(0.99))).collect::<String>(),
            { slow_ours.sort_by_key(|s| std::cmp::Reverse(s.0)); slow_ours.iter().take(5).map(|(d, a, w)| format!("{:.2} ms/{a} CIs/{w}", d.as_secs_f64() * 1e3)).collect::<Vec<_>>() },
        ));
        for (name, d, dc, aff, what) in hubs {
            report.push(format!(
                "  hub {name:<32} ours (median of 5) {:>9.3} ms  Cypher {:?} ms  ({aff} affected CIs, {what})",
                d.as_secs_f64() * 1e3,
                dc.iter().map(|d| (d.as_secs_f64() * 1e4).round() / 10.0).collect::<Vec<_>>()
            ));
        }
        println!("{}", report.join("\n"));
        drop(emb);
    }

    // ---- Phase 2: the embedded store alone at full size. ----
    if big > 0 {
        let t = Instant::now();
        let e = enterprise(&EnterpriseSpec::new(big));
        println!(
            "phase 2 graph (generated in {:.1} s, rss {} MiB): {}",
            t.elapsed().as_secs_f64(),
            rss_mib(),
            describe(&e)
        );
        let dir = match std::env::var("BENCH_DIR") {
            Ok(d) => {
                std::fs::create_dir_all(&d).unwrap();
                tempfile::Builder::new().tempdir_in(d).unwrap()
            }
            Err(_) => tempfile::tempdir().unwrap(),
        };
        let (emb, emb_load) = load_embedded(&e, dir.path()).await;
        let hubs = e.hubs.clone();
        let failing = sample(&e, n_samples, seed);
        let wanted: std::collections::HashSet<&CiId> = failing.iter().collect();
        let class_of: HashMap<CiId, CiClass> = e
            .cis
            .iter()
            .filter(|c| wanted.contains(&c.id))
            .map(|c| (c.id.clone(), c.class))
            .collect();
        let n_cis = e.cis.len();
        let n_rels = e.relationships.len();
        // BENCH_KEEP_GRAPH=1 keeps the generated graph (~4 GB of small allocations) alive while
        // timing, as phase 1 does: the engine allocates per edge and is sensitive to that.
        let kept = std::env::var("BENCH_KEEP_GRAPH").is_ok().then_some(e);
        println!(
            "embedded load: {:.1} s, rss {} MiB",
            emb_load.as_secs_f64(),
            rss_mib()
        );
        for id in failing.iter().take(20) {
            let _ = ours(&emb, id, &opts).await;
        }
        let mut lat = Lat::default();
        let (mut svc, mut aff_total) = (0usize, 0usize);
        let mut slowest: Vec<(Duration, usize, usize, &str)> = Vec::new();
        for id in &failing {
            let (d, s, aff) = ours(&emb, id, &opts).await;
            lat.0.push(d);
            svc += s.len();
            aff_total += aff;
            slowest.push((
                d,
                aff,
                s.len(),
                class_of.get(id).map(|c| c.as_str()).unwrap_or("?"),
            ));
        }
        slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        let n = failing.len().max(1);
        report.push(format!(
            "PHASE 2 — embedded store alone: {n_cis} CIs, {n_rels} relationships; load {:.1} s; rss {} MiB\n\
             {} uniformly sampled failing CIs, maxDepth {depth}: avg affected CIs {:.1}, avg services {:.2}\n\
             {:<44} {}   (ms p50 p99 max)\n  slowest: {:?}",
            emb_load.as_secs_f64(),
            rss_mib(),
            n,
            aff_total as f64 / n as f64,
            svc as f64 / n as f64,
            "ours: analysis::impact, embedded store",
            lat.row(),
            slowest.iter().take(8).map(|(d, a, s, c)| format!("{:.2} ms/{a} CIs/{s} services/{c}", d.as_secs_f64() * 1e3)).collect::<Vec<_>>(),
        ));
        let repeat = env_usize("BENCH_HUB_REPEAT", 5).max(1);
        for (name, id) in &hubs {
            let mut l = Lat::default();
            let mut last = (0, 0);
            for _ in 0..repeat {
                let (d, s, aff) = ours(&emb, id, &opts).await;
                l.0.push(d);
                last = (aff, s.len());
            }
            report.push(format!(
                "  hub {name:<32} ours median of {repeat} {:>9.3} ms  ({} affected CIs, {} services)",
                l.ms(0.5),
                last.0,
                last.1
            ));
        }
        report.push(format!(
            "  (generated graph kept alive while timing: {})",
            kept.is_some()
        ));
        drop(kept);
    }
    println!(
        "\n===== RESULT ({:.0} s) =====\n{}",
        started.elapsed().as_secs_f64(),
        report.join("\n")
    );
}
