//! The core issue's end-to-end checks: architecture invariants, the import/export CLI, and a
//! crash in the middle of a large import.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use cmdb_tests::cli::{base_command, cargo_metadata, cmdb, stderr, stdout, workspace_root};

/// Direct dependencies of every workspace crate, from `cargo metadata`.
fn workspace_deps() -> BTreeMap<String, BTreeSet<String>> {
    let v = cargo_metadata();
    let mut map = BTreeMap::new();
    for p in v["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies, not dev/build
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect();
        map.insert(p["name"].as_str().unwrap().to_string(), deps);
    }
    map
}

fn transitive(deps: &BTreeMap<String, BTreeSet<String>>, krate: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![krate.to_string()];
    while let Some(k) = stack.pop() {
        for d in deps.get(&k).into_iter().flatten() {
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen
}

/// The invariants ARCHITECTURE.md states, as what must be absent.
#[test]
fn architecture_invariants() {
    let deps = workspace_deps();
    let only = |dep: &str, allowed: &[&str]| {
        for (krate, ds) in &deps {
            if ds.contains(dep) {
                assert!(
                    allowed.contains(&krate.as_str()),
                    "{krate} depends on {dep}; only {allowed:?} may"
                );
            }
        }
    };
    // model and events do no I/O: no runtime, network, database or HTTP crates.
    for krate in ["cmdb-model", "cmdb-events"] {
        check_no_io(&deps[krate], krate);
    }
    for dir in ["model/src", "events/src"] {
        check_no_io_source(&workspace_root().join(dir));
    }
    // events reads no clock either: callers pass the time in, so every rule is replayable.
    for src in walk(&workspace_root().join("events/src")) {
        let text = std::fs::read_to_string(&src).unwrap();
        for banned in ["Utc::now", "SystemTime", "Instant::now", "cmdb_model::now"] {
            assert!(
                !text.contains(banned),
                "{} reads the clock ({banned}): events take the time from their caller",
                src.display()
            );
        }
    }
    // discovery never depends on store (even indirectly).
    assert!(
        !transitive(&deps, "cmdb-discovery").contains("cmdb-store"),
        "discovery must not know the store"
    );
    // Only store knows SQL and Cypher.
    only("rusqlite", &["cmdb-store"]);
    only("neo4rs", &["cmdb-store"]);
    // Only graphql defines the schema; only server knows actix-web (and mounts the schema on it).
    // (cmdb-fuzz decodes request bodies into async-graphql requests as the HTTP layer does, to
    // feed them to the schema: it defines nothing)
    only(
        "async-graphql",
        &["cmdb-graphql", "cmdb-server", "cmdb-fuzz"],
    );
    only("actix-web", &["cmdb-server"]);
    only("async-graphql-actix-web", &["cmdb-server"]);
    assert!(
        !transitive(&deps, "cmdb-graphql")
            .iter()
            .any(|d| d.starts_with("actix")),
        "graphql must not know actix"
    );
    // The console is bytes built from npm packages: it depends on nothing (no crate of ours,
    // no HTTP server); the server mounts it. Its pages talk to /graphql like any client.
    assert!(
        deps["cmdb-console"].is_empty(),
        "cmdb-console depends on {:?}",
        deps["cmdb-console"]
    );
    let page =
        std::fs::read_to_string(workspace_root().join("console/web/src/index.html")).unwrap();
    assert!(
        !page.contains("//"),
        "the console's page loads nothing from elsewhere (no CDN)"
    );
    // Protocol crates stay in discovery.
    only("snmp2", &["cmdb-discovery"]);
    only("ssh2", &["cmdb-discovery"]);
    // The live side (events in, incidents out) works over the store contract: no SQL or
    // Cypher of its own, no schema, no HTTP server; discovery reaches it only through the
    // server's wiring.
    for banned in [
        "rusqlite",
        "neo4rs",
        "async-graphql",
        "actix-web",
        "cmdb-graphql",
        "cmdb-discovery",
    ] {
        assert!(
            !deps["cmdb-live"].contains(banned),
            "cmdb-live depends on {banned}"
        );
    }
    // Webhook signing lives in one place.
    only("hmac", &["cmdb-live"]);
}

fn check_no_io(deps: &std::collections::BTreeSet<String>, krate: &str) {
    for banned in [
        "tokio",
        "rusqlite",
        "neo4rs",
        "snmp2",
        "ssh2",
        "reqwest",
        "actix-web",
        "async-graphql",
        "cmdb-store",
        "cmdb-discovery",
    ] {
        assert!(
            !deps.contains(banned),
            "{krate} must do no I/O but depends on {banned}"
        );
    }
}

fn check_no_io_source(dir: &std::path::Path) {
    for src in walk(dir) {
        let text = std::fs::read_to_string(&src).unwrap();
        for banned in [
            "std::fs",
            "TcpStream",
            "UdpSocket",
            "TcpListener",
            "std::process",
            "std::io::stdin",
            "tokio::",
        ] {
            assert!(
                !text.contains(banned),
                "{} uses {banned}: it does no I/O",
                src.display()
            );
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().map(|x| x == "rs").unwrap_or(false) {
            out.push(p);
        }
    }
    out
}

fn estate_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("estate.jsonl");
    std::fs::write(
        &p,
        r#"{"kind":"ci","key":"web1","class":"Host","name":"web1","identifiers":{"hostname":"web1","serial_number":"SN1"},"attributes":{"os_name":"Debian"},"tags":["web"]}
{"kind":"ci","key":"web1-eth0","class":"Interface","parent":"web1","identifiers":{"if_name":"eth0"}}
{"kind":"ci","key":"nginx","class":"Process","parent":"web1","identifiers":{"executable":"nginx","command_line":"nginx -g daemon off;"}}
{"kind":"ci","key":"shop","class":"BusinessService","name":"Shop","attributes":{"criticality":1,"owner":"team-shop"}}
{"kind":"relationship","type":"MEMBER_OF","from":"nginx","to":"shop"}
{"kind":"ci","class":"Hots","name":"bad"}
{"kind":"relationship","type":"DEPENDS_ON","from":"nginx","to":"ci_nonexistent"}
not json
{"kind":"ci","class":"Host","name":"noident"}
{"kind":"ci","key":"db","class":"Host","identifiers":{"hostname":"db1"},"colour":"red"}
"#,
    )
    .unwrap();
    p
}

#[test]
fn import_names_bad_lines_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = estate_file(tmp.path());
    let out = cmdb(&data, &["import", file.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "partial import exits 2: {err}");
    for expected in [
        "line 6: field `class`: unknown CI class `Hots`",
        "line 7: field `to`:",
        "ci_nonexistent",
        "line 8: not valid JSON",
        "line 9: field `identifiers`",
        "line 10: field `colour`",
        "CIs created 4",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in:\n{err}");
    }
    // Nothing from the bad lines was written.
    let export = stdout(&cmdb(&data, &["export"]));
    assert_eq!(
        export
            .lines()
            .filter(|l| l.contains("\"kind\":\"ci\""))
            .count(),
        4,
        "{export}"
    );
    assert!(
        !export.contains("noident") && !export.contains("db1") && !export.contains("DEPENDS_ON")
    );
}

#[test]
fn dry_run_reports_what_the_import_would_do_even_across_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = estate_file(tmp.path());
    // Batches of one line: parents and relationship ends are all in other batches.
    let summary = |out: &std::process::Output| {
        let err = stderr(out);
        let last = err.lines().last().unwrap_or("").to_string();
        let errors: Vec<String> = err
            .lines()
            .filter(|l| l.starts_with("error:"))
            .map(str::to_string)
            .collect();
        (
            last.split_once(" lines in ")
                .map(|(_, r)| r.split_once(": ").unwrap().1.to_string()),
            errors,
            out.status.code(),
        )
    };
    let dry = cmdb(
        &data,
        &[
            "import",
            "--dry-run",
            "--batch-size",
            "1",
            file.to_str().unwrap(),
        ],
    );
    let export = stdout(&cmdb(&data, &["export"]));
    assert!(
        !export.contains("\"kind\":\"ci\""),
        "a dry run writes nothing: {export}"
    );
    let real = cmdb(
        &data,
        &["import", "--batch-size", "1", file.to_str().unwrap()],
    );
    let (d, r) = (summary(&dry), summary(&real));
    assert_eq!(
        d,
        r,
        "dry run:\n{}\nimport:\n{}",
        stderr(&dry),
        stderr(&real)
    );
    assert!(
        !stderr(&dry).contains("line 5:"),
        "the MEMBER_OF between two CIs of the file is accepted: {}",
        stderr(&dry)
    );
}

#[test]
fn import_accepts_a_byte_order_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("bom.jsonl");
    std::fs::write(
        &file,
        "\u{feff}{\"kind\":\"ci\",\"key\":\"h\",\"class\":\"Host\",\"identifiers\":{\"hostname\":\"bom1\"}}\n",
    )
    .unwrap();
    let out = cmdb(&data, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("CIs created 1"), "{}", stderr(&out));
}

