//! `cmdb check`: is the embedded store sound? SQLite's own integrity check, then the store's
//! invariants (every relationship, identifier, tag, source and alias names an existing CI; the
//! in-memory adjacency index equals the committed edges). It only reads, so it is safe while a
//! server or another command has the store open. Exit status 1 when a problem is found.
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use cmdb_store::{EmbeddedOptions, GraphStore};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    if ctx.config.store.backend != cmdb_server::config::StoreBackend::Embedded {
        bail!("`cmdb check` examines the embedded store; this configuration uses [store] backend = \"{}\"", ctx.config.store.backend);
    }
    let path = ctx.config.store_path(&ctx.data_dir);
    if !path.exists() {
        bail!("there is no store at {}", path.display());
    }
    let store = ctx.open_embedded(EmbeddedOptions {
        readers: 1,
        ..Default::default()
    })?;
    let report = store
        .check_integrity()
        .with_context(|| format!("checking {}", path.display()))?;
    store.close().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if report.problems.is_empty() {
        eprintln!(
            "{}: ok ({} CIs, {} relationships)",
            path.display(),
            report.cis,
            report.relationships
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for p in &report.problems {
            eprintln!("problem: {p}");
        }
        eprintln!("{}: {} problem(s)", path.display(), report.problems.len());
        Ok(ExitCode::FAILURE)
    }
}
