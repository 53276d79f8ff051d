//! The GraphQL API on the Neo4j backend (a real ArcadeDB Bolt server): the same questions asked
//! of the same estate on both backends give the same answers — ids are deterministic, and one
//! impact engine evaluates both backends' subgraphs.

use std::sync::Arc;

use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_store::neo4j::Neo4jStore;
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use cmdb_tests::{api_support::load_estate, bolt_lab};
use serde_json::{json, Value};

fn api(store: Arc<dyn GraphStore>) -> Api {
    Api::new(
        store,
        ApiLimits::default(),
        EventBus::default(),
        Default::default(),
    )
}

const QUERIES: &[&str] = &[
    "{ cis(first: 50, orderBy: {field: NAME}) { totalCount edges { node { id class name status tags } } } }",
    "{ cis(filter: {class: HOST}) { totalCount edges { node { id name relationships(direction: BOTH) { totalCount edges { node { type from { id } to { id } evidence { source kind confidence } } } } } } } }",
    "{ businessServices { name criticality owner members { id } } }",
    // The console's search box, identifier keys and identification decisions.
    "{ search(text: \"web\", first: 50) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id name identifiers { key rule value } identification { outcome rule explanation source runId at merged } } } } }",
    "{ search(text: \"10.0.1.10\") { totalCount nodes { id name } } }",
    "{ search(text: \"NGINX\", classes: [PROCESS, HOST], first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { name identifiers { rule value } } } }",
    "{ search(text: \"tier:web\") { totalCount nodes { name } } }",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_answer_the_same() {
    let _exclusive = bolt_lab::fresh().await; // empties the graph and holds it for this test
    let neo: Arc<dyn GraphStore> = Arc::new(
        Neo4jStore::connect(&bolt_lab::config())
            .await
            .expect("connect"),
    );
    let dir = tempfile::tempdir().unwrap();
    let emb: Arc<dyn GraphStore> = Arc::new(
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap(),
    );
    load_estate(&*neo, "estate.jsonl").await;
    load_estate(&*emb, "estate.jsonl").await;
    let (a, b) = (api(neo.clone()), api(emb.clone()));
    for q in QUERIES {
        let (x, y) = (
            a.execute_json(q, json!({}), Role::Reader).await,
            b.execute_json(q, json!({}), Role::Reader).await,
        );
        assert!(x["errors"].is_null(), "neo4j: {q}: {x}");
        assert_eq!(normalise(x), normalise(y), "{q}");
    }
    // Impact of every host failing, one at a time: same services, severities and paths.
    let hosts = b
        .execute_json(
            "{ cis(filter: {class: HOST}) { edges { node { id } } } }",
            json!({}),
            Role::Reader,
        )
        .await;
    let ids: Vec<String> = hosts["data"]["cis"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!ids.is_empty());
    let q = "query($ids: [ID!]!) { impact(ids: $ids) { affectedCount services { service { id name } severity paths } } }";
    for id in &ids {
        let (x, y) = (
            a.execute_json(q, json!({"ids": [id]}), Role::Reader).await,
            b.execute_json(q, json!({"ids": [id]}), Role::Reader).await,
        );
        assert!(x["errors"].is_null(), "{x}");
        assert_eq!(x["data"], y["data"], "impact of {id}");
    }
    // Redundancy, what-if, single points of failure and paths: the fixture estate with pools,
    // a quorum and a cycle, every CI failing alone, on both backends.
    load_estate(&*neo, "redundancy_estate.jsonl").await;
    load_estate(&*emb, "redundancy_estate.jsonl").await;
    let all = b
        .execute_json(
            "{ cis(first: 500) { edges { node { id class } } } }",
            json!({}),
            Role::Reader,
        )
        .await;
    let nodes = all["data"]["cis"]["edges"].as_array().unwrap().clone();
    let q = "query($ids: [ID!]!) { impact(ids: $ids) { services { serviceId severity depth breadth paths } groups { groupId down minUp severity } affectedCount } changeRisk(ids: $ids) { totalScore restsOnLowConfidence } }";
    for n in &nodes {
        let id = n["node"]["id"].as_str().unwrap();
        let (x, y) = (
            a.execute_json(q, json!({"ids": [id]}), Role::Reader).await,
            b.execute_json(q, json!({"ids": [id]}), Role::Reader).await,
        );
        assert!(x["errors"].is_null(), "{x}");
        assert_eq!(x["data"], y["data"], "impact of {id}");
        if n["node"]["class"] == "BUSINESS_SERVICE" {
            let q = "query($s: ID!) { singlePointsOfFailure(serviceId: $s) { id depth path } }";
            let (x, y) = (
                a.execute_json(q, json!({"s": id}), Role::Reader).await,
                b.execute_json(q, json!({"s": id}), Role::Reader).await,
            );
            assert!(x["errors"].is_null(), "{x}");
            assert_eq!(x["data"], y["data"], "single points of failure of {id}");
        }
    }
    let first = nodes[0]["node"]["id"].as_str().unwrap();
    let q = "query($a: ID!, $b: ID!) { path(from: $a, to: $b) { direction chains { ids relationships { type } } } }";
    for n in &nodes {
        let id = n["node"]["id"].as_str().unwrap();
        let v = json!({"a": first, "b": id});
        assert_eq!(
            a.execute_json(q, v.clone(), Role::Reader).await,
            b.execute_json(q, v, Role::Reader).await,
            "path to {id}"
        );
    }
    // A mutation through the Neo4j backend lands in its history.
    let r = a
        .execute_json("mutation { defineBusinessService(input: {name: \"Payroll\", criticality: 2, owner: \"hr-it\", slaTarget: \"99.5%\"}) { id name } }", json!({}), Role::Editor)
        .await;
    assert!(r["errors"].is_null(), "{r}");
    let id = r["data"]["defineBusinessService"]["id"].as_str().unwrap();
    let h = a.execute_json("query($id: ID!) { ci(id: $id) { history(first: 10) { edges { node { kind source } } } } }", json!({"id": id}), Role::Reader).await;
    assert!(h.to_string().contains("CI_CREATED"), "{h}");
}

/// Timestamps differ between the two ingests; everything else must match.
fn normalise(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for k in ["firstSeen", "lastSeen", "at"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}
