//! `cmdb discover [TARGETS…]`: a one-shot discovery into the configured store.
//!
//! Quick use needs no config file: SNMP v1/v2c communities and a v3 user, an SSH user with a key
//! or a password taken from an environment variable. Secret values can come from environment
//! variables so they stay out of `ps`.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use cmdb_discovery::credentials::SnmpCredentialKind;
use cmdb_discovery::run::ProgressEvent;
use cmdb_discovery::{
    Secret, SnmpAuthProto, SnmpCredential, SnmpPrivProto, SnmpV3, SshAuth, SshCredential,
};
use cmdb_model::RunId;

use cmdb_server::config::HostKeyMode;
use cmdb_server::discovery::{
    discover, finish_run_record, new_run_record, record_run_start, DiscoverySettings, RunRecorder,
    StopSignal,
};
use cmdb_server::run_log::RunLog;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum AuthProto {
    Md5,
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum PrivProto {
    Des,
    Aes,
    Aes192,
    Aes256,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Addresses, host:port or CIDR ranges (a /16 at most per range).
    pub targets: Vec<String>,
    /// SNMP v2c community, tried in order (repeatable).
    #[arg(
        long = "snmp-community",
        env = "CMDB_SNMP_COMMUNITY",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub snmp_community: Vec<String>,
    /// File holding SNMP communities, one per line (keeps them out of `ps` and shell history).
    #[arg(long = "snmp-community-file", value_name = "PATH")]
    pub snmp_community_file: Option<std::path::PathBuf>,
    /// Use SNMP v1 instead of v2c for the communities.
    #[arg(long)]
    pub snmp_v1: bool,
    /// SNMPv3 user.
    #[arg(long)]
    pub snmp_user: Option<String>,
    #[arg(long, value_enum)]
    pub snmp_auth_proto: Option<AuthProto>,
    /// SNMPv3 authentication passphrase.
    #[arg(long, env = "CMDB_SNMP_AUTH_PASS", hide_env_values = true)]
    pub snmp_auth_pass: Option<String>,
    #[arg(long, value_enum)]
    pub snmp_priv_proto: Option<PrivProto>,
    /// SNMPv3 privacy passphrase.
    #[arg(long, env = "CMDB_SNMP_PRIV_PASS", hide_env_values = true)]
    pub snmp_priv_pass: Option<String>,
    /// SSH user.
    #[arg(long)]
    pub ssh_user: Option<String>,
    /// Private key file for SSH.
    #[arg(long)]
    pub ssh_key: Option<String>,
    /// Environment variable holding the key's passphrase.
    #[arg(long)]
    pub ssh_key_passphrase_env: Option<String>,
    /// Environment variable holding the SSH password.
    #[arg(long)]
    pub ssh_password_env: Option<String>,
    /// Use the running ssh-agent.
    #[arg(long)]
    pub ssh_agent: bool,
    #[arg(long, value_enum, default_value_t = HostKeyMode::AcceptNew)]
    pub ssh_host_keys: HostKeyMode,
    /// Also discover this machine (local commands, no SSH).
    #[arg(long)]
    pub local: bool,
    /// Targets in progress at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Whole-target deadline in seconds.
    #[arg(long, default_value_t = 120)]
    pub target_timeout: u64,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn env_secret(var: &str, what: &str) -> anyhow::Result<Secret> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
        _ => bail!("{what}: environment variable {var} is not set"),
    }
}

pub fn settings_from_args(
    a: &Args,
    data_dir: &std::path::Path,
) -> anyhow::Result<DiscoverySettings> {
    let mut s = DiscoverySettings {
        local: a.local,
        ..Default::default()
    };
    s.snmp = snmp_communities(a)?;
    s.snmp.extend(snmp_v3_user(a)?);
    s.ssh = ssh_credentials(a)?;
    if !s.ssh.is_empty() {
        s.host_key_policy = Some(a.ssh_host_keys.policy(data_dir.join("known_hosts")));
    }
    s.runner.concurrency = a.concurrency.max(1);
    s.runner.target_timeout_ms = a.target_timeout.max(1) * 1000;
    s.affinity_file = Some(data_dir.join("credential-affinity.json"));
    Ok(s)
}

