//! The conformance suite of the `GraphStore` contract. Every backend must pass it:
//! `conformance_tests!(async_expr_making_a_fresh_empty_store)` expands to one test per check.
//!
//! Checks are plain async functions over `&dyn GraphStore`, so a failing one reads like a
//! spec sentence.

use std::collections::BTreeSet;

use cmdb_model::{
    ChangeKind, CiClass, CiId, CiStatus, EvidenceKind, IdentificationOutcome, Observation, Outcome,
    Record, RelStatus, RelType, RunId, Scope, Source,
};
use serde_json::json;

use crate::types::*;
use crate::GraphStore;

mod ops;
pub use ops::*;

/// Expand to one `#[tokio::test]` per conformance check for a backend. The argument is an
/// expression evaluating to a fresh fixture that derefs to the store.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@each $make;
            idempotent_ingest, same_device_from_snmp_and_ssh_is_one_ci, precedence_protects_stronger_sources,
            conflicting_identifiers_make_a_new_ci, dependents_are_identified_within_their_parent,
            placeholders_merge_in_any_order, bridging_record_merges_two_cis, staleness_is_scoped_to_complete_runs,
            retire_and_delete, find_filters_and_pagination, relationships_batch_query, traversal_and_impact_subgraph,
            history_records_changes, dry_run_writes_nothing, bad_records_are_rejected_alone, explanations_name_the_rule,
            evidence_confidence_grows_per_run, closing_one_relationship, impact_graph_completes_groups,
            ops_alerts_are_kept_and_found, ops_status_timeline, ops_incidents_and_deliveries, lookup_identifiers_finds_cis,
            identification_is_kept_with_the_ci, identifiers_of_lists_each_cis_keys, search_matches_names_identifiers_and_tags);
    };
    (@each $make:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                // `$make` yields something that derefs to the store and keeps its resources
                // (a temp dir, a server connection) alive for the whole test.
                let fixture = $make;
                $crate::conformance::$name(&*fixture).await;
            }
        )*
    };
}

fn obs(source: &str, run: &str, scope: Scope) -> Observation {
    Observation::new(Source::new(source), RunId::new(run), scope)
}

fn opts() -> IngestOptions {
    IngestOptions::default()
}

async fn ingest(s: &dyn GraphStore, o: Observation) -> IngestReport {
    let r = s.ingest(o, &opts()).await.expect("ingest");
    assert!(
        r.errors.is_empty(),
        "unexpected record errors: {:?}",
        r.errors
    );
    r
}

async fn all(s: &dyn GraphStore, filter: CiFilter) -> Vec<cmdb_model::Ci> {
    s.find(&filter, CiOrder::default(), &PageRequest::first(10_000))
        .await
        .expect("find")
        .items
        .into_iter()
        .map(|(_, c)| c)
        .collect()
}

