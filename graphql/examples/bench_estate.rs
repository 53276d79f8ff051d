//! Build a large synthetic estate in an embedded store for the API benchmark
//! (docs/benchmarks.md, "GraphQL API"):
//!
//!     cargo run --release -p cmdb-graphql --example bench_estate -- DATA_DIR [HOSTS] [SERVICES]
//!     cargo run --release -p cmdb-graphql --example bench_estate -- DATA_DIR --enterprise CIS
//!
//! `--enterprise CIS`: the synthetic enterprise of `cmdb_model::synthetic::enterprise` (the
//! impact benchmark's estate: ~CIS CIs, 4 relationships per CI, 2,000 business services),
//! loaded with `load_snapshot` (one transaction) rather than ingested, so 1M CIs take a minute
//! rather than half an hour.
//!
//! HOSTS × 20 CIs (+ placeholders for far ends), SERVICES business services with 5 process
//! members each. Writes DATA_DIR/cmdb.sqlite and DATA_DIR/bench-{hosts,processes}.txt (sample ids, one per
//! line, for the wrk scripts in graphql/bench/).

use std::collections::HashMap;
use std::time::Instant;

use cmdb_model::synthetic::{host_observation, service_observation, EstateSpec};
use cmdb_model::{CiId, Observation, RunId, Scope, Source};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(2).map(String::as_str) == Some("--enterprise") {
        let cis = args
            .get(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        return enterprise_estate(std::path::Path::new(&args[1]), cis);
    }
    let dir = std::path::PathBuf::from(
        args.get(1)
            .expect("usage: bench_estate DATA_DIR [HOSTS] [SERVICES]"),
    );
    let hosts: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50_000);
    let services: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2_000);
    std::fs::create_dir_all(&dir).expect("data dir");
    let path = dir.join("cmdb.sqlite");
    let store = EmbeddedStore::open(&path, EmbeddedOptions::default()).expect("open");
    let spec = EstateSpec::new(hosts);
    let run = RunId::new("bench");
    let opts = IngestOptions::default();
    let start = Instant::now();
    let mut procs: HashMap<(usize, usize), CiId> = HashMap::new();
    let mut host_ids: Vec<CiId> = Vec::new();
    let per_obs = 50;
    let all: Vec<usize> = (0..hosts).collect();
    for chunk in all.chunks(per_obs) {
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
        let report = store.ingest_blocking(&obs, &opts).expect("ingest");
        assert!(
            report.errors.is_empty(),
            "{:?}",
            &report.errors[..report.errors.len().min(3)]
        );
        for e in &report.explanations {
            let Some(ci) = &e.ci else { continue };
            let Some((h, k)) = e.record.split_once(':') else {
                continue;
            };
            let Ok(h) = h.parse::<usize>() else { continue };
            if k == "h" {
                host_ids.push(ci.clone());
            } else if let Some(n) = k.strip_prefix('p').and_then(|n| n.parse::<usize>().ok()) {
                procs.insert((h, n), ci.clone());
            }
        }
        if chunk[0] % 5000 == 0 {
            eprintln!(
                "{} hosts in {:.0}s",
                chunk[0] + chunk.len(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    let lookup = |h: usize, p: usize| procs.get(&(h, p)).cloned();
    for s0 in (0..services).step_by(200) {
        let o = service_observation(
            s0..(s0 + 200).min(services),
            5,
            hosts,
            7 + s0 as u64,
            &lookup,
        );
        let r = store.ingest_blocking(&o, &opts).expect("services");
        assert!(
            r.errors.is_empty(),
            "{:?}",
            &r.errors[..r.errors.len().min(3)]
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stats = rt.block_on(store.stats()).unwrap();
    println!(
        "hosts={hosts} services={services} cis={} relationships={} in {:.0}s",
        stats.cis,
        stats.relationships,
        start.elapsed().as_secs_f64()
    );
    let sample: Vec<String> = host_ids
        .iter()
        .step_by((host_ids.len() / 1000).max(1))
        .map(|c| c.0.clone())
        .collect();
    let procs_sample: Vec<String> = (0..1000usize)
        .filter_map(|i| lookup((i * 7919) % hosts, 2))
        .map(|c| c.0)
        .collect();
    std::fs::write(dir.join("bench-hosts.txt"), sample.join("\n") + "\n").expect("write ids");
    std::fs::write(
        dir.join("bench-processes.txt"),
        procs_sample.join("\n") + "\n",
    )
    .expect("write ids");
    rt.block_on(store.close()).unwrap();
}

/// The enterprise estate loaded verbatim; samples: 1,000 hosts and 1,000 processes.
fn enterprise_estate(dir: &std::path::Path, cis: usize) {
    use cmdb_model::synthetic::{enterprise, EnterpriseSpec};
    use cmdb_model::CiClass;
    std::fs::create_dir_all(dir).expect("data dir");
    let start = Instant::now();
    let e = enterprise(&EnterpriseSpec::new(cis));
    let store =
        EmbeddedStore::open(&dir.join("cmdb.sqlite"), EmbeddedOptions::default()).expect("open");
    store
        .load_snapshot(&cmdb_store::snapshot::Snapshot {
            cis: e.cis.clone(),
            relationships: e.relationships.clone(),
            ..Default::default()
        })
        .expect("load");
    let sample = |class: CiClass| -> String {
        let ids: Vec<&str> = e
            .cis
            .iter()
            .filter(|c| c.class == class)
            .map(|c| c.id.as_str())
            .collect();
        let step = (ids.len() / 1000).max(1);
        ids.iter()
            .step_by(step)
            .take(1000)
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    std::fs::write(dir.join("bench-hosts.txt"), sample(CiClass::Host)).expect("write ids");
    std::fs::write(dir.join("bench-processes.txt"), sample(CiClass::Process)).expect("write ids");
    println!(
        "enterprise: {} CIs, {} relationships loaded in {:.0}s",
        e.cis.len(),
        e.relationships.len(),
        start.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.close()).unwrap();
}
