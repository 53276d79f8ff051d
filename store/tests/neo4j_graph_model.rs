//! What an analyst sees in Neo4j Browser (docs/graph-model.md): `:CI:<Class>` labels, typed
//! relationships with evidence summaries, the uniqueness constraint on CI ids, the schema
//! version, and the password kept out of Debug output.

#[path = "support/bolt_lab.rs"]
mod bolt_lab;

use cmdb_model::{CiClass, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use cmdb_store::{GraphStore, IngestOptions};
use serde_json::json;

async fn count(g: &neo4rs::Graph, cypher: &str) -> i64 {
    let mut tx = g.start_txn().await.unwrap();
    let mut s = tx.execute(neo4rs::query(cypher)).await.unwrap();
    let row = s.next(tx.handle()).await.unwrap().unwrap();
    let n: i64 = row.get("c").unwrap();
    while s.next(tx.handle()).await.unwrap().is_some() {}
    tx.commit().await.unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_types_properties_and_constraints() {
    let store = bolt_lab::fresh().await;
    let mut o = Observation::new(
        Source::new("ssh"),
        RunId::new("r1"),
        Scope::complete(["web1"]),
    );
    o.push(
        Record::new("d", CiClass::Host)
            .name("web1")
            .ident("hostname", "web1")
            .ident("ip_addresses", json!(["10.0.0.11"]))
            .attr("os_name", "Debian"),
    );
    o.push(
        Record::new("e", CiClass::Interface)
            .parent("d")
            .ident("if_name", "eth0"),
    );
    o.push(
        Record::new("p", CiClass::Process)
            .parent("d")
            .ident("executable", "nginx")
            .ident("command_line", "nginx: master"),
    );
    o.push(
        Record::new("l", CiClass::ListeningEndpoint)
            .parent("d")
            .ident("protocol", "tcp")
            .ident("port", 443),
    );
    o.relate(RelType::ListensOn, "p", "l", EvidenceKind::Socket, 0.9);
    store.ingest(o, &IngestOptions::default()).await.unwrap();

    let c = bolt_lab::config();
    let g = neo4rs::Graph::connect(
        neo4rs::ConfigBuilder::default()
            .uri(format!("127.0.0.1:{}", bolt_lab::port()))
            .user(c.user.as_str())
            .password(c.password.as_str())
            .db(c.database.as_str())
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        count(&g, "MATCH (n:CI:Host {name: 'web1'}) RETURN count(n) AS c").await,
        1
    );
    assert_eq!(
        count(&g, "MATCH (n:CI:Interface) RETURN count(n) AS c").await,
        1
    );
    assert_eq!(
        count(
            &g,
            "MATCH (n:Process)-[:RUNS_ON]->(:Host) RETURN count(n) AS c"
        )
        .await,
        1
    );
    assert_eq!(count(&g, "MATCH (:Process)-[r:LISTENS_ON {status: 'ACTIVE'}]->(:ListeningEndpoint) WHERE r.confidence = 0.9 AND 'socket' IN r.evidence_kinds RETURN count(r) AS c").await, 1);
    assert_eq!(count(&g, "MATCH (n:CI) WHERE n.first_seen > 0 AND n.last_seen >= n.first_seen AND 'ssh' IN n.sources RETURN count(n) AS c").await, 4);
    assert_eq!(
        count(
            &g,
            "MATCH (m:CmdbMeta {key: 'schema_version'}) RETURN m.value AS c"
        )
        .await,
        cmdb_store::neo4j::SCHEMA_VERSION
    );

    // The uniqueness constraint holds (on ArcadeDB the violation surfaces at COMMIT).
    let id: String = {
        let mut tx = g.start_txn().await.unwrap();
        let mut s = tx
            .execute(neo4rs::query("MATCH (n:CI:Host) RETURN n.id AS id"))
            .await
            .unwrap();
        let id = s
            .next(tx.handle())
            .await
            .unwrap()
            .unwrap()
            .get("id")
            .unwrap();
        while s.next(tx.handle()).await.unwrap().is_some() {}
        tx.commit().await.unwrap();
        id
    };
    let dup = async {
        let mut tx = g.start_txn().await?;
        tx.run(neo4rs::query("CREATE (:CI {id: $id, class: 'Host'})").param("id", id.as_str()))
            .await?;
        tx.commit().await
    }
    .await;
    assert!(dup.is_err(), "a second CI with the same id is refused");
    assert_eq!(store.stats().await.unwrap().cis, 4);

    // The identification decision is a JSON property an analyst can read; a node without it
    // (written by an older cmdb) reads as none and gets one when next identified.
    assert_eq!(count(&g, "MATCH (n:CI) WHERE n.identification CONTAINS '\"outcome\":\"CREATED\"' RETURN count(n) AS c").await, 4);
    {
        let mut tx = g.start_txn().await.unwrap();
        tx.run(
            neo4rs::query("MATCH (n:CI {id: $id}) REMOVE n.identification")
                .param("id", id.as_str()),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let host = cmdb_model::CiId::new(id.as_str());
    assert_eq!(
        store.get(&host).await.unwrap().unwrap().identification,
        None
    );
    let mut again = Observation::new(Source::new("snmp"), RunId::new("r2"), Scope::none());
    again.push(Record::new("d", CiClass::Host).ident("hostname", "web1"));
    store
        .ingest(again, &IngestOptions::default())
        .await
        .unwrap();
    let ident = store
        .get(&host)
        .await
        .unwrap()
        .unwrap()
        .identification
        .unwrap();
    assert_eq!(
        (ident.outcome, ident.rule.as_deref(), ident.source.as_str()),
        (
            cmdb_model::IdentificationOutcome::Matched,
            Some("hostname"),
            "snmp"
        )
    );

    let dbg = format!("{:?}", bolt_lab::config());
    assert!(
        dbg.contains("<redacted>") && !dbg.contains(bolt_lab::PASSWORD),
        "{dbg}"
    );
}
