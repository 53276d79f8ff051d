//! SNMP discovery: `client` (snmp2 sessions, walks), `collect` (raw varbinds per subtree),
//! `transform` (pure: raw → Observation), and [`SnmpProbe`] tying them to the [`Probe`] trait.

pub mod client;
pub mod collect;
pub mod mib;
pub mod transform;
pub mod value;
pub mod vendors;

use std::net::SocketAddr;
use std::time::Instant;

use async_trait::async_trait;
use cmdb_model::RunId;
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

pub use client::{ClientConfig, Limits, Session, SnmpError};
pub use collect::{RawCollection, Subtree, WalkStatus, SUBTREES};
pub use transform::{transform, TransformOptions, EDGE_PORT_MAX_MACS};
pub use value::{parse_snmprec, to_snmprec, Oid, SnmpValue};

use crate::affinity::CredentialAffinity;
use crate::credentials::SnmpCredential;
use crate::{Probe, ProbeError, ProbeOutput, Target};

pub const DEFAULT_PORT: u16 = 161;

/// Probe-wide settings (serialisable so the server can take them from its config file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SnmpConfig {
    pub client: ClientConfig,
    /// Requests in flight across all targets of this probe.
    pub max_in_flight: usize,
    /// See [`TransformOptions::edge_port_max_macs`].
    pub edge_port_max_macs: usize,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        SnmpConfig {
            client: ClientConfig::default(),
            max_in_flight: 256,
            edge_port_max_macs: EDGE_PORT_MAX_MACS,
        }
    }
}

/// The SNMP probe. Cheap to clone into an `Arc<dyn Probe>`; shares limits and affinity.
#[derive(Clone)]
pub struct SnmpProbe {
    credentials: Vec<SnmpCredential>,
    cfg: SnmpConfig,
    limits: Limits,
    affinity: CredentialAffinity,
}

/// Resolve a target to a socket address (default port 161).
pub async fn resolve(target: &Target) -> Result<SocketAddr, ProbeError> {
    let port = target.port.unwrap_or(DEFAULT_PORT);
    if let Some(ip) = target.ip() {
        return Ok(SocketAddr::new(ip, port));
    }
    let mut it = tokio::net::lookup_host((target.host.as_str(), port))
        .await
        .map_err(|e| {
            ProbeError::Unreachable(format!("cannot resolve {}: {}", target.host, e.kind()))
        })?;
    it.next()
        .ok_or_else(|| ProbeError::Unreachable(format!("cannot resolve {}", target.host)))
}

/// Map a session error to the per-target error the run reports.
pub fn probe_error(target: &Target, e: &SnmpError) -> ProbeError {
    let t = target.name();
    match e {
        SnmpError::Timeout(d, n) => ProbeError::Timeout(format!(
            "{t}: no SNMP response within {d:?} × {n} attempts (wrong community, agent down, or filtered)"
        )),
        SnmpError::Unreachable(m) => ProbeError::Unreachable(format!("{t}: {m}")),
        SnmpError::Auth(m) => ProbeError::AuthFailed(format!("{t}: {m}")),
        SnmpError::Protocol(m) => ProbeError::Protocol(format!("{t}: {m}")),
        SnmpError::ErrorStatus(s) => ProbeError::Protocol(format!("{t}: agent error status {s}")),
        SnmpError::Io(m) => ProbeError::Unreachable(format!("{t}: {m}")),
    }
}

impl SnmpProbe {
    pub fn new(credentials: Vec<SnmpCredential>) -> Self {
        Self::with_config(credentials, SnmpConfig::default())
    }
    pub fn with_config(credentials: Vec<SnmpCredential>, cfg: SnmpConfig) -> Self {
        let limits = Limits::new(cfg.max_in_flight);
        SnmpProbe {
            credentials,
            cfg,
            limits,
            affinity: CredentialAffinity::default(),
        }
    }
    /// Share an affinity map (e.g. the one a sweep filled, or one loaded from the store).
    pub fn with_affinity(mut self, affinity: CredentialAffinity) -> Self {
        self.affinity = affinity;
        self
    }
    pub fn affinity(&self) -> &CredentialAffinity {
        &self.affinity
    }
    pub fn config(&self) -> &SnmpConfig {
        &self.cfg
    }

