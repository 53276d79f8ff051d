//! The server's reusable parts: configuration and the HTTP layer. `main.rs` is the CLI; the
//! integration tests start the HTTP layer in-process through this library.

pub mod config;
pub mod discovery;
pub mod http;
pub mod live;
pub mod metrics;
pub mod private_fs;
pub mod run_log;
pub mod run_targets;
