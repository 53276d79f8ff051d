//! Discovery runs through the API: `runDiscovery`, `discoveryRun`, `discoveryRuns` (progress is
//! the `discoveryProgress` subscription). The schema knows no probes: the process that serves
//! it provides a [`DiscoveryService`] (the server wires one in; `cmdb graphql` has none).

use std::sync::Arc;

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};

use crate::error::{gql, ApiError};
use crate::guard::{Role, RoleGuard};
use crate::ApiState;

/// What a caller asks to discover. Credentials are named; their secrets stay in the config.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    pub targets: Vec<String>,
    /// Credential names from the config; empty = all configured credentials.
    pub credentials: Vec<String>,
    pub local: bool,
    /// The caller explicitly accepts SSH host keys not yet known (trust on first use) for this
    /// run; without it a run started over the API only talks to hosts whose keys are known.
    pub accept_new_host_keys: bool,
}

/// One target that failed in a run.
#[derive(Debug, Clone, PartialEq, SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DiscoveryTargetError {
    pub target: String,
    pub probe: String,
    /// Stable code: TIMEOUT, UNREACHABLE, AUTH_FAILED, HOST_KEY_REJECTED, PROTOCOL_ERROR, …
    pub code: String,
    pub message: String,
}

/// Where one (target, probe) pair of a run stands. Each target's probes run one after another
/// (SNMP before SSH); targets run in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TargetStatus {
    /// Not started yet. Listed only in runs of at most 1,024 (target, probe) pairs; in larger
    /// runs a pair appears when it starts.
    Pending,
    /// Its probe is at work.
    Running,
    /// Discovered; what was found is stored.
    Ok,
    /// Not discovered (`error` says why), or what was found could not be stored.
    Failed,
    /// Nothing was sent: no credential of this probe may go to the target (`OUT_OF_SCOPE`);
    /// another probe of the run covers it. Not a failure.
    Skipped,
}

/// Where a discovery run stands.
// Serialised as the same words the run log held when this was a string, so old records read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiscoveryRunStatus {
    /// Under way.
    Running,
    /// Every (target, probe) pair was discovered (or skipped, as long as not all were).
    Succeeded,
    /// Some pairs failed, some were discovered.
    Partial,
    /// Nothing was discovered, or the run failed as a whole (`message` says why).
    Failed,
    /// The process running it ended before it finished (killed, crashed or shut down); what
    /// it stored is kept.
    Interrupted,
}

impl DiscoveryRunStatus {
    /// The wire word (`RUNNING`, `SUCCEEDED`, …), as metrics label it.
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryRunStatus::Running => "RUNNING",
            DiscoveryRunStatus::Succeeded => "SUCCEEDED",
            DiscoveryRunStatus::Partial => "PARTIAL",
            DiscoveryRunStatus::Failed => "FAILED",
            DiscoveryRunStatus::Interrupted => "INTERRUPTED",
        }
    }
}

/// How much a diagnostic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DiagnosticLevel {
    /// What the target offers or lets the account see is limited (a tool not installed, data
    /// only root may read, a neighbour that cannot be resolved).
    Info,
    /// Something went wrong collecting or decoding (a walk or command failed, output cut or
    /// unparsable, a credential refused, a record rejected): data may be missing.
    Warning,
}

/// Something odd but survivable seen while discovering a target.
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DiscoveryDiagnostic {
    pub level: DiagnosticLevel,
    /// Stable code: `snmp.table_missing`, `linux.command_missing`, … (docs/discovery-*.md).
    pub code: Option<String>,
    /// Never contains a secret; at most 500 characters.
    pub message: String,
}

/// One (target, probe) pair of a run: how it stands or ended.
#[derive(Debug, Clone, PartialEq, SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DiscoveryTargetOutcome {
    /// The target as the run expanded it (`10.0.0.7`, `host:1161`).
    pub target: String,
    /// `snmp`, `ssh` or `local`.
    pub probe: Option<String>,
    pub status: TargetStatus,
    /// Records and relationships the probe reported (0 unless OK).
    #[serde(default)]
    pub records: i32,
    #[serde(default)]
    pub relationships: i32,
    /// How long the probe worked on it (null until it finished).
    #[serde(default)]
    pub duration_ms: Option<i32>,
    /// At most 20 per target; `diagnosticsOmitted` counts the rest.
    #[serde(default)]
    pub diagnostics: Vec<DiscoveryDiagnostic>,
    /// Why it FAILED or was SKIPPED.
    #[serde(default)]
    pub error: Option<DiscoveryTargetError>,
    /// OK only: false when part of the collection failed (nothing was staled then).
    #[serde(default)]
    pub complete: Option<bool>,
    /// OK only: the name of the credential that worked (never its value).
    #[serde(default)]
    pub credential: Option<String>,
    /// Diagnostics of this target not listed (past the per-target or per-run bound).
    #[serde(default)]
    pub diagnostics_omitted: i32,
}

