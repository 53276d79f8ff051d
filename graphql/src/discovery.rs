//! Discovery runs through the API: `runDiscovery`, `discoveryRun`, `discoveryRuns` (progress is
//! the `discoveryProgress` subscription). The schema knows no probes: the process that serves
//! it provides a [`DiscoveryService`] (the server wires one in; `cmdb graphql` has none).

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, SimpleObject, ID};

use crate::error::{gql, ApiError};
use crate::mutation::RoleGuard;
use crate::{ApiState, Role};

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
#[derive(Debug, Clone, SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DiscoveryTargetError {
    pub target: String,
    pub probe: String,
    /// Stable code: TIMEOUT, UNREACHABLE, AUTH_FAILED, HOST_KEY_REJECTED, PROTOCOL_ERROR, …
    pub code: String,
    pub message: String,
}

/// A discovery run and what it did so far.
#[derive(Debug, Clone, SimpleObject, serde::Serialize, serde::Deserialize)]
pub struct DiscoveryRun {
    pub id: ID,
    /// RUNNING, SUCCEEDED, PARTIAL (some targets failed), FAILED, or INTERRUPTED (the process
    /// running it ended before it finished — killed or crashed; what it stored is kept).
    pub status: String,
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
