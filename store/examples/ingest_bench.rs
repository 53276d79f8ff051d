//! Reconcile + store throughput on a synthetic enterprise (docs/benchmarks.md).
//!
//!     cargo run --release -p cmdb-store --example ingest_bench -- [HOSTS] [HOSTS_PER_OBSERVATION]
//!
//! HOSTS defaults to 50 000 (= 1M CIs, ~4M relationships). Prints CIs/s, relationships/s,
//! RSS per CI and the database size.

use std::time::Instant;

use cmdb_model::synthetic::{host_observation, EstateSpec};
use cmdb_model::{Observation, RunId, Scope, Source};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hosts: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let per_obs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("tempdir");
    let dir = if let Ok(keep) = std::env::var("BENCH_KEEP_DIR") {
        let _ = std::fs::create_dir_all(&keep);
        tempfile::Builder::new().tempdir_in(keep).expect("tempdir")
    } else {
        dir
    };
    let path = dir.path().join("cmdb.sqlite");
    let store = EmbeddedStore::open(&path, EmbeddedOptions::default()).expect("open");
    let spec = EstateSpec::new(hosts);
    let run = RunId::new("bench");
    let opts = IngestOptions::default();
    let rss0 = rss_kib();
    let start = Instant::now();
    let (mut cis, mut rels) = (0usize, 0usize);
    let mut gen_time = std::time::Duration::ZERO;
    let mut next_report = 0;
    for chunk in (0..hosts).collect::<Vec<_>>().chunks(per_obs) {
        let g = Instant::now();
        // Several hosts per observation, as a run applying its results in batches would.
        let mut obs = Observation::new(Source::new("ssh"), run.clone(), Scope::none());
        for &i in chunk {
            let o = host_observation(&spec, i, &run);
            let prefix = format!("{i}:");
            for mut r in o.records {
                r.key.insert_str(0, &prefix);
                if let Some(p) = r.parent.as_mut() {
                    p.insert_str(0, &prefix);
                }
                obs.records.push(r);
            }
            for mut r in o.relationships {
                r.from.insert_str(0, &prefix);
                r.to.insert_str(0, &prefix);
                obs.relationships.push(r);
            }
        }
        gen_time += g.elapsed();
        let report = store.ingest_blocking(&obs, &opts).expect("ingest");
        assert!(
            report.errors.is_empty(),
            "{:?}",
            &report.errors[..report.errors.len().min(3)]
        );
        cis += report.created;
        rels += report.relationships_created;
        if cis >= next_report {
            let secs = (start.elapsed() - gen_time).as_secs_f64();
            eprintln!(
                "{cis:>9} CIs {rels:>9} rels  {:>8.0} CIs/s  {:>8.0} rels/s  rss {} MiB",
                cis as f64 / secs,
                rels as f64 / secs,
                rss_kib() / 1024
            );
            next_report += 100_000;
        }
    }
    let secs = (start.elapsed() - gen_time).as_secs_f64();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stats = rt.block_on(store.stats()).unwrap();
    let rss = rss_kib();
    let db = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("cmdb.sqlite-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "hosts={hosts} cis={} relationships={} (placeholders included)",
        stats.cis, stats.relationships
    );
    println!(
        "ingest: {secs:.1}s (generation excluded) = {:.0} CIs/s, {:.0} relationships/s",
        stats.cis as f64 / secs,
        stats.relationships as f64 / secs
    );
    println!(
        "rss: {} MiB total, {:.0} bytes per CI above start; database {} MiB ({:.0} bytes per CI)",
        rss / 1024,
        (rss.saturating_sub(rss0) * 1024) as f64 / stats.cis as f64,
        db >> 20,
        db as f64 / stats.cis as f64
    );
    // Re-open: the adjacency index is rebuilt from the database.
    drop(store);
    let t = Instant::now();
    let reopened = EmbeddedStore::open(&path, EmbeddedOptions::default()).expect("reopen");
    println!(
        "reopen (adjacency rebuild): {:.1}s, rss now {} MiB",
        t.elapsed().as_secs_f64(),
        rss_kib() / 1024
    );
    drop(reopened);
    if std::env::var("BENCH_KEEP_DIR").is_ok() {
        println!("kept {}", dir.keep().display());
    }
}
