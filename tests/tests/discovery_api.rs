//! Discovery runs through the GraphQL API (`runDiscovery`, `discoveryRun`, `discoveryRuns`)
//! against the real SNMP lab and the local host, with credentials named in config.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_discovery::CredentialScope;
use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_server::config::{DiscoveryConfig, ScheduleConfig};
use cmdb_server::discovery::RunRegistry;
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use cmdb_tests::{snmp_lab, ssh_lab};
use serde_json::{json, Value};

struct Fixture {
    _dir: tempfile::TempDir,
    api: Api,
}

/// The SNMP lab's agents (127.0.1.x): where its credentials may go.
fn snmp_lab_scope() -> Option<CredentialScope> {
    Some(CredentialScope::parse(&["127.0.1.0/24"]).unwrap())
}

fn fixture() -> Fixture {
    let mut lab = snmp_lab::v2c("lab", snmp_lab::SIM_COMMUNITY);
    lab.scope = snmp_lab_scope();
    let mut wrong = snmp_lab::v2c("wrong", "not-the-community");
    wrong.scope = snmp_lab_scope();
    fixture_with(DiscoveryConfig {
        snmp: vec![lab, wrong],
        ..Default::default()
    })
}

fn fixture_with(config: DiscoveryConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn GraphStore> = Arc::new(
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap(),
    );
    let events = EventBus::default();
    let registry = Arc::new(RunRegistry::new(
        store.clone(),
        Default::default(),
        events.clone(),
        config,
        dir.path().to_path_buf(),
    ));
    let api = Api::with_discovery(
        store,
        ApiLimits::default(),
        events,
        Default::default(),
        Some(registry),
    );
    Fixture { _dir: dir, api }
}

async fn gql(api: &Api, role: Role, query: &str, vars: Value) -> Value {
    api.execute_json(query, vars, role).await
}

async fn wait_finished(api: &Api, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = gql(api, Role::Reader, "query($id: ID!) { discoveryRun(id: $id) { id status trigger targetsOk targetsFailed cisCreated cisUnchanged cisStaled relationshipsCreated errors { target probe code message } finishedAt } }", json!({"id": id})).await;
        let run = r["data"]["discoveryRun"].clone();
        if run["status"] != "RUNNING" {
            return run;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "run {id} did not finish: {run}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const RUN: &str =
    "mutation($input: RunDiscoveryInput!) { runDiscovery(input: $input) { id status trigger } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_discovery_over_the_api_reports_per_target_results() {
    snmp_lab::lab();
    let f = fixture();
    let sw1 = format!("{}:{}", snmp_lab::SW1, snmp_lab::PORT);
    let closed = format!("{}:{}", snmp_lab::CLOSED, snmp_lab::PORT);
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": [sw1, closed], "credentials": ["lab"]}}),
    )
    .await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(r["data"]["runDiscovery"]["status"], "RUNNING");
    assert_eq!(r["data"]["runDiscovery"]["trigger"], "api");
    let id = r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = wait_finished(&f.api, &id).await;
    assert_eq!(run["status"], "PARTIAL", "{run}");
    assert_eq!(run["targetsOk"], 1);
    assert_eq!(run["targetsFailed"], 1);
    assert!(run["cisCreated"].as_i64().unwrap() > 5, "{run}");
    assert_eq!(run["errors"][0]["target"], closed.as_str());
    assert_eq!(run["errors"][0]["code"], "UNREACHABLE");
    // A second run over the same target: nothing new, nothing staled, listed newest first.
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": [sw1], "credentials": ["lab"]}}),
    )
    .await;
    let id2 = r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run2 = wait_finished(&f.api, &id2).await;
    assert_eq!(run2["status"], "SUCCEEDED", "{run2}");
    assert_eq!(run2["cisCreated"], 0);
    assert_eq!(run2["cisStaled"], 0);
    let list = gql(
        &f.api,
        Role::Reader,
        "{ discoveryRuns { id status } }",
        json!({}),
    )
    .await;
    assert_eq!(list["data"]["discoveryRuns"][0]["id"], id2.as_str());
    assert_eq!(list["data"]["discoveryRuns"][1]["id"], id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_fail_the_target_not_the_run() {
    snmp_lab::lab();
    let f = fixture();
    let sw2 = format!("{}:{}", snmp_lab::SW2, snmp_lab::PORT);
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": [sw2], "credentials": ["wrong"]}}),
    )
    .await;
    let id = r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = wait_finished(&f.api, &id).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["errors"][0]["code"], "TIMEOUT");
    assert!(
        !run.to_string().contains("not-the-community"),
        "a secret leaked: {run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_discovery_run_and_input_errors() {
    let f = fixture();
    let r = gql(&f.api, Role::Editor, RUN, json!({"input": {"local": true}})).await;
    let id = r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = wait_finished(&f.api, &id).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    assert!(run["cisCreated"].as_i64().unwrap() > 1);
    let hosts = gql(
        &f.api,
        Role::Reader,
        "{ cis(filter: {class: HOST}) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(hosts["data"]["cis"]["totalCount"], 1, "{hosts}");

    for (input, code) in [
        (json!({"targets": ["10.0.0.0/8"]}), "INVALID_INPUT"),
        (json!({"targets": ["not a target:x"]}), "INVALID_INPUT"),
        (
            json!({"targets": ["127.0.1.20"], "credentials": ["nope"]}),
            "INVALID_INPUT",
        ),
        (json!({}), "INVALID_INPUT"),
    ] {
        let r = gql(&f.api, Role::Editor, RUN, json!({"input": input})).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], code, "{input}: {r}");
    }
    let r = gql(&f.api, Role::Reader, RUN, json!({"input": {"local": true}})).await;
    assert_eq!(
        r["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "readers cannot start runs: {r}"
    );
    let r = gql(
        &f.api,
        Role::Reader,
        "{ discoveryRun(id: \"run_nope\") { id } }",
        json!({}),
    )
    .await;
    assert!(r["data"]["discoveryRun"].is_null());
}

