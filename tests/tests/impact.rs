//! Impact, change risk, single points of failure and paths through the GraphQL API, on a
//! fixture estate with hand-computed answers (tests/fixtures/redundancy_estate.jsonl):
//!
//! ```text
//! Shop (crit 1) ◄─MEMBER_OF─ lb@lb1 ─DEPENDS_ON─► web-pool (1 of 3)
//!                              │ CONNECTS_TO (through the pool)   ▲ PART_OF
//!                              └────────► web{1,2,3}:8080 ◄─LISTENS_ON─ w{1,2,3}@web{1,2,3}
//!                                                                  │ CONNECTS_TO
//! Billing (crit 2) ◄─MEMBER_OF─ billing@app1 ─CONNECTS_TO (conf 0.3)─► db1:5432 ◄─ db@db1
//!                                   └─DEPENDS_ON─► etcd-quorum (2 of 3) ◄─PART_OF─ etcd{1,2,3}@q{1,2,3}
//! web1, web2, q1, q2 RUN_ON hypervisor hv1; web3, q3 on hv2; w1 CONNECTS_TO lb1:443 (a cycle).
//! Hosts CONTAIN their processes and endpoints (reconciliation adds those edges).
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use cmdb_tests::api_support::load_estate;
use serde_json::{json, Value};

struct Estate {
    api: Api,
    ids: BTreeMap<String, String>,
    names: BTreeMap<String, String>,
    _dir: tempfile::TempDir,
}

