//! Request limits checked before async-graphql parses or validates anything, so that no
//! document can crash the server (stack overflow on deep nesting) or stall it (fragments that
//! expand exponentially, quadratic validation over huge documents).
//!
//! Three passes, each linear in the size of the request and none of them recursive over
//! input-controlled depth:
//! 1. **Text** ([`scan_text`]): the query's size in bytes, then one pass over its tokens that
//!    tracks the nesting of `{`, `[` and `(` — selection sets and values apart — and stops at
//!    the first bracket past the limit. Only after it passes does the (recursive) parser run,
//!    so the parser never sees more than a bounded nesting.
//! 2. **Document** ([`check_document`]): selections, aliases, directives, field depth and
//!    selection nesting *as the validator will see them*, i.e. with every fragment spread
//!    counted as the fragment's expansion — computed once per fragment (memoised, in
//!    dependency order, cycles refused), never by expanding. List sizes of literal values.
//! 3. **Variables** ([`check_variables`]): nesting depth and list sizes of the variables,
//!    walked with an explicit stack.
//!
//! [`RequestGuard`] runs all three in async-graphql's `prepare_request` hook, so they apply to
//! every transport (HTTP POST and GET, WebSocket, `cmdb graphql`) and before the parser,
//! `limit_depth`/`limit_complexity` and the validation rules. The parsed document is handed on,
//! so the query is parsed once.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::{Directive, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, Positioned, Request, ServerError, ServerResult};
use async_graphql_value::{ConstValue, Value};

use crate::error::{INVALID_INPUT, LIMIT_EXCEEDED};

/// The limits a request is checked against (part of [`crate::ApiLimits`]). Each rejection
/// names the `[limits]` config key in `extensions.limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLimits {
    /// Bytes of query text (`max_query_bytes`).
    pub max_query_bytes: usize,
    /// Depth of fields, fragments expanded (`max_query_depth`; what async-graphql's
    /// `limit_depth` measures, checked here before validation).
    pub max_query_depth: usize,
    /// Nesting of list and input-object values, in the query text and in the variables
    /// (`max_value_depth`). List types (`[[Int]]`) count too.
    pub max_value_depth: usize,
    /// Items in one list value, literal or variable (`max_list_items`).
    pub max_list_items: usize,
    /// Selections (fields, fragment spreads, inline fragments) the validator visits: every
    /// operation and fragment definition, each spread counted as its fragment's expansion
    /// (`max_selections`).
    pub max_selections: usize,
    /// Aliased fields, fragments expanded (`max_aliases`).
    pub max_aliases: usize,
    /// Directives, fragments expanded (`max_directives`).
    pub max_directives: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_query_bytes: 64 * 1024,
            max_query_depth: 15,
            max_value_depth: 32,
            max_list_items: 10_000,
            max_selections: 5_000,
            max_aliases: 200,
            max_directives: 50,
        }
    }
}

impl RequestLimits {
    /// How deeply selection sets may nest, counting inline fragments and fragment spreads as
    /// a level each (what async-graphql's `limit_recursive_depth` measures). Derived from
    /// `max_query_depth`: room for one inline fragment or spread per field level, plus two.
    pub fn max_nesting(&self) -> usize {
        self.max_query_depth.saturating_mul(2).saturating_add(2)
    }
}

/// The hard upper bound for `max_query_depth` and `max_value_depth` the configuration
/// accepts: above it, the recursive parser and validator could run out of stack.
pub const MAX_DEPTH_SETTING: usize = 64;

fn limit_error(limit: &'static str, message: String, pos: Option<Pos>) -> ServerError {
    let mut e = ServerError::new(message, pos);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", LIMIT_EXCEEDED);
    ext.set("limit", limit);
    e
}

fn invalid(message: String, pos: Option<Pos>) -> ServerError {
    let mut e = ServerError::new(message, pos);
    e.extensions
        .get_or_insert_with(Default::default)
        .set("code", INVALID_INPUT);
    e
}