/// `--snmp-community` and `--snmp-community-file`, as v1 or v2c credentials, in order.
fn snmp_communities(a: &Args) -> anyhow::Result<Vec<SnmpCredential>> {
    let mut communities = a.snmp_community.clone();
    if let Some(path) = &a.snmp_community_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("--snmp-community-file {}: {e}", path.display()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        communities.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(communities
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let community = Secret::new(c.clone());
            let kind = if a.snmp_v1 {
                SnmpCredentialKind::V1 { community }
            } else {
                SnmpCredentialKind::V2c { community }
            };
            SnmpCredential {
                name: format!("community-{}", i + 1),
                kind,
                scope: None,
            }
        })
        .collect())
}

/// `--snmp-user` with its protocols and passphrases, as one v3 credential.
fn snmp_v3_user(a: &Args) -> anyhow::Result<Option<SnmpCredential>> {
    let Some(user) = &a.snmp_user else {
        return Ok(None);
    };
    let auth_proto = a.snmp_auth_proto.map(|p| match p {
        AuthProto::Md5 => SnmpAuthProto::Md5,
        AuthProto::Sha => SnmpAuthProto::Sha1,
        AuthProto::Sha224 => SnmpAuthProto::Sha224,
        AuthProto::Sha256 => SnmpAuthProto::Sha256,
        AuthProto::Sha384 => SnmpAuthProto::Sha384,
        AuthProto::Sha512 => SnmpAuthProto::Sha512,
    });
    let priv_proto = a.snmp_priv_proto.map(|p| match p {
        PrivProto::Des => SnmpPrivProto::Des,
        PrivProto::Aes => SnmpPrivProto::Aes128,
        PrivProto::Aes192 => SnmpPrivProto::Aes192,
        PrivProto::Aes256 => SnmpPrivProto::Aes256,
    });
    if auth_proto.is_some() != a.snmp_auth_pass.is_some() {
        bail!("--snmp-auth-proto and --snmp-auth-pass (or CMDB_SNMP_AUTH_PASS) go together");
    }
    if priv_proto.is_some() != a.snmp_priv_pass.is_some() {
        bail!("--snmp-priv-proto and --snmp-priv-pass (or CMDB_SNMP_PRIV_PASS) go together");
    }
    if priv_proto.is_some() && auth_proto.is_none() {
        bail!("SNMPv3 privacy needs authentication too (--snmp-auth-proto)");
    }
    Ok(Some(SnmpCredential {
        name: format!("v3-{user}"),
        kind: SnmpCredentialKind::V3(SnmpV3 {
            user: user.clone(),
            auth_proto,
            auth_pass: a.snmp_auth_pass.clone().map(Secret::new),
            priv_proto,
            priv_pass: a.snmp_priv_pass.clone().map(Secret::new),
        }),
        scope: None,
    }))
}

/// `--ssh-user` with a key, a password from the environment and/or the agent, in that order.
fn ssh_credentials(a: &Args) -> anyhow::Result<Vec<SshCredential>> {
    let Some(user) = &a.ssh_user else {
        if a.ssh_key.is_some() || a.ssh_password_env.is_some() || a.ssh_agent {
            bail!("--ssh-key/--ssh-password-env/--ssh-agent need --ssh-user");
        }
        return Ok(Vec::new());
    };
    let mut ssh = Vec::new();
    let credential = |name: &str, auth: SshAuth| SshCredential {
        name: name.into(),
        user: user.clone(),
        auth,
        scope: None,
    };
    if let Some(key) = &a.ssh_key {
        let passphrase = a
            .ssh_key_passphrase_env
            .as_deref()
            .map(|v| env_secret(v, "--ssh-key-passphrase-env"))
            .transpose()?;
        ssh.push(credential(
            "key",
            SshAuth::Key {
                path: key.clone(),
                passphrase,
            },
        ));
    }
    if let Some(var) = &a.ssh_password_env {
        ssh.push(credential(
            "password",
            SshAuth::Password {
                password: env_secret(var, "--ssh-password-env")?,
            },
        ));
    }
    if a.ssh_agent {
        ssh.push(credential("agent", SshAuth::Agent));
    }
    if ssh.is_empty() {
        bail!("--ssh-user needs --ssh-key, --ssh-password-env or --ssh-agent");
    }
    Ok(ssh)
}

/// Flags whose value is a secret: given on the command line, every local user can read it
/// (`ps`, /proc/PID/cmdline) and shells keep it in their history.
const SECRET_FLAGS: &[(&str, &str)] = &[
    (
        "--snmp-community",
        "CMDB_SNMP_COMMUNITY or --snmp-community-file",
    ),
    ("--snmp-auth-pass", "CMDB_SNMP_AUTH_PASS"),
    ("--snmp-priv-pass", "CMDB_SNMP_PRIV_PASS"),
];

