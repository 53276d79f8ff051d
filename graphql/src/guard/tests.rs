//! The request limits against ordinary documents and hostile ones.

use std::time::{Duration, Instant};

use async_graphql::{Request, ServerError};

use super::{check_request, RequestLimits};

fn limits() -> RequestLimits {
    RequestLimits::default()
}

fn check(q: &str) -> Result<(), ServerError> {
    check_request(&mut Request::new(q), &limits())
}

fn limit_of(r: Result<(), ServerError>) -> String {
    let e = r.expect_err("refused");
    let ext = e.extensions.expect("extensions");
    assert_eq!(
        ext.get("code").map(|v| v.to_string()),
        Some("\"LIMIT_EXCEEDED\"".to_string()),
        "{}",
        e.message
    );
    ext.get("limit")
        .map(|v| v.to_string().trim_matches('"').to_string())
        .unwrap_or_default()
}

/// The full introspection query graphql-js (and so GraphiQL) sends.
pub(crate) const INTROSPECTION: &str = r#"
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

#[test]
fn ordinary_documents_pass() {
    check(INTROSPECTION).unwrap();
    check("{ cis(first: 10, filter: {name: {contains: \"{[(\"}}) { nodes { id name } } }").unwrap();
    check("query($a: [[Int!]!] = [[1, 2], [3]]) @skip(if: false) { a: stats { cis } b: stats { cis } }").unwrap();
    check("query { cis(filter: {name: {contains: \"\"\"a block string with \\\"\"\" and [[[ inside\"\"\"}}) { totalCount } } # [[[[[[ in a comment").unwrap();
}

#[test]
fn deep_values_refused_by_the_text_pass() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        for n in [33, 2_000, 10_000] {
            let q = format!(
                "{{ impact(ids: {}1{}) {{ affectedCount }} }}",
                open.repeat(n),
                close.repeat(n)
            );
            assert_eq!(limit_of(check(&q)), "max_value_depth", "{n} × {open}");
        }
    }
    // Exactly at the limit: passes the guard (validation then judges the types).
    let q = format!(
        "{{ impact(ids: {}1{}) {{ affectedCount }} }}",
        "[".repeat(32),
        "]".repeat(32)
    );
    check(&q).unwrap();
    // List types nest too.
    let q = format!(
        "query($a: {}Int{}) {{ stats {{ cis }} }}",
        "[".repeat(40),
        "]".repeat(40)
    );
    assert_eq!(limit_of(check(&q)), "max_value_depth");
    // Unbalanced brackets still count.
    let q = format!("{{ a(b: {}", "[{".repeat(5_000));
    assert_eq!(limit_of(check(&q)), "max_value_depth");
}

#[test]
fn deep_selections_refused() {
    let deep = |n: usize| format!("{}{}", "{ a ".repeat(n), "}".repeat(n));
    assert_eq!(limit_of(check(&deep(10_000))), "max_query_depth");
    assert_eq!(limit_of(check(&deep(16))), "max_query_depth");
    // Nesting through inline fragments and spreads without fields.
    let q = format!(
        "{{ {} stats {{ cis }} {} }}",
        "... on Query { ".repeat(40),
        "}".repeat(40)
    );
    assert_eq!(limit_of(check(&q)), "max_query_depth");
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..40 {
        q += &format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1);
    }
    q += "fragment F40 on Query { stats { cis } }";
    assert_eq!(limit_of(check(&q)), "max_query_depth");
}

fn bomb(levels: usize) -> String {
    let mut q = String::from("query { ...F0 }\n");
    for i in 0..levels {
        q += &format!("fragment F{i} on Query {{ ...F{} ...F{} }}\n", i + 1, i + 1);
    }
    q += &format!("fragment F{levels} on Query {{ stats {{ cis }} }}\n");
    q
}

#[test]
fn fragment_bombs_refused_without_expanding() {
    for levels in [14, 40, 1_000] {
        let t = Instant::now();
        let r = check(&bomb(levels));
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{levels} levels took {:?}",
            t.elapsed()
        );
        let limit = limit_of(r);
        assert!(
            limit == "max_selections" || limit == "max_query_depth",
            "{levels}: {limit}"
        );
    }
    // A wide fan-out at few levels: refused on selections.
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..5 {
        q += &format!(
            "fragment F{i} on Query {{ {} }}\n",
            format!("...F{} ", i + 1).repeat(20)
        );
    }
    q += "fragment F5 on Query { stats { cis } }";
    assert_eq!(limit_of(check(&q)), "max_selections");
}

#[test]
fn fragment_cycles_refused() {
    let e =
        check("{ ...A } fragment A on Query { ...B } fragment B on Query { stats { cis } ...A }")
            .unwrap_err();
    assert!(e.message.contains("spreads itself"), "{}", e.message);
    let e = check("{ ...A } fragment A on Query { ...A }").unwrap_err();
    assert!(e.message.contains("spreads itself"), "{}", e.message);
    // A long chain (no cycle) is walked without recursion.
    let mut q = String::from("{ ...F0 }\n");
    for i in 0..3_000 {
        q += &format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1);
    }
    q += "fragment F3000 on Query { stats { cis } }";
    let mut req = Request::new(q);
    let big = RequestLimits {
        max_query_bytes: 1 << 20,
        ..limits()
    };
    let e = check_request(&mut req, &big).unwrap_err();
    assert!(e.message.contains("nest"), "{}", e.message);
}

#[test]
fn floods_refused() {
    let aliases = format!(
        "{{ {} }}",
        (0..201)
            .map(|i| format!("a{i}: stats {{ cis }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert_eq!(limit_of(check(&aliases)), "max_aliases");
    let directives = format!("{{ stats {} {{ cis }} }}", "@skip(if: false) ".repeat(51));
    assert_eq!(limit_of(check(&directives)), "max_directives");
    let fields = format!("{{ stats {{ {} }} }}", "cis ".repeat(5_001));
    assert_eq!(limit_of(check(&fields)), "max_selections");
    let list = format!(
        "{{ impact(ids: [{}]) {{ affectedCount }} }}",
        "\"x\",".repeat(10_001)
    );
    assert_eq!(limit_of(check(&list)), "max_list_items");
    let size = format!("{{ stats {{ cis }} }} #{}", "x".repeat(64 * 1024));
    assert_eq!(limit_of(check(&size)), "max_query_bytes");
}

#[test]
fn variables_checked() {
    let mut deep = serde_json::json!(1);
    for _ in 0..33 {
        deep = serde_json::json!([deep]);
    }
    let mut req = Request::new("query($v: JSON) { stats { cis } }").variables(
        async_graphql::Variables::from_json(serde_json::json!({ "v": deep })),
    );
    assert_eq!(
        limit_of(check_request(&mut req, &limits())),
        "max_value_depth"
    );
    let long = serde_json::Value::Array(vec![serde_json::json!(1); 10_001]);
    let mut req = Request::new("query($v: [ID!]!) { impact(ids: $v) { affectedCount } }")
        .variables(async_graphql::Variables::from_json(
            serde_json::json!({ "v": long }),
        ));
    assert_eq!(
        limit_of(check_request(&mut req, &limits())),
        "max_list_items"
    );
}

#[test]
fn syntax_errors_are_invalid_input() {
    let e = check("{ stats { cis }").unwrap_err();
    assert_eq!(
        e.extensions.unwrap().get("code").map(|v| v.to_string()),
        Some("\"INVALID_INPUT\"".into())
    );
}
