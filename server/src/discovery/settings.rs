//! What a run uses besides its targets, built from the config file (or the CLI), and the
//! scope check that refuses a run before any packet is sent.

use std::path::{Path, PathBuf};

use cmdb_discovery::run::RunnerConfig;
use cmdb_discovery::ssh::HostKeyPolicy;
use cmdb_discovery::{in_scope, CredentialScope, SnmpCredential, SshCredential};

/// What a run uses besides its targets.
#[derive(Debug, Clone, Default)]
pub struct DiscoverySettings {
    pub snmp: Vec<SnmpCredential>,
    pub ssh: Vec<SshCredential>,
    pub host_key_policy: Option<HostKeyPolicy>,
    /// Also discover the machine cmdb runs on.
    pub local: bool,
    pub runner: RunnerConfig,
    /// Where credential affinity is remembered between runs.
    pub affinity_file: Option<PathBuf>,
}

/// Why a run cannot have the settings it asks for.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown credential `{name}` (configured: {configured})")]
    UnknownCredential { name: String, configured: String },
    #[error(transparent)]
    Target(#[from] cmdb_discovery::TargetError),
    #[error(
        "target {targets} is outside the scope of every credential this run may use; a credential is \
         only sent to the ranges in its `scope` (default: the targets of the schedules that \
         name it) — add the range to `scope` in [[discovery.snmp]] / [[discovery.ssh]]"
    )]
    OutOfScope { targets: String },
}

/// Settings for a run from the config file, restricted to the named credentials (empty = all).
pub fn settings_from_config(
    cfg: &crate::config::DiscoveryConfig,
    data_dir: &Path,
    credentials: &[String],
    local: bool,
) -> Result<DiscoverySettings, SettingsError> {
    let known: Vec<&String> = cfg
        .snmp
        .iter()
        .map(|c| &c.name)
        .chain(cfg.ssh.iter().map(|c| &c.name))
        .collect();
    if let Some(unknown) = credentials.iter().find(|c| !known.contains(c)) {
        return Err(SettingsError::UnknownCredential {
            name: unknown.clone(),
            configured: known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let wanted = |name: &String| credentials.is_empty() || credentials.contains(name);
    let scoped = |name: &str, explicit: &Option<CredentialScope>| -> Option<CredentialScope> {
        Some(match explicit {
            Some(s) => s.clone(),
            None => default_scope(cfg, name),
        })
    };
    let known_hosts = cfg
        .known_hosts
        .clone()
        .unwrap_or_else(|| data_dir.join("known_hosts"));
    Ok(DiscoverySettings {
        snmp: cfg
            .snmp
            .iter()
            .filter(|c| wanted(&c.name))
            .map(|c| SnmpCredential {
                scope: scoped(&c.name, &c.scope),
                ..c.clone()
            })
            .collect(),
        ssh: cfg
            .ssh
            .iter()
            .filter(|c| wanted(&c.name))
            .map(|c| SshCredential {
                scope: scoped(&c.name, &c.scope),
                ..c.clone()
            })
            .collect(),
        host_key_policy: Some(cfg.ssh_host_keys.policy(known_hosts)),
        local,
        runner: RunnerConfig {
            concurrency: cfg.concurrency.max(1),
            target_timeout_ms: cfg.target_timeout_secs.max(1) * 1000,
        },
        affinity_file: Some(data_dir.join("credential-affinity.json")),
    })
}

/// Where a configured credential without an explicit `scope` may go: the targets of the
/// schedules that name it (a schedule naming no credentials names them all). Nowhere else — in
/// particular not to a target an API caller picks (config.rs rejects schedule targets that
/// cannot be scopes, so nothing is silently dropped here).
pub fn default_scope(cfg: &crate::config::DiscoveryConfig, credential: &str) -> CredentialScope {
    let mut scope = CredentialScope::default();
    for s in &cfg.schedules {
        if s.credentials.is_empty() || s.credentials.iter().any(|c| c == credential) {
            for t in &s.targets {
                let _ = scope.add_target_expr(t);
            }
        }
    }
    scope
}

/// Refuse a run whose targets lie outside the scope of every credential it may use: listing
/// what is out of scope, before any packet is sent.
pub fn check_scope(settings: &DiscoverySettings, targets: &[String]) -> Result<(), SettingsError> {
    let mut outside: Vec<String> = Vec::new();
    for expr in targets {
        let expanded = cmdb_discovery::target::parse_targets(expr)?;
        let out: Vec<&cmdb_discovery::Target> = expanded
            .iter()
            .filter(|t| {
                !settings.snmp.iter().any(|c| in_scope(&c.scope, t))
                    && !settings.ssh.iter().any(|c| in_scope(&c.scope, t))
            })
            .collect();
        match out.len() {
            0 => {}
            n if n == expanded.len() => outside.push(format!("`{expr}`")),
            n => outside.push(format!(
                "`{expr}` ({n} of its {} addresses, e.g. {})",
                expanded.len(),
                out[0].host
            )),
        }
    }
    if outside.is_empty() {
        return Ok(());
    }
    Err(SettingsError::OutOfScope {
        targets: outside.join(", "),
    })
}
