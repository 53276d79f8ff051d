//! Fixture estates with hand-computed answers, and property tests against a naive reference
//! written as plainly as possible.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::rel::{ImpactFlow, RelType};

use RelType::*;

fn e(from: &str, t: RelType, to: &str) -> GraphEdge {
    GraphEdge::new(from, t, to)
}

fn ids(v: &[&str]) -> Vec<CiId> {
    v.iter().map(|s| CiId::from(*s)).collect()
}

fn graph(edges: Vec<GraphEdge>, services: &[&str], min_up: &[(&str, u32)]) -> ImpactGraph {
    let mut classes: HashMap<CiId, CiClass> = edges
        .iter()
        .flat_map(|e| [e.from.clone(), e.to.clone()])
        .map(|i| (i, CiClass::Process))
        .collect();
    for s in services {
        classes.insert(CiId::from(*s), CiClass::BusinessService);
    }
    for (g, _) in min_up {
        classes.insert(CiId::from(*g), CiClass::Cluster);
    }
    let rules = min_up
        .iter()
        .map(|(g, k)| {
            (
                CiId::from(*g),
                GroupRule {
                    min_up: Some(*k),
                    at_risk_up: None,
                },
            )
        })
        .collect();
    ImpactGraph {
        edges,
        classes,
        rules,
    }
}

fn sev(r: &ImpactReport, service: &str) -> Option<Severity> {
    r.services
        .iter()
        .find(|s| s.service.as_str() == service)
        .map(|s| s.severity)
}

fn run(g: &ImpactGraph, failing: &[&str]) -> ImpactReport {
    evaluate(&ids(failing), g, &ImpactOptions::default())
}

/// Shop and billing both use one database; the shop also sits behind a 1-of-3 web pool whose
/// backends run on three VMs.
fn shop() -> ImpactGraph {
    let mut v = vec![
        e("lb", MemberOf, "svc_shop"),
        e("lb", RunsOn, "lb_host"),
        e("lb", DependsOn, "pool"),
        e("billing", MemberOf, "svc_billing"),
        e("billing", ConnectsTo, "ep_db"),
        e("db", ListensOn, "ep_db"),
        e("db", RunsOn, "db_host"),
    ];
    for i in 1..=3 {
        let (ep, web, h) = (format!("ep_b{i}"), format!("web{i}"), format!("h{i}"));
        v.push(e("lb", ConnectsTo, &ep));
        v.push(e(&ep, PartOf, "pool"));
        v.push(e(&web, ListensOn, &ep));
        v.push(e(&web, RunsOn, &h));
        v.push(e(&web, ConnectsTo, "ep_db"));
    }
    graph(v, &["svc_shop", "svc_billing"], &[("pool", 1)])
}

#[test]
fn shared_database_takes_down_every_service_using_it() {
    let r = run(&shop(), &["db_host"]);
    assert_eq!(sev(&r, "svc_billing"), Some(Severity::Down));
    assert_eq!(
        sev(&r, "svc_shop"),
        Some(Severity::Down),
        "all three backends use the database"
    );
    let billing = r
        .services
        .iter()
        .find(|s| s.service.as_str() == "svc_billing")
        .unwrap();
    assert_eq!(
        billing.paths,
        vec![ids(&["db_host", "db", "ep_db", "billing", "svc_billing"])]
    );
    assert_eq!(billing.depth, 4);
    assert_eq!(billing.breadth, 4);
    assert_eq!(
        r.services[0].service.as_str(),
        "svc_billing",
        "nearest first among equally severe"
    );
    let shop = &r.services[1];
    assert_eq!(shop.paths.len(), 3, "one chain through each backend");
    assert_eq!(
        shop.paths[0],
        ids(&["db_host", "db", "ep_db", "web1", "ep_b1", "pool", "lb", "svc_shop"])
    );
    assert_eq!(
        r.groups,
        vec![GroupImpact {
            group: "pool".into(),
            class: Some(CiClass::Cluster),
            members: 3,
            down: 3,
            min_up: 1,
            at_risk_up: 1,
            severity: Severity::Down
        }]
    );
}

