//! One file per subcommand. Shared helpers: logging and opening the configured store.

pub mod check;
pub mod discover;
pub mod export;
pub mod graphql;
pub mod import;
pub mod migrate;
pub mod report;
pub mod retire;
pub mod serve;
pub mod token_hash;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};

use crate::config::Config;
use crate::{Cli, Command};

pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Everything a subcommand needs: parsed config and where data lives.
pub struct Context {
    pub config: Config,
    pub data_dir: std::path::PathBuf,
}

impl Context {
    /// Open the configured store: the embedded one (creating the data directory 0700 on first use)
    /// or a Neo4j server (checked at start: reachable, right password, a Bolt server).
    pub async fn open_store(&self) -> anyhow::Result<Arc<dyn GraphStore>> {
        if self.config.store.backend == cmdb_server::config::StoreBackend::Neo4j {
            let cfg = self.config.store.neo4j_config();
            let store = cmdb_store::neo4j::Neo4jStore::connect(&cfg)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot use the Neo4j store at {}: {e} ({})",
                        cfg.uri,
                        e.code()
                    )
                })?;
            return Ok(Arc::new(store));
        }
        self.open_embedded(EmbeddedOptions::default())
            .map(|s| Arc::new(s) as Arc<dyn GraphStore>)
    }

    /// Open the embedded store file (creating the data directory 0700 on first use).
    pub fn open_embedded(&self, opts: EmbeddedOptions) -> anyhow::Result<EmbeddedStore> {
        let path = self.config.store_path(&self.data_dir);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            cmdb_server::private_fs::create_dir(dir)
                .with_context(|| format!("cannot create data directory {}", dir.display()))?;
            cmdb_server::private_fs::warn_if_shared(dir);
        }
        EmbeddedStore::open(&path, opts)
            .with_context(|| format!("cannot open the embedded store at {}", path.display()))
    }

    pub fn ingest_options(&self) -> cmdb_store::IngestOptions {
        cmdb_store::IngestOptions {
            dry_run: false,
            precedence: self.config.precedence(),
        }
    }
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    let ctx = Context {
        config,
        data_dir: cli.data_dir,
    };
    match cli.command {
        Command::Serve(a) => serve::run(ctx, a).await,
        Command::Graphql(a) => graphql::run(ctx, a).await,
        Command::Import(a) => import::run(ctx, a).await,
        Command::Discover(a) => discover::run(ctx, a).await,
        Command::Export(a) => export::run(ctx, a).await,
        Command::Retire(a) => retire::run(ctx, a).await,
        Command::TokenHash(a) => token_hash::run(ctx, a).await,
        Command::Migrate(a) => migrate::run(ctx, a).await,
        Command::Check(a) => check::run(ctx, a).await,
        Command::Report(a) => report::run(ctx, a).await,
    }
}
