//! Prometheus metrics of `cmdb serve` (`GET /metrics`, text exposition format), with the
//! `prometheus-client` crate. Counters are process-wide (one registry per process, like the
//! process itself); gauges about the live side (open alerts, incidents, services by status)
//! are read from the store when scraped, so they are right even after a restart.
//!
//! Label values come from fixed sets (route patterns, not paths; outcomes; statuses), so a
//! client cannot grow the series count.

use std::sync::OnceLock;

use cmdb_graphql::discovery::DiscoveryRunStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: String,
    pub method: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabel {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct IngestLabels {
    pub intake: String,
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabel, Histogram>,
    pub discovery_runs: Family<StatusLabel, Counter>,
    pub discovery_targets: Family<ResultLabel, Counter>,
    pub events: Family<IngestLabels, Counter>,
    alerts_open: Gauge,
    alerts_unbound: Gauge,
    incidents_open: Gauge,
    deliveries_pending: Gauge,
    services: Family<StatusLabel, Gauge>,
}

fn duration_histogram() -> Histogram {
    // 1 ms … ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cmdb");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            http_requests.clone(),
        );
        let http_duration = Family::<RouteLabel, Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern",
            http_duration.clone(),
        );
        let discovery_runs = Family::<StatusLabel, Counter>::default();
        registry.register(
            "discovery_runs",
            "Discovery runs finished, by outcome (SUCCEEDED, PARTIAL, FAILED)",
            discovery_runs.clone(),
        );
        let discovery_targets = Family::<ResultLabel, Counter>::default();
        registry.register(
            "discovery_targets",
            "Discovery targets finished, by result (ok, failed)",
            discovery_targets.clone(),
        );
        let events = Family::<IngestLabels, Counter>::default();
        registry.register(
            "events_ingested",
            "Events taken in over HTTP, by intake (events, alertmanager) and outcome (opened, updated, closed, ignored, rejected)",
            events.clone(),
        );
        let alerts_open = Gauge::default();
        registry.register("alerts_open", "Open alerts", alerts_open.clone());
        let alerts_unbound = Gauge::default();
        registry.register(
            "alerts_open_unbound",
            "Open alerts bound to no CI",
            alerts_unbound.clone(),
        );
        let incidents_open = Gauge::default();
        registry.register("incidents_open", "Open incidents", incidents_open.clone());
        let deliveries_pending = Gauge::default();
        registry.register(
            "webhook_deliveries_pending",
            "Incident webhook deliveries not yet delivered nor given up",
            deliveries_pending.clone(),
        );
        let services = Family::<StatusLabel, Gauge>::default();
        registry.register(
            "business_services",
            "Business services by operational status",
            services.clone(),
        );
        Metrics {
            registry,
            http_requests,
            http_duration,
            discovery_runs,
            discovery_targets,
            events,
            alerts_open,
            alerts_unbound,
            incidents_open,
            deliveries_pending,
            services,
        }
    }

    /// Count what one intake did.
    pub fn ingested(&self, intake: &str, sum: &cmdb_live::IngestSummary, rejected: usize) {
        for (outcome, n) in [
            ("opened", sum.opened),
            ("updated", sum.updated),
            ("closed", sum.closed),
            ("ignored", sum.ignored.len()),
            ("rejected", rejected),
        ] {
            if n > 0 {
                self.events
                    .get_or_create(&IngestLabels {
                        intake: intake.into(),
                        outcome: outcome.into(),
                    })
                    .inc_by(n as u64);
            }
        }
    }

    /// Count a finished discovery run.
    pub fn discovery_finished(&self, status: DiscoveryRunStatus, ok: usize, failed: usize) {
        self.discovery_runs
            .get_or_create(&StatusLabel {
                status: status.as_str().into(),
            })
            .inc();
        for (result, n) in [("ok", ok), ("failed", failed)] {
            self.discovery_targets
                .get_or_create(&ResultLabel {
                    result: result.into(),
                })
                .inc_by(n as u64);
        }
    }

    /// The exposition text, with the live gauges read now.
    pub async fn render(&self, live: &cmdb_live::Live) -> String {
        match live.store().ops().ops_counts().await {
            Ok(c) => {
                self.alerts_open.set(c.open_alerts as i64);
                self.alerts_unbound.set(c.open_unbound_alerts as i64);
                self.incidents_open.set(c.open_incidents as i64);
                self.deliveries_pending.set(c.pending_deliveries as i64);
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read alert counts"),
        }
        match live.services_now().await {
            Ok(now) => {
                for s in [
                    cmdb_events::OperationalStatus::Degraded,
                    cmdb_events::OperationalStatus::AtRisk,
                    cmdb_events::OperationalStatus::Down,
                ] {
                    let n = now.values().filter(|v| **v == s).count();
                    self.services
                        .get_or_create(&StatusLabel {
                            status: s.as_str().into(),
                        })
                        .set(n as i64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: cannot read service status"),
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "metrics: cannot encode");
        }
        out
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_exposition_format() {
        let m = Metrics::new();
        m.http_requests
            .get_or_create(&HttpLabels {
                route: "/graphql".into(),
                method: "POST".into(),
                status: "200".into(),
            })
            .inc();
        m.discovery_finished(DiscoveryRunStatus::Partial, 3, 1);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &m.registry).unwrap();
        assert!(out.contains(
            "cmdb_http_requests_total{route=\"/graphql\",method=\"POST\",status=\"200\"} 1"
        ));
        assert!(out.contains("cmdb_discovery_runs_total{status=\"PARTIAL\"} 1"));
        assert!(out.contains("cmdb_discovery_targets_total{result=\"failed\"} 1"));
        assert!(out.ends_with("# EOF\n"));
    }
}
