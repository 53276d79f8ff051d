//! The request limits and how a refusal reads (`extensions.code` and `extensions.limit`).

use async_graphql::{Pos, ServerError};

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

pub(super) fn limit_error(limit: &'static str, message: String, pos: Option<Pos>) -> ServerError {
    let mut e = ServerError::new(message, pos);
    let ext = e.extensions.get_or_insert_with(Default::default);
    ext.set("code", LIMIT_EXCEEDED);
    ext.set("limit", limit);
    e
}

pub(super) fn invalid(message: String, pos: Option<Pos>) -> ServerError {
    let mut e = ServerError::new(message, pos);
    e.extensions
        .get_or_insert_with(Default::default)
        .set("code", INVALID_INPUT);
    e
}

pub(super) fn list_error(len: usize, limits: &RequestLimits, pos: Option<Pos>) -> ServerError {
    limit_error(
        "max_list_items",
        format!(
            "a list of {len} items exceeds the maximum of {}",
            limits.max_list_items
        ),
        pos,
    )
}
