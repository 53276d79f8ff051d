//! Several embedded stores on one SQLite file — what a running `cmdb serve` and a `cmdb import`
//! (or any other CLI writer or reader) are to each other. Each keeps an in-memory adjacency
//! index; whoever wrote, every store must answer traversals and impact from the committed
//! graph, the same as a store opened afresh.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use cmdb_model::{
    CiClass, CiId, EvidenceKind, Observation, Record, RelKey, RelType, RunId, Scope, Source,
};
use cmdb_store::{
    conformance, CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions,
    PageRequest, TraverseDirection, TraverseQuery,
};

fn open(path: &Path) -> EmbeddedStore {
    EmbeddedStore::open(path, EmbeddedOptions::default()).expect("open")
}

fn hosts_obs(run: &str, names: &[String], edges: &[(usize, usize)]) -> Observation {
    let mut o = Observation::new(Source::new("import"), RunId::new(run), Scope::none());
    for n in names {
        o.push(
            Record::new(n.clone(), CiClass::Host)
                .name(n.clone())
                .ident("hostname", n.clone()),
        );
    }
    for &(a, b) in edges {
        o.relate(
            RelType::DependsOn,
            &names[a],
            &names[b],
            EvidenceKind::Config,
            1.0,
        );
    }
    o
}

async fn all_ids(s: &dyn GraphStore) -> Vec<CiId> {
    s.find(
        &CiFilter::default(),
        CiOrder::default(),
        &PageRequest::first(100_000),
    )
    .await
    .unwrap()
    .items
    .into_iter()
    .map(|(_, c)| c.id)
    .collect()
}

async fn by_name(s: &dyn GraphStore, name: &str) -> CiId {
    let filter = CiFilter {
        name: Some((cmdb_store::NameMatch::Equals, name.into())),
        ..Default::default()
    };
    s.find(&filter, CiOrder::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .items[0]
        .1
        .id
        .clone()
}

/// Everything the adjacency index answers, for every CI: reachability both ways and the
/// impact graph (edges and classes).
async fn answers(s: &dyn GraphStore, ids: &[CiId]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for id in ids {
        for dir in [TraverseDirection::Downstream, TraverseDirection::Upstream] {
            let mut reached: Vec<String> = s
                .traverse(
                    std::slice::from_ref(id),
                    &TraverseQuery {
                        direction: dir,
                        max_depth: 10,
                        types: vec![],
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|r| format!("{}@{}", r.id, r.depth))
                .collect();
            reached.sort();
            out.insert(format!("{id} {dir:?}: {reached:?}"));
        }
        let mut g = s.impact_graph(std::slice::from_ref(id), 10).await.unwrap();
        // Edge order follows the index's insertion order; the set is what must agree.
        g.edges.sort();
        let mut classes: Vec<String> = g.classes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        classes.sort();
        out.insert(format!("{id} impact: {:?} {classes:?}", g.edges));
    }
    out
}

/// `a` and `b` answer like a store opened now on the same file.
async fn agree(path: &Path, a: &EmbeddedStore, b: &EmbeddedStore, step: &str) {
    let fresh = open(path);
    let ids = all_ids(&fresh).await;
    let truth = answers(&fresh, &ids).await;
    assert_eq!(
        answers(a, &ids).await,
        truth,
        "{step}: the first store answers from a stale graph"
    );
    assert_eq!(
        answers(b, &ids).await,
        truth,
        "{step}: the second store answers from a stale graph"
    );
    for s in [a, b, &fresh] {
        let r = s.check_integrity().unwrap();
        assert!(r.problems.is_empty(), "{step}: {:?}", r.problems);
    }
    fresh.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_on_a_file_sees_every_writers_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmdb.sqlite");
    let (a, b) = (open(&path), open(&path));
    let names: Vec<String> = (0..6).map(|i| format!("h{i}")).collect();

    // b creates a chain; a (which loaded an empty graph) must see it.
    b.ingest(
        hosts_obs("r1", &names, &[(0, 1), (1, 2), (2, 3), (3, 4)]),
        &IngestOptions::default(),
    )
    .await
    .unwrap();
    agree(&path, &a, &b, "after b's ingest").await;
    let (h1, h2, h3) = (
        by_name(&a, "h1").await,
        by_name(&a, "h2").await,
        by_name(&a, "h3").await,
    );

    // a closes one edge; b must stop following it.
    a.close_relationship(
        &RelKey::new(RelType::DependsOn, h1.clone(), h2.clone()),
        "manual",
    )
    .await
    .unwrap();
    agree(&path, &a, &b, "after a closed an edge").await;

    // b retires a CI (its edges close); a adds edges.
    b.retire(&h3, "manual").await.unwrap();
    a.ingest(
        hosts_obs("r2", &names, &[(5, 0), (4, 5)]),
        &IngestOptions::default(),
    )
    .await
    .unwrap();
    agree(&path, &a, &b, "after b retired and a ingested").await;

    // Placeholders merging into discovered CIs (many edges re-pointed at once), by b.
    conformance::ingest_app_then_db(&b).await;
    agree(&path, &a, &b, "after b's merges").await;

    // a deletes a CI.
    a.delete(&h2, "manual").await.unwrap();
    agree(&path, &a, &b, "after a deleted a CI").await;

    // A whole-graph load (what `cmdb migrate` does) is not listed CI by CI: readers reload.
    let snap = cmdb_store::neo4j::read_snapshot(&a, 100).await.unwrap();
    let other = dir.path().join("other.sqlite");
    let (c, d) = (open(&other), open(&other));
    c.load_snapshot(&snap).unwrap();
    agree(&other, &c, &d, "after a snapshot load").await;
}

/// Two stores writing at once (SQLite serialises them) while a third reads: at the end every
/// index equals the committed graph.
#[test]
fn concurrent_writers_keep_every_index_true() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmdb.sqlite");
    let stores: Vec<Arc<EmbeddedStore>> = (0..3).map(|_| Arc::new(open(&path))).collect();
    let names: Arc<Vec<String>> = Arc::new((0..40).map(|i| format!("n{i}")).collect());
    let mut threads = Vec::new();
    for (w, s) in stores.iter().take(2).enumerate() {
        let (s, names) = (s.clone(), names.clone());
        threads.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(w as u64);
            for round in 0..60 {
                let edges: Vec<(usize, usize)> = (0..4)
                    .map(|_| (rng.gen_range(0..40), rng.gen_range(0..40)))
                    .filter(|(x, y)| x != y)
                    .collect();
                rt.block_on(s.ingest(
                    hosts_obs(&format!("w{w}r{round}"), &names, &edges),
                    &IngestOptions::default(),
                ))
                .unwrap();
                if round % 3 == 0 {
                    // Close an edge the other writer may have made.
                    let ids = rt.block_on(all_ids(&*s));
                    if ids.len() > 1 {
                        let (x, y) = (
                            ids[rng.gen_range(0..ids.len())].clone(),
                            ids[rng.gen_range(0..ids.len())].clone(),
                        );
                        let _ = rt.block_on(
                            s.close_relationship(&RelKey::new(RelType::DependsOn, x, y), "manual"),
                        );
                    }
                }
            }
        }));
    }
    {
        let s = stores[2].clone();
        threads.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            for _ in 0..200 {
                let ids = rt.block_on(all_ids(&*s));
                if let Some(id) = ids.first() {
                    rt.block_on(s.impact_graph(std::slice::from_ref(id), 10))
                        .unwrap();
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fresh = open(&path);
        let ids = all_ids(&fresh).await;
        let truth = answers(&fresh, &ids).await;
        for (i, s) in stores.iter().enumerate() {
            let mine = answers(&**s, &ids).await;
            let diff: Vec<_> = mine.symmetric_difference(&truth).collect();
            assert!(
                diff.is_empty(),
                "store {i} disagrees with the file: {diff:#?}"
            );
            let r = s.check_integrity().unwrap();
            assert!(r.problems.is_empty(), "store {i}: {:?}", r.problems);
        }
    });
}

