//! Conformance of the operations half (`OpsStore`) and of identifier lookup.

use cmdb_events::incident::{correlate, ServiceState};
use cmdb_events::{Alert, AlertState, EventSeverity, OperationalStatus};
use cmdb_model::{CiClass, CiId, Record, Scope};
use serde_json::json;

use super::{ingest, obs};
use crate::ops::*;
use crate::GraphStore;

fn t(s: i64) -> cmdb_model::Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn alert(id: &str, key: &str, open: bool, ci: Option<&str>, at: i64) -> AlertRecord {
    AlertRecord {
        id: id.into(),
        alert: Alert {
            key: key.into(),
            source: "prometheus".into(),
            node: "web1".into(),
            resource: None,
            event_type: Some("InstanceDown".into()),
            metric_name: None,
            severity: EventSeverity::Critical,
            state: if open {
                AlertState::Open
            } else {
                AlertState::Closed
            },
            count: 1,
            first_time: t(at),
            last_time: t(at),
            closed_time: (!open).then(|| t(at + 1)),
            description: Some("web1 is down".into()),
            additional_info: json!({"labels": {"job": "node"}}),
        },
        binding: match ci {
            Some(c) => Binding {
                ci: Some(CiId::new(c)),
                node_ci: Some(CiId::new(c)),
                reason: None,
            },
            None => Binding::unbound("no CI has the name, address or MAC web1"),
        },
        received_first: t(at),
        received_last: t(at),
    }
}

