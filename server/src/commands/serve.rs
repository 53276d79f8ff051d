//! `cmdb serve`: the HTTP server (GraphQL API, GraphiQL, subscriptions, health endpoints) on
//! the configured store. SIGTERM or Ctrl-C stops accepting, lets in-flight requests finish,
//! stops running discoveries (each records itself INTERRUPTED, keeping what it stored) and
//! waits for them, then closes the store cleanly.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use cmdb_graphql::{Api, EventBus};
use cmdb_server::config::Config;
use cmdb_server::discovery::{start_schedules, RunRegistry};
use cmdb_server::http::{self, Auth, HttpOptions};
use cmdb_store::GraphStore;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on (default: [server] bind, 127.0.0.1:8080).
    #[arg(long)]
    pub bind: Option<String>,
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let cfg = &ctx.config;
    let auth = Auth::new(&cfg.auth.tokens)?;
    let bind = args.bind.unwrap_or_else(|| cfg.server.bind.clone());
    // Check before opening anything.
    http::check_bind(&bind, &auth)?;
    let store = ctx.open_store().await?;
    let events = EventBus::default();
    let live = Arc::new(cmdb_live::Live::new(
        store.clone(),
        cfg.events.live_config(),
    ));
    let registry = Arc::new(
        RunRegistry::new(
            store.clone(),
            ctx.ingest_options(),
            events.clone(),
            cfg.discovery.clone(),
            ctx.data_dir.clone(),
        )
        .with_live(live.clone()),
    );
    let api = Api::with_services(
        store.clone(),
        cfg.limits.api_limits(),
        events.clone(),
        ctx.ingest_options(),
        Some(registry.clone()),
        live.clone(),
    );
    // Listen for SIGTERM before anyone can learn our address: a signal sent right after the
    // "listening on" line must shut down cleanly, not kill the process with the default action.
    let signals = ShutdownSignals::install();
    let running = http::start(api, auth, http_options(cfg, bind))?;
    let addr = running.addr;
    // Scripts and tests read the bound address (useful with port 0) from this line.
    println!("listening on http://{addr}");
    let background = Background::start(&ctx, &store, &registry, &live);
    let signal = signals.wait().await;
    tracing::info!(signal, "shutting down: finishing in-flight requests");
    background.stop_schedules();
    running.stop().await?;
    // Running discoveries stop and record how they ended; none writes after the store closes.
    registry
        .shutdown(Duration::from_secs(cfg.server.shutdown_timeout_secs))
        .await;
    background.stop().await;
    store.close().await.context("closing the store")?;
    tracing::info!("store closed; bye");
    Ok(ExitCode::SUCCESS)
}

fn http_options(cfg: &Config, bind: String) -> HttpOptions {
    HttpOptions {
        bind,
        max_body_bytes: cfg.limits.max_body_bytes,
        max_batch: cfg.limits.max_batch_operations,
        workers: cfg.server.workers,
        shutdown_timeout: Duration::from_secs(cfg.server.shutdown_timeout_secs),
        request_timeout: Duration::from_millis(cfg.limits.request_timeout_ms),
        max_ws_operations: cfg.limits.max_ws_operations,
        graphql_threads: 0,
        max_event_body_bytes: cfg.events.max_body_bytes,
        max_events_per_request: cfg.events.max_events_per_request,
    }
}

/// What `cmdb serve` runs besides HTTP: schedules, the start-up discovery and mapping, and
/// the live side's workers.
struct Background {
    schedules: Vec<tokio::task::JoinHandle<()>>,
    startup_mapping: tokio::task::JoinHandle<()>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    stop_workers: tokio::sync::watch::Sender<bool>,
}

impl Background {
    fn start(
        ctx: &super::Context,
        store: &Arc<dyn GraphStore>,
        registry: &Arc<RunRegistry>,
        live: &Arc<cmdb_live::Live>,
    ) -> Background {
        let cfg = &ctx.config;
        // A new user should see a real graph at once: discover this machine in the background.
        if cfg.server.discover_local_on_start {
            use cmdb_graphql::DiscoveryService;
            let local = cmdb_graphql::RunRequest {
                local: true,
                ..Default::default()
            };
            match registry.start(local, "startup") {
                Ok(run) => tracing::info!(run_id = %run.id.as_str(), "discovering the local host"),
                Err(e) => tracing::warn!("local discovery not started: {e}"),
            }
        }
        let schedules = start_schedules(registry.clone(), &cfg.discovery.schedules);
        if !schedules.is_empty() {
            tracing::info!(count = schedules.len(), "discovery schedules active");
        }
        // Services and pools as the stored graph has them now (in the background: serving does
        // not wait for it; a failure is logged).
        let startup_mapping = {
            let store = store.clone();
            let ingest = ctx.ingest_options();
            tokio::spawn(async move {
                let run = cmdb_model::RunId::new("startup");
                cmdb_server::discovery::recompute_services_after_run(store.as_ref(), &ingest, &run)
                    .await;
            })
        };
        // Incident webhooks go out from the durable outbox; open alerts without a CI are bound
        // again now and then (discovery by another process, `cmdb discover`, may have found it).
        let (stop_workers, stop_rx) = tokio::sync::watch::channel(false);
        let workers = vec![
            tokio::spawn(cmdb_server::live::deliver_webhooks(
                live.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(cmdb_server::live::rebind_periodically(
                live.clone(),
                Duration::from_secs(cfg.events.rebind_interval_secs.max(1)),
                stop_rx,
            )),
        ];
        Background {
            schedules,
            startup_mapping,
            workers,
            stop_workers,
        }
    }

    fn stop_schedules(&self) {
        for t in &self.schedules {
            t.abort();
        }
    }

    /// Stop and wait for everything that may still write to the store.
    async fn stop(self) {
        // The start-up mapping stops (each of its writes is one transaction; the next start
        // maps again).
        self.startup_mapping.abort();
        let _ = self.startup_mapping.await;
        // Workers finish the delivery or rebind they are in (each write is one transaction; an
        // interrupted delivery is sent again from the outbox with the same idempotency key).
        let _ = self.stop_workers.send(true);
        for w in self.workers {
            let _ = w.await;
        }
    }
}

/// SIGTERM/SIGINT, registered once at start.
struct ShutdownSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let term = signal(SignalKind::terminate())
                .inspect_err(
                    |e| tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only"),
                )
                .ok();
            ShutdownSignals { term }
        }
        #[cfg(not(unix))]
        {
            ShutdownSignals {}
        }
    }

    /// Which signal came.
    async fn wait(self) -> &'static str {
        #[cfg(unix)]
        if let Some(mut term) = self.term {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