#[test]
fn one_of_three_pool_degrades_then_is_at_risk_then_down() {
    let g = shop();
    assert_eq!(sev(&run(&g, &["h1"]), "svc_shop"), Some(Severity::Degraded));
    assert_eq!(
        sev(&run(&g, &["h1", "h3"]), "svc_shop"),
        Some(Severity::AtRisk)
    );
    assert_eq!(
        sev(&run(&g, &["h1", "h2", "h3"]), "svc_shop"),
        Some(Severity::Down)
    );
    let r = run(&g, &["web2"]);
    // The load balancer's direct CONNECTS_TO the backend goes through the pool.
    let lb = r.affected.iter().find(|a| a.id.as_str() == "lb").unwrap();
    assert_eq!((lb.depth, lb.severity), (3, Severity::Degraded));
    assert_eq!(
        r.services[0].paths,
        vec![ids(&["web2", "ep_b2", "pool", "lb", "svc_shop"])]
    );
    assert_eq!(sev(&r, "svc_billing"), None);
    // The pool's own rule is overridable: 3-of-3 makes one backend fatal.
    let mut strict = shop();
    strict.rules.insert(
        "pool".into(),
        GroupRule {
            min_up: Some(3),
            at_risk_up: None,
        },
    );
    assert_eq!(
        sev(&run(&strict, &["h1"]), "svc_shop"),
        Some(Severity::Down)
    );
    // Without a declared rule every member is required.
    let mut all = shop();
    all.rules.clear();
    assert_eq!(sev(&run(&all, &["h1"]), "svc_shop"), Some(Severity::Down));
}

#[test]
fn observed_states_combine_with_redundancy() {
    let g = shop();
    let obs = |v: &[(&str, Severity)]| {
        let v: Vec<(CiId, Severity)> = v.iter().map(|(i, s)| (CiId::new(*i), *s)).collect();
        evaluate_observed(&v, &g, &ImpactOptions::default())
    };
    // A DEGRADED database host degrades both services that use it.
    let r = obs(&[("db_host", Severity::Degraded)]);
    assert_eq!(sev(&r, "svc_shop"), Some(Severity::Degraded));
    assert_eq!(sev(&r, "svc_billing"), Some(Severity::Degraded));
    // One backend host DOWN and another DEGRADED: the pool still has a spare, so DEGRADED.
    let r = obs(&[("h1", Severity::Down), ("h2", Severity::Degraded)]);
    assert_eq!(sev(&r, "svc_shop"), Some(Severity::Degraded));
    assert_eq!(sev(&r, "svc_billing"), None);
    // Two of three DOWN is AT_RISK (1-of-3 pool); all three DOWN is DOWN, whatever else is
    // merely DEGRADED.
    let r = obs(&[("h1", Severity::Down), ("h3", Severity::Down)]);
    assert_eq!(sev(&r, "svc_shop"), Some(Severity::AtRisk));
    let r = obs(&[
        ("h1", Severity::Down),
        ("h2", Severity::Down),
        ("h3", Severity::Down),
        ("db_host", Severity::Degraded),
    ]);
    assert_eq!(sev(&r, "svc_shop"), Some(Severity::Down));
    assert_eq!(sev(&r, "svc_billing"), Some(Severity::Degraded));
    // An observed CI is made worse by its own dependencies: the database DEGRADED, its host
    // DOWN, so billing is DOWN through it.
    let r = obs(&[("db", Severity::Degraded), ("db_host", Severity::Down)]);
    assert_eq!(sev(&r, "svc_billing"), Some(Severity::Down));
    assert_eq!(r.failing, ids(&["db", "db_host"]));
    // Observed twice: the worse state wins; all DOWN is exactly `evaluate`.
    let r = obs(&[("db_host", Severity::Degraded), ("db_host", Severity::Down)]);
    assert_eq!(sev(&r, "svc_billing"), Some(Severity::Down));
    assert_eq!(
        obs(&[("h1", Severity::Down), ("db", Severity::Down)]),
        run(&g, &["h1", "db"])
    );
}

