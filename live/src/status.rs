//! Operational status from all open alerts at once: each bound alert puts its CI in the state
//! its severity maps to (`[events.severity_states]`); the impact engine
//! (`model::impact::evaluate_observed`) takes them together, redundancy-aware, to every
//! business service. Changes against the stored current status become the status timeline.

use std::collections::{BTreeMap, HashMap};

use cmdb_events::incident::ServiceState;
use cmdb_events::OperationalStatus;
use cmdb_model::impact::{evaluate_observed, Severity};
use cmdb_model::{CiId, Timestamp};
use cmdb_store::analysis::criticality_of;
use cmdb_store::ops::{AlertRecord, OpsStore, StatusChange, SubjectKind};
use cmdb_store::{GraphStore, StoreError};

use crate::LiveConfig;

/// One business service's live status and what drives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    pub service: CiId,
    pub name: String,
    pub criticality: Option<u32>,
    pub status: OperationalStatus,
    /// Hops from the nearest observed CI.
    pub depth: u32,
    /// Observed CIs at the start of the explanation paths.
    pub root_causes: Vec<CiId>,
    /// Open alerts on those CIs.
    pub alerts: Vec<String>,
    /// Shortest chains observed CI → … → service.
    pub paths: Vec<Vec<CiId>>,
}

/// A status change with what it is about, for subscribers.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChangeNotice {
    pub kind: SubjectKind,
    pub previous: OperationalStatus,
    pub change: StatusChange,
}

/// The live status of the estate.
#[derive(Debug, Clone, Default)]
pub struct LiveStatus {
    /// Services not OK, worst first.
    pub services: Vec<ServiceStatus>,
    /// Observed CIs and the state their open alerts put them in.
    pub cis: BTreeMap<CiId, OperationalStatus>,
}

impl LiveStatus {
    pub fn incident_inputs(&self) -> Vec<ServiceState> {
        self.services
            .iter()
            .map(|s| ServiceState {
                id: s.service.clone(),
                name: s.name.clone(),
                criticality: s.criticality,
                status: s.status,
                root_causes: s.root_causes.clone(),
                alerts: s.alerts.clone(),
                paths: s.paths.clone(),
            })
            .collect()
    }
}

/// What the impact engine said about one set of observed states on one graph: services with
/// their severity, depth, paths and root causes (alerts are attached afresh each time).
#[derive(Debug, Clone)]
struct Evaluated {
    services: Vec<ServiceStatus>,
}

/// The last evaluation, reused while neither the observed states nor the graph changed: in a
/// burst, most events add alerts to CIs already in the same state (a host down raises many
/// alerts), and re-running the engine would give the same answer. Only backends that can
/// say whether the graph changed (`GraphStore::graph_version`) get this; the others always
/// evaluate.
#[derive(Default)]
pub(crate) struct EvalCache(parking_lot::Mutex<Option<Cached>>);

struct Cached {
    observed: BTreeMap<CiId, Severity>,
    graph_version: i64,
    evaluated: std::sync::Arc<Evaluated>,
}

/// Evaluate the open alerts `open` (bound ones count) over the graph.
pub(crate) async fn evaluate(
    store: &dyn GraphStore,
    cfg: &LiveConfig,
    open: &[AlertRecord],
    cache: &EvalCache,
) -> Result<LiveStatus, StoreError> {
    let mut observed: BTreeMap<CiId, Severity> = BTreeMap::new();
    let mut alerts_on: HashMap<CiId, Vec<String>> = HashMap::new();
    for a in open.iter().filter(|a| a.alert.is_open()) {
        let Some(ci) = &a.binding.ci else { continue };
        alerts_on.entry(ci.clone()).or_default().push(a.id.clone());
        if let Some(sev) = cfg.states.state(a.alert.severity) {
            let e = observed.entry(ci.clone()).or_insert(sev);
            *e = (*e).max(sev);
        }
    }
    let cis = observed
        .iter()
        .map(|(id, s)| (id.clone(), OperationalStatus::from(Some(*s))))
        .collect();
    if observed.is_empty() {
        return Ok(LiveStatus {
            services: Vec::new(),
            cis,
        });
    }
    let version = store.graph_version().await?;
    let reuse = version.and_then(|v| {
        let c = cache.0.lock();
        c.as_ref()
            .filter(|c| c.graph_version == v && c.observed == observed)
            .map(|c| c.evaluated.clone())
    });
    let evaluated = match reuse {
        Some(e) => e,
        None => {
            let e = std::sync::Arc::new(evaluate_graph(store, cfg, &observed).await?);
            if let Some(v) = version {
                *cache.0.lock() = Some(Cached {
                    observed,
                    graph_version: v,
                    evaluated: e.clone(),
                });
            }
            e
        }
    };
    let services = evaluated
        .services
        .iter()
        .map(|s| {
            let mut alerts: Vec<String> = Vec::new();
            for r in &s.root_causes {
                for a in alerts_on.get(r).into_iter().flatten() {
                    if !alerts.contains(a) {
                        alerts.push(a.clone());
                    }
                }
            }
            ServiceStatus {
                alerts,
                ..s.clone()
            }
        })
        .collect();
    Ok(LiveStatus { services, cis })
}