/// Warn about secrets given as arguments (the values are never printed).
fn warn_secrets_in_argv(argv: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<String> {
    let mut warnings = Vec::new();
    for a in argv {
        let a = a.to_string_lossy();
        for (flag, instead) in SECRET_FLAGS {
            if a == *flag || a.starts_with(&format!("{flag}=")) {
                warnings.push(format!(
                    "{flag} on the command line is readable by every local user (ps) and stays in shell history; use {instead}"
                ));
            }
        }
    }
    warnings
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    if args.targets.is_empty() && !args.local {
        bail!("nothing to discover: give targets (addresses, host:port, CIDR) and/or --local");
    }
    for w in warn_secrets_in_argv(std::env::args_os()) {
        tracing::warn!("{w}");
        eprintln!("warning: {w}");
    }
    cmdb_server::private_fs::create_dir(&ctx.data_dir)?;
    let settings = settings_from_args(&args, &ctx.data_dir)?;
    let store = ctx.open_store().await?;
    let run_id = RunId::generate();
    // Recorded in the data directory like the server's runs: `discoveryRuns` lists it, and if
    // this process dies before the end it reads as INTERRUPTED.
    let mut record = new_run_record(&run_id, "cli");
    let lease = record_run_start(&RunLog::new(&ctx.data_dir), &record);
    // The record as the run goes (per-target outcomes), saved now and then.
    let progress = std::sync::Arc::new(parking_lot::Mutex::new((
        record.clone(),
        RunRecorder::new(lease.clone()),
    )));
    let final_record = progress.clone();
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let b2 = bar.clone();
    let result = discover(
        store.clone(),
        ctx.ingest_options(),
        &settings,
        args.targets.clone(),
        run_id,
        move |ev| {
            let mut p = progress.lock();
            let (run, recorder) = &mut *p;
            if let Some(snapshot) = recorder.apply(run, ev) {
                recorder.save(&snapshot);
            }
            drop(p);
            show_progress(ev, &b2)
        },
        // Ctrl-C ends the process; its run then reads INTERRUPTED through the run log's lock.
        StopSignal::never(),
    )
    .await;
    record = final_record.lock().0.clone();
    finish_run_record(&mut record, &result);
    if let Some(l) = &lease {
        if let Err(e) = l.finish(&record) {
            tracing::warn!(run_id = %record.id.as_str(), "cannot record the end of the discovery run: {e}");
        }
    }
    let summary = result?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    store.close().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    }
    eprint!("{}", summary.render());
    Ok(if summary.targets_failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn show_progress(ev: &ProgressEvent, bar: &Option<indicatif::ProgressBar>) {
    match (ev, bar) {
        (
            ProgressEvent::RunStarted {
                targets, probes, ..
            },
            Some(b),
        ) => b.inc_length((*targets * probes.len().max(1)) as u64),
        (ProgressEvent::TargetStarted { target, probe, .. }, Some(b)) => {
            b.set_message(format!("{probe} {target}"))
        }
        (ProgressEvent::TargetFinished { .. }, Some(b)) => b.inc(1),
        (
            ProgressEvent::TargetFinished {
                target,
                probe,
                outcome,
                duration_ms,
                ..
            },
            None,
        ) => match outcome {
            cmdb_discovery::run::TargetOutcome::Ok {
                records, complete, ..
            } => {
                tracing::info!(%target, %probe, records, complete, duration_ms, "target discovered")
            }
            cmdb_discovery::run::TargetOutcome::Error { code, message } => {
                tracing::warn!(%target, %probe, %code, duration_ms, "target failed: {message}")
            }
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_on_the_command_line_are_warned_about_without_their_value() {
        let argv = [
            "cmdb",
            "discover",
            "10.0.0.1",
            "--snmp-community",
            "hunter2",
            "--snmp-auth-pass=topsecret",
            "--ssh-user",
            "ops",
        ]
        .map(std::ffi::OsString::from);
        let w = warn_secrets_in_argv(argv);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("--snmp-community") && w[0].contains("--snmp-community-file"));
        assert!(w[1].contains("CMDB_SNMP_AUTH_PASS"));
        assert!(!w
            .iter()
            .any(|l| l.contains("hunter2") || l.contains("topsecret")));
        let quiet =
            ["cmdb", "discover", "--snmp-community-file", "/etc/c"].map(std::ffi::OsString::from);
        assert!(warn_secrets_in_argv(quiet).is_empty());
    }
}