#[test]
fn two_of_three_quorum_is_at_risk_after_one_and_down_after_two() {
    let g = graph(
        vec![
            e("n1", PartOf, "quorum"),
            e("n2", PartOf, "quorum"),
            e("n3", PartOf, "quorum"),
            e("app", DependsOn, "quorum"),
            e("app", MemberOf, "svc"),
        ],
        &["svc"],
        &[("quorum", 2)],
    );
    assert_eq!(sev(&run(&g, &["n2"]), "svc"), Some(Severity::AtRisk));
    assert_eq!(sev(&run(&g, &["n1", "n3"]), "svc"), Some(Severity::Down));
    let r = run(&g, &["n1"]);
    assert_eq!(r.groups[0].down, 1);
    assert_eq!(r.groups[0].severity, Severity::AtRisk);
}

#[test]
fn cycles_terminate_and_do_not_keep_themselves_down() {
    let g = graph(
        vec![
            e("a", DependsOn, "b"),
            e("b", DependsOn, "c"),
            e("c", DependsOn, "a"),
            e("a", MemberOf, "svc"),
            e("x", LinkedTo, "y"),
            e("y", LinkedTo, "x"),
        ],
        &["svc"],
        &[],
    );
    let r = run(&g, &["c"]);
    assert_eq!(sev(&r, "svc"), Some(Severity::Down));
    assert_eq!(r.services[0].paths, vec![ids(&["c", "b", "a", "svc"])]);
    assert!(run(&g, &["x"]).services.is_empty());
    // A degraded state circulating in a cycle stays degraded (1 of 3 lost, 2 spare).
    let g = graph(
        vec![
            e("m1", PartOf, "grp"),
            e("m2", PartOf, "grp"),
            e("m3", PartOf, "grp"),
            e("p", DependsOn, "grp"),
            e("q", DependsOn, "p"),
            e("p", DependsOn, "q"),
            e("q", MemberOf, "svc"),
        ],
        &["svc"],
        &[("grp", 1)],
    );
    assert_eq!(sev(&run(&g, &["m1"]), "svc"), Some(Severity::Degraded));
}

#[test]
fn multi_failure_what_if_combines_failures() {
    let g = shop();
    // One backend host and the billing process: shop degraded, billing down.
    let r = run(&g, &["h2", "billing"]);
    assert_eq!(sev(&r, "svc_billing"), Some(Severity::Down));
    assert_eq!(sev(&r, "svc_shop"), Some(Severity::Degraded));
    assert_eq!(r.failing, ids(&["billing", "h2"]));
    // Worst first.
    assert_eq!(
        r.services.iter().map(|s| s.severity).collect::<Vec<_>>(),
        vec![Severity::Down, Severity::Degraded]
    );
    let by_class = r.affected_by_class();
    assert!(by_class
        .iter()
        .any(|(c, n)| *c == Some(CiClass::BusinessService) && *n == 2));
}

#[test]
fn single_points_of_failure_respect_redundancy() {
    let mut g = shop();
    // All three web VMs run on one hypervisor.
    for i in 1..=3 {
        g.edges.push(e(&format!("h{i}"), RunsOn, "hv1"));
    }
    let spof = single_points_of_failure(&g, &"svc_shop".into());
    let got: Vec<(&str, u32)> = spof.iter().map(|s| (s.id.as_str(), s.depth)).collect();
    assert_eq!(
        got,
        vec![
            ("lb", 1),
            ("lb_host", 2),
            ("ep_db", 5),
            ("db", 6),
            ("hv1", 6),
            ("db_host", 7)
        ]
    );
    let hv = spof.iter().find(|s| s.id.as_str() == "hv1").unwrap();
    assert_eq!(hv.path.first().map(CiId::as_str), Some("hv1"));
    assert_eq!(hv.path.last().map(CiId::as_str), Some("svc_shop"));
    // Spread the VMs over two hypervisors: hv1 now carries only two of three backends.
    g.edges
        .retain(|x| x.from.as_str() != "h3" || x.rel_type != RunsOn);
    g.edges.push(e("h3", RunsOn, "hv2"));
    let spof = single_points_of_failure(&g, &"svc_shop".into());
    assert!(spof
        .iter()
        .all(|s| s.id.as_str() != "hv1" && s.id.as_str() != "hv2"));
}

