//! Service mapping on a real embedded store: rule services, entry-point maps, pool inference,
//! manual overrides, unresolved entry points and idempotence.

use super::io::cis_of;
use super::*;
use crate::{EmbeddedOptions, EmbeddedStore, PageRequest};
use cmdb_model::{Observation, RunId, Scope, Source};

struct Fx {
    _dir: tempfile::TempDir,
    store: EmbeddedStore,
}

fn fresh() -> Fx {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default())
        .expect("open");
    Fx { _dir: dir, store }
}

fn opts() -> IngestOptions {
    IngestOptions::default()
}

async fn ingest(store: &dyn GraphStore, obs: Observation) -> crate::IngestReport {
    let r = store.ingest(obs, &opts()).await.expect("ingest");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    r
}

/// One host as an SSH run sees it: `listens` = (process, port); `connects` = (process, remote
/// ip, port), the far end a placeholder like discovery reports it.
struct HostSpec<'a> {
    name: &'a str,
    ip: &'a str,
    tags: &'a [&'a str],
    role: &'a str,
    listens: &'a [(&'a str, u16)],
    connects: &'a [(&'a str, &'a str, u16)],
}

fn host_obs(h: &HostSpec<'_>, run: &str) -> Observation {
    let mut o = Observation::new(
        Source::new("ssh"),
        RunId::new(run),
        Scope::complete([h.name]),
    );
    let mut host = Record::new("h", CiClass::Host)
        .name(h.name)
        .ident("hostname", h.name)
        .ident("fqdn", format!("{}.example.com", h.name))
        .ident("ip_addresses", json!([h.ip]))
        .attr("role", h.role);
    for t in h.tags {
        host = host.tag(*t);
    }
    o.push(host);
    let mut procs = BTreeSet::new();
    for (p, _) in h.listens {
        procs.insert(*p);
    }
    for (p, _, _) in h.connects {
        procs.insert(*p);
    }
    for p in &procs {
        o.push(
            Record::new(format!("p:{p}"), CiClass::Process)
                .name(*p)
                .parent("h")
                .ident("executable", format!("/usr/bin/{p}")),
        );
    }
    for (p, port) in h.listens {
        let k = format!("ep:{port}");
        o.push(
            Record::new(&k, CiClass::ListeningEndpoint)
                .parent("h")
                .ident("protocol", "tcp")
                .ident("port", *port),
        );
        o.relate(
            RelType::ListensOn,
            &format!("p:{p}"),
            &k,
            EvidenceKind::Socket,
            0.9,
        );
    }
    for (p, ip, port) in h.connects {
        let d = format!("remote:{ip}");
        if !o.records.iter().any(|r| r.key == d) {
            o.push(
                Record::new(&d, CiClass::Host)
                    .name(*ip)
                    .ident("ip_addresses", json!([ip]))
                    .placeholder(),
            );
        }
        let k = format!("remote:{ip}:{port}");
        if !o.records.iter().any(|r| r.key == k) {
            o.push(
                Record::new(&k, CiClass::ListeningEndpoint)
                    .parent(&d)
                    .ident("protocol", "tcp")
                    .ident("port", *port)
                    .placeholder(),
            );
        }
        o.relate(
            RelType::ConnectsTo,
            &format!("p:{p}"),
            &k,
            EvidenceKind::Socket,
            0.5,
        );
    }
    o
}

const LB: HostSpec<'static> = HostSpec {
    name: "lb1",
    ip: "10.0.0.1",
    tags: &["env:prod"],
    role: "lb",
    listens: &[("haproxy", 443)],
    connects: &[
        ("haproxy", "10.0.1.1", 8080),
        ("haproxy", "10.0.1.2", 8080),
        ("haproxy", "10.0.1.3", 8080),
    ],
};

