//! Service-level figures of one service or CI over a window, from its stored status timeline
//! (`events::figures` does the arithmetic).

use cmdb_events::figures::{figures, Figures, SlaTarget, SlaTargetError, Timeline};
use cmdb_model::attrs;
use cmdb_model::{CiId, Timestamp};
use cmdb_store::ops::IncidentQuery;
use cmdb_store::GraphStore;

use crate::LiveError;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("the window is empty: `to` must be after `from`, and `from` before now")]
    EmptyWindow,
}

/// Figures of one subject over `[from, to)`.
#[derive(Debug, Clone)]
pub struct SubjectHealth {
    pub id: CiId,
    pub name: String,
    pub figures: Figures,
    /// Incidents opened in the window that involve the subject.
    pub incidents: usize,
    /// The `slaTarget` attribute when it did not parse.
    pub sla_problem: Option<String>,
}

/// The SLA target of a CI: attribute `slaTarget` (or `sla_target`), e.g. `99.9%`.
pub fn sla_of(ci: &cmdb_model::Ci) -> Result<Option<SlaTarget>, SlaTargetError> {
    let v = ci
        .attr(attrs::SLA_TARGET_CAMEL)
        .or_else(|| ci.attr(attrs::SLA_TARGET));
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => SlaTarget::parse(s).map(Some),
        Some(serde_json::Value::Number(n)) => SlaTarget::parse(&n.to_string()).map(Some),
        Some(other) => Err(SlaTargetError::new(&other.to_string())),
    }
}

pub async fn subject_health(
    store: &dyn GraphStore,
    id: &CiId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<SubjectHealth>, LiveError> {
    // The future has no status yet: a window reaching past now ends now (else the rest of
    // the month would count as the current status, and an SLA as met or breached early).
    let to = to.min(chrono::Utc::now());
    if to <= from {
        return Err(LiveError::Invalid(HealthError::EmptyWindow.to_string()));
    }
    let Some(ci) = store.get(id).await? else {
        return Ok(None);
    };
    let hist = store.ops().status_history(&ci.id, from, to).await?;
    let mut timeline = Timeline::default();
    for c in hist {
        if c.at < from {
            timeline.initial = Some(c.status);
        } else {
            timeline.changes.push((c.at, c.status));
        }
    }
    let (sla, sla_problem) = match sla_of(&ci) {
        Ok(s) => (s, None),
        Err(e) => (None, Some(e.to_string())),
    };
    let Some(figures) = figures(&timeline, from, to, sla) else {
        return Err(LiveError::Invalid(HealthError::EmptyWindow.to_string()));
    };
    let incidents = store
        .ops()
        .incidents(&IncidentQuery::default())
        .await?
        .into_iter()
        .filter(|i| i.opened_at >= from && i.opened_at < to)
        .filter(|i| i.services.iter().any(|s| s.id == ci.id) || i.root_causes.contains(&ci.id))
        .count();
    Ok(Some(SubjectHealth {
        id: ci.id.clone(),
        name: ci.name.clone(),
        figures,
        incidents,
        sla_problem,
    }))
}

/// Availability of every business service, and of every CI monitoring has reported on, over
/// `[from, to)`, with the CMDB's own health: what `cmdb report availability` prints.
#[derive(Debug, Clone)]
pub struct AvailabilityReport {
    pub from: Timestamp,
    pub to: Timestamp,
    pub services: Vec<SubjectHealth>,
    pub cis: Vec<SubjectHealth>,
    pub health: crate::CmdbHealth,
}

pub async fn availability_report(
    store: &dyn GraphStore,
    from: Timestamp,
    to: Timestamp,
) -> Result<AvailabilityReport, LiveError> {
    let mut services = Vec::new();
    let mut after = None;
    loop {
        let f = cmdb_store::CiFilter {
            classes: vec![cmdb_model::CiClass::BusinessService],
            ..Default::default()
        };
        let page = store
            .find(
                &f,
                cmdb_store::CiOrder::default(),
                &cmdb_store::PageRequest {
                    first: Some(1000),
                    after: after.take(),
                    last: None,
                    before: None,
                },
            )
            .await?;
        for (_, ci) in &page.items {
            if ci.status == cmdb_model::CiStatus::Retired {
                continue;
            }
            if let Some(h) = subject_health(store, &ci.id, from, to).await? {
                services.push(h);
            }
        }
        if !page.has_next_page {
            break;
        }
        match page.items.last() {
            Some((c, _)) => after = Some(c.clone()),
            None => break,
        }
    }
    services.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let mut cis = Vec::new();
    for c in store
        .ops()
        .current_statuses(cmdb_store::ops::SubjectKind::Ci)
        .await?
    {
        if let Some(h) = subject_health(store, &c.subject, from, to).await? {
            cis.push(h);
        }
    }
    cis.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    let health = crate::cmdb_health(store).await?;
    Ok(AvailabilityReport {
        from,
        to,
        services,
        cis,
        health,
    })
}
