//! Alert-burst benchmark of issue 13 (a separate command, not a timed test; docs/benchmarks.md).
//!
//! The synthetic enterprise (`cmdb_model::synthetic::enterprise`, ~1M CIs, 2,000 business
//! services) in the embedded store; a burst of `BENCH_ALERTS` problem events (default 10,000)
//! over `BENCH_NODES` hosts (1,000), each host named by its host name as a monitor would, ten
//! alert types per host, critical and major mixed, posted in intakes of `BENCH_BATCH` events
//! (default 100, an Alertmanager group's size; several sizes: `100,1000`) by `BENCH_CONCURRENCY`
//! concurrent senders (default 32). Measured: events per
//! second from the first intake to the last commit of the recomputed service status (every
//! intake binds, applies, recomputes every service's status from all open alerts, correlates
//! incidents and commits), and the latency of one intake. Then the clears, the same way.
//!
//! ```text
//! cargo run --release -p cmdb-live --example alert_burst
//! BENCH_CIS=200000 BENCH_BATCH=10,100,1000 cargo run --release -p cmdb-live --example alert_burst
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_events::{Event, EventSeverity};
use cmdb_live::{Live, LiveConfig};
use cmdb_model::synthetic::{enterprise, EnterpriseSpec, Rng};
use cmdb_model::{Attribute, CiClass};
use cmdb_store::neo4j::{derive_identifiers, Snapshot};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(d)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

const TYPES: [&str; 10] = [
    "HostDown",
    "DiskFull",
    "HighLoad",
    "MemoryPressure",
    "NtpDrift",
    "SwapUsage",
    "InodeUsage",
    "NetErrors",
    "ProcessDown",
    "CertExpiry",
];

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let target = env_usize("BENCH_CIS", 1_000_000);
    let n_alerts = env_usize("BENCH_ALERTS", 10_000);
    let n_nodes = env_usize("BENCH_NODES", 1_000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 32).max(1);
    let batches: Vec<usize> = std::env::var("BENCH_BATCH")
        .unwrap_or_else(|_| "100".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();

    let t = Instant::now();
    let mut e = enterprise(&EnterpriseSpec::new(target));
    // Host names as SSH discovery records them (the generator names hosts but gives them only
    // a serial number), so a monitor's `node = host0001234` finds them by the hostname rule.
    for ci in e.cis.iter_mut().filter(|c| c.class == CiClass::Host) {
        let a = Attribute {
            value: serde_json::json!(ci.name),
            ..ci.attributes["name"].clone()
        };
        ci.attributes.insert("hostname".into(), a);
    }
    let hosts: Vec<cmdb_model::Ci> = e
        .cis
        .iter()
        .filter(|c| c.class == CiClass::Host)
        .cloned()
        .collect();
    let identifiers = derive_identifiers(&hosts, &[]);
    println!(
        "estate: {} CIs, {} relationships, {} hosts (generated in {:.1} s)",
        e.cis.len(),
        e.relationships.len(),
        hosts.len(),
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let store =
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    store
        .load_snapshot(&Snapshot {
            cis: std::mem::take(&mut e.cis),
            relationships: std::mem::take(&mut e.relationships),
            identifiers,
            history: vec![],
        })
        .expect("load");
    println!(
        "loaded into the embedded store in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let store: Arc<dyn GraphStore> = Arc::new(store);

    // The nodes: a fixed sample of hosts.
    let mut rng = Rng::new(7);
    let mut nodes: Vec<String> = Vec::new();
    while nodes.len() < n_nodes.min(hosts.len()) {
        let h = &hosts[rng.below(hosts.len() as u64) as usize];
        if !nodes.contains(&h.name) {
            nodes.push(h.name.clone());
        }
    }
    let events: Vec<Event> = (0..n_alerts)
        .map(|i| Event {
            source: "prometheus".into(),
            node: nodes[i % nodes.len()].clone(),
            resource: None,
            event_type: Some(TYPES[(i / nodes.len()) % TYPES.len()].into()),
            metric_name: None,
            severity: if i % 3 == 0 {
                EventSeverity::Critical
            } else {
                EventSeverity::Major
            },
            message_key: None,
            description: Some("synthetic".into()),
            time: chrono::Utc::now(),
            additional_info: serde_json::Value::Null,
        })
        .collect();

    println!("\n{concurrency} concurrent senders");
    println!("\n| intake size | phase | events | wall | events/s | intake p50 | intake p99 | services not OK after | incidents open |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &batch in &batches {
        let live = Arc::new(Live::new(store.clone(), LiveConfig::default()));
        for (phase, sev) in [("burst", None), ("clears", Some(EventSeverity::Clear))] {
            let evs: Vec<Event> = events
                .iter()
                .map(|e| {
                    let mut e = e.clone();
                    if let Some(s) = sev {
                        e.severity = s;
                    }
                    e.time = chrono::Utc::now();
                    e
                })
                .collect();
            // `concurrency` senders post the intakes at once, as Alertmanager's groups and many
            // monitors do in a burst; the group commit takes whatever waits together.
            let chunks: Vec<Vec<Event>> = evs.chunks(batch.max(1)).map(|c| c.to_vec()).collect();
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let chunks = Arc::new(chunks);
            let t = Instant::now();
            let mut tasks = Vec::new();
            for _ in 0..concurrency {
                let (live, next, chunks) = (live.clone(), next.clone(), chunks.clone());
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(chunk) = chunks.get(i) else { break };
                        let t1 = Instant::now();
                        live.ingest(chunk, chrono::Utc::now())
                            .await
                            .expect("ingest");
                        lat.push(t1.elapsed());
                    }
                    lat
                }));
            }
            let mut lat = Vec::new();
            for t in tasks {
                lat.extend(t.await.unwrap());
            }
            let wall = t.elapsed();
            let status = live.service_status().await.unwrap();
            let counts = store.ops().ops_counts().await.unwrap();
            println!(
                "| {batch} | {phase} | {} | {:.2} s | **{:.0}** | {:.1} ms | {:.1} ms | {} | {} |",
                evs.len(),
                wall.as_secs_f64(),
                evs.len() as f64 / wall.as_secs_f64(),
                pct(&mut lat, 0.5).as_secs_f64() * 1000.0,
                pct(&mut lat, 0.99).as_secs_f64() * 1000.0,
                status.len(),
                counts.open_incidents,
            );
        }
    }
}