fn web(i: usize) -> HostSpec<'static> {
    let (name, ip): (&'static str, &'static str) = match i {
        1 => ("web1", "10.0.1.1"),
        2 => ("web2", "10.0.1.2"),
        3 => ("web3", "10.0.1.3"),
        _ => ("web4", "10.0.1.4"),
    };
    HostSpec {
        name,
        ip,
        tags: &["env:prod", "tier:web"],
        role: "web",
        listens: &[("java", 8080)],
        connects: &[("java", "10.0.2.1", 5432)],
    }
}

/// The database connects back to the load balancer: a cycle the mapper must survive.
const DB: HostSpec<'static> = HostSpec {
    name: "db1",
    ip: "10.0.2.1",
    tags: &["env:prod", "tier:db"],
    role: "db",
    listens: &[("postgres", 5432)],
    connects: &[("postgres", "10.0.0.1", 443)],
};

async fn estate(store: &dyn GraphStore) {
    for h in [LB, web(1), web(2), web(3), DB] {
        ingest(store, host_obs(&h, "run1")).await;
    }
}

async fn id_named(store: &dyn GraphStore, class: CiClass, name: &str) -> CiId {
    let f = CiFilter {
        classes: vec![class],
        name: Some((NameMatch::Equals, name.into())),
        ..Default::default()
    };
    let (found, _) = find_all(store, &f, 10).await.unwrap();
    assert_eq!(found.len(), 1, "{class} {name}: {found:?}");
    found[0].id.clone()
}

/// The CI a host's process/endpoint: the child of `host` of `class` whose name is `name`.
async fn child(store: &dyn GraphStore, host: &str, class: CiClass, name: &str) -> CiId {
    let h = id_named(store, CiClass::Host, host).await;
    let rels = rels_of(
        store,
        std::slice::from_ref(&h),
        Direction::Both,
        &[RelType::Contains, RelType::RunsOn],
    )
    .await
    .unwrap();
    let ids: Vec<CiId> = rels
        .iter()
        .map(|r| {
            if r.from == h {
                r.to.clone()
            } else {
                r.from.clone()
            }
        })
        .collect();
    let cis = cis_of(store, &ids).await.unwrap();
    let mut hits: Vec<&Ci> = cis
        .values()
        .filter(|c| c.class == class && c.name == name)
        .collect();
    hits.sort_by(|a, b| a.id.cmp(&b.id));
    hits.first()
        .unwrap_or_else(|| {
            panic!(
                "no {class} {name} on {host}: {:?}",
                cis.values().map(|c| &c.name).collect::<Vec<_>>()
            )
        })
        .id
        .clone()
}

async fn define_service(store: &dyn GraphStore, name: &str, attrs: Map<String, Value>) -> CiId {
    let mut o = Observation::new(Source::manual(), RunId::generate(), Scope::none());
    let mut rec = Record::new("s", CiClass::BusinessService)
        .name(name)
        .ident("name", name)
        .attr("criticality", 2);
    rec.attributes.extend(attrs);
    o.push(rec);
    let r = ingest(store, o).await;
    r.explanations[0].ci.clone().unwrap()
}

async fn members(store: &dyn GraphStore, svc: &CiId) -> BTreeSet<CiId> {
    rels_of(
        store,
        std::slice::from_ref(svc),
        Direction::In,
        &[RelType::MemberOf],
    )
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.from)
    .collect()
}

async fn add_manual_member(store: &dyn GraphStore, member: &CiId, svc: &CiId) {
    let mut o = Observation::new(Source::manual(), RunId::generate(), Scope::none());
    o.push(reference("m", member));
    o.push(reference("s", svc));
    o.relate(RelType::MemberOf, "m", "s", EvidenceKind::Manual, 1.0);
    ingest(store, o).await;
}

fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn rule_service_follows_the_graph() {
    let fx = fresh();
    let s: &dyn GraphStore = &fx.store;
    estate(s).await;
    let svc = define_service(s, "Web tier", attrs(json!({"rule": {"classes": ["Host"], "tags": ["tier:web"], "attributes": {"role": "web"}}}))).await;
    let db = id_named(s, CiClass::Host, "db1").await;
    add_manual_member(s, &db, &svc).await;

    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!(r.members_added, 3, "{r:?}");
    let webs: BTreeSet<CiId> = [
        id_named(s, CiClass::Host, "web1").await,
        id_named(s, CiClass::Host, "web2").await,
        id_named(s, CiClass::Host, "web3").await,
    ]
    .into();
    let mut want = webs.clone();
    want.insert(db.clone());
    assert_eq!(members(s, &svc).await, want);
    let edge = rels_of(
        s,
        std::slice::from_ref(&svc),
        Direction::In,
        &[RelType::MemberOf],
    )
    .await
    .unwrap();
    let web1_edge = edge.iter().find(|e| webs.contains(&e.from)).unwrap();
    assert_eq!(
        (
            web1_edge.evidence[0].source.as_str(),
            web1_edge.evidence[0].kind
        ),
        (MAPPER_SOURCE, EvidenceKind::Rule)
    );

    // A new matching CI joins.
    ingest(s, host_obs(&web(4), "run2")).await;
    let r = recompute_service(s, &svc, &opts()).await.unwrap();
    assert_eq!((r.members_added, r.members_removed), (1, 0), "{r:?}");
    let web4 = id_named(s, CiClass::Host, "web4").await;
    assert!(members(s, &svc).await.contains(&web4));

    // web1 changes role (tags only ever grow through reconciliation, so the rule's attribute
    // condition is what a re-purposed host stops meeting): it leaves; the manual member stays.
    let mut h = web(1);
    h.role = "batch";
    ingest(s, host_obs(&h, "run3")).await;
    // web2 goes STALE (its own complete run no longer sees it... simulated by retiring it).
    let web2 = id_named(s, CiClass::Host, "web2").await;
    s.retire(&web2, "manual").await.unwrap();
    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!(
        r.members_removed, 1,
        "web1 left; web2's edge closed with it: {r:?}"
    );
    let now = members(s, &svc).await;
    let web1 = id_named(s, CiClass::Host, "web1").await;
    assert!(!now.contains(&web1) && !now.contains(&web2), "{now:?}");
    assert!(
        now.contains(&db),
        "a manual member is never removed by the mapper"
    );

    // The manual member matching too and then not: the mapper never closes its edge.
    let hist = s
        .history(&svc, &PageRequest::first(500))
        .await
        .unwrap()
        .total_count;
    let r = recompute_services(s, &opts()).await.unwrap();
    assert!(!r.changed(), "{r:?}");
    assert_eq!(
        s.history(&svc, &PageRequest::first(500))
            .await
            .unwrap()
            .total_count,
        hist,
        "no history from a no-op recompute"
    );
}

