//! Incidents: one per episode of trouble. A service leaving OK opens an incident, or joins the
//! open incident that already holds one of its root causes (one failing database taking three
//! services down is one incident, not three); the incident follows its services as alerts come
//! and go and is resolved when every one of them is OK again. A later problem is a new incident.
//!
//! Pure: [`correlate`] takes the open incidents and the services' status now and says what
//! changed; the caller stores it (with the webhook deliveries it implies) in one transaction.

use std::collections::{BTreeSet, HashMap};

use cmdb_model::{CiId, Timestamp};
use serde::{Deserialize, Serialize};

use crate::priority::{
    impact_from_criticality, service_priority, urgency_from_status, Level, Priority,
};
use crate::status::OperationalStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentState {
    Open,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "OPEN",
            IncidentState::Resolved => "RESOLVED",
        }
    }
}

/// What is wrong with one business service now, as the live status computation sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceState {
    pub id: CiId,
    pub name: String,
    pub criticality: Option<u32>,
    pub status: OperationalStatus,
    /// The observed CIs that drive the status (nearest first).
    pub root_causes: Vec<CiId>,
    /// The open alerts on those CIs.
    pub alerts: Vec<String>,
    /// Dependency paths from a root cause to the service, CI ids root cause first.
    pub paths: Vec<Vec<CiId>>,
}

/// One service in an incident: how bad it is now and how bad it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentService {
    pub id: CiId,
    pub name: String,
    pub criticality: Option<u32>,
    pub status: OperationalStatus,
    pub worst_status: OperationalStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub state: IncidentState,
    pub title: String,
    pub services: Vec<IncidentService>,
    /// Every CI that drove a service of this incident, in the order first seen.
    pub root_causes: Vec<CiId>,
    /// Every alert that drove it (ids), in the order first seen.
    pub alerts: Vec<String>,
    /// The current paths from root causes to services.
    pub paths: Vec<Vec<CiId>>,
    pub impact: Level,
    pub urgency: Level,
    /// Highest priority any of its services reached (priorities only rise within an episode:
    /// a P1 that improves stays a P1 incident, as service desks expect).
    pub priority: Priority,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Changes so far (1 when opened); webhook receivers order updates by it.
    pub revision: u64,
}

impl Incident {
    pub fn is_open(&self) -> bool {
        self.state == IncidentState::Open
    }
}

/// What happened to one incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentChangeKind {
    Opened,
    Updated,
    Resolved,
}

impl IncidentChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentChangeKind::Opened => "OPENED",
            IncidentChangeKind::Updated => "UPDATED",
            IncidentChangeKind::Resolved => "RESOLVED",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentChange {
    pub kind: IncidentChangeKind,
    pub incident: Incident,
}

/// Bring the open incidents in line with `now_states` (every service that is not OK now; a
/// service missing from it is OK). `new_id` names a new incident. Returns only incidents that
/// changed, in a stable order (open incidents first, by id; then new ones).
pub fn correlate(
    open: &[Incident],
    now_states: &[ServiceState],
    now: Timestamp,
    new_id: &mut dyn FnMut() -> String,
) -> Vec<IncidentChange> {
    let mut incidents: Vec<Incident> = open.iter().filter(|i| i.is_open()).cloned().collect();
    incidents.sort_by(|a, b| a.id.cmp(&b.id));
    let before: Vec<Incident> = incidents.clone();

    let troubled: Vec<&ServiceState> = now_states
        .iter()
        .filter(|s| s.status != OperationalStatus::Ok)
        .collect();
    place_troubled_services(&mut incidents, &troubled, now, new_id);
    let by_id: HashMap<&CiId, &ServiceState> = troubled.iter().map(|s| (&s.id, *s)).collect();

    let mut out = Vec::new();
    for (i, mut inc) in incidents.into_iter().enumerate() {
        follow_services(&mut inc, &by_id);
        rate(&mut inc);
        inc.title = title(&inc);
        if let Some(kind) = change_kind(before.get(i), &inc) {
            if kind == IncidentChangeKind::Resolved {
                inc.state = IncidentState::Resolved;
                inc.resolved_at = Some(now);
            }
            inc.updated_at = now;
            inc.revision += 1;
            out.push(IncidentChange {
                kind,
                incident: inc,
            });
        }
    }
    out
}

