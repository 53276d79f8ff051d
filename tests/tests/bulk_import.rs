//! `cmdb import` into an empty store takes the bulk path; its result must be the normal path's
//! (`--no-bulk`): same exit code, same rejected lines, same counts, and the same graph read back
//! through the store (CIs with attributes, sources, tags and statuses; relationships with
//! evidence; identifier keys; history). The two runs differ only in their clock and run id,
//! which are blanked before comparing.
//!
//! The file has merges (hosts known by name in one batch and by serial number in another, then
//! by both), dependents re-homed by those merges, a reused key, a repeated relationship, and
//! bad lines of every kind.
//!
//! (A key reused in a later batch is not reported as a duplicate by either path: pass 1
//! checks keys within a batch and against earlier batches' results, which are not known yet
//! while the file is being read. Both paths behave the same.)

use std::path::Path;

use cmdb_store::{CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, PageRequest};
use cmdb_tests::cli::{cmdb, stderr};
use serde_json::{json, Value};

fn import_file(dir: &Path) -> std::path::PathBuf {
    let mut lines: Vec<String> = Vec::new();
    for k in 0..30 {
        lines.push(json!({"kind": "ci", "key": format!("a{k}"), "class": "Host", "identifiers": {"hostname": format!("m{k}")},
            "attributes": {"owner": "ops"}, "tags": [format!("t{}", k % 4)]}).to_string());
        lines.push(json!({"kind": "ci", "key": format!("a{k}-eth0"), "class": "Interface", "parent": format!("a{k}"),
            "identifiers": {"if_name": "eth0"}}).to_string());
        lines.push(json!({"kind": "ci", "key": format!("svc{k}"), "class": "BusinessService", "name": format!("svc{k}"),
            "attributes": {"criticality": 1 + k % 5, "owner": "shop"}}).to_string());
    }
    for k in 0..30 {
        lines.push(json!({"kind": "ci", "key": format!("b{k}"), "class": "Host", "identifiers": {"serial_number": format!("SER{k:03}")},
            "attributes": {"rack": format!("r{}", k % 3)}}).to_string());
        lines.push(json!({"kind": "ci", "key": format!("b{k}-eth1"), "class": "Interface", "parent": format!("b{k}"),
            "identifiers": {"if_name": "eth1"}}).to_string());
    }
    for k in 0..30 {
        // The same machine by both identifiers: merges a{k} and b{k} (earlier batches).
        lines.push(
            json!({"kind": "ci", "key": format!("c{k}"), "class": "Host",
            "identifiers": {"hostname": format!("m{k}"), "serial_number": format!("SER{k:03}")},
            "attributes": {"owner": "platform"}, "tags": ["merged"]})
            .to_string(),
        );
    }
    lines.extend([
        r#"{"kind":"ci","key":"a3","class":"Host","identifiers":{"hostname":"dup"}}"#.to_string(),
        r#"{"kind":"ci","class":"Hots","name":"bad"}"#.to_string(),
        "not json".to_string(),
        r#"{"kind":"ci","class":"Host","name":"noident"}"#.to_string(),
        r#"{"kind":"ci","key":"orphan","class":"Interface","parent":"nowhere","identifiers":{"if_name":"eth9"}}"#.to_string(),
    ]);
    for k in 0..30 {
        lines.push(json!({"kind": "relationship", "type": "MEMBER_OF", "from": format!("a{k}"), "to": format!("svc{k}")}).to_string());
        lines.push(json!({"kind": "relationship", "type": "DEPENDS_ON", "from": format!("b{k}"), "to": format!("a{}", (k + 1) % 30),
            "evidence": "config", "confidence": 0.6}).to_string());
    }
    lines.extend([
        r#"{"kind":"relationship","type":"MEMBER_OF","from":"a1","to":"svc1"}"#.to_string(),
        r#"{"kind":"relationship","type":"DEPENDS_ON","from":"a1","to":"ci_nonexistent"}"#
            .to_string(),
        r#"{"kind":"relationship","type":"OWNS","from":"a1","to":"a2"}"#.to_string(),
    ]);
    let p = dir.join("estate.jsonl");
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

/// Clock and run id blanked: the two runs differ in nothing else.
fn blank(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if [
                    "first_seen",
                    "last_seen",
                    "updated_at",
                    "at",
                    "run_id",
                    "last_run",
                ]
                .contains(&k.as_str())
                {
                    *x = Value::Null;
                } else {
                    blank(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(blank),
        _ => {}
    }
}

/// The whole graph as the store's readers return it.
async fn state(data: &Path) -> Value {
    let store = EmbeddedStore::open(&data.join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    let cis = store
        .find(
            &CiFilter::default(),
            CiOrder::default(),
            &PageRequest::first(100_000),
        )
        .await
        .unwrap();
    let ids: Vec<_> = cis.items.iter().map(|(_, c)| c.id.clone()).collect();
    let (rels, _) = store.all_relationships(None, 100_000).await.unwrap();
    let identifiers = store.identifiers_of(&ids).await.unwrap();
    let mut history = Vec::new();
    for id in &ids {
        let page = store
            .history(id, &PageRequest::first(10_000))
            .await
            .unwrap();
        history.push(
            page.items
                .into_iter()
                .map(|(_, h)| serde_json::to_value(h).unwrap())
                .collect::<Vec<_>>(),
        );
    }
    let integrity = store.check_integrity().unwrap();
    assert!(integrity.problems.is_empty(), "{:?}", integrity.problems);
    store.close().await.unwrap();
    let mut v = json!({
        "cis": cis.items.iter().map(|(_, c)| serde_json::to_value(c).unwrap()).collect::<Vec<_>>(),
        "relationships": serde_json::to_value(&rels).unwrap(),
        "identifiers": serde_json::to_value(&identifiers).unwrap(),
        "history": history,
    });
    blank(&mut v);
    v
}

/// stderr without the elapsed time of the summary line.
fn messages(err: &str) -> Vec<String> {
    err.lines()
        .map(|l| match (l.find(" lines in "), l.find("s: CIs")) {
            (Some(a), Some(b)) if a < b => format!("{}{}", &l[..a], &l[b + 1..]),
            _ => l.to_string(),
        })
        .filter(|l| !l.contains("INFO") && !l.trim().is_empty())
        .collect()
}

#[tokio::test]
async fn bulk_import_equals_the_normal_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = import_file(tmp.path());
    let file = file.to_str().unwrap();
    let (normal, bulk) = (tmp.path().join("normal"), tmp.path().join("bulk"));
    // Small batches: the merges happen across batches, against what earlier ones wrote.
    let a = cmdb(&normal, &["import", "--no-bulk", "--batch-size", "7", file]);
    let b = cmdb(&bulk, &["import", "--bulk", "--batch-size", "7", file]);
    assert_eq!(a.status.code(), Some(2), "{}", stderr(&a));
    assert_eq!(a.status.code(), b.status.code(), "{}", stderr(&b));
    let (ma, mb) = (messages(&stderr(&a)), messages(&stderr(&b)));
    assert_eq!(ma, mb);
    let summary = ma.last().unwrap();
    assert!(summary.contains("merged 30"), "{summary}");
    assert!(ma.iter().any(|l| l.contains("unknown CI class")), "{ma:?}");

    let (sa, sb) = (state(&normal).await, state(&bulk).await);
    // 30 merged hosts, their eth0 and eth1, 30 services, and the host of the reused key.
    assert_eq!(sa["cis"].as_array().unwrap().len(), 30 * 4 + 1);
    for part in ["cis", "relationships", "identifiers", "history"] {
        assert_eq!(sa[part], sb[part], "{part}");
    }

    // Into a store that is not empty, `--bulk` refuses and the default takes the normal path.
    let again = cmdb(&bulk, &["import", "--bulk", file]);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("empty store"), "{}", stderr(&again));
    let again = cmdb(&bulk, &["import", file]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(stderr(&again).contains("created 0"), "{}", stderr(&again));
}
