//! How healthy the CMDB itself is: completeness (CIs missing what their class should have,
//! `CiClass::expected_attributes`), staleness by class and source, duplicate candidates (CIs
//! of one class with one name), and the share of open alerts no CI could be found for — the
//! figures that say whether the answers built on the CMDB can be trusted.

use std::collections::{BTreeMap, HashMap};

use cmdb_model::{Ci, CiClass, CiId, CiStatus};
use cmdb_store::{CiFilter, CiOrder, GraphStore, PageRequest, StoreError};
use serde::Serialize;

/// CIs read per page while scanning.
const PAGE: usize = 5_000;
/// Examples kept per finding.
const EXAMPLES: usize = 5;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassCompleteness {
    pub class: CiClass,
    /// Current CIs (not retired, not placeholders).
    pub total: usize,
    pub complete: usize,
    /// Each expected attribute (`a|b`: one of them) and how many CIs lack it.
    pub missing: Vec<(String, usize)>,
    pub examples: Vec<CiId>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Staleness {
    pub class: CiClass,
    /// A source that reported the CIs (a CI counts once per source).
    pub source: String,
    pub active: usize,
    pub stale: usize,
    pub retired: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DuplicateCandidate {
    pub class: CiClass,
    pub name: String,
    pub ids: Vec<CiId>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CmdbHealth {
    pub cis: usize,
    /// Current CIs having every expected attribute, in percent (100 with none).
    pub completeness_percent: f64,
    pub completeness: Vec<ClassCompleteness>,
    pub staleness: Vec<Staleness>,
    pub duplicates: Vec<DuplicateCandidate>,
    pub open_alerts: usize,
    pub unbound_alerts: usize,
    /// Open alerts bound to no CI, in percent of open alerts (0 with none).
    pub unbound_alerts_percent: f64,
}

fn has(ci: &Ci, expected: &str) -> bool {
    expected.split('|').any(|a| match ci.attr(a) {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::String(s)) => !s.trim().is_empty(),
        Some(serde_json::Value::Array(v)) => !v.is_empty(),
        Some(_) => true,
    })
}

/// Devices are one family for identity (a host and a network device may be one machine).
fn family(c: CiClass) -> CiClass {
    match c {
        CiClass::NetworkDevice => CiClass::Host,
        other => other,
    }
}

/// Scan the store and the open alerts.
pub async fn cmdb_health(store: &dyn GraphStore) -> Result<CmdbHealth, StoreError> {
    let mut scan = Scan::default();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .find(
                &CiFilter::default(),
                CiOrder::default(),
                &PageRequest {
                    first: Some(PAGE),
                    after: after.take(),
                    last: None,
                    before: None,
                },
            )
            .await?;
        for (_, ci) in &page.items {
            scan.add(ci);
        }
        match page.items.last() {
            Some((cursor, _)) if page.has_next_page => after = Some(cursor.clone()),
            _ => break,
        }
    }
    let counts = store.ops().ops_counts().await?;
    let completeness = scan.completeness();
    let current: usize = completeness.iter().map(|c| c.total).sum();
    let complete: usize = completeness.iter().map(|c| c.complete).sum();
    Ok(CmdbHealth {
        cis: scan.total,
        completeness_percent: if current == 0 {
            100.0
        } else {
            100.0 * complete as f64 / current as f64
        },
        completeness,
        duplicates: scan.duplicates(),
        staleness: scan.staleness.into_values().collect(),
        open_alerts: counts.open_alerts,
        unbound_alerts: counts.open_unbound_alerts,
        unbound_alerts_percent: if counts.open_alerts == 0 {
            0.0
        } else {
            100.0 * counts.open_unbound_alerts as f64 / counts.open_alerts as f64
        },
    })
}

/// What the scan has counted so far, CI by CI.
#[derive(Default)]
struct Scan {
    total: usize,
    /// Per class and source.
    staleness: BTreeMap<(&'static str, String), Staleness>,
    /// Per class, of current CIs; `missing` is filled at the end from `missing` below.
    completeness: BTreeMap<&'static str, ClassCompleteness>,
    missing: HashMap<(CiClass, &'static str), usize>,
    /// Active CIs by (class family, lower-cased name).
    names: HashMap<(CiClass, String), Vec<(CiClass, CiId)>>,
}

impl Scan {
    fn add(&mut self, ci: &Ci) {
        self.total += 1;
        self.count_staleness(ci);
        if ci.status == CiStatus::Retired || ci.placeholder {
            return;
        }
        self.count_completeness(ci);
        let name = ci.name.trim().to_lowercase();
        if !name.is_empty() && ci.status == CiStatus::Active {
            self.names
                .entry((family(ci.class), name))
                .or_default()
                .push((ci.class, ci.id.clone()));
        }
    }

    /// A CI counts once per source that reported it.
    fn count_staleness(&mut self, ci: &Ci) {
        for src in &ci.sources {
            let e = self
                .staleness
                .entry((ci.class.as_str(), src.as_str().to_string()))
                .or_insert_with(|| Staleness {
                    class: ci.class,
                    source: src.as_str().to_string(),
                    active: 0,
                    stale: 0,
                    retired: 0,
                });
            match ci.status {
                CiStatus::Active => e.active += 1,
                CiStatus::Stale => e.stale += 1,
                CiStatus::Retired => e.retired += 1,
            }
        }
    }

    fn count_completeness(&mut self, ci: &Ci) {
        let c = self
            .completeness
            .entry(ci.class.as_str())
            .or_insert_with(|| ClassCompleteness {
                class: ci.class,
                total: 0,
                complete: 0,
                missing: Vec::new(),
                examples: Vec::new(),
            });
        c.total += 1;
        let mut whole = true;
        for a in ci.class.expected_attributes() {
            if !has(ci, a) {
                whole = false;
                *self.missing.entry((ci.class, a)).or_default() += 1;
            }
        }
        if whole {
            c.complete += 1;
        } else if c.examples.len() < EXAMPLES {
            c.examples.push(ci.id.clone());
        }
    }

    /// Per class, with each expected attribute some CI lacks, in the class's order.
    fn completeness(&mut self) -> Vec<ClassCompleteness> {
        let missing = &self.missing;
        std::mem::take(&mut self.completeness)
            .into_values()
            .map(|mut c| {
                c.missing = c
                    .class
                    .expected_attributes()
                    .iter()
                    .filter_map(|a| missing.get(&(c.class, *a)).map(|n| (a.to_string(), *n)))
                    .collect();
                c
            })
            .collect()
    }

    /// Active CIs of one class family sharing a name. Dependent CIs (processes, interfaces,
    /// endpoints) share names across hosts by nature: only independent classes are duplicate
    /// candidates by name.
    fn duplicates(&mut self) -> Vec<DuplicateCandidate> {
        let mut duplicates: Vec<DuplicateCandidate> = std::mem::take(&mut self.names)
            .into_iter()
            .filter(|((c, _), ids)| ids.len() > 1 && c.rules().parent.is_none())
            .map(|((_, name), mut ids)| {
                ids.sort_by(|a, b| a.1.cmp(&b.1));
                DuplicateCandidate {
                    class: ids[0].0,
                    name,
                    ids: ids.into_iter().map(|(_, id)| id).collect(),
                }
            })
            .collect();
        duplicates.sort_by(|a, b| (a.class.as_str(), &a.name).cmp(&(b.class.as_str(), &b.name)));
        duplicates
    }
}