#[tokio::test]
async fn rule_errors_and_the_member_cap_are_reported_not_fatal() {
    let fx = fresh();
    let s: &dyn GraphStore = &fx.store;
    estate(s).await;
    let bad = define_service(s, "Bad", attrs(json!({"rule": {"classes": ["Nope"]}}))).await;
    let ok = define_service(
        s,
        "DBs",
        attrs(json!({"rule": {"namePattern": "^db[0-9]+$", "classes": ["Host"]}})),
    )
    .await;
    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!(r.errors.len(), 1, "{r:?}");
    assert_eq!(
        (r.errors[0].service.clone(), r.errors[0].code.as_str()),
        (bad, "INVALID_INPUT")
    );
    assert_eq!(members(s, &ok).await.len(), 1);
    // Rules never select services.
    let svc_rule =
        define_service(s, "Services", attrs(json!({"rule": {"namePattern": ".*"}}))).await;
    recompute_service(s, &svc_rule, &opts()).await.unwrap();
    let m = cis_of(
        s,
        &members(s, &svc_rule).await.into_iter().collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert!(
        !m.is_empty() && m.values().all(|c| c.class != CiClass::BusinessService),
        "{m:?}"
    );
}

#[tokio::test]
async fn entry_point_map_over_three_tiers_with_a_cycle() {
    let fx = fresh();
    let s: &dyn GraphStore = &fx.store;
    estate(s).await;
    let svc = define_service(
        s,
        "Shop",
        attrs(json!({"entry_points": ["https://lb1.example.com/shop", "lb1:443"]})),
    )
    .await;
    let r = recompute_services(s, &opts()).await.unwrap();
    assert!(r.unresolved_entry_points.is_empty(), "{r:?}");
    assert_eq!(r.pools_created, 1, "{r:?}");

    let lb_ep = child(s, "lb1", CiClass::ListeningEndpoint, "tcp/443").await;
    let haproxy = child(s, "lb1", CiClass::Process, "haproxy").await;
    assert_eq!(
        members(s, &svc).await,
        BTreeSet::from([lb_ep.clone(), haproxy.clone()]),
        "only the entry endpoint and its process are members"
    );

    let svc_ci = s.get(&svc).await.unwrap().unwrap();
    let map: BTreeSet<String> = svc_ci
        .attr("map_cis")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for (host, class, name) in [
        ("web1", CiClass::ListeningEndpoint, "tcp/8080"),
        ("web3", CiClass::Process, "java"),
        ("db1", CiClass::ListeningEndpoint, "tcp/5432"),
        ("db1", CiClass::Process, "postgres"),
    ] {
        let id = child(s, host, class, name).await;
        assert!(
            map.contains(id.as_str()),
            "{host} {name} missing from the map"
        );
    }
    for h in ["lb1", "web2", "db1"] {
        assert!(
            map.contains(id_named(s, CiClass::Host, h).await.as_str()),
            "host {h} in the map"
        );
    }
    let pool = id_named(s, CiClass::Cluster, "pool haproxy@lb1 → :8080").await;
    assert!(map.contains(pool.as_str()));
    assert!(svc_ci.attr_str("mapped_at").is_some());
    assert_eq!(svc_ci.attr("unresolved_entry_points"), Some(&json!([])));
    // The sources: the mapper's attributes rank below manual; the service keeps its own.
    assert_eq!(svc_ci.attributes["map_cis"].source.as_str(), MAPPER_SOURCE);
    assert_eq!(svc_ci.attributes["criticality"].source.as_str(), "manual");

    // Depth 1: only the entry tier.
    let shallow = define_service(
        s,
        "Shop edge",
        attrs(json!({"entry_points": ["10.0.0.1:443"], "mapping_depth": 1})),
    )
    .await;
    recompute_service(s, &shallow, &opts()).await.unwrap();
    let c = s.get(&shallow).await.unwrap().unwrap();
    let m = c.attr("map_cis").unwrap().as_array().unwrap().len();
    assert_eq!(m, 3, "endpoint, haproxy, lb1: {c:?}");

    // Mapping references CIs without touching them: nothing was refreshed or re-sighted.
    let web1 = s
        .get(&id_named(s, CiClass::Host, "web1").await)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !web1.sources.contains(&Source::new(MAPPER_SOURCE)),
        "{web1:?}"
    );
}

