//! Events in, incidents out, through the real `cmdb serve`: the HTTP intakes with their roles
//! and refusals, and the whole loop with Debian's real Prometheus and Alertmanager on loopback
//! (docs/alerts.md walks an operator through the same setup).

use std::time::Duration;

use cmdb_tests::monitoring_lab::{self as lab, eventually, Receiver, Target};
use cmdb_tests::serve::Served;
use serde_json::{json, Value};

const ADMIN: &str = "admin-secret";
const READER: &str = "reader-secret";
const EVENTS: &str = "events-secret";

fn tokens() -> String {
    let h = |s: &str| cmdb_server::http::auth::sha256_hex(s);
    format!(
        r#"[[auth.tokens]]
name = "admin"
sha256 = "{}"
role = "admin"
[[auth.tokens]]
name = "prometheus"
sha256 = "{}"
role = "reader"
[[auth.tokens]]
name = "alertmanager"
sha256 = "{}"
role = "events"
"#,
        h(ADMIN),
        h(READER),
        h(EVENTS)
    )
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(s: &Served) -> Client {
        Client {
            base: s.url.clone(),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, path: &str, token: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(json!({ "raw": text })),
        )
    }

    async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, v) = self
            .post(
                "/graphql",
                token,
                json!({ "query": query, "variables": variables }).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    async fn ok(&self, query: &str, variables: Value) -> Value {
        let v = self.gql(ADMIN, query, variables).await;
        assert!(v.get("errors").is_none(), "{v}");
        v["data"].clone()
    }
}

