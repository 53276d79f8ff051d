//! SNMP discovery benchmark (not a test): walk + parse + transform of N agents with the real
//! probe, through the protocol-neutral runner. Driven by tests/lab/snmp/bench.sh, which also
//! times net-snmp's `snmpbulkwalk` over the same subtrees and prints the ratio.
//!
//! usage: snmp_bench COMMUNITY CONCURRENCY TARGET...
//! prints: `devices=N ok=N failed=N varbinds=N records=N relationships=N wall_ms=N`

use std::sync::Arc;
use std::time::Instant;

use cmdb_discovery::credentials::SnmpCredentialKind;
use cmdb_discovery::run::{run, DiscoveryRequest, ProgressEvent, RunnerConfig};
use cmdb_discovery::snmp::{SnmpConfig, SnmpProbe, SUBTREES};
use cmdb_discovery::{Probe, Secret, SnmpCredential};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: snmp_bench COMMUNITY CONCURRENCY TARGET...");
        std::process::exit(2);
    }
    if args[0] == "--subtrees" {
        for s in SUBTREES {
            println!(
                "{}",
                s.oid
                    .iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(".")
            );
        }
        return;
    }
    let cred = SnmpCredential {
        name: "bench".into(),
        kind: SnmpCredentialKind::V2c {
            community: Secret::new(args[0].clone()),
        },
        scope: None,
    };
    let concurrency: usize = args[1].parse().unwrap_or(32);
    let snmp = SnmpProbe::with_config(vec![cred], SnmpConfig::default());
    // how much one device yields, to compare with snmpbulkwalk's line count (not timed)
    let first = cmdb_discovery::target::parse_targets(&args[2])
        .ok()
        .and_then(|v| v.into_iter().next());
    if let Some(t) = first {
        if let Ok((raw, _)) = snmp.collect(&t).await {
            eprintln!("varbinds_per_device={}", raw.varbinds.len());
        }
    }
    let probe: Arc<dyn Probe> = Arc::new(snmp);
    let req = DiscoveryRequest::new(args[2..].iter().cloned());
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    // the caller's side: consume observations as they come (a server would ingest them here)
    let consumer = tokio::spawn(async move {
        let (mut records, mut rels) = (0usize, 0usize);
        while let Some(ev) = rx.recv().await {
            if let ProgressEvent::ObservationReady { output, .. } = ev {
                records += output.observation.records.len();
                rels += output.observation.relationships.len();
            }
        }
        (records, rels)
    });
    let started = Instant::now();
    let rep = run(
        &req,
        &[probe],
        &RunnerConfig {
            concurrency,
            target_timeout_ms: 300_000,
        },
        Some(tx),
    )
    .await
    .expect("run");
    let wall = started.elapsed();
    let (records, rels) = consumer.await.unwrap_or((0, 0));
    let failed = rep.results.iter().filter(|r| r.result.is_err()).count();
    for r in rep.failed() {
        eprintln!("failed {}: {:?}", r.target, r.result.as_ref().err());
    }
    println!(
        "devices={} ok={} failed={} records={} relationships={} wall_ms={}",
        rep.results.len(),
        rep.ok_count(),
        failed,
        records,
        rels,
        wall.as_millis()
    );
}
