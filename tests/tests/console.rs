//! The web console in real headless Chromium (issue 15): `cmdb serve` over the estate lab
//! discovered over SSH, driven as a person would — sign in (expired and wrong tokens refused),
//! search, a CI page, the service map, what-if on a web host (DEGRADED) and on the database
//! (DOWN) with the explaining chain highlighted, single points of failure, a discovery run
//! started and watched in the page against the SNMP lab, GraphiQL with nothing from a CDN.
//! And a service of 5,000 map nodes, which the page summarises instead of freezing.
//!
//! Needs the browser lab (tests/lab/browser/setup.sh); the estate test needs root
//! (network namespaces). tests/run-all.sh sets up and runs both. Screenshots:
//! target/console-artifacts/.

use std::io::Write;

use cmdb_tests::browser::{big_service, run_scenario};
use cmdb_tests::cli::{cmdb, stderr, ServeProcess};
use cmdb_tests::estate_lab::{define_service, estate, Probes, SERVICE};
use cmdb_tests::snmp_lab;

const ADMIN: &str = "console-admin-token";
const EXPIRED: &str = "console-expired-token";

/// A config with an admin token, an expired one, and the SNMP lab's credential for runs
/// started in the page.
fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let hash = |t: &str| cmdb_server::http::auth::sha256_hex(t);
    let path = dir.join("cmdb.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    write!(
        f,
        r#"
[[auth.tokens]]
name = "console-admin"
sha256 = "{}"
role = "admin"

[[auth.tokens]]
name = "old"
sha256 = "{}"
role = "admin"
expires_at = "2020-01-01T00:00:00Z"

[[discovery.snmp]]
name = "lab"
version = "v2c"
community = "{}"
scope = ["127.0.1.0/24"]
"#,
        hash(ADMIN),
        hash(EXPIRED),
        snmp_lab::SIM_COMMUNITY
    )
    .unwrap();
    path
}

#[test]
fn console_on_the_discovered_estate() {
    let e = estate();
    let _turn = e.turn();
    snmp_lab::lab();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = e.discover(&data, &e.host_addresses(), Probes::Ssh);
    assert!(out.status.success(), "cmdb discover: {}", stderr(&out));
    define_service(&data);
    let config = write_config(tmp.path());
    let server = ServeProcess::start(&data, &[("CMDB_CONFIG", config.to_str().unwrap())]);
    let target = format!("{}:{}", snmp_lab::SW1, snmp_lab::PORT);
    run_scenario(
        "estate",
        &[
            ("CMDB_URL", server.url.as_str()),
            ("CMDB_TOKEN", ADMIN),
            ("CMDB_EXPIRED_TOKEN", EXPIRED),
            ("SERVICE", SERVICE),
            ("WEB", "web1"),
            ("DB", "db"),
            ("DISCOVER_TARGET", target.as_str()),
            ("DISCOVER_CREDENTIAL", "lab"),
        ],
    );
    server.stop();
}

#[test]
fn a_five_thousand_node_map_is_summarised() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = tmp.path().join("big.jsonl");
    // And a CI whose name is markup, which the pages must show as text.
    let hostile = r#"{"kind":"ci","class":"Host","name":"<img src=x onerror=\"window.__pwned=1\">","identifiers":{"hostname":"hostile"}}"#;
    std::fs::write(&file, big_service(5000, "Big") + hostile + "\n").unwrap();
    let out = cmdb(&data, &["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "import: {}", stderr(&out));
    let config = write_config(tmp.path());
    let server = ServeProcess::start(&data, &[("CMDB_CONFIG", config.to_str().unwrap())]);
    run_scenario(
        "big",
        &[
            ("CMDB_URL", server.url.as_str()),
            ("CMDB_TOKEN", ADMIN),
            ("SERVICE", "Big"),
        ],
    );
    server.stop();
}

/// The drawing rules' unit tests (console/web/test, Node's own test runner).
#[test]
fn drawing_rules() {
    let out = std::process::Command::new("node")
        .current_dir(cmdb_tests::cli::workspace_root().join("console/web"))
        .args(["--test", "test/"])
        .output()
        .expect("node (Node.js 18+)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
