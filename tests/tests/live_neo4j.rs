//! The live side on the Neo4j backend (a real ArcadeDB Bolt server): the same events on the
//! same estate give the same alerts, bindings, service status, incidents and figures as on the
//! embedded store.

use std::sync::Arc;

use cmdb_events::{Event, EventSeverity};
use cmdb_graphql::{Api, ApiLimits, EventBus, Role};
use cmdb_live::{Live, LiveConfig, Webhook};
use cmdb_store::neo4j::Neo4jStore;
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use cmdb_tests::{bolt_lab, monitoring_lab};
use serde_json::{json, Value};

fn t(s: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_780_000_000 + s, 0).unwrap()
}

fn ev(node: &str, resource: Option<&str>, sev: EventSeverity) -> Event {
    Event {
        source: "nagios".into(),
        node: node.into(),
        resource: resource.map(String::from),
        event_type: Some("DOWN".into()),
        metric_name: None,
        severity: sev,
        message_key: None,
        description: None,
        time: t(0),
        additional_info: Value::Null,
    }
}

const QUERIES: &[&str] = &[
    "{ serviceStatus { name status depth rootCauses { name } alerts { node resource severity count bound bindingNote ci { name } } paths } }",
    "{ incidents { state title priority impact urgency services { name status worstStatus } rootCauses { name } alerts { node } revision } }",
    "{ alerts { node resource state count bound bindingNote ci { name } } }",
    "{ businessServices { name status operationalStatus } }",
];

/// Alert, incident and CI ids differ (UUIDs, or one per store); names and figures must not.
fn normalise(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Array(a) => {
                for x in a.iter_mut() {
                    walk(x);
                }
                a.sort_by_key(|x| x.to_string());
            }
            Value::Object(o) => {
                o.remove("id");
                for x in o.values_mut() {
                    walk(x);
                }
            }
            _ => {}
        }
    }
    walk(&mut v);
    v
}

async fn ask(api: &Api, answers: &mut Vec<Value>) {
    for q in QUERIES {
        let v = api.execute_json(q, json!({}), Role::Reader).await;
        assert!(v["errors"].is_null(), "{q}: {v}");
        answers.push(normalise(v["data"].clone()));
    }
}

async fn scenario(store: Arc<dyn GraphStore>) -> Vec<Value> {
    let r = store
        .ingest(
            monitoring_lab::estate_observation(8080),
            &Default::default(),
        )
        .await
        .unwrap();
    assert!(r.errors.is_empty());
    let cfg = LiveConfig {
        webhooks: vec![Webhook::new("itsm", "http://127.0.0.1:9/")],
        ..Default::default()
    };
    let live = Arc::new(Live::new(store.clone(), cfg));
    let api = Api::with_services(
        store.clone(),
        ApiLimits::default(),
        EventBus::default(),
        Default::default(),
        None,
        live.clone(),
    );
    let mut answers = Vec::new();
    live.ingest(&[ev("web1", None, EventSeverity::Critical)], t(10))
        .await
        .unwrap();
    ask(&api, &mut answers).await;
    live.ingest(
        &[
            ev("10.9.0.12", None, EventSeverity::Critical),
            ev("web1", Some("tcp/8080"), EventSeverity::Major),
            ev("nobody.example.com", None, EventSeverity::Critical),
        ],
        t(20),
    )
    .await
    .unwrap();
    ask(&api, &mut answers).await;
    live.ingest(
        &[
            ev("web1", None, EventSeverity::Clear),
            ev("10.9.0.12", None, EventSeverity::Clear),
        ],
        t(80),
    )
    .await
    .unwrap();
    ask(&api, &mut answers).await;
    live.ingest(&[ev("web1", Some("tcp/8080"), EventSeverity::Clear)], t(90))
        .await
        .unwrap();
    ask(&api, &mut answers).await;
    // Figures over [0, 100 s) for every service.
    let svcs = api
        .execute_json("{ businessServices { id name } }", json!({}), Role::Reader)
        .await;
    for s in svcs["data"]["businessServices"].as_array().unwrap() {
        let v = api
            .execute_json(
                "query($id: ID!, $from: DateTime!, $to: DateTime!) { serviceHealth(id: $id, from: $from, to: $to) { name availabilityPercent downSeconds degradedSeconds atRiskSeconds outages mttrSeconds mtbfSeconds incidentCount slaMet errorBudgetLeftSeconds } }",
                json!({ "id": s["id"], "from": t(0).to_rfc3339(), "to": t(100).to_rfc3339() }),
                Role::Reader,
            )
            .await;
        assert!(v["errors"].is_null(), "{v}");
        answers.push(v["data"].clone());
    }
    let counts = store.ops().ops_counts().await.unwrap();
    answers.push(json!({ "open": counts.open_alerts, "unbound": counts.open_unbound_alerts, "incidents": counts.open_incidents, "pending": counts.pending_deliveries }));
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_side_answers_the_same_on_both_backends() {
    let _exclusive = bolt_lab::fresh().await;
    let neo: Arc<dyn GraphStore> = Arc::new(
        Neo4jStore::connect(&bolt_lab::config())
            .await
            .expect("connect"),
    );
    let dir = tempfile::tempdir().unwrap();
    let emb: Arc<dyn GraphStore> = Arc::new(
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap(),
    );
    let a = scenario(neo).await;
    let b = scenario(emb).await;
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(
            x, y,
            "answer {i} differs between Neo4j and the embedded store"
        );
    }
    // And the answers say what happened: shop DOWN at 20 s, OK from 80 s.
    let shop = b[4 * 4..]
        .iter()
        .find(|v| v["serviceHealth"]["name"] == "shop")
        .expect("shop's figures");
    assert_eq!(shop["serviceHealth"]["downSeconds"], 60.0, "{shop}");
    assert_eq!(shop["serviceHealth"]["outages"], 1);
    assert_eq!(b.last().unwrap()["open"], 1, "the unbound alert stays open");
}
