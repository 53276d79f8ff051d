//! Scheduled runs: `[[discovery.schedules]]` fired at the times their cron expressions name.

use std::sync::Arc;

use super::registry::RunRegistry;

/// Start the configured schedules: each fires its run at the next time its cron expression
/// names (UTC). Returns the tasks (dropped = stopped on shutdown).
pub fn start_schedules(
    registry: Arc<RunRegistry>,
    schedules: &[crate::config::ScheduleConfig],
) -> Vec<tokio::task::JoinHandle<()>> {
    use cmdb_graphql::DiscoveryService;
    use std::str::FromStr;
    let mut tasks = Vec::new();
    for s in schedules.iter().cloned() {
        let Ok(schedule) = cron::Schedule::from_str(&s.cron) else {
            continue;
        }; // validated at load
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(next) = schedule.upcoming(chrono::Utc).next() {
                let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(wait).await;
                // Schedules are the administrator's own targets: the configured host-key
                // policy applies as written.
                let req = cmdb_graphql::RunRequest {
                    targets: s.targets.clone(),
                    credentials: s.credentials.clone(),
                    local: s.local,
                    accept_new_host_keys: true,
                };
                match registry.start(req, &format!("schedule:{}", s.name)) {
                    Ok(run) => tracing::info!(schedule = %s.name, run_id = %run.id.as_str(), "scheduled discovery started"),
                    Err(e) => tracing::warn!(schedule = %s.name, "scheduled discovery not started: {e}"),
                }
            }
        }));
    }
    tasks
}
