//! `cmdb`: the CMDB and discovery server. This binary is wiring only: CLI, config, HTTP,
//! scheduling. Each subcommand lives in its own file under `commands/`.

mod commands;
use cmdb_server::config;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "cmdb",
    version,
    about = "CMDB and service-mapping discovery server"
)]
pub struct Cli {
    /// Where the embedded store lives.
    #[arg(long, global = true, env = "CMDB_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Config file (TOML). Default: ./cmdb.toml if present.
    #[arg(long, global = true, env = "CMDB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log filter (tracing EnvFilter syntax), e.g. `info,cmdb_store=debug`.
    #[arg(long, global = true, env = "CMDB_LOG", default_value = "info")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (GraphQL API, GraphiQL, health endpoints).
    Serve(commands::serve::Args),
    /// Run one GraphQL operation against the configured store and print the JSON response.
    Graphql(commands::graphql::Args),
    /// Import CIs and relationships from a JSON-lines file (through identification).
    Import(commands::import::Args),
    /// Export CIs and relationships as JSON lines or CSV.
    Export(commands::export::Args),
    /// Discover targets over SNMP and/or SSH (and the local host) into the store.
    Discover(commands::discover::Args),
    /// Mark STALE CIs older than the retirement age as RETIRED.
    Retire(commands::retire::Args),
    /// Print the [[auth.tokens]] entry (SHA-256) for an API token, or generate a token.
    TokenHash(commands::token_hash::Args),
    /// Copy the whole graph between backends (`--from embedded --to neo4j`).
    Migrate(commands::migrate::Args),
    /// Check the embedded store: SQLite's integrity check and the store's invariants.
    Check(commands::check::Args),
    /// Service-level reports: `cmdb report availability --window 30d [--format table|csv|json]`.
    Report(commands::report::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    commands::init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