#[test]
fn failure_chains_between_two_cis() {
    let g = shop();
    let c = failure_chains(&g, &"db_host".into(), &"billing".into(), 10, 5);
    assert_eq!(c.chains, vec![ids(&["db_host", "db", "ep_db", "billing"])]);
    assert_eq!(
        c.hops[0],
        vec![
            e("db", RunsOn, "db_host"),
            e("db", ListensOn, "ep_db"),
            e("billing", ConnectsTo, "ep_db")
        ]
    );
    assert!(
        failure_chains(&g, &"billing".into(), &"db_host".into(), 10, 5)
            .chains
            .is_empty()
    );
    assert!(
        failure_chains(&g, &"db_host".into(), &"billing".into(), 2, 5)
            .chains
            .is_empty(),
        "beyond the depth"
    );
}

// ---------------------------------------------------------------------------------------------
// The naive reference.

/// "Failure of a affects b" pairs with the relationships behind them, and each group's members.
type NaivePairs = (
    BTreeMap<(CiId, CiId), Vec<GraphEdge>>,
    BTreeMap<CiId, BTreeSet<CiId>>,
);

/// Pairs "failure of a affects b" with the relationships behind them, redundancy applied.
fn naive_pairs(g: &ImpactGraph) -> NaivePairs {
    let mut pairs: BTreeMap<(CiId, CiId), Vec<GraphEdge>> = BTreeMap::new();
    let mut members: BTreeMap<CiId, BTreeSet<CiId>> = BTreeMap::new();
    for x in &g.edges {
        if x.from == x.to {
            continue;
        }
        if x.rel_type == PartOf {
            members
                .entry(x.to.clone())
                .or_default()
                .insert(x.from.clone());
        }
        let flow = x.rel_type.impact_flow();
        if flow == ImpactFlow::FromToTo || flow == ImpactFlow::Both {
            pairs
                .entry((x.from.clone(), x.to.clone()))
                .or_default()
                .push(x.clone());
        }
        if flow == ImpactFlow::ToToFrom || flow == ImpactFlow::Both {
            pairs
                .entry((x.to.clone(), x.from.clone()))
                .or_default()
                .push(x.clone());
        }
    }
    let all = pairs.clone();
    pairs.retain(|(a, b), rels| {
        let member_pair = members.get(b).is_some_and(|m| m.contains(a));
        let all_dependencies = rels
            .iter()
            .all(|r| matches!(r.rel_type, RunsOn | ConnectsTo | DependsOn));
        let via_group = members.iter().any(|(grp, ms)| {
            grp != b && ms.contains(a) && all.contains_key(&(grp.clone(), b.clone()))
        });
        member_pair || !all_dependencies || !via_group
    });
    (pairs, members)
}

fn naive(failing: &[CiId], g: &ImpactGraph, opts: &ImpactOptions) -> ImpactReport {
    let observed: Vec<(CiId, u8)> = failing.iter().map(|f| (f.clone(), 3)).collect();
    naive_observed(&observed, g, opts)
}

