//! Service mapping through the GraphQL API: services defined by rule and by entry points,
//! their maps, inferred pools and manual redundancy, and recomputation after a discovery run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_model::{CiClass, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use cmdb_server::config::DiscoveryConfig;
use cmdb_server::discovery::RunRegistry;
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions};
use serde_json::{json, Value};

struct Fixture {
    _dir: tempfile::TempDir,
    api: Api,
    store: Arc<dyn GraphStore>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn GraphStore> = Arc::new(
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap(),
    );
    let events = EventBus::default();
    let registry = Arc::new(RunRegistry::new(
        store.clone(),
        Default::default(),
        events.clone(),
        DiscoveryConfig::default(),
        dir.path().to_path_buf(),
    ));
    let api = Api::with_discovery(
        store.clone(),
        ApiLimits::default(),
        events,
        Default::default(),
        Some(registry),
    );
    Fixture {
        _dir: dir,
        api,
        store,
    }
}

async fn gql(api: &Api, role: Role, query: &str, vars: Value) -> Value {
    api.execute_json(query, vars, role).await
}

fn ok(r: &Value) -> &Value {
    assert!(r.get("errors").is_none(), "{r}");
    &r["data"]
}

/// One host as an SSH run reports it; `connects` far ends are placeholders like discovery's.
fn host(
    name: &str,
    ip: &str,
    tags: &[&str],
    listens: &[(&str, u16)],
    connects: &[(&str, &str, u16)],
) -> Observation {
    let mut o = Observation::new(
        Source::new("ssh"),
        RunId::new("run1"),
        Scope::complete([name]),
    );
    let mut h = Record::new("h", CiClass::Host)
        .name(name)
        .ident("hostname", name)
        .ident("ip_addresses", json!([ip]));
    for t in tags {
        h = h.tag(*t);
    }
    o.push(h);
    let mut procs: Vec<&str> = listens
        .iter()
        .map(|l| l.0)
        .chain(connects.iter().map(|c| c.0))
        .collect();
    procs.sort();
    procs.dedup();
    for p in procs {
        o.push(
            Record::new(format!("p:{p}"), CiClass::Process)
                .name(p)
                .parent("h")
                .ident("executable", format!("/usr/bin/{p}")),
        );
    }
    for (p, port) in listens {
        let k = format!("ep:{port}");
        o.push(
            Record::new(&k, CiClass::ListeningEndpoint)
                .parent("h")
                .ident("protocol", "tcp")
                .ident("port", *port),
        );
        o.relate(
            RelType::ListensOn,
            &format!("p:{p}"),
            &k,
            EvidenceKind::Socket,
            0.9,
        );
    }
    for (p, ip, port) in connects {
        let d = format!("remote:{ip}");
        if !o.records.iter().any(|r| r.key == d) {
            o.push(
                Record::new(&d, CiClass::Host)
                    .name(*ip)
                    .ident("ip_addresses", json!([ip]))
                    .placeholder(),
            );
        }
        let k = format!("remote:{ip}:{port}");
        o.push(
            Record::new(&k, CiClass::ListeningEndpoint)
                .parent(&d)
                .ident("protocol", "tcp")
                .ident("port", *port)
                .placeholder(),
        );
        o.relate(
            RelType::ConnectsTo,
            &format!("p:{p}"),
            &k,
            EvidenceKind::Socket,
            0.5,
        );
    }
    o
}

