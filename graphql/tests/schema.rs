//! Schema-level tests: the committed SDL matches the code, DataLoader batching (one store round
//! trip per level), error codes, role checks. HTTP-level tests live in `tests/tests/api.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_model::{Ci, CiId, HistoryEntry, Observation, Relationship};
use cmdb_store::*;
use serde_json::{json, Value};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

#[test]
fn committed_sdl_matches_the_code() {
    let sdl = cmdb_graphql::sdl();
    let path = repo_file("docs/schema.graphql");
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "docs/schema.graphql differs from the schema the code builds; if the change is intended, run \
         `UPDATE_SCHEMA=1 cargo test -p cmdb-graphql --test schema` and commit docs/schema.graphql"
    );
}

/// A GraphStore that counts calls per method.
struct Counting {
    inner: EmbeddedStore,
    calls: Mutex<HashMap<&'static str, usize>>,
}

impl Counting {
    fn hit(&self, m: &'static str) {
        *self.calls.lock().unwrap().entry(m).or_default() += 1;
    }
    fn take(&self) -> HashMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl GraphStore for Counting {
    fn ops(&self) -> &dyn cmdb_store::OpsStore {
        self.inner.ops()
    }
    async fn ingest(
        &self,
        obs: Observation,
        opts: &IngestOptions,
    ) -> Result<IngestReport, StoreError> {
        self.hit("ingest");
        self.inner.ingest(obs, opts).await
    }
    async fn get(&self, id: &CiId) -> Result<Option<Ci>, StoreError> {
        self.hit("get");
        self.inner.get(id).await
    }
    async fn get_many(&self, ids: &[CiId]) -> Result<Vec<Ci>, StoreError> {
        self.hit("get_many");
        self.inner.get_many(ids).await
    }
    async fn find(
        &self,
        f: &CiFilter,
        o: CiOrder,
        p: &PageRequest,
    ) -> Result<Page<Ci>, StoreError> {
        self.hit("find");
        self.inner.find(f, o, p).await
    }
    async fn lookup_identifiers(&self, keys: &[String]) -> Result<Vec<(String, CiId)>, StoreError> {
        self.hit("lookup_identifiers");
        self.inner.lookup_identifiers(keys).await
    }
    async fn identifiers_of(&self, ids: &[CiId]) -> Result<Vec<(CiId, String)>, StoreError> {
        self.hit("identifiers_of");
        self.inner.identifiers_of(ids).await
    }
    async fn search(&self, q: &SearchQuery, p: &PageRequest) -> Result<Page<Ci>, StoreError> {
        self.hit("search");
        self.inner.search(q, p).await
    }
    async fn relationships(
        &self,
        ids: &[CiId],
        q: &RelQuery,
    ) -> Result<Vec<Relationship>, StoreError> {
        self.hit("relationships");
        self.inner.relationships(ids, q).await
    }
    async fn all_relationships(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Relationship>, Option<String>), StoreError> {
        self.hit("all_relationships");
        self.inner.all_relationships(after, limit).await
    }
    async fn traverse(
        &self,
        start: &[CiId],
        q: &TraverseQuery,
    ) -> Result<Vec<Reached>, StoreError> {
        self.hit("traverse");
        self.inner.traverse(start, q).await
    }
    async fn impact_subgraph(
        &self,
        start: &[CiId],
        d: u32,
    ) -> Result<Vec<Relationship>, StoreError> {
        self.hit("impact_subgraph");
        self.inner.impact_subgraph(start, d).await
    }
    async fn history(&self, id: &CiId, p: &PageRequest) -> Result<Page<HistoryEntry>, StoreError> {
        self.hit("history");
        self.inner.history(id, p).await
    }
    async fn retire_stale(&self, d: chrono::Duration) -> Result<usize, StoreError> {
        self.hit("retire_stale");
        self.inner.retire_stale(d).await
    }
    async fn retire(&self, id: &CiId, s: &str) -> Result<Ci, StoreError> {
        self.hit("retire");
        self.inner.retire(id, s).await
    }
    async fn close_relationship(
        &self,
        k: &cmdb_model::RelKey,
        s: &str,
    ) -> Result<cmdb_model::Relationship, StoreError> {
        self.hit("close_relationship");
        self.inner.close_relationship(k, s).await
    }
    async fn delete(&self, id: &CiId, s: &str) -> Result<(), StoreError> {
        self.hit("delete");
        self.inner.delete(id, s).await
    }
    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.hit("stats");
        self.inner.stats().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

async fn estate() -> (tempfile::TempDir, Arc<Counting>, Api) {
    let dir = tempfile::tempdir().unwrap();
    let inner =
        EmbeddedStore::open(&dir.path().join("t.sqlite"), EmbeddedOptions::default()).unwrap();
    let store = Arc::new(Counting {
        inner,
        calls: Mutex::new(HashMap::new()),
    });
    let text = std::fs::read_to_string(repo_file("tests/fixtures/estate.jsonl")).unwrap();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let obs: Observation = serde_json::from_str(line).unwrap();
        let r = store.ingest(obs, &IngestOptions::default()).await.unwrap();
        assert!(r.errors.is_empty(), "{:?}", r.errors);
    }
    store.take();
    let limits = ApiLimits {
        max_page_size: 50,
        max_query_complexity: 1_000_000,
        ..Default::default()
    };
    let api = Api::new(
        store.clone(),
        limits,
        EventBus::default(),
        IngestOptions::default(),
    );
    (dir, store, api)
}

async fn run(api: &Api, role: Role, q: &str, vars: Value) -> Value {
    let req = async_graphql::Request::new(q).variables(async_graphql::Variables::from_json(vars));
    let resp = api.execute(req, role).await;
    serde_json::to_value(&resp).unwrap()
}

fn code(v: &Value) -> String {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_store_round_trip_per_level() {
    let (_d, store, api) = estate().await;
    // 3 levels: CIs → their relationships → the CIs at the other end → their relationships.
    let q = r#"{ cis(first: 50) { totalCount edges { node { id
            relationships(direction: BOTH) { edges { node { type from { id name
                relationships(direction: OUT) { totalCount edges { node { to { name } } } } } } } } } } } }"#;
    let v = run(&api, Role::Reader, q, json!({})).await;
    assert!(v["errors"].is_null(), "{v}");
    let total = v["data"]["cis"]["totalCount"].as_u64().unwrap();
    assert!(total >= 26, "{total}");
    let calls = store.take();
    assert_eq!(calls.get("find"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("relationships"),
        Some(&2),
        "one call per relationships level: {calls:?}"
    );
    assert_eq!(
        calls.get("get_many"),
        Some(&2),
        "one call per from/to level: {calls:?}"
    );
    assert_eq!(calls.get("get"), None, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_one_round_trip_per_level_and_search() {
    let (_d, store, api) = estate().await;
    // Two levels of CIs (a page, the far ends of their relationships), each asking for its
    // identifiers and identification.
    let q = r#"{ cis(first: 50) { nodes { id name identifiers { key rule value } identification { outcome rule source }
            relationships(direction: OUT) { nodes { to { name identifiers { rule } } } } } } }"#;
    let v = run(&api, Role::Reader, q, json!({})).await;
    assert!(v["errors"].is_null(), "{v}");
    let calls = store.take();
    assert_eq!(
        calls.get("identifiers_of"),
        Some(&2),
        "one call per level: {calls:?}"
    );
    let db1 = v["data"]["cis"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "db1")
        .unwrap();
    assert_eq!(db1["identifiers"][0]["key"], json!("device||hostname|db1"));
    assert_eq!(
        db1["identification"],
        json!({"outcome": "CREATED", "rule": "hostname", "source": "import"})
    );
    // CIs produced one by one (a traversal's) go through the loader: still one call.
    let v = run(
        &api,
        Role::Reader,
        r#"{ cis(filter: {name: {equals: "Online Shop"}}) { nodes { id } } }"#,
        json!({}),
    )
    .await;
    let shop = v["data"]["cis"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    store.take();
    let v = run(
        &api,
        Role::Reader,
        "query($id: ID!) { dependencies(id: $id, maxDepth: 3) { ci { identifiers { rule } } } }",
        json!({ "id": shop }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    assert!(
        v["data"]["dependencies"].as_array().unwrap().len() > 2,
        "{v}"
    );
    assert_eq!(store.take().get("identifiers_of"), Some(&1));
    // search: one store call; bad text never reaches the store.
    let v = run(
        &api,
        Role::Reader,
        r#"{ search(text: "nginx", first: 2) { totalCount pageInfo { hasNextPage } nodes { name } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(v["data"]["search"]["totalCount"], json!(3), "{v}");
    assert_eq!(v["data"]["search"]["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(store.take().get("search"), Some(&1));
    for (q, want) in [
        (r#"{ search(text: " ") { totalCount } }"#, "INVALID_INPUT"),
        (
            r#"{ search(text: "x", first: 51) { totalCount } }"#,
            "LIMIT_EXCEEDED",
        ),
    ] {
        let v = run(&api, Role::Reader, q, json!({})).await;
        assert_eq!(code(&v), want, "{v}");
    }
    assert!(!store.take().contains_key("search"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impact_names_services_and_paths_and_rejects_unknown_ids() {
    let (_d, _store, api) = estate().await;
    let v = run(
        &api,
        Role::Reader,
        r#"{ cis(filter: {name: {equals: "db1"}}) { nodes { id } } }"#,
        json!({}),
    )
    .await;
    let db1 = v["data"]["cis"]["nodes"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = run(
        &api,
        Role::Reader,
        "query($ids: [ID!]!) { impact(ids: $ids) { services { service { name criticality } severity depth paths } affectedCount } }",
        json!({ "ids": [db1] }),
    )
    .await;
    assert!(v["errors"].is_null(), "{v}");
    let list = v["data"]["impact"]["services"].as_array().unwrap();
    let mut services: Vec<&str> = list
        .iter()
        .map(|s| s["service"]["name"].as_str().unwrap())
        .collect();
    services.sort();
    assert_eq!(services, vec!["Billing", "Online Shop"]);
    let shop = list
        .iter()
        .find(|s| s["service"]["name"] == "Online Shop")
        .unwrap();
    assert_eq!(shop["depth"], json!(3));
    let paths = &shop["paths"];
    assert_eq!(paths.as_array().unwrap().len(), 1, "{paths}");
    assert_eq!(
        paths[0].as_array().unwrap().len(),
        4,
        "db1 → endpoint → shop-api → Online Shop: {paths}"
    );
    assert_eq!(paths[0][0], json!(db1));

    let v = run(
        &api,
        Role::Reader,
        r#"{ impact(ids: ["ci_nope", "ci_nada"]) { affectedCount } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");
    let msg = v["errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("ci_nope") && msg.contains("ci_nada"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_roles_and_codes() {
    let (_d, _store, api) = estate().await;
    let v = run(
        &api,
        Role::Reader,
        "{ cis(first: 51) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&v), "LIMIT_EXCEEDED", "{v}");
    let deep = "{ cis(first: 1) { edges { node { relationships { edges { node { from { relationships { edges { node { from { relationships { edges { node { from { relationships { edges { node { from { id } } } } } } } } } } } } } } } } } } } }";
    let v = run(&api, Role::Reader, deep, json!({})).await;
    assert_eq!(code(&v), "LIMIT_EXCEEDED", "{v}");
    let v = run(
        &api,
        Role::Reader,
        r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "x"}}) { created } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    let v = run(&api, Role::Editor, r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "x9"}}) { created ci { name sources } } }"#, json!({})).await;
    assert!(v["errors"].is_null(), "{v}");
    assert_eq!(v["data"]["upsertCi"]["created"], json!(true));
    let v = run(
        &api,
        Role::Reader,
        r#"{ cis(filter: {name: {regex: "("}}) { totalCount } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code(&v), "INVALID_INPUT", "{v}");
    let v = run(&api, Role::Reader, "{ nope }", json!({})).await;
    assert_eq!(code(&v), "INVALID_INPUT", "{v}");
    let v = run(
        &api,
        Role::Reader,
        r#"{ dependencies(id: "ci_nope") { depth } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code(&v), "NOT_FOUND", "{v}");
    let v = run(
        &api,
        Role::Reader,
        r#"{ impact(ids: ["x"], maxDepth: 1000) { affectedCount } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code(&v), "LIMIT_EXCEEDED", "{v}");
}

/// The request limits apply to the schema itself (`cmdb graphql`, every transport): a value
/// nested thousands deep and a fragment bomb are refused before parsing or expanding, the
/// introspection GraphiQL sends passes, and the store is never asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_limits_apply_before_parsing() {
    let (_dir, store, api) = estate().await;
    let deep = format!(
        "{{ impact(ids: {}\"x\"{}) {{ affectedCount }} }}",
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    let v = run(&api, Role::Admin, &deep, json!({})).await;
    assert_eq!(code(&v), "LIMIT_EXCEEDED", "{v}");
    assert_eq!(
        v["errors"][0]["extensions"]["limit"],
        json!("max_value_depth")
    );
    let mut bomb = String::from("{ ...F0 }\n");
    for i in 0..40 {
        bomb += &format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1);
    }
    bomb += "fragment F40 on Query { stats { cis } }";
    let started = std::time::Instant::now();
    let v = run(&api, Role::Admin, &bomb, json!({})).await;
    assert_eq!(code(&v), "LIMIT_EXCEEDED", "{v}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    let v = api
        .execute_json(
            "query($v: JSON) { stats { cis } }",
            json!({ "v": (0..40).fold(json!(1), |v, _| json!([v])) }),
            Role::Admin,
        )
        .await;
    assert_eq!(code(&v), "LIMIT_EXCEEDED", "{v}");
    assert!(store.take().is_empty(), "refused requests reach no store");
    // Subscriptions get codes too.
    use futures::StreamExt;
    let sub = api
        .schema
        .execute_stream(api.prepare(
            async_graphql::Request::new("subscription { nope }"),
            Role::Admin,
        ))
        .next()
        .await
        .unwrap();
    let v = serde_json::to_value(&sub).unwrap();
    assert_eq!(code(&v), "INVALID_INPUT", "{v}");
}
