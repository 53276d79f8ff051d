//! The events of one group commit applied, in order, to the newest alert of each message key
//! (`cmdb_events::alert`), new alerts bound to CIs ([`Binder`]): the alert records the commit
//! writes and what each intake is told.

use std::collections::HashMap;

use cmdb_events::{AlertChange, Event};
use cmdb_model::Timestamp;
use cmdb_store::ops::{AlertRecord, OpsStore};

use crate::bind::Binder;
use crate::{Ignored, IngestSummary, LiveError};

/// The alerts the intakes of one group commit have changed so far.
pub(crate) struct AlertChanges {
    /// The newest alert of each message key, as the events so far left it.
    latest: HashMap<String, AlertRecord>,
    /// Ids of the changed alerts, in the order of their first change.
    changed: Vec<String>,
    /// The newest record of each changed alert.
    by_id: HashMap<String, AlertRecord>,
    /// Whether a change may move an operational status: a bound alert opened, closed or
    /// changed severity.
    pub status_moved: bool,
}

impl AlertChanges {
    /// Starts from the stored newest alert of every key the intakes' events have.
    pub async fn load(
        ops: &dyn OpsStore,
        intakes: &[(Vec<Event>, Timestamp)],
    ) -> Result<AlertChanges, LiveError> {
        let mut keys: Vec<String> = intakes
            .iter()
            .flat_map(|(evs, _)| evs.iter().map(Event::key))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(AlertChanges {
            latest: ops.latest_alerts(&keys).await?,
            changed: Vec::new(),
            by_id: HashMap::new(),
            status_moved: false,
        })
    }

    /// Applies the event at `index` of an intake received at `now`, counting it in `summary`.
    pub async fn apply(
        &mut self,
        index: usize,
        e: &Event,
        now: Timestamp,
        binder: &mut Binder<'_>,
        summary: &mut IngestSummary,
    ) -> Result<(), LiveError> {
        let key = e.key();
        let current = self.latest.get(&key);
        let rec = match cmdb_events::alert::apply(current.map(|r| &r.alert), e) {
            AlertChange::Ignored(why) => {
                summary.ignored.push(Ignored {
                    index,
                    reason: why.as_str(),
                });
                summary.alert_ids.push(current.map(|r| r.id.clone()));
                return Ok(());
            }
            AlertChange::Opened(alert) => {
                summary.opened += 1;
                let binding = binder.bind(&alert.node, alert.resource.as_deref()).await?;
                if binding.ci.is_none() {
                    summary.unbound += 1;
                }
                self.status_moved |= binding.ci.is_some();
                AlertRecord {
                    id: uuid::Uuid::new_v4().to_string(),
                    alert,
                    binding,
                    received_first: now,
                    received_last: now,
                }
            }
            AlertChange::Updated {
                alert,
                severity_changed,
            } => {
                summary.updated += 1;
                let prev = current.expect("an update has an alert");
                self.status_moved |= severity_changed && prev.binding.ci.is_some();
                AlertRecord {
                    alert,
                    received_last: now,
                    ..prev.clone()
                }
            }
            AlertChange::Closed(alert) => {
                summary.closed += 1;
                let prev = current.expect("a clear closes an alert");
                self.status_moved |= prev.binding.ci.is_some();
                AlertRecord {
                    alert,
                    received_last: now,
                    ..prev.clone()
                }
            }
        };
        summary.accepted += 1;
        summary.alert_ids.push(Some(rec.id.clone()));
        if !self.by_id.contains_key(&rec.id) {
            self.changed.push(rec.id.clone());
        }
        self.by_id.insert(rec.id.clone(), rec.clone());
        self.latest.insert(key, rec);
        Ok(())
    }

    /// The changed alerts' newest records, in the order of their first change.
    pub fn into_records(mut self) -> Vec<AlertRecord> {
        let by_id = &mut self.by_id;
        self.changed
            .iter()
            .filter_map(|id| by_id.remove(id))
            .collect()
    }
}
