//! Business-service membership changes through the API: members removed by hand stop being
//! members (and stop carrying impact), the change is in history, errors have codes.

use std::sync::Arc;

use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_model::{CiClass, Observation, Record, RunId, Scope, Source};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_members_and_close_relationships() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn GraphStore> = Arc::new(
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap(),
    );
    let mut o = Observation::new(Source::new("import"), RunId::new("r"), Scope::none());
    o.push(Record::new("a", CiClass::Application).name("billing"));
    o.push(Record::new("b", CiClass::Application).name("ledger"));
    let r = store.ingest(o, &IngestOptions::default()).await.unwrap();
    let ids: Vec<String> = r
        .explanations
        .iter()
        .map(|e| e.ci.clone().unwrap().to_string())
        .collect();
    let api = Api::new(
        store,
        ApiLimits::default(),
        EventBus::default(),
        Default::default(),
    );
    let q = |q: &'static str, v: serde_json::Value, role: Role| {
        let api = api.clone();
        async move { api.execute_json(q, v, role).await }
    };

    let r = q(
        "mutation($m: [ID!]!) { defineBusinessService(input: {name: \"Finance\", criticality: 1, owner: \"fin-it\", slaTarget: \"99.9%\", members: $m}) { id members { id } } }",
        json!({"m": ids}),
        Role::Editor,
    )
    .await;
    assert!(r["errors"].is_null(), "{r}");
    let svc = r["data"]["defineBusinessService"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        r["data"]["defineBusinessService"]["members"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let r = q(
        "mutation($s: ID!, $m: [ID!]!) { updateBusinessService(id: $s, input: {removeMembers: $m}) { members { id } } }",
        json!({"s": svc, "m": [ids[1]]}),
        Role::Editor,
    )
    .await;
    assert!(r["errors"].is_null(), "{r}");
    assert_eq!(
        r["data"]["updateBusinessService"]["members"],
        json!([{"id": ids[0]}])
    );

    // Impact no longer reaches the service through the removed member.
    let r = q(
        "query($i: [ID!]!) { impact(ids: $i) { services { service { id } } } }",
        json!({"i": [ids[1]]}),
        Role::Reader,
    )
    .await;
    assert_eq!(r["data"]["impact"]["services"], json!([]), "{r}");
    let r = q(
        "query($i: [ID!]!) { impact(ids: $i) { services { service { id } } } }",
        json!({"i": [ids[0]]}),
        Role::Reader,
    )
    .await;
    assert_eq!(
        r["data"]["impact"]["services"][0]["service"]["id"],
        svc.as_str()
    );

    // History of the removed member shows who closed it.
    let r = q(
        "query($i: ID!) { ci(id: $i) { history(first: 20) { edges { node { kind source } } } } }",
        json!({"i": ids[1]}),
        Role::Reader,
    )
    .await;
    assert!(r.to_string().contains("RELATIONSHIP_CLOSED"), "{r}");

    // Removing a non-member, closing an unknown relationship, readers: clear codes.
    let r = q(
        "mutation($s: ID!, $m: [ID!]!) { updateBusinessService(id: $s, input: {removeMembers: $m}) { id } }",
        json!({"s": svc, "m": [svc]}),
        Role::Editor,
    )
    .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "INVALID_INPUT", "{r}");
    let r = q("mutation($a: ID!, $b: ID!) { closeRelationship(type: DEPENDS_ON, from: $a, to: $b) { type } }", json!({"a": ids[0], "b": ids[1]}), Role::Editor).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
    let r = q("mutation($a: ID!, $b: ID!) { closeRelationship(type: MEMBER_OF, from: $a, to: $b) { type } }", json!({"a": ids[0], "b": svc}), Role::Reader).await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "FORBIDDEN", "{r}");
    let r = q("mutation($a: ID!, $b: ID!) { closeRelationship(type: MEMBER_OF, from: $a, to: $b) { type } }", json!({"a": ids[0], "b": svc}), Role::Editor).await;
    assert!(r["errors"].is_null(), "{r}");
    let r = q(
        "query($s: ID!) { businessService(id: $s) { members { id } } }",
        json!({"s": svc}),
        Role::Reader,
    )
    .await;
    assert_eq!(r["data"]["businessService"]["members"], json!([]), "{r}");
}
