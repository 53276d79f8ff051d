//! What each fuzz target does with one input (docs/fuzzing.md). Every function takes the bytes
//! as they would arrive from outside — a UDP datagram, a host's command output, an import file,
//! an HTTP body, a config file — and runs the code the server runs on them. The rule under
//! test: bad input gets an error or a diagnostic, never a panic or a hang.
//!
//! Where a surface's output is an observation (both probes' transforms, the import format),
//! the observation is also reconciled against an empty graph, as the store would reconcile it
//! inside its write transaction: hostile identifiers and attributes must not break
//! identification either.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cmdb_discovery::linux;
use cmdb_discovery::snmp;
use cmdb_discovery::transport::{CommandOutput, CommandTransport, ExecLimits, TransportError};
use cmdb_model::interchange::{parse_line, Parsed};
use cmdb_model::reconcile::{reconcile, CurrentView, Policy, ViewError};
use cmdb_model::{
    Ci, CiId, Observation, Record, RelKey, RelType, Relationship, RelationshipObs, RunId, Scope,
    Source,
};

// ---------------------------------------------------------------------------------------------
// reconciliation against an empty graph

/// The graph before anything was ever ingested: the state every first discovery and every
/// first import meets.
struct EmptyGraph;

impl CurrentView for EmptyGraph {
    fn ci(&self, _: &CiId) -> Result<Option<Ci>, ViewError> {
        Ok(None)
    }
    fn lookup(&self, _: &str) -> Result<Vec<CiId>, ViewError> {
        Ok(Vec::new())
    }
    fn relationship(&self, _: &RelKey) -> Result<Option<Relationship>, ViewError> {
        Ok(None)
    }
    fn dependents(&self, _: &CiId) -> Result<Vec<(CiId, Vec<String>)>, ViewError> {
        Ok(Vec::new())
    }
    fn incoming(&self, _: &CiId, _: RelType) -> Result<Vec<Relationship>, ViewError> {
        Ok(Vec::new())
    }
}

/// Reconcile `obs` against an empty graph; the records it refused (an empty view cannot fail to
/// read, so the only other outcome is returning at all).
fn reconcile_fresh(obs: &Observation) -> usize {
    match reconcile(obs, &EmptyGraph, &Policy::default()) {
        Ok(r) => r.errors.len(),
        Err(_) => usize::MAX,
    }
}

fn run_id() -> RunId {
    RunId::new("run_fuzz")
}

// ---------------------------------------------------------------------------------------------
// SNMP

/// `snmp_ber`: datagrams an agent sends to one session (v1, v2c or SNMPv3 with each of the
/// lab's security levels), decoded by snmp2 and our conversion, fed to a subtree walk with its
/// loop, end-of-subtree and row-cap guards. Input layout: see
/// [`cmdb_discovery::fuzzing::snmp_reply`].
pub fn snmp_ber(data: &[u8]) {
    cmdb_discovery::fuzzing::snmp_reply(data);
}

/// `snmp_walk`: what an agent's walked tables mean. The input is `.snmprec` text (`oid|tag|value`
/// lines, snmpsim's recording format) standing for the varbinds of every walked subtree; the
/// SNMP transform turns them into a device with interfaces, addresses, neighbours, FDB entries,
/// software and connections, and the observation is reconciled.
pub fn snmp_walk(data: &[u8]) {
    snmp_walk_observation(data);
}

/// [`snmp_walk`], returning the observation.
pub fn snmp_walk_observation(data: &[u8]) -> Observation {
    let text = String::from_utf8_lossy(data);
    let (varbinds, _bad) = snmp::parse_snmprec(&text);
    let raw = snmp::RawCollection::from_recording("fuzz-agent", varbinds);
    let (obs, _diags) = snmp::transform(&raw, &run_id(), &snmp::TransformOptions::default());
    reconcile_fresh(&obs);
    obs
}

// ---------------------------------------------------------------------------------------------
// Linux (SSH and local probes)