/// Alerts round-trip whole; the newest of a key is the one received last; queries select by
/// state, binding and CI.
pub async fn ops_alerts_are_kept_and_found(s: &dyn GraphStore) {
    let o = s.ops();
    let old = alert("a1", "k1", false, Some("ci-1"), 0);
    let new = alert("a2", "k1", true, Some("ci-1"), 100);
    let other = alert("a3", "k2", true, None, 50);
    o.commit(&OpsBatch {
        alerts: vec![old.clone(), new.clone(), other.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let latest = o
        .latest_alerts(&["k1".into(), "k2".into(), "nope".into(), "k1".into()])
        .await
        .unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!(latest["k1"], new, "the newest alert of a key, whole");
    assert_eq!(latest["k2"], other);
    assert_eq!(o.alert("a1").await.unwrap(), Some(old.clone()));
    assert_eq!(o.alert("zz").await.unwrap(), None);

    let open: Vec<String> = o
        .open_alerts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(open, ["a3", "a2"], "open alerts, oldest received first");
    let unbound = o
        .alerts(&AlertQuery {
            open_only: true,
            unbound_only: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(unbound.len(), 1);
    assert_eq!(
        unbound[0].binding.reason.as_deref(),
        Some("no CI has the name, address or MAC web1")
    );
    let on_ci = o
        .alerts(&AlertQuery {
            cis: Some(vec![CiId::new("ci-1")]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        on_ci.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a2", "a1"]
    );
    let all = o
        .alerts(&AlertQuery {
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(),
        ["a2", "a3"]
    );

    alerts_close_and_bind(s, new, other).await;
}

/// Closing updates an alert in place; binding later fills the CI.
async fn alerts_close_and_bind(s: &dyn GraphStore, new: AlertRecord, other: AlertRecord) {
    let o = s.ops();
    // Closing updates in place; binding later fills the CI.
    let mut closed = new.clone();
    closed.alert.state = AlertState::Closed;
    closed.alert.count = 2;
    let mut bound = other.clone();
    bound.binding = Binding {
        ci: Some(CiId::new("ci-2")),
        node_ci: Some(CiId::new("ci-2")),
        reason: None,
    };
    o.commit(&OpsBatch {
        alerts: vec![closed.clone(), bound],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(o.alert("a2").await.unwrap(), Some(closed));
    let counts = o.ops_counts().await.unwrap();
    assert_eq!(counts.open_alerts, 1);
    assert_eq!(counts.open_unbound_alerts, 0);
}

/// Status changes keep a timeline per subject and the newest per kind; a window starts with
/// the status before it.
pub async fn ops_status_timeline(s: &dyn GraphStore) {
    let o = s.ops();
    let ch = |id: &str, kind, st, at| StatusChange {
        subject: CiId::new(id),
        kind,
        status: st,
        at: t(at),
    };
    use OperationalStatus::*;
    use SubjectKind::*;
    o.commit(&OpsBatch {
        status_changes: vec![ch("svc", Service, Down, 10), ch("web1", Ci, Down, 10)],
        ..Default::default()
    })
    .await
    .unwrap();
    o.commit(&OpsBatch {
        status_changes: vec![ch("svc", Service, Degraded, 20)],
        ..Default::default()
    })
    .await
    .unwrap();
    // Two changes in the same millisecond: the later commit wins.
    o.commit(&OpsBatch {
        status_changes: vec![ch("svc", Service, Ok, 30)],
        ..Default::default()
    })
    .await
    .unwrap();
    o.commit(&OpsBatch {
        status_changes: vec![ch("svc", Service, Down, 30)],
        ..Default::default()
    })
    .await
    .unwrap();
    let now = o.current_statuses(Service).await.unwrap();
    assert_eq!(now, vec![ch("svc", Service, Down, 30)]);
    assert_eq!(
        o.current_statuses(Ci).await.unwrap(),
        vec![ch("web1", Ci, Down, 10)]
    );
    let h = o
        .status_history(&CiId::new("svc"), t(15), t(40))
        .await
        .unwrap();
    let got: Vec<_> = h.iter().map(|c| (c.status, c.at)).collect();
    assert_eq!(
        got,
        vec![(Down, t(10)), (Degraded, t(20)), (Ok, t(30)), (Down, t(30))]
    );
    assert!(o
        .status_history(&CiId::new("nobody"), t(0), t(99))
        .await
        .unwrap()
        .is_empty());
}

/// Incidents are upserted and listed newest first; deliveries are due by time, updated, and
/// never lost.
pub async fn ops_incidents_and_deliveries(s: &dyn GraphStore) {
    let o = s.ops();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("inc-{n}")
    };
    let st = |id: &str, status| ServiceState {
        id: CiId::new(id),
        name: id.into(),
        criticality: Some(2),
        status,
        root_causes: vec![CiId::new(format!("{id}-db"))],
        alerts: vec!["a1".into()],
        paths: vec![vec![CiId::new(format!("{id}-db")), CiId::new(id)]],
    };
    let opened = correlate(&[], &[st("shop", OperationalStatus::Down)], t(1), &mut next);
    let later = correlate(
        &[],
        &[st("blog", OperationalStatus::Degraded)],
        t(5),
        &mut next,
    );
    let d = |id: &str, at: i64| Delivery {
        id: id.into(),
        webhook: "itsm".into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        created: t(at),
        attempts: 0,
        next_attempt: t(at),
        state: DeliveryState::Pending,
        last_error: None,
        finished: None,
    };
    o.commit(&OpsBatch {
        incidents: vec![opened[0].incident.clone(), later[0].incident.clone()],
        deliveries: vec![d("d1", 1), d("d2", 5)],
        ..Default::default()
    })
    .await
    .unwrap();
    let all = o.incidents(&IncidentQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["inc-2", "inc-1"]
    );
    assert_eq!(all[1], opened[0].incident, "an incident round-trips whole");
    let resolved = correlate(&[opened[0].incident.clone()], &[], t(9), &mut next);
    o.commit(&OpsBatch {
        incidents: vec![resolved[0].incident.clone()],
        ..Default::default()
    })
    .await
    .unwrap();
    let open = o
        .incidents(&IncidentQuery {
            open_only: true,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["inc-2"]
    );
    assert_eq!(
        o.incident("inc-1").await.unwrap(),
        Some(resolved[0].incident.clone())
    );

    deliveries_are_retried_and_finished(s, d("ghost", 1)).await;
}

/// Due deliveries: a retry waits for its next attempt, a delivered one is done; an unknown one is an error.
async fn deliveries_are_retried_and_finished(s: &dyn GraphStore, ghost: Delivery) {
    let o = s.ops();
    let due = o.due_deliveries(t(2), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d1"]
    );
    let mut retry = due[0].clone();
    retry.attempts = 1;
    retry.next_attempt = t(60);
    retry.last_error = Some("HTTP 503".into());
    o.update_delivery(&retry).await.unwrap();
    let due = o.due_deliveries(t(10), 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["d2"]
    );
    let mut done = due[0].clone();
    done.state = DeliveryState::Delivered;
    done.finished = Some(t(10));
    o.update_delivery(&done).await.unwrap();
    assert_eq!(
        o.due_deliveries(t(100), 10).await.unwrap(),
        vec![retry.clone()]
    );
    assert!(
        o.update_delivery(&ghost).await.is_err(),
        "an unknown delivery is an error"
    );
    let counts = o.ops_counts().await.unwrap();
    assert_eq!((counts.open_incidents, counts.pending_deliveries), (1, 1));
    assert_eq!(o.deliveries(0).await.unwrap().len(), 2);
}

/// CIs are found by the identifier keys reconciliation gives them.
pub async fn lookup_identifiers_finds_cis(s: &dyn GraphStore) {
    let mut o = obs("ssh", "r1", Scope::default());
    o.push(
        Record::new("h", CiClass::Host)
            .name("web1")
            .ident("hostname", json!("web1"))
            .ident("fqdn", json!("web1.example.com"))
            .ident("ip_addresses", json!(["10.0.0.5"])),
    );
    ingest(s, o).await;
    let keys = vec![
        "device||hostname|web1".to_string(),
        "device||ip_addresses|10.0.0.5".to_string(),
        "device||hostname|nope".to_string(),
    ];
    let found = s.lookup_identifiers(&keys).await.unwrap();
    let found_keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        found_keys,
        ["device||hostname|web1", "device||ip_addresses|10.0.0.5"]
    );
    assert_eq!(found[0].1, found[1].1, "one CI");
}