    /// Find a working credential (affinity first, then configured order) and open a session.
    pub async fn connect(&self, target: &Target) -> Result<(Session, String), ProbeError> {
        if self.credentials.is_empty() {
            return Err(ProbeError::Config("no SNMP credentials configured".into()));
        }
        let name = target.name();
        // Scope first: not even a name lookup for a target no credential may go to.
        let order = self.affinity.order(target, &self.credentials);
        if order.is_empty() {
            return Err(ProbeError::OutOfScope(format!(
                "{name}: no SNMP credential's scope includes it"
            )));
        }
        let addr = resolve(target).await?;
        let mut errors: Vec<SnmpError> = Vec::new();
        for cred in order {
            match check(addr, cred, &self.cfg.client, &self.limits).await {
                Ok(s) => {
                    self.affinity.record(&name, &cred.name);
                    debug!(target = %name, probe = "snmp", credential = %cred.name, "credential accepted");
                    return Ok((s, cred.name.clone()));
                }
                Err(e) => {
                    debug!(target = %name, probe = "snmp", credential = %cred.name, code = e.code(), "credential failed");
                    let unreachable = matches!(e, SnmpError::Unreachable(_));
                    errors.push(e);
                    if unreachable {
                        break; // nothing listens: other credentials cannot help
                    }
                }
            }
        }
        self.affinity.forget(&name);
        // Report the most telling failure: auth over protocol over unreachable over timeout.
        let pick = errors
            .iter()
            .find(|e| matches!(e, SnmpError::Auth(_)))
            .or_else(|| {
                errors
                    .iter()
                    .find(|e| matches!(e, SnmpError::Protocol(_) | SnmpError::ErrorStatus(_)))
            })
            .or_else(|| {
                errors
                    .iter()
                    .find(|e| matches!(e, SnmpError::Unreachable(_)))
            })
            .or(errors.first());
        Err(match pick {
            Some(SnmpError::Timeout(d, n)) => ProbeError::Timeout(format!(
                "{name}: no SNMP response to any of {} credential(s) within {d:?} × {n} attempts (wrong community, agent down, or filtered)",
                errors.len()
            )),
            Some(e) => probe_error(target, e),
            None => ProbeError::Other(format!("{name}: no credential tried")),
        })
    }

    /// I/O only: walk every subtree of [`SUBTREES`].
    pub async fn collect(&self, target: &Target) -> Result<(RawCollection, String), ProbeError> {
        let (mut s, cred) = self.connect(target).await?;
        let mut raw = RawCollection {
            target: target.name(),
            management_ip: target.ip().map(|i| i.to_string()),
            ..Default::default()
        };
        let mut dead: Option<String> = None;
        let mut buf = Vec::new();
        for st in SUBTREES {
            if dead.is_some() {
                raw.walks.insert(st.name.to_string(), WalkStatus::Skipped);
                continue;
            }
            buf.clear();
            let status = s.walk(&Oid::new(st.oid), &mut buf).await;
            if let WalkStatus::Failed { code, message } = &status {
                warn!(target = %raw.target, probe = "snmp", table = st.name, code = %code, "walk failed: {message}");
                if code == "snmp.timeout" || code == "snmp.unreachable" || code == "snmp.io" {
                    dead = Some(message.clone());
                }
                if st.name == "system" && buf.is_empty() {
                    let e = if code == "snmp.unreachable" {
                        ProbeError::Unreachable(format!("{}: {message}", raw.target))
                    } else {
                        ProbeError::Timeout(format!("{}: {message}", raw.target))
                    };
                    return Err(e);
                }
            }
            raw.varbinds.extend(buf.drain(..));
            raw.walks.insert(st.name.to_string(), status);
        }
        Ok((raw, cred))
    }
}

async fn check(
    addr: SocketAddr,
    cred: &SnmpCredential,
    cfg: &ClientConfig,
    limits: &Limits,
) -> Result<Session, SnmpError> {
    let mut s = Session::open(addr, cred, cfg, limits).await?;
    let probe_oids = [Oid::new(mib::system::SYS_OBJECT_ID)];
    match s.get(&probe_oids).await {
        Ok(_) => Ok(s),
        // the agent answered SNMPv3 engine discovery but drops our encrypted request: agents do
        // that when they cannot decrypt it
        Err(SnmpError::Timeout(..)) if matches!(cred.kind, crate::credentials::SnmpCredentialKind::V3(_)) => Err(SnmpError::Auth(
            "agent answered SNMPv3 engine discovery but not the authenticated request (wrong privacy key or privacy protocol?)".into(),
        )),
        Err(e) => Err(e),
    }
}

#[async_trait]
impl Probe for SnmpProbe {
    fn name(&self) -> &'static str {
        "snmp"
    }

    async fn discover(&self, target: &Target, run_id: &RunId) -> Result<ProbeOutput, ProbeError> {
        let started = Instant::now();
        let (raw, cred) = self.collect(target).await?;
        let opts = TransformOptions {
            edge_port_max_macs: self.cfg.edge_port_max_macs,
        };
        let (observation, diagnostics) = transform(&raw, run_id, &opts);
        info!(
            target = %raw.target, probe = "snmp", run_id = %run_id, credential = %cred,
            records = observation.records.len(), relationships = observation.relationships.len(),
            complete = observation.scope.complete, varbinds = raw.varbinds.len(),
            ms = started.elapsed().as_millis() as u64, "snmp discovery done"
        );
        Ok(ProbeOutput {
            observation,
            diagnostics,
            credential: Some(cred),
        })
    }
}
