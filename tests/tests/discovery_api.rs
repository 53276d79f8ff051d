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
