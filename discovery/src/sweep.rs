//! Network sweep: find SNMP agents in CIDR ranges, trying each credential in order, remembering
//! which credential worked per address (credential affinity) so it is tried first next time.
//!
//! Cost bound (see `docs/discovery-snmp.md`): a silent address costs
//! `credentials × timeout × (retries + 1)`; addresses are probed `concurrency` at a time, so a
//! whole range takes at most `ceil(addresses / concurrency) × credentials × timeout × (retries+1)`
//! ([`worst_case_duration`]). A /16 with the defaults (1 credential, 1 s, no retry, 512 at a
//! time) is ≤ 128 s.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use tracing::{debug, info};

pub use crate::affinity::{AffinityMap, CredentialAffinity};
use crate::credentials::SnmpCredential;
use crate::snmp::{client::Limits, resolve, ClientConfig, Oid, Session, SnmpError, SnmpValue};
use crate::target::{parse_targets, Target, TargetError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepConfig {
    /// Addresses probed at once.
    pub concurrency: usize,
    /// Timeout/retries per credential attempt (sweeps default to 1 s and no retry).
    pub client: ClientConfig,
    /// UDP port when the range expression has none.
    pub port: Option<u16>,
}

impl Default for SweepConfig {
    fn default() -> Self {
        SweepConfig {
            concurrency: 512,
            client: ClientConfig {
                timeout_ms: 1000,
                retries: 0,
                ..ClientConfig::default()
            },
            port: None,
        }
    }
}

/// An address that answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepHit {
    pub target: String,
    pub credential: String,
    pub sys_name: Option<String>,
    pub sys_object_id: Option<String>,
    pub sys_descr: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SweepResult {
    pub found: Vec<SweepHit>,
    pub scanned: usize,
    /// Addresses with an agent that rejected every credential (v3 auth failures).
    pub auth_failed: Vec<String>,
    pub duration_ms: u64,
}

/// Worst-case wall time of sweeping `addresses` (every address silent).
pub fn worst_case_duration(addresses: usize, credentials: usize, cfg: &SweepConfig) -> Duration {
    let rounds = addresses.div_ceil(cfg.concurrency.max(1)) as u32;
    cfg.client.request_budget() * rounds * credentials.max(1) as u32
}

/// Expand range expressions into targets (each ≤ a /16, see [`parse_targets`]).
pub fn expand(ranges: &[String], port: Option<u16>) -> Result<Vec<Target>, TargetError> {
    let mut out = Vec::new();
    for r in ranges {
        for mut t in parse_targets(r)? {
            if t.port.is_none() {
                t.port = port;
            }
            out.push(t);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

use crate::snmp::mib::system::{SYS_DESCR, SYS_NAME, SYS_OBJECT_ID as SYS_OID};

enum Outcome {
    Hit(SweepHit),
    AuthFailed(String),
    Nothing,
}

async fn probe_one(
    t: Target,
    creds: &[SnmpCredential],
    aff: &CredentialAffinity,
    cfg: &SweepConfig,
    limits: &Limits,
) -> Outcome {
    let name = t.name();
    let Ok(addr) = resolve(&t).await else {
        return Outcome::Nothing;
    };
    let mut auth_failed = false;
    for cred in aff.order(&t, creds) {
        let res: Result<Vec<(Oid, SnmpValue)>, SnmpError> = async {
            let mut s = Session::open(addr, cred, &cfg.client, limits).await?;
            s.get(&[Oid::new(SYS_DESCR), Oid::new(SYS_OID), Oid::new(SYS_NAME)])
                .await
        }
        .await;
        match res {
            Ok(vbs) => {
                aff.record(&name, &cred.name);
                let find = |o: &[u32]| vbs.iter().find(|(k, _)| k.0 == o).map(|(_, v)| v.clone());
                return Outcome::Hit(SweepHit {
                    target: name,
                    credential: cred.name.clone(),
                    sys_name: find(SYS_NAME).and_then(|v| v.as_text()),
                    sys_object_id: find(SYS_OID).and_then(|v| v.as_oid().map(|o| o.to_string())),
                    sys_descr: find(SYS_DESCR).and_then(|v| v.as_text()),
                });
            }
            Err(SnmpError::Unreachable(_)) => break,
            Err(SnmpError::Auth(_)) => auth_failed = true,
            Err(e) => {
                debug!(target = %name, probe = "sweep", credential = %cred.name, code = e.code(), "no answer")
            }
        }
    }
    aff.forget(&name);
    if auth_failed {
        Outcome::AuthFailed(name)
    } else {
        Outcome::Nothing
    }
}

/// Sweep `ranges` (addresses, `host:port`, CIDR). Bounded by `cfg.concurrency`; never fails on
/// a single address, only on an invalid range expression.
pub async fn sweep(
    ranges: &[String],
    credentials: &[SnmpCredential],
    affinity: &CredentialAffinity,
    cfg: &SweepConfig,
) -> Result<SweepResult, TargetError> {
    let targets = expand(ranges, cfg.port)?;
    let started = Instant::now();
    let limits = Limits::new(cfg.concurrency.max(1) * 2);
    let scanned = targets.len();
    info!(
        probe = "sweep",
        addresses = scanned,
        credentials = credentials.len(),
        worst_case_s = worst_case_duration(scanned, credentials.len(), cfg).as_secs(),
        "sweep started"
    );
    let outcomes: Vec<Outcome> = stream::iter(targets)
        .map(|t| probe_one(t, credentials, affinity, cfg, &limits))
        .buffer_unordered(cfg.concurrency.max(1))
        .collect()
        .await;
    let mut res = SweepResult {
        scanned,
        ..Default::default()
    };
    for o in outcomes {
        match o {
            Outcome::Hit(h) => res.found.push(h),
            Outcome::AuthFailed(t) => res.auth_failed.push(t),
            Outcome::Nothing => {}
        }
    }
    res.found.sort_by(|a, b| a.target.cmp(&b.target));
    res.auth_failed.sort();
    res.duration_ms = started.elapsed().as_millis() as u64;
    info!(
        probe = "sweep",
        found = res.found.len(),
        ms = res.duration_ms,
        "sweep done"
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slash16_budget() {
        let cfg = SweepConfig::default();
        let d = worst_case_duration(65_534, 1, &cfg);
        assert_eq!(d, Duration::from_secs(128));
        assert_eq!(
            worst_case_duration(65_534, 2, &cfg),
            Duration::from_secs(256)
        );
    }
}
