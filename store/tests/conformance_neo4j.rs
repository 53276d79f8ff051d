//! The conformance suite on the Neo4j backend, against a real Bolt server (the ArcadeDB lab,
//! tests/lab/bolt, started by the harness), plus the order-independence check.

#[path = "support/bolt_lab.rs"]
mod bolt_lab;

use cmdb_store::conformance;

mod suite {
    use super::*;
    cmdb_store::conformance_tests!(bolt_lab::fresh().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_order_does_not_change_the_graph() {
    let s = bolt_lab::fresh().await;
    conformance::ingest_app_then_db(&*s).await;
    let a = conformance::canonical_graph(&*s).await;
    s.erase_everything().await.unwrap();
    conformance::ingest_db_then_app(&*s).await;
    assert_eq!(a, conformance::canonical_graph(&*s).await);
}
