//! The Bolt lab (tests/lab/bolt): an ArcadeDB server with its Bolt plugin on 127.0.0.1:17687,
//! started once per test binary by [`lab()`]; [`fresh()`] gives a test an empty graph in a
//! connected `Neo4jStore`, held exclusively (tests of one binary share the database).
//! The same harness the store's own Neo4j tests use.

#[path = "../../store/tests/support/bolt_lab.rs"]
mod harness;

pub use harness::*;