fn code(v: &Value) -> &str {
    v["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

const STATUS: &str = "{ serviceStatus { name status rootCauses { name } alerts { node } } }";

fn status_of(v: &Value, name: &str) -> String {
    v["serviceStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .map(|s| s["status"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intakes_bind_refuse_bad_input_and_respect_roles() {
    let config = format!("{}\n[events]\nmax_body_bytes = 4096\n", tokens());
    let served = Served::start_after(&config, |data, _| {
        lab::seed_store(data, lab::estate_observation(8080));
    });
    let c = Client::new(&served);
    let ev = json!({ "source": "nagios", "node": "web1", "type": "HOST_DOWN", "severity": 1 });

    // Roles: a reader may not post; the events role may post and read nothing.
    let (st, v) = c.post("/api/v1/events", READER, ev.to_string()).await;
    assert_eq!((st, code(&v)), (403, "FORBIDDEN"), "{v}");
    let v = c.gql(EVENTS, STATUS, json!({})).await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");

    // Bad input: 4xx, a clear message, nothing stored.
    let (st, v) = c.post("/api/v1/events", EVENTS, "{not json").await;
    assert_eq!((st, code(&v)), (400, "INVALID_INPUT"), "{v}");
    let (st, v) = c
        .post(
            "/api/v1/events",
            EVENTS,
            json!([ev, { "source": "x", "node": "web2" }]).to_string(),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    assert!(
        v.to_string().contains("event 1"),
        "names the bad event: {v}"
    );
    let (st, v) = c
        .post(
            "/api/v1/events",
            EVENTS,
            json!({ "source": "x", "node": "web2", "severity": 1, "colour": "red" }).to_string(),
        )
        .await;
    assert_eq!(st, 400, "unknown fields are refused: {v}");
    let (st, v) = c
        .post(
            "/api/v1/events",
            EVENTS,
            json!({ "source": "x", "node": "web2", "severity": 9 }).to_string(),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let big =
        json!({ "source": "x", "node": "web2", "severity": 1, "description": "x".repeat(8000) });
    let (st, v) = c.post("/api/v1/events", EVENTS, big.to_string()).await;
    assert_eq!((st, code(&v)), (413, "LIMIT_EXCEEDED"), "{v}");
    let (st, v) = c
        .post(
            "/api/v1/alerts/alertmanager",
            EVENTS,
            json!({ "version": "3", "alerts": [] }).to_string(),
        )
        .await;
    assert_eq!(st, 400, "{v}");
    let d = c.ok("{ alerts { id } }", json!({})).await;
    assert_eq!(
        d["alerts"].as_array().unwrap().len(),
        0,
        "nothing stored: {d}"
    );

    // Subscribers hear service status and incident changes.
    let mut ws = cmdb_tests::api_support::WsClient::connect(
        served.addr,
        "/graphql/ws",
        "graphql-transport-ws",
        None,
    )
    .unwrap();
    ws.send(&json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {READER}") } })).unwrap();
    assert_eq!(ws.recv().unwrap()["type"], "connection_ack");
    ws.send(&json!({ "id": "s", "type": "subscribe", "payload": { "query": "subscription { serviceStatusChanged { id previous status } }" } })).unwrap();
    ws.send(&json!({ "id": "i", "type": "subscribe", "payload": { "query": "subscription { incidentChanged { kind incident { state priority services { name } } } }" } })).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // One web server down: the pool keeps two of three, the shop is worse but up.
    let (st, v) = c.post("/api/v1/events", EVENTS, ev.to_string()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["opened"], 1);
    let d = c.ok(STATUS, json!({})).await;
    let shop = status_of(&d, "shop");
    assert!(shop == "DEGRADED" || shop == "AT_RISK", "{d}");
    assert_eq!(
        status_of(&d, "blog"),
        "DOWN",
        "blog uses an endpoint on web1: {d}"
    );
    // shop and blog changed status, one incident opened for both (web1 is their cause).
    let msgs = tokio::task::spawn_blocking(move || {
        (0..3).map(|_| ws.recv().unwrap()).collect::<Vec<Value>>()
    })
    .await
    .unwrap();
    let text = serde_json::to_string(&msgs).unwrap();
    assert!(msgs.iter().all(|m| m["type"] == "next"), "{text}");
    assert!(
        text.contains("\"previous\":\"OK\"") && text.contains("\"status\":\"DOWN\""),
        "{text}"
    );
    assert!(text.contains("\"kind\":\"OPENED\""), "{text}");
    let d = c
        .ok(
            "{ businessServices { name operationalStatus status } }",
            json!({}),
        )
        .await;
    let shop = d["businessServices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "shop")
        .unwrap();
    assert_eq!(shop["status"], "ACTIVE", "lifecycle status unchanged: {d}");
    assert!(shop["operationalStatus"] == "DEGRADED" || shop["operationalStatus"] == "AT_RISK");

    // Alertmanager: a second web server (by IP, through `instance`), one malformed alert that
    // is skipped alone, one nobody knows.
    let am = json!({
        "version": "4", "status": "firing", "receiver": "cmdb", "groupKey": "{}:{}",
        "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am", "alerts": [
            { "status": "firing", "labels": { "alertname": "HostDown", "instance": "10.9.0.12:9100", "severity": "critical" },
              "annotations": { "summary": "web2 down" }, "startsAt": "2026-11-24T10:00:00Z",
              "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": "aa01" },
            { "status": "exploded", "labels": { "alertname": "X", "instance": "web3" },
              "annotations": {}, "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
              "generatorURL": "", "fingerprint": "aa02" },
            { "status": "firing", "labels": { "alertname": "HostDown", "instance": "ghost.example.com:9100", "severity": "critical" },
              "annotations": {}, "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
              "generatorURL": "", "fingerprint": "aa03" }
        ]
    });
    let (st, v) = c
        .post("/api/v1/alerts/alertmanager", EVENTS, am.to_string())
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["opened"].as_u64(), v["unbound"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    assert_eq!(v["rejected"][0]["index"], 1, "{v}");
    let d = c.ok(STATUS, json!({})).await;
    assert_eq!(
        status_of(&d, "shop"),
        "DOWN",
        "two of three down, min_up 2: {d}"
    );
    let d = c
        .ok(
            "{ alerts(unboundOnly: true) { node bound bindingNote } }",
            json!({}),
        )
        .await;
    let unbound = d["alerts"].as_array().unwrap();
    assert_eq!(unbound.len(), 1, "{d}");
    assert!(
        unbound[0]["bindingNote"]
            .as_str()
            .unwrap()
            .contains("ghost.example.com"),
        "{d}"
    );

    // One incident for the episode, P1 (criticality 1, DOWN).
    let d = c
        .ok("{ incidents(openOnly: true) { id priority title services { name status } alerts { node } } }", json!({}))
        .await;
    let incs = d["incidents"].as_array().unwrap();
    assert_eq!(incs.len(), 1, "{d}");
    assert_eq!(incs[0]["priority"], "P1");
    assert_eq!(incs[0]["alerts"].as_array().unwrap().len(), 2, "{d}");

    // The events role through GraphQL: ingestEvent only.
    let m = "mutation($e: EventInput!) { ingestEvent(input: $e) { outcome } }";
    let v = c
        .gql(EVENTS, m, json!({ "e": { "source": "nagios", "node": "web1", "type": "HOST_DOWN", "severity": 0 } }))
        .await;
    assert_eq!(v["data"]["ingestEvent"]["outcome"], "CLOSED", "{v}");
    let v = c
        .gql(
            READER,
            m,
            json!({ "e": { "source": "x", "node": "web1", "severity": 1 } }),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    // Nothing of the CMDB through the mutation's answer either (a repeated clear: ignored,
    // but it names its alert).
    let v = c
        .gql(
            EVENTS,
            "mutation($e: EventInput!) { ingestEvent(input: $e) { outcome alert { id alert { ci { name } } } } }",
            json!({ "e": { "source": "nagios", "node": "web1", "type": "HOST_DOWN", "severity": 0 } }),
        )
        .await;
    assert_eq!(code(&v), "FORBIDDEN", "{v}");
    assert_eq!(v["data"]["ingestEvent"]["outcome"], "IGNORED", "{v}");
    assert!(!v.to_string().contains("\"name\""), "no CI data: {v}");

    // The CMDB's own health: one of the two open alerts found no CI.
    let d = c
        .ok("{ cmdbHealth { cis completenessPercent openAlerts unboundAlerts unboundAlertsPercent completeness { class total complete missing { attribute count } } duplicates { name } } }", json!({}))
        .await;
    let h = &d["cmdbHealth"];
    assert_eq!(
        (h["openAlerts"].as_u64(), h["unboundAlerts"].as_u64()),
        (Some(2), Some(1)),
        "{h}"
    );
    assert_eq!(h["unboundAlertsPercent"], 50.0);
    let hosts = h["completeness"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "HOST")
        .unwrap();
    assert!(
        hosts["missing"].to_string().contains("os_name"),
        "the lab hosts have no OS: {h}"
    );

    // Metrics for a reader token.
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", served.url))
        .bearer_auth(READER)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("cmdb_events_ingested_total{intake=\"alertmanager\",outcome=\"rejected\"} 1"),
        "{text}"
    );
    assert!(text.contains("cmdb_alerts_open_unbound 1"), "{text}");
    assert!(
        text.contains("cmdb_http_requests_total{route=\"/api/v1/events\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_and_alertmanager_drive_an_incident_to_a_webhook_and_back() {
    let receiver = Receiver::start(1).await; // the first delivery fails: retried, same key
    let port = lab::free_port();
    let mut target = Target::start(port).await;
    let config = format!(
        r#"{}
[[events.webhooks]]
name = "itsm"
url = "http://{}/incidents"
secret = "hook-key"
backoff_base_secs = 1
"#,
        tokens(),
        receiver.addr
    );
    let served = Served::start_after(&config, |data, _| {
        lab::seed_store(data, lab::estate_observation(port));
    });
    let c = Client::new(&served);
    let dir = tempfile::tempdir().unwrap();
    let am = lab::alertmanager(dir.path(), served.addr, EVENTS);
    let prom = lab::prometheus(dir.path(), port, served.addr, READER, am.port);
    let http = reqwest::Client::new();
    let prom_query = |q: &str| {
        let url = format!("http://127.0.0.1:{}/api/v1/query", prom.port);
        let req = http.get(url).query(&[("query", q)]);
        async move {
            let v: Value = req.send().await.ok()?.json().await.ok()?;
            let r = v["data"]["result"].as_array()?.first()?.clone();
            r["value"][1].as_str()?.parse::<f64>().ok()
        }
    };
    // Prometheus scrapes both the target and cmdb's /metrics.
    eventually(
        "Prometheus scraping the target and cmdb",
        Duration::from_secs(60),
        || async {
            let t = prom_query("up{job=\"shop-web\"}").await?;
            let m = prom_query("up{job=\"cmdb\"}").await?;
            (t == 1.0 && m == 1.0).then_some(())
        },
    )
    .await;
    let from = chrono::Utc::now() - chrono::Duration::seconds(1);

    // The target stops: the rule fires, Alertmanager posts, blog (on that endpoint) is DOWN.
    target.stop().await;
    let d = eventually("blog DOWN", Duration::from_secs(60), || async {
        let d = c.ok(STATUS, json!({})).await;
        (status_of(&d, "blog") == "DOWN").then_some(d)
    })
    .await;
    let blog = d["serviceStatus"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "blog")
        .unwrap()
        .clone();
    assert_eq!(
        blog["rootCauses"][0]["name"],
        format!("tcp/{port}"),
        "bound to the endpoint: {d}"
    );
    assert_eq!(
        status_of(&d, "shop"),
        "OK",
        "web1's endpoint is not the host: {d}"
    );

    // The incident webhook: first attempt refused (503), retried with the same key, signed.
    let opened = eventually(
        "the incident.opened delivery",
        Duration::from_secs(30),
        || async {
            let got = receiver.received();
            (got.len() >= 2).then_some(got)
        },
    )
    .await;
    assert_eq!(
        opened[0].headers["idempotency-key"],
        opened[1].headers["idempotency-key"]
    );
    assert_eq!(opened[1].headers["x-cmdb-attempt"], "2");
    assert_eq!(
        opened[1].headers["x-cmdb-signature"],
        cmdb_live::outbox::signature("hook-key", opened[1].body.as_bytes())
    );
    let body: Value = serde_json::from_str(&opened[1].body).unwrap();
    assert_eq!(body["event"], "incident.opened");
    assert_eq!(
        body["deliveryId"],
        opened[1].headers["idempotency-key"].as_str()
    );
    assert_eq!(body["incident"]["services"][0]["name"], "blog");

    // The target comes back: Alertmanager sends the resolution, the incident resolves.
    let mut target = Target::start(port).await;
    let inc = eventually("the incident resolved", Duration::from_secs(60), || async {
        let d = c
            .ok(
                "{ incidents { state openedAt resolvedAt services { name } } }",
                json!({}),
            )
            .await;
        let i = d["incidents"][0].clone();
        (i["state"] == "RESOLVED").then_some(i)
    })
    .await;
    eventually(
        "the incident.resolved delivery",
        Duration::from_secs(30),
        || async {
            receiver
                .received()
                .iter()
                .any(|r| r.body.contains("\"incident.resolved\""))
                .then_some(())
        },
    )
    .await;

    // Availability and MTTR of blog equal the hand computation from the incident's times.
    let to = chrono::Utc::now();
    let opened_at: chrono::DateTime<chrono::Utc> =
        inc["openedAt"].as_str().unwrap().parse().unwrap();
    let resolved_at: chrono::DateTime<chrono::Utc> =
        inc["resolvedAt"].as_str().unwrap().parse().unwrap();
    let down_ms = (resolved_at - opened_at).num_milliseconds() as f64;
    let window_ms = (to - from).num_milliseconds() as f64;
    let blog_id = c.ok("{ businessServices { id name } }", json!({})).await["businessServices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "blog")
        .unwrap()["id"]
        .clone();
    let h = c
        .ok(
            "query($id: ID!, $from: DateTime!, $to: DateTime!) { serviceHealth(id: $id, from: $from, to: $to) { availabilityPercent downSeconds outages mttrSeconds incidentCount } }",
            json!({ "id": blog_id, "from": from.to_rfc3339(), "to": to.to_rfc3339() }),
        )
        .await;
    let h = &h["serviceHealth"];
    assert_eq!(h["outages"], 1, "{h}");
    assert_eq!(h["incidentCount"], 1, "{h}");
    assert!(
        (h["downSeconds"].as_f64().unwrap() * 1000.0 - down_ms).abs() < 1.0,
        "{h} vs {down_ms} ms from {inc}; from {from:?} to {to:?}"
    );
    assert!(
        (h["mttrSeconds"].as_f64().unwrap() * 1000.0 - down_ms).abs() < 1.0,
        "{h}"
    );
    let want = 100.0 * (1.0 - down_ms / window_ms);
    assert!(
        (h["availabilityPercent"].as_f64().unwrap() - want).abs() < 1e-6,
        "{h} vs {want}"
    );

    // The report says the same.
    let data = served.dir.path().join("data");
    let report = |extra: &[&str]| {
        let args: Vec<&str> = ["report", "availability", "--window", "1h"]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        let out = cmdb_tests::cli::cmdb(&data, &args);
        assert!(out.status.success(), "{}", cmdb_tests::cli::stderr(&out));
        out
    };
    let out = report(&["--format", "json"]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "blog")
        .unwrap();
    assert_eq!(row["outages"], 1, "{row}");
    assert!(
        (row["downSeconds"].as_f64().unwrap() * 1000.0 - down_ms).abs() < 1.0,
        "{row}"
    );
    assert!(r["cmdbHealth"]["cis"].as_u64().unwrap() > 5, "{r}");
    let out = report(&["--format", "csv"]);
    let text = cmdb_tests::cli::stdout(&out);
    assert!(
        text.starts_with("kind,id,name,availability_percent,"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("service,") && l.contains(",blog,")),
        "{text}"
    );
    let out = report(&[]);
    let text = cmdb_tests::cli::stdout(&out);
    assert!(
        text.contains("Business services") && text.contains("blog") && text.contains("CMDB health"),
        "{text}"
    );

    // Prometheus has scraped cmdb's own figures.
    eventually(
        "cmdb metrics in Prometheus",
        Duration::from_secs(30),
        || async {
            let n = prom_query(
                "cmdb_events_ingested_total{intake=\"alertmanager\",outcome=\"opened\"}",
            )
            .await?;
            (n >= 1.0).then_some(())
        },
    )
    .await;
    target.stop().await;
    drop(prom);
    drop(am);
}

/// The outbox is durable: a delivery pending when the server is killed is sent after the
/// restart, once, with the idempotency key it had.
#[test]
fn a_pending_delivery_survives_a_crash_and_is_sent_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let receiver = rt.block_on(Receiver::start(usize::MAX)); // refuses until told otherwise
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    lab::seed_store(&data, lab::estate_observation(8080));
    std::fs::write(
        dir.path().join("cmdb.toml"),
        format!(
            "[[events.webhooks]]\nname = \"itsm\"\nurl = \"http://{}/hook\"\nbackoff_base_secs = 1\nbackoff_max_secs = 2\n",
            receiver.addr
        ),
    )
    .unwrap();
    let server = cmdb_tests::cli::ServeProcess::start(&data, &[]);
    let http = reqwest::blocking::Client::new();
    let r = http
        .post(format!("{}/api/v1/events", server.url))
        .header("content-type", "application/json")
        .body(json!({ "source": "nagios", "node": "web1", "severity": 1 }).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let start = std::time::Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait("a refused attempt", &|| !receiver.received().is_empty());
    server.kill9(); // a crash, with the delivery pending
                    // An attempt the killed server had already written to the socket may still be read by the
                    // receiver: let it land before counting.
    std::thread::sleep(Duration::from_millis(500));
    let before = receiver.received().len();
    let key = receiver.received()[0].headers["idempotency-key"].clone();
    receiver.accept();
    let server = cmdb_tests::cli::ServeProcess::start(&data, &[]);
    wait("the delivery after the restart", &|| {
        receiver.received().len() > before
    });
    // Give a duplicate the chance to show up.
    std::thread::sleep(Duration::from_secs(3));
    let got = receiver.received();
    assert_eq!(got.len(), before + 1, "accepted once, never sent again");
    assert!(
        got.iter().all(|r| r.headers["idempotency-key"] == key),
        "one delivery, one key"
    );
    let d = server.ok("{ incidents { state } }", json!({}));
    assert_eq!(d["incidents"][0]["state"], "OPEN");
    let text = reqwest::blocking::get(format!("{}/metrics", server.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains("cmdb_webhook_deliveries_pending 0"), "{text}");
    drop(rt);
}
