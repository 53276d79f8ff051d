//! The bulk-load path (`BulkLoad` + `EmbeddedStore::bulk_finish`) produces exactly the state
//! the normal path (`GraphStore::ingest`, one transaction per observation) produces for the same
//! observations: every table compared row for row (CIs with attributes, sources, tags and
//! statuses; relationships with evidence; identifiers; aliases; history with its sequence
//! numbers; sightings), and the same report for every observation.
//!
//! The input: a synthetic estate of ~2,800 CIs seen by SSH over two rounds (the second touches
//! some hosts unchanged and changes others), then imports whose records identify the same hosts
//! by different identifiers in different batches, so identification merges them (re-pointing
//! relationships, dependents and history), plus records that fail identification. Timestamps
//! carry sub-millisecond parts, which the tables drop.

use std::path::Path;

use cmdb_model::synthetic::{host_observation, EstateSpec};
use cmdb_model::{Observation, RunId, Scope, Source};
use cmdb_store::{BulkLoad, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions};
use rusqlite::types::Value;
use serde_json::json;

fn at(secs: i64, nanos: u32) -> cmdb_model::Timestamp {
    chrono::DateTime::from_timestamp(1_764_000_000 + secs, nanos).unwrap()
}

fn ssh_round(spec: &EstateSpec, hosts: std::ops::Range<usize>, round: u32) -> Vec<Observation> {
    let run = RunId(format!("ssh-run-{round}"));
    hosts
        .map(|i| {
            let mut o = host_observation(spec, i, &run);
            // Partial: sightings are written, nothing is marked stale.
            o.scope.complete = false;
            o.observed_at = at(round as i64 * 3600 + i as i64, 123_456_789);
            if round == 2 && i % 3 == 0 {
                o.records[0]
                    .attributes
                    .insert("os_version".into(), json!(format!("13.{i}")));
                o.records[0].tags.insert(format!("round{round}"));
            }
            o
        })
        .collect()
}

/// An import batch from JSON records and relationships.
fn import(n: i64, records: Vec<serde_json::Value>, rels: Vec<serde_json::Value>) -> Observation {
    let mut o: Observation = serde_json::from_value(json!({
        "source": "import",
        "run_id": format!("import-{n}"),
        "observed_at": "2025-11-24T16:00:00Z",
        "scope": {"targets": [], "complete": false},
        "records": records,
        "relationships": rels,
    }))
    .unwrap();
    o.observed_at = at(10_000 + n, 987_654_321);
    o
}

fn merge_batches() -> Vec<Observation> {
    let mut first = (vec![], vec![]);
    let mut second = (vec![], vec![]);
    let mut third = (vec![], vec![]);
    for k in 0..40 {
        // Batch 1: known by host name only, with an interface and a dependency.
        first.0.push(json!({"key": format!("a{k}"), "class": "Host", "identifiers": {"hostname": format!("merge{k}")},
            "attributes": {"owner": "ops"}, "tags": [format!("t{}", k % 3)]}));
        first.0.push(
            json!({"key": format!("a{k}-eth0"), "class": "Interface", "parent": format!("a{k}"),
            "identifiers": {"if_name": "eth0"}}),
        );
        first.0.push(json!({"key": format!("app{k}"), "class": "Application", "identifiers": {"name": format!("app{k}")}}));
        first.1.push(json!({"rel_type": "RUNS_ON", "from": format!("app{k}"), "to": format!("a{k}"), "evidence": "config", "confidence": 0.7}));
        // Batch 2: the same machine known by serial number only.
        second.0.push(json!({"key": format!("b{k}"), "class": "Host", "identifiers": {"serial_number": format!("SER{k:04}")},
            "attributes": {"rack": format!("r{}", k % 5)}}));
        second.0.push(
            json!({"key": format!("b{k}-eth1"), "class": "Interface", "parent": format!("b{k}"),
            "identifiers": {"if_name": "eth1"}}),
        );
        // Batch 3: both at once: the two CIs are one.
        third.0.push(json!({"key": format!("c{k}"), "class": "Host",
            "identifiers": {"hostname": format!("merge{k}"), "serial_number": format!("SER{k:04}")},
            "attributes": {"owner": "platform"}}));
        third.0.push(
            json!({"key": format!("c{k}-eth0"), "class": "Interface", "parent": format!("c{k}"),
            "identifiers": {"if_name": "eth0"}, "attributes": {"speed": 1000}}),
        );
    }
    // One of the SSH estate's hosts, imported: import outranks ssh for its attributes.
    third.0.push(
        json!({"key": "h3", "class": "Host", "identifiers": {"hostname": "host0000003"},
        "attributes": {"owner": "finance"}, "tags": ["imported"]}),
    );
    // Bad records: no identifier set, and a relationship to a key that does not exist.
    third
        .0
        .push(json!({"key": "bad", "class": "Host", "identifiers": {}}));
    third
        .1
        .push(json!({"rel_type": "DEPENDS_ON", "from": "c1", "to": "nowhere", "evidence": "manual", "confidence": 1.0}));
    third
        .1
        .push(json!({"rel_type": "DEPENDS_ON", "from": "c1", "to": "c2", "evidence": "manual", "confidence": 1.0}));
    vec![
        import(1, first.0, first.1),
        import(2, second.0, second.1),
        import(3, third.0, third.1),
    ]
}

