//! Where `cmdb import` sends its batches: the configured store through `GraphStore::ingest`
//! (the normal path), or — into an empty embedded store — a bulk load that reconciles the same
//! batches in memory and writes the whole result at the end, sorted, indexes after
//! (`cmdb_store::BulkLoad`; the final state is the same, store/tests/bulk_load.rs).

use std::sync::Arc;

use anyhow::{bail, Context as _};
use cmdb_model::Observation;
use cmdb_store::{
    BulkLoad, EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions, IngestReport,
};

pub(super) enum Sink {
    Store(Arc<dyn GraphStore>),
    Bulk {
        store: Box<EmbeddedStore>,
        load: Box<BulkLoad>,
    },
}

/// `--bulk` / `--no-bulk`: forced, refused, or automatic (an empty embedded store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BulkChoice {
    Auto,
    Force,
    Never,
}

impl Sink {
    pub(super) async fn open(
        ctx: &crate::commands::Context,
        choice: BulkChoice,
        dry_run: bool,
    ) -> anyhow::Result<Sink> {
        let embedded = ctx.config.store.backend != crate::config::StoreBackend::Neo4j;
        if choice == BulkChoice::Never || dry_run || !embedded {
            if choice == BulkChoice::Force {
                bail!("--bulk needs the embedded store and a real (not dry) run");
            }
            return Ok(Sink::Store(ctx.open_store().await?));
        }
        let store = ctx.open_embedded(EmbeddedOptions::default())?;
        if store.is_empty().context("reading the embedded store")? {
            tracing::info!("the store is empty: bulk load");
            return Ok(Sink::Bulk {
                store: Box::new(store),
                load: Box::default(),
            });
        }
        if choice == BulkChoice::Force {
            bail!(
                "--bulk needs an empty store; {} already holds a graph",
                store.path().display()
            );
        }
        Ok(Sink::Store(Arc::new(store)))
    }

    pub(super) async fn ingest(
        &mut self,
        obs: Observation,
        opts: &IngestOptions,
    ) -> anyhow::Result<IngestReport> {
        Ok(match self {
            Sink::Store(s) => s.ingest(obs, opts).await?,
            Sink::Bulk { load, .. } => load.ingest(&obs, opts)?,
        })
    }

    /// Write a bulk load's result (one transaction), then close the store.
    pub(super) async fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Store(s) => s.close().await?,
            Sink::Bulk { store, load } => {
                let started = std::time::Instant::now();
                let summary = store.bulk_finish(&load).context("writing the bulk load")?;
                // The process ends after the import: freeing the in-memory graph (millions of
                // small allocations, seconds of work) would only delay the exit.
                std::mem::forget(load);
                tracing::info!(
                    cis = summary.cis,
                    relationships = summary.relationships,
                    history = summary.history,
                    ms = started.elapsed().as_millis() as u64,
                    "bulk load written"
                );
                store.close().await?;
            }
        }
        Ok(())
    }
}
