//! kill -9 in the middle of a discovery run — of `cmdb discover` and of `cmdb serve` running a
//! run started over the API — while it is applying an observation (the 12 000-interface agent
//! of the SNMP lab, whose apply takes a second or more). Afterwards: the store passes its
//! integrity check, every CI committed before the kill is still there, the interrupted run
//! reads as INTERRUPTED (never RUNNING forever), and running the discovery again completes the
//! graph exactly as one uninterrupted run builds it — nothing lost, nothing duplicated.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cmdb_store::{CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, PageRequest};
use cmdb_tests::cli::{base_command, cmdb, stderr, ServeProcess};
use cmdb_tests::snmp_lab;
use serde_json::json;

/// The lab agents discovered: the generated topology, two shipped recordings and the agent with
/// a 12 000-row ifTable (its observation is the one the kill lands in).
fn targets() -> Vec<String> {
    let mut t: Vec<String> = snmp_lab::topology()
        .into_iter()
        .map(|a| format!("{a}:{}", snmp_lab::PORT))
        .collect();
    t.push(format!("{}:{}", snmp_lab::SHIPPED[0].0, snmp_lab::PORT));
    t.push(format!("{}:{}", snmp_lab::SHIPPED[1].0, snmp_lab::PORT));
    t.push(huge());
    t
}

fn huge() -> String {
    format!("{}:{}", snmp_lab::HUGE, snmp_lab::PORT)
}

/// What the graph is, whatever the ids: (class, name, status) → how many CIs.
type Shape = BTreeMap<(String, String, String), usize>;

fn store_file(data: &Path) -> PathBuf {
    data.join("cmdb.sqlite")
}

/// Ids and shape of what is committed in `data` now (read as one snapshot, beside whoever has
/// the store open).
fn committed(data: &Path) -> (Vec<String>, Shape) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(
            &store_file(data),
            EmbeddedOptions {
                snapshot: true,
                ..Default::default()
            },
        )
        .expect("store opens");
        let page = s
            .find(
                &CiFilter::default(),
                CiOrder::default(),
                &PageRequest::first(1_000_000),
            )
            .await
            .unwrap();
        s.close().await.unwrap();
        let mut shape = Shape::new();
        let mut ids = Vec::new();
        for (_, c) in page.items {
            *shape
                .entry((c.class.to_string(), c.name.clone(), c.status.to_string()))
                .or_default() += 1;
            ids.push(c.id.to_string());
        }
        (ids, shape)
    })
}

/// One uninterrupted `cmdb discover` of the same targets into a fresh directory.
fn reference() -> &'static Shape {
    static REF: OnceLock<Shape> = OnceLock::new();
    REF.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let out = discover_cmd(&data).output().unwrap();
        assert!(out.status.success(), "reference run: {}", stderr(&out));
        committed(&data).1
    })
}

fn discover_cmd(data: &Path) -> std::process::Command {
    let mut c = base_command(data);
    c.env("CMDB_LOG", "warn,cmdb_server=debug")
        .args(["discover", "--snmp-community", snmp_lab::SIM_COMMUNITY])
        .args(targets());
    c
}

/// Wait until `log` says the huge agent's observation is being applied.
fn wait_for_apply(log: &Path, alive: &mut dyn FnMut() -> bool) {
    let start = Instant::now();
    let needle = format!("applying observation target={}", huge());
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(&needle) {
            return;
        }
        assert!(
            alive(),
            "the process ended before applying the big observation:\n{text}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the big observation was never applied:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The kill landed inside the apply (its end was never logged) and the store is sound.
fn after_kill_checks(data: &Path, log: &Path, before: &[String]) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        !text.contains(&format!("observation applied target={}", huge())),
        "the kill came after the apply finished; it must land inside it"
    );
    let out = cmdb(data, &["check"]);
    assert!(
        out.status.success(),
        "integrity after kill -9: {}",
        stderr(&out)
    );
    let (after, shape) = committed(data);
    let missing: Vec<&String> = before.iter().filter(|id| !after.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "CIs committed before the kill are gone: {missing:?}"
    );
    // The interrupted observation is all or nothing: none of the 12 000 interfaces, or all.
    let interfaces: usize = shape
        .iter()
        .filter(|((class, _, _), _)| class == "Interface")
        .map(|(_, n)| n)
        .sum();
    assert!(
        !(100..=12_000).contains(&interfaces),
        "half an observation survived: {interfaces} interfaces"
    );
}