/// Observed states: 1 DEGRADED, 2 AT_RISK, 3 DOWN.
fn naive_observed(observed: &[(CiId, u8)], g: &ImpactGraph, opts: &ImpactOptions) -> ImpactReport {
    let mut floor: BTreeMap<CiId, u8> = BTreeMap::new();
    for (id, s) in observed {
        let f = floor.entry(id.clone()).or_default();
        *f = (*f).max(*s);
    }
    let failing: Vec<CiId> = floor.keys().cloned().collect();
    let failing = &failing[..];
    let (pairs, members) = naive_pairs(g);
    let mut dist: BTreeMap<CiId, u32> = failing.iter().map(|f| (f.clone(), 0)).collect();
    for _ in 0..=pairs.len() {
        for (a, b) in pairs.keys() {
            if let Some(&da) = dist.get(a) {
                if da < opts.max_depth && dist.get(b).is_none_or(|&db| da + 1 < db) {
                    dist.insert(b.clone(), da + 1);
                }
            }
        }
    }
    // States 0 OK, 1 DEGRADED, 2 AT_RISK, 3 DOWN; Kleene iteration up from the observed floor.
    let mut st: BTreeMap<CiId, u8> = dist
        .keys()
        .map(|k| (k.clone(), floor.get(k).copied().unwrap_or(0)))
        .collect();
    loop {
        let mut next = st.clone();
        for v in dist.keys() {
            let ms = members.get(v).cloned().unwrap_or_default();
            let mut s = 0u8;
            for (a, b) in pairs.keys() {
                if b == v && !ms.contains(a) {
                    s = s.max(*st.get(a).unwrap_or(&0));
                }
            }
            if !ms.is_empty() {
                let n = ms.len() as u32;
                let rule = g.rules.get(v).copied().unwrap_or_default();
                let k = rule.min_up.unwrap_or(n).clamp(1, n);
                let a = rule.at_risk_up.unwrap_or(k).min(n);
                let down = ms.iter().filter(|m| st.get(*m) == Some(&3)).count() as u32;
                let up = n - down;
                let derived = if up < k {
                    3
                } else if down > 0 && up <= a {
                    2
                } else if down > 0 {
                    1
                } else {
                    0
                };
                let mut inherited = ms
                    .iter()
                    .map(|m| (*st.get(m).unwrap_or(&0)).min(2))
                    .max()
                    .unwrap_or(0);
                if up > a {
                    inherited = inherited.min(1);
                }
                s = s.max(derived).max(inherited);
            }
            next.insert(v.clone(), s.max(floor.get(v).copied().unwrap_or(0)));
        }
        if next == st {
            break;
        }
        st = next;
    }
    let to_sev = |s: u8| match s {
        3 => Severity::Down,
        2 => Severity::AtRisk,
        _ => Severity::Degraded,
    };
    let mut affected: Vec<AffectedCi> = dist
        .iter()
        .filter(|(id, d)| **d > 0 && st[*id] > 0)
        .map(|(id, d)| AffectedCi {
            id: id.clone(),
            class: g.classes.get(id).copied(),
            depth: *d,
            severity: to_sev(st[id]),
        })
        .collect();
    affected.sort_by(|a, b| (a.depth, &a.id).cmp(&(b.depth, &b.id)));
    // Every simple path from the failing CIs.
    let mut all_paths: Vec<Vec<CiId>> = Vec::new();
    fn dfs(
        p: &mut Vec<CiId>,
        pairs: &BTreeMap<(CiId, CiId), Vec<GraphEdge>>,
        out: &mut Vec<Vec<CiId>>,
    ) {
        out.push(p.clone());
        let last = p.last().cloned().unwrap();
        for (a, b) in pairs.keys() {
            if *a == last && !p.contains(b) {
                p.push(b.clone());
                dfs(p, pairs, out);
                p.pop();
            }
        }
    }
    let mut starts = failing.to_vec();
    starts.sort();
    starts.dedup();
    for s in &starts {
        dfs(&mut vec![s.clone()], &pairs, &mut all_paths);
    }
    let mut services = Vec::new();
    for (id, d) in &dist {
        if g.classes.get(id) != Some(&CiClass::BusinessService) || st[id] == 0 {
            continue;
        }
        let mut paths: Vec<Vec<CiId>> = all_paths
            .iter()
            .filter(|p| p.last() == Some(id) && p.len() as u32 == d + 1)
            .cloned()
            .collect();
        paths.sort();
        paths.dedup();
        let on: BTreeSet<CiId> = paths.iter().flatten().cloned().collect();
        let mut edges: BTreeSet<GraphEdge> = BTreeSet::new();
        for p in &paths {
            for w in p.windows(2) {
                let rels = &pairs[&(w[0].clone(), w[1].clone())];
                let why = rels
                    .iter()
                    .filter(|r| r.rel_type == PartOf)
                    .min()
                    .or_else(|| rels.iter().min())
                    .unwrap();
                edges.insert(why.clone());
            }
        }
        let truncated = paths.len() > opts.max_paths_per_service;
        paths.truncate(opts.max_paths_per_service);
        services.push(ServiceImpact {
            service: id.clone(),
            severity: to_sev(st[id]),
            depth: *d,
            paths,
            paths_truncated: truncated,
            breadth: on.len() as u32 - 1,
            path_edges: edges.into_iter().collect(),
        });
    }
    services
        .sort_by(|a, b| (a.severity, a.depth, &a.service).cmp(&(b.severity, b.depth, &b.service)));
    let mut groups = Vec::new();
    for (grp, ms) in &members {
        if !dist.contains_key(grp) || st[grp] == 0 {
            continue;
        }
        let n = ms.len() as u32;
        groups.push(GroupImpact {
            group: grp.clone(),
            class: g.classes.get(grp).copied(),
            members: n,
            down: ms.iter().filter(|m| st.get(*m) == Some(&3)).count() as u32,
            min_up: g
                .rules
                .get(grp)
                .and_then(|r| r.min_up)
                .unwrap_or(n)
                .clamp(1, n),
            at_risk_up: {
                let r = g.rules.get(grp).copied().unwrap_or_default();
                r.at_risk_up
                    .unwrap_or_else(|| r.min_up.unwrap_or(n).clamp(1, n))
                    .min(n)
            },
            severity: to_sev(st[grp]),
        });
    }
    ImpactReport {
        failing: starts,
        affected,
        services,
        groups,
    }
}

