//! Discovery runs for the server and the CLI: build probes from settings, drive them with the
//! protocol-neutral runner, and apply each observation to the store as it arrives. Used by
//! `cmdb discover` and by `cmdb serve` (API, schedules, local discovery at start).

mod affinity;
mod apply;
mod progress;
mod record;
mod registry;
mod run;
mod schedule;
mod settings;
mod summary;

pub use progress::{progress_publisher, record_run_start, RunRecorder};
pub use record::{finish_run_record, new_run_record};
pub use registry::RunRegistry;
pub use run::{discover, recompute_services_after_run, RunError, StopSignal};
pub use schedule::start_schedules;
pub use settings::{
    check_scope, default_scope, settings_from_config, DiscoverySettings, SettingsError,
};
pub use summary::{RunSummary, TargetLine};