fn observations() -> Vec<Observation> {
    let spec = EstateSpec {
        hosts: 120,
        connections_per_host: 4,
        seed: 7,
    };
    let mut all = ssh_round(&spec, 0..120, 1);
    all.extend(merge_batches());
    all.extend(ssh_round(&spec, 0..60, 2));
    all
}

/// Every graph table, every row, in primary-key order (history by sequence number).
fn dump(path: &Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let c = rusqlite::Connection::open(path).unwrap();
    [
        ("cis", "id"),
        ("ci_tags", "tag, ci_id"),
        ("ci_sources", "source, ci_id"),
        ("identifiers", "key, ci_id"),
        ("aliases", "old_id"),
        ("rels", "from_id, type, to_id"),
        ("sightings", "source, target, entity"),
        ("history", "seq"),
    ]
    .into_iter()
    .map(|(table, order)| {
        let mut stmt = c
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
            .unwrap()
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .unwrap();
        (table.to_string(), rows)
    })
    .collect()
}

fn report_json(r: &cmdb_store::IngestReport) -> serde_json::Value {
    json!({
        "counts": [r.created, r.updated, r.unchanged, r.merged, r.staled,
                   r.relationships_created, r.relationships_updated, r.relationships_closed],
        "explanations": serde_json::to_value(&r.explanations).unwrap(),
        "errors": serde_json::to_value(&r.errors).unwrap(),
    })
}

#[tokio::test]
async fn bulk_load_equals_the_normal_path() {
    let obs = observations();
    let opts = IngestOptions::default();
    let tmp = tempfile::tempdir().unwrap();

    let normal_path = tmp.path().join("normal.sqlite");
    let normal = EmbeddedStore::open(&normal_path, EmbeddedOptions::default()).unwrap();
    let mut normal_reports = Vec::new();
    for o in &obs {
        normal_reports.push(report_json(&normal.ingest(o.clone(), &opts).await.unwrap()));
    }

    let bulk_path = tmp.path().join("bulk.sqlite");
    let bulk = EmbeddedStore::open(&bulk_path, EmbeddedOptions::default()).unwrap();
    assert!(bulk.is_empty().unwrap());
    let mut load = BulkLoad::new();
    let mut bulk_reports = Vec::new();
    for o in &obs {
        bulk_reports.push(report_json(&load.ingest(o, &opts).unwrap()));
    }
    let summary = bulk.bulk_finish(&load).unwrap();
    assert!(!bulk.is_empty().unwrap());

    for (i, (n, b)) in normal_reports.iter().zip(&bulk_reports).enumerate() {
        assert_eq!(n, b, "report of observation {i}");
    }
    // The input exercised what it is meant to: merges, errors, updates, a large graph.
    let merged: u64 = normal_reports
        .iter()
        .map(|r| r["counts"][3].as_u64().unwrap())
        .sum();
    assert_eq!(merged, 40);
    assert!(normal_reports
        .iter()
        .any(|r| !r["errors"].as_array().unwrap().is_empty()));
    let st = normal.stats().await.unwrap();
    assert!(st.cis > 2_500, "{st:?}");
    assert_eq!(
        (summary.cis, summary.relationships),
        (st.cis, st.relationships)
    );
    assert_eq!(summary.history, st.history_entries);

    normal.close().await.unwrap();
    let integrity = bulk.check_integrity().unwrap();
    assert!(integrity.problems.is_empty(), "{:?}", integrity.problems);
    bulk.close().await.unwrap();
    let (a, b) = (dump(&normal_path), dump(&bulk_path));
    for ((table, ra), (_, rb)) in a.iter().zip(&b) {
        assert!(!ra.is_empty() || table == "aliases", "{table} is empty");
        assert_eq!(ra.len(), rb.len(), "{table}: row count");
        for (x, y) in ra.iter().zip(rb) {
            assert_eq!(x, y, "{table}");
        }
    }
    assert!(!a[4].1.is_empty(), "merges leave aliases");
}

/// A bulk load refuses to write into a store that is no longer empty, and writes nothing.
#[tokio::test]
async fn bulk_finish_refuses_a_store_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let store =
        EmbeddedStore::open(&tmp.path().join("s.sqlite"), EmbeddedOptions::default()).unwrap();
    let opts = IngestOptions::default();
    let mut load = BulkLoad::new();
    let batches = merge_batches();
    load.ingest(&batches[0], &opts).unwrap();
    store.ingest(batches[1].clone(), &opts).await.unwrap();
    let before = store.stats().await.unwrap();
    let err = store.bulk_finish(&load).unwrap_err();
    assert_eq!(err.code(), "CONFLICT", "{err}");
    let after = store.stats().await.unwrap();
    assert_eq!(
        (before.cis, before.relationships, before.history_entries),
        (after.cis, after.relationships, after.history_entries)
    );
    // Complete-scope observations need the normal path (staleness reads older sightings).
    let mut o = import(9, vec![], vec![]);
    o.scope = Scope::complete(["t1".to_string()]);
    o.source = Source::new("ssh");
    assert_eq!(
        BulkLoad::new().ingest(&o, &opts).unwrap_err().code(),
        "INVALID_INPUT"
    );
    store.close().await.unwrap();
}