/// Services already in an open incident stay there; the others, worst first, join the incident
/// that shares a root cause, else open one. A service's causes join at once, so a later service
/// sharing them finds that incident.
fn place_troubled_services(
    incidents: &mut Vec<Incident>,
    troubled: &[&ServiceState],
    now: Timestamp,
    new_id: &mut dyn FnMut() -> String,
) {
    let mut placed: BTreeSet<CiId> = incidents
        .iter()
        .flat_map(|inc| inc.services.iter().map(|s| s.id.clone()))
        .collect();
    let mut sorted = troubled.to_vec();
    sorted.sort_by(|a, b| b.status.cmp(&a.status).then_with(|| a.id.cmp(&b.id)));
    for s in sorted {
        if !placed.insert(s.id.clone()) {
            continue;
        }
        let home = incidents
            .iter()
            .position(|inc| s.root_causes.iter().any(|r| inc.root_causes.contains(r)));
        let i = home.unwrap_or_else(|| {
            incidents.push(Incident::opening(new_id(), now));
            incidents.len() - 1
        });
        let inc = &mut incidents[i];
        add_new(&mut inc.root_causes, &s.root_causes);
        inc.services.push(IncidentService {
            id: s.id.clone(),
            name: s.name.clone(),
            criticality: s.criticality,
            status: OperationalStatus::Ok,
            worst_status: OperationalStatus::Ok,
        });
    }
}

impl Incident {
    /// A new incident, before its services join (revision 0: not yet told to anyone).
    fn opening(id: String, now: Timestamp) -> Incident {
        Incident {
            id,
            state: IncidentState::Open,
            title: String::new(),
            services: Vec::new(),
            root_causes: Vec::new(),
            alerts: Vec::new(),
            paths: Vec::new(),
            impact: Level::Low,
            urgency: Level::Low,
            priority: Priority::P5,
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            revision: 0,
        }
    }
}

/// Appends the items of `new` that `list` does not hold yet, in order.
fn add_new<T: Clone + PartialEq>(list: &mut Vec<T>, new: &[T]) {
    for x in new {
        if !list.contains(x) {
            list.push(x.clone());
        }
    }
}

/// Each service of the incident takes its status now (OK when not troubled) and its worst so
/// far; the incident gathers the root causes and alerts of its troubled services and keeps
/// their current paths.
fn follow_services(inc: &mut Incident, now: &HashMap<&CiId, &ServiceState>) {
    let mut paths: BTreeSet<Vec<CiId>> = BTreeSet::new();
    for svc in &mut inc.services {
        let now_state = now.get(&svc.id);
        svc.status = now_state.map(|s| s.status).unwrap_or(OperationalStatus::Ok);
        svc.worst_status = svc.worst_status.max(svc.status);
        if let Some(s) = now_state {
            svc.name = s.name.clone();
            svc.criticality = s.criticality;
            add_new(&mut inc.root_causes, &s.root_causes);
            add_new(&mut inc.alerts, &s.alerts);
            paths.extend(s.paths.iter().cloned());
        }
    }
    inc.paths = paths.into_iter().collect();
}

/// Impact and urgency of the most urgent service now (or, once all are OK, as reached); the
/// priority only rises within an episode.
fn rate(inc: &mut Incident) {
    let any_troubled = inc
        .services
        .iter()
        .any(|s| s.status != OperationalStatus::Ok);
    let mut best: Option<(Priority, Level, Level)> = None;
    for svc in &inc.services {
        let status = if any_troubled {
            svc.status
        } else {
            svc.worst_status
        };
        if let (Some(p), Some(u)) = (
            service_priority(svc.criticality, status),
            urgency_from_status(status),
        ) {
            let cand = (p, impact_from_criticality(svc.criticality), u);
            best = match best {
                Some(b) if b.0 <= cand.0 => Some(b),
                _ => Some(cand),
            };
        }
    }
    if let Some((p, impact, urgency)) = best {
        inc.impact = impact;
        inc.urgency = urgency;
        inc.priority = if inc.revision == 0 {
            p
        } else {
            inc.priority.min(p)
        };
    }
}

/// Opened (it was not open before), resolved (all its services are OK), updated (something a
/// receiver would see changed), or nothing to tell.
fn change_kind(before: Option<&Incident>, inc: &Incident) -> Option<IncidentChangeKind> {
    let Some(before) = before else {
        return Some(IncidentChangeKind::Opened);
    };
    let all_ok = inc
        .services
        .iter()
        .all(|s| s.status == OperationalStatus::Ok);
    if all_ok {
        Some(IncidentChangeKind::Resolved)
    } else if differs(before, inc) {
        Some(IncidentChangeKind::Updated)
    } else {
        None
    }
}

/// A change worth telling receivers about (not just a re-computation with the same answer).
fn differs(a: &Incident, b: &Incident) -> bool {
    a.services != b.services
        || a.root_causes != b.root_causes
        || a.alerts != b.alerts
        || a.paths != b.paths
        || a.priority != b.priority
        || a.impact != b.impact
        || a.urgency != b.urgency
}

