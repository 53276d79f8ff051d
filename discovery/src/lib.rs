//! Probes that turn targets into observations: SNMP, SSH, the local host, and the sweep that
//! finds SNMP agents. This crate knows no store: it returns [`ProbeOutput`]s and the caller
//! (the server's run machinery) applies them.
//!
//! Every probe follows collect → transform: `collect` does network I/O only, bounded by
//! timeouts; `transform` is pure, never fails on odd data (a missing table or an unparsable line
//! becomes a [`Diagnostic`]) and is tested on recorded replies.

pub mod affinity;
pub mod credentials;
#[doc(hidden)]
pub mod fuzzing;
pub mod linux;
pub mod local;
pub mod records;
pub mod run;
pub mod snmp;
pub mod ssh;
pub mod sweep;
pub mod target;
pub mod transport;

use async_trait::async_trait;
use cmdb_model::{Observation, RunId};
use serde::Serialize;

pub use affinity::{AffinityMap, CredentialAffinity};
pub use credentials::{
    in_scope, CredentialError, CredentialScope, Redactor, Secret, SnmpAuthProto, SnmpCredential,
    SnmpPrivProto, SnmpV3, SshAuth, SshCredential,
};
pub use target::{Target, TargetError};

/// Something odd but survivable seen while discovering a target: a missing table, a command
/// that is not installed, a line that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub target: String,
    pub probe: String,
    /// Stable, machine-readable code (`snmp.table_missing`, `ssh.command_failed`, …).
    pub code: String,
    /// How much it matters; follows from the code ([`DiagnosticLevel::of`]).
    pub level: DiagnosticLevel,
    /// Human-readable; never contains a secret.
    pub message: String,
}

impl Diagnostic {
    pub fn new(target: &str, probe: &str, code: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            target: target.to_string(),
            probe: probe.to_string(),
            code: code.to_string(),
            level: DiagnosticLevel::of(code),
            message: message.into(),
        }
    }
}

/// How much a [`Diagnostic`] matters. A target that could not be discovered at all is a
/// [`ProbeError`], never a diagnostic, so there is no error level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DiagnosticLevel {
    /// What the target offers or lets this account see is limited (a tool not installed, data
    /// only root may read, a neighbour that cannot be resolved): the collection itself went as
    /// it should.
    Info,
    /// Collection or decoding went wrong somewhere (a walk or command failed, output was cut or
    /// did not parse, a credential was refused): something the target has may be missing.
    Warning,
}

/// Diagnostic codes of level [`DiagnosticLevel::Info`].
const INFO_CODES: &[&str] = &[
    "linux.command_missing",
    "linux.permission_denied",
    "linux.serial_unreadable",
    "linux.socket_owner_unknown",
    "snmp.connection_without_process",
    "snmp.cdp_port_unresolved",
    "snmp.fdb_port_unresolved",
    "snmp.lldp_neighbour_unidentified",
    "snmp.lldp_port_unidentified",
    "snmp.lldp_port_unresolved",
];

impl DiagnosticLevel {
    /// The level of a diagnostic code: a short list of codes (what the target lacks or hides
    /// from this account) is [`DiagnosticLevel::Info`]; every other code, including one added
    /// later and not listed, is a warning.
    pub fn of(code: &str) -> DiagnosticLevel {
        if INFO_CODES.contains(&code) {
            DiagnosticLevel::Info
        } else {
            DiagnosticLevel::Warning
        }
    }
}

/// What a probe produced for one target.
#[derive(Debug, Clone)]
pub struct ProbeOutput {
    /// `scope.complete` is false when part of the collection failed, so nothing gets staled.
    pub observation: Observation,
    pub diagnostics: Vec<Diagnostic>,
    /// Which credential (by name, never by value) worked, for credential affinity.
    pub credential: Option<String>,
}

/// Why a target could not be discovered at all. Messages never contain secrets.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq, Serialize)]
pub enum ProbeError {
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    #[error("host key rejected: {0}")]
    HostKey(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("invalid target or configuration: {0}")]
    Config(String),
    /// No credential of the run may be sent to this target (each credential's `scope`).
    #[error("out of every credential's scope: {0}")]
    OutOfScope(String),
    #[error("{0}")]
    Other(String),
}

impl ProbeError {
    /// Stable code for run reports and the API.
    pub fn code(&self) -> &'static str {
        match self {
            ProbeError::Timeout(_) => "TIMEOUT",
            ProbeError::Unreachable(_) => "UNREACHABLE",
            ProbeError::AuthFailed(_) => "AUTH_FAILED",
            ProbeError::HostKey(_) => "HOST_KEY_REJECTED",
            ProbeError::Protocol(_) => "PROTOCOL_ERROR",
            ProbeError::Config(_) => "INVALID_CONFIG",
            ProbeError::OutOfScope(_) => "OUT_OF_SCOPE",
            ProbeError::Other(_) => "PROBE_FAILED",
        }
    }
}

/// One discovery protocol. Implementations are cheap to share (`Arc<dyn Probe>`).
#[async_trait]
pub trait Probe: Send + Sync {
    /// `snmp`, `ssh`, `local`: also the observation's source.
    fn name(&self) -> &'static str;
    async fn discover(&self, target: &Target, run_id: &RunId) -> Result<ProbeOutput, ProbeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostic_levels_follow_the_code() {
        assert_eq!(
            Diagnostic::new("h", "ssh", "linux.command_missing", "x").level,
            DiagnosticLevel::Info
        );
        for code in [
            "snmp.walk_failed",
            "linux.timeout",
            "ssh.credential_refused",
            "new.code",
        ] {
            assert_eq!(
                DiagnosticLevel::of(code),
                DiagnosticLevel::Warning,
                "{code}"
            );
        }
        // Every INFO code is one a probe really emits (a typo would silently make it a warning).
        let sources = [
            include_str!("linux/transform/device.rs"),
            include_str!("linux/transform/sections.rs"),
            include_str!("linux/transform/sockets.rs"),
            include_str!("snmp/transform/sockets.rs"),
            include_str!("snmp/transform/topology/cdp.rs"),
            include_str!("snmp/transform/topology/fdb.rs"),
            include_str!("snmp/transform/topology/lldp.rs"),
        ]
        .concat();
        for code in INFO_CODES {
            assert!(
                sources.contains(&format!("\"{code}\"")),
                "{code} is emitted nowhere"
            );
        }
    }
}