#[tokio::test]
async fn pools_are_inferred_overridable_and_follow_backends() {
    let fx = fresh();
    let s: &dyn GraphStore = &fx.store;
    estate(s).await;
    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!((r.pools_created, r.pool_edges_added), (1, 4), "{r:?}");
    let pool = id_named(s, CiClass::Cluster, "pool haproxy@lb1 → :8080").await;
    let pci = s.get(&pool).await.unwrap().unwrap();
    assert_eq!(pci.attr("min_up"), Some(&json!(1)));
    assert_eq!(pci.attr("inferred"), Some(&json!(true)));
    assert!(pci.tags.contains(POOL_TAG));
    let backends = group_members(s, &pool).await.unwrap();
    let web_eps: BTreeSet<CiId> = [
        child(s, "web1", CiClass::ListeningEndpoint, "tcp/8080").await,
        child(s, "web2", CiClass::ListeningEndpoint, "tcp/8080").await,
        child(s, "web3", CiClass::ListeningEndpoint, "tcp/8080").await,
    ]
    .into();
    assert_eq!(backends.into_iter().collect::<BTreeSet<_>>(), web_eps);
    let haproxy = child(s, "lb1", CiClass::Process, "haproxy").await;
    let dep = rels_of(
        s,
        std::slice::from_ref(&haproxy),
        Direction::Out,
        &[RelType::DependsOn],
    )
    .await
    .unwrap();
    assert_eq!(dep.len(), 1);
    assert_eq!(
        (dep[0].to.clone(), dep[0].evidence[0].kind),
        (pool.clone(), EvidenceKind::Inferred)
    );
    // The single db connection is no pool.
    let clusters = find_all(
        s,
        &CiFilter {
            classes: vec![CiClass::Cluster],
            ..Default::default()
        },
        10,
    )
    .await
    .unwrap()
    .0;
    assert_eq!(clusters.len(), 1);

    // A manual min_up wins and survives re-inference.
    let mut o = Observation::new(Source::manual(), RunId::generate(), Scope::none());
    let mut rec = Record::new("g", CiClass::Cluster);
    rec.id = Some(pool.clone());
    o.push(rec.attr("min_up", 2));
    ingest(s, o).await;
    let r = recompute_services(s, &opts()).await.unwrap();
    assert!(!r.changed(), "{r:?}");
    let pci = s.get(&pool).await.unwrap().unwrap();
    assert_eq!(
        (pci.attr("min_up"), pci.attributes["min_up"].source.as_str()),
        (Some(&json!(2)), "manual")
    );

    // A backend whose connection closes leaves the pool; the manual value stays.
    let web3_ep = child(s, "web3", CiClass::ListeningEndpoint, "tcp/8080").await;
    s.close_relationship(
        &RelKey::new(RelType::ConnectsTo, haproxy.clone(), web3_ep.clone()),
        "manual",
    )
    .await
    .unwrap();
    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!(r.pool_edges_removed, 1, "{r:?}");
    assert_eq!(group_members(s, &pool).await.unwrap().len(), 2);
    assert_eq!(
        s.get(&pool).await.unwrap().unwrap().attr("min_up"),
        Some(&json!(2))
    );

    // Down to one backend: no pool any more; its edges close and it retires.
    let web2_ep = child(s, "web2", CiClass::ListeningEndpoint, "tcp/8080").await;
    s.close_relationship(
        &RelKey::new(RelType::ConnectsTo, haproxy.clone(), web2_ep),
        "manual",
    )
    .await
    .unwrap();
    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!(
        (r.pool_edges_removed, r.pools_retired),
        (3, 1),
        "two backends and the dependency: {r:?}"
    );
    assert_eq!(
        s.get(&pool).await.unwrap().unwrap().status,
        CiStatus::Retired
    );

    // The connections come back (next discovery run): the same pool returns.
    for h in [LB] {
        ingest(s, host_obs(&h, "run9")).await;
    }
    let r = recompute_services(s, &opts()).await.unwrap();
    assert_eq!(
        r.pools_created, 0,
        "the pool is found again, not re-created: {r:?}"
    );
    let pci = s.get(&pool).await.unwrap().unwrap();
    assert_eq!(pci.status, CiStatus::Active);
    assert_eq!(group_members(s, &pool).await.unwrap().len(), 3);
    assert_eq!(
        pci.attr("min_up"),
        Some(&json!(2)),
        "the manual override survived retirement"
    );
}