async fn shop_estate(store: &dyn GraphStore) {
    let webs = [
        ("web1", "10.0.1.1"),
        ("web2", "10.0.1.2"),
        ("web3", "10.0.1.3"),
    ];
    let lb_conns: Vec<(&str, &str, u16)> =
        webs.iter().map(|(_, ip)| ("haproxy", *ip, 8080)).collect();
    let mut all = vec![host(
        "lb1",
        "10.0.0.1",
        &["env:prod"],
        &[("haproxy", 443)],
        &lb_conns,
    )];
    for (n, ip) in webs {
        all.push(host(
            n,
            ip,
            &["env:prod", "tier:web"],
            &[("java", 8080)],
            &[("java", "10.0.2.1", 5432)],
        ));
    }
    all.push(host(
        "db1",
        "10.0.2.1",
        &["env:prod"],
        &[("postgres", 5432)],
        &[("postgres", "10.0.0.1", 443)],
    ));
    for o in all {
        let r = store.ingest(o, &IngestOptions::default()).await.unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
}

const DEFINE: &str = "mutation($input: DefineBusinessServiceInput!) { defineBusinessService(input: $input) { id name members { name class } } }";
const MAP: &str = "query($id: ID!, $d: Int) { serviceMap(serviceId: $id, maxDepth: $d) { truncated
    service { kind entryPoints unresolvedEntryPoints { entryPoint reason } mappedAt mapSize }
    nodes { id class name role ci { id status } }
    edges { from to type confidence evidence { source kind confidence lastSeen } } } }";

