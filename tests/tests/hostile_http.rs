//! Hostile and malformed requests against the real `cmdb serve` binary, over HTTP and
//! WebSocket (issue 12: no request may crash or stall the server).
//!
//! - `malformed_request_suite`: well over a thousand cases generated from the live schema
//!   (introspected over HTTP, the way GraphiQL does it): every query and mutation field with
//!   wrong types, nulls, missing and unknown arguments, unknown fields, bad variables, values
//!   nested thousands deep, huge strings and lists; plus bad JSON, bad content types, oversize
//!   bodies, invalid UTF-8, deep selections, fragment bombs and cycles, alias, directive and
//!   field floods, wrong methods and paths. Every one must be answered promptly with a JSON
//!   GraphQL error carrying a known `extensions.code` and a non-5xx status, and the server must
//!   be healthy afterwards.
//! - One test per reported problem: deep values (1), fragment bombs and stalls (2), the time
//!   budget and shutdown (2), CSRF and DNS rebinding (4); and the WebSocket endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cmdb_tests::api_support::WsClient;
use cmdb_tests::serve::Served;
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// The codes a refusal may carry (graphql/src/error.rs).
const CODES: &[&str] = &[
    "INVALID_INPUT",
    "LIMIT_EXCEEDED",
    "NOT_FOUND",
    "FORBIDDEN",
    "UNAUTHENTICATED",
];

/// The longest any hostile request may take to be answered.
const PROMPT: Duration = Duration::from_secs(3);

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client")
}

#[derive(Clone, Debug)]
enum Method {
    Post,
    Get,
    Other(&'static str),
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    method: Method,
    /// Path and query string.
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Case {
    fn post_json(name: impl Into<String>, body: &Value) -> Case {
        Case::post_raw(name, "application/json", body.to_string().into_bytes())
    }
    fn post_raw(name: impl Into<String>, ctype: &str, body: Vec<u8>) -> Case {
        let headers = if ctype.is_empty() {
            vec![]
        } else {
            vec![("content-type", ctype.to_string())]
        };
        Case {
            name: name.into(),
            method: Method::Post,
            path: "/graphql".into(),
            headers,
            body,
        }
    }
    fn query(name: impl Into<String>, q: &str) -> Case {
        Case::post_json(name, &json!({ "query": q }))
    }
    fn query_vars(name: impl Into<String>, q: &str, vars: Value) -> Case {
        Case::post_json(name, &json!({ "query": q, "variables": vars }))
    }
    fn graphql_body(name: impl Into<String>, q: &str) -> Case {
        Case::post_raw(name, "application/graphql", q.as_bytes().to_vec())
    }
    fn get(name: impl Into<String>, qs: &str) -> Case {
        Case {
            name: name.into(),
            method: Method::Get,
            path: format!("/graphql?{qs}"),
            headers: vec![],
            body: vec![],
        }
    }
    fn header(mut self, k: &'static str, v: impl Into<String>) -> Case {
        self.headers.push((k, v.into()));
        self
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Answer {
    status: u16,
    body: Value,
    elapsed: Duration,
}

fn send(c: &Client, base: &str, case: &Case) -> Result<Answer, String> {
    let url = format!("{base}{}", case.path);
    let mut rb = match case.method {
        Method::Post => c.post(&url).body(case.body.clone()),
        Method::Get => c.get(&url),
        Method::Other(m) => c
            .request(reqwest::Method::from_bytes(m.as_bytes()).unwrap(), &url)
            .body(case.body.clone()),
    };
    for (k, v) in &case.headers {
        rb = rb.header(*k, v.as_str());
    }
    let started = Instant::now();
    let resp = rb
        .send()
        .map_err(|e| format!("{}: no answer: {e}", case.name))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .bytes()
        .map_err(|e| format!("{}: body: {e}", case.name))?;
    let elapsed = started.elapsed();
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "{}: status {status}, not JSON: {}",
            case.name,
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        )
    })?;
    Ok(Answer {
        status,
        body,
        elapsed,
    })
}

/// Every error of a response (or of every response of a batch) has a known code.
fn coded_errors(body: &Value) -> Result<Vec<String>, String> {
    let responses: Vec<&Value> = match body {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        other => vec![other],
    };
    let mut codes = Vec::new();
    for r in responses {
        let errors = r["errors"]
            .as_array()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| format!("no errors in {}", short(r)))?;
        for e in errors {
            let code = e["extensions"]["code"]
                .as_str()
                .ok_or_else(|| format!("an error without a code: {}", short(e)))?;
            if !CODES.contains(&code) {
                return Err(format!("unexpected code {code}: {}", short(e)));
            }
            if e["message"].as_str().map(str::is_empty).unwrap_or(true) {
                return Err(format!("an error without a message: {}", short(e)));
            }
            codes.push(code.to_string());
        }
    }
    Ok(codes)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(400).collect()
}