/// `linux_parsers`: every parser of command output, each on the whole input (so one corpus
/// entry of `ss` output also tries the `ps` parser, and so on).
pub fn linux_parsers(data: &[u8]) {
    use linux::parse;
    let text = String::from_utf8_lossy(data);
    let t = text.as_ref();
    let _ = parse::parse_kv(t);
    let _ = parse::parse_uname(t);
    let _ = parse::first_line(t);
    let _ = parse::parse_meminfo(t, "MemTotal");
    let _ = parse::parse_meminfo(t, "SwapTotal");
    let _ = parse::parse_uptime(t);
    let _ = parse::parse_cpu_model(t);
    let _ = parse::parse_df(t);
    let _ = parse::parse_ip_links(t);
    let _ = parse::parse_ip_routes(t);
    let _ = parse::parse_ss(t);
    let _ = parse::parse_ps(t);
    let _ = parse::parse_pid_map(t);
    let _ = parse::parse_systemd_units(t);
    let _ = parse::parse_packages(t);
    let _ = parse::parse_containers(t);
    for line in t.lines() {
        let _ = parse::parse_sock_addr(line.trim());
    }
    let _ = linux::parse_sections(t);
}

/// The collection script's output as a transport delivers it: stdout bytes (here: the fuzz
/// input), a clean exit.
struct Delivered<'a>(&'a [u8]);

impl CommandTransport for Delivered<'_> {
    fn kind(&self) -> &'static str {
        "ssh"
    }
    fn run(
        &mut self,
        _command: &str,
        _limits: &ExecLimits,
    ) -> Result<CommandOutput, TransportError> {
        Ok(CommandOutput {
            exit_status: Some(0),
            stdout: self.0.to_vec(),
            ..Default::default()
        })
    }
}

/// `linux_output`: a host's whole answer to the collection script, through the same function
/// the SSH and local probes call (lossy decoding, sections, every parser, the transform to a
/// host with interfaces, processes, connections, software and containers), then reconciled.
pub fn linux_output(data: &[u8]) {
    linux_output_observation(data);
}

/// [`linux_output`], returning the observation when the output was usable.
pub fn linux_output_observation(data: &[u8]) -> Option<Observation> {
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    let mut transport = Delivered(data);
    let out = linux::collect_and_transform(
        &mut transport,
        &ExecLimits::default(),
        "fuzz-host",
        &run_id(),
        Some(ip),
    )
    .ok()?;
    reconcile_fresh(&out.observation);
    Some(out.observation)
}

// ---------------------------------------------------------------------------------------------
// import

/// `import_lines`: a `cmdb import` file. Lines are split, decoded and trimmed as the import
/// command does; each goes through `parse_line`; the accepted CI lines become records and the
/// relationship lines relationships, references resolved as the import command resolves them
/// (a key of the file, else a reference record for a CI id), and that observation is
/// reconciled.
pub fn import_lines(data: &[u8]) {
    import_observation(data);
}

