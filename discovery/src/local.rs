//! Local-host discovery: the same collection as SSH, run on the machine `cmdb` runs on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cmdb_model::RunId;
use tokio::sync::Semaphore;

use crate::linux::collect_and_transform;
use crate::transport::{ExecLimits, LocalTransport, DEFAULT_MAX_OUTPUT};
use crate::{Probe, ProbeError, ProbeOutput, Target};

/// The target name local discovery uses in scopes and reports.
pub const LOCAL_TARGET: &str = "local";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOptions {
    pub command_timeout: Duration,
    pub max_output: usize,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            command_timeout: Duration::from_secs(60),
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }
}

/// Discovers this machine. Accepts any target (conventionally [`LocalProbe::target`]); its
/// scope is always `local`.
#[derive(Debug, Clone)]
pub struct LocalProbe {
    opts: LocalOptions,
    one_at_a_time: Arc<Semaphore>,
}

impl Default for LocalProbe {
    fn default() -> Self {
        Self::new(LocalOptions::default())
    }
}

impl LocalProbe {
    pub fn new(opts: LocalOptions) -> Self {
        LocalProbe {
            opts,
            one_at_a_time: Arc::new(Semaphore::new(1)),
        }
    }

    /// The target to hand a runner: `local`.
    pub fn target() -> Target {
        Target::new(LOCAL_TARGET, None)
    }

    /// Blocking discovery of this machine.
    pub fn discover_blocking(&self, run_id: &RunId) -> Result<ProbeOutput, ProbeError> {
        let span = tracing::info_span!("local_discover", target = LOCAL_TARGET, probe = "local", run_id = %run_id);
        let _e = span.enter();
        let limits = ExecLimits {
            timeout: self.opts.command_timeout,
            max_output: self.opts.max_output,
        };
        let out = collect_and_transform(
            &mut LocalTransport::new(),
            &limits,
            LOCAL_TARGET,
            run_id,
            None,
        )?;
        tracing::info!(
            records = out.observation.records.len(),
            complete = out.observation.scope.complete,
            "local discovery done"
        );
        Ok(out)
    }
}

#[async_trait]
impl Probe for LocalProbe {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn discover(&self, _target: &Target, run_id: &RunId) -> Result<ProbeOutput, ProbeError> {
        let _p = self
            .one_at_a_time
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ProbeError::Other("local probe shut down".into()))?;
        let me = self.clone();
        let run_id = run_id.clone();
        tokio::task::spawn_blocking(move || me.discover_blocking(&run_id))
            .await
            .map_err(|e| ProbeError::Other(format!("local worker failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cmdb_model::CiClass;

    #[tokio::test]
    async fn discovers_this_machine() {
        let p = LocalProbe::default();
        let out = p
            .discover(&LocalProbe::target(), &RunId::new("r1"))
            .await
            .unwrap();
        let obs = &out.observation;
        assert_eq!(obs.source.as_str(), "local");
        assert!(obs.scope.targets.contains("local"));
        let dev = obs.records.iter().find(|r| r.key == "device").unwrap();
        assert_eq!(dev.class, Some(CiClass::Host));
        assert!(dev.identifiers.contains_key("hostname"));
        assert!(obs
            .records
            .iter()
            .any(|r| r.class == Some(CiClass::Interface)));
    }
}