async fn evaluate_graph(
    store: &dyn GraphStore,
    cfg: &LiveConfig,
    observed: &BTreeMap<CiId, Severity>,
) -> Result<Evaluated, StoreError> {
    let ids: Vec<CiId> = observed.keys().cloned().collect();
    let t0 = std::time::Instant::now();
    let g = store.impact_graph(&ids, cfg.impact.max_depth).await?;
    let t1 = t0.elapsed();
    let pairs: Vec<(CiId, Severity)> = observed.iter().map(|(c, s)| (c.clone(), *s)).collect();
    let report = evaluate_observed(&pairs, &g, &cfg.impact);
    tracing::debug!(
        observed = pairs.len(),
        edges = g.edges.len(),
        graph_us = t1.as_micros() as u64,
        engine_us = (t0.elapsed() - t1).as_micros() as u64,
        affected = report.affected.len(),
        services = report.services.len(),
        "live status evaluated"
    );
    let svc_ids: Vec<CiId> = report.services.iter().map(|s| s.service.clone()).collect();
    let cis: HashMap<CiId, cmdb_model::Ci> = store
        .get_many(&svc_ids)
        .await?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let mut services = Vec::with_capacity(report.services.len());
    for s in report.services {
        let ci = cis.get(&s.service);
        let mut roots: Vec<CiId> = Vec::new();
        for p in &s.paths {
            if let Some(r) = p.first() {
                if !roots.contains(r) {
                    roots.push(r.clone());
                }
            }
        }
        services.push(ServiceStatus {
            name: ci
                .map(|c| c.name.clone())
                .unwrap_or_else(|| s.service.to_string()),
            criticality: ci.and_then(criticality_of),
            status: OperationalStatus::from(Some(s.severity)),
            depth: s.depth,
            root_causes: roots,
            alerts: Vec::new(),
            paths: s.paths,
            service: s.service,
        });
    }
    Ok(Evaluated { services })
}

/// Status changes of services and observed CIs against what the store holds as current.
pub(crate) async fn changes(
    ops: &dyn OpsStore,
    live: &LiveStatus,
    now: Timestamp,
) -> Result<Vec<StatusChangeNotice>, StoreError> {
    let mut out = Vec::new();
    let services: BTreeMap<CiId, OperationalStatus> = live
        .services
        .iter()
        .map(|s| (s.service.clone(), s.status))
        .collect();
    for (kind, now_map) in [
        (SubjectKind::Service, &services),
        (SubjectKind::Ci, &live.cis),
    ] {
        let before: BTreeMap<CiId, OperationalStatus> = ops
            .current_statuses(kind)
            .await?
            .into_iter()
            .map(|c| (c.subject, c.status))
            .collect();
        let mut subjects: Vec<&CiId> = before.keys().chain(now_map.keys()).collect();
        subjects.sort();
        subjects.dedup();
        for id in subjects {
            let prev = before.get(id).copied().unwrap_or(OperationalStatus::Ok);
            let next = now_map.get(id).copied().unwrap_or(OperationalStatus::Ok);
            if prev != next {
                out.push(StatusChangeNotice {
                    kind,
                    previous: prev,
                    change: StatusChange {
                        subject: id.clone(),
                        kind,
                        status: next,
                        at: now,
                    },
                });
            }
        }
    }
    Ok(out)
}
