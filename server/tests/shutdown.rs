//! `cmdb serve` shutting down while discovery runs: SIGTERM stops the running run, which
//! records itself INTERRUPTED (its pairs closed, nothing left RUNNING), the server waits for it
//! before closing the store, and the store is consistent afterwards (`cmdb check`).
//!
//! No lab: the run's only target is a UDP socket this test binds on loopback and never
//! answers, so SNMP waits out its timeouts (about 3 s per credential, ten credentials).
//! Before it, a local-host run stores real CIs so the check has a graph to examine.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CMDB: &str = env!("CARGO_BIN_EXE_cmdb");

fn config() -> String {
    let mut c = String::from(
        "[server]\ndiscover_local_on_start = false\n[discovery]\ntarget_timeout_secs = 300\n",
    );
    for i in 0..10 {
        c.push_str(&format!(
            "[[discovery.snmp]]\nname = \"c{i}\"\nversion = \"v2c\"\ncommunity = \"community-{i}\"\nscope = [\"127.0.0.1/32\"]\n"
        ));
    }
    c
}

fn graphql(addr: &str, query: &str) -> serde_json::Value {
    let body = serde_json::json!({ "query": query }).to_string();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let (_, json) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    // Chunked or not, the JSON object is the part between the outer braces.
    let json = &json[json.find('{').unwrap()..=json.rfind('}').unwrap()];
    serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

fn start_run(addr: &str, input: &str) -> String {
    let r = graphql(
        addr,
        &format!("mutation {{ runDiscovery(input: {input}) {{ id status }} }}"),
    );
    assert_eq!(r["data"]["runDiscovery"]["status"], "RUNNING", "{r}");
    r["data"]["runDiscovery"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn run_status(addr: &str, id: &str) -> serde_json::Value {
    graphql(
        addr,
        &format!("{{ discoveryRun(id: \"{id}\") {{ status message targets {{ status }} }} }}"),
    )["data"]["discoveryRun"]
        .clone()
}

fn wait_for_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("cmdb serve did not exit within {within:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve(data: &Path, config: &Path) -> (Child, String) {
    let mut child = Command::new(CMDB)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .env("CMDB_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start cmdb serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (child, addr)
}

#[test]
fn sigterm_interrupts_running_discovery_and_closes_the_store_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let config_path = dir.path().join("cmdb.toml");
    std::fs::write(&config_path, config()).unwrap();
    let (mut child, addr) = serve(&data, &config_path);

    // A run that finishes: the local host, stored.
    let local = start_run(&addr, "{local: true}");
    let until = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let r = run_status(&addr, &local);
        if r["status"] != "RUNNING" {
            break r;
        }
        assert!(Instant::now() < until, "the local run did not finish: {r}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["status"], "SUCCEEDED", "{done}");

    // A run that is still probing when the signal comes.
    let slow = start_run(&addr, &format!("{{targets: [\"127.0.0.1:{port}\"]}}"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(run_status(&addr, &slow)["status"], "RUNNING");
    let signalled = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_for_exit(&mut child, Duration::from_secs(20));
    assert!(status.success(), "cmdb serve exited with {status}");
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "the run was stopped, not waited out"
    );

    // The run's record says how it ended; its lock is gone.
    let runs = data.join("runs");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs.join(format!("{slow}.json"))).unwrap()).unwrap();
    assert_eq!(record["status"], "INTERRUPTED", "{record}");
    assert!(record["finished_at"].is_string(), "{record}");
    assert!(
        record["message"].as_str().unwrap().contains("shut down"),
        "{record}"
    );
    let pairs = record["targets"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{record}");
    assert_eq!(pairs[0]["status"], "FAILED", "{record}");
    assert_eq!(pairs[0]["error"]["code"], "INTERRUPTED", "{record}");
    assert!(!runs.join(format!("{slow}.lock")).exists());
    assert!(!runs.join(format!("{local}.lock")).exists());

    // The store was closed cleanly and is consistent, with what the first run stored.
    let check = Command::new(CMDB)
        .arg("check")
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "cmdb check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let cis = Command::new(CMDB)
        .args(["graphql", "--query", "{ cis(first: 1) { totalCount } }"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config_path)
        .output()
        .unwrap();
    let cis: serde_json::Value = serde_json::from_slice(&cis.stdout).unwrap();
    assert!(
        cis["data"]["cis"]["totalCount"].as_i64().unwrap() > 0,
        "{cis}"
    );
    drop(silent);
}
