//! Faults against a private Bolt lab server (own port and data; the shared lab is never
//! touched): refused connections, wrong password, a server killed in the middle of an ingest,
//! connections dropped under running queries, a server that stops answering. Every wait is
//! bounded; nothing panics; after a restart and a re-run the graph is exactly the expected one.

#[path = "support/bolt_lab.rs"]
mod bolt_lab;
#[path = "support/synthetic.rs"]
mod synthetic;

use std::time::{Duration, Instant};

use cmdb_store::neo4j::{Neo4jConfig, Neo4jStore};
use cmdb_store::{
    conformance, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, StoreError,
};

const PORT: u16 = 17697;
const HTTP_PORT: u16 = 12497;

/// The graph an embedded store holds after the same observations: the expected result.
async fn expected(obs: &[cmdb_model::Observation]) -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let s =
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    for o in obs {
        s.ingest(o.clone(), &IngestOptions::default())
            .await
            .unwrap();
    }
    (dir, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused_at_startup_is_a_bounded_unavailable_error() {
    let cfg = Neo4jConfig {
        uri: "bolt://127.0.0.1:1".into(),
        password: "s3cret-do-not-print".into(),
        connect_timeout: Duration::from_secs(2),
        ..bolt_lab::config()
    };
    let t = Instant::now();
    let err = Neo4jStore::connect(&cfg)
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "bounded wait: {:?}",
        t.elapsed()
    );
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "STORE_UNAVAILABLE");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(
        !format!("{cfg:?}").contains("s3cret"),
        "Debug redacts the password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_clear_error_without_the_password() {
    let _g = bolt_lab::exclusive().await;
    bolt_lab::lab();
    let cfg = Neo4jConfig {
        password: "wrong-password-42".into(),
        ..bolt_lab::config()
    };
    let t = Instant::now();
    let err = Neo4jStore::connect(&cfg).await.expect_err("wrong password");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "not retried for long: {:?}",
        t.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains("authentication failed"), "{msg}");
    assert!(msg.contains("password"), "tells what to check: {msg}");
    assert!(!msg.contains("wrong-password-42"), "{msg}");
    // And the identity of the right server is what it says.
    let agent = cmdb_store::neo4j::server_identity(&bolt_lab::config())
        .await
        .unwrap();
    assert!(agent.starts_with("Neo4j/"), "{agent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_a_private_server() {
    let lab = bolt_lab::PrivateLab::start(PORT, HTTP_PORT, "faults");
    let cfg = Neo4jConfig {
        max_retries: 2,
        query_timeout: Duration::from_secs(20),
        ..lab.config()
    };
    let store = Neo4jStore::connect(&cfg)
        .await
        .expect("connect to the private lab");
    store.ping().await.expect("ping");

    // 1. Killed in the middle of an ingest: a clean error within bounded time…
    let first = synthetic::estate(0, 600, "r1");
    let killer = {
        let pid = lab.pid();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            if let Some(pid) = pid {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
            }
        })
    };
    let t = Instant::now();
    let r = store.ingest(first.clone(), &IngestOptions::default()).await;
    killer.join().unwrap();
    lab.kill9();
    match &r {
        Err(e) => {
            assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "bounded: {:?}",
                t.elapsed()
            );
        }
        Ok(_) => eprintln!(
            "the ingest finished before the kill ({:?}); re-run must still change nothing",
            t.elapsed()
        ),
    }
    // …while it is down, reads and ping fail fast with Unavailable…
    let t = Instant::now();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.stats().await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // …after a restart the same store reconnects, and a re-run gives exactly the expected graph.
    lab.restart();
    store.ping().await.expect("reconnects after restart");
    store
        .ingest(first.clone(), &IngestOptions::default())
        .await
        .expect("re-run");
    let second = synthetic::estate(600, 800, "r2");
    store
        .ingest(second.clone(), &IngestOptions::default())
        .await
        .expect("second batch");
    let (_d, reference) = expected(&[first.clone(), second.clone()]).await;
    let got = store.stats().await.unwrap();
    let want = reference.stats().await.unwrap();
    assert_eq!(
        (got.cis, got.relationships),
        (want.cis, want.relationships),
        "no duplicates, nothing missing"
    );
    assert_eq!(got.by_class, want.by_class);
    assert_eq!(
        conformance::canonical_graph(&store).await,
        conformance::canonical_graph(&reference).await
    );

    // 2. Killed and restarted while an ingest is retrying: the retry succeeds.
    let patient = Neo4jStore::connect(&Neo4jConfig {
        max_retries: 8,
        ..cfg.clone()
    })
    .await
    .unwrap();
    let third = synthetic::estate(800, 1400, "r3");
    let restarter = {
        let pid = lab.pid();
        let env = (lab.port, lab.http_port, lab.dir.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            if let Some(pid) = pid {
                let _ = std::process::Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(300));
            let _ = std::process::Command::new("sh")
                .arg(bolt_lab::lab_dir().join("start.sh"))
                .env("BOLT_LAB_PORT", env.0.to_string())
                .env("BOLT_LAB_HTTP_PORT", env.1.to_string())
                .env("BOLT_LAB_DIR", &env.2)
                .output();
        })
    };
    let r = patient
        .ingest(third.clone(), &IngestOptions::default())
        .await;
    restarter.join().unwrap();
    lab.restart();
    if let Err(e) = &r {
        eprintln!("ingest during the restart failed after its retries ({e}); re-running");
        patient
            .ingest(third.clone(), &IngestOptions::default())
            .await
            .expect("re-run after restart");
    }
    let (_d2, reference) = expected(&[first, second, third]).await;
    let got = patient.stats().await.unwrap();
    let want = reference.stats().await.unwrap();
    assert_eq!(
        (got.cis, got.relationships, got.by_class.clone()),
        (want.cis, want.relationships, want.by_class)
    );

    // 3. A server that stops answering: queries end with Unavailable at the time limit.
    let quick = Neo4jStore::connect(&Neo4jConfig {
        query_timeout: Duration::from_secs(2),
        max_retries: 0,
        ..cfg.clone()
    })
    .await
    .unwrap();
    lab.pause(true);
    let t = Instant::now();
    let err = quick
        .find(
            &Default::default(),
            Default::default(),
            &cmdb_store::PageRequest::first(10),
        )
        .await
        .expect_err("paused server");
    lab.pause(false);
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    // It recovers once the server answers again.
    let mut ok = false;
    for _ in 0..20 {
        if quick.ping().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(ok, "ping works again after the pause");
    let _ = store.close().await;
    assert!(matches!(store.ping().await, Err(StoreError::Closed)));
}