/// Line and column of byte offset `at` in `text` (1-based, columns in characters).
fn pos_of(text: &str, at: usize) -> Pos {
    let before = &text[..at.min(text.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Pos { line, column }
}

/// Pass 1: the query text's size and bracket nesting. Linear, no recursion, no allocation
/// beyond the bracket stack (itself bounded by the limits).
pub fn scan_text(query: &str, limits: &RequestLimits) -> Result<(), ServerError> {
    if query.len() > limits.max_query_bytes {
        return Err(limit_error(
            "max_query_bytes",
            format!(
                "the query is {} bytes, more than the maximum of {}",
                query.len(),
                limits.max_query_bytes
            ),
            None,
        ));
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Open {
        Selection,
        Object,
        List,
        Paren,
    }
    let max_nesting = limits.max_nesting();
    let b = query.as_bytes();
    let mut stack: Vec<Open> = Vec::new();
    let (mut selections, mut values) = (0usize, 0usize);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                // Block string: ends at an unescaped `"""`.
                i += 3;
                while i < b.len() && !b[i..].starts_with(b"\"\"\"") {
                    i += if b[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 3;
                continue;
            }
            b'"' => {
                // String: ends at an unescaped `"` or at the end of the line (a syntax error
                // the parser reports).
                i += 1;
                while i < b.len() && b[i] != b'"' && b[i] != b'\n' && b[i] != b'\r' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            c @ (b'{' | b'[' | b'(') => {
                let in_value =
                    matches!(stack.last(), Some(Open::Object | Open::List | Open::Paren));
                let open = match c {
                    b'{' if in_value => Open::Object,
                    b'{' => Open::Selection,
                    b'[' => Open::List,
                    _ => Open::Paren,
                };
                match open {
                    Open::Selection => {
                        selections += 1;
                        if selections > max_nesting {
                            return Err(limit_error(
                                "max_query_depth",
                                format!(
                                    "selection sets nest more than {max_nesting} levels deep (2 × max_query_depth {} + 2)",
                                    limits.max_query_depth
                                ),
                                Some(pos_of(query, i)),
                            ));
                        }
                    }
                    Open::Object | Open::List => {
                        values += 1;
                        if values > limits.max_value_depth {
                            return Err(limit_error(
                                "max_value_depth",
                                format!("values (lists, input objects, list types) nest more than {} levels deep", limits.max_value_depth),
                                Some(pos_of(query, i)),
                            ));
                        }
                    }
                    Open::Paren => {}
                }
                // Whatever the kinds, the parser never nests deeper than the brackets open
                // here; both counters are bounded, so is it.
                stack.push(open);
            }
            b'}' | b']' | b')' => match stack.pop() {
                Some(Open::Selection) => selections -= 1,
                Some(Open::Object | Open::List) => values -= 1,
                Some(Open::Paren) | None => {}
            },
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What one selection set amounts to once its fragment spreads are expanded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Size {
    selections: u64,
    aliases: u64,
    directives: u64,
    /// Field depth (as async-graphql's `limit_depth` counts it).
    depth: u64,
    /// Nested selection sets, spreads and inline fragments counting one each (as
    /// async-graphql's `limit_recursive_depth` counts it).
    nesting: u64,
}

impl Size {
    fn add(&mut self, o: &Size) {
        self.selections = self.selections.saturating_add(o.selections);
        self.aliases = self.aliases.saturating_add(o.aliases);
        self.directives = self.directives.saturating_add(o.directives);
    }
}

struct DocCheck<'a> {
    doc: &'a ExecutableDocument,
    limits: &'a RequestLimits,
    /// Expanded size of each fragment, filled in dependency order.
    fragments: HashMap<&'a str, Size>,
}

impl<'a> DocCheck<'a> {
    /// Expanded size of a selection set whose spreads' fragments are all in `self.fragments`
    /// (or unknown, which validation reports). Recursion here follows the nesting of one
    /// definition's text, bounded by [`scan_text`].
    fn selection_set(&self, ss: &'a Positioned<SelectionSet>) -> Result<Size, ServerError> {
        let mut total = Size::default();
        let mut deepest = 0u64;
        let mut nested = 0u64;
        for item in &ss.node.items {
            match &item.node {
                Selection::Field(f) => {
                    total.selections = total.selections.saturating_add(1);
                    if f.node.alias.is_some() {
                        total.aliases = total.aliases.saturating_add(1);
                    }
                    total.directives = total
                        .directives
                        .saturating_add(f.node.directives.len() as u64);
                    for (_, v) in &f.node.arguments {
                        self.value(&v.node, v.pos)?;
                    }
                    self.directives(&f.node.directives)?;
                    let sub = if f.node.selection_set.node.items.is_empty() {
                        Size::default()
                    } else {
                        self.selection_set(&f.node.selection_set)?
                    };
                    total.add(&sub);
                    deepest = deepest.max(sub.depth.saturating_add(1));
                    nested = nested.max(sub.nesting);
                }
                Selection::InlineFragment(f) => {
                    total.selections = total.selections.saturating_add(1);
                    total.directives = total
                        .directives
                        .saturating_add(f.node.directives.len() as u64);
                    self.directives(&f.node.directives)?;
                    let sub = self.selection_set(&f.node.selection_set)?;
                    total.add(&sub);
                    deepest = deepest.max(sub.depth);
                    nested = nested.max(sub.nesting);
                }
                Selection::FragmentSpread(s) => {
                    total.selections = total.selections.saturating_add(1);
                    total.directives = total
                        .directives
                        .saturating_add(s.node.directives.len() as u64);
                    self.directives(&s.node.directives)?;
                    if let Some(sub) = self.fragments.get(s.node.fragment_name.node.as_str()) {
                        total.add(sub);
                        deepest = deepest.max(sub.depth);
                        nested = nested.max(sub.nesting.saturating_add(1));
                    }
                }
            }
        }
        total.depth = deepest;
        total.nesting = nested.saturating_add(1);
        Ok(total)
    }

    fn directives(&self, ds: &'a [Positioned<Directive>]) -> Result<(), ServerError> {
        for d in ds {
            for (_, v) in &d.node.arguments {
                self.value(&v.node, v.pos)?;
            }
        }
        Ok(())
    }

    /// List sizes of a literal value (its depth is bounded by [`scan_text`]).
    fn value(&self, v: &Value, pos: Pos) -> Result<(), ServerError> {
        match v {
            Value::List(items) => {
                if items.len() > self.limits.max_list_items {
                    return Err(list_error(items.len(), self.limits, Some(pos)));
                }
                items.iter().try_for_each(|i| self.value(i, pos))
            }
            Value::Object(fields) => fields.values().try_for_each(|i| self.value(i, pos)),
            _ => Ok(()),
        }
    }

    fn const_value(&self, v: &ConstValue, pos: Pos) -> Result<(), ServerError> {
        match v {
            ConstValue::List(items) => {
                if items.len() > self.limits.max_list_items {
                    return Err(list_error(items.len(), self.limits, Some(pos)));
                }
                items.iter().try_for_each(|i| self.const_value(i, pos))
            }
            ConstValue::Object(fields) => {
                fields.values().try_for_each(|i| self.const_value(i, pos))
            }
            _ => Ok(()),
        }
    }

    /// Fill `self.fragments` in dependency order (an explicit-stack depth-first walk of the
    /// spread graph); a cycle is refused here, before anything expands it.
    fn fragments(&mut self) -> Result<(), ServerError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Open,
            Done,
        }
        let doc = self.doc;
        let mut marks: HashMap<&'a str, Mark> = HashMap::new();
        for root in doc.fragments.keys() {
            if marks.contains_key(root.as_str()) {
                continue;
            }
            // (fragment, its direct spreads, how many of them are handled)
            let mut stack: Vec<(&'a str, Vec<(&'a str, Pos)>, usize)> = Vec::new();
            marks.insert(root.as_str(), Mark::Open);
            stack.push((
                root.as_str(),
                spreads_of(&doc.fragments[root].node.selection_set),
                0,
            ));
            while let Some((name, spreads, next)) = stack.last_mut() {
                if let Some(&(child, pos)) = spreads.get(*next) {
                    *next += 1;
                    match marks.get(child) {
                        Some(Mark::Done) => {}
                        Some(Mark::Open) => {
                            return Err(invalid(format!("fragment `{child}` spreads itself (directly or through other fragments)"), Some(pos)))
                        }
                        None => {
                            if let Some((key, def)) = doc.fragments.get_key_value(child) {
                                marks.insert(key.as_str(), Mark::Open);
                                stack.push((key.as_str(), spreads_of(&def.node.selection_set), 0));
                            }
                        }
                    }
                    continue;
                }
                let name = *name;
                let size = self.selection_set(&doc.fragments[name].node.selection_set)?;
                self.fragments.insert(name, size);
                marks.insert(name, Mark::Done);
                stack.pop();
            }
        }
        Ok(())
    }
}

fn list_error(len: usize, limits: &RequestLimits, pos: Option<Pos>) -> ServerError {
    limit_error(
        "max_list_items",
        format!(
            "a list of {len} items exceeds the maximum of {}",
            limits.max_list_items
        ),
        pos,
    )
}

/// The fragment spreads directly in a selection set (not through other fragments).
fn spreads_of(ss: &Positioned<SelectionSet>) -> Vec<(&str, Pos)> {
    let mut out = Vec::new();
    let mut todo = vec![ss];
    while let Some(ss) = todo.pop() {
        for item in &ss.node.items {
            match &item.node {
                Selection::Field(f) => todo.push(&f.node.selection_set),
                Selection::InlineFragment(f) => todo.push(&f.node.selection_set),
                Selection::FragmentSpread(s) => {
                    out.push((s.node.fragment_name.node.as_str(), s.pos))
                }
            }
        }
    }
    out
}

/// Pass 2: the parsed document, fragments counted at every spread without being expanded.
pub fn check_document(doc: &ExecutableDocument, limits: &RequestLimits) -> Result<(), ServerError> {
    let mut c = DocCheck {
        doc,
        limits,
        fragments: HashMap::new(),
    };
    c.fragments()?;
    // What validation visits: every fragment definition and every operation, spreads
    // expanded where the validator's inline visitors expand them.
    let mut total = Size::default();
    for (name, size) in &c.fragments {
        // The depth visitor measures fragment definitions on their own too.
        if size.depth > limits.max_query_depth as u64 {
            return Err(limit_error(
                "max_query_depth",
                format!(
                    "fragment `{name}` nests fields {} levels deep, more than the maximum of {}",
                    size.depth, limits.max_query_depth
                ),
                None,
            ));
        }
        total.add(size);
    }
    for f in doc.fragments.values() {
        c.directives(&f.node.directives)?;
        total.directives = total
            .directives
            .saturating_add(f.node.directives.len() as u64);
    }
    for (_, op) in doc.operations.iter() {
        let op = &op.node;
        c.directives(&op.directives)?;
        total.directives = total.directives.saturating_add(op.directives.len() as u64);
        for v in &op.variable_definitions {
            if let Some(d) = &v.node.default_value {
                c.const_value(&d.node, d.pos)?;
            }
        }
        let size = c.selection_set(&op.selection_set)?;
        if size.depth > limits.max_query_depth as u64 {
            return Err(limit_error(
                "max_query_depth",
                format!(
                    "fields nest {} levels deep, more than the maximum of {}",
                    size.depth, limits.max_query_depth
                ),
                Some(op.selection_set.pos),
            ));
        }
        // async-graphql counts the operation's own selection set as level 0.
        if size.nesting.saturating_sub(1) > limits.max_nesting() as u64 {
            return Err(limit_error(
                "max_query_depth",
                format!(
                    "selection sets, inline fragments and fragment spreads nest {} levels deep, more than the maximum of {} (2 × max_query_depth + 2)",
                    size.nesting - 1,
                    limits.max_nesting()
                ),
                Some(op.selection_set.pos),
            ));
        }
        total.add(&size);
    }
    if total.selections > limits.max_selections as u64 {
        return Err(limit_error(
            "max_selections",
            format!(
                "the document amounts to {} selections with its fragments expanded, more than the maximum of {}",
                total.selections, limits.max_selections
            ),
            None,
        ));
    }
    if total.aliases > limits.max_aliases as u64 {
        return Err(limit_error(
            "max_aliases",
            format!("the document has {} aliased fields with its fragments expanded, more than the maximum of {}", total.aliases, limits.max_aliases),
            None,
        ));
    }
    if total.directives > limits.max_directives as u64 {
        return Err(limit_error(
            "max_directives",
            format!("the document has {} directives with its fragments expanded, more than the maximum of {}", total.directives, limits.max_directives),
            None,
        ));
    }
    Ok(())
}

/// Pass 3: the variables' nesting and list sizes, with an explicit stack (serde_json already
/// refuses JSON nested deeper than 128 on every HTTP path; in-process callers are held to the
/// same limits).
pub fn check_variables(
    vars: &async_graphql::Variables,
    limits: &RequestLimits,
) -> Result<(), ServerError> {
    let mut todo: Vec<(&ConstValue, usize)> = vars.values().map(|v| (v, 0)).collect();
    while let Some((v, depth)) = todo.pop() {
        match v {
            ConstValue::List(items) => {
                if depth + 1 > limits.max_value_depth {
                    return Err(limit_error(
                        "max_value_depth",
                        format!(
                            "a variable's value nests more than {} levels deep",
                            limits.max_value_depth
                        ),
                        None,
                    ));
                }
                if items.len() > limits.max_list_items {
                    return Err(list_error(items.len(), limits, None));
                }
                todo.extend(items.iter().map(|i| (i, depth + 1)));
            }
            ConstValue::Object(fields) => {
                if depth + 1 > limits.max_value_depth {
                    return Err(limit_error(
                        "max_value_depth",
                        format!(
                            "a variable's value nests more than {} levels deep",
                            limits.max_value_depth
                        ),
                        None,
                    ));
                }
                todo.extend(fields.values().map(|i| (i, depth + 1)));
            }
            _ => {}
        }
    }
    Ok(())
}

/// All three passes over a request; on success the parsed document is stored in it (so
/// async-graphql does not parse again). Safe to run more than once.
pub fn check_request(req: &mut Request, limits: &RequestLimits) -> Result<(), ServerError> {
    scan_text(&req.query, limits)?;
    check_variables(&req.variables, limits)?;
    let doc = req.parsed_query().map_err(|mut e| {
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", INVALID_INPUT);
        e
    })?;
    check_document(doc, limits)
}

/// The extension that runs [`check_request`] on every request before parsing.
pub struct RequestGuard(pub Arc<RequestLimits>);

impl ExtensionFactory for RequestGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestGuardImpl(self.0.clone()))
    }
}