/// Issue: `runDiscovery` aimed at an address of the caller's choice sent the configured SNMP
/// community there in cleartext and tried the SSH password against the caller's sshd. Now a
/// target outside every credential's scope is refused before a packet leaves, and a run
/// started over the API meets only known SSH host keys unless it accepts new ones explicitly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_only_to_their_scope_and_api_runs_meet_known_host_keys() {
    snmp_lab::lab();
    let ssh = ssh_lab::lab();
    let mut lab = snmp_lab::v2c("lab", snmp_lab::SIM_COMMUNITY);
    lab.scope = snmp_lab_scope();
    let mut ops = ssh.password_credential("ops", ssh_lab::PASSWORD);
    ops.scope = Some(CredentialScope::parse(&["127.0.3.0/24"]).unwrap());
    let f = fixture_with(DiscoveryConfig {
        snmp: vec![lab],
        ssh: vec![ops],
        ..Default::default()
    });

    // The caller's own listeners, outside every scope.
    let udp = std::net::UdpSocket::bind("127.0.9.9:0").unwrap();
    let tcp = std::net::TcpListener::bind("127.0.9.9:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let (udp_port, tcp_port) = (
        udp.local_addr().unwrap().port(),
        tcp.local_addr().unwrap().port(),
    );
    for targets in [
        json!([format!("127.0.9.9:{udp_port}")]),
        json!([format!("127.0.9.9:{tcp_port}")]),
        json!(["127.0.9.0/28"]),
        json!([format!("{}:{}", snmp_lab::SW1, snmp_lab::PORT), "127.0.9.9"]),
    ] {
        let r = gql(
            &f.api,
            Role::Editor,
            RUN,
            json!({"input": {"targets": targets}}),
        )
        .await;
        assert_eq!(
            r["errors"][0]["extensions"]["code"], "INVALID_INPUT",
            "{targets}: {r}"
        );
        let msg = r["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("outside the scope") && msg.contains("127.0.9."),
            "{msg}"
        );
        assert!(!msg.contains(snmp_lab::SIM_COMMUNITY) && !msg.contains(ssh_lab::PASSWORD));
    }
    // Only the SSH credential named: the SNMP lab is outside its scope.
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": [snmp_lab::SW1], "credentials": ["ops"]}}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{r}");
    udp.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        udp.recv_from(&mut buf).is_err(),
        "no SNMP packet reached the caller's address"
    );
    assert!(
        matches!(tcp.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no SSH connection reached the caller's address"
    );

    // In scope, but the host key is not known yet: refused unless accepted explicitly.
    let web1 = format!("{}:{}", ssh_lab::ESTATE[1].1, ssh_lab::PORT);
    let start = |accept: bool| {
        let api = &f.api;
        let web1 = web1.clone();
        async move {
            let r = gql(
                api,
                Role::Editor,
                RUN,
                json!({"input": {"targets": [web1], "credentials": ["ops"], "acceptNewHostKeys": accept}}),
            )
            .await;
            let id = r["data"]["runDiscovery"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{r}"))
                .to_string();
            wait_finished(api, &id).await
        }
    };
    let run = start(false).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    assert_eq!(run["errors"][0]["code"], "HOST_KEY_REJECTED", "{run}");
    let run = start(true).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let run = start(false).await;
    assert_eq!(run["status"], "SUCCEEDED", "the key is known now: {run}");
}

/// A credential without an explicit scope may go where the schedules naming it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_scope_is_the_schedules_targets() {
    snmp_lab::lab();
    let sw1 = format!("{}:{}", snmp_lab::SW1, snmp_lab::PORT);
    let sw2 = format!("{}:{}", snmp_lab::SW2, snmp_lab::PORT);
    let f = fixture_with(DiscoveryConfig {
        snmp: vec![snmp_lab::v2c("lab", snmp_lab::SIM_COMMUNITY)],
        schedules: vec![ScheduleConfig {
            name: "nightly".into(),
            cron: "0 0 2 * * *".into(),
            targets: vec![sw1.clone()],
            credentials: vec!["lab".into()],
            local: false,
        }],
        ..Default::default()
    });
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": [sw2]}}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{r}");
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": [sw1]}}),
    )
    .await;
    let id = r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let run = wait_finished(&f.api, &id).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
}