fn healthy(c: &Client, base: &str) -> bool {
    c.get(format!("{base}/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .map(|r| r.status().as_u16() == 200)
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------------------
// Cases generated from the schema.

/// The introspection query graphql-js (and so GraphiQL) sends.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}
"#;

struct Schema {
    types: BTreeMap<String, Value>,
}

impl Schema {
    fn fields(&self, ty: &str) -> Vec<Value> {
        self.types
            .get(ty)
            .and_then(|t| t["fields"].as_array())
            .cloned()
            .unwrap_or_default()
    }

    /// GraphQL type text of a TypeRef (`[ID!]!`).
    fn type_text(t: &Value) -> String {
        match t["kind"].as_str() {
            Some("NON_NULL") => format!("{}!", Self::type_text(&t["ofType"])),
            Some("LIST") => format!("[{}]", Self::type_text(&t["ofType"])),
            _ => t["name"].as_str().unwrap_or("?").to_string(),
        }
    }

    fn named(t: &Value) -> &Value {
        match t["kind"].as_str() {
            Some("NON_NULL") | Some("LIST") => Self::named(&t["ofType"]),
            _ => t,
        }
    }

    /// A selection that is valid for the field's return type.
    fn selection(&self, ret: &Value) -> &'static str {
        match Self::named(ret)["kind"].as_str() {
            Some("OBJECT") | Some("INTERFACE") | Some("UNION") => " { __typename }",
            _ => "",
        }
    }

    /// Literal values that can never be valid for input type `t` (depth bounds the recursion
    /// into input objects).
    fn wrong_literals(&self, t: &Value, depth: usize) -> Vec<String> {
        match t["kind"].as_str() {
            Some("NON_NULL") => {
                let mut v = self.wrong_literals(&t["ofType"], depth);
                v.push("null".into());
                v
            }
            Some("LIST") => self
                .wrong_literals(&t["ofType"], depth)
                .into_iter()
                .filter(|w| w != "null" || Self::is_non_null(&t["ofType"]))
                .map(|w| format!("[{w}]"))
                .collect(),
            Some("SCALAR") => match t["name"].as_str().unwrap_or("") {
                "Int" => vec![
                    "\"x\"".into(),
                    "1.5".into(),
                    "99999999999".into(),
                    "true".into(),
                ],
                "Float" => vec!["\"x\"".into(), "true".into()],
                "String" => vec!["1".into(), "true".into(), "{a: 1}".into()],
                "Boolean" => vec!["1".into(), "\"true\"".into()],
                "ID" => vec!["true".into(), "1.5".into(), "{a: 1}".into()],
                "JSON" => vec![],
                _ => vec![
                    "true".into(),
                    "{a: 1}".into(),
                    "\"not a valid value\"".into(),
                ],
            },
            // (async-graphql accepts a member's name as a string literal too, so that is no
            // wrong value here.)
            Some("ENUM") => vec!["NOT_A_MEMBER".into(), "1".into(), "true".into()],
            Some("INPUT_OBJECT") => {
                let mut v: Vec<String> = vec![
                    "5".into(),
                    "\"x\"".into(),
                    "{bogusField: 1}".into(),
                    "[{bogusField: 1}]".into(),
                ];
                if depth > 0 {
                    let def = &self.types[t["name"].as_str().unwrap()];
                    for f in def["inputFields"].as_array().into_iter().flatten() {
                        let name = f["name"].as_str().unwrap();
                        for w in self.wrong_literals(&f["type"], depth - 1) {
                            v.push(format!("{{{name}: {w}}}"));
                        }
                    }
                }
                v
            }
            _ => vec![],
        }
    }

    fn is_non_null(t: &Value) -> bool {
        t["kind"].as_str() == Some("NON_NULL")
    }

    /// Variable values (JSON) that can never be valid for `t`.
    fn wrong_json(&self, t: &Value) -> Vec<Value> {
        let named = Self::named(t);
        let mut v = match (named["kind"].as_str(), named["name"].as_str()) {
            (Some("SCALAR"), Some("Int")) => vec![json!("x"), json!(1.5), json!(1e12)],
            (Some("SCALAR"), Some("Float")) => vec![json!("x")],
            (Some("SCALAR"), Some("String")) => vec![json!(5), json!({"a": 1})],
            (Some("SCALAR"), Some("Boolean")) => vec![json!("yes")],
            (Some("SCALAR"), Some("ID")) => vec![json!(true), json!({"a": 1})],
            (Some("SCALAR"), Some("JSON")) => vec![],
            (Some("SCALAR"), _) => vec![json!(true), json!({"a": 1})],
            (Some("ENUM"), _) => vec![json!("NOT_A_MEMBER"), json!(3)],
            (Some("INPUT_OBJECT"), _) => vec![json!(5), json!("x"), json!({"bogusField": 1})],
            _ => vec![],
        };
        if Self::is_non_null(t) {
            v.push(Value::Null);
        }
        v
    }
}

fn nested_json(depth: usize, list: bool) -> Value {
    let mut v = json!(1);
    for _ in 0..depth {
        v = if list { json!([v]) } else { json!({ "a": v }) };
    }
    v
}

/// Deeply nested JSON as text (serde_json cannot build values this deep to serialise them).
fn deep_json_text(depth: usize) -> String {
    format!(
        "{{\"query\": \"query($v: JSON) {{ stats {{ cis }} }}\", \"variables\": {{\"v\": {}1{}}}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

fn generate(schema: &Schema, url: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let deep_list = format!("{}1{}", "[".repeat(2_000), "]".repeat(2_000));
    let deep_object = format!("{}1{}", "{a: ".repeat(5_000), "}".repeat(5_000));
    let huge_string = format!("\"{}\"", "x".repeat(70_000));
    let huge_list = format!("[{}]", "1,".repeat(10_001));
    for (root, keyword) in [("Query", "query"), ("Mutation", "mutation")] {
        for field in schema.fields(root) {
            let f = field["name"].as_str().unwrap().to_string();
            let sel = schema.selection(&field["type"]);
            let args = field["args"].as_array().cloned().unwrap_or_default();
            let required: Vec<&Value> = args
                .iter()
                .filter(|a| Schema::is_non_null(&a["type"]) && a["defaultValue"].is_null())
                .collect();
            let id = format!("{root}.{f}");
            let lit = |name: String, q: String, cases: &mut Vec<Case>| {
                cases.push(Case::query(format!("{name} [json]"), &q));
                cases.push(Case::graphql_body(format!("{name} [graphql]"), &q));
                if keyword == "query" && q.len() < 6_000 {
                    cases.push(Case::get(
                        format!("{name} [get]"),
                        &format!("query={}", enc(&q)),
                    ));
                }
            };
            // Per field.
            if !required.is_empty() {
                lit(
                    format!("{id}: required arguments missing"),
                    format!("{keyword} {{ {f}{sel} }}"),
                    &mut cases,
                );
            }
            lit(
                format!("{id}: unknown argument"),
                format!("{keyword} {{ {f}(bogusArgument: 1){sel} }}"),
                &mut cases,
            );
            lit(
                format!("{id}: unknown subfield"),
                format!("{keyword} {{ {f} {{ noSuchField }} }}"),
                &mut cases,
            );
            if !sel.is_empty() {
                lit(
                    format!("{id}: object without selection"),
                    format!("{keyword} {{ {f} }}"),
                    &mut cases,
                );
            }
            let deep_sel = format!(
                "{keyword} {{ {f} {}__typename{} }}",
                "{ a ".repeat(200),
                " }".repeat(200)
            );
            lit(format!("{id}: selection 200 deep"), deep_sel, &mut cases);
            let aliases: String = (0..300).map(|i| format!("a{i}: {f}{sel} ")).collect();
            lit(
                format!("{id}: 300 aliases"),
                format!("{keyword} {{ {aliases}}}"),
                &mut cases,
            );
            lit(
                format!("{id}: 60 directives"),
                format!(
                    "{keyword} {{ {f} {}{sel} }}",
                    "@include(if: true) ".repeat(60)
                ),
                &mut cases,
            );
            let other = if keyword == "query" {
                "mutation"
            } else {
                "query"
            };
            lit(
                format!("{id}: on the wrong root"),
                format!("{other} {{ {f}{sel} }}"),
                &mut cases,
            );
            let bomb = fragment_bomb(root, &format!("{f}{sel}"), 40);
            lit(format!("{id}: fragment bomb"), bomb, &mut cases);
            // Per argument.
            for a in &args {
                let an = a["name"].as_str().unwrap();
                let ty = Schema::type_text(&a["type"]);
                for w in schema.wrong_literals(&a["type"], 1) {
                    lit(
                        format!("{id}({an}: {w})"),
                        format!("{keyword} {{ {f}({an}: {w}){sel} }}"),
                        &mut cases,
                    );
                }
                lit(
                    format!("{id}({an}): list 2,000 deep"),
                    format!("{keyword} {{ {f}({an}: {deep_list}){sel} }}"),
                    &mut cases,
                );
                lit(
                    format!("{id}({an}): object 5,000 deep"),
                    format!("{keyword} {{ {f}({an}: {deep_object}){sel} }}"),
                    &mut cases,
                );
                lit(
                    format!("{id}({an}): 70 kB string"),
                    format!("{keyword} {{ {f}({an}: {huge_string}){sel} }}"),
                    &mut cases,
                );
                lit(
                    format!("{id}({an}): list of 10,001"),
                    format!("{keyword} {{ {f}({an}: {huge_list}){sel} }}"),
                    &mut cases,
                );
                lit(
                    format!("{id}({an}) twice"),
                    format!("{keyword} {{ {f}({an}: null, {an}: null){sel} }}"),
                    &mut cases,
                );
                // Variables: a wrongly typed variable, wrong JSON, absent, deep and long.
                let op = format!("{keyword} Op($v: {ty}) {{ {f}({an}: $v){sel} }}");
                for w in schema.wrong_json(&a["type"]) {
                    cases.push(Case::query_vars(
                        format!("{id}({an}: ${w})"),
                        &op,
                        json!({ "v": w }),
                    ));
                }
                if Schema::is_non_null(&a["type"]) {
                    cases.push(Case::query_vars(
                        format!("{id}({an}): variable absent"),
                        &op,
                        json!({}),
                    ));
                }
                cases.push(Case::query_vars(
                    format!("{id}({an}): variable 100 deep"),
                    &op,
                    json!({ "v": nested_json(100, true) }),
                ));
                cases.push(Case::query_vars(
                    format!("{id}({an}): variable object 100 deep"),
                    &op,
                    json!({ "v": nested_json(100, false) }),
                ));
                cases.push(Case::query_vars(
                    format!("{id}({an}): variable list of 20,000"),
                    &op,
                    json!({ "v": vec![json!("x"); 20_000] }),
                ));
                let wrong_decl = format!("{keyword} Op($v: Boolean) {{ {f}({an}: $v){sel} }}");
                if !ty.trim_end_matches('!').eq("Boolean") && !ty.starts_with("JSON") {
                    cases.push(Case::query_vars(
                        format!("{id}({an}): variable declared Boolean"),
                        &wrong_decl,
                        json!({ "v": true }),
                    ));
                }
                cases.push(Case::query_vars(
                    format!("{id}({an}): undeclared variable"),
                    &format!("{keyword} {{ {f}({an}: $nope){sel} }}"),
                    json!({ "nope": 1 }),
                ));
            }
        }
    }
    cases.extend(transport_cases(url));
    cases
}

/// `levels` fragments, each spreading the next twice; the last selects `leaf`.
fn fragment_bomb(on: &str, leaf: &str, levels: usize) -> String {
    let keyword = if on == "Mutation" {
        "mutation"
    } else {
        "query"
    };
    let mut q = format!("{keyword} {{ ...F0 }}\n");
    for i in 0..levels {
        q += &format!("fragment F{i} on {on} {{ ...F{} ...F{} }}\n", i + 1, i + 1);
    }
    q += &format!("fragment F{levels} on {on} {{ {leaf} }}\n");
    q
}

/// Cases about the transport rather than the schema.
fn transport_cases(url: &str) -> Vec<Case> {
    let mut c = Vec::new();
    let ok_query = json!({ "query": "{ stats { cis } }" })
        .to_string()
        .into_bytes();
    // Content types a browser may send cross-origin without asking first, and others.
    for ct in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/xml",
        "text/html",
        "application/json5",
        "application/jsonx",
        "json",
    ] {
        c.push(Case::post_raw(
            format!("content type `{ct}`"),
            ct,
            ok_query.clone(),
        ));
    }
    c.push(Case::post_raw(
        "form-encoded mutation",
        "application/x-www-form-urlencoded",
        b"query=mutation%20%7B%20recomputeServices%20%7B%20__typename%20%7D%20%7D".to_vec(),
    ));
    // Other origins and hosts (open mode).
    for origin in [
        "http://evil.example",
        "null",
        "https://127.0.0.1.evil.example",
        "http://localhost:1",
        "file://",
        "http://127.0.0.1",
    ] {
        c.push(
            Case::post_raw(
                format!("origin {origin}"),
                "application/json",
                ok_query.clone(),
            )
            .header("origin", origin),
        );
    }
    for host in [
        "evil.example",
        "evil.example:8080",
        "127.0.0.1.nip.io",
        "10.1.2.3:8080",
        "localhost.evil.example",
    ] {
        c.push(
            Case::post_raw(format!("host {host}"), "application/json", ok_query.clone())
                .header("host", host),
        );
        c.push(
            Case::get(
                format!("GET, host {host}"),
                "query=%7B%20stats%20%7B%20cis%20%7D%20%7D",
            )
            .header("host", host),
        );
    }
    let _ = url;
    // Bodies that are not GraphQL requests.
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", vec![]),
        ("truncated JSON", b"{\"query\": \"{ stats".to_vec()),
        ("just [", b"[".to_vec()),
        ("JSON null", b"null".to_vec()),
        ("JSON number", b"5".to_vec()),
        ("JSON string", b"\"{ stats { cis } }\"".to_vec()),
        ("query is a number", b"{\"query\": 5}".to_vec()),
        ("query is null", b"{\"query\": null}".to_vec()),
        ("query is an object", b"{\"query\": {\"a\": 1}}".to_vec()),
        ("no query", b"{\"variables\": {}}".to_vec()),
        (
            "variables a number",
            b"{\"query\": \"{ stats { cis } }\", \"variables\": 5}".to_vec(),
        ),
        (
            "variables a string",
            b"{\"query\": \"{ stats { cis } }\", \"variables\": \"x\"}".to_vec(),
        ),
        (
            "operationName a number",
            b"{\"query\": \"{ stats { cis } }\", \"operationName\": 5}".to_vec(),
        ),
        (
            "unknown operationName",
            b"{\"query\": \"query A { stats { cis } }\", \"operationName\": \"B\"}".to_vec(),
        ),
        (
            "trailing garbage",
            b"{\"query\": \"{ stats { cis } }\"} xyz".to_vec(),
        ),
        (
            "invalid UTF-8 in JSON",
            b"{\"query\": \"{ stats { \xff\xfe } }\"}".to_vec(),
        ),
        ("invalid UTF-8 bytes", vec![0xff, 0xfe, 0xfd, 0x00, 0x80]),
        (
            "NUL in the query",
            b"{\"query\": \"{ stats\\u0000 { cis } }\"}".to_vec(),
        ),
        (
            "lone surrogate escape",
            b"{\"query\": \"{ stats { \\ud800 } }\"}".to_vec(),
        ),
        (
            "number 1e999",
            b"{\"query\": \"{ stats { cis } }\", \"variables\": {\"v\": 1e999}}".to_vec(),
        ),
        ("empty batch", b"[]".to_vec()),
        ("JSON 100,000 deep", "[".repeat(100_000).into_bytes()),
        ("variables JSON 200 deep", deep_json_text(200).into_bytes()),
        (
            "variables JSON 2,000 deep",
            deep_json_text(2_000).into_bytes(),
        ),
        ("variables JSON 100 deep", deep_json_text(100).into_bytes()),
    ];
    for (name, body) in bodies {
        c.push(Case::post_raw(name, "application/json", body));
    }
    c.push(Case::post_raw(
        "application/graphql, invalid UTF-8",
        "application/graphql",
        vec![b'{', 0xff, b'}'],
    ));
    c.push(Case::post_raw(
        "application/graphql, empty",
        "application/graphql",
        vec![],
    ));
    // Batches.
    let batch: Vec<Value> = (0..21)
        .map(|_| json!({ "query": "{ stats { cis } }" }))
        .collect();
    c.push(Case::post_json("batch of 21", &Value::Array(batch)));
    let hostile: Vec<Value> = vec![
        json!({ "query": format!("{{ impact(ids: {}1{}) {{ affectedCount }} }}", "[".repeat(3_000), "]".repeat(3_000)) }),
        json!({ "query": fragment_bomb("Query", "stats { cis }", 40) }),
        json!({ "query": "{ nope }" }),
    ];
    c.push(Case::post_json(
        "batch of hostile operations",
        &Value::Array(hostile),
    ));
    // Oversize.
    c.push(Case::post_raw(
        "body of 2 MiB",
        "application/json",
        format!(
            "{{\"query\": \"{{ stats {{ cis }} }}\", \"variables\": {{\"v\": \"{}\"}}}}",
            "x".repeat(2 << 20)
        )
        .into_bytes(),
    ));
    c.push(Case::query(
        "query of 1 MiB - 100 bytes",
        &format!("{{ stats {{ cis }} }} #{}", "x".repeat((1 << 20) - 200)),
    ));
    // Documents.
    let docs: Vec<(String, String)> = vec![
        ("empty document".into(), "".into()),
        ("whitespace only".into(), "   \n\t ".into()),
        ("comment only".into(), "# nothing".into()),
        (
            "unterminated string".into(),
            "{ cis(filter: {name: {equals: \"abc}}) { totalCount } }".into(),
        ),
        (
            "unterminated block string".into(),
            "{ cis(filter: {name: {equals: \"\"\"abc}}) { totalCount } }".into(),
        ),
        (
            "bad escape".into(),
            "{ cis(filter: {name: {equals: \"\\uZZZZ\"}}) { totalCount } }".into(),
        ),
        ("unbalanced braces".into(), "{ stats { cis }".into()),
        ("closing only".into(), "}}}}]]]))))".into()),
        ("opening 30,000".into(), "{".repeat(30_000)),
        (
            "brackets 30,000".into(),
            format!("{{ impact(ids: {}", "[".repeat(30_000)),
        ),
        (
            "parens 30,000".into(),
            format!("{{ stats{} }}", "(".repeat(30_000)),
        ),
        (
            "selection 16 deep".into(),
            format!(
                "{{ {}__typename{} }}",
                "ci(id: \"x\") { relationships { nodes { from { ".repeat(4),
                " } } } }".repeat(4)
            ),
        ),
        (
            "selection 10,000 deep".into(),
            format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000)),
        ),
        (
            "inline fragments 40 deep".into(),
            format!(
                "{{ {} stats {{ cis }} {} }}",
                "... on Query { ".repeat(40),
                "}".repeat(40)
            ),
        ),
        ("fragment bomb 10 levels wide".into(), {
            let mut q = String::from("{ ...F0 }\n");
            for i in 0..10 {
                q += &format!(
                    "fragment F{i} on Query {{ {} }}\n",
                    format!("...F{} ", i + 1).repeat(10)
                );
            }
            q + "fragment F10 on Query { stats { cis } }"
        }),
        (
            "fragment bomb 28 levels".into(),
            fragment_bomb("Query", "stats { cis }", 28),
        ),
        (
            "fragment bomb 1,000 levels".into(),
            fragment_bomb("Query", "stats { cis }", 1_000),
        ),
        (
            "fragment cycle".into(),
            "{ ...A } fragment A on Query { ...B } fragment B on Query { stats { cis } ...A }"
                .into(),
        ),
        (
            "fragment spreads itself".into(),
            "{ ...A } fragment A on Query { ...A }".into(),
        ),
        ("unknown fragment".into(), "{ ...Nope }".into()),
        (
            "fragment on a wrong type".into(),
            "{ ...A } fragment A on CI { id }".into(),
        ),
        (
            "fragment on an unknown type".into(),
            "{ ...A } fragment A on Nope { id }".into(),
        ),
        (
            "5,001 fields".into(),
            format!("{{ stats {{ {} }} }}", "cis ".repeat(5_001)),
        ),
        (
            "5,000 aliases".into(),
            format!(
                "{{ {} }}",
                (0..5_000)
                    .map(|i| format!("a{i}: __typename"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (
            "directives on 3,000 spreads".into(),
            format!(
                "{{ {} }} fragment A on Query {{ stats {{ cis }} }}",
                "...A @skip(if: false) ".repeat(3_000)
            ),
        ),
        ("unknown directive".into(), "{ stats @nope { cis } }".into()),
        (
            "2,000 operations, none named".into(),
            (0..2_000)
                .map(|i| format!("query Q{i} {{ stats {{ cis }} }}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (
            "two anonymous operations".into(),
            "{ stats { cis } } { stats { cis } }".into(),
        ),
        (
            "subscription over POST".into(),
            "subscription { ciChanged { id } }".into(),
        ),
        (
            "introspection 20 deep".into(),
            format!(
                "{{ __type(name: \"CI\") {{ {}name{} }} }}",
                "fields { type { ".repeat(10),
                " } }".repeat(10)
            ),
        ),
        (
            "Int overflow".into(),
            "{ discoveryRuns(first: 99999999999999999999999) { id } }".into(),
        ),
        (
            "float as Int".into(),
            "{ discoveryRuns(first: 1e999) { id } }".into(),
        ),
        (
            "list type 40 deep".into(),
            format!(
                "query($a: {}Int{}) {{ stats {{ cis }} }}",
                "[".repeat(40),
                "]".repeat(40)
            ),
        ),
        (
            "default value 40 deep".into(),
            format!(
                "query($a: JSON = {}1{}) {{ stats {{ cis }} }}",
                "[".repeat(40),
                "]".repeat(40)
            ),
        ),
        (
            "directive argument 2,000 deep".into(),
            format!(
                "{{ stats @include(if: {}true{}) {{ cis }} }}",
                "[".repeat(2_000),
                "]".repeat(2_000)
            ),
        ),
        (
            "negative page size".into(),
            "{ cis(first: -1) { totalCount } }".into(),
        ),
        (
            "page size too large".into(),
            "{ cis(first: 1000000) { totalCount } }".into(),
        ),
        (
            "first and last".into(),
            "{ cis(first: 1, last: 1) { totalCount } }".into(),
        ),
        (
            "invalid regex".into(),
            "{ cis(filter: {name: {regex: \"(((\"}}) { totalCount } }".into(),
        ),
        (
            "huge regex".into(),
            format!(
                "{{ cis(filter: {{name: {{regex: \"{}\"}}}}) {{ totalCount }} }}",
                "(a|b)*".repeat(5_000)
            ),
        ),
        (
            "impact of 1,001 ids".into(),
            format!(
                "{{ impact(ids: [{}]) {{ affectedCount }} }}",
                (0..1_001)
                    .map(|i| format!("\"x{i}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ),
        (
            "maxDepth too deep".into(),
            "{ impact(ids: [\"x\"], maxDepth: 100000) { affectedCount } }".into(),
        ),
        (
            "unknown ci".into(),
            "{ impact(ids: [\"ci_nope\"]) { affectedCount } }".into(),
        ),
        (
            "bad cursor".into(),
            "{ cis(first: 1, after: \"!!not-a-cursor!!\") { totalCount } }".into(),
        ),
    ];
    for (name, q) in docs {
        c.push(Case::query(format!("{name} [json]"), &q));
        c.push(Case::graphql_body(format!("{name} [graphql]"), &q));
        if q.len() < 6_000 {
            c.push(Case::get(
                format!("{name} [get]"),
                &format!("query={}", enc(&q)),
            ));
        }
    }
    // GET specifics.
    c.push(Case::get("GET without query", "variables=%7B%7D"));
    c.push(Case::get("GET, invalid UTF-8", "query=%FF%FE%7B"));
    c.push(Case::get(
        "GET, variables not JSON",
        "query=%7B%20stats%20%7B%20cis%20%7D%20%7D&variables=nope",
    ));
    c.push(Case::get(
        "GET, variables 200 deep",
        &format!(
            "query=%7B%20stats%20%7B%20cis%20%7D%20%7D&variables={}",
            enc(&format!(
                "{{\"v\": {}1{}}}",
                "[".repeat(200),
                "]".repeat(200)
            ))
        ),
    ));
    c.push(Case::get(
        "GET, mutation",
        &format!(
            "query={}",
            enc("mutation { recomputeServices { __typename } }")
        ),
    ));
    c.push(Case::get(
        "GET, list 2,000 deep",
        &format!(
            "query={}",
            enc(&format!(
                "{{ impact(ids: {}1{}) {{ affectedCount }} }}",
                "[".repeat(2_000),
                "]".repeat(2_000)
            ))
        ),
    ));
    // Methods and paths.
    for (m, p) in [
        ("PUT", "/graphql"),
        ("DELETE", "/graphql"),
        ("PATCH", "/graphql"),
        ("OPTIONS", "/graphql"),
        ("POST", "/healthz"),
        ("POST", "/graphiql"),
        ("GET", "/nope"),
        ("POST", "/graphql/ws"),
        ("GET", "/graphql/../etc/passwd"),
        ("TRACE", "/graphql"),
    ] {
        let mut case = Case::post_raw(format!("{m} {p}"), "application/json", ok_query.clone());
        case.method = Method::Other(m);
        case.path = p.to_string();
        if m == "OPTIONS" {
            case = case
                .header("origin", "http://evil.example")
                .header("access-control-request-method", "POST");
        }
        c.push(case);
    }
    c
}

#[test]
fn malformed_request_suite() {
    let mut srv = Served::start("");
    let c = client();
    // The introspection GraphiQL sends passes every limit; the cases come from its answer.
    let intro = send(&c, &srv.url, &Case::query("introspection", INTROSPECTION))
        .expect("introspection answered");
    assert_eq!(intro.status, 200);
    assert!(
        intro.body["errors"].is_null(),
        "introspection refused: {}",
        short(&intro.body)
    );
    let types: BTreeMap<String, Value> = intro.body["data"]["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_string(), t.clone()))
        .collect();
    let schema = Schema { types };
    let cases = generate(&schema, &srv.url);
    assert!(cases.len() >= 1_000, "only {} cases", cases.len());

    let started = Instant::now();
    let failures = Mutex::new(Vec::<String>::new());
    let slowest = Mutex::new((Duration::ZERO, String::new()));
    let by_code = Mutex::new(BTreeMap::<String, usize>::new());
    let threads = 4;
    std::thread::scope(|s| {
        for t in 0..threads {
            let (cases, failures, slowest, by_code, c, url) =
                (&cases, &failures, &slowest, &by_code, &c, &srv.url);
            s.spawn(move || {
                for case in cases.iter().skip(t).step_by(threads) {
                    match send(c, url, case) {
                        Ok(a) => {
                            let verdict = if a.status >= 500 {
                                Err(format!("status {}", a.status))
                            } else if a.elapsed > PROMPT {
                                Err(format!("took {:?}", a.elapsed))
                            } else {
                                coded_errors(&a.body)
                            };
                            match verdict {
                                Ok(codes) => {
                                    let mut m = by_code.lock().unwrap();
                                    for code in codes {
                                        *m.entry(code).or_default() += 1;
                                    }
                                }
                                Err(e) => failures.lock().unwrap().push(format!(
                                    "{}: {e} (status {}): {}",
                                    case.name,
                                    a.status,
                                    short(&a.body)
                                )),
                            }
                            let mut sl = slowest.lock().unwrap();
                            if a.elapsed > sl.0 {
                                *sl = (a.elapsed, case.name.clone());
                            }
                        }
                        Err(e) => failures.lock().unwrap().push(e),
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let failures = failures.into_inner().unwrap();
    let (slow, slow_name) = slowest.into_inner().unwrap();
    eprintln!(
        "malformed_request_suite: {} cases in {:.1} s; slowest {} ms ({slow_name}); codes {:?}",
        cases.len(),
        elapsed.as_secs_f64(),
        slow.as_millis(),
        by_code.into_inner().unwrap()
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Still alive and well: health, a real query, no panic in the log.
    assert!(srv.alive(), "the server died:\n{}", srv.log());
    assert!(healthy(&c, &srv.url));
    let ok = send(&c, &srv.url, &Case::query("after", "{ stats { cis } }")).unwrap();
    assert!(
        ok.body["errors"].is_null() && ok.body["data"]["stats"]["cis"].is_number(),
        "{}",
        short(&ok.body)
    );
    let log = srv.log();
    assert!(!log.contains("panicked"), "a panic:\n{log}");
}

// ---------------------------------------------------------------------------------------
// The reported problems, one test each.

fn token_config(secret: &str, role: &str) -> String {
    format!(
        "[[auth.tokens]]\nname = \"t-{role}\"\nsha256 = \"{}\"\nrole = \"{role}\"\n",
        cmdb_server::http::auth::sha256_hex(secret)
    )
}

fn post(
    c: &Client,
    url: &str,
    bearer: Option<&str>,
    ctype: &str,
    body: Vec<u8>,
) -> (u16, Value, Duration) {
    let mut rb = c
        .post(format!("{url}/graphql"))
        .header("content-type", ctype)
        .body(body);
    if let Some(t) = bearer {
        rb = rb.bearer_auth(t);
    }
    let started = Instant::now();
    let r = rb.send().expect("answered");
    let status = r.status().as_u16();
    let body = r.json().unwrap_or(Value::Null);
    (status, body, started.elapsed())
}

fn first_code(body: &Value) -> String {
    let e = if body.is_array() {
        &body[0]["errors"][0]
    } else {
        &body["errors"][0]
    };
    e["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_string()
}

/// Problem 1: a list nested 2,000 deep or an object literal nested 5,000 deep, in any
/// argument, over any transport, from an open-mode caller or any token, is answered with an
/// error and the server stays up.
#[test]
fn deeply_nested_values_do_not_crash_the_server() {
    let deep_list = format!("{}\"x\"{}", "[".repeat(2_000), "]".repeat(2_000));
    let deep_object = format!("{}1{}", "{a: ".repeat(5_000), "}".repeat(5_000));
    let queries = [
        format!("{{ impact(ids: {deep_list}) {{ affectedCount }} }}"),
        format!("{{ ci(id: {deep_object}) {{ id }} }}"),
        format!("mutation {{ upsertCi(input: {{class: HOST, identifiers: {deep_object}}}) {{ created }} }}"),
        format!("mutation {{ upsertCi(input: {{class: HOST, identifiers: {{hostname: \"a\"}}, attributes: {deep_list}}}) {{ created }} }}"),
        format!("query($v: JSON = {deep_list}) {{ stats {{ cis }} }}"),
    ];
    let reader = token_config("r-secret", "reader");
    for (config, bearer) in [("", None), (reader.as_str(), Some("r-secret"))] {
        let mut srv = Served::start(config);
        let c = client();
        for q in &queries {
            for (ctype, body) in [
                (
                    "application/json",
                    json!({ "query": q }).to_string().into_bytes(),
                ),
                ("application/graphql", q.clone().into_bytes()),
            ] {
                let (status, body, took) = post(&c, &srv.url, bearer, ctype, body);
                assert_eq!(status, 200, "{}", short(&body));
                assert_eq!(first_code(&body), "LIMIT_EXCEEDED", "{}", short(&body));
                assert!(took < PROMPT, "{took:?}");
            }
        }
        // GET.
        let mut get = c.get(format!("{}/graphql?query={}", srv.url, enc(&queries[0])));
        if let Some(t) = bearer {
            get = get.bearer_auth(t);
        }
        let r = get.send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(first_code(&r.json().unwrap()), "LIMIT_EXCEEDED");
        // Variables JSON nested 2,000 deep: refused by the JSON reader; 100 deep: by the limits.
        for (depth, want_status, want) in
            [(2_000, 400, "INVALID_INPUT"), (100, 200, "LIMIT_EXCEEDED")]
        {
            let (status, body, _) = post(
                &c,
                &srv.url,
                bearer,
                "application/json",
                deep_json_text(depth).into_bytes(),
            );
            assert_eq!(
                (status, first_code(&body).as_str()),
                (want_status, want),
                "{depth}: {}",
                short(&body)
            );
        }
        // WebSocket.
        let mut ws =
            WsClient::connect(srv.addr, "/graphql/ws", "graphql-transport-ws", None).unwrap();
        let init = match bearer {
            Some(t) => json!({ "type": "connection_init", "payload": { "token": t } }),
            None => json!({ "type": "connection_init" }),
        };
        ws.send(&init).unwrap();
        assert_eq!(ws.recv().unwrap()["type"], json!("connection_ack"));
        ws.send(&json!({ "id": "1", "type": "subscribe", "payload": { "query": format!("subscription {{ ciChanged(ids: {deep_list}) {{ id }} }}") } })).unwrap();
        let msg = ws.recv().unwrap();
        assert_eq!(
            msg["payload"]["errors"][0]["extensions"]["code"],
            json!("LIMIT_EXCEEDED"),
            "{msg}"
        );
        assert!(srv.alive(), "{}", srv.log());
        assert!(healthy(&c, &srv.url));
    }
}

/// Problem 2: fragments spreading each other twice per level are refused at once — never
/// expanded — and /healthz answers throughout, also while several arrive at the same time.
#[test]
fn fragment_bombs_are_refused_at_once_and_health_checks_answer_meanwhile() {
    let mut srv = Served::start("");
    let c = client();
    let stop = AtomicBool::new(false);
    let bombs = [28, 40, 200]
        .map(|n| json!({ "query": fragment_bomb("Query", "stats { cis }", n) }).to_string());
    let wide = {
        let mut q = String::from("{ ...F0 }\n");
        for i in 0..12 {
            q += &format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1);
        }
        json!({ "query": q + "fragment F12 on Query { a: stats { cis } b: stats { cis } }" })
            .to_string()
    };
    let worst = Mutex::new(Duration::ZERO);
    let health_worst = std::thread::scope(|s| {
        for t in 0..4 {
            let (c, url, stop, bombs, wide, worst) = (&c, &srv.url, &stop, &bombs, &wide, &worst);
            s.spawn(move || {
                let mut i = t;
                while !stop.load(Ordering::SeqCst) {
                    let body = if i % 4 == 3 {
                        wide.clone()
                    } else {
                        bombs[i % 3].clone()
                    };
                    let (status, resp, took) =
                        post(c, url, None, "application/json", body.into_bytes());
                    assert_eq!(status, 200);
                    assert_eq!(first_code(&resp), "LIMIT_EXCEEDED", "{}", short(&resp));
                    assert!(took < Duration::from_secs(1), "a bomb took {took:?}");
                    let mut w = worst.lock().unwrap();
                    *w = (*w).max(took);
                    i += 1;
                }
            });
        }
        let mut health_worst = Duration::ZERO;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(2) {
            let t = Instant::now();
            assert!(healthy(&c, &srv.url), "/healthz did not answer");
            health_worst = health_worst.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(25));
        }
        stop.store(true, Ordering::SeqCst);
        health_worst
    });
    eprintln!(
        "fragment bombs: slowest answer {:?}; slowest /healthz {health_worst:?}",
        worst.into_inner().unwrap()
    );
    assert!(
        health_worst < Duration::from_secs(1),
        "/healthz took {health_worst:?}"
    );
    assert!(srv.alive());
}

/// A star: `hosts` hosts, each DEPENDS_ON one hub, as an import file.
fn star_estate(hosts: usize) -> String {
    let mut out = String::from("{\"kind\":\"ci\",\"key\":\"hub\",\"class\":\"Host\",\"name\":\"hub\",\"identifiers\":{\"hostname\":\"hub\"}}\n");
    for i in 0..hosts {
        out += &format!("{{\"kind\":\"ci\",\"key\":\"h{i}\",\"class\":\"Host\",\"name\":\"h{i}\",\"identifiers\":{{\"hostname\":\"h{i}\"}}}}\n");
    }
    for i in 0..hosts {
        out += &format!("{{\"kind\":\"relationship\",\"type\":\"DEPENDS_ON\",\"from\":\"h{i}\",\"to\":\"hub\"}}\n");
    }
    out
}

/// A valid query that fans out hosts × hosts CIs (with the complexity limit raised, as an
/// operator may): far more work than any budget allows.
const FAN_OUT: &str = "{ cis(filter: {name: {equals: \"hub\"}}) { nodes { relationships(first: 500) { nodes { from { relationships(first: 500) { nodes { to { relationships(first: 500) { nodes { from { name history(first: 5) { totalCount } } } } } } } } } } } } }";

/// Problem 2, the budget: a request that runs past `request_timeout_ms` is answered with
/// LIMIT_EXCEEDED, its work stops, /healthz answers meanwhile, and SIGTERM does not wait for
/// such requests beyond the budget.
#[test]
fn slow_requests_are_cancelled_at_the_time_budget() {
    let budget_ms = 600u64;
    let config = format!(
        "[limits]\nrequest_timeout_ms = {budget_ms}\nmax_query_complexity = 1000000000000\n"
    );
    let mut srv = Served::start_after(&config, |data, cfg| {
        let file = data.join("star.jsonl");
        std::fs::write(&file, star_estate(400)).unwrap();
        let out = cmdb_tests::cli::base_command(data)
            .arg("--config")
            .arg(cfg)
            .arg("import")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let c = client();
    let body = json!({ "query": FAN_OUT }).to_string();
    let budget = Duration::from_millis(budget_ms);
    let health_worst = std::thread::scope(|s| {
        let slow: Vec<_> = (0..3)
            .map(|_| {
                let (c, url, body) = (&c, &srv.url, &body);
                s.spawn(move || post(c, url, None, "application/json", body.clone().into_bytes()))
            })
            .collect();
        let mut health_worst = Duration::ZERO;
        let started = Instant::now();
        while started.elapsed() < budget + Duration::from_millis(400) {
            let t = Instant::now();
            assert!(healthy(&c, &srv.url), "/healthz did not answer");
            health_worst = health_worst.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(25));
        }
        for h in slow {
            let (status, resp, took) = h.join().unwrap();
            assert_eq!(status, 503, "{}", short(&resp));
            assert_eq!(first_code(&resp), "LIMIT_EXCEEDED", "{}", short(&resp));
            assert_eq!(
                resp["errors"][0]["extensions"]["limit"],
                json!("request_timeout_ms")
            );
            assert!(
                took >= budget && took < budget + Duration::from_millis(1_500),
                "answered after {took:?}"
            );
        }
        health_worst
    });
    assert!(
        health_worst < Duration::from_millis(500),
        "/healthz took {health_worst:?} while slow requests ran"
    );
    // The cancelled work has stopped: the server is idle again.
    std::thread::sleep(Duration::from_millis(300));
    let before = srv.cpu_seconds();
    std::thread::sleep(Duration::from_secs(1));
    let used = srv.cpu_seconds() - before;
    assert!(
        used < 0.3,
        "the server used {used:.2} s of CPU in the second after its requests were cancelled"
    );
    // SIGTERM with slow requests in flight: the server stops within the budget (plus start-up
    // slack), not after the requests' natural end.
    let (c2, url) = (client(), srv.url.clone());
    let inflight: Vec<_> = (0..2)
        .map(|_| {
            let (c2, url, body) = (c2.clone(), url.clone(), body.clone());
            std::thread::spawn(move || {
                c2.post(format!("{url}/graphql"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    let (took, ok) = srv.terminate(Duration::from_secs(10));
    assert!(
        ok,
        "cmdb serve did not exit cleanly on SIGTERM:\n{}",
        srv.log()
    );
    assert!(
        took < budget + Duration::from_secs(2),
        "SIGTERM took {took:?}"
    );
    for h in inflight {
        if let Ok(status) = h.join().unwrap() {
            assert_eq!(status, 503);
        }
    }
}

/// Problem 4: in open mode a web page can neither POST simple (text/plain, form, untyped)
/// requests, nor call from another origin, nor reach the server under a rebound host name,
/// nor open a WebSocket from another origin. GraphiQL, served by the binary and posting JSON
/// from its own origin, works. With tokens, the content-type rule stays and Host/Origin are
/// not checked (a forged request carries no token).
#[test]
fn cross_site_requests_are_refused_in_open_mode() {
    let srv = Served::start("");
    let c = client();
    let mutation = r#"mutation { upsertCi(input: {class: HOST, identifiers: {hostname: "csrf"}}) { created } }"#;
    let as_json = json!({ "query": mutation }).to_string();
    let form = format!("query={}", enc(mutation));
    for (ctype, body) in [
        ("text/plain", as_json.clone()),
        ("text/plain;charset=UTF-8", as_json.clone()),
        ("application/x-www-form-urlencoded", form),
        ("multipart/form-data; boundary=b", as_json.clone()),
        ("", as_json.clone()),
    ] {
        let mut rb = c.post(format!("{}/graphql", srv.url)).body(body);
        if !ctype.is_empty() {
            rb = rb.header("content-type", ctype);
        }
        let r = rb.send().unwrap();
        assert_eq!(r.status().as_u16(), 415, "{ctype}");
        assert_eq!(first_code(&r.json().unwrap()), "INVALID_INPUT");
    }
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("host", "evil.example:8080"),
    ] {
        let r = c
            .post(format!("{}/graphql", srv.url))
            .header("content-type", "application/json")
            .header(header, value)
            .body(as_json.clone())
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{header}: {value}");
        assert_eq!(first_code(&r.json().unwrap()), "FORBIDDEN");
    }
    // A page on a rebound name reading data with GET.
    let r = c
        .get(format!(
            "{}/graphql?query={}",
            srv.url,
            enc("{ stats { cis } }")
        ))
        .header("host", "rebind.evil.example:8080")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // WebSockets from another origin.
    let refused = WsClient::connect_with(
        srv.addr,
        "/graphql/ws",
        "graphql-transport-ws",
        &[("Origin", "http://evil.example")],
    );
    assert!(
        refused
            .err()
            .map(|e| e.to_string().contains("403"))
            .unwrap_or(false),
        "a cross-origin WebSocket was accepted"
    );
    // Nothing was written.
    let (_, body, _) = post(
        &c,
        &srv.url,
        None,
        "application/json",
        json!({ "query": "{ cis(filter: {name: {equals: \"csrf\"}}) { totalCount } }" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(body["data"]["cis"]["totalCount"], json!(0), "{body}");

    // Same origin, as GraphiQL served by the binary: accepted.
    let page = c
        .get(format!("{}/graphiql", srv.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("/console/assets/graphiql.js"),
        "GraphiQL page"
    );
    let r = c
        .post(format!("{}/graphql", srv.url))
        .header("content-type", "application/json")
        .header("origin", srv.url.as_str())
        .body(as_json.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["data"]["upsertCi"]["created"], json!(true), "{body}");
    let r = c
        .post(format!(
            "{}/graphql",
            srv.url.replace("127.0.0.1", "localhost")
        ))
        .header("content-type", "application/json; charset=utf-8")
        .body(as_json.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "localhost is a loopback name");
    let mut ws = WsClient::connect_with(
        srv.addr,
        "/graphql/ws",
        "graphql-transport-ws",
        &[("Origin", srv.url.as_str())],
    )
    .expect("same-origin WebSocket");
    ws.send(&json!({ "type": "connection_init" })).unwrap();
    assert_eq!(ws.recv().unwrap()["type"], json!("connection_ack"));
    drop(srv);

    // With tokens: content types still enforced; Host and Origin not checked.
    let srv = Served::start(&token_config("e-secret", "editor"));
    let r = c
        .post(format!("{}/graphql", srv.url))
        .bearer_auth("e-secret")
        .header("content-type", "text/plain")
        .body(as_json.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = c
        .post(format!("{}/graphql", srv.url))
        .header("content-type", "application/json")
        .header("origin", "http://evil.example")
        .body(as_json.clone())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "no token, no access");
    let r = c
        .post(format!("{}/graphql", srv.url))
        .bearer_auth("e-secret")
        .header("content-type", "application/json")
        .header("origin", "http://ops-dashboard.example")
        .header("host", "cmdb.example:8080")
        .body(as_json)
        .send()
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "with a token, any Host and Origin"
    );
}

/// The WebSocket endpoint: hostile operations are answered with coded errors, malformed and
/// oversize messages close the connection, operations per connection are capped, and the
/// server stays healthy.
#[test]
fn websocket_hostile_messages() {
    let mut srv = Served::start("");
    let c = client();
    let connect = || {
        let mut ws =
            WsClient::connect(srv.addr, "/graphql/ws", "graphql-transport-ws", None).unwrap();
        ws.send(&json!({ "type": "connection_init" })).unwrap();
        assert_eq!(ws.recv().unwrap()["type"], json!("connection_ack"));
        ws
    };
    let mut ws = connect();
    let hostile = [
        fragment_bomb("Subscription", "ciChanged { id }", 40),
        fragment_bomb("Query", "stats { cis }", 40),
        format!(
            "subscription {{ ciChanged(ids: {}\"x\"{}) {{ id }} }}",
            "[".repeat(2_000),
            "]".repeat(2_000)
        ),
        format!(
            "{{ {} }}",
            (0..300)
                .map(|i| format!("a{i}: __typename"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        "subscription { nope }".to_string(),
        "{ stats { cis }".to_string(),
    ];
    for (i, q) in hostile.iter().enumerate() {
        ws.send(&json!({ "id": i.to_string(), "type": "subscribe", "payload": { "query": q } }))
            .unwrap();
        // `next` with the errors (or `error`), then `complete`.
        let msg = ws.recv().unwrap();
        assert_eq!(msg["id"], json!(i.to_string()), "{msg}");
        let code = msg["payload"]["errors"][0]["extensions"]["code"]
            .as_str()
            .or_else(|| msg["payload"][0]["extensions"]["code"].as_str())
            .unwrap_or("<none>");
        assert!(CODES.contains(&code), "{q:.80}: {msg}");
        if msg["type"] == json!("next") {
            assert_eq!(ws.recv().unwrap()["type"], json!("complete"));
        }
    }
    // Deep variables.
    ws.send(&json!({ "id": "v", "type": "subscribe", "payload": { "query": "subscription($i: [ID!]) { ciChanged(ids: $i) { id } }", "variables": { "i": nested_json(60, true) } } })).unwrap();
    let msg = ws.recv().unwrap();
    assert!(msg.to_string().contains("LIMIT_EXCEEDED"), "{msg}");
    // At most max_ws_operations subscriptions at once on one connection.
    let mut ws = connect();
    for i in 0..100 {
        ws.send(&json!({ "id": format!("s{i}"), "type": "subscribe", "payload": { "query": "subscription { ciChanged { id } }" } })).unwrap();
    }
    ws.send(&json!({ "id": "one-too-many", "type": "subscribe", "payload": { "query": "subscription { ciChanged { id } }" } })).unwrap();
    // (async-graphql-actix-web may hand messages of one connection on out of order, so which
    // of the last few is refused is not fixed.)
    let msg = ws.recv().unwrap();
    assert!(msg.to_string().contains("max_ws_operations"), "{msg}");
    // Not JSON, not UTF-8: the connection is closed.
    for bad in [&b"not json"[..], &[0xff, 0xfe, 0x00][..]] {
        let mut ws = connect();
        ws.send_text(bad).unwrap();
        assert!(ws.recv().is_err(), "connection closed");
    }
    // A message over max_body_bytes (1 MiB), in continuation frames: the connection is closed.
    let mut ws = connect();
    let chunk = vec![b' '; 64 * 1024];
    let mut closed = ws
        .send_frame(false, 0x1, b"{\"type\": \"ping\", \"payload\": \"")
        .is_err();
    for _ in 0..20 {
        closed |= ws.send_frame(false, 0x0, &chunk).is_err();
    }
    closed |= ws.send_frame(true, 0x0, b"\"}").is_err();
    assert!(
        closed || ws.recv().is_err(),
        "an oversize message was accepted"
    );
    assert!(srv.alive(), "{}", srv.log());
    assert!(healthy(&c, &srv.url));
}

/// Tokens with `expires_at`: an expired token gets HTTP 401 `TOKEN_EXPIRED` (not
/// `UNAUTHENTICATED`, and without the token) on every authenticated surface of the real
/// binary; a WebSocket refused at `connection_init` says so in its close reason; a
/// subscription open when its token expires ends with `TOKEN_EXPIRED`; a malformed
/// `expires_at` stops the server at start, naming the token.
#[test]
fn expired_tokens_are_refused_as_expired_everywhere() {
    // Built before the clock starts: a token expires a few seconds after the server starts.
    cmdb_tests::cli::cmdb_bin();
    let soon_text = (chrono::Utc::now() + chrono::Duration::seconds(6))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let soon: chrono::DateTime<chrono::Utc> = soon_text.parse().unwrap();
    let config = format!(
        "{}expires_at = \"2020-01-01T00:00:00Z\"\n{}expires_at = \"{soon_text}\"\n{}",
        token_config("old-secret", "admin"),
        token_config("soon-secret", "reader"),
        token_config("good-secret", "editor"),
    );
    let srv = Served::start(&config);
    let c = client();
    let expired = |status: u16, body: &Value, what: &str| {
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(first_code(body), "TOKEN_EXPIRED", "{what}: {body}");
        let msg = body["errors"][0]["message"].as_str().unwrap_or("");
        assert!(
            msg.contains("expired at 2020-01-01T00:00:00Z"),
            "{what}: {msg}"
        );
        assert!(!body.to_string().contains("old-secret"), "{what}: {body}");
    };

    // GraphQL over POST and GET.
    let (status, body, _) = post(
        &c,
        &srv.url,
        Some("old-secret"),
        "application/json",
        json!({ "query": "{ stats { cis } }" })
            .to_string()
            .into_bytes(),
    );
    expired(status, &body, "POST /graphql");
    let r = c
        .get(format!(
            "{}/graphql?query={}",
            srv.url,
            enc("{ stats { cis } }")
        ))
        .bearer_auth("old-secret")
        .send()
        .unwrap();
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        www.contains("invalid_token") && www.contains("expired"),
        "{www}"
    );
    expired(r.status().as_u16(), &r.json().unwrap(), "GET /graphql");
    // The other authenticated endpoints.
    for (path, body) in [
        (
            "/api/v1/events",
            json!({"source": "nagios", "node": "db1", "severity": 1}),
        ),
        ("/api/v1/alerts/alertmanager", json!({"alerts": []})),
    ] {
        let r = c
            .post(format!("{}{path}", srv.url))
            .bearer_auth("old-secret")
            .json(&body)
            .send()
            .unwrap();
        expired(r.status().as_u16(), &r.json().unwrap(), path);
    }
    let r = c
        .get(format!("{}/metrics", srv.url))
        .bearer_auth("old-secret")
        .send()
        .unwrap();
    expired(r.status().as_u16(), &r.json().unwrap(), "/metrics");
    // A wrong token is still just invalid; a good one works.
    let (status, body, _) = post(
        &c,
        &srv.url,
        Some("nope"),
        "application/json",
        json!({ "query": "{ stats { cis } }" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(
        (status, first_code(&body).as_str()),
        (401, "UNAUTHENTICATED")
    );
    let (status, body, _) = post(
        &c,
        &srv.url,
        Some("good-secret"),
        "application/json",
        json!({ "query": "{ stats { cis } }" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!(status, 200, "{body}");

    // WebSocket: the token in the upgrade request, then in connection_init (both forms).
    let e = WsClient::connect(
        srv.addr,
        "/graphql/ws",
        "graphql-transport-ws",
        Some("old-secret"),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.contains("401") && e.contains("expired"), "{e}");
    for payload in [
        json!({ "token": "old-secret" }),
        json!({ "Authorization": "Bearer old-secret" }),
    ] {
        let mut ws =
            WsClient::connect(srv.addr, "/graphql/ws", "graphql-transport-ws", None).unwrap();
        ws.send(&json!({ "type": "connection_init", "payload": payload }))
            .unwrap();
        let e = ws.recv().unwrap_err().to_string();
        assert!(
            e.contains("TOKEN_EXPIRED: API token expired at 2020-01-01T00:00:00Z"),
            "{payload}: {e}"
        );
        assert!(!e.contains("old-secret"));
    }

    // A subscription open when its token expires: told so, then completed; the connection
    // answers nothing more, and the token is refused everywhere from then on.
    assert!(
        chrono::Utc::now() + chrono::Duration::seconds(2) < soon,
        "the server took too long to start for this test"
    );
    let mut ws = WsClient::connect(srv.addr, "/graphql/ws", "graphql-transport-ws", None).unwrap();
    ws.send(&json!({ "type": "connection_init", "payload": { "token": "soon-secret" } }))
        .unwrap();
    assert_eq!(ws.recv().unwrap()["type"], json!("connection_ack"));
    ws.send(&json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { ciChanged { id } }" } }))
        .unwrap();
    let msg = ws.recv().expect("told before the read timeout");
    assert!(chrono::Utc::now() >= soon, "not before it expired: {msg}");
    assert_eq!(msg["id"], json!("1"), "{msg}");
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"],
        json!("TOKEN_EXPIRED"),
        "{msg}"
    );
    assert_eq!(ws.recv().unwrap()["type"], json!("complete"));
    ws.send(
        &json!({ "id": "2", "type": "subscribe", "payload": { "query": "{ stats { cis } }" } }),
    )
    .unwrap();
    let msg = ws.recv().unwrap();
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"],
        json!("TOKEN_EXPIRED"),
        "{msg}"
    );
    let (status, body, _) = post(
        &c,
        &srv.url,
        Some("soon-secret"),
        "application/json",
        json!({ "query": "{ stats { cis } }" })
            .to_string()
            .into_bytes(),
    );
    assert_eq!((status, first_code(&body).as_str()), (401, "TOKEN_EXPIRED"));
    drop(srv);

    // A malformed expiry: the server does not start, and says which token.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cmdb.toml");
    std::fs::write(
        &cfg,
        format!(
            "{}expires_at = \"end of year\"\n",
            token_config("x-secret", "reader")
        ),
    )
    .unwrap();
    let out = cmdb_tests::cli::base_command(dir.path())
        .arg("--config")
        .arg(&cfg)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "[[auth.tokens]] `t-reader`: expires_at `end of year` is not an RFC 3339 time"
        ),
        "{err}"
    );
    // `cmdb token-hash --expires-at` prints an entry that loads (in UTC), or refuses.
    let out = cmdb_tests::cli::cmdb(
        dir.path(),
        &[
            "token-hash",
            "tok",
            "--name",
            "dash",
            "--expires-at",
            "2026-12-31T01:00:00+01:00",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("expires_at = \"2026-12-31T00:00:00Z\""),
        "{text}"
    );
    let out = cmdb_tests::cli::cmdb(dir.path(), &["token-hash", "tok", "--expires-at", "soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expires-at"));
}
