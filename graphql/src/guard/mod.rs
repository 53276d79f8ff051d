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
//!
//! Beside the limits, who may do what: the caller's [`Role`], the field guards that check it
//! ([`RoleGuard`], [`IngestGuard`]) and the `events` role's only-`ingestEvent` rule
//! ([`EventsOnly`]).

mod document;
mod limits;
mod request;
mod role;
mod text;
mod variables;

pub use document::check_document;
pub use limits::{RequestLimits, MAX_DEPTH_SETTING};
pub use request::{check_request, RequestGuard};
pub use role::{may_ingest, EventsOnly, IngestGuard, Role, RoleGuard, UnknownRole};
pub use text::scan_text;
pub use variables::check_variables;

#[cfg(test)]
mod tests;
