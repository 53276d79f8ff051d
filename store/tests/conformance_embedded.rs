//! The conformance suite on the embedded store, plus properties only a fresh pair of stores
//! can show (scan order independence).

use cmdb_store::{conformance, EmbeddedOptions, EmbeddedStore};

fn fresh() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default())
        .expect("open");
    (dir, store)
}

/// The store plus the directory that must outlive it.
struct Fixture(#[allow(dead_code)] tempfile::TempDir, EmbeddedStore);

impl std::ops::Deref for Fixture {
    type Target = EmbeddedStore;
    fn deref(&self) -> &EmbeddedStore {
        &self.1
    }
}

fn make() -> Fixture {
    let (d, s) = fresh();
    Fixture(d, s)
}

mod suite {
    use super::*;
    cmdb_store::conformance_tests!(make());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_order_does_not_change_the_graph() {
    let (_a, s1) = fresh();
    let (_b, s2) = fresh();
    conformance::ingest_app_then_db(&s1).await;
    conformance::ingest_db_then_app(&s2).await;
    assert_eq!(
        conformance::canonical_graph(&s1).await,
        conformance::canonical_graph(&s2).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_everything() {
    use cmdb_store::GraphStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmdb.sqlite");
    {
        let s = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
        conformance::ingest_app_then_db(&s).await;
        s.close().await.unwrap();
        assert!(matches!(
            s.stats().await,
            Err(cmdb_store::StoreError::Closed)
        ));
    }
    let s = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    let g = conformance::canonical_graph(&s).await;
    let (_c, fresh_store) = fresh();
    conformance::ingest_app_then_db(&fresh_store).await;
    assert_eq!(g, conformance::canonical_graph(&fresh_store).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_round_trips_into_an_empty_store() {
    use cmdb_store::GraphStore;
    let (_a, src) = fresh();
    conformance::ingest_app_then_db(&src).await;
    let snap = cmdb_store::neo4j::read_snapshot(&src, 100).await.unwrap();
    let (_b, dst) = fresh();
    dst.load_snapshot(&snap).unwrap();
    assert_eq!(
        conformance::canonical_graph(&src).await,
        conformance::canonical_graph(&dst).await
    );
    let (s1, s2) = (src.stats().await.unwrap(), dst.stats().await.unwrap());
    assert_eq!(
        (s1.cis, s1.relationships, s1.history_entries),
        (s2.cis, s2.relationships, s2.history_entries)
    );
    // Identifier keys came along: the same observation matches instead of duplicating.
    conformance::ingest_db_then_app(&dst).await;
    assert_eq!(dst.stats().await.unwrap().cis, s1.cis);
}

/// A store written before identifications were recorded (no `i` in the CI rows' body) opens,
/// reads them as none, and records one when identification next decides about each CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_identification_read_as_none_until_identified() {
    use cmdb_model::{CiClass, IdentificationOutcome, Observation, Record, RunId, Scope, Source};
    use cmdb_store::{CiFilter, CiOrder, GraphStore, IngestOptions, PageRequest};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cmdb.sqlite");
    let obs = |run: &str| {
        let mut o = Observation::new(Source::new("ssh"), RunId::new(run), Scope::none());
        o.push(Record::new("h", CiClass::Host).ident("hostname", "old1"));
        o
    };
    async fn all(s: &EmbeddedStore) -> Vec<cmdb_model::Ci> {
        s.find(
            &CiFilter::default(),
            CiOrder::default(),
            &PageRequest::first(100),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|(_, c)| c)
        .collect()
    }
    {
        let s = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
        s.ingest(obs("r1"), &IngestOptions::default())
            .await
            .unwrap();
        assert!(all(&s).await[0].identification.is_some());
        s.close().await.unwrap();
    }
    let c = rusqlite::Connection::open(&path).unwrap();
    let n = c
        .execute("UPDATE cis SET body = json_remove(body, '$.i')", [])
        .unwrap();
    assert_eq!(n, 1);
    drop(c);
    let s = EmbeddedStore::open(&path, EmbeddedOptions::default()).unwrap();
    assert_eq!(all(&s).await[0].identification, None);
    let r = s
        .ingest(obs("r2"), &IngestOptions::default())
        .await
        .unwrap();
    assert_eq!((r.created, r.updated), (0, 0));
    let id = all(&s).await[0].identification.clone().unwrap();
    assert_eq!(
        (id.outcome, id.rule.as_deref(), id.run_id.unwrap().as_str()),
        (IdentificationOutcome::Matched, Some("hostname"), "r2")
    );
}