/// A discovery run and what it did so far.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DiscoveryRun {
    pub id: ID,
    /// RUNNING, SUCCEEDED, PARTIAL (some targets failed), FAILED, or INTERRUPTED (the process
    /// running it ended before it finished — killed, crashed or shut down; what it stored is
    /// kept).
    pub status: DiscoveryRunStatus,
    /// What started it: `api`, `schedule:<name>`, `startup`, `cli` (`cmdb discover`).
    pub trigger: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub targets_done: i32,
    pub targets_ok: i32,
    pub targets_failed: i32,
    pub cis_created: i32,
    pub cis_updated: i32,
    pub cis_unchanged: i32,
    pub cis_staled: i32,
    pub relationships_created: i32,
    pub relationships_closed: i32,
    pub errors: Vec<DiscoveryTargetError>,
    /// Why the whole run failed, when it did.
    pub message: Option<String>,
    /// (target, probe) pairs the run takes on, known once it has expanded its targets.
    #[serde(default)]
    pub targets_total: i32,
    /// Pairs SKIPPED (not counted in `targetsFailed`).
    #[serde(default)]
    pub targets_skipped: i32,
    /// Finished pairs not listed in `targets` (see there).
    #[serde(default)]
    pub targets_omitted: i32,
    /// Per (target, probe) pair, in the order the run took them on, updated as the run goes.
    /// Runs of at most 1,024 pairs list every pair from the start (PENDING until it starts).
    /// Larger runs (sweeps) list a pair from when it starts, and keep it when it finishes only
    /// if it answered or failed with more than no answer (TIMEOUT, UNREACHABLE) or a skip, up
    /// to 4,096 finished pairs; the rest are counted in `targetsOmitted` (failures stay in
    /// `errors`). Runs recorded before this field existed list none.
    #[serde(default)]
    pub targets: Vec<DiscoveryTargetOutcome>,
}

/// Runs discovery on behalf of the API.
pub trait DiscoveryService: Send + Sync + 'static {
    /// Validate and start a run in the background; returns its state at start.
    fn start(&self, req: RunRequest, trigger: &str) -> Result<DiscoveryRun, ApiError>;
    fn run(&self, id: &str) -> Option<DiscoveryRun>;
    /// Newest first.
    fn runs(&self, limit: usize) -> Vec<DiscoveryRun>;
    /// The configured credentials a run may name: names, kinds and scopes, never a secret.
    fn credentials(&self) -> Vec<DiscoveryCredential> {
        Vec::new()
    }
}

/// A credential a run may name (`runDiscovery(input: {credentials: [...]})`). Only what
/// identifies it: no secret, no user name.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryCredential {
    pub name: String,
    /// `snmp-v1`, `snmp-v2c`, `snmp-v3`, `ssh-key`, `ssh-password`, `ssh-agent`.
    pub kind: String,
    /// Where it may be sent (networks and host names); null: anywhere a run is pointed.
    pub scope: Option<String>,
}

/// The service, as schema data.
#[derive(Clone)]
pub struct DiscoveryHandle(pub Arc<dyn DiscoveryService>);

fn service<'a>(ctx: &'a Context<'_>) -> async_graphql::Result<&'a DiscoveryHandle> {
    ctx.data_opt::<DiscoveryHandle>()
        .ok_or_else(|| gql(ApiError::Unavailable("discovery runs are not available here (start them from `cmdb serve` or `cmdb discover`)".into())))
}

#[derive(InputObject)]
pub struct RunDiscoveryInput {
    /// Addresses, host:port or CIDR ranges.
    #[graphql(default)]
    pub targets: Vec<String>,
    /// Names of configured credentials to use (default: all).
    pub credentials: Option<Vec<String>>,
    /// Also discover the machine the server runs on.
    #[graphql(default)]
    pub local: bool,
    /// Accept (and remember) SSH host keys of hosts not yet in the known-hosts file. Without
    /// it, a run started over the API connects only to hosts whose keys are known (with
    /// `[discovery] ssh_host_keys = "accept-new"`), so a target impersonating a host cannot
    /// collect an SSH password. Targets must in any case lie in the credentials' `scope`.
    #[graphql(default)]
    pub accept_new_host_keys: bool,
}

#[derive(Default)]
pub struct DiscoveryQuery;

#[Object]
impl DiscoveryQuery {
    /// One discovery run by id.
    async fn discovery_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<DiscoveryRun>> {
        Ok(service(ctx)?.0.run(&id))
    }

    /// Recent discovery runs, newest first.
    async fn discovery_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
    ) -> async_graphql::Result<Vec<DiscoveryRun>> {
        let state = ctx.data::<ApiState>()?;
        let n = state.page_size(Some(first), None)?;
        Ok(service(ctx)?.0.runs(n))
    }

    /// The credentials runs may name (configured in `[discovery]`), in the order they are
    /// tried. Names, kinds and scopes only.
    async fn discovery_credentials(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<DiscoveryCredential>> {
        Ok(service(ctx)?.0.credentials())
    }
}

#[derive(Default)]
pub struct DiscoveryMutation;

#[Object]
impl DiscoveryMutation {
    /// Start a discovery run; follow it with `discoveryRun(id)` or the `discoveryProgress`
    /// subscription.
    #[graphql(guard = "RoleGuard::new(Role::Editor)")]
    async fn run_discovery(
        &self,
        ctx: &Context<'_>,
        input: RunDiscoveryInput,
    ) -> async_graphql::Result<DiscoveryRun> {
        if input.targets.is_empty() && !input.local {
            return Err(gql(ApiError::InvalidInput(
                "give `targets` and/or `local: true`".into(),
            )));
        }
        let req = RunRequest {
            targets: input.targets,
            credentials: input.credentials.unwrap_or_default(),
            local: input.local,
            accept_new_host_keys: input.accept_new_host_keys,
        };
        service(ctx)?.0.start(req, "api").map_err(gql)
    }
}