#[test]
fn reimporting_three_times_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = estate_file(tmp.path());
    cmdb(&data, &["import", file.to_str().unwrap()]);
    let first = stdout(&cmdb(&data, &["export"]));
    let history = |data: &std::path::Path| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let s =
                EmbeddedStore::open(&data.join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
            let st = s.stats().await.unwrap();
            s.close().await.unwrap();
            (st.cis, st.relationships, st.history_entries)
        })
    };
    let before = history(&data);
    for _ in 0..3 {
        let out = cmdb(&data, &["import", file.to_str().unwrap()]);
        let err = stderr(&out);
        assert!(err.contains("CIs created 0, updated 0, unchanged 4, merged 0; relationships created 0, updated 0"), "{err}");
    }
    assert_eq!(history(&data), before, "no duplicates, no new history");
    let strip = |s: &str| {
        s.lines()
            .map(|l| l.split(",\"first_seen\"").next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&stdout(&cmdb(&data, &["export"]))), strip(&first));
}

#[test]
fn export_reimports_into_an_empty_store_with_the_same_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    cmdb(&a, &["import", estate_file(tmp.path()).to_str().unwrap()]);
    let exported = tmp.path().join("export.jsonl");
    let out = cmdb(&a, &["export", "--output", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cmdb(&b, &["import", exported.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = |s: String| -> BTreeSet<String> {
        s.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let o = v.as_object_mut().unwrap();
                for k in ["first_seen", "last_seen", "evidence_detail"] {
                    o.remove(k);
                }
                v.to_string()
            })
            .collect()
    };
    assert_eq!(
        key(stdout(&cmdb(&b, &["export"]))),
        key(std::fs::read_to_string(&exported).unwrap())
    );
    let csv = stdout(&cmdb(&b, &["export", "--format", "csv"]));
    assert!(csv.starts_with("kind,id,class,name,status"));
    assert_eq!(csv.lines().count(), 1 + 4 + 3, "{csv}");
}

#[test]
fn config_rejects_unknown_keys_with_their_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("cmdb.toml");
    std::fs::write(&cfg, "[server]\nbnid = \"127.0.0.1:1\"\n").unwrap();
    let out = cmdb(&data, &["--config", cfg.to_str().unwrap(), "export"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bnid"), "{}", stderr(&out));
    std::fs::remove_file(&cfg).unwrap(); // or it would be picked up as ./cmdb.toml
    let out = base_command(&data)
        .env("CMDB_STORE_BAKEND", "x")
        .arg("export")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bakend"), "{}", stderr(&out));
}

/// kill -9 in the middle of a large import: the store opens, holds only whole batches, and a
/// second import completes it without duplicates.
#[test]
fn crash_during_import_leaves_whole_batches_only() {
    const N: usize = 100_000;
    const BATCH: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("big.jsonl");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for i in 0..N {
            writeln!(f, r#"{{"kind":"ci","class":"Host","identifiers":{{"hostname":"h{i}","ip_addresses":["10.{}.{}.{}"]}},"attributes":{{"rack":"r{}"}}}}"#, (i >> 16) & 255, (i >> 8) & 255, i & 255, i % 40).unwrap();
        }
    }
    // The batch-by-batch path (into an empty store, import would otherwise bulk-load: one
    // transaction at the end, so a crash leaves nothing at all).
    let mut child = base_command(&data)
        .args([
            "import",
            "--no-bulk",
            "--batch-size",
            &BATCH.to_string(),
            file.to_str().unwrap(),
        ])
        .spawn()
        .unwrap();
    // Wait until some batches have committed (the WAL grows), then kill without warning.
    let wal = data.join("cmdb.sqlite-wal");
    let start = Instant::now();
    while std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) < 2 << 20 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "import never got going"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("import finished before it could be killed ({status}); make N larger");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let count = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let s = EmbeddedStore::open(&data.join("cmdb.sqlite"), EmbeddedOptions::default())
                .expect("store opens after a crash");
            let st = s.stats().await.unwrap();
            s.close().await.unwrap();
            st
        })
    };
    let st = count(&rt);
    assert!(
        st.cis > 0 && st.cis < N,
        "killed mid-import: {} CIs",
        st.cis
    );
    assert_eq!(
        st.cis % BATCH,
        0,
        "only whole batches survive: {} CIs",
        st.cis
    );
    assert_eq!(
        st.history_entries, st.cis,
        "history matches the committed CIs"
    );

    let out = base_command(&data)
        .args([
            "import",
            "--batch-size",
            &BATCH.to_string(),
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("unchanged {}", st.cis)),
        "{}",
        stderr(&out)
    );
    let st = count(&rt);
    assert_eq!(st.cis, N, "completed without duplicates");
}