/// [`import_lines`], returning the observation and how many of its records reconciliation
/// refused.
pub fn import_observation(data: &[u8]) -> (Observation, usize) {
    let mut obs = Observation::new(Source::new(Source::IMPORT), run_id(), Scope::none());
    let mut cis: Vec<(String, cmdb_model::CiClass, cmdb_model::interchange::CiLine)> = Vec::new();
    let mut rels = Vec::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        let Ok(s) = std::str::from_utf8(raw) else {
            continue;
        };
        if s.trim().is_empty() {
            continue;
        }
        let s = if n == 1 {
            s.strip_prefix('\u{feff}').unwrap_or(s)
        } else {
            s
        };
        match parse_line(n, s.trim_end()) {
            Ok(Parsed::Ci { class, line }) => {
                let key = line.key.clone().unwrap_or_else(|| format!("line:{n}"));
                if !cis.iter().any(|(k, _, _)| *k == key) {
                    cis.push((key, class, line));
                }
            }
            Ok(Parsed::Relationship {
                rel_type,
                evidence,
                confidence,
                line,
            }) => rels.push((rel_type, evidence, confidence, line)),
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    let keys: std::collections::HashSet<String> = cis.iter().map(|(k, _, _)| k.clone()).collect();
    let mut refs: Vec<Record> = Vec::new();
    let mut reference = |r: &str| -> String {
        if keys.contains(r) {
            return r.to_string();
        }
        let key = format!("ref:{}", CiId::new(r));
        if !refs.iter().any(|x| x.key == key) {
            refs.push(Record {
                key: key.clone(),
                id: Some(CiId::new(r)),
                ..Default::default()
            });
        }
        key
    };
    for (key, class, line) in cis {
        let parent = line.parent.as_deref().map(&mut reference);
        obs.records.push(line.into_record(key, class, parent));
    }
    for (rel_type, evidence, confidence, line) in rels {
        let from = reference(&line.from);
        let to = reference(&line.to);
        let mut r = RelationshipObs::new(rel_type, from, to, evidence, confidence);
        r.attributes = line.attributes;
        obs.relationships.push(r);
    }
    obs.records.extend(refs);
    let refused = reconcile_fresh(&obs);
    (obs, refused)
}

// ---------------------------------------------------------------------------------------------
// GraphQL

struct GraphqlHarness {
    rt: tokio::runtime::Runtime,
    api: Mutex<Option<(tempfile::TempDir, cmdb_graphql::Api)>>,
}

/// Successful mutations since the store was last rebuilt.
static WRITES: AtomicUsize = AtomicUsize::new(0);
/// Rebuild the store after this many successful mutations, so the graph the queries run on
/// stays small and close to the fixture.
const REBUILD_AFTER_WRITES: usize = 200;

/// The store directory of the running harness, removed at exit (libFuzzer ends with `exit`,
/// which runs no destructors).
static STORE_DIR: OnceLock<Mutex<Option<std::path::PathBuf>>> = OnceLock::new();

extern "C" fn remove_store_dir() {
    if let Some(m) = STORE_DIR.get() {
        if let Ok(g) = m.lock() {
            if let Some(p) = g.as_ref() {
                let _ = std::fs::remove_dir_all(p);
            }
        }
    }
}

/// Removes [`STORE_DIR`] when the process exits.
#[allow(unsafe_code)] // atexit(3) (workspace lint, Cargo.toml)
fn remove_store_dir_at_exit() {
    // SAFETY: registers a plain `extern "C" fn()` that takes no arguments and never unwinds
    // (it only ignores errors); atexit has no other precondition.
    unsafe {
        libc::atexit(remove_store_dir);
    }
}

const ESTATE: &str = include_str!("../../tests/fixtures/estate.jsonl");

fn graphql_harness() -> &'static GraphqlHarness {
    static H: OnceLock<GraphqlHarness> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        STORE_DIR.get_or_init(|| Mutex::new(None));
        remove_store_dir_at_exit();
        GraphqlHarness {
            rt,
            api: Mutex::new(None),
        }
    })
}

/// A fresh embedded store holding the API tests' fixture estate, and the API over it with the
/// default limits.
fn fresh_api(rt: &tokio::runtime::Runtime) -> (tempfile::TempDir, cmdb_graphql::Api) {
    use cmdb_store::GraphStore;
    use cmdb_store::{EmbeddedOptions, EmbeddedStore};
    let dir = tempfile::Builder::new()
        .prefix("cmdb-fuzz-graphql-")
        .tempdir()
        .expect("temp dir");
    *STORE_DIR.get().expect("harness").lock().unwrap() = Some(dir.path().to_path_buf());
    let opts = EmbeddedOptions {
        readers: 2,
        cache_kib: 8 * 1024,
        snapshot: false,
    };
    let store = EmbeddedStore::open(&dir.path().join("fuzz.sqlite"), opts).expect("store");
    let store: Arc<dyn GraphStore> = Arc::new(store);
    rt.block_on(async {
        for line in ESTATE.lines().filter(|l| !l.trim().is_empty()) {
            let obs: Observation = serde_json::from_str(line).expect("fixture observation");
            store
                .ingest(obs, &cmdb_store::IngestOptions::default())
                .await
                .expect("fixture ingest");
        }
    });
    let api = cmdb_graphql::Api::new(
        store,
        cmdb_graphql::ApiLimits::default(),
        cmdb_graphql::EventBus::default(),
        cmdb_store::IngestOptions::default(),
    );
    (dir, api)
}

/// `graphql_request`: a request as the HTTP layer receives it, run against an embedded store
/// holding a small estate, as an editor (queries and mutations). Byte 0 picks the transport:
/// 0 a JSON POST body (`BatchRequest`, one operation or a batch of at most 20), 1 an
/// `application/graphql` POST body, 2 a GET query string (queries only). The rest is the body.
/// Every operation passes the request guard and, when it does, async-graphql's parser,
/// validation and execution.
pub fn graphql_request(data: &[u8]) {
    graphql_responses(data);
}