impl Estate {
    async fn load() -> Estate {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn GraphStore> = Arc::new(
            EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default())
                .unwrap(),
        );
        load_estate(&*store, "redundancy_estate.jsonl").await;
        let api = Api::new(
            store,
            ApiLimits::default(),
            EventBus::default(),
            Default::default(),
        );
        let r = api
            .execute_json(
                "{ cis(first: 200) { edges { node { id name } } } }",
                json!({}),
                Role::Reader,
            )
            .await;
        let mut ids = BTreeMap::new();
        let mut names = BTreeMap::new();
        for e in r["data"]["cis"]["edges"].as_array().unwrap() {
            let (id, name) = (
                e["node"]["id"].as_str().unwrap(),
                e["node"]["name"].as_str().unwrap(),
            );
            ids.insert(name.to_string(), id.to_string());
            names.insert(id.to_string(), name.to_string());
        }
        Estate {
            api,
            ids,
            names,
            _dir: dir,
        }
    }

    fn id(&self, name: &str) -> &str {
        self.ids
            .get(name)
            .unwrap_or_else(|| panic!("no CI named {name}"))
    }

    async fn ask(&self, q: &str, vars: Value) -> Value {
        let r = self.api.execute_json(q, vars, Role::Reader).await;
        assert!(r["errors"].is_null(), "{q}: {r}");
        r["data"].clone()
    }

    /// Service name → severity for failing `names`.
    async fn severities(&self, names: &[&str]) -> BTreeMap<String, String> {
        let ids: Vec<&str> = names.iter().map(|n| self.id(n)).collect();
        let d = self
            .ask(
                "query($ids: [ID!]!) { impact(ids: $ids) { services { name severity } } }",
                json!({"ids": ids}),
            )
            .await;
        d["impact"]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn named(&self, ids: &Value) -> Vec<String> {
        ids.as_array()
            .unwrap()
            .iter()
            .map(|i| self.names[i.as_str().unwrap()].clone())
            .collect()
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn pools_and_quorums_grade_severity() {
    let e = Estate::load().await;
    // 1-of-3 web pool: one backend down degrades, two leave no redundancy, three are fatal.
    assert_eq!(e.severities(&["web1"]).await, map(&[("Shop", "DEGRADED")]));
    assert_eq!(
        e.severities(&["web1", "web3"]).await,
        map(&[("Shop", "AT_RISK")])
    );
    assert_eq!(
        e.severities(&["web1", "web2", "web3"]).await,
        map(&[("Shop", "DOWN")])
    );
    // 2-of-3 quorum: one node down leaves none to spare, two are fatal.
    assert_eq!(e.severities(&["q1"]).await, map(&[("Billing", "AT_RISK")]));
    assert_eq!(
        e.severities(&["q1", "q3"]).await,
        map(&[("Billing", "DOWN")])
    );
    // The shared database takes both services down.
    assert_eq!(
        e.severities(&["db1"]).await,
        map(&[("Billing", "DOWN"), ("Shop", "DOWN")])
    );
    // Multi-failure what-if: one hypervisor carries two web VMs and two quorum nodes.
    assert_eq!(
        e.severities(&["hv1"]).await,
        map(&[("Billing", "DOWN"), ("Shop", "AT_RISK")])
    );
    assert_eq!(
        e.severities(&["web3", "q3"]).await,
        map(&[("Billing", "AT_RISK"), ("Shop", "DEGRADED")])
    );
    // The cycle lb → lb1:443 → w1 → web1:8080 → pool → lb terminates and does not sustain itself.
    assert_eq!(e.severities(&["lb1"]).await, map(&[("Shop", "DOWN")]));
    assert_eq!(
        e.severities(&["w1@web1"]).await,
        map(&[("Shop", "DEGRADED")])
    );
}

#[tokio::test]
async fn impact_explains_with_paths_owner_sla_groups_and_counts() {
    let e = Estate::load().await;
    let d = e
        .ask(
            "query($ids: [ID!]!) { impact(ids: $ids, maxDepth: 10) {
                services { name severity depth criticality owner slaTarget breadth paths }
                groups { group { name } members down minUp severity }
                affectedByClass { class count }
                affected(class: BUSINESS_SERVICE) { id severity }
            } }",
            json!({"ids": [e.id("web2")]}),
        )
        .await;
    let s = &d["impact"]["services"][0];
    assert_eq!(
        (
            s["name"].as_str(),
            s["severity"].as_str(),
            s["depth"].as_u64()
        ),
        (Some("Shop"), Some("DEGRADED"), Some(4))
    );
    assert_eq!(
        (
            s["criticality"].as_i64(),
            s["owner"].as_str(),
            s["slaTarget"].as_str()
        ),
        (Some(1), Some("team-shop"), Some("99.95%"))
    );
    // The host CONTAINS its endpoint: the shortest chain skips the process.
    assert_eq!(
        e.named(&s["paths"][0]),
        ["web2", "web2:tcp/8080", "web-pool", "lb@lb1", "Shop"]
    );
    assert_eq!(s["breadth"], 4, "web2, web2:8080, web-pool, lb");
    assert_eq!(
        d["impact"]["groups"],
        json!([{"group": {"name": "web-pool"}, "members": 3, "down": 1, "minUp": 1, "severity": "DEGRADED"}])
    );
    let counts: BTreeMap<&str, u64> = d["impact"]["affectedByClass"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["class"].as_str().unwrap(), c["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, BTreeMap::from([("BUSINESS_SERVICE", 1), ("CLUSTER", 1), ("LISTENING_ENDPOINT", 3), ("PROCESS", 3)]),
        "web2's process and endpoint, the pool, lb, Shop — and, DEGRADED through the cycle, lb1:443, w1, web1:8080");
    assert_eq!(
        d["impact"]["affected"],
        json!([{"id": e.id("Shop"), "severity": "DEGRADED"}])
    );
    // Deterministic: asking again gives the same answer.
    let again = e
        .ask(
            "query($ids: [ID!]!) { impact(ids: $ids) { services { name severity paths } } }",
            json!({"ids": [e.id("db1")]}),
        )
        .await;
    let twice = e
        .ask(
            "query($ids: [ID!]!) { impact(ids: $ids) { services { name severity paths } } }",
            json!({"ids": [e.id("db1")]}),
        )
        .await;
    assert_eq!(again, twice);
    assert_eq!(
        again["impact"]["services"][1]["paths"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "Shop: one chain through each backend"
    );
}

#[tokio::test]
async fn single_points_of_failure_respect_redundancy() {
    let e = Estate::load().await;
    let q = "query($s: ID!) { singlePointsOfFailure(serviceId: $s) { id class depth path } }";
    let spof = |d: Value| -> BTreeSet<(String, u64)> {
        d["singlePointsOfFailure"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    e.names[x["id"].as_str().unwrap()].clone(),
                    x["depth"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let shop = spof(e.ask(q, json!({"s": e.id("Shop")})).await);
    let want: BTreeSet<(String, u64)> = [
        ("lb@lb1", 1),
        ("lb1", 2),
        ("db1:tcp/5432", 5),
        ("db@db1", 6),
        ("db1", 6),
    ]
    .iter()
    .map(|(n, d)| (n.to_string(), *d))
    .collect();
    assert_eq!(
        shop, want,
        "no backend, VM or hypervisor of the 1-of-3 pool is a single point of failure"
    );
    let billing = spof(e.ask(q, json!({"s": e.id("Billing")})).await);
    let want: BTreeSet<(String, u64)> = [
        ("billing@app1", 1),
        ("app1", 2),
        ("db1:tcp/5432", 2),
        ("db@db1", 3),
        ("db1", 3),
        ("hv1", 5),
    ]
    .iter()
    .map(|(n, d)| (n.to_string(), *d))
    .collect();
    assert_eq!(billing, want, "hv1 carries two of the three quorum nodes");
    let d = e.ask(q, json!({"s": e.id("Billing")})).await;
    let hv1 = d["singlePointsOfFailure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == e.id("hv1"))
        .unwrap()
        .clone();
    let path = e.named(&hv1["path"]);
    assert_eq!(
        (
            path.first().map(String::as_str),
            path.last().map(String::as_str)
        ),
        (Some("hv1"), Some("Billing"))
    );
    let d = e
        .ask(
            "query($s: ID!) { businessService(id: $s) { definition { kind } } }",
            json!({"s": e.id("Shop")}),
        )
        .await;
    assert_eq!(d["businessService"]["definition"]["kind"], "MANUAL");
    // Not a service → NOT_FOUND.
    let r = e
        .api
        .execute_json(q, json!({"s": e.id("db1")}), Role::Reader)
        .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
}

#[tokio::test]
async fn path_finds_chains_either_way() {
    let e = Estate::load().await;
    let q = "query($a: ID!, $b: ID!) { path(from: $a, to: $b) { connected direction chains { ids length relationships { from type to } } } }";
    let d = e
        .ask(q, json!({"a": e.id("db1"), "b": e.id("Billing")}))
        .await;
    assert_eq!(d["path"]["direction"], "FROM_AFFECTS_TO");
    let chains = d["path"]["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 1);
    assert_eq!(
        e.named(&chains[0]["ids"]),
        ["db1", "db1:tcp/5432", "billing@app1", "Billing"]
    );
    assert_eq!(
        chains[0]["relationships"][0],
        json!({"from": e.id("db1"), "type": "CONTAINS", "to": e.id("db1:tcp/5432")})
    );
    assert_eq!(
        chains[0]["relationships"][1],
        json!({"from": e.id("billing@app1"), "type": "CONNECTS_TO", "to": e.id("db1:tcp/5432")})
    );
    let d = e.ask(q, json!({"a": e.id("Shop"), "b": e.id("db1")})).await;
    assert_eq!(d["path"]["direction"], "TO_AFFECTS_FROM");
    let chains = d["path"]["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 3, "through each web backend");
    assert_eq!(
        e.named(&chains[0]["ids"]).first().map(String::as_str),
        Some("Shop")
    );
    assert_eq!(
        e.named(&chains[0]["ids"]).last().map(String::as_str),
        Some("db1")
    );
    let d = e
        .ask(q, json!({"a": e.id("Shop"), "b": e.id("Billing")}))
        .await;
    assert_eq!(
        d["path"],
        json!({"connected": false, "direction": null, "chains": []})
    );
}

#[tokio::test]
async fn change_risk_ranks_services_and_flags_weak_evidence() {
    let e = Estate::load().await;
    let q = "query($ids: [ID!]!, $w: ChangeWindow) { changeRisk(ids: $ids, window: $w) {
        windowStart windowEnd totalScore restsOnStale restsOnLowConfidence caveats scoreFormula
        services { serviceId severity criticality breadth score restsOnLowConfidence weakEdges { from type to reasons confidence } impact { name owner } }
    } }";
    let now = chrono::Utc::now();
    let w = format!("{}/PT2H", (now + chrono::Duration::hours(1)).to_rfc3339());
    let d = e.ask(q, json!({"ids": [e.id("db1")], "w": w})).await;
    let r = &d["changeRisk"];
    let svc = r["services"].as_array().unwrap();
    // Shop: criticality 1 (weight 5) × DOWN (3) × breadth 10 (db1, db1:5432, 3 web
    // processes, their 3 endpoints, the pool, the load balancer) = 150.
    assert_eq!(
        (
            svc[0]["impact"]["name"].as_str(),
            svc[0]["breadth"].as_u64(),
            svc[0]["score"].as_u64()
        ),
        (Some("Shop"), Some(10), Some(150))
    );
    // Billing: criticality 2 (weight 4) × DOWN (3) × breadth 3 = 36, resting on a 0.3 edge.
    assert_eq!(
        (
            svc[1]["impact"]["name"].as_str(),
            svc[1]["breadth"].as_u64(),
            svc[1]["score"].as_u64()
        ),
        (Some("Billing"), Some(3), Some(36))
    );
    assert_eq!(r["totalScore"], 186);
    assert_eq!(svc[1]["restsOnLowConfidence"], true);
    assert_eq!(svc[1]["weakEdges"][0]["type"], "CONNECTS_TO");
    assert_eq!(svc[1]["weakEdges"][0]["reasons"], json!(["LOW_CONFIDENCE"]));
    assert_eq!(svc[0]["restsOnLowConfidence"], false);
    assert_eq!(
        (
            r["restsOnStale"].as_bool(),
            r["restsOnLowConfidence"].as_bool()
        ),
        (Some(false), Some(true))
    );
    assert_eq!(r["caveats"].as_array().unwrap().len(), 1);
    // A change a month out rests on edges that will by then be unconfirmed for weeks.
    let later =
        json!({"start": (now + chrono::Duration::days(30)).to_rfc3339(), "duration": "PT1H"});
    let d = e.ask(q, json!({"ids": [e.id("db1")], "w": later})).await;
    assert_eq!(d["changeRisk"]["restsOnStale"], true);
    // Without a window: judged now.
    let d = e
        .ask(
            "query($ids: [ID!]!) { changeRisk(ids: $ids) { services { score } windowStart } }",
            json!({"ids": [e.id("web1")]}),
        )
        .await;
    assert_eq!(d["changeRisk"]["windowStart"], Value::Null);
    // Shop: weight 5 × DEGRADED (1) × breadth 4 (web1, web1:8080, pool, lb).
    let (weight, degraded, breadth) = (5, 1, 4);
    assert_eq!(
        d["changeRisk"]["services"][0]["score"],
        weight * degraded * breadth
    );
    // Bad windows and unknown ids are clear errors.
    for bad in [
        json!("tomorrow"),
        json!({"start": "2026-12-01T00:00:00Z"}),
        json!("2026-12-02T00:00:00Z/2026-12-01T00:00:00Z"),
    ] {
        let r = e
            .api
            .execute_json(q, json!({"ids": [e.id("db1")], "w": bad}), Role::Reader)
            .await;
        assert!(!r["errors"].is_null(), "{bad} accepted: {r}");
    }
    let r = e
        .api
        .execute_json(q, json!({"ids": ["ci_nope"]}), Role::Reader)
        .await;
    assert_eq!(r["errors"][0]["extensions"]["code"], "NOT_FOUND", "{r}");
}
