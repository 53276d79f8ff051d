//! `cmdb migrate`'s library half: an embedded graph copied into Neo4j is the same graph (ids,
//! provenance, evidence, history), and discovery after the copy matches the copied CIs
//! (identifier keys recomputed) instead of duplicating them.

#[path = "support/bolt_lab.rs"]
mod bolt_lab;

use cmdb_model::{CiClass, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use cmdb_store::neo4j::read_snapshot;
use cmdb_store::{
    conformance, CiFilter, CiOrder, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions,
    PageRequest,
};
use serde_json::json;

fn manual_service(java_id: &cmdb_model::CiId) -> Observation {
    let mut o = Observation::new(Source::new("manual"), RunId::new("m1"), Scope::none());
    o.push(Record::new("s", CiClass::BusinessService).name("Payments"));
    o.push(Record {
        key: "j".into(),
        id: Some(java_id.clone()),
        ..Default::default()
    });
    o.relate(RelType::MemberOf, "j", "s", EvidenceKind::Manual, 1.0);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_neo4j_copy_is_the_same_graph_and_stays_identifiable() {
    let dir = tempfile::tempdir().unwrap();
    let emb =
        EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default()).unwrap();
    conformance::ingest_app_then_db(&emb).await;
    let java = emb
        .find(
            &CiFilter {
                classes: vec![CiClass::Process],
                name: Some((cmdb_store::NameMatch::Equals, "java".into())),
                ..Default::default()
            },
            CiOrder::default(),
            &PageRequest::first(10),
        )
        .await
        .unwrap()
        .items[0]
        .1
        .id
        .clone();
    emb.ingest(manual_service(&java), &IngestOptions::default())
        .await
        .unwrap();
    let mut snmp = Observation::new(
        Source::new("snmp"),
        RunId::new("s1"),
        Scope::complete(["10.0.0.31"]),
    );
    snmp.push(
        Record::new("d", CiClass::Host)
            .ident("hostname", "db1")
            .attr("sys_location", "rack 7"),
    );
    emb.ingest(snmp, &IngestOptions::default()).await.unwrap();

    let neo = bolt_lab::fresh().await;
    let snap = read_snapshot(&emb, 1000).await.unwrap();
    assert!(!snap.identifiers.is_empty() && !snap.history.is_empty());
    neo.load_snapshot(&snap).await.unwrap();

    // Same CIs (ids, attributes with provenance, timestamps), same relationships and evidence.
    let cis = |snap: &cmdb_store::neo4j::Snapshot| {
        let mut v = snap.cis.clone();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    };
    let copied = read_snapshot(&*neo, 1000).await.unwrap();
    assert_eq!(cis(&copied), cis(&snap));
    let mut r1 = snap.relationships.clone();
    let mut r2 = copied.relationships.clone();
    r1.sort_by_key(|r| r.key());
    r2.sort_by_key(|r| r.key());
    assert_eq!(r1, r2);
    assert_eq!(copied.history.len(), snap.history.len());
    let (se, sn) = (emb.stats().await.unwrap(), neo.stats().await.unwrap());
    assert_eq!(
        (se.cis, se.relationships, se.history_entries, se.by_class),
        (sn.cis, sn.relationships, sn.history_entries, sn.by_class)
    );
    let db1 = snap
        .cis
        .iter()
        .find(|c| c.name == "db1")
        .unwrap()
        .id
        .clone();
    let h_emb = emb.history(&db1, &PageRequest::first(100)).await.unwrap();
    let h_neo = neo.history(&db1, &PageRequest::first(100)).await.unwrap();
    assert_eq!(h_emb.total_count, h_neo.total_count);
    // Same entries, newest first (entries of the same millisecond may come in another order).
    let sorted = |p: &cmdb_store::Page<cmdb_model::HistoryEntry>| {
        let mut v: Vec<(std::cmp::Reverse<cmdb_model::Timestamp>, String)> = p
            .items
            .iter()
            .map(|(_, e)| (std::cmp::Reverse(e.at), serde_json::to_string(e).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&h_emb), sorted(&h_neo));
    assert!(
        h_neo.items.windows(2).all(|w| w[0].1.at >= w[1].1.at),
        "newest first"
    );

    // Discovery after the copy matches what was copied: nothing new, nothing duplicated.
    for (s, label) in [
        (&emb as &dyn GraphStore, "embedded"),
        (&*neo as &dyn GraphStore, "neo4j"),
    ] {
        let mut o = Observation::new(
            Source::new("ssh"),
            RunId::new("after"),
            Scope::complete(["db1"]),
        );
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
        // (Sightings are not part of the copy: what the copy's sources do not see again is not
        // staled by their next complete run. So this run reports everything it saw before.)
        o.relate(RelType::ListensOn, "pg", "ep", EvidenceKind::Socket, 0.9);
        let r = s.ingest(o, &IngestOptions::default()).await.unwrap();
        assert_eq!((r.created, r.merged), (0, 0), "{label}: {r:?}");
    }
    assert_eq!(
        conformance::canonical_graph(&emb).await,
        conformance::canonical_graph(&*neo).await
    );
}