#[tokio::test]
async fn unresolved_entry_points_are_reported_and_stored() {
    let fx = fresh();
    let s: &dyn GraphStore = &fx.store;
    estate(s).await;
    let svc = define_service(
        s,
        "Broken",
        attrs(
            json!({"entry_points": ["nosuch.example.com:80", "lb1:9999", "ftp://lb1", "db1:5432"]}),
        ),
    )
    .await;
    let r = recompute_service(s, &svc, &opts()).await.unwrap();
    let eps: Vec<&str> = r
        .unresolved_entry_points
        .iter()
        .map(|u| u.entry_point.as_str())
        .collect();
    assert_eq!(
        eps,
        ["nosuch.example.com:80", "lb1:9999", "ftp://lb1"],
        "{r:?}"
    );
    assert!(
        r.unresolved_entry_points[0]
            .reason
            .contains("no active host"),
        "{r:?}"
    );
    assert!(
        r.unresolved_entry_points[1].reason.contains("port 9999"),
        "{r:?}"
    );
    let c = s.get(&svc).await.unwrap().unwrap();
    let stored = c
        .attr("unresolved_entry_points")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[1]["entry_point"], "lb1:9999");
    assert_eq!(members(s, &svc).await.len(), 2, "db1:5432 still resolved");
}

#[tokio::test]
async fn recomputing_twice_changes_nothing() {
    let fx = fresh();
    let s: &dyn GraphStore = &fx.store;
    estate(s).await;
    define_service(s, "Shop", attrs(json!({"entry_points": ["lb1:443"]}))).await;
    define_service(s, "Web", attrs(json!({"rule": {"tags": ["tier:web"]}}))).await;
    let first = recompute_services(s, &opts()).await.unwrap();
    assert!(first.changed());
    let stats = s.stats().await.unwrap();
    let second = recompute_services(s, &opts()).await.unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(s.stats().await.unwrap(), stats, "no writes, no history");
    let mut a = first.clone();
    let mut b = recompute_services(s, &opts()).await.unwrap();
    a.duration_ms = 0;
    b.duration_ms = 0;
    assert_eq!(
        b,
        MappingReport {
            services_mapped: a.services_mapped,
            ..Default::default()
        }
    );
}

#[test]
fn entry_points_parse() {
    let p = |s: &str| parse_entry_point(s);
    assert_eq!(
        p("Shop.Example.com:8443").unwrap(),
        EntryPoint {
            host: "shop.example.com".into(),
            port: 8443
        }
    );
    assert_eq!(p("https://shop.example.com/path?q=1").unwrap().port, 443);
    assert_eq!(
        p("http://shop.example.com.").unwrap(),
        EntryPoint {
            host: "shop.example.com".into(),
            port: 80
        }
    );
    assert_eq!(p("https://shop.example.com:8443/x").unwrap().port, 8443);
    assert_eq!(p("[2001:db8::1]:443").unwrap().host, "2001:db8::1");
    assert!(p("https://user:secret@shop.example.com")
        .unwrap_err()
        .to_string()
        .contains("credentials"));
    assert!(p("shop.example.com").is_err());
    assert!(p("shop:0").is_err());
    assert!(p("2001:db8::1").is_err());
    assert!(p("ftp://x").is_err());
}

#[test]
fn rules_parse_and_validate() {
    let r = ServiceRule::from_value(
        &json!({"classes": ["Host"], "namePattern": "^web", "attributes": {"role": "web"}}),
    )
    .unwrap();
    let f = r.filter().unwrap();
    assert_eq!(
        (f.classes, f.statuses),
        (vec![CiClass::Host], vec![CiStatus::Active])
    );
    assert!(
        ServiceRule::from_value(&json!({"class": ["Host"]})).is_err(),
        "unknown keys are typos"
    );
    assert!(ServiceRule::from_value(&json!({"namePattern": "("}))
        .unwrap()
        .filter()
        .is_err());
    assert!(
        ServiceRule::from_value(&json!({"classes": ["BusinessService"]}))
            .unwrap()
            .filter()
            .is_err()
    );
    assert!(ServiceRule::from_value(&json!({})).unwrap().is_empty());
}
