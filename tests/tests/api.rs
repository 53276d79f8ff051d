//! End-to-end API tests over real HTTP: a server on port 0 over the fixture estate
//! (tests/fixtures/estate.jsonl: two business services sharing a database, a load-balanced web
//! tier, a host running several processes).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cmdb_graphql::ApiLimits;
use cmdb_tests::api_support::{code, token, TestServer, WsClient};
use serde_json::{json, Value};

fn limits() -> ApiLimits {
    ApiLimits {
        max_page_size: 50,
        ..Default::default()
    }
}

async fn open_server() -> TestServer {
    TestServer::start(vec![], limits(), 64 * 1024).await
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cis_paging_total_count_and_filters() {
    let s = open_server().await;
    // Forward paging collects every CI exactly once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut total: u64;
    loop {
        let d = s
            .ok(
                "query($a: String) { cis(first: 10, after: $a) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { id } } } }",
                json!({ "a": after }),
            )
            .await;
        let c = &d["cis"];
        total = c["totalCount"].as_u64().unwrap();
        for e in c["edges"].as_array().unwrap() {
            seen.push(e["node"]["id"].as_str().unwrap().to_string());
        }
        assert_eq!(
            c["pageInfo"]["hasPreviousPage"].as_bool().unwrap(),
            after.is_some()
        );
        if !c["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = c["pageInfo"]["endCursor"].as_str().map(str::to_string);
    }
    assert_eq!(total, 26, "7 hosts, 9 processes, 8 endpoints, 2 services");
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), seen.len());
    assert_eq!(seen.len() as u64, total);
    // Backward: the last 5, in the same order as forward paging.
    let d = s
        .ok(
            "{ cis(last: 5) { totalCount pageInfo { hasPreviousPage } nodes { id } } }",
            json!({}),
        )
        .await;
    let last: Vec<&str> = d["cis"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        last,
        seen[seen.len() - 5..]
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
    );
    assert_eq!(d["cis"]["pageInfo"]["hasPreviousPage"], json!(true));

    let count = |filter: Value| {
        let s = &s;
        async move {
            let d = s.ok("query($f: CIFilter) { cis(filter: $f, first: 50) { totalCount nodes { name } } }", json!({ "f": filter })).await;
            (
                d["cis"]["totalCount"].as_u64().unwrap(),
                names(&d["cis"]["nodes"]),
            )
        }
    };
    assert_eq!(count(json!({"class": "HOST"})).await.0, 7);
    assert_eq!(
        count(json!({"classes": ["PROCESS", "BUSINESS_SERVICE"]}))
            .await
            .0,
        11
    );
    assert_eq!(
        count(json!({"name": {"contains": "nginx"}})).await.1,
        vec!["nginx@web1", "nginx@web2", "nginx@web3"]
    );
    assert_eq!(
        count(json!({"name": {"regex": "^web[0-9]$"}})).await.1,
        vec!["web1", "web2", "web3"]
    );
    assert_eq!(count(json!({"name": {"equals": "Billing"}})).await.0, 1);
    assert_eq!(
        count(json!({"tag": "tier:web"})).await.1,
        vec!["web1", "web2", "web3"]
    );
    assert_eq!(
        count(json!({"tags": ["env:prod", "tier:db"]})).await.1,
        vec!["db1"]
    );
    assert_eq!(count(json!({"status": "ACTIVE"})).await.0, 26);
    assert_eq!(count(json!({"status": "RETIRED"})).await.0, 0);
    assert_eq!(count(json!({"source": "import"})).await.0, 26);
    assert_eq!(count(json!({"source": "ssh"})).await.0, 0);
    assert_eq!(
        count(json!({"ipAddress": "10.0.1.10"})).await.1,
        vec!["db1"]
    );
    assert_eq!(
        count(json!({"attribute": {"key": "os_version", "equals": "12"}}))
            .await
            .0,
        7
    );
    assert_eq!(
        count(json!({"attribute": {"key": "criticality", "equals": 1}}))
            .await
            .1,
        vec!["Online Shop"]
    );
    assert_eq!(
        count(json!({"class": "HOST", "lastSeenAfter": "2000-01-01T00:00:00Z"}))
            .await
            .0,
        7
    );
    assert_eq!(
        count(json!({"lastSeenBefore": "2000-01-01T00:00:00Z"}))
            .await
            .0,
        0
    );
    // Ordering.
    let d = s.ok(r#"{ cis(filter: {class: HOST}, orderBy: {field: NAME, direction: DESC}, first: 3) { nodes { name } } }"#, json!({})).await;
    let ordered: Vec<&str> = d["cis"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(ordered, vec!["web3", "web2", "web1"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_relationships_and_dependencies() {
    let s = open_server().await;
    let haproxy = s.id_of("haproxy@lb1").await;
    let d = s
        .ok(
            r#"query($id: ID!) { ci(id: $id) { name class status tags sources attributes firstSeen lastSeen
                 out: relationships(direction: OUT, types: [CONNECTS_TO]) { totalCount edges { cursor node { type from { name } to { name } evidence { source kind confidence } firstSeen lastSeen } } }
                 all: relationships { totalCount }
                 paged: relationships(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { type } } } } }"#,
            json!({ "id": haproxy }),
        )
        .await;
    let ci = &d["ci"];
    assert_eq!(ci["class"], json!("PROCESS"));
    assert_eq!(ci["sources"], json!(["import"]));
    assert_eq!(ci["attributes"]["executable"], json!("haproxy"));
    assert_eq!(ci["out"]["totalCount"], json!(3));
    let tos: Vec<&str> = ci["out"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["to"]["name"].as_str().unwrap())
        .collect();
    let mut tos_sorted = tos.clone();
    tos_sorted.sort();
    assert_eq!(
        tos_sorted,
        vec!["web1:tcp/443", "web2:tcp/443", "web3:tcp/443"]
    );
    let ev = &ci["out"]["edges"][0]["node"]["evidence"][0];
    assert_eq!(ev["source"], json!("import"));
    assert_eq!(ev["kind"], json!("SOCKET"));
    assert_eq!(ev["confidence"], json!(0.5));
    // CONNECTS_TO ×3, RUNS_ON lb1, LISTENS_ON lb1:443, MEMBER_OF Online Shop.
    assert_eq!(ci["all"]["totalCount"], json!(6));
    assert_eq!(ci["paged"]["edges"].as_array().unwrap().len(), 2);
    assert_eq!(ci["paged"]["pageInfo"]["hasNextPage"], json!(true));
    let after = ci["paged"]["pageInfo"]["endCursor"].as_str().unwrap();
    let d = s
        .ok("query($id: ID!, $a: String) { ci(id: $id) { relationships(first: 10, after: $a) { edges { node { type } } } } }", json!({ "id": haproxy, "a": after }))
        .await;
    assert_eq!(
        d["ci"]["relationships"]["edges"].as_array().unwrap().len(),
        4
    );

    // Upstream: what haproxy relies on, down to the database host.
    let d = s
        .ok("query($id: ID!) { dependencies(id: $id, direction: UPSTREAM) { depth via ci { name class } } }", json!({ "id": haproxy }))
        .await;
    let deps = d["dependencies"].as_array().unwrap();
    let depth_of = |deps: &[Value], n: &str| {
        deps.iter()
            .find(|x| x["ci"]["name"] == json!(n))
            .map(|x| x["depth"].as_u64().unwrap())
    };
    assert_eq!(depth_of(deps, "lb1"), Some(1));
    assert_eq!(depth_of(deps, "web2:tcp/443"), Some(1));
    assert_eq!(depth_of(deps, "nginx@web2"), Some(2));
    assert_eq!(depth_of(deps, "shop-api@app1"), Some(4));
    assert_eq!(depth_of(deps, "db1"), Some(6));
    assert_eq!(
        depth_of(deps, "Online Shop"),
        None,
        "services do not hold haproxy up"
    );
    let d = s
        .ok(
            "query($id: ID!) { dependencies(id: $id, direction: UPSTREAM, maxDepth: 1) { depth } }",
            json!({ "id": haproxy }),
        )
        .await;
    assert!(d["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["depth"] == json!(1)));
    // Downstream of the database host: both services, three hops away.
    let db1 = s.id_of("db1").await;
    let d = s.ok("query($id: ID!) { dependencies(id: $id, direction: DOWNSTREAM) { depth ci { name } } }", json!({ "id": db1 })).await;
    let deps = d["dependencies"].as_array().unwrap();
    assert_eq!(depth_of(deps, "Online Shop"), Some(3));
    assert_eq!(depth_of(deps, "Billing"), Some(3));
    assert_eq!(depth_of(deps, "web1"), None);
    // Only some types.
    let d = s.ok("query($id: ID!) { dependencies(id: $id, direction: DOWNSTREAM, types: [RUNS_ON]) { ci { name } } }", json!({ "id": db1 })).await;
    assert_eq!(
        names(
            &d["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["ci"].clone())
                .collect::<Vec<_>>()
                .into()
        ),
        vec!["postgres@db1"]
    );

    // Business services with members.
    let d = s
        .ok(
            "{ businessServices { name criticality owner slaTarget members { name } } }",
            json!({}),
        )
        .await;
    let svcs = d["businessServices"].as_array().unwrap();
    assert_eq!(svcs.len(), 2);
    assert_eq!(svcs[0]["name"], json!("Billing"));
    assert_eq!(svcs[1]["name"], json!("Online Shop"));
    assert_eq!(svcs[1]["criticality"], json!(1));
    assert_eq!(svcs[1]["owner"], json!("shop-team@example.com"));
    assert_eq!(svcs[1]["slaTarget"], json!("99.9%"));
    assert_eq!(
        names(&svcs[1]["members"]),
        vec!["haproxy@lb1", "shop-api@app1"]
    );
    let shop = s.id_of("Online Shop").await;
    let d = s
        .ok(
            "query($id: ID!) { businessService(id: $id) { name members { name } } }",
            json!({ "id": shop }),
        )
        .await;
    assert_eq!(d["businessService"]["name"], json!("Online Shop"));
    let d = s
        .ok(
            "query($id: ID!) { businessService(id: $id) { name } }",
            json!({ "id": haproxy }),
        )
        .await;
    assert!(
        d["businessService"].is_null(),
        "a process is not a business service"
    );
    let d = s
        .ok(r#"{ ci(id: "ci_0000000000000000") { id } }"#, json!({}))
        .await;
    assert!(d["ci"].is_null());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impact_right_services_and_paths() {
    let s = open_server().await;
    let id = |n: &'static str| {
        let s = &s;
        async move { s.id_of(n).await }
    };
    let (db1, ep, shop_api, shop, billing, billing_api) = (
        id("db1").await,
        id("db1:tcp/5432").await,
        id("shop-api@app1").await,
        id("Online Shop").await,
        id("Billing").await,
        id("billing-api@app1").await,
    );
    let q = "query($ids: [ID!]!, $d: Int! = 10) { impact(ids: $ids, maxDepth: $d) { failingIds affectedCount
               affectedByClass { class count } affected(class: BUSINESS_SERVICE) { id depth }
               services { serviceId severity depth paths pathsTruncated service { name criticality owner } } } }";
    // The shared database takes down both services.
    let d = s.ok(q, json!({ "ids": [db1] })).await;
    let services = d["impact"]["services"].as_array().unwrap();
    let by_name = |n: &str| {
        services
            .iter()
            .find(|x| x["service"]["name"] == json!(n))
            .cloned()
    };
    assert_eq!(services.len(), 2, "{d}");
    let shop_hit = by_name("Online Shop").unwrap();
    assert_eq!(shop_hit["severity"], json!("DOWN"));
    assert_eq!(shop_hit["depth"], json!(3));
    assert_eq!(shop_hit["paths"], json!([[db1, ep, shop_api, shop]]));
    let bill_hit = by_name("Billing").unwrap();
    assert_eq!(bill_hit["paths"], json!([[db1, ep, billing_api, billing]]));
    assert_eq!(bill_hit["service"]["criticality"], json!(2));
    assert_eq!(d["impact"]["affected"].as_array().unwrap().len(), 2);
    assert!(d["impact"]["affectedCount"].as_u64().unwrap() > 10);

    // One web server: only the shop, through the load balancer.
    let (web1, web1_ep, haproxy) = (
        id("web1").await,
        id("web1:tcp/443").await,
        id("haproxy@lb1").await,
    );
    let d = s.ok(q, json!({ "ids": [web1] })).await;
    let services = d["impact"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0]["service"]["name"], json!("Online Shop"));
    assert_eq!(
        services[0]["paths"],
        json!([[web1, web1_ep, haproxy, shop]])
    );

    // The app host running several processes: both services, two hops away.
    let app1 = id("app1").await;
    let d = s.ok(q, json!({ "ids": [app1] })).await;
    let services = d["impact"]["services"].as_array().unwrap();
    assert_eq!(services.len(), 2);
    assert!(services.iter().all(|x| x["depth"] == json!(2)));
    assert!(services
        .iter()
        .any(|x| x["paths"] == json!([[app1, shop_api, shop]])));

    // Several failing CIs at once; a depth limit; a CI nobody depends on.
    let d = s.ok(q, json!({ "ids": [web1, app1], "d": 2 })).await;
    assert_eq!(d["impact"]["failingIds"].as_array().unwrap().len(), 2);
    assert_eq!(d["impact"]["services"].as_array().unwrap().len(), 2);
    let d = s.ok(q, json!({ "ids": [db1], "d": 2 })).await;
    assert_eq!(d["impact"]["services"].as_array().unwrap().len(), 0);
    let stage1 = id("stage1").await;
    let d = s.ok(q, json!({ "ids": [stage1] })).await;
    assert_eq!(d["impact"]["affectedCount"], json!(0));
    assert_eq!(d["impact"]["services"], json!([]));

    // Unknown ids: an error naming them.
    let (status, body) = s
        .post(
            None,
            q,
            json!({ "ids": [db1, "ci_doesnotexist01", "ci_doesnotexist02"] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    let msg = body["errors"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("ci_doesnotexist01")
            && msg.contains("ci_doesnotexist02")
            && !msg.contains(&db1),
        "{msg}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["ids"],
        json!(["ci_doesnotexist01", "ci_doesnotexist02"])
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_go_through_reconciliation_and_history() {
    let s = open_server().await;
    let postgres = s.id_of("postgres@db1").await;
    let exporter = s.id_of("node_exporter@app1").await;
    let db1 = s.id_of("db1").await;

    // Define a third service on the shared database.
    let d = s
        .ok(
            "mutation($m: [ID!]) { defineBusinessService(input: {name: \"Reporting\", criticality: 3, owner: \"bi@example.com\", slaTarget: \"99%\", members: $m}) { id name criticality owner slaTarget members { name } } }",
            json!({ "m": [postgres] }),
        )
        .await;
    let rep = d["defineBusinessService"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(d["defineBusinessService"]["criticality"], json!(3));
    assert_eq!(
        names(&d["defineBusinessService"]["members"]),
        vec!["postgres@db1"]
    );
    let (_, body) = s.post(None, "mutation { defineBusinessService(input: {name: \"Reporting\", criticality: 3}) { id } }", json!({})).await;
    assert_eq!(code(&body), "INVALID_INPUT", "{body}");
    let (_, body) = s
        .post(
            None,
            "mutation { defineBusinessService(input: {name: \"X\", criticality: 9}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INVALID_INPUT", "{body}");
    let (_, body) = s.post(None, "mutation { defineBusinessService(input: {name: \"Y\", criticality: 2, members: [\"ci_nope\"]}) { id } }", json!({})).await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    // It shows up in impact.
    let d = s
        .ok(
            "query($ids: [ID!]!) { impact(ids: $ids) { services { service { name } depth } } }",
            json!({ "ids": [db1] }),
        )
        .await;
    let hit: Vec<&str> = d["impact"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["service"]["name"].as_str().unwrap())
        .collect();
    assert!(hit.contains(&"Reporting") && hit.len() == 3, "{d}");

    // Update: criticality changes, a member is added; both recorded in history as manual.
    let d = s
        .ok(
            "mutation($id: ID!, $m: [ID!]) { updateBusinessService(id: $id, input: {criticality: 2, addMembers: $m}) { criticality members { name } } }",
            json!({ "id": rep, "m": [exporter] }),
        )
        .await;
    assert_eq!(d["updateBusinessService"]["criticality"], json!(2));
    assert_eq!(
        names(&d["updateBusinessService"]["members"]),
        vec!["node_exporter@app1", "postgres@db1"]
    );
    let d = s.ok("query($id: ID!) { ci(id: $id) { history(first: 20) { totalCount nodes { kind field old new source relationship { type from to } } } } }", json!({ "id": rep })).await;
    let hist = d["ci"]["history"]["nodes"].as_array().unwrap();
    assert!(
        hist.iter()
            .any(|h| h["kind"] == json!("CI_CREATED") && h["source"] == json!("manual")),
        "{d}"
    );
    assert!(
        hist.iter().any(|h| h["kind"] == json!("ATTRIBUTE_CHANGED")
            && h["field"] == json!("criticality")
            && h["old"] == json!(3)
            && h["new"] == json!(2)),
        "{d}"
    );
    assert!(
        hist.iter()
            .any(|h| h["kind"] == json!("RELATIONSHIP_CREATED")
                && h["relationship"]["type"] == json!("MEMBER_OF")
                && h["relationship"]["from"] == json!(exporter)),
        "{d}"
    );

    // Delete it: gone; the members stay.
    let d = s
        .ok(
            "mutation($id: ID!) { deleteBusinessService(id: $id) { id deleted } }",
            json!({ "id": rep }),
        )
        .await;
    assert_eq!(d["deleteBusinessService"]["deleted"], json!(true));
    let d = s
        .ok(
            "query($id: ID!, $p: ID!) { businessService(id: $id) { id } ci(id: $p) { name } }",
            json!({ "id": rep, "p": postgres }),
        )
        .await;
    assert!(d["businessService"].is_null());
    assert_eq!(d["ci"]["name"], json!("postgres@db1"));
    let (_, body) = s
        .post(
            None,
            "mutation($id: ID!) { deleteBusinessService(id: $id) { id } }",
            json!({ "id": postgres }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");

    // upsertCi: create, then update by id; identification explains itself.
    let d = s
        .ok(r#"mutation { upsertCi(input: {class: HOST, name: "batch7", identifiers: {hostname: "batch7"}, tags: ["env:prod"]}) { created explanation ci { id name sources tags } } }"#, json!({}))
        .await;
    assert_eq!(d["upsertCi"]["created"], json!(true));
    assert_eq!(d["upsertCi"]["ci"]["sources"], json!(["manual"]));
    let host = d["upsertCi"]["ci"]["id"].as_str().unwrap().to_string();
    let d = s
        .ok(r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "BATCH7"}, attributes: {rack: "r12"}}) { created explanation ci { id attribute(key: "rack") } } }"#, json!({}))
        .await;
    assert_eq!(d["upsertCi"]["created"], json!(false));
    assert_eq!(
        d["upsertCi"]["ci"]["id"],
        json!(host),
        "matched by hostname: {d}"
    );
    assert!(d["upsertCi"]["explanation"]
        .as_str()
        .unwrap()
        .contains("hostname"));
    let d = s
        .ok("mutation($id: ID!) { upsertCi(input: {id: $id, attributes: {rack: \"r13\"}}) { created ci { attribute(key: \"rack\") } } }", json!({ "id": host }))
        .await;
    assert_eq!(d["upsertCi"]["ci"]["attribute"], json!("r13"));
    let (_, body) = s
        .post(
            None,
            r#"mutation { upsertCi(input: {name: "classless"}) { created } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INVALID_INPUT");
    let (_, body) = s.post(None, r#"mutation { upsertCi(input: {class: PROCESS, identifiers: {executable: "x"}}) { created } }"#, json!({})).await;
    assert_eq!(
        code(&body),
        "INVALID_INPUT",
        "a process needs its host: {body}"
    );
    let (_, body) = s
        .post(
            None,
            r#"mutation { upsertCi(input: {class: HOST, name: "no identifiers"}) { created } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INVALID_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MISSING_IDENTIFIERS"),
        "{body}"
    );
    // A process under the new host.
    let d = s
        .ok("mutation($h: ID!) { upsertCi(input: {class: PROCESS, parentId: $h, identifiers: {executable: \"batchd\", command_line: \"batchd -f\"}}) { created ci { id relationships(direction: OUT) { nodes { type to { name } } } } } }", json!({ "h": host }))
        .await;
    assert_eq!(
        d["upsertCi"]["ci"]["relationships"]["nodes"][0]["type"],
        json!("RUNS_ON")
    );
    assert_eq!(
        d["upsertCi"]["ci"]["relationships"]["nodes"][0]["to"]["name"],
        json!("batch7")
    );

    // upsertRelationship: a manual DEPENDS_ON with manual evidence.
    let d = s
        .ok("mutation($f: ID!, $t: ID!) { upsertRelationship(input: {type: DEPENDS_ON, from: $f, to: $t}) { type from { name } to { name } evidence { source kind confidence } } }", json!({ "f": host, "t": db1 }))
        .await;
    let r = &d["upsertRelationship"];
    assert_eq!(r["type"], json!("DEPENDS_ON"));
    assert_eq!(
        (r["from"]["name"].clone(), r["to"]["name"].clone()),
        (json!("batch7"), json!("db1"))
    );
    assert_eq!(
        r["evidence"],
        json!([{ "source": "manual", "kind": "MANUAL", "confidence": 1.0 }])
    );
    let (_, body) = s.post(None, "mutation($f: ID!) { upsertRelationship(input: {type: DEPENDS_ON, from: $f, to: \"ci_nope\"}) { type } }", json!({ "f": host })).await;
    assert_eq!(code(&body), "NOT_FOUND");
    let (_, body) = s.post(None, "mutation($f: ID!) { upsertRelationship(input: {type: DEPENDS_ON, from: $f, to: $f, confidence: 2}) { type } }", json!({ "f": host })).await;
    assert_eq!(code(&body), "INVALID_INPUT");

    // retireCi: RETIRED, its relationships closed, recorded.
    let d = s
        .ok(
            "mutation($id: ID!) { retireCi(id: $id) { status } }",
            json!({ "id": host }),
        )
        .await;
    assert_eq!(d["retireCi"]["status"], json!("RETIRED"));
    let d = s
        .ok("query($id: ID!) { ci(id: $id) { status relationships { totalCount } closed: relationships(includeClosed: true) { nodes { status } } history(first: 50) { nodes { kind field new source } } } }", json!({ "id": host }))
        .await;
    assert_eq!(d["ci"]["status"], json!("RETIRED"));
    assert_eq!(d["ci"]["relationships"]["totalCount"], json!(0), "{d}");
    assert!(d["ci"]["closed"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["status"] == json!("CLOSED")));
    let hist = d["ci"]["history"]["nodes"].as_array().unwrap();
    assert!(
        hist.iter()
            .any(|h| h["kind"] == json!("STATUS_CHANGED") && h["new"] == json!("RETIRED")),
        "{d}"
    );
    assert!(
        hist.iter()
            .any(|h| h["kind"] == json!("ATTRIBUTE_CHANGED") && h["field"] == json!("rack")),
        "{d}"
    );
    s.stop().await;
}

fn list(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c[field].as_str().unwrap().to_string())
        .collect()
}

/// The console's three: `search`, `CI.identifiers`, `CI.identification`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_identifiers_and_identification() {
    let s = open_server().await;
    // A host through upsertCi: its identification is how upsertCi explained it.
    let d = s
        .ok(
            r#"mutation { upsertCi(input: {class: HOST, name: "edge7", identifiers: {hostname: "edge7", serial_number: "ab-7731", mac_addresses: ["00:1A:2B:3C:4D:5E"]}}) {
                created explanation ci { id identification { outcome rule explanation source runId at merged } identifiers { key rule value } } } }"#,
            json!({}),
        )
        .await;
    let up = &d["upsertCi"];
    assert_eq!(up["created"], json!(true));
    let host = up["ci"]["id"].as_str().unwrap().to_string();
    let ident = &up["ci"]["identification"];
    assert_eq!(ident["outcome"], json!("CREATED"), "{ident}");
    assert_eq!(
        ident["rule"],
        json!("serial_number"),
        "the strongest offered"
    );
    assert_eq!(ident["source"], json!("manual"));
    assert_eq!(
        ident["explanation"], up["explanation"],
        "one sentence, one formatter"
    );
    assert!(
        ident["runId"].as_str().unwrap().starts_with("run_"),
        "{ident}"
    );
    assert!(ident["at"].as_str().is_some());
    assert_eq!(ident["merged"], json!([]));
    assert_eq!(
        up["ci"]["identifiers"],
        json!([
            {"key": "device||hostname|edge7", "rule": "hostname", "value": "edge7"},
            {"key": "device||mac_addresses|00:1a:2b:3c:4d:5e", "rule": "mac_addresses", "value": "00:1a:2b:3c:4d:5e"},
            {"key": "device||serial_number|AB-7731", "rule": "serial_number", "value": "AB-7731"},
        ])
    );
    // Its interface: keys within the host.
    let d = s
        .ok(
            r#"mutation($h: ID!) { upsertCi(input: {class: INTERFACE, parentId: $h, identifiers: {if_name: "Gi1/0/1", mac_address: "00-1A-2B-3C-4D-5F"}}) { ci { name identifiers { key rule value } } } }"#,
            json!({ "h": host }),
        )
        .await;
    assert_eq!(
        d["upsertCi"]["ci"]["identifiers"],
        json!([
            {"key": format!("Interface|{host}|if_name|gigabitethernet1/0/1"), "rule": "if_name", "value": "gigabitethernet1/0/1"},
            {"key": format!("Interface|{host}|mac_address|00:1a:2b:3c:4d:5f"), "rule": "mac_address", "value": "00:1a:2b:3c:4d:5f"},
        ])
    );
    // Upserted again: matched by the rule it was created by. upsertCi explains the match; the
    // recorded decision (nothing new) stays.
    let d = s
        .ok(
            r#"mutation { upsertCi(input: {class: HOST, identifiers: {serial_number: "AB-7731"}}) { created explanation ci { identification { outcome explanation } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(d["upsertCi"]["created"], json!(false));
    assert_eq!(
        d["upsertCi"]["explanation"],
        json!("matched by rule `serial_number` (serial_number=AB-7731)")
    );
    assert_eq!(
        d["upsertCi"]["ci"]["identification"],
        json!({"outcome": "CREATED", "explanation": ident["explanation"]})
    );
    // The imported estate: created by the import, by host name.
    let d = s
        .ok(
            r#"{ cis(filter: {class: HOST, name: {equals: "db1"}}) { nodes { identification { outcome rule source runId } identifiers { rule value } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        d["cis"]["nodes"][0]["identification"],
        json!({"outcome": "CREATED", "rule": "hostname", "source": "import", "runId": "run_fixture_estate_1"})
    );
    assert_eq!(
        d["cis"]["nodes"][0]["identifiers"],
        json!([{"rule": "hostname", "value": "db1"}, {"rule": "ip_addresses", "value": "10.0.1.10"}])
    );

    // Search: identifiers in the notations people paste, names, tags.
    let search = |text: &str, extra: &str| {
        let q = format!(
            "query($t: String!, $a: String) {{ search(text: $t{extra}, after: $a) {{ totalCount pageInfo {{ hasNextPage hasPreviousPage endCursor }} nodes {{ name class identifiers {{ rule value }} }} }} }}"
        );
        let t = text.to_string();
        let s = &s;
        async move {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            let mut total: u64;
            loop {
                let d = s.ok(&q, json!({ "t": t, "a": after })).await;
                let r = &d["search"];
                total = r["totalCount"].as_u64().unwrap();
                assert_eq!(r["pageInfo"]["hasPreviousPage"], json!(after.is_some()));
                out.extend(list(&r["nodes"], "name"));
                if !r["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                    break;
                }
                after = r["pageInfo"]["endCursor"].as_str().map(str::to_string);
            }
            assert_eq!(total as usize, out.len(), "{t}");
            out
        }
    };
    assert_eq!(search("001a.2b3c.4d5e", "").await, ["edge7"]);
    assert_eq!(search("00-1a-2b-3c-4d-5f", "").await, ["Gi1/0/1"]);
    assert_eq!(search("GigabitEthernet1/0/1", "").await, ["Gi1/0/1"]);
    assert_eq!(search(" ab-7731 ", "").await, ["edge7"]);
    assert_eq!(search("10.0.1.10", "").await, ["db1"]);
    assert_eq!(search("tier:db", "").await, ["db1"]);
    assert_eq!(
        search("nginx", "").await,
        ["nginx@web1", "nginx@web2", "nginx@web3"]
    );
    // The host-name hit first, then names containing it (any case).
    assert_eq!(
        search("WEB1", "").await,
        ["web1", "nginx@web1", "web1:tcp/443"]
    );
    assert_eq!(
        search("web", ", classes: [HOST], first: 2").await,
        ["web1", "web2", "web3"]
    );
    assert!(search("no such thing", "").await.is_empty());
    let d = s
        .ok(
            r#"{ search(text: "10.0.1.10") { nodes { name identifiers { rule value } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        d["search"]["nodes"][0]["identifiers"][1],
        json!({"rule": "ip_addresses", "value": "10.0.1.10"})
    );

    // Bad input: clear codes.
    for (q, want) in [
        (
            r#"{ search(text: "") { totalCount } }"#.to_string(),
            "INVALID_INPUT",
        ),
        (
            r#"{ search(text: "  	 ") { totalCount } }"#.to_string(),
            "INVALID_INPUT",
        ),
        (
            r#"{ search(text: "web", after: "zz") { totalCount } }"#.to_string(),
            "INVALID_INPUT",
        ),
        (
            r#"{ search(text: "web", first: 51) { totalCount } }"#.to_string(),
            "LIMIT_EXCEEDED",
        ),
        (
            r#"{ search(text: "web", first: -1) { totalCount } }"#.to_string(),
            "INVALID_INPUT",
        ),
        (
            format!(
                r#"{{ search(text: "{}") {{ totalCount }} }}"#,
                "x".repeat(1001)
            ),
            "LIMIT_EXCEEDED",
        ),
    ] {
        let (status, body) = s.post(None, &q, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(code(&body), want, "{q}: {body}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_error_codes_never_crash() {
    let s = open_server().await;
    // Page size cap.
    let (status, body) = s
        .post(None, "{ cis(first: 51) { totalCount } }", json!({}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (200, "LIMIT_EXCEEDED".to_string()),
        "{body}"
    );
    let (_, body) = s
        .post(None, "{ cis(first: -1) { totalCount } }", json!({}))
        .await;
    assert_eq!(code(&body), "INVALID_INPUT");
    // Query depth.
    let mut deep = String::from("id");
    for _ in 0..10 {
        deep = format!("relationships(first: 1) {{ nodes {{ from {{ {deep} }} }} }}");
    }
    let (status, body) = s
        .post(
            None,
            &format!("{{ cis(first: 1) {{ nodes {{ {deep} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (200, "LIMIT_EXCEEDED".to_string()),
        "{body}"
    );
    // Complexity: wide pages nested.
    let (_, body) = s
        .post(None, "{ cis(first: 50) { nodes { relationships(first: 50) { nodes { from { relationships(first: 50) { nodes { type } } } } } } } }", json!({}))
        .await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    // Traversal depth.
    let (_, body) = s
        .post(
            None,
            r#"{ dependencies(id: "x", maxDepth: 100000) { depth } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "LIMIT_EXCEEDED");
    // Body size: HTTP 413 with a GraphQL-shaped error.
    let big = format!("{{ cis {{ totalCount }} }} # {}", "x".repeat(100 * 1024));
    let (status, body) = s.post(None, &big, json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (413, "LIMIT_EXCEEDED".to_string()),
        "{body}"
    );
    // Garbage.
    let resp = s
        .client()
        .post(s.url("/graphql"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "INVALID_INPUT");
    let (_, body) = s.post(None, "{ cis { nope } }", json!({})).await;
    assert_eq!(code(&body), "INVALID_INPUT");
    let (_, body) = s.post(None, "{ cis(", json!({})).await;
    assert_eq!(code(&body), "INVALID_INPUT");
    let (_, body) = s
        .post(
            None,
            r#"{ cis(filter: {name: {regex: "(unclosed"}}) { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INVALID_INPUT");
    let (_, body) = s
        .post(
            None,
            r#"{ cis(filter: {name: {regex: "a", equals: "b"}}) { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INVALID_INPUT");
    let (_, body) = s
        .post(
            None,
            r#"{ cis(after: "garbage-cursor") { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "INVALID_INPUT", "{body}");
    let (_, body) = s
        .post(None, r#"{ impact(ids: []) { affectedCount } }"#, json!({}))
        .await;
    assert_eq!(code(&body), "INVALID_INPUT");
    // Batches are capped.
    let batch: Vec<Value> = (0..6)
        .map(|_| json!({ "query": "{ stats { cis } }" }))
        .collect();
    let resp = s
        .client()
        .post(s.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), "LIMIT_EXCEEDED", "{body}");
    let batch: Vec<Value> = (0..2)
        .map(|_| json!({ "query": "{ stats { cis } }" }))
        .collect();
    let body: Value = s
        .client()
        .post(s.url("/graphql"))
        .json(&batch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body[1]["data"]["stats"]["cis"], json!(26));
    // GET runs queries, not mutations.
    let resp = s
        .get("/graphql?query=%7B%20stats%20%7B%20cis%20%7D%20%7D")
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["stats"]["cis"], json!(26));
    let resp = s
        .get("/graphql?query=mutation%20%7B%20retireCi(id%3A%20%22x%22)%20%7B%20id%20%7D%20%7D")
        .await;
    assert_eq!(resp.status().as_u16(), 405);
    // Still alive.
    let d = s.ok("{ stats { cis relationships } }", json!({})).await;
    assert_eq!(d["stats"]["cis"], json!(26));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_roles_health_and_graphiql() {
    let tokens = vec![
        token("dashboards", "r-secret-1", "reader"),
        token("itsm-sync", "e-secret-2", "editor"),
        token("ops", "a-secret-3", "admin"),
    ];
    let s = TestServer::start(tokens, limits(), 64 * 1024).await;
    // Missing / wrong token: 401 with a clear JSON message.
    let (status, body) = s.post(None, "{ stats { cis } }", json!({})).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing API token"),
        "{body}"
    );
    assert_eq!(code(&body), "UNAUTHENTICATED");
    let (status, body) = s.post(Some("wrong"), "{ stats { cis } }", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], json!("invalid API token"));
    assert!(
        !body.to_string().contains("wrong"),
        "the presented token is not echoed"
    );
    let resp = s
        .client()
        .get(s.url("/graphql?query=%7Bstats%7Bcis%7D%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Reader: queries yes, mutations FORBIDDEN.
    let d = s
        .ok_as(Some("r-secret-1"), "{ stats { cis } }", json!({}))
        .await;
    assert_eq!(d["stats"]["cis"], json!(26));
    let (status, body) = s.post(Some("r-secret-1"), r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "r"}}) { created } }"#, json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (200, "FORBIDDEN".to_string()),
        "{body}"
    );
    // Editor and admin may write.
    let d = s.ok_as(Some("e-secret-2"), r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "e"}}) { created } }"#, json!({})).await;
    assert_eq!(d["upsertCi"]["created"], json!(true));
    let d = s.ok_as(Some("a-secret-3"), r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "a"}}) { created } }"#, json!({})).await;
    assert_eq!(d["upsertCi"]["created"], json!(true));
    // Health, readiness and the IDE need no token.
    let r = s.get("/healthz").await;
    assert_eq!(r.status().as_u16(), 200);
    let r = s.get("/readyz").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], json!("ready"));
    let r = s.get("/graphiql").await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    // Served from the binary: the page loads its script from here, and the script talks to
    // /graphql (nothing from a CDN).
    assert!(
        html.contains("/console/assets/graphiql.js") && !html.contains("//"),
        "GraphiQL page: {html}"
    );
    let script = s.get("/console/assets/graphiql.js").await;
    assert_eq!(script.status().as_u16(), 200);
    assert!(script.text().await.unwrap().contains("/graphql/ws"));
    assert_eq!(s.get("/nope").await.status().as_u16(), 404);
    // Subscriptions: token in connection_init; reader sees changes made by an editor.
    let mut ws = WsClient::connect(s.addr, "/graphql/ws", "graphql-transport-ws", None).unwrap();
    ws.send(
        &json!({ "type": "connection_init", "payload": { "Authorization": "Bearer r-secret-1" } }),
    )
    .unwrap();
    assert_eq!(ws.recv().unwrap()["type"], json!("connection_ack"));
    ws.send(&json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ciChanged { id kind source } }" } })).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = s.ok_as(Some("e-secret-2"), r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "sub1"}}) { ci { id } } }"#, json!({})).await;
    let msg = tokio::task::spawn_blocking(move || ws.recv().unwrap())
        .await
        .unwrap();
    assert_eq!(msg["type"], json!("next"), "{msg}");
    assert_eq!(
        msg["payload"]["data"]["ciChanged"]["id"],
        d["upsertCi"]["ci"]["id"]
    );
    assert_eq!(
        msg["payload"]["data"]["ciChanged"]["source"],
        json!("manual")
    );
    // A bad token in connection_init is refused.
    let mut ws = WsClient::connect(s.addr, "/graphql/ws", "graphql-transport-ws", None).unwrap();
    ws.send(&json!({ "type": "connection_init", "payload": { "token": "nope" } }))
        .unwrap();
    assert!(ws.recv().is_err(), "connection closed");
    // A bad token in the upgrade header is a 401.
    assert!(
        WsClient::connect(s.addr, "/graphql/ws", "graphql-transport-ws", Some("nope")).is_err()
    );
    s.stop().await;

    // Without tokens only loopback binds are allowed.
    let open = cmdb_server::http::Auth::new(&[]).unwrap();
    let e = cmdb_server::http::check_bind("0.0.0.0:0", &open)
        .unwrap_err()
        .to_string();
    assert!(e.contains("refusing") && e.contains("auth.tokens"), "{e}");
    assert!(cmdb_server::http::check_bind("127.0.0.1:0", &open).is_ok());
    let with = cmdb_server::http::Auth::new(&[token("t", "x", "reader")]).unwrap();
    assert!(cmdb_server::http::check_bind("0.0.0.0:0", &with).is_ok());
}

/// The real binary: `cmdb graphql` for scripts, and `cmdb serve` shutting down cleanly on
/// SIGTERM.
#[test]
fn binary_graphql_command_and_graceful_shutdown() {
    let bin = cmdb_tests::cli::cmdb_bin();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(["--data-dir", data])
            .args(args)
            .env_remove("CMDB_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code_, v, err) = run(&[
        "graphql",
        "--query",
        r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "cli1"}}) { created ci { id name } } }"#,
    ]);
    assert_eq!(code_, Some(0), "{v} {err}");
    assert_eq!(v["data"]["upsertCi"]["ci"]["name"], json!("cli1"));
    let (code_, v, _) = run(&[
        "graphql",
        "--query",
        "query($n: String!) { cis(filter: {name: {equals: $n}}) { totalCount } }",
        "--variables",
        r#"{"n": "cli1"}"#,
    ]);
    assert_eq!(code_, Some(0));
    assert_eq!(v["data"]["cis"]["totalCount"], json!(1));
    let (code_, v, _) = run(&[
        "graphql",
        "--query",
        r#"{ impact(ids: ["ci_nope"]) { affectedCount } }"#,
    ]);
    assert_eq!(code_, Some(1), "errors give exit status 1");
    assert_eq!(v["errors"][0]["extensions"]["code"], json!("NOT_FOUND"));

    // serve on port 0; the bound address is printed; SIGTERM → clean exit with the store closed.
    let mut child = Command::new(&bin)
        .args(["--data-dir", data, "serve", "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("address line")
        .to_string();
    let body: Value = reqwest::blocking::Client::new()
        .post(format!("{url}/graphql"))
        .json(&json!({ "query": "{ cis(filter: {name: {equals: \"cli1\"}}) { totalCount } }" }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["data"]["cis"]["totalCount"], json!(1));
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("SIGTERM") && stderr.contains("store closed"),
        "{stderr}"
    );

    // No tokens and a public address: refused at start, saying why.
    let (code_, _, err) = run(&["serve", "--bind", "0.0.0.0:0"]);
    assert_ne!(code_, Some(0));
    assert!(err.contains("refusing"), "{err}");
}
