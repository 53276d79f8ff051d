//! The pipeline end to end on the embedded store: a small estate, events in, status,
//! incidents, deliveries and figures out.

use std::sync::Arc;

use cmdb_events::{Event, EventSeverity, IncidentState, OperationalStatus};
use cmdb_model::{CiClass, CiId, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use cmdb_store::ops::{AlertQuery, IncidentQuery, SubjectKind};
use cmdb_store::{
    CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, NameMatch, PageRequest,
};
use serde_json::json;

use super::*;

fn t(s: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_750_000_000 + s, 0).unwrap()
}

/// shop (criticality 1, SLA 99.9%) → haproxy on lb1 → pool of web1..3 (2 must be up)
///                                  → postgres endpoint tcp/5432 on db1
/// blog (criticality 4) → tcp/5432 on db1
async fn estate(s: &dyn GraphStore) {
    let mut o = Observation::new(Source::new("manual"), RunId::new("e1"), Scope::none());
    o.push(
        Record::new("shop", CiClass::BusinessService)
            .name("shop")
            .ident("name", "shop")
            .attr("criticality", 1)
            .attr("slaTarget", "99.9%"),
    );
    o.push(
        Record::new("blog", CiClass::BusinessService)
            .name("blog")
            .ident("name", "blog")
            .attr("criticality", 4),
    );
    o.push(
        Record::new("lbh", CiClass::Host)
            .name("lb1")
            .ident("hostname", "lb1"),
    );
    o.push(
        Record::new("lb", CiClass::Process)
            .parent("lbh")
            .name("haproxy")
            .ident("executable", "/usr/sbin/haproxy"),
    );
    o.push(
        Record::new("pool", CiClass::Cluster)
            .name("web-pool")
            .ident("name", "web-pool")
            .attr("min_up", 2),
    );
    for i in 1..=3 {
        let h = format!("web{i}");
        o.push(
            Record::new(&h, CiClass::Host)
                .name(&h)
                .ident("hostname", h.as_str())
                .ident("fqdn", format!("{h}.example.com"))
                .ident("ip_addresses", json!([format!("10.0.0.1{i}")])),
        );
        o.relate(RelType::PartOf, &h, "pool", EvidenceKind::Manual, 1.0);
    }
    o.push(
        Record::new("dbh", CiClass::Host)
            .name("db1")
            .ident("hostname", "db1")
            .ident("mac_addresses", json!(["52:54:00:12:34:56"])),
    );
    o.push(
        Record::new("pg", CiClass::ListeningEndpoint)
            .parent("dbh")
            .name("tcp/5432")
            .ident("protocol", "tcp")
            .ident("port", 5432),
    );
    o.relate(RelType::DependsOn, "shop", "lb", EvidenceKind::Manual, 1.0);
    o.relate(RelType::DependsOn, "lb", "pool", EvidenceKind::Manual, 1.0);
    o.relate(RelType::DependsOn, "lb", "pg", EvidenceKind::Manual, 1.0);
    o.relate(RelType::DependsOn, "blog", "pg", EvidenceKind::Manual, 1.0);
    let r = s.ingest(o, &Default::default()).await.unwrap();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

async fn id_of(s: &dyn GraphStore, class: CiClass, name: &str) -> CiId {
    let f = CiFilter {
        classes: vec![class],
        name: Some((NameMatch::Equals, name.into())),
        ..Default::default()
    };
    let p = s
        .find(&f, CiOrder::default(), &PageRequest::first(5))
        .await
        .unwrap();
    assert_eq!(p.items.len(), 1, "{name}");
    p.items[0].1.id.clone()
}

fn ev(node: &str, resource: Option<&str>, sev: EventSeverity, at: i64) -> Event {
    Event {
        source: "test".into(),
        node: node.into(),
        resource: resource.map(String::from),
        event_type: Some("down".into()),
        metric_name: None,
        severity: sev,
        message_key: None,
        description: Some(format!("{node} at {at}")),
        time: t(at),
        additional_info: serde_json::Value::Null,
    }
}

fn setup() -> (tempfile::TempDir, Arc<dyn GraphStore>) {
    let dir = tempfile::tempdir().unwrap();
    let s =
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    (dir, Arc::new(s))
}

/// The stored alert of an intake's first event.
async fn first_alert(store: &dyn GraphStore, r: &IngestSummary) -> cmdb_store::ops::AlertRecord {
    let id = r.alert_ids[0].as_deref().expect("the event has an alert");
    store.ops().alert(id).await.unwrap().expect("stored")
}

fn status_of(all: &[ServiceStatus], id: &CiId) -> OperationalStatus {
    all.iter()
        .find(|s| &s.service == id)
        .map(|s| s.status)
        .unwrap_or(OperationalStatus::Ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_drive_status_incidents_deliveries_and_figures() {
    let (_dir, store) = setup();
    estate(&*store).await;
    let shop = id_of(&*store, CiClass::BusinessService, "shop").await;
    let blog = id_of(&*store, CiClass::BusinessService, "blog").await;
    let web1 = id_of(&*store, CiClass::Host, "web1").await;
    let web2 = id_of(&*store, CiClass::Host, "web2").await;
    let pg = id_of(&*store, CiClass::ListeningEndpoint, "tcp/5432").await;
    let cfg = LiveConfig {
        webhooks: vec![Webhook::new("itsm", "http://127.0.0.1:9/hook")],
        ..Default::default()
    };
    let live = Arc::new(Live::new(store.clone(), cfg));
    let mut notices = live.subscribe();

    // web1 down (by FQDN): one of three, the pool keeps two: shop is worse but not DOWN.
    let r = live
        .ingest(
            &[ev("web1.example.com", None, EventSeverity::Critical, 0)],
            t(0),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.opened, r.unbound, r.services_changed, r.incidents_changed),
        (1, 0, 1, 1)
    );
    let a1 = first_alert(&*store, &r).await;
    assert_eq!(a1.binding.ci.as_ref(), Some(&web1));
    let st = live.service_status().await.unwrap();
    let shop_now = status_of(&st, &shop);
    assert!(
        matches!(
            shop_now,
            OperationalStatus::Degraded | OperationalStatus::AtRisk
        ),
        "{shop_now:?}"
    );
    assert_eq!(status_of(&st, &blog), OperationalStatus::Ok);
    match notices.try_recv().unwrap() {
        LiveNotice::ServiceStatus(n) => assert_eq!(n.change.subject, shop),
        other => panic!("{other:?}"),
    }

    // The same alert again: counted, nothing else moves.
    let r = live
        .ingest(
            &[ev("web1.example.com", None, EventSeverity::Critical, 5)],
            t(5),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.updated, r.services_changed, r.incidents_changed),
        (1, 0, 0)
    );

    // web2 down too (by IP): two of three down, below min_up: shop DOWN. Same incident.
    let r = live
        .ingest(&[ev("10.0.0.12", None, EventSeverity::Critical, 60)], t(60))
        .await
        .unwrap();
    assert_eq!(r.opened, 1);
    let st = live.service_status().await.unwrap();
    assert_eq!(status_of(&st, &shop), OperationalStatus::Down);
    let shop_st = st.iter().find(|s| s.service == shop).unwrap();
    let mut roots = shop_st.root_causes.clone();
    roots.sort();
    let mut want = vec![web1.clone(), web2.clone()];
    want.sort();
    assert_eq!(roots, want, "both web servers drive it");
    let incs = store
        .ops()
        .incidents(&IncidentQuery::default())
        .await
        .unwrap();
    assert_eq!(incs.len(), 1, "one episode, one incident");
    assert_eq!(incs[0].priority, cmdb_events::priority::Priority::P1);
    assert_eq!(incs[0].alerts.len(), 2);

    // An alert nobody can place: kept, unbound, with the reason.
    let r = live
        .ingest(
            &[ev("ghost.example.com", None, EventSeverity::Critical, 70)],
            t(70),
        )
        .await
        .unwrap();
    assert_eq!((r.opened, r.unbound, r.services_changed), (1, 1, 0));
    let unbound = store
        .ops()
        .alerts(&AlertQuery {
            open_only: true,
            unbound_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(unbound.len(), 1);
    assert!(unbound[0]
        .binding
        .reason
        .as_deref()
        .unwrap()
        .contains("ghost.example.com"));

    // A resource on a node (MAC): the endpoint, and both services through it.
    let r = live
        .ingest(
            &[ev(
                "52-54-00-12-34-56",
                Some("tcp/5432"),
                EventSeverity::Major,
                80,
            )],
            t(80),
        )
        .await
        .unwrap();
    let a = first_alert(&*store, &r).await;
    assert_eq!(a.binding.ci.as_ref(), Some(&pg));
    let st = live.service_status().await.unwrap();
    assert_eq!(status_of(&st, &blog), OperationalStatus::Degraded);

    // Everything clears: services OK, the incident resolves.
    let clears = [
        ev("web1.example.com", None, EventSeverity::Clear, 120),
        ev("10.0.0.12", None, EventSeverity::Clear, 120),
        ev(
            "52-54-00-12-34-56",
            Some("tcp/5432"),
            EventSeverity::Clear,
            120,
        ),
    ];
    let r = live.ingest(&clears, t(120)).await.unwrap();
    assert_eq!(r.closed, 3);
    assert!(live.service_status().await.unwrap().is_empty());
    let incs = store
        .ops()
        .incidents(&IncidentQuery::default())
        .await
        .unwrap();
    assert!(
        incs.iter().all(|i| i.state == IncidentState::Resolved),
        "{incs:?}"
    );
    let statuses = store
        .ops()
        .current_statuses(SubjectKind::Service)
        .await
        .unwrap();
    assert!(statuses.iter().all(|s| s.status == OperationalStatus::Ok));

    // One delivery per incident change, queued with it.
    let deliveries = store.ops().deliveries(0).await.unwrap();
    let bodies: Vec<serde_json::Value> = deliveries
        .iter()
        .map(|d| serde_json::from_str(&d.body).unwrap())
        .collect();
    let mut kinds: Vec<&str> = bodies
        .iter()
        .map(|b| b["event"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert!(
        kinds.contains(&"incident.opened") && kinds.contains(&"incident.resolved"),
        "{kinds:?}"
    );

    // Figures of the shop over [0, 1000 s): DOWN from 60 to 120 s.
    let h = subject_health(&*store, &shop, t(0), t(1000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.figures.down_ms, 60_000);
    assert_eq!(h.figures.outages, 1);
    assert_eq!(h.figures.mttr_ms, Some(60_000));
    assert!((h.figures.availability_percent - 94.0).abs() < 1e-9);
    let sla = h.figures.sla.unwrap();
    assert!(!sla.met, "60 s down in 1000 s breaks 99.9%");
    assert_eq!(h.incidents, 1);
    let h = subject_health(&*store, &web1, t(0), t(1000))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(h.figures.down_ms, 120_000, "web1's own alert: 0 to 120 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_alerts_bind_after_discovery_and_retired_cis_are_skipped() {
    let (_dir, store) = setup();
    estate(&*store).await;
    let live = Arc::new(Live::new(store.clone(), LiveConfig::default()));
    let r = live
        .ingest(&[ev("late1", None, EventSeverity::Critical, 0)], t(0))
        .await
        .unwrap();
    assert_eq!(r.unbound, 1);
    assert_eq!(live.rebind(t(1)).await.unwrap(), 0, "nothing new yet");

    let mut o = Observation::new(Source::new("ssh"), RunId::new("d1"), Scope::none());
    o.push(
        Record::new("h", CiClass::Host)
            .name("late1")
            .ident("hostname", "late1"),
    );
    store.ingest(o, &Default::default()).await.unwrap();
    let late1 = id_of(&*store, CiClass::Host, "late1").await;
    assert_eq!(live.rebind(t(2)).await.unwrap(), 1);
    let a = first_alert(&*store, &r).await;
    assert_eq!(a.binding.ci.as_ref(), Some(&late1));
    assert_eq!(a.binding.reason, None);
    let cis = store.ops().current_statuses(SubjectKind::Ci).await.unwrap();
    assert_eq!(cis.len(), 1);
    assert_eq!(
        (cis[0].subject.clone(), cis[0].status),
        (late1.clone(), OperationalStatus::Down)
    );

    // Retire it: a new alert naming it is not bound to a retired CI.
    store.retire(&late1, "manual").await.unwrap();
    let r = live
        .ingest(
            &[ev("late1", Some("nginx"), EventSeverity::Major, 10)],
            t(10),
        )
        .await
        .unwrap();
    assert_eq!(r.unbound, 1);
    // And the old alert moves off it on the next rebind.
    assert_eq!(live.rebind(t(11)).await.unwrap(), 1);
    let a = first_alert(&*store, &r).await;
    assert!(a.binding.ci.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_not_found_binds_to_the_node_and_says_so() {
    let (_dir, store) = setup();
    estate(&*store).await;
    let db1 = id_of(&*store, CiClass::Host, "db1").await;
    let live = Arc::new(Live::new(store.clone(), LiveConfig::default()));
    let r = live
        .ingest(&[ev("db1:9100", None, EventSeverity::Critical, 0)], t(0))
        .await
        .unwrap();
    let a = first_alert(&*store, &r).await;
    assert_eq!(a.binding.ci.as_ref(), Some(&db1));
    assert_eq!(
        a.binding.reason.as_deref(),
        Some("endpoint tcp/9100 not found on db1: bound to the Host")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_intakes_commit_together_and_each_gets_its_own_answer() {
    let (_dir, store) = setup();
    estate(&*store).await;
    let shop = id_of(&*store, CiClass::BusinessService, "shop").await;
    let live = Arc::new(Live::new(store.clone(), LiveConfig::default()));
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let live = live.clone();
        tasks.push(tokio::spawn(async move {
            let mut e = ev(
                if i % 2 == 0 { "web1" } else { "web2" },
                None,
                EventSeverity::Critical,
                i,
            );
            e.event_type = Some(format!("check{i}"));
            live.ingest(&[e.clone(), e], t(i)).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        let s = t.await.unwrap();
        assert_eq!((s.opened, s.updated, s.accepted), (1, 1, 2), "{s:?}");
        assert_eq!(
            s.alert_ids[0], s.alert_ids[1],
            "both events of an intake: one alert"
        );
        ids.push(s.alert_ids[0].clone().unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "every intake its own alert");
    assert_eq!(store.ops().open_alerts().await.unwrap().len(), 40);
    let st = live.service_status().await.unwrap();
    assert_eq!(
        status_of(&st, &shop),
        OperationalStatus::Down,
        "web1 and web2 down: below min_up"
    );
    let now = live.services_now().await.unwrap();
    assert_eq!(
        now.get(&shop),
        Some(&OperationalStatus::Down),
        "committed status agrees"
    );
    let incs = store
        .ops()
        .incidents(&IncidentQuery::default())
        .await
        .unwrap();
    assert_eq!(incs.len(), 1, "{incs:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_change_is_seen_even_when_the_alerts_states_are_not_new() {
    let (_dir, store) = setup();
    estate(&*store).await;
    let blog = id_of(&*store, CiClass::BusinessService, "blog").await;
    let live = Arc::new(Live::new(store.clone(), LiveConfig::default()));
    live.ingest(&[ev("web3", None, EventSeverity::Critical, 0)], t(0))
        .await
        .unwrap();
    assert_eq!(
        status_of(&live.service_status().await.unwrap(), &blog),
        OperationalStatus::Ok
    );
    // Someone records that the blog also needs web3.
    let mut o = Observation::new(Source::new("manual"), RunId::new("e2"), Scope::none());
    o.push(
        Record::new("blog", CiClass::BusinessService)
            .name("blog")
            .ident("name", "blog"),
    );
    o.push(
        Record::new("w3", CiClass::Host)
            .name("web3")
            .ident("hostname", "web3"),
    );
    o.relate(RelType::DependsOn, "blog", "w3", EvidenceKind::Manual, 1.0);
    store.ingest(o, &Default::default()).await.unwrap();
    // After discovery, the stored status follows the graph without any new alert.
    live.rebind(t(3)).await.unwrap();
    let now = live.services_now().await.unwrap();
    assert_eq!(
        now.get(&blog),
        Some(&OperationalStatus::Down),
        "stored status caught up"
    );
    assert_eq!(
        live.rebind(t(4)).await.unwrap(),
        0,
        "nothing new: no recomputation"
    );
    // Another alert on web3: its state is the same, the graph is not.
    let mut e = ev("web3", None, EventSeverity::Critical, 5);
    e.event_type = Some("disk".into());
    let r = live.ingest(&[e], t(5)).await.unwrap();
    assert_eq!(r.opened, 1);
    let st = live.service_status().await.unwrap();
    assert_eq!(status_of(&st, &blog), OperationalStatus::Down, "{st:?}");
}