/// Re-running completes the graph: the same CIs as one uninterrupted run, no duplicates.
fn assert_complete(data: &Path) {
    let (_, shape) = committed(data);
    let reference = reference();
    let diff: Vec<_> = shape
        .iter()
        .filter(|(k, v)| reference.get(*k) != Some(v))
        .chain(reference.iter().filter(|(k, _)| !shape.contains_key(*k)))
        .take(10)
        .collect();
    assert!(
        diff.is_empty(),
        "after re-running, the graph differs from an uninterrupted run ({} vs {} CIs): {diff:?}",
        shape.values().sum::<usize>(),
        reference.values().sum::<usize>()
    );
    let out = cmdb(data, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn kill_9_of_cmdb_discover_while_it_applies_an_observation() {
    snmp_lab::lab();
    reference();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = tmp.path().join("discover.log");
    let mut child = discover_cmd(&data)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_for_apply(&log, &mut || matches!(child.try_wait(), Ok(None)));
    let (before, _) = committed(&data);
    assert!(
        !before.is_empty(),
        "the small agents' observations were committed first"
    );
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    after_kill_checks(&data, &log, &before);

    // The run it left says RUNNING on disk; nobody holds its lock: the server lists it as
    // INTERRUPTED, with what to do.
    let server = ServeProcess::start(&data, &[]);
    assert_interrupted(&server, "cli");
    server.stop();

    // Running the discovery again completes it.
    let out = discover_cmd(&data).output().unwrap();
    assert!(out.status.success(), "re-run: {}", stderr(&out));
    assert_complete(&data);
}

const RUNS: &str = "{ discoveryRuns(first: 50) { id status trigger message } }";

/// The newest run of `trigger` reads INTERRUPTED, never RUNNING.
fn assert_interrupted(server: &ServeProcess, trigger: &str) {
    let runs = server.ok(RUNS, json!({}));
    let runs = runs["discoveryRuns"].as_array().unwrap();
    let ours: Vec<_> = runs.iter().filter(|r| r["trigger"] == trigger).collect();
    assert!(
        !ours.is_empty(),
        "the interrupted {trigger} run is listed: {runs:?}"
    );
    assert!(
        ours.iter().all(|r| r["status"] == "INTERRUPTED"),
        "a run whose process died reads INTERRUPTED: {ours:?}"
    );
    assert!(
        !runs.iter().any(|r| r["status"] == "RUNNING"),
        "nothing is left RUNNING: {runs:?}"
    );
}

/// A server configured with the lab's community as a named credential (in its config file,
/// where secrets belong) and the SNMP lab's ranges as that credential's scope.
fn serve_with_credentials(dir: &Path, data: &Path) -> ServeProcess {
    std::fs::write(
        dir.join("cmdb.toml"),
        format!(
            "[[discovery.snmp]]\nname = \"lab\"\nversion = \"v2c\"\ncommunity = \"{}\"\nscope = [\"127.0.1.0/24\"]\n",
            snmp_lab::SIM_COMMUNITY
        ),
    )
    .unwrap();
    ServeProcess::start(data, &[("CMDB_LOG", "info,cmdb_server=debug")])
}

#[test]
fn kill_9_of_cmdb_serve_while_an_api_run_applies_an_observation() {
    snmp_lab::lab();
    reference();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = serve_with_credentials(tmp.path(), &data);
    let started = server.ok(
        "mutation($t: [String!]!) { runDiscovery(input: {targets: $t, credentials: [\"lab\"]}) { id status } }",
        json!({"t": targets()}),
    );
    assert_eq!(started["runDiscovery"]["status"], "RUNNING", "{started}");
    wait_for_apply(&server.log, &mut || true);
    let (before, _) = committed(&data);
    assert!(
        !before.is_empty(),
        "the small agents' observations were committed first"
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = server.log.clone();
    server.kill9();
    after_kill_checks(&data, &log, &before);

    let server = serve_with_credentials(tmp.path(), &data);
    assert_interrupted(&server, "api");
    let again = server.ok(
        "mutation($t: [String!]!) { runDiscovery(input: {targets: $t, credentials: [\"lab\"]}) { id } }",
        json!({"t": targets()}),
    );
    let id = again["runDiscovery"]["id"].as_str().unwrap().to_string();
    let start = Instant::now();
    loop {
        let r = server.ok(
            "query($id: ID!) { discoveryRun(id: $id) { status message } }",
            json!({"id": id}),
        );
        let status = r["discoveryRun"]["status"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if status != "RUNNING" {
            assert_eq!(status, "SUCCEEDED", "{r}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the re-run never finished"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    server.stop();
    assert_complete(&data);
}