struct RequestGuardImpl(Arc<RequestLimits>);

#[async_trait::async_trait]
impl Extension for RequestGuardImpl {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Err(e) = check_request(&mut request, &self.0) {
            tracing::debug!(code = ?e.extensions.as_ref().and_then(|x| x.get("code").cloned()), message = %e.message, "request refused by the request limits");
            return Err(e);
        }
        next.run(ctx, request).await
    }
}

/// The `events` role may run only mutations made of `ingestEvent` (and `__typename`): a
/// monitoring system's token posts events and reads nothing. Checked on the parsed document,
/// before validation and execution, for every transport.
pub struct EventsOnly;

impl ExtensionFactory for EventsOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(EventsOnlyImpl)
    }
}

struct EventsOnlyImpl;

#[async_trait::async_trait]
impl Extension for EventsOnlyImpl {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &async_graphql::Variables,
        next: async_graphql::extensions::NextParseQuery<'_>,
    ) -> ServerResult<async_graphql::parser::types::ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if ctx.data_opt::<crate::Role>() == Some(&crate::Role::Events) && !only_ingest(&doc) {
            let mut e = ServerError::new(
                "the events role may only run the ingestEvent mutation",
                None,
            );
            e.extensions
                .get_or_insert_with(Default::default)
                .set("code", "FORBIDDEN");
            return Err(e);
        }
        Ok(doc)
    }
}

fn only_ingest(doc: &async_graphql::parser::types::ExecutableDocument) -> bool {
    use async_graphql::parser::types::{OperationType, Selection};
    doc.operations.iter().all(|(_, op)| {
        op.node.ty == OperationType::Mutation
            && op
                .node
                .selection_set
                .node
                .items
                .iter()
                .all(|s| match &s.node {
                    Selection::Field(f) => {
                        let n = f.node.name.node.as_str();
                        n == "ingestEvent" || n == "__typename"
                    }
                    _ => false,
                })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

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
        check("{ cis(first: 10, filter: {name: {contains: \"{[(\"}}) { nodes { id name } } }")
            .unwrap();
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
        let e = check(
            "{ ...A } fragment A on Query { ...B } fragment B on Query { stats { cis } ...A }",
        )
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
}