/// A read-only snapshot sees the file as it was when opened, whoever writes afterwards (a
/// consistent `cmdb export` while a server writes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_reads_one_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmdb.sqlite");
    let w = open(&path);
    let names: Vec<String> = (0..3).map(|i| format!("s{i}")).collect();
    w.ingest(
        hosts_obs("r1", &names, &[(0, 1)]),
        &IngestOptions::default(),
    )
    .await
    .unwrap();
    let snap = EmbeddedStore::open(
        &path,
        EmbeddedOptions {
            snapshot: true,
            ..Default::default()
        },
    )
    .unwrap();
    let before = (
        snap.stats().await.unwrap().cis,
        answers(&snap, &all_ids(&snap).await).await,
    );
    let more: Vec<String> = (0..6).map(|i| format!("s{i}")).collect();
    w.ingest(
        hosts_obs("r2", &more, &[(1, 2), (3, 4), (4, 5)]),
        &IngestOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(w.stats().await.unwrap().cis, 6);
    let ids_then = all_ids(&snap).await;
    assert_eq!(
        (
            snap.stats().await.unwrap().cis,
            answers(&snap, &ids_then).await
        ),
        before,
        "the snapshot moved"
    );
    let e = snap
        .ingest(hosts_obs("r3", &names, &[]), &IngestOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT", "{e}");
    snap.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmdb.sqlite");
    let s = open(&path);
    s.ingest(
        hosts_obs("r1", &["p1".to_string()], &[]),
        &IngestOptions::default(),
    )
    .await
    .unwrap();
    for f in ["cmdb.sqlite", "cmdb.sqlite-wal", "cmdb.sqlite-shm"] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} is {mode:o}");
    }
    s.close().await.unwrap();
}