fn title(inc: &Incident) -> String {
    let worst = inc
        .services
        .iter()
        .max_by(|a, b| {
            a.status
                .cmp(&b.status)
                .then_with(|| b.criticality.unwrap_or(3).cmp(&a.criticality.unwrap_or(3)))
        })
        .map(|s| format!("{} {}", s.name, s.worst_status.max(s.status).as_str()));
    match (worst, inc.services.len()) {
        (Some(w), 1) => w,
        (Some(w), n) => format!("{w} and {} more service(s)", n - 1),
        (None, _) => "no service".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperationalStatus::*;

    fn t(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(s, 0).unwrap()
    }

    fn svc(id: &str, crit: u32, status: OperationalStatus, roots: &[&str]) -> ServiceState {
        ServiceState {
            id: CiId::new(id),
            name: id.to_uppercase(),
            criticality: Some(crit),
            status,
            root_causes: roots.iter().map(|r| CiId::new(*r)).collect(),
            alerts: roots.iter().map(|r| format!("alert-{r}")).collect(),
            paths: roots
                .iter()
                .map(|r| vec![CiId::new(*r), CiId::new(id)])
                .collect(),
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("inc-{n}")
        }
    }

    fn apply(open: &mut Vec<Incident>, changes: &[IncidentChange]) {
        for c in changes {
            open.retain(|i| i.id != c.incident.id);
            if c.incident.is_open() {
                open.push(c.incident.clone());
            }
        }
    }

    #[test]
    fn one_root_cause_many_services_is_one_incident_that_resolves() {
        let mut next = ids();
        let mut open = Vec::new();
        let now = [
            svc("shop", 1, Down, &["db"]),
            svc("blog", 4, Degraded, &["db"]),
        ];
        let c = correlate(&open, &now, t(10), &mut next);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, IncidentChangeKind::Opened);
        let inc = &c[0].incident;
        assert_eq!(inc.services.len(), 2);
        assert_eq!(inc.priority, Priority::P1);
        assert_eq!(inc.title, "SHOP DOWN and 1 more service(s)");
        apply(&mut open, &c);

        // Same answer again: nothing to tell.
        assert!(correlate(&open, &now, t(20), &mut next).is_empty());

        // Shop improves: updated, priority stays P1.
        let now = [
            svc("shop", 1, Degraded, &["db"]),
            svc("blog", 4, Degraded, &["db"]),
        ];
        let c = correlate(&open, &now, t(30), &mut next);
        assert_eq!(c[0].kind, IncidentChangeKind::Updated);
        assert_eq!(c[0].incident.priority, Priority::P1);
        assert_eq!(c[0].incident.services[0].worst_status, Down);
        apply(&mut open, &c);

        let c = correlate(&open, &[], t(40), &mut next);
        assert_eq!(c[0].kind, IncidentChangeKind::Resolved);
        assert_eq!(c[0].incident.resolved_at, Some(t(40)));
        assert_eq!(c[0].incident.revision, 3);
        apply(&mut open, &c);
        assert!(open.is_empty());

        // A new problem later is a new incident.
        let c = correlate(&open, &[svc("shop", 1, Down, &["db"])], t(50), &mut next);
        assert_eq!(c[0].kind, IncidentChangeKind::Opened);
        assert_eq!(c[0].incident.id, "inc-2");
    }

    #[test]
    fn unrelated_causes_are_separate_incidents_and_a_shared_one_joins() {
        let mut next = ids();
        let mut open = Vec::new();
        let c = correlate(
            &open,
            &[
                svc("shop", 2, Down, &["db"]),
                svc("mail", 3, Degraded, &["smtp1"]),
            ],
            t(1),
            &mut next,
        );
        assert_eq!(c.len(), 2);
        apply(&mut open, &c);
        // The wiki now fails through the db too: it joins the shop's incident.
        let c = correlate(
            &open,
            &[
                svc("shop", 2, Down, &["db"]),
                svc("mail", 3, Degraded, &["smtp1"]),
                svc("wiki", 5, AtRisk, &["db"]),
            ],
            t(2),
            &mut next,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kind, IncidentChangeKind::Updated);
        let names: Vec<_> = c[0]
            .incident
            .services
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["SHOP", "WIKI"]);
    }

    #[test]
    fn priority_follows_the_matrix() {
        let mut next = ids();
        let c = correlate(&[], &[svc("x", 5, Degraded, &["a"])], t(1), &mut next);
        assert_eq!(c[0].incident.priority, Priority::P5);
        let c = correlate(&[], &[svc("x", 3, AtRisk, &["a"])], t(1), &mut next);
        assert_eq!(c[0].incident.priority, Priority::P3);
    }
}