fn roles(map: &Value) -> Vec<(String, String)> {
    map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["role"].as_str().unwrap().to_string(),
                n["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_by_entry_point_and_rule_over_graphql() {
    let f = fixture();
    shop_estate(f.store.as_ref()).await;
    // Pools are inferred by a recompute (after discovery runs, at start, or on request).
    let r = gql(&f.api, Role::Editor, "mutation { recomputeServices { poolsCreated poolEdgesAdded servicesMapped errors { code } } }", json!({})).await;
    assert_eq!(ok(&r)["recomputeServices"]["poolsCreated"], 1, "{r}");

    // Entry points: mapped at once.
    let r = gql(&f.api, Role::Editor, DEFINE, json!({"input": {"name": "Shop", "criticality": 1, "entryPoints": ["https://lb1", "nosuch:80"]}})).await;
    let shop = ok(&r)["defineBusinessService"].clone();
    let shop_id = shop["id"].as_str().unwrap().to_string();
    let mut names: Vec<&str> = shop["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["haproxy", "tcp/443"], "{shop}");

    let r = gql(&f.api, Role::Reader, MAP, json!({"id": shop_id})).await;
    let map = &ok(&r)["serviceMap"];
    assert_eq!(map["service"]["kind"], "ENTRY_POINT");
    assert_eq!(
        map["service"]["unresolvedEntryPoints"][0]["entryPoint"], "nosuch:80",
        "{map}"
    );
    assert!(map["service"]["mappedAt"].is_string());
    let shop_roles = roles(map);
    let r0 = &shop_roles;
    assert!(r0.contains(&("SERVICE".into(), "Shop".into())), "{r0:?}");
    assert!(
        r0.contains(&("ENTRY_POINT".into(), "tcp/443".into())),
        "{r0:?}"
    );
    assert!(r0.contains(&("MEMBER".into(), "haproxy".into())), "{r0:?}");
    assert!(
        r0.contains(&("POOL".into(), "pool haproxy@lb1 → :8080".into())),
        "{r0:?}"
    );
    assert!(
        r0.contains(&("DEPENDENCY".into(), "postgres".into())),
        "{r0:?}"
    );
    assert_eq!(
        r0.iter()
            .filter(|(r, n)| r == "DEPENDENCY" && n == "java")
            .count(),
        3
    );
    let edges = map["edges"].as_array().unwrap();
    let types: std::collections::BTreeSet<&str> =
        edges.iter().map(|e| e["type"].as_str().unwrap()).collect();
    for t in [
        "MEMBER_OF",
        "LISTENS_ON",
        "CONNECTS_TO",
        "PART_OF",
        "DEPENDS_ON",
        "RUNS_ON",
    ] {
        assert!(types.contains(t), "{t} missing: {types:?}");
    }
    let part_of = edges.iter().find(|e| e["type"] == "PART_OF").unwrap();
    assert_eq!(
        (
            part_of["evidence"][0]["source"].as_str(),
            part_of["evidence"][0]["kind"].as_str()
        ),
        (Some("service-mapper"), Some("INFERRED"))
    );

    // The impact engine reads the pool: one web host failing degrades the shop, the load
    // balancer failing takes it down.
    const IMPACT: &str =
        "query($ids: [ID!]!) { impact(ids: $ids) { services { severity service { name } } } }";
    let host_id = |name: &str| {
        let n = name.to_string();
        let api = f.api.clone();
        async move {
            let r = gql(&api, Role::Reader, "query($n: String!) { cis(filter: {class: HOST, name: {equals: $n}}) { nodes { id } } }", json!({"n": n})).await;
            r["data"]["cis"]["nodes"][0]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let severity_of_shop = |d: &Value| {
        d["impact"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"]["name"] == "Shop")
            .map(|s| s["severity"].clone())
    };
    let r = gql(
        &f.api,
        Role::Reader,
        IMPACT,
        json!({"ids": [host_id("web1").await]}),
    )
    .await;
    let sev = severity_of_shop(ok(&r)).unwrap_or(Value::Null);
    assert!(
        sev != "DOWN" && !sev.is_null(),
        "one backend down degrades the shop: {r}"
    );
    let r = gql(
        &f.api,
        Role::Reader,
        IMPACT,
        json!({"ids": [host_id("lb1").await]}),
    )
    .await;
    assert_eq!(severity_of_shop(ok(&r)), Some(json!("DOWN")), "{r}");

    // Manual redundancy on the pool, validated against its member count.
    let pool = map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["role"] == "POOL")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    const SET: &str = "mutation($g: ID!, $n: Int!) { setRedundancy(groupId: $g, minUp: $n) { id attribute(key: \"min_up\") } }";
    let r = gql(&f.api, Role::Editor, SET, json!({"g": pool, "n": 4})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{r}");
    let r = gql(&f.api, Role::Reader, SET, json!({"g": pool, "n": 2})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    let r = gql(&f.api, Role::Editor, SET, json!({"g": pool, "n": 2})).await;
    assert_eq!(ok(&r)["setRedundancy"]["attribute"], 2, "{r}");
    let r = gql(&f.api, Role::Editor, "mutation { recomputeServices { poolsCreated poolEdgesAdded poolEdgesRemoved membersAdded membersRemoved } }", json!({})).await;
    assert_eq!(
        ok(&r)["recomputeServices"],
        json!({"poolsCreated": 0, "poolEdgesAdded": 0, "poolEdgesRemoved": 0, "membersAdded": 0, "membersRemoved": 0})
    );
    let r = gql(
        &f.api,
        Role::Reader,
        "query($id: ID!) { ci(id: $id) { attribute(key: \"min_up\") } }",
        json!({"id": pool}),
    )
    .await;
    assert_eq!(
        ok(&r)["ci"]["attribute"],
        2,
        "the manual min_up survives recomputation"
    );

    // A rule service: members follow the rule; the map is members plus what they rely on.
    let r = gql(
        &f.api,
        Role::Editor,
        DEFINE,
        json!({"input": {"name": "Web tier", "criticality": 3,
        "rule": {"classes": ["PROCESS"], "namePattern": "^java$"}}}),
    )
    .await;
    let web = ok(&r)["defineBusinessService"].clone();
    assert_eq!(web["members"].as_array().unwrap().len(), 3, "{web}");
    let web_id = web["id"].as_str().unwrap().to_string();
    let r = gql(&f.api, Role::Reader, MAP, json!({"id": web_id, "d": 1})).await;
    let map = &ok(&r)["serviceMap"];
    assert_eq!(map["service"]["kind"], "RULE");
    let rs = roles(map);
    assert_eq!(
        rs.iter().filter(|(r, _)| r == "MEMBER").count(),
        3,
        "{rs:?}"
    );
    // One hop upstream of a java process: its host and the db endpoint it connects to.
    assert!(rs.contains(&("DEPENDENCY".into(), "web1".into())), "{rs:?}");
    assert!(
        rs.contains(&("DEPENDENCY".into(), "tcp/5432".into())),
        "{rs:?}"
    );
    assert!(
        !rs.iter().any(|(_, n)| n == "postgres"),
        "depth 1 stops before the db process: {rs:?}"
    );

    let r = gql(&f.api, Role::Reader, "query($id: ID!) { serviceDefinition(serviceId: $id) { kind rule entryPoints mappingDepth } }", json!({"id": web_id})).await;
    assert_eq!(
        ok(&r)["serviceDefinition"]["rule"]["namePattern"],
        "^java$",
        "{r}"
    );

    // Switching the rule off (an empty rule) removes what the rule added.
    let r = gql(&f.api, Role::Editor, "mutation($id: ID!) { updateBusinessService(id: $id, input: {rule: {}}) { members { name } } }", json!({"id": web_id})).await;
    assert_eq!(ok(&r)["updateBusinessService"]["members"], json!([]), "{r}");

    // Input errors carry the API's codes; nothing is written for them.
    for (input, code) in [
        (
            json!({"name": "X1", "criticality": 2, "rule": {"namePattern": "("}}),
            "INVALID_INPUT",
        ),
        (
            json!({"name": "X2", "criticality": 2, "entryPoints": ["https://user:pw@lb1"]}),
            "INVALID_INPUT",
        ),
        (
            json!({"name": "X3", "criticality": 2, "entryPoints": ["lb1"]}),
            "INVALID_INPUT",
        ),
        (
            json!({"name": "X4", "criticality": 2, "entryPoints": ["lb1:443"], "mappingDepth": 0}),
            "INVALID_INPUT",
        ),
    ] {
        let r = gql(&f.api, Role::Editor, DEFINE, json!({"input": input})).await;
        assert_eq!(r["errors"][0]["extensions"]["code"], code, "{input}: {r}");
        assert!(
            !r.to_string().contains("pw@"),
            "a credential is never echoed: {r}"
        );
    }
    let r = gql(&f.api, Role::Reader, MAP, json!({"id": shop_id, "d": 99})).await;
    assert_eq!(
        r["errors"][0]["extensions"]["code"], "LIMIT_EXCEEDED",
        "{r}"
    );
    let r = gql(&f.api, Role::Reader, MAP, json!({"id": pool})).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
    let r = gql(
        &f.api,
        Role::Reader,
        "mutation { recomputeServices { servicesMapped } }",
        json!({}),
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
}

async fn wait_finished(api: &Api, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let r = gql(
            api,
            Role::Reader,
            "query($id: ID!) { discoveryRun(id: $id) { id status errors { code message } } }",
            json!({"id": id}),
        )
        .await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_run_recomputes_services() {
    let f = fixture();
    // Defined before anything exists: no members yet.
    let r = gql(
        &f.api,
        Role::Editor,
        DEFINE,
        json!({"input": {"name": "Every host", "criticality": 4, "rule": {"classes": ["HOST"]}}}),
    )
    .await;
    let svc = ok(&r)["defineBusinessService"].clone();
    assert_eq!(svc["members"], json!([]));
    let r = gql(
        &f.api,
        Role::Editor,
        "mutation { runDiscovery(input: {local: true}) { id } }",
        json!({}),
    )
    .await;
    let run = wait_finished(&f.api, ok(&r)["runDiscovery"]["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let r = gql(&f.api, Role::Reader, "query($id: ID!) { serviceDefinition(serviceId: $id) { mappedAt service { members { class } } } }", json!({"id": svc["id"]})).await;
    let def = &ok(&r)["serviceDefinition"];
    assert_eq!(
        def["service"]["members"],
        json!([{"class": "HOST"}]),
        "the run's host joined the rule service: {def}"
    );
    assert!(def["mappedAt"].is_string(), "{def}");
}
