//! `cmdb migrate --from embedded --to neo4j` (and back): copy the whole graph into a Neo4j
//! database, for users who outgrow one machine. CIs keep their ids, attributes with provenance, timestamps
//! and statuses; relationships their evidence; history is copied; identifier keys are
//! recomputed with the model's rules so discovery keeps matching the copied CIs.
//!
//! The Neo4j connection comes from a `Neo4jConfig` ([`run_with`]); [`run`] builds one from
//! `--neo4j-*` options / `CMDB_NEO4J_*` environment (the password only from
//! `CMDB_NEO4J_PASSWORD`, never from the command line).
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};
use cmdb_store::neo4j::{read_snapshot, Neo4jConfig, Neo4jStore};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Neo4j,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the graph is now.
    #[arg(long, value_enum)]
    pub from: Backend,
    /// Where to copy it.
    #[arg(long, value_enum)]
    pub to: Backend,
    /// Erase a non-empty target first.
    #[arg(long)]
    pub force: bool,
    /// Neo4j URI (`bolt://host:7687`).
    #[arg(long, env = "CMDB_NEO4J_URI")]
    pub neo4j_uri: Option<String>,
    #[arg(long, env = "CMDB_NEO4J_USER")]
    pub neo4j_user: Option<String>,
    #[arg(long, env = "CMDB_NEO4J_DATABASE")]
    pub neo4j_database: Option<String>,
    /// Rows per UNWIND statement.
    #[arg(long, env = "CMDB_NEO4J_BATCH_SIZE")]
    pub batch_size: Option<usize>,
}

/// Connection settings: the `[store]` config, overridden by the command line and environment.
pub fn neo4j_config(base: Neo4jConfig, args: &Args) -> Neo4jConfig {
    let d = base;
    Neo4jConfig {
        uri: args.neo4j_uri.clone().unwrap_or(d.uri),
        user: args.neo4j_user.clone().unwrap_or(d.user),
        password: std::env::var("CMDB_NEO4J_PASSWORD").unwrap_or(d.password.clone()),
        database: args.neo4j_database.clone().unwrap_or(d.database),
        batch_size: args.batch_size.unwrap_or(d.batch_size),
        ..d
    }
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = neo4j_config(ctx.config.store.neo4j_config(), &args);
    run_with(ctx, args, cfg).await
}

pub async fn run_with(
    ctx: super::Context,
    args: Args,
    neo4j: Neo4jConfig,
) -> anyhow::Result<ExitCode> {
    if args.from == args.to {
        bail!("--from and --to are the same backend");
    }
    let path = ctx.config.store_path(&ctx.data_dir);
    let embedded = ctx.open_embedded(EmbeddedOptions::default())?;
    let graph = Neo4jStore::connect(&neo4j)
        .await
        .with_context(|| format!("cannot connect to Neo4j at {}", neo4j.uri))?;
    let ends = Ends {
        embedded: &embedded,
        path: &path,
        graph: &graph,
        neo4j: &neo4j,
    };
    match args.to {
        Backend::Neo4j => ends.to_neo4j(args.force).await?,
        Backend::Embedded => ends.to_embedded().await?,
    }
    graph.close().await?;
    embedded.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// The two stores a migration copies between.
struct Ends<'a> {
    embedded: &'a EmbeddedStore,
    path: &'a std::path::Path,
    graph: &'a Neo4jStore,
    neo4j: &'a Neo4jConfig,
}

impl Ends<'_> {
    /// Embedded → Neo4j (an occupied database is erased only with `force`).
    async fn to_neo4j(&self, force: bool) -> anyhow::Result<()> {
        let started = Instant::now();
        let graph = self.graph;
        if !graph.is_empty().await? {
            if !force {
                bail!(
                    "the Neo4j database `{}` already holds CIs; pass --force to erase it first",
                    self.neo4j.database
                );
            }
            graph
                .erase_everything()
                .await
                .context("erasing the Neo4j database")?;
        }
        let snap = read_snapshot(self.embedded, 10_000)
            .await
            .context("reading the embedded store")?;
        tracing::info!(
            cis = snap.cis.len(),
            relationships = snap.relationships.len(),
            history = snap.history.len(),
            "copying to neo4j"
        );
        graph
            .load_snapshot(&snap)
            .await
            .context("writing to Neo4j")?;
        verify(self.embedded, graph).await?;
        eprintln!(
            "copied {} CIs, {} relationships, {} history entries from {} to {} ({}) in {:.1} s",
            snap.cis.len(),
            snap.relationships.len(),
            snap.history.len(),
            self.path.display(),
            self.neo4j.uri,
            graph.server_agent(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// Neo4j → an empty embedded store.
    async fn to_embedded(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        if self.embedded.stats().await?.cis > 0 {
            bail!(
                "the embedded store at {} already holds CIs; move it away first",
                self.path.display()
            );
        }
        let snap = read_snapshot(self.graph, 10_000)
            .await
            .context("reading the Neo4j database")?;
        tracing::info!(
            cis = snap.cis.len(),
            relationships = snap.relationships.len(),
            history = snap.history.len(),
            "copying to the embedded store"
        );
        self.embedded
            .load_snapshot(&snap)
            .context("writing the embedded store")?;
        verify(self.graph, self.embedded).await?;
        eprintln!(
            "copied {} CIs, {} relationships, {} history entries from {} ({}) to {} in {:.1} s",
            snap.cis.len(),
            snap.relationships.len(),
            snap.history.len(),
            self.neo4j.uri,
            self.graph.server_agent(),
            self.path.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Counts per class, relationships and history must match after a copy.
async fn verify(a: &dyn GraphStore, b: &dyn GraphStore) -> anyhow::Result<()> {
    let (sa, sb) = (a.stats().await?, b.stats().await?);
    if (sa.cis, sa.relationships, &sa.by_class, &sa.by_status)
        != (sb.cis, sb.relationships, &sb.by_class, &sb.by_status)
    {
        bail!("the copy differs from the original: {sa:?} vs {sb:?}");
    }
    Ok(())
}
