//! SSH discovery: connect, verify the host key, authenticate with the first credential that
//! works (the one that worked last time first), run the Linux collection script in one exec,
//! transform. Blocking `ssh2` runs on tokio's blocking pool behind a semaphore.

mod session;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cmdb_model::RunId;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

pub use crate::affinity::CredentialAffinity;
pub use session::SshTransport;

use crate::credentials::SshCredential;
use crate::linux::collect_and_transform;
use crate::transport::{ExecLimits, DEFAULT_MAX_OUTPUT};
use crate::{Diagnostic, Probe, ProbeError, ProbeOutput, Target};

/// How host keys are verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// Only hosts whose key is in this OpenSSH known_hosts file are accepted.
    Strict { known_hosts: PathBuf },
    /// Trust on first use: an unknown host's key is appended to this file; a later different
    /// key is refused with [`ProbeError::HostKey`].
    AcceptNew { known_hosts: PathBuf },
    /// No verification. Only by explicit configuration.
    Off,
}

/// SSH probe configuration.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// Tried in order (after the one that worked last time for the host).
    pub credentials: Vec<SshCredential>,
    pub host_key_policy: HostKeyPolicy,
    /// Port when the target has none.
    pub default_port: u16,
    /// TCP connect and SSH handshake, each.
    pub connect_timeout: Duration,
    /// Each authentication attempt.
    pub auth_timeout: Duration,
    /// The collection command, output included.
    pub command_timeout: Duration,
    /// Bytes kept per output stream.
    pub max_output: usize,
    /// Hosts discovered at the same time by this probe.
    pub max_concurrent: usize,
}

impl SshOptions {
    pub fn new(credentials: Vec<SshCredential>, host_key_policy: HostKeyPolicy) -> Self {
        SshOptions {
            credentials,
            host_key_policy,
            default_port: 22,
            connect_timeout: Duration::from_secs(10),
            auth_timeout: Duration::from_secs(15),
            command_timeout: Duration::from_secs(60),
            max_output: DEFAULT_MAX_OUTPUT,
            max_concurrent: 32,
        }
    }
}

/// The tunable part of [`SshOptions`] in a config-file friendly shape (milliseconds, bytes);
/// every field optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshSettings {
    pub default_port: u16,
    pub connect_timeout_ms: u64,
    pub auth_timeout_ms: u64,
    pub command_timeout_ms: u64,
    pub max_output_bytes: usize,
    pub max_concurrent: usize,
}

impl Default for SshSettings {
    fn default() -> Self {
        let o = SshOptions::new(Vec::new(), HostKeyPolicy::Off);
        SshSettings {
            default_port: o.default_port,
            connect_timeout_ms: o.connect_timeout.as_millis() as u64,
            auth_timeout_ms: o.auth_timeout.as_millis() as u64,
            command_timeout_ms: o.command_timeout.as_millis() as u64,
            max_output_bytes: o.max_output,
            max_concurrent: o.max_concurrent,
        }
    }
}

impl SshOptions {
    /// Options from config-file settings.
    pub fn from_settings(
        credentials: Vec<SshCredential>,
        host_key_policy: HostKeyPolicy,
        s: &SshSettings,
    ) -> Self {
        SshOptions {
            credentials,
            host_key_policy,
            default_port: s.default_port,
            connect_timeout: Duration::from_millis(s.connect_timeout_ms),
            auth_timeout: Duration::from_millis(s.auth_timeout_ms),
            command_timeout: Duration::from_millis(s.command_timeout_ms),
            max_output: s.max_output_bytes,
            max_concurrent: s.max_concurrent,
        }
    }
}

/// The SSH probe. Cheap to clone-share via `Arc<dyn Probe>`.
pub struct SshProbe {
    opts: Arc<SshOptions>,
    affinity: CredentialAffinity,
    permits: Arc<Semaphore>,
    known_hosts_lock: Arc<Mutex<()>>,
}

impl SshProbe {
    pub fn new(opts: SshOptions) -> Result<Self, ProbeError> {
        Self::with_affinity(opts, CredentialAffinity::new())
    }