/// [`graphql_request`], returning each executed operation's response as the HTTP layer would
/// send it.
pub fn graphql_responses(data: &[u8]) -> Vec<serde_json::Value> {
    use async_graphql::{BatchRequest, Request};
    let Some((&mode, body)) = data.split_first() else {
        return Vec::new();
    };
    let requests: Vec<Request> = match mode % 3 {
        0 => match serde_json::from_slice::<BatchRequest>(body) {
            Ok(BatchRequest::Single(r)) => vec![r],
            // the HTTP layer refuses empty and oversized batches before running any
            Ok(BatchRequest::Batch(rs)) if !rs.is_empty() && rs.len() <= 20 => rs,
            _ => return Vec::new(),
        },
        1 => match std::str::from_utf8(body) {
            Ok(q) => vec![Request::new(q)],
            Err(_) => return Vec::new(),
        },
        _ => {
            let Ok(qs) = std::str::from_utf8(body) else {
                return Vec::new();
            };
            match async_graphql::http::parse_query_string(qs) {
                Ok(r) => vec![r],
                Err(_) => return Vec::new(),
            }
        }
    };
    let get = mode % 3 == 2;
    let h = graphql_harness();
    let mut guard = h.api.lock().unwrap();
    if guard.is_none() || WRITES.load(Ordering::Relaxed) >= REBUILD_AFTER_WRITES {
        *guard = None;
        *guard = Some(fresh_api(&h.rt));
        WRITES.store(0, Ordering::Relaxed);
    }
    let api = guard.as_ref().unwrap().1.clone();
    drop(guard);
    h.rt.block_on(async move {
        use async_graphql::parser::types::OperationType;
        let mut out = Vec::new();
        for mut req in requests {
            // The request limits and the parse, as the GET and WebSocket paths run them before
            // executing (a POST's run inside `execute`; they are idempotent, the document is
            // parsed once).
            let checked = api.check_request(&mut req).is_ok();
            let ty = if checked {
                cmdb_server::http::exec::operation_type(&mut req)
            } else {
                None
            };
            if get && !(checked && matches!(ty, Some(OperationType::Query) | None)) {
                // GET answers the guard's error itself and runs queries only
                continue;
            }
            let resp = api.execute(req, cmdb_graphql::Role::Editor).await;
            if ty == Some(OperationType::Mutation) && resp.is_ok() {
                WRITES.fetch_add(1, Ordering::Relaxed);
            }
            // what the HTTP layer does with the answer
            // (a response that cannot be encoded is answered 500 there, not a crash)
            out.push(serde_json::to_value(&resp).unwrap_or(serde_json::Value::Null));
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------
// configuration

/// `config`: a `cmdb.toml` and `CMDB_*` environment overrides, through `Config::from_parts` (the
/// one path `cmdb` reads its configuration by) and what is derived from an accepted config. The
/// input is the TOML text, then optionally a NUL byte and `NAME=value` lines for the
/// environment.
pub fn config(data: &[u8]) {
    let _ = config_result(data);
}

/// [`config`], returning the configuration or the server's error (the binary's `anyhow`).
pub fn config_result(data: &[u8]) -> anyhow::Result<cmdb_server::config::Config> {
    let text = String::from_utf8_lossy(data);
    let (toml, env) = match text.split_once('\0') {
        Some((t, e)) => (t, e),
        None => (text.as_ref(), ""),
    };
    let vars: HashMap<String, String> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cfg = cmdb_server::config::Config::from_parts(toml, "fuzz.toml", vars.into_iter())?;
    let _ = cfg.limits.api_limits();
    let _ = cfg.precedence();
    let _ = cfg.store.neo4j_config();
    let _ = cfg.store_path(std::path::Path::new("/var/lib/cmdb"));
    Ok(cfg)
}

// ---------------------------------------------------------------------------------------------
// event intake

/// `event_intake`: a body as `POST /api/v1/events` and `POST /api/v1/alerts/alertmanager` read
/// it — JSON; an object with `alerts` is taken as Alertmanager's webhook payload (envelope,
/// then each alert, with the default label mapping and with the instance port switched off),
/// anything else as one event, an array or `{"events": [...]}` — then what binding reads of
/// each accepted event (`node_ref`, `resource_ref`) and its message key.
pub fn event_intake(data: &[u8]) {
    use cmdb_events::alertmanager::{LabelMapping, WebhookPayload};
    use cmdb_events::reference::{node_ref, resource_ref};
    let now = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
    let look = |e: &cmdb_events::Event| {
        let _ = node_ref(&e.node);
        if let Some(r) = &e.resource {
            let _ = resource_ref(r);
        }
        let _ = e.key();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if v.get("alerts").is_some() {
        if let Ok(p) = serde_json::from_value::<WebhookPayload>(v) {
            let off = LabelMapping {
                instance_port_as_resource: false,
                ..LabelMapping::default()
            };
            for m in [LabelMapping::default(), off] {
                if let Ok(events) = p.events(&m, now) {
                    for e in events.into_iter().flatten() {
                        look(&e);
                    }
                }
            }
        }
        return;
    }
    let items = match v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o) if o.contains_key("events") => match o.remove("events") {
            Some(serde_json::Value::Array(a)) => a,
            _ => return,
        },
        other => vec![other],
    };
    for item in items {
        if let Ok(input) = serde_json::from_value::<cmdb_events::EventInput>(item) {
            if let Ok(e) = input.into_event(now) {
                look(&e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the target table

/// One fuzz target: its name (the `fuzz_targets/<name>.rs` binary and the `corpus/<name>/`
/// directory), what it does with an input, and tokens worth splicing into inputs (used by the
/// corpus test's mutator; libFuzzer finds its own).
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub tokens: &'static [&'static [u8]],
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "snmp_ber",
        run: snmp_ber,
        tokens: &[
            b"\x30\x82\x01\x00",
            b"\x06\x08\x2b\x06\x01\x02\x01\x01\x05\x00",
            b"\xa2\x82",
            b"\x02\x01\x00",
            b"\x04\x81\xff",
            b"\x41\x05\x01\x00\x00\x00\x00",
            b"\x46\x09\x01\x00\x00\x00\x00\x00\x00\x00\x00",
            b"\x82\x00",
            b"\x06\x0a\x2b\x06\x01\x02\x01\x02\x02\x01\x01\x8f\xff\xff\xff\x7f",
        ],
    },
    Target {
        name: "snmp_walk",
        run: snmp_walk,
        tokens: &[
            b"|4|",
            b"|4x|",
            b"|2|",
            b"|6|",
            b"|64|",
            b"|65|",
            b"|66|",
            b"|70|",
            b"1.3.6.1.2.1.2.2.1.",
            b"1.3.6.1.2.1.31.1.1.1.",
            b"1.0.8802.1.1.2.1.4.1.1.",
            b"1.3.6.1.2.1.17.4.3.1.",
            b"1.3.6.1.2.1.4.34.1.",
            b"\n",
            b"4294967295",
        ],
    },
    Target {
        name: "linux_parsers",
        run: linux_parsers,
        tokens: &[
            b"users:((\"",
            b"\",pid=",
            b",fd=",
            b"[::ffff:",
            b"]:",
            b"\"ifname\":",
            b"\"addr_info\":[",
            b"\"local\":",
            b"\t",
            b"=",
            b" ",
            b"\n",
            b"18446744073709551616",
        ],
    },
    Target {
        name: "linux_output",
        run: linux_output,
        tokens: &[
            b"\n@@CMDB@@ BEGIN ",
            b"\n@@CMDB@@ END ",
            b"\n@@CMDB@@ DONE\n",
            b" 0\n",
            b" 127\n",
            b"ss",
            b"ps",
            b"ip_addr",
            b"docker",
            b"\xff\xfe",
            b"\r\n",
        ],
    },
    Target {
        name: "import_lines",
        run: import_lines,
        tokens: &[
            b"{\"kind\":\"ci\",",
            b"{\"kind\":\"relationship\",",
            b"\"class\":\"Host\",",
            b"\"class\":\"Interface\",",
            b"\"identifiers\":{",
            b"\"parent\":\"",
            b"\"type\":\"DEPENDS_ON\",",
            b"\"confidence\":",
            b"\"id\":\"",
            b"1e999",
            b"-0",
            b"\\u0000",
            b"\n",
        ],
    },
    Target {
        name: "graphql_request",
        run: graphql_request,
        tokens: &[
            b"{",
            b"}",
            b"[",
            b"...",
            b"... on CI { ",
            b"fragment F on CI { ",
            b"...F ",
            b"query ",
            b"mutation ",
            b"$v",
            b"@skip(if: true) ",
            b"\"variables\":",
            b"__typename ",
            b"(first: 100000)",
            b"(last: -1)",
            b"a: ",
        ],
    },
    Target {
        name: "event_intake",
        run: event_intake,
        tokens: &[
            b"\"alerts\"",
            b"\"status\":\"resolved\"",
            b"\"instance\":\"[::1]:9100\"",
            b"\"severity\":",
            b"\"startsAt\":\"2026-11-24T10:00:00Z\"",
            b"\"endsAt\":\"0001-01-01T00:00:00Z\"",
            b"\"node\":\"aa:bb:cc:dd:ee:ff\"",
            b"\"resource\":\"tcp/5432\"",
            b"\"time\":\"",
            b"\"additionalInfo\":{",
        ],
    },
    Target {
        name: "config",
        run: config,
        tokens: &[
            b"[limits]\n",
            b"[server]\n",
            b"[store]\n",
            b"[discovery]\n",
            b"[[auth.tokens]]\n",
            b"[[discovery.schedules]]\n",
            b"[[discovery.snmp]]\n",
            b" = 0\n",
            b" = 18446744073709551615\n",
            b" = -1\n",
            b"cron = \"",
            b"\0CMDB_LIMITS_MAX_QUERY_DEPTH=",
            b"\nCMDB_SERVER_BIND=",
            b"\"\"\"",
        ],
    },
];

#[cfg(test)]
mod tests {
    //! The harness must reach the code it claims to fuzz: the committed seeds (real outputs,
    //! docs examples) have to get through decoding into the deep paths, or the fuzzers would
    //! only ever exercise error branches.
    use super::*;

    fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().to_string(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .filter(|(n, _)| !n.starts_with("crash-") && !n.starts_with("regression-"))
            .collect();
        v.sort();
        assert!(!v.is_empty(), "no seeds for {target}");
        v
    }

    #[test]
    fn snmp_recordings_become_devices() {
        for (name, data) in seeds("snmp_walk") {
            let obs = snmp_walk_observation(&data);
            assert!(
                obs.records.iter().any(|r| r.key == "device"),
                "{name}: no device record"
            );
            if !name.contains("huge") {
                assert!(
                    obs.records.len() > 3,
                    "{name}: {} records",
                    obs.records.len()
                );
            }
        }
    }

    #[test]
    fn collection_outputs_become_hosts() {
        for (name, data) in seeds("linux_output") {
            let obs = linux_output_observation(&data).unwrap_or_else(|| panic!("{name}: refused"));
            assert!(
                obs.records.len() > 3,
                "{name}: {} records",
                obs.records.len()
            );
        }
    }

    #[test]
    fn import_examples_reconcile() {
        for (name, data) in seeds("import_lines") {
            let (obs, refused) = import_observation(&data);
            assert!(!obs.records.is_empty(), "{name}: no records");
            assert_ne!(refused, usize::MAX, "{name}");
        }
    }

    #[test]
    fn graphql_examples_execute() {
        let mut answered = 0;
        let mut total = 0;
        for (name, data) in seeds("graphql_request") {
            let resps = graphql_responses(&data);
            // (a GET of a mutation is refused before it runs)
            assert!(
                !resps.is_empty() || name.starts_with("get-"),
                "{name}: nothing executed"
            );
            for r in resps {
                total += 1;
                let errors = r["errors"].as_array().map(Vec::len).unwrap_or(0);
                if !r["data"].is_null() && errors == 0 {
                    answered += 1;
                }
            }
        }
        // Not every docs example fits the fixture estate (subscriptions, discovery runs, a
        // service defined twice), but most run through to an answer.
        assert!(answered * 3 > total, "{answered} of {total} answered");
        let upsert = seeds("graphql_request")
            .into_iter()
            .find(|(n, d)| n.starts_with("post-json") && d.windows(8).any(|w| w == b"upsertCi"))
            .expect("an upsertCi seed");
        let r = &graphql_responses(&upsert.1)[0];
        assert!(r["data"]["upsertCi"]["ci"]["id"].is_string(), "{r}");
    }

    #[test]
    fn config_examples_load() {
        for (name, data) in seeds("config") {
            let r = config_result(&data);
            if name.starts_with("docker") || name == "env-overrides" {
                r.unwrap_or_else(|e| panic!("{name}: {e:#}"));
            }
        }
        assert!(config_result(b"\xef\xbb\xbf[limits]\nmax_query_depth = 65\n").is_err());
    }
}