/// Naive single points of failure: evaluate every single failure in full.
fn naive_spof(g: &ImpactGraph, service: &CiId) -> Vec<(CiId, u32)> {
    let (pairs, members) = naive_pairs(g);
    let nodes: BTreeSet<CiId> = pairs
        .keys()
        .flat_map(|(a, b)| [a.clone(), b.clone()])
        .collect();
    let opts = ImpactOptions {
        max_depth: nodes.len() as u32 + 1,
        max_paths_per_service: 1,
    };
    let mut out = Vec::new();
    for c in &nodes {
        if c == service || members.contains_key(c) {
            continue;
        }
        let r = naive(std::slice::from_ref(c), g, &opts);
        if r.services
            .iter()
            .any(|s| &s.service == service && s.severity == Severity::Down)
        {
            // Upstream distance = downstream distance from c to the service.
            out.push((
                c.clone(),
                r.services
                    .iter()
                    .find(|s| &s.service == service)
                    .unwrap()
                    .depth,
            ));
        }
    }
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out
}

type Case = (ImpactGraph, Vec<CiId>, u32, usize);

fn random_graph() -> impl Strategy<Value = Case> {
    let n = 8usize;
    (
        prop::collection::vec((0..n, 0..n, 0..RelType::ALL.len()), 0..20),
        prop::collection::vec(0..n, 1..4),
        prop::collection::vec(0..4u8, n),
        prop::collection::vec(0..4u32, n),
        prop::collection::vec(0..5u32, n),
        1u32..7,
        1usize..4,
    )
        .prop_map(move |(es, fail, kinds, mins, risks, depth, cap)| {
            let name = |i: usize| CiId::new(format!("c{i}"));
            let edges = es
                .into_iter()
                .map(|(a, b, t)| GraphEdge {
                    from: name(a),
                    rel_type: RelType::ALL[t],
                    to: name(b),
                })
                .collect();
            let classes = kinds
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    (
                        name(i),
                        if *k == 0 {
                            CiClass::BusinessService
                        } else {
                            CiClass::Host
                        },
                    )
                })
                .collect();
            // at_risk_up: 0–2 as given, 3–4 = not declared
            let rules = mins
                .iter()
                .zip(&risks)
                .enumerate()
                .filter(|(_, (m, r))| **m > 0 || **r < 3)
                .map(|(i, (m, r))| {
                    (
                        name(i),
                        GroupRule {
                            min_up: Some(*m).filter(|m| *m > 0),
                            at_risk_up: Some(*r).filter(|r| *r < 3),
                        },
                    )
                })
                .collect();
            (
                ImpactGraph {
                    edges,
                    classes,
                    rules,
                },
                fail.into_iter().map(name).collect(),
                depth,
                cap,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn engine_matches_naive_reference((g, failing, depth, cap) in random_graph()) {
        let opts = ImpactOptions { max_depth: depth, max_paths_per_service: cap };
        let fast = evaluate(&failing, &g, &opts);
        let slow = naive(&failing, &g, &opts);
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn observed_states_match_naive_reference(
        (g, failing, depth, cap) in random_graph(),
        states in prop::collection::vec(1u8..4, 4),
    ) {
        let opts = ImpactOptions { max_depth: depth, max_paths_per_service: cap };
        let observed: Vec<(CiId, u8)> =
            failing.iter().cloned().zip(states.iter().copied().cycle()).collect();
        let sev = |s: u8| match s {
            3 => Severity::Down,
            2 => Severity::AtRisk,
            _ => Severity::Degraded,
        };
        let typed: Vec<(CiId, Severity)> =
            observed.iter().map(|(id, s)| (id.clone(), sev(*s))).collect();
        prop_assert_eq!(evaluate_observed(&typed, &g, &opts), naive_observed(&observed, &g, &opts));
    }

    #[test]
    fn input_order_does_not_matter((g, failing, depth, cap) in random_graph()) {
        let opts = ImpactOptions { max_depth: depth, max_paths_per_service: cap };
        let mut rev = g.clone();
        rev.edges.reverse();
        let mut f2 = failing.clone();
        f2.reverse();
        prop_assert_eq!(evaluate(&failing, &g, &opts), evaluate(&f2, &rev, &opts));
    }

    #[test]
    fn spof_matches_naive_reference((g, _f, _d, _c) in random_graph()) {
        let services: Vec<CiId> = g.classes.iter().filter(|(_, c)| **c == CiClass::BusinessService).map(|(i, _)| i.clone()).collect();
        for s in services {
            let fast = single_points_of_failure(&g, &s);
            for x in &fast {
                prop_assert_eq!(x.path.first(), Some(&x.id));
                prop_assert_eq!(x.path.last(), Some(&s));
            }
            let fast: Vec<(CiId, u32)> = fast.into_iter().map(|x| (x.id, x.depth)).collect();
            prop_assert_eq!(fast, naive_spof(&g, &s));
        }
    }
}

/// Node numbers follow id order even where ids share their first 16 bytes (the compile sort
/// compares a 16-byte key first), and a prefix sorts before its extensions.
#[test]
fn id_order_holds_for_long_shared_prefixes() {
    let p = "ci_0123456789abcdef_";
    let names = [
        format!("{p}b"),
        format!("{p}a"),
        p.to_string(),
        "ci_0".to_string(),
        format!("{p}ab"),
        "ci_0123456789abcdeF".to_string(),
    ];
    let mut edges: Vec<GraphEdge> = names.iter().map(|n| e(n, RunsOn, "h")).collect();
    edges.reverse();
    let g = graph(edges, &[], &[]);
    let r = run(&g, &["h"]);
    let got: Vec<&str> = r.affected.iter().map(|a| a.id.as_str()).collect();
    let mut want: Vec<&str> = names.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(got, want);
}