const OUTCOMES: &str = "query($id: ID!) { discoveryRun(id: $id) { id status targetsDone targetsOk targetsFailed targetsSkipped targetsTotal targetsOmitted errors { target probe code } targets { target probe status records relationships durationMs complete credential diagnosticsOmitted diagnostics { level code message } error { code message } } } }";

/// The row of `targets` for (target, probe).
fn row<'a>(run: &'a Value, target: &str, probe: &str) -> &'a Value {
    run["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["target"] == target && r["probe"] == probe)
        .unwrap_or_else(|| panic!("no row for {probe} {target}: {run}"))
}

/// The console's Discovery page: per (target, probe) outcomes while the run goes (a RUNNING
/// run shows which pairs are done), on `discoveryProgress` as they happen, and in the record
/// after the run and after the process (here: a new registry over the same data directory).
/// Real SNMP and SSH lab agents: an SNMP switch (OK), a closed SNMP port (UNREACHABLE), SSH
/// hosts that answer (OK), one with non-UTF-8 output (OK with a diagnostic), one that prints
/// garbage (PROTOCOL_ERROR), and each protocol's credential scoped to its own lab, so every
/// pair of the other protocol is SKIPPED. A refused SSH password never shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_target_outcomes_live_in_progress_and_persisted() {
    snmp_lab::lab();
    let ssh = ssh_lab::lab();
    const WRONG: &str = "not-the-lab-password-7731";
    let mut snmp = snmp_lab::v2c("lab", snmp_lab::SIM_COMMUNITY);
    snmp.scope = snmp_lab_scope();
    let ssh_scope = Some(CredentialScope::parse(&["127.0.3.0/24"]).unwrap());
    // Tried first and refused on every host: a diagnostic, never its value.
    let mut bad = ssh.password_credential("old-password", WRONG);
    bad.scope = ssh_scope.clone();
    let mut ops = ssh.password_credential("ops", ssh_lab::PASSWORD);
    ops.scope = ssh_scope;
    let f = fixture_with(DiscoveryConfig {
        snmp: vec![snmp],
        ssh: vec![bad, ops],
        // One target at a time: the run is long enough to be seen RUNNING half-done.
        concurrency: 1,
        ..Default::default()
    });
    let sw1 = format!("{}:{}", snmp_lab::SW1, snmp_lab::PORT);
    let closed = format!("{}:{}", snmp_lab::CLOSED, snmp_lab::PORT);
    let web1 = format!("{}:{}", ssh_lab::ESTATE[1].1, ssh_lab::PORT);
    let db1 = format!("{}:{}", ssh_lab::ESTATE[6].1, ssh_lab::PORT);
    let non_utf8 = format!("{}:{}", ssh_lab::NON_UTF8, ssh_lab::PORT);
    let garbage = format!("{}:{}", ssh_lab::GARBAGE, ssh_lab::PORT);
    let targets = [&sw1, &web1, &db1, &non_utf8, &garbage, &closed];
    let r = gql(
        &f.api,
        Role::Editor,
        RUN,
        json!({"input": {"targets": targets, "acceptNewHostKeys": true}}),
    )
    .await;
    let id = r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();

    // Live progress, from now on.
    let sub = f.api.schema.execute_stream(f.api.prepare(
        async_graphql::Request::new("subscription($id: ID!) { discoveryProgress(runId: $id) { phase target probe status targetsDone targetsTotal } }")
            .variables(async_graphql::Variables::from_json(json!({"id": id}))),
        Role::Reader,
    ));
    let events = tokio::spawn(async move {
        use futures::StreamExt;
        let mut out: Vec<Value> = Vec::new();
        let mut sub = sub;
        while let Ok(Some(resp)) = tokio::time::timeout(Duration::from_secs(120), sub.next()).await
        {
            let p = serde_json::to_value(&resp.data).unwrap()["discoveryProgress"].clone();
            let last = p["phase"] == "FINISHED";
            out.push(p);
            if last {
                break;
            }
        }
        out
    });

    // Poll while it runs: at some point some pairs are done and others not.
    let mut seen_half_done = false;
    let started = Instant::now();
    let run = loop {
        let r = gql(&f.api, Role::Reader, OUTCOMES, json!({"id": id})).await;
        let run = r["data"]["discoveryRun"].clone();
        assert!(r["errors"].is_null(), "{r}");
        if run["status"] != "RUNNING" {
            break run;
        }
        let statuses: Vec<&str> = run["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect();
        // Every pair is listed from when the run has expanded its targets.
        let total = run["targetsTotal"].as_u64().unwrap() as usize;
        assert!(total == 0 || total == 12, "{run}");
        assert_eq!(statuses.len(), total, "{run}");
        let finished = statuses
            .iter()
            .filter(|s| ["OK", "FAILED", "SKIPPED"].contains(s))
            .count();
        assert_eq!(
            run["targetsDone"].as_u64().unwrap() as usize,
            finished,
            "{run}"
        );
        if finished > 0 && finished < statuses.len() {
            seen_half_done = true;
        }
        assert!(
            statuses.iter().filter(|s| **s == "RUNNING").count() <= 1,
            "one pair at a time: {run}"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "{run}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(seen_half_done, "a RUNNING run showed which pairs are done");

    // How it ended.
    assert_eq!(run["status"], "PARTIAL", "{run}");
    assert_eq!(run["targetsTotal"], 12);
    assert_eq!(run["targetsDone"], 12);
    assert_eq!(run["targetsOk"], 4, "{run}");
    assert_eq!(run["targetsFailed"], 2, "{run}");
    assert_eq!(run["targetsSkipped"], 6, "{run}");
    assert_eq!(run["targetsOmitted"], 0);
    let listed: Vec<(String, String)> = run["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["target"].as_str().unwrap().to_string(),
                t["probe"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = targets
        .iter()
        .flat_map(|t| {
            [
                (t.to_string(), "snmp".into()),
                (t.to_string(), "ssh".into()),
            ]
        })
        .collect();
    assert_eq!(listed, want, "in the order the run took them");
    let sw1_snmp = row(&run, &sw1, "snmp");
    assert_eq!(sw1_snmp["status"], "OK");
    assert!(sw1_snmp["records"].as_i64().unwrap() > 5, "{sw1_snmp}");
    assert!(sw1_snmp["relationships"].as_i64().unwrap() > 0);
    assert!(sw1_snmp["durationMs"].as_i64().is_some());
    assert_eq!(sw1_snmp["credential"], "lab");
    assert_eq!(sw1_snmp["complete"], true);
    assert!(sw1_snmp["error"].is_null());
    let skipped = row(&run, &sw1, "ssh");
    assert_eq!(skipped["status"], "SKIPPED");
    assert_eq!(skipped["error"]["code"], "OUT_OF_SCOPE");
    assert_eq!(row(&run, &web1, "snmp")["status"], "SKIPPED");
    let closed_row = row(&run, &closed, "snmp");
    assert_eq!(closed_row["status"], "FAILED");
    assert_eq!(closed_row["error"]["code"], "UNREACHABLE");
    let web1_ssh = row(&run, &web1, "ssh");
    assert_eq!(web1_ssh["status"], "OK", "{web1_ssh}");
    assert_eq!(web1_ssh["credential"], "ops");
    let refused: Vec<&Value> = web1_ssh["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "ssh.credential_refused")
        .collect();
    assert_eq!(refused.len(), 1, "{web1_ssh}");
    assert_eq!(refused[0]["level"], "WARNING");
    let odd = row(&run, &non_utf8, "ssh");
    assert_eq!(odd["status"], "OK", "{odd}");
    assert!(
        odd["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "linux.non_utf8" && d["level"] == "WARNING"),
        "{odd}"
    );
    let garbage_row = row(&run, &garbage, "ssh");
    assert_eq!(garbage_row["status"], "FAILED");
    assert_eq!(garbage_row["error"]["code"], "PROTOCOL_ERROR");
    // Skips are not failures: `errors` lists the two failures only.
    let mut codes: Vec<&str> = run["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(codes, ["PROTOCOL_ERROR", "UNREACHABLE"], "{run}");
    assert!(!run.to_string().contains(WRONG), "a secret leaked: {run}");
    assert!(
        !run.to_string().contains(ssh_lab::PASSWORD),
        "a secret leaked: {run}"
    );

    // What the subscription said agrees with the record.
    let events = events.await.unwrap();
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["phase"] == "TARGET_DONE")
        .collect();
    assert!(!done.is_empty(), "{events:?}");
    for e in &done {
        let r = row(
            &run,
            e["target"].as_str().unwrap(),
            e["probe"].as_str().unwrap(),
        );
        assert_eq!(e["status"], r["status"], "{e} vs {r}");
    }
    assert!(events
        .iter()
        .filter(|e| e["phase"] == "TARGET_STARTED")
        .all(|e| e["status"] == "RUNNING" && e["target"].is_string()));
    assert!(events
        .iter()
        .filter(|e| e["phase"] == "FINISHED")
        .all(|e| e["target"].is_null() && e["status"].is_null()));

    // The record on disk, as another process reads it: the same outcomes.
    let events_bus = EventBus::default();
    let other = Arc::new(RunRegistry::new(
        f.api.store().clone(),
        Default::default(),
        events_bus.clone(),
        DiscoveryConfig::default(),
        f._dir.path().to_path_buf(),
    ));
    let other_api = Api::with_discovery(
        f.api.store().clone(),
        ApiLimits::default(),
        events_bus,
        Default::default(),
        Some(other),
    );
    let again = gql(&other_api, Role::Reader, OUTCOMES, json!({"id": id})).await;
    assert_eq!(again["data"]["discoveryRun"], run, "persisted with the run");
    let text = std::fs::read_to_string(f._dir.path().join(format!("runs/{id}.json"))).unwrap();
    assert!(!text.contains(WRONG) && !text.contains(ssh_lab::PASSWORD));

    // A run recorded before outcomes existed still loads, with none listed.
    std::fs::write(
        f._dir.path().join("runs/run_before.json"),
        r#"{"id":"run_before","status":"SUCCEEDED","trigger":"cli","started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:09Z","targets_done":1,"targets_ok":1,"targets_failed":0,"cis_created":4,"cis_updated":0,"cis_unchanged":0,"cis_staled":0,"relationships_created":2,"relationships_closed":0,"errors":[],"message":null}"#,
    )
    .unwrap();
    let old = gql(
        &other_api,
        Role::Reader,
        OUTCOMES,
        json!({"id": "run_before"}),
    )
    .await;
    let old = &old["data"]["discoveryRun"];
    assert_eq!(old["targets"], json!([]), "{old}");
    assert_eq!(old["targetsOk"], 1);
    assert_eq!(old["targetsOmitted"], 0);
}