    /// With affinity restored from an earlier run.
    pub fn with_affinity(
        opts: SshOptions,
        affinity: CredentialAffinity,
    ) -> Result<Self, ProbeError> {
        if opts.credentials.is_empty() {
            return Err(ProbeError::Config(
                "SSH discovery needs at least one credential".into(),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for c in &opts.credentials {
            if !names.insert(c.name.as_str()) {
                return Err(ProbeError::Config(format!(
                    "duplicate SSH credential name `{}`",
                    c.name
                )));
            }
        }
        if opts.max_output == 0 || opts.command_timeout.is_zero() {
            return Err(ProbeError::Config(
                "max_output and command_timeout must be positive".into(),
            ));
        }
        let permits = Arc::new(Semaphore::new(opts.max_concurrent.max(1)));
        Ok(SshProbe {
            opts: Arc::new(opts),
            affinity,
            permits,
            known_hosts_lock: Arc::new(Mutex::new(())),
        })
    }

    /// The affinity map (shared: updated as hosts are discovered).
    pub fn affinity(&self) -> &CredentialAffinity {
        &self.affinity
    }

    pub fn options(&self) -> &SshOptions {
        &self.opts
    }

    /// Blocking discovery of one target: what [`Probe::discover`] runs on the blocking pool.
    pub fn discover_blocking(
        &self,
        target: &Target,
        run_id: &RunId,
    ) -> Result<ProbeOutput, ProbeError> {
        discover_blocking(
            &self.opts,
            &self.affinity,
            &self.known_hosts_lock,
            target,
            run_id,
        )
    }
}

impl SshProbe {
    /// Connect and authenticate to `target` (blocking), for running commands directly. Returns
    /// the transport and the name of the credential that worked (also remembered as affinity).
    pub fn connect_blocking(&self, target: &Target) -> Result<(SshTransport, String), ProbeError> {
        let mut diags = Vec::new();
        let (cred, sess, raw) = connect_authenticated(
            &self.opts,
            &self.affinity,
            &self.known_hosts_lock,
            target,
            &mut diags,
        )?;
        self.affinity.record(&target.name(), &cred);
        Ok((SshTransport::new(sess, raw), cred))
    }
}

/// Connect, check the host key and authenticate with the first credential that works.
fn connect_authenticated(
    opts: &SshOptions,
    affinity: &CredentialAffinity,
    kh_lock: &Mutex<()>,
    target: &Target,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<(String, ssh2::Session, std::net::TcpStream), ProbeError> {
    let name = target.name();
    let port = target.port.unwrap_or(opts.default_port);
    let mut refusals: Vec<String> = Vec::new();
    let mut conn: Option<(ssh2::Session, std::net::TcpStream)> = None;
    let creds = affinity.order(target, &opts.credentials);
    if creds.is_empty() {
        // Not even a TCP connection: the host key exchange alone tells a listener we came.
        return Err(ProbeError::OutOfScope(format!(
            "{name}: no SSH credential's scope includes it"
        )));
    }
    for cred in creds {
        let (sess, raw) = match conn.take() {
            Some(c) => c,
            None => {
                let tcp = session::connect_tcp(&target.host, port, opts.connect_timeout)?;
                session::handshake(tcp, &target.host, port, opts, kh_lock)?
            }
        };
        match session::authenticate(&sess, cred, opts.auth_timeout) {
            session::AuthOutcome::Ok => {
                for r in &refusals {
                    diagnostics.push(Diagnostic::new(
                        &name,
                        "ssh",
                        "ssh.credential_refused",
                        r.clone(),
                    ));
                }
                return Ok((cred.name.clone(), sess, raw));
            }
            session::AuthOutcome::Refused(msg) => {
                tracing::debug!(credential = %cred.name, "credential refused");
                refusals.push(msg);
                conn = Some((sess, raw));
            }
            session::AuthOutcome::Broken(err) => {
                tracing::debug!(credential = %cred.name, code = err.code(), "session broke during authentication");
                if opts.credentials.len() == 1 {
                    return Err(err);
                }
                refusals.push(err.to_string());
            }
        }
    }
    tracing::warn!(target = %name, tried = refusals.len(), "no SSH credential accepted");
    Err(ProbeError::AuthFailed(format!(
        "{name}: {}",
        refusals.join("; ")
    )))
}

fn discover_blocking(
    opts: &SshOptions,
    affinity: &CredentialAffinity,
    kh_lock: &Mutex<()>,
    target: &Target,
    run_id: &RunId,
) -> Result<ProbeOutput, ProbeError> {
    let name = target.name();
    let span = tracing::info_span!("ssh_discover", target = %name, probe = "ssh", run_id = %run_id);
    let _e = span.enter();
    let started = std::time::Instant::now();
    let mut diagnostics = Vec::new();
    let (cred, sess, raw) =
        connect_authenticated(opts, affinity, kh_lock, target, &mut diagnostics)?;
    let mut transport = SshTransport::new(sess, raw);
    let limits = ExecLimits {
        timeout: opts.command_timeout,
        max_output: opts.max_output,
    };
    let result = collect_and_transform(&mut transport, &limits, &name, run_id, target.ip());
    transport.disconnect();
    let mut out = result
        .inspect_err(|e| tracing::warn!(code = e.code(), error = %e, "SSH collection failed"))?;
    affinity.record(&name, &cred);
    out.credential = Some(cred.clone());
    diagnostics.append(&mut out.diagnostics);
    out.diagnostics = diagnostics;
    tracing::info!(credential = %cred, records = out.observation.records.len(),
        relationships = out.observation.relationships.len(), complete = out.observation.scope.complete,
        elapsed_ms = started.elapsed().as_millis() as u64, "SSH discovery done");
    Ok(out)
}

#[async_trait]
impl Probe for SshProbe {
    fn name(&self) -> &'static str {
        "ssh"
    }

    async fn discover(&self, target: &Target, run_id: &RunId) -> Result<ProbeOutput, ProbeError> {
        let _permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ProbeError::Other("SSH probe shut down".into()))?;
        let opts = self.opts.clone();
        let affinity = self.affinity.clone();
        let lock = self.known_hosts_lock.clone();
        let target = target.clone();
        let run_id = run_id.clone();
        tokio::task::spawn_blocking(move || {
            discover_blocking(&opts, &affinity, &lock, &target, &run_id)
        })
        .await
        .map_err(|e| ProbeError::Other(format!("SSH worker failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Secret, SshAuth};

    fn cred(name: &str) -> SshCredential {
        SshCredential {
            name: name.into(),
            user: "u".into(),
            auth: SshAuth::Password {
                password: Secret::new("pw"),
            },
            scope: None,
        }
    }

    #[test]
    fn rejects_bad_config() {
        assert!(SshProbe::new(SshOptions::new(vec![], HostKeyPolicy::Off)).is_err());
        assert!(SshProbe::new(SshOptions::new(
            vec![cred("a"), cred("a")],
            HostKeyPolicy::Off
        ))
        .is_err());
    }

    #[test]
    fn policy_serialises_readably() {
        let p = HostKeyPolicy::AcceptNew {
            known_hosts: "/var/lib/cmdb/known_hosts".into(),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"mode":"accept-new","known_hosts":"/var/lib/cmdb/known_hosts"}"#
        );
    }

    #[test]
    fn settings_from_config() {
        let s: SshSettings =
            serde_json::from_str(r#"{"command_timeout_ms": 5000, "max_concurrent": 4}"#).unwrap();
        let o = SshOptions::from_settings(vec![cred("a")], HostKeyPolicy::Off, &s);
        assert_eq!(o.command_timeout, Duration::from_secs(5));
        assert_eq!(o.max_concurrent, 4);
        assert_eq!(o.default_port, 22);
        assert_eq!(o.max_output, DEFAULT_MAX_OUTPUT);
        assert!(serde_json::from_str::<SshSettings>(r#"{"typo": 1}"#).is_err());
    }

    #[tokio::test]
    async fn refused_port_is_unreachable() {
        // Port 1 on loopback: nothing listens there.
        let p = SshProbe::new(SshOptions::new(vec![cred("a")], HostKeyPolicy::Off)).unwrap();
        let e = p
            .discover(&Target::new("127.0.0.1", Some(1)), &RunId::new("r"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "UNREACHABLE");
    }
}