async fn one(s: &dyn GraphStore, class: CiClass, name: &str) -> cmdb_model::Ci {
    let found = all(
        s,
        CiFilter {
            classes: vec![class],
            name: Some((NameMatch::Equals, name.into())),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {class} named {name}, found {found:?}"
    );
    found.into_iter().next().unwrap()
}

/// A small server observation as an SSH probe would report it.
fn web_host(source: &str, run: &str, complete: bool) -> Observation {
    let mut o = obs(
        source,
        run,
        if complete {
            Scope::complete(["web1"])
        } else {
            Scope::partial(["web1"])
        },
    );
    o.push(
        Record::new("device", CiClass::Host)
            .name("web1")
            .ident("serial_number", "SN-WEB1")
            .ident("mac_addresses", json!(["52:54:00:aa:00:01"]))
            .ident("hostname", "web1")
            .ident("ip_addresses", json!(["10.0.0.11"]))
            .attr("os_name", "Debian GNU/Linux"),
    );
    o.push(
        Record::new("eth0", CiClass::Interface)
            .parent("device")
            .ident("if_name", "eth0")
            .ident("mac_address", "52:54:00:aa:00:01"),
    );
    o.push(Record::new("ip", CiClass::IpAddress).ident("address", "10.0.0.11"));
    o.push(
        Record::new("nginx", CiClass::Process)
            .parent("device")
            .ident("executable", "nginx")
            .ident("command_line", "nginx: master"),
    );
    o.push(
        Record::new("ep80", CiClass::ListeningEndpoint)
            .parent("device")
            .ident("protocol", "tcp")
            .ident("port", 80),
    );
    o.relate(RelType::HasIp, "eth0", "ip", EvidenceKind::Inventory, 1.0);
    o.relate(
        RelType::ListensOn,
        "nginx",
        "ep80",
        EvidenceKind::Socket,
        0.9,
    );
    o
}

pub async fn idempotent_ingest(s: &dyn GraphStore) {
    let r1 = ingest(s, web_host("ssh", "r1", true)).await;
    assert_eq!(r1.created, 5);
    let stats1 = s.stats().await.unwrap();
    for run in ["r2", "r3", "r4"] {
        let r = ingest(s, web_host("ssh", run, true)).await;
        assert_eq!(
            (r.created, r.updated, r.unchanged, r.merged, r.staled),
            (0, 0, 5, 0, 0),
            "run {run}: {r:?}"
        );
        assert_eq!(r.relationships_created, 0);
    }
    let stats = s.stats().await.unwrap();
    assert_eq!(stats.cis, stats1.cis, "no duplicates");
    assert_eq!(stats.relationships, stats1.relationships);
    assert_eq!(
        stats.history_entries, stats1.history_entries,
        "re-runs add no history"
    );
}

pub async fn same_device_from_snmp_and_ssh_is_one_ci(s: &dyn GraphStore) {
    let mut snmp = obs("snmp", "r1", Scope::complete(["10.0.0.11"]));
    snmp.push(
        Record::new("device", CiClass::Host)
            .ident("hostname", "WEB1")
            .ident(
                "mac_addresses",
                json!(["52-54-00-AA-00-01", "52:54:00:aa:00:02"]),
            )
            .ident("ip_addresses", json!(["10.0.0.11"]))
            .attr("sys_descr", "Linux web1 6.1.0"),
    );
    snmp.push(
        Record::new("if2", CiClass::Interface)
            .parent("device")
            .ident("if_name", "eth0")
            .ident("if_index", 2),
    );
    ingest(s, snmp).await;
    let r = ingest(s, web_host("ssh", "r2", true)).await;
    let hosts = all(
        s,
        CiFilter {
            classes: vec![CiClass::Host],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        hosts.len(),
        1,
        "SNMP and SSH views of one machine are one CI: {hosts:#?}"
    );
    let h = &hosts[0];
    assert_eq!(
        h.sources,
        BTreeSet::from([Source::new("snmp"), Source::new("ssh")])
    );
    assert_eq!(h.attr_str("sys_descr"), Some("Linux web1 6.1.0"));
    assert_eq!(h.attr_str("serial_number"), Some("SN-WEB1"));
    let ex = r
        .explanations
        .iter()
        .find(|e| e.record == "device")
        .unwrap();
    assert!(
        matches!(&ex.outcome, Outcome::Matched { rule, .. } if rule == "mac_addresses"),
        "{ex:?}"
    );
    let ifs = all(
        s,
        CiFilter {
            classes: vec![CiClass::Interface],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(ifs.len(), 1, "eth0 seen by both is one interface: {ifs:#?}");
}

pub async fn precedence_protects_stronger_sources(s: &dyn GraphStore) {
    ingest(s, web_host("ssh", "r1", true)).await;
    let mut snmp = obs("snmp", "r2", Scope::complete(["10.0.0.11"]));
    snmp.push(
        Record::new("d", CiClass::Host)
            .ident("serial_number", "SN-WEB1")
            .attr("os_name", "Linux")
            .attr("sys_location", "rack 4"),
    );
    ingest(s, snmp).await;
    let h = one(s, CiClass::Host, "web1").await;
    assert_eq!(
        h.attr_str("os_name"),
        Some("Debian GNU/Linux"),
        "snmp must not overwrite ssh"
    );
    assert_eq!(h.attributes["os_name"].source.as_str(), "ssh");
    assert_eq!(h.attributes["sys_location"].source.as_str(), "snmp");
    let mut manual = obs("manual", "r3", Scope::none());
    manual.push(Record {
        id: Some(h.id.clone()),
        ..Record::new("m", CiClass::Host).attr("os_name", "Debian 12 (bookworm)")
    });
    ingest(s, manual).await;
    let mut ssh = web_host("ssh", "r4", true);
    ssh.records[0]
        .attributes
        .insert("os_name".into(), json!("Debian GNU/Linux"));
    ingest(s, ssh).await;
    let h = s.get(&h.id).await.unwrap().unwrap();
    assert_eq!(
        h.attr_str("os_name"),
        Some("Debian 12 (bookworm)"),
        "manual beats ssh"
    );
    assert_eq!(h.attributes["os_name"].source.as_str(), "manual");
}

pub async fn conflicting_identifiers_make_a_new_ci(s: &dyn GraphStore) {
    ingest(s, web_host("ssh", "r1", true)).await;
    // Same IP (re-used by DHCP), different serial: another machine.
    let mut o = obs("ssh", "r2", Scope::complete(["other"]));
    o.push(
        Record::new("device", CiClass::Host)
            .name("other")
            .ident("serial_number", "SN-OTHER")
            .ident("ip_addresses", json!(["10.0.0.11"])),
    );
    let r = ingest(s, o).await;
    assert_eq!(r.created, 1);
    let ex = &r.explanations[0];
    assert!(matches!(ex.outcome, Outcome::Created { .. }));
    assert!(
        ex.notes.iter().any(|n| n.contains("serial_number")),
        "explains the rejected candidate: {ex:?}"
    );
    assert_eq!(
        all(
            s,
            CiFilter {
                classes: vec![CiClass::Host],
                ..Default::default()
            }
        )
        .await
        .len(),
        2
    );
}

pub async fn dependents_are_identified_within_their_parent(s: &dyn GraphStore) {
    for (n, host) in ["a", "b"].iter().enumerate() {
        let mut o = obs("ssh", "r1", Scope::complete([*host]));
        o.push(
            Record::new("d", CiClass::Host)
                .name(*host)
                .ident("hostname", *host),
        );
        o.push(
            Record::new("e", CiClass::Interface)
                .parent("d")
                .ident("if_name", "eth0")
                .ident("if_index", 2),
        );
        o.push(
            Record::new("p", CiClass::ListeningEndpoint)
                .parent("d")
                .ident("protocol", "tcp")
                .ident("port", 22 + n as i64 * 0),
        );
        ingest(s, o).await;
    }
    assert_eq!(
        all(
            s,
            CiFilter {
                classes: vec![CiClass::Interface],
                ..Default::default()
            }
        )
        .await
        .len(),
        2
    );
    assert_eq!(
        all(
            s,
            CiFilter {
                classes: vec![CiClass::ListeningEndpoint],
                ..Default::default()
            }
        )
        .await
        .len(),
        2
    );
    let contains = s
        .relationships(
            &[one(s, CiClass::Host, "a").await.id],
            &RelQuery {
                direction: Direction::Out,
                types: vec![RelType::Contains],
                include_closed: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(contains.len(), 2, "a CONTAINS its interface and endpoint");
}

/// The app server connects to the database before or after the database is discovered.
fn app_obs(run: &str) -> Observation {
    let mut o = obs("ssh", run, Scope::complete(["app1"]));
    o.push(
        Record::new("d", CiClass::Host)
            .name("app1")
            .ident("hostname", "app1")
            .ident("ip_addresses", json!(["10.0.0.21"])),
    );
    o.push(
        Record::new("java", CiClass::Process)
            .parent("d")
            .ident("executable", "java")
            .ident("command_line", "java -jar app.jar"),
    );
    o.push(
        Record::new("rdb", CiClass::Host)
            .ident("ip_addresses", json!(["10.0.0.31"]))
            .placeholder(),
    );
    o.push(
        Record::new("rep", CiClass::ListeningEndpoint)
            .parent("rdb")
            .ident("protocol", "tcp")
            .ident("port", 5432)
            .placeholder(),
    );
    o.relate(
        RelType::ConnectsTo,
        "java",
        "rep",
        EvidenceKind::Socket,
        0.5,
    );
    o
}

fn db_obs(run: &str) -> Observation {
    let mut o = obs("ssh", run, Scope::complete(["db1"]));
    o.push(
        Record::new("d", CiClass::Host)
            .name("db1")
            .ident("serial_number", "SN-DB1")
            .ident("hostname", "db1")
            .ident("ip_addresses", json!(["10.0.0.31"])),
    );
    o.push(
        Record::new("pg", CiClass::Process)
            .parent("d")
            .ident("executable", "postgres")
            .ident("command_line", "postgres -D /var/lib/pg"),
    );
    o.push(
        Record::new("ep", CiClass::ListeningEndpoint)
            .parent("d")
            .ident("protocol", "tcp")
            .ident("port", 5432),
    );
    o.relate(RelType::ListensOn, "pg", "ep", EvidenceKind::Socket, 0.9);
    o
}

/// The graph as (class, name) signatures and edges between them: what must not depend on order.
pub async fn canonical_graph(
    s: &dyn GraphStore,
) -> (
    BTreeSet<(String, String, bool)>,
    BTreeSet<(String, String, String)>,
) {
    let cis = all(s, CiFilter::default()).await;
    let sig = |id: &CiId| {
        cis.iter()
            .find(|c| &c.id == id)
            .map(|c| format!("{}:{}", c.class, c.name))
            .unwrap_or_else(|| format!("?{id}"))
    };
    let nodes = cis
        .iter()
        .map(|c| (c.class.to_string(), c.name.clone(), c.placeholder))
        .collect();
    let ids: Vec<CiId> = cis.iter().map(|c| c.id.clone()).collect();
    let rels = s.relationships(&ids, &RelQuery::default()).await.unwrap();
    let edges = rels
        .iter()
        .map(|r| (sig(&r.from), r.rel_type.to_string(), sig(&r.to)))
        .collect();
    (nodes, edges)
}

pub async fn placeholders_merge_in_any_order(s: &dyn GraphStore) {
    ingest(s, app_obs("r1")).await;
    ingest(s, db_obs("r2")).await;
    let graph_a = canonical_graph(s).await;
    let hosts = all(
        s,
        CiFilter {
            classes: vec![CiClass::Host],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(hosts.len(), 2, "the placeholder became db1: {hosts:#?}");
    assert!(hosts.iter().all(|h| !h.placeholder));
    assert_eq!(
        all(
            s,
            CiFilter {
                classes: vec![CiClass::ListeningEndpoint],
                ..Default::default()
            }
        )
        .await
        .len(),
        1
    );
    // The other order, in a second namespace of the same store, must give the same shape:
    // checked by backends' own tests with a fresh store; here we check the chain exists.
    let db = one(s, CiClass::Host, "db1").await;
    let down = s
        .traverse(
            &[db.id.clone()],
            &TraverseQuery {
                direction: TraverseDirection::Downstream,
                max_depth: 5,
                types: vec![],
            },
        )
        .await
        .unwrap();
    let java = one(s, CiClass::Process, "java").await;
    assert!(
        down.iter().any(|r| r.id == java.id),
        "db1 failing reaches the java client: {down:?}"
    );
    assert!(
        graph_a.1.contains(&(
            "Process:java".into(),
            "CONNECTS_TO".into(),
            "ListeningEndpoint:tcp/5432".into()
        )),
        "{:?}",
        graph_a.1
    );
}

/// Same as above in the opposite order; compare with [`placeholders_merge_in_any_order`] by
/// running both on fresh stores (see `order_independence` in the backend tests).
pub async fn ingest_db_then_app(s: &dyn GraphStore) {
    ingest(s, db_obs("r1")).await;
    ingest(s, app_obs("r2")).await;
}

pub async fn ingest_app_then_db(s: &dyn GraphStore) {
    ingest(s, app_obs("r1")).await;
    ingest(s, db_obs("r2")).await;
}

pub async fn bridging_record_merges_two_cis(s: &dyn GraphStore) {
    // sw1 sees sw2 over LLDP (name only); sw3's FDB sees sw2's MAC (MAC only).
    let mut a = obs("snmp", "r1", Scope::complete(["sw1"]));
    a.push(
        Record::new("n", CiClass::NetworkDevice)
            .ident("hostname", "sw2")
            .placeholder(),
    );
    a.push(
        Record::new("np", CiClass::Interface)
            .parent("n")
            .ident("if_name", "Gi0/1")
            .placeholder(),
    );
    ingest(s, a).await;
    let mut b = obs("snmp", "r1", Scope::complete(["sw3"]));
    b.push(
        Record::new("m", CiClass::NetworkDevice)
            .ident("mac_addresses", json!(["00:1b:2c:3d:4e:5f"]))
            .placeholder(),
    );
    ingest(s, b).await;
    assert_eq!(
        all(
            s,
            CiFilter {
                classes: vec![CiClass::NetworkDevice],
                ..Default::default()
            }
        )
        .await
        .len(),
        2
    );
    let placeholder_ids: Vec<CiId> = all(s, CiFilter::default())
        .await
        .into_iter()
        .filter(|c| c.class == CiClass::NetworkDevice)
        .map(|c| c.id)
        .collect();
    // sw2 itself: name and MAC together.
    let mut c = obs("snmp", "r2", Scope::complete(["sw2"]));
    c.push(
        Record::new("d", CiClass::NetworkDevice)
            .name("sw2")
            .ident("hostname", "sw2")
            .ident("mac_addresses", json!(["00:1b:2c:3d:4e:5f"])),
    );
    c.push(
        Record::new("i", CiClass::Interface)
            .parent("d")
            .ident("if_name", "Gi0/1")
            .ident("if_index", 10101),
    );
    let r = ingest(s, c).await;
    assert_eq!(r.merged, 1, "{r:?}");
    let devs = all(
        s,
        CiFilter {
            classes: vec![CiClass::NetworkDevice],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(devs.len(), 1, "{devs:#?}");
    assert!(!devs[0].placeholder);
    for old in placeholder_ids {
        assert_eq!(
            s.get(&old).await.unwrap().map(|c| c.id),
            Some(devs[0].id.clone()),
            "old ids resolve to the survivor"
        );
    }
    assert_eq!(
        all(
            s,
            CiFilter {
                classes: vec![CiClass::Interface],
                ..Default::default()
            }
        )
        .await
        .len(),
        1,
        "Gi0/1 is one interface"
    );
}

pub async fn staleness_is_scoped_to_complete_runs(s: &dyn GraphStore) {
    let mut first = web_host("ssh", "r1", true);
    first.push(
        Record::new("old", CiClass::Process)
            .parent("device")
            .ident("executable", "cron")
            .ident("command_line", "/usr/sbin/cron"),
    );
    ingest(s, first).await;
    // A partial run that misses `cron` marks nothing.
    let r = ingest(s, web_host("ssh", "r2", false)).await;
    assert_eq!(r.staled, 0);
    assert_eq!(
        one(s, CiClass::Process, "cron").await.status,
        CiStatus::Active
    );
    // A run of another source over another scope marks nothing of ssh's.
    let mut other = obs("snmp", "r3", Scope::complete(["10.0.0.11"]));
    other.push(Record::new("d", CiClass::Host).ident("serial_number", "SN-WEB1"));
    ingest(s, other).await;
    assert_eq!(
        one(s, CiClass::Process, "cron").await.status,
        CiStatus::Active
    );
    // A complete run without it: STALE, its relationship closed.
    let r = ingest(s, web_host("ssh", "r4", true)).await;
    assert_eq!(r.staled, 1, "{r:?}");
    assert_eq!(r.relationships_closed, 1);
    let cron = one(s, CiClass::Process, "cron").await;
    assert_eq!(cron.status, CiStatus::Stale);
    let rels = s
        .relationships(
            &[cron.id.clone()],
            &RelQuery {
                include_closed: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(rels.iter().all(|r| r.status == RelStatus::Closed));
    // Still seen by snmp → the host stays ACTIVE even when ssh stops seeing it.
    let mut empty = obs("ssh", "r5", Scope::complete(["web1"]));
    empty.push(Record::new("x", CiClass::Application).name("unrelated"));
    ingest(s, empty).await;
    assert_eq!(
        one(s, CiClass::Host, "web1").await.status,
        CiStatus::Active,
        "snmp still sees it"
    );
    // Seen again → ACTIVE.
    let mut back = web_host("ssh", "r6", true);
    back.push(
        Record::new("old", CiClass::Process)
            .parent("device")
            .ident("executable", "cron")
            .ident("command_line", "/usr/sbin/cron"),
    );
    ingest(s, back).await;
    assert_eq!(
        one(s, CiClass::Process, "cron").await.status,
        CiStatus::Active
    );
}

pub async fn retire_and_delete(s: &dyn GraphStore) {
    let mut first = web_host("ssh", "r1", true);
    first.push(
        Record::new("old", CiClass::Process)
            .parent("device")
            .ident("executable", "cron")
            .ident("command_line", "cron"),
    );
    ingest(s, first).await;
    ingest(s, web_host("ssh", "r2", true)).await;
    assert_eq!(
        s.retire_stale(chrono::Duration::days(1)).await.unwrap(),
        0,
        "too young to retire"
    );
    assert_eq!(
        s.retire_stale(chrono::Duration::milliseconds(-1000))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        one(s, CiClass::Process, "cron").await.status,
        CiStatus::Retired
    );
    let web = one(s, CiClass::Host, "web1").await;
    let retired = s.retire(&web.id, "manual").await.unwrap();
    assert_eq!(retired.status, CiStatus::Retired);
    let active = s
        .relationships(&[web.id.clone()], &RelQuery::default())
        .await
        .unwrap();
    assert!(active.is_empty(), "retiring closes relationships");
    let mut svc = obs("manual", "m1", Scope::none());
    svc.push(
        Record::new("s", CiClass::BusinessService)
            .name("Shop")
            .attr("criticality", 1),
    );
    ingest(s, svc).await;
    let shop = one(s, CiClass::BusinessService, "Shop").await;
    s.delete(&shop.id, "manual").await.unwrap();
    assert!(s.get(&shop.id).await.unwrap().is_none());
    let h = s.history(&shop.id, &PageRequest::first(10)).await.unwrap();
    assert_eq!(
        h.items[0].1.kind,
        ChangeKind::CiDeleted,
        "deletion is recorded"
    );
    assert!(matches!(
        s.delete(&shop.id, "manual").await,
        Err(crate::StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.retire(&CiId::new("ci_nope"), "manual").await,
        Err(crate::StoreError::NotFound(_))
    ));
}

pub async fn find_filters_and_pagination(s: &dyn GraphStore) {
    let mut o = obs("import", "r1", Scope::none());
    for i in 0..25 {
        o.push(
            Record::new(format!("h{i}"), CiClass::Host)
                .name(format!("host-{i:02}"))
                .ident("hostname", format!("host-{i:02}"))
                .ident("ip_addresses", json!([format!("10.1.0.{i}")]))
                .attr("env", if i % 2 == 0 { "prod" } else { "test" })
                .attr("cores", i % 4)
                .tag(if i < 5 { "pci" } else { "general" }),
        );
    }
    o.push(Record::new("ip", CiClass::IpAddress).ident("address", "10.1.0.3"));
    ingest(s, o).await;
    let count = |f: CiFilter| async move {
        s.find(&f, CiOrder::default(), &PageRequest::first(1))
            .await
            .unwrap()
            .total_count
    };
    assert_eq!(
        count(CiFilter {
            classes: vec![CiClass::Host],
            ..Default::default()
        })
        .await,
        25
    );
    assert_eq!(
        count(CiFilter {
            tags: vec!["pci".into()],
            ..Default::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(CiFilter {
            name: Some((NameMatch::Contains, "st-1".into())),
            ..Default::default()
        })
        .await,
        10
    );
    assert_eq!(
        count(CiFilter {
            name: Some((NameMatch::Regex, "^host-(0[0-4])$".into())),
            ..Default::default()
        })
        .await,
        5
    );
    assert_eq!(
        count(CiFilter {
            name: Some((NameMatch::Contains, "%".into())),
            ..Default::default()
        })
        .await,
        0,
        "LIKE wildcards are literal"
    );
    assert_eq!(
        count(CiFilter {
            attributes: vec![("env".into(), json!("prod"))],
            ..Default::default()
        })
        .await,
        13
    );
    assert_eq!(
        count(CiFilter {
            attributes: vec![("cores".into(), json!(3))],
            ..Default::default()
        })
        .await,
        6
    );
    assert_eq!(
        count(CiFilter {
            ip_address: Some("10.1.0.3".into()),
            ..Default::default()
        })
        .await,
        2,
        "the host and the IpAddress CI"
    );
    assert_eq!(
        count(CiFilter {
            source: Some("import".into()),
            ..Default::default()
        })
        .await,
        26
    );
    assert_eq!(
        count(CiFilter {
            statuses: vec![CiStatus::Stale],
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(CiFilter {
            last_seen_before: Some(cmdb_model::now() - chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(CiFilter {
            last_seen_after: Some(cmdb_model::now() - chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await,
        26
    );
    assert!(matches!(
        s.find(
            &CiFilter {
                name: Some((NameMatch::Regex, "(".into())),
                ..Default::default()
            },
            CiOrder::default(),
            &PageRequest::first(1)
        )
        .await,
        Err(crate::StoreError::InvalidInput(_))
    ));
    assert!(matches!(
        s.find(
            &CiFilter::default(),
            CiOrder::default(),
            &PageRequest {
                first: Some(1),
                after: Some("zz".into()),
                ..Default::default()
            }
        )
        .await,
        Err(crate::StoreError::InvalidInput(_))
    ));
    // Forward paging by name, 10 at a time, visits each host once in order.
    let hosts = CiFilter {
        classes: vec![CiClass::Host],
        ..Default::default()
    };
    let order = CiOrder {
        field: CiOrderField::Name,
        descending: false,
    };
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let p = s
            .find(
                &hosts,
                order,
                &PageRequest {
                    first: Some(10),
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(p.total_count, 25);
        seen.extend(p.items.iter().map(|(_, c)| c.name.clone()));
        if !p.has_next_page {
            break;
        }
        after = p.items.last().map(|(c, _)| c.clone());
    }
    let expected: Vec<String> = (0..25).map(|i| format!("host-{i:02}")).collect();
    assert_eq!(seen, expected);
    // Backward: the last 3, then the 3 before them.
    let p = s
        .find(
            &hosts,
            order,
            &PageRequest {
                last: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        p.items
            .iter()
            .map(|(_, c)| c.name.as_str())
            .collect::<Vec<_>>(),
        ["host-22", "host-23", "host-24"]
    );
    assert!(p.has_previous_page);
    let p = s
        .find(
            &hosts,
            order,
            &PageRequest {
                last: Some(3),
                before: Some(p.items[0].0.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        p.items
            .iter()
            .map(|(_, c)| c.name.as_str())
            .collect::<Vec<_>>(),
        ["host-19", "host-20", "host-21"]
    );
    // Descending.
    let p = s
        .find(
            &hosts,
            CiOrder {
                field: CiOrderField::Name,
                descending: true,
            },
            &PageRequest::first(2),
        )
        .await
        .unwrap();
    assert_eq!(
        p.items
            .iter()
            .map(|(_, c)| c.name.as_str())
            .collect::<Vec<_>>(),
        ["host-24", "host-23"]
    );
    let p2 = s
        .find(
            &hosts,
            CiOrder {
                field: CiOrderField::Name,
                descending: true,
            },
            &PageRequest {
                first: Some(2),
                after: Some(p.items[1].0.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        p2.items
            .iter()
            .map(|(_, c)| c.name.as_str())
            .collect::<Vec<_>>(),
        ["host-22", "host-21"]
    );
}

pub async fn relationships_batch_query(s: &dyn GraphStore) {
    ingest(s, web_host("ssh", "r1", true)).await;
    let h = one(s, CiClass::Host, "web1").await;
    let nginx = one(s, CiClass::Process, "nginx").await;
    let out = s
        .relationships(
            &[h.id.clone()],
            &RelQuery {
                direction: Direction::Out,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(out.len(), 2, "CONTAINS eth0, CONTAINS tcp/80: {out:#?}");
    let inc = s
        .relationships(
            &[h.id.clone()],
            &RelQuery {
                direction: Direction::In,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(inc.len(), 1, "nginx RUNS_ON web1");
    let both = s
        .relationships(&[h.id.clone(), nginx.id.clone()], &RelQuery::default())
        .await
        .unwrap();
    assert_eq!(both.len(), 4, "deduplicated across the two CIs");
    let typed = s
        .relationships(
            &[nginx.id.clone()],
            &RelQuery {
                types: vec![RelType::ListensOn],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(typed.len(), 1);
    assert_eq!(typed[0].evidence[0].kind, EvidenceKind::Socket);
}

pub async fn traversal_and_impact_subgraph(s: &dyn GraphStore) {
    ingest_app_then_db(s).await;
    let mut svc = obs("manual", "m1", Scope::none());
    let java = one(s, CiClass::Process, "java").await;
    svc.push(Record::new("s", CiClass::BusinessService).name("Payments"));
    svc.push(Record {
        key: "j".into(),
        id: Some(java.id.clone()),
        ..Default::default()
    });
    svc.relate(RelType::MemberOf, "j", "s", EvidenceKind::Manual, 1.0);
    ingest(s, svc).await;
    let db = one(s, CiClass::Host, "db1").await;
    let pay = one(s, CiClass::BusinessService, "Payments").await;
    let q = |d, depth| TraverseQuery {
        direction: d,
        max_depth: depth,
        types: vec![],
    };
    let down = s
        .traverse(&[db.id.clone()], &q(TraverseDirection::Downstream, 10))
        .await
        .unwrap();
    // db1 → (CONTAINS) tcp/5432, (RUNS_ON⁻¹) postgres → … → java (CONNECTS_TO⁻¹) → Payments.
    let depth_of = |id: &CiId| down.iter().find(|r| &r.id == id).map(|r| r.depth);
    assert_eq!(depth_of(&java.id), Some(2));
    assert_eq!(depth_of(&pay.id), Some(3));
    let shallow = s
        .traverse(&[db.id.clone()], &q(TraverseDirection::Downstream, 2))
        .await
        .unwrap();
    assert!(shallow.iter().all(|r| r.depth <= 2) && !shallow.iter().any(|r| r.id == pay.id));
    let up = s
        .traverse(&[pay.id.clone()], &q(TraverseDirection::Upstream, 10))
        .await
        .unwrap();
    assert!(
        up.iter().any(|r| r.id == db.id),
        "Payments relies on db1: {up:?}"
    );
    let only = s
        .traverse(
            &[db.id.clone()],
            &TraverseQuery {
                direction: TraverseDirection::Downstream,
                max_depth: 10,
                types: vec![RelType::RunsOn],
            },
        )
        .await
        .unwrap();
    assert!(only.iter().all(|r| r.id != java.id));
    let edges = s.impact_subgraph(&[db.id.clone()], 10).await.unwrap();
    assert!(
        edges
            .iter()
            .any(|r| r.rel_type == RelType::MemberOf && r.to == pay.id),
        "{edges:#?}"
    );
    assert!(edges.iter().all(|r| r.status == RelStatus::Active));
}

pub async fn history_records_changes(s: &dyn GraphStore) {
    ingest(s, web_host("ssh", "r1", true)).await;
    let mut changed = web_host("ssh", "r2", true);
    changed.records[0]
        .attributes
        .insert("os_name".into(), json!("Debian GNU/Linux 13"));
    changed.records[0].tags.insert("web".into());
    ingest(s, changed).await;
    let h = one(s, CiClass::Host, "web1").await;
    let page = s.history(&h.id, &PageRequest::first(100)).await.unwrap();
    let entries: Vec<_> = page.items.iter().map(|(_, e)| e).collect();
    let change = entries
        .iter()
        .find(|e| e.kind == ChangeKind::AttributeChanged && e.field.as_deref() == Some("os_name"))
        .expect("os_name change recorded");
    assert_eq!(change.old, Some(json!("Debian GNU/Linux")));
    assert_eq!(change.new, Some(json!("Debian GNU/Linux 13")));
    assert_eq!(change.source.as_str(), "ssh");
    assert_eq!(change.run_id.as_ref().map(|r| r.as_str()), Some("r2"));
    assert!(entries.iter().any(|e| e.kind == ChangeKind::TagAdded));
    assert!(entries.iter().any(|e| e.kind == ChangeKind::CiCreated));
    assert!(
        entries
            .iter()
            .any(|e| e.kind == ChangeKind::RelationshipCreated),
        "relationship creation shows on both ends"
    );
    assert!(
        page.items.windows(2).all(|w| w[0].1.at >= w[1].1.at),
        "newest first"
    );
    let first2 = s.history(&h.id, &PageRequest::first(2)).await.unwrap();
    assert!(first2.has_next_page);
    let next = s
        .history(
            &h.id,
            &PageRequest {
                first: Some(100),
                after: Some(first2.items[1].0.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(next.items.len(), page.items.len() - 2);
}

pub async fn dry_run_writes_nothing(s: &dyn GraphStore) {
    let r = s
        .ingest(
            web_host("ssh", "r1", true),
            &IngestOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(r.dry_run);
    assert_eq!(r.created, 5);
    assert!(r.delta.as_ref().map(|d| d.cis.len()) == Some(5));
    assert_eq!(s.stats().await.unwrap().cis, 0);
    assert_eq!(s.stats().await.unwrap().history_entries, 0);
}

pub async fn bad_records_are_rejected_alone(s: &dyn GraphStore) {
    let mut o = obs("import", "r1", Scope::none());
    o.push(Record::new("ok", CiClass::Host).ident("hostname", "fine"));
    o.push(Record::new("noid", CiClass::Host).attr("os_name", "Linux"));
    o.push(
        Record::new("orphan", CiClass::Interface)
            .parent("ghost")
            .ident("if_name", "eth0"),
    );
    o.push(Record {
        key: "noclass".into(),
        ..Default::default()
    });
    o.push(Record {
        key: "badref".into(),
        id: Some(CiId::new("ci_missing")),
        ..Default::default()
    });
    o.relate(RelType::DependsOn, "ok", "noid", EvidenceKind::Manual, 1.0);
    o.relate(RelType::DependsOn, "ok", "ok2", EvidenceKind::Manual, 1.0);
    let r = s.ingest(o, &opts()).await.unwrap();
    assert_eq!(r.created, 1);
    let codes: Vec<(&str, &str, Option<&str>)> = r
        .errors
        .iter()
        .map(|e| (e.record.as_str(), e.code.as_str(), e.field.as_deref()))
        .collect();
    assert!(
        codes.contains(&("noid", "MISSING_IDENTIFIERS", Some("identifiers"))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("orphan", "INVALID_PARENT", Some("parent"))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("noclass", "MISSING_FIELD", Some("class"))),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("badref", "NOT_FOUND", Some("id"))),
        "{codes:?}"
    );
    assert!(codes.iter().any(|c| c.1 == "UNKNOWN_RECORD"), "{codes:?}");
    assert_eq!(s.stats().await.unwrap().cis, 1);
    assert_eq!(s.stats().await.unwrap().relationships, 0);
}

pub async fn explanations_name_the_rule(s: &dyn GraphStore) {
    let r = ingest(s, web_host("ssh", "r1", true)).await;
    let ex = r
        .explanations
        .iter()
        .find(|e| e.record == "device")
        .unwrap();
    assert!(
        matches!(&ex.outcome, Outcome::Created { reason } if reason.contains("serial_number=SN-WEB1")),
        "{ex:?}"
    );
    let mut o = obs("snmp", "r2", Scope::complete(["x"]));
    o.push(Record::new("d", CiClass::Host).ident("hostname", "web1.example.com"));
    let r = ingest(s, o).await;
    match &r.explanations[0].outcome {
        Outcome::Matched { rule, identifiers } => {
            assert_eq!(rule, "hostname");
            assert_eq!(
                identifiers.get("hostname").map(String::as_str),
                Some("web1")
            );
        }
        other => panic!("expected a match, got {other:?}"),
    }
}

pub async fn evidence_confidence_grows_per_run(s: &dyn GraphStore) {
    ingest(s, app_obs("r1")).await;
    let java = one(s, CiClass::Process, "java").await;
    let q = RelQuery {
        types: vec![RelType::ConnectsTo],
        ..Default::default()
    };
    let c = |rels: Vec<cmdb_model::Relationship>| rels[0].evidence[0].confidence;
    assert_eq!(
        c(s.relationships(&[java.id.clone()], &q).await.unwrap()),
        0.5
    );
    ingest(s, app_obs("r1")).await;
    assert_eq!(
        c(s.relationships(&[java.id.clone()], &q).await.unwrap()),
        0.5,
        "same run: one observation"
    );
    ingest(s, app_obs("r2")).await;
    assert_eq!(
        c(s.relationships(&[java.id.clone()], &q).await.unwrap()),
        0.75
    );
    ingest(s, app_obs("r3")).await;
    assert_eq!(
        c(s.relationships(&[java.id.clone()], &q).await.unwrap()),
        0.875
    );
}

pub async fn closing_one_relationship(s: &dyn GraphStore) {
    ingest(s, web_host("ssh", "r1", true)).await;
    let nginx = one(s, CiClass::Process, "nginx").await;
    let listens = s
        .relationships(
            &[nginx.id.clone()],
            &RelQuery {
                types: vec![RelType::ListensOn],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let key = listens[0].key();
    let closed = s.close_relationship(&key, "manual").await.unwrap();
    assert_eq!(closed.status, RelStatus::Closed);
    assert!(s
        .relationships(
            &[nginx.id.clone()],
            &RelQuery {
                types: vec![RelType::ListensOn],
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .is_empty());
    let down = s
        .traverse(
            &[nginx.id.clone()],
            &TraverseQuery {
                direction: TraverseDirection::Downstream,
                max_depth: 3,
                types: vec![RelType::ListensOn],
            },
        )
        .await
        .unwrap();
    assert!(
        down.is_empty(),
        "a closed relationship is not traversed: {down:?}"
    );
    let h = s.history(&nginx.id, &PageRequest::first(50)).await.unwrap();
    assert!(h
        .items
        .iter()
        .any(|(_, e)| e.kind == ChangeKind::RelationshipClosed && e.source.as_str() == "manual"));
    // Idempotent; unknown → NotFound; seen again by discovery → reopened.
    assert_eq!(
        s.close_relationship(&key, "manual").await.unwrap().status,
        RelStatus::Closed
    );
    let missing =
        cmdb_model::RelKey::new(RelType::DependsOn, nginx.id.clone(), CiId::new("ci_nope"));
    assert!(matches!(
        s.close_relationship(&missing, "manual").await,
        Err(crate::StoreError::NotFound(_))
    ));
    ingest(s, web_host("ssh", "r2", true)).await;
    assert_eq!(
        s.relationships(
            &[nginx.id.clone()],
            &RelQuery {
                types: vec![RelType::ListensOn],
                ..Default::default()
            }
        )
        .await
        .unwrap()
        .len(),
        1
    );
}

/// `impact_graph` from one pool member at depth 1 still brings every member of the pool, its
/// dependants, the classes and the pool's `min_up` rule — whatever the backend.
pub async fn impact_graph_completes_groups(s: &dyn GraphStore) {
    let mut o = obs("manual", "g1", Scope::none());
    o.push(
        Record::new("pool", CiClass::Cluster)
            .name("web-pool")
            .ident("name", "web-pool")
            .attr("min_up", 2),
    );
    o.push(
        Record::new("lbh", CiClass::Host)
            .name("lb1")
            .ident("hostname", "lb1"),
    );
    o.push(
        Record::new("lb", CiClass::Process)
            .parent("lbh")
            .ident("executable", "haproxy"),
    );
    o.relate(RelType::DependsOn, "lb", "pool", EvidenceKind::Manual, 1.0);
    for i in 1..=3 {
        let h = format!("h{i}");
        o.push(
            Record::new(&h, CiClass::Host)
                .name(format!("web{i}"))
                .ident("hostname", format!("web{i}")),
        );
        o.relate(RelType::PartOf, &h, "pool", EvidenceKind::Manual, 1.0);
    }
    ingest(s, o).await;
    let web1 = one(s, CiClass::Host, "web1").await;
    let pool = one(s, CiClass::Cluster, "web-pool").await;
    let g = s.impact_graph(&[web1.id.clone()], 1).await.unwrap();
    let part_of = g
        .edges
        .iter()
        .filter(|e| e.rel_type == RelType::PartOf && e.to == pool.id)
        .count();
    assert_eq!(
        part_of, 3,
        "all members, not only the failing one: {:?}",
        g.edges
    );
    assert!(
        g.edges
            .iter()
            .any(|e| e.rel_type == RelType::DependsOn && e.to == pool.id),
        "the pool's dependant"
    );
    assert_eq!(g.rules.get(&pool.id).and_then(|r| r.min_up), Some(2));
    assert_eq!(g.classes.get(&pool.id), Some(&CiClass::Cluster));
    assert_eq!(g.classes.get(&web1.id), Some(&CiClass::Host));
    let r = cmdb_model::impact::evaluate(&[web1.id.clone()], &g, &Default::default());
    assert_eq!(r.groups.len(), 1);
    assert_eq!(
        (r.groups[0].down, r.groups[0].severity),
        (1, cmdb_model::impact::Severity::AtRisk)
    );
    // The store's own answer agrees, and follows a rule changed by a later write (a backend
    // that keeps rules in memory must forget them when the CI is written).
    assert_eq!(s.impact(&[web1.id.clone()], &Default::default()).await.unwrap(), r);
    let mut o = obs("manual", "g2", Scope::none());
    o.push(
        Record::new("pool", CiClass::Cluster)
            .name("web-pool")
            .ident("name", "web-pool")
            .attr("min_up", 1),
    );
    ingest(s, o).await;
    let r = s.impact(&[web1.id.clone()], &Default::default()).await.unwrap();
    assert_eq!(
        (r.groups[0].min_up, r.groups[0].severity),
        (1, cmdb_model::impact::Severity::Degraded)
    );
}

/// The host of `same_device_from_snmp_and_ssh_is_one_ci` as SNMP first reports it (by MAC).
fn snmp_web1(run: &str) -> Observation {
    let mut o = obs("snmp", run, Scope::complete(["10.0.0.11"]));
    o.push(
        Record::new("device", CiClass::Host)
            .ident("hostname", "web1")
            .ident("mac_addresses", json!(["52:54:00:aa:00:01"]))
            .ident("ip_addresses", json!(["10.0.0.11"])),
    );
    o.push(
        Record::new("if2", CiClass::Interface)
            .parent("device")
            .ident("if_name", "eth0")
            .ident("mac_address", "52:54:00:aa:00:01"),
    );
    o
}

pub async fn identification_is_kept_with_the_ci(s: &dyn GraphStore) {
    let r = ingest(s, snmp_web1("r1")).await;
    let host = one(s, CiClass::Host, "web1").await;
    let created = host.identification.clone().expect("recorded on creation");
    assert_eq!(created.outcome, IdentificationOutcome::Created);
    assert_eq!(created.rule.as_deref(), Some("mac_addresses"));
    assert_eq!(
        (
            created.source.as_str(),
            created.run_id.as_ref().map(RunId::as_str)
        ),
        ("snmp", Some("r1"))
    );
    let ex = r
        .explanations
        .iter()
        .find(|e| e.record == "device")
        .unwrap();
    assert_eq!(created.explanation, ex.sentence(), "the upsertCi sentence");
    assert!(created.merged.is_empty());
    // Every read returns it.
    assert_eq!(
        s.get(&host.id).await.unwrap().unwrap().identification,
        Some(created.clone())
    );
    assert_eq!(
        s.get_many(std::slice::from_ref(&host.id)).await.unwrap()[0].identification,
        Some(created.clone())
    );
    // Seen again unchanged: nothing new is decided or written, no history.
    let history = s.stats().await.unwrap().history_entries;
    ingest(s, snmp_web1("r2")).await;
    assert_eq!(
        one(s, CiClass::Host, "web1").await.identification,
        Some(created.clone())
    );
    // SSH first matches by the MAC the CI was created by (nothing new), then — the serial
    // number now known — by the stronger serial number: a new decision, and still no history.
    ingest(s, web_host("ssh", "r3", true)).await;
    assert_eq!(
        one(s, CiClass::Host, "web1").await.identification,
        Some(created.clone())
    );
    let history = (history, s.stats().await.unwrap().history_entries);
    let r = ingest(s, web_host("ssh", "r4", true)).await;
    assert_eq!((r.created, r.updated), (0, 0), "{r:?}");
    let matched = one(s, CiClass::Host, "web1").await.identification.unwrap();
    assert_eq!(
        (
            matched.outcome,
            matched.rule.as_deref(),
            matched.source.as_str()
        ),
        (IdentificationOutcome::Matched, Some("serial_number"), "ssh")
    );
    assert_eq!(matched.run_id.as_ref().map(RunId::as_str), Some("r4"));
    assert_eq!(
        matched.explanation,
        "matched by rule `serial_number` (serial_number=SN-WEB1)"
    );
    assert_eq!(
        s.stats().await.unwrap().history_entries,
        history.1,
        "no history for it"
    );
    assert!(history.1 > history.0, "SSH's new attributes are history");
    // SNMP matching by the weaker MAC again takes nothing back.
    ingest(s, snmp_web1("r5")).await;
    ingest(s, web_host("ssh", "r6", true)).await;
    assert_eq!(
        one(s, CiClass::Host, "web1").await.identification,
        Some(matched)
    );

    // Two CIs a record proves to be one: the survivor records the merge.
    let mut a = obs("snmp", "m1", Scope::none());
    a.push(Record::new("d", CiClass::Host).ident("hostname", "db9"));
    ingest(s, a).await;
    let mut b = obs("sweep", "m2", Scope::none());
    b.push(Record::new("d", CiClass::Host).ident("ip_addresses", json!(["10.0.9.9"])));
    ingest(s, b).await;
    let mut c = obs("ssh", "m3", Scope::none());
    c.push(
        Record::new("d", CiClass::Host)
            .name("db9")
            .ident("hostname", "db9")
            .ident("ip_addresses", json!(["10.0.9.9"])),
    );
    let r = ingest(s, c).await;
    assert_eq!(r.merged, 1, "{r:?}");
    let db9 = one(s, CiClass::Host, "db9").await;
    let merged = db9.identification.unwrap();
    assert_eq!(
        (
            merged.outcome,
            merged.rule.as_deref(),
            merged.run_id.as_ref().map(RunId::as_str)
        ),
        (IdentificationOutcome::Merged, Some("hostname"), Some("m3"))
    );
    assert_eq!(merged.merged.len(), 1);
    assert_ne!(merged.merged[0], db9.id);
    assert_eq!(merged.explanation, r.explanations[0].sentence());
    assert!(
        merged.explanation.contains("; merged "),
        "{}",
        merged.explanation
    );
}

pub async fn identifiers_of_lists_each_cis_keys(s: &dyn GraphStore) {
    ingest(s, snmp_web1("r1")).await;
    let host = one(s, CiClass::Host, "web1").await;
    let eth0 = one(s, CiClass::Interface, "eth0").await;
    let got = s
        .identifiers_of(&[
            eth0.id.clone(),
            host.id.clone(),
            CiId::new("ci_nope"),
            host.id.clone(),
        ])
        .await
        .unwrap();
    let h = host.id.as_str();
    let mut want = vec![
        (host.id.clone(), "device||hostname|web1".to_string()),
        (
            host.id.clone(),
            "device||ip_addresses|10.0.0.11".to_string(),
        ),
        (
            host.id.clone(),
            "device||mac_addresses|52:54:00:aa:00:01".to_string(),
        ),
        (eth0.id.clone(), format!("Interface|{h}|if_name|eth0")),
        (
            eth0.id.clone(),
            format!("Interface|{h}|mac_address|52:54:00:aa:00:01"),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    assert!(s.identifiers_of(&[]).await.unwrap().is_empty());
    // Keys of a merged-away CI move to the survivor.
    let mut o = obs("sweep", "r2", Scope::none());
    o.push(Record::new("d", CiClass::Host).ident("ip_addresses", json!(["10.0.0.99"])));
    ingest(s, o).await;
    let mut o = obs("ssh", "r3", Scope::none());
    o.push(
        Record::new("d", CiClass::Host)
            .ident("hostname", "web1")
            .ident("ip_addresses", json!(["10.0.0.99"])),
    );
    assert_eq!(ingest(s, o).await.merged, 1);
    let keys: Vec<String> = s
        .identifiers_of(std::slice::from_ref(&host.id))
        .await
        .unwrap()
        .into_iter()
        .map(|(_, k)| k)
        .collect();
    assert!(
        keys.contains(&"device||ip_addresses|10.0.0.99".to_string()),
        "{keys:?}"
    );
}

/// Every search answer, checked against the model's rule over all CIs (`SearchPlan::rank`),
/// page by page.
async fn search_all(s: &dyn GraphStore, text: &str, classes: &[CiClass]) -> Vec<String> {
    let q = SearchQuery {
        text: text.into(),
        classes: classes.to_vec(),
    };
    let mut names = Vec::new();
    let mut after = None;
    let mut total = None;
    loop {
        let p = s
            .search(
                &q,
                &PageRequest {
                    first: Some(2),
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(p.has_previous_page, after.is_some());
        assert_eq!(*total.get_or_insert(p.total_count), p.total_count);
        names.extend(p.items.iter().map(|(_, c)| c.name.clone()));
        if !p.has_next_page {
            break;
        }
        after = p.items.last().map(|(c, _)| c.clone());
    }
    assert_eq!(
        total,
        Some(names.len()),
        "{text}: totalCount = every page's items"
    );
    // The reference: the model's rule over every CI and its keys.
    let plan = cmdb_model::search::SearchPlan::new(text, classes).unwrap();
    let cis = all(s, CiFilter::default()).await;
    let ids: Vec<CiId> = cis.iter().map(|c| c.id.clone()).collect();
    let keys = s.identifiers_of(&ids).await.unwrap();
    let mut want: Vec<(i64, String, String)> = cis
        .iter()
        .filter(|c| classes.is_empty() || classes.contains(&c.class))
        .filter_map(|c| {
            let mine: Vec<String> = keys
                .iter()
                .filter(|(i, _)| *i == c.id)
                .map(|(_, k)| k.clone())
                .collect();
            plan.rank(c, &mine)
                .map(|r| (r, c.name.clone(), c.id.to_string()))
        })
        .collect();
    want.sort();
    assert_eq!(
        names,
        want.into_iter().map(|(_, n, _)| n).collect::<Vec<_>>(),
        "{text}: as the model's rule says"
    );
    names
}

pub async fn search_matches_names_identifiers_and_tags(s: &dyn GraphStore) {
    ingest(s, web_host("ssh", "r1", true)).await;
    let mut o = obs("manual", "r2", Scope::none());
    o.push(
        Record::new("backup", CiClass::Host)
            .name("Web1-Backup")
            .ident("hostname", "backup7"),
    );
    o.push(
        Record::new("cache", CiClass::Host)
            .name("cache")
            .ident("hostname", "cache1")
            .tag("web1"),
    );
    o.push(Record::new("svc", CiClass::BusinessService).name("École Web"));
    ingest(s, o).await;

    // MAC in another notation: the host (device MAC list) and its interface (by parent).
    assert_eq!(
        search_all(s, "52-54-00-AA-00-01", &[]).await,
        ["eth0", "web1"]
    );
    assert_eq!(
        search_all(s, "5254.00aa.0001", &[CiClass::Interface]).await,
        ["eth0"]
    );
    // Identifier hit first, then names and tags by name.
    assert_eq!(
        search_all(s, "web1", &[]).await,
        ["web1", "Web1-Backup", "cache"]
    );
    assert_eq!(search_all(s, "WEB1.example.com", &[]).await, ["web1"]);
    assert_eq!(search_all(s, "  sn-web1 ", &[]).await, ["web1"]);
    assert_eq!(search_all(s, "10.0.0.11/24", &[]).await, ["web1"]);
    assert_eq!(search_all(s, "10.0.0.11", &[]).await, ["10.0.0.11", "web1"]);
    assert_eq!(search_all(s, "nginx", &[]).await, ["nginx"]);
    assert_eq!(search_all(s, "école", &[]).await, ["École Web"]);
    assert_eq!(search_all(s, "école web", &[]).await, ["École Web"]);
    assert_eq!(
        search_all(s, "web", &[CiClass::Host]).await,
        ["Web1-Backup", "web1"]
    );
    assert!(search_all(s, "zzz-nothing", &[]).await.is_empty());
    // `%`, `_` and quotes are text, not patterns.
    assert!(search_all(s, "%", &[]).await.is_empty());
    assert!(search_all(s, "_", &[]).await.is_empty());
    assert!(search_all(s, "' OR 1=1 --", &[]).await.is_empty());

    // A page past the end: empty, still counted.
    let q = SearchQuery {
        text: "web1".into(),
        classes: vec![],
    };
    let all_of = s.search(&q, &PageRequest::first(10)).await.unwrap();
    let past = s
        .search(
            &q,
            &PageRequest {
                first: Some(10),
                after: all_of.items.last().map(|(c, _)| c.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(past.items.is_empty() && !past.has_next_page && past.has_previous_page);
    assert_eq!(past.total_count, 3);

    // Bad input: a clear error, nothing else.
    for (text, page) in [
        ("", PageRequest::first(10)),
        ("   ", PageRequest::first(10)),
        (
            "web1",
            PageRequest {
                last: Some(2),
                ..Default::default()
            },
        ),
        (
            "web1",
            PageRequest {
                first: Some(2),
                after: Some("not-a-cursor".into()),
                ..Default::default()
            },
        ),
    ] {
        let q = SearchQuery {
            text: text.into(),
            classes: vec![],
        };
        match s.search(&q, &page).await {
            Err(crate::StoreError::InvalidInput(_)) => {}
            other => panic!("{text:?} {page:?}: {other:?}"),
        }
    }
}
