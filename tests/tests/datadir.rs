//! One truth per data directory, with the real binaries: a running `cmdb serve` and the CLI
//! commands that write to (or read) the same data directory meanwhile must give the same
//! answers — impact and dependencies included, which the embedded store answers from an
//! in-memory index.

use std::path::Path;

use cmdb_tests::cli::{cli_graphql, cmdb, stderr, ServeProcess};
use serde_json::{json, Value};

const ESTATE: &str = r#"{"kind":"ci","key":"db1","class":"Host","name":"db1","identifiers":{"hostname":"db1"}}
{"kind":"ci","key":"pg","class":"Process","parent":"db1","identifiers":{"executable":"postgres","command_line":"postgres -D /data"}}
{"kind":"ci","key":"app1","class":"Host","name":"app1","identifiers":{"hostname":"app1"}}
{"kind":"ci","key":"api","class":"Process","parent":"app1","identifiers":{"executable":"api","command_line":"api --port 8080"}}
{"kind":"ci","key":"shop","class":"BusinessService","name":"Shop","attributes":{"criticality":1,"owner":"team-shop"}}
{"kind":"relationship","type":"DEPENDS_ON","from":"api","to":"pg"}
{"kind":"relationship","type":"MEMBER_OF","from":"api","to":"shop"}
"#;

/// What the in-memory index answers (impact, dependencies both ways) plus what SQL answers.
const QUESTIONS: &str = r#"query($ids: [ID!]!, $id: ID!) {
  impact(ids: $ids) { affectedCount affected(first: 100) { ci { id name } depth severity } services { service { name } severity } }
  down: dependencies(id: $id, direction: DOWNSTREAM) { depth ci { id name } }
  up: dependencies(id: $id, direction: UPSTREAM) { depth ci { id name } }
  stats { cis relationships }
}"#;

/// Lists sorted, so answers compare as sets whatever order ties come out in.
fn canonical(v: Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut items: Vec<Value> = a.into_iter().map(canonical).collect();
            items.sort_by_key(|x| x.to_string());
            Value::Array(items)
        }
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, canonical(v))).collect()),
        other => other,
    }
}

/// The server and a CLI process on the same data directory answer `QUESTIONS` the same.
fn same_answers(server: &ServeProcess, data: &Path, ids: &[String], what: &str) -> Value {
    let vars = json!({ "ids": ids, "id": ids[0] });
    let from_server = canonical(server.ok(QUESTIONS, vars.clone()));
    let cli = cli_graphql(data, QUESTIONS, vars);
    assert!(cli["errors"].is_null(), "{what}: cmdb graphql: {cli}");
    assert_eq!(
        from_server,
        canonical(cli["data"].clone()),
        "{what}: the server and the CLI disagree"
    );
    from_server
}

fn id_of(server: &ServeProcess, name: &str) -> String {
    let d = server.ok(
        "query($n: String!) { cis(filter: {name: {equals: $n}}) { nodes { id } } }",
        json!({ "n": name }),
    );
    d["cis"]["nodes"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no CI named {name}: {d}"))
        .to_string()
}

fn process_id(server: &ServeProcess, executable: &str) -> String {
    let d = server.ok(
        "{ cis(filter: {class: PROCESS}) { nodes { id name } } }",
        json!({}),
    );
    let nodes = d["cis"]["nodes"].as_array().unwrap();
    nodes
        .iter()
        .find(|n| n["name"].as_str().unwrap_or("").contains(executable))
        .unwrap_or_else(|| panic!("no process {executable}: {d}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn server_and_cli_give_the_same_answers_whoever_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = ServeProcess::start(&data, &[]);
    assert_eq!(server.ok("{ stats { cis } }", json!({}))["stats"]["cis"], 0);

    // The outside tester's case: `cmdb import` while the server runs.
    let file = tmp.path().join("estate.jsonl");
    std::fs::write(&file, ESTATE).unwrap();
    let out = cmdb(&data, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let db1 = id_of(&server, "db1");
    let a = same_answers(
        &server,
        &data,
        std::slice::from_ref(&db1),
        "after cmdb import",
    );
    assert_eq!(a["impact"]["affectedCount"], 3, "{a}");
    assert_eq!(a["down"].as_array().unwrap().len(), 3, "{a}");

    // A CLI mutation closes the dependency: both stop following it.
    let (api, pg) = (process_id(&server, "api"), process_id(&server, "postgres"));
    let r = cli_graphql(&data, "mutation($f: ID!, $t: ID!) { closeRelationship(type: DEPENDS_ON, from: $f, to: $t) { status } }", json!({"f": api, "t": pg}));
    assert_eq!(r["data"]["closeRelationship"]["status"], "CLOSED", "{r}");
    let a = same_answers(
        &server,
        &data,
        std::slice::from_ref(&db1),
        "after a CLI mutation",
    );
    assert_eq!(a["impact"]["affectedCount"], 1, "{a}");

    // The server writes; a CLI process opened afterwards and one reading meanwhile agree.
    server.ok("mutation($f: ID!, $t: ID!) { upsertRelationship(input: {type: DEPENDS_ON, from: $f, to: $t}) { status } }", json!({"f": api, "t": pg}));
    let a = same_answers(
        &server,
        &data,
        std::slice::from_ref(&db1),
        "after a server mutation",
    );
    assert_eq!(a["impact"]["affectedCount"], 3, "{a}");

    // `cmdb discover` (this machine) while the server runs.
    let out = cmdb(&data, &["discover", "--local"]);
    assert!(
        matches!(out.status.code(), Some(0) | Some(2)),
        "{}",
        stderr(&out)
    );
    // The far ends of this machine's connections may appear as placeholder hosts: count the
    // hosts that were themselves discovered or imported.
    let hosts = server.ok(
        "{ cis(filter: {class: HOST}) { nodes { id placeholder } } }",
        json!({}),
    );
    let host_ids: Vec<String> = hosts["cis"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["placeholder"] == false)
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(host_ids.len(), 3, "db1, app1 and this machine: {hosts}");
    let local = host_ids
        .iter()
        .find(|id| **id != db1 && **id != id_of(&server, "app1"))
        .unwrap()
        .clone();
    let a = same_answers(
        &server,
        &data,
        std::slice::from_ref(&local),
        "after cmdb discover --local",
    );
    assert!(
        a["impact"]["affectedCount"].as_i64().unwrap() > 0,
        "the local host runs processes: {a}"
    );
    same_answers(
        &server,
        &data,
        &host_ids,
        "all hosts after cmdb discover --local",
    );

    // The store is sound while the server still has it open.
    let out = cmdb(&data, &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(server.stop().success());
}
