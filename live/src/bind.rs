//! Which CI an event is about: `node` through the identifier keys reconciliation gives devices
//! (the same rules, normalisation and keys: `model::class` and `model::identify`), then
//! `resource` among that device's dependents. Retired CIs are never chosen; an event that
//! names nothing known is kept unbound with the reason, and binding is tried again when
//! discovery has run ([`crate::Live::rebind`]).

use std::collections::HashMap;

use cmdb_events::reference::{node_ref, resource_ref, NodeKey, ResourceKey};
use cmdb_model::attrs;
use cmdb_model::identify::{identifier_key, normalize};
use cmdb_model::{Ci, CiClass, CiId, CiStatus, RelType};
use cmdb_store::ops::Binding;
use cmdb_store::{Direction, GraphStore, RelQuery, StoreError};
use serde_json::Value;

/// The device identifier keys a node key may match, most specific first.
fn device_keys(k: &NodeKey) -> Vec<String> {
    let attrs: &[&str] = match k {
        NodeKey::Mac(_) => &["mac_addresses"],
        NodeKey::Ip(_) => &["ip_addresses"],
        NodeKey::Name(_) => &["fqdn", "hostname"],
        NodeKey::ShortName(_) => &["hostname"],
    };
    let value = match k {
        NodeKey::Mac(v) | NodeKey::Ip(v) | NodeKey::Name(v) | NodeKey::ShortName(v) => v,
    };
    let rules = CiClass::Host.rules().rules;
    let mut out = Vec::new();
    for a in attrs {
        if let Some(rule) = rules.iter().find(|r| r.attributes == [*a]) {
            if let Some(v) = normalize(&Value::String(value.clone()), rule.normalize) {
                out.push(identifier_key(CiClass::Host, None, rule, &v));
            }
        }
    }
    out
}

/// Binds events, remembering node answers for one batch (a burst names few nodes many times).
pub struct Binder<'a> {
    store: &'a dyn GraphStore,
    /// Use an `instance` port as the resource when no resource label names one.
    instance_port_as_resource: bool,
    nodes: HashMap<String, Result<Ci, Unbound>>,
}

/// Why an event's node names no CI; the text is the alert binding's reason.
#[derive(Debug, Clone, thiserror::Error)]
enum Unbound {
    #[error("node {0:?} is not a name, address or MAC")]
    NotANode(String),
    #[error("node {node:?} matches {} CIs ({}): not bound", .names.len(), .names.join(", "))]
    Ambiguous { node: String, names: Vec<String> },
    #[error("no current CI has the name, address or MAC of node {0:?}")]
    NotFound(String),
}

impl<'a> Binder<'a> {
    pub fn new(store: &'a dyn GraphStore, instance_port_as_resource: bool) -> Binder<'a> {
        Binder {
            store,
            instance_port_as_resource,
            nodes: HashMap::new(),
        }
    }

    /// Bind one event's `node` and `resource`.
    pub async fn bind(
        &mut self,
        node: &str,
        resource: Option<&str>,
    ) -> Result<Binding, StoreError> {
        let nr = node_ref(node);
        let host = match self.nodes.get(node) {
            Some(r) => r.clone(),
            None => {
                let r = self.find_node(node, &nr.keys).await?;
                self.nodes.insert(node.to_string(), r.clone());
                r
            }
        };
        let host = match host {
            Ok(h) => h,
            Err(reason) => return Ok(Binding::unbound(reason.to_string())),
        };
        let wanted = match resource.filter(|r| !r.trim().is_empty()) {
            Some(r) => resource_ref(r),
            None if self.instance_port_as_resource => nr.port.map(|port| ResourceKey::Endpoint {
                protocol: "tcp".into(),
                port,
            }),
            None => None,
        };
        let Some(wanted) = wanted else {
            return Ok(Binding {
                ci: Some(host.id.clone()),
                node_ci: Some(host.id),
                reason: None,
            });
        };
        let found = self.find_resource(&host, &wanted).await?;
        let why = match found.len() {
            1 => {
                return Ok(Binding {
                    ci: found.into_iter().next(),
                    node_ci: Some(host.id),
                    reason: None,
                })
            }
            0 => "not found on",
            _ => "is ambiguous (several CIs match) on",
        };
        Ok(Binding {
            reason: Some(format!(
                "{} {why} {}: bound to the {}",
                describe(&wanted),
                host.name,
                host.class.as_str()
            )),
            ci: Some(host.id.clone()),
            node_ci: Some(host.id),
        })
    }

    async fn find_node(
        &self,
        node: &str,
        keys: &[NodeKey],
    ) -> Result<Result<Ci, Unbound>, StoreError> {
        if keys.is_empty() {
            return Ok(Err(Unbound::NotANode(node.to_string())));
        }
        let mut ambiguous = None;
        for k in keys {
            let ids = device_keys(k);
            if ids.is_empty() {
                continue;
            }
            let found = self.store.lookup_identifiers(&ids).await?;
            // Keys in order: the first key that names CIs decides.
            for key in &ids {
                let ci_ids: Vec<CiId> = found
                    .iter()
                    .filter(|(k, _)| k == key)
                    .map(|(_, id)| id.clone())
                    .collect();
                if ci_ids.is_empty() {
                    continue;
                }
                let mut cis: Vec<Ci> = self
                    .store
                    .get_many(&ci_ids)
                    .await?
                    .into_iter()
                    .filter(|c| c.status != CiStatus::Retired)
                    .collect();
                // Prefer what discovery still sees.
                if cis.iter().any(|c| c.status == CiStatus::Active) {
                    cis.retain(|c| c.status == CiStatus::Active);
                }
                cis.sort_by(|a, b| a.id.cmp(&b.id));
                cis.dedup_by(|a, b| a.id == b.id);
                match cis.len() {
                    0 => {}
                    1 => return Ok(Ok(cis.remove(0))),
                    _ => {
                        ambiguous.get_or_insert(Unbound::Ambiguous {
                            node: node.to_string(),
                            names: cis.iter().map(|c| c.name.clone()).collect(),
                        });
                    }
                }
            }
        }
        Ok(Err(
            ambiguous.unwrap_or_else(|| Unbound::NotFound(node.to_string()))
        ))
    }

    async fn find_resource(
        &self,
        host: &Ci,
        wanted: &ResourceKey,
    ) -> Result<Vec<CiId>, StoreError> {
        let q = RelQuery {
            direction: Direction::Both,
            types: vec![RelType::Contains, RelType::RunsOn],
            include_closed: false,
        };
        let rels = self
            .store
            .relationships(std::slice::from_ref(&host.id), &q)
            .await?;
        let children: Vec<CiId> = rels
            .iter()
            .filter_map(|r| match r.rel_type {
                RelType::Contains if r.from == host.id => Some(r.to.clone()),
                RelType::RunsOn if r.to == host.id => Some(r.from.clone()),
                _ => None,
            })
            .collect();
        let cis: Vec<Ci> = self
            .store
            .get_many(&children)
            .await?
            .into_iter()
            .filter(|c| c.status != CiStatus::Retired && matches(c, wanted))
            .collect();
        // The best candidates: current before stale, then endpoints, processes, interfaces.
        // More than one of those is ambiguous (two `java` processes): the caller says so
        // rather than guess.
        let best = cis
            .iter()
            .map(|c| (c.status != CiStatus::Active, rank(c.class)))
            .min();
        Ok(cis
            .into_iter()
            .filter(|c| Some((c.status != CiStatus::Active, rank(c.class))) == best)
            .map(|c| c.id)
            .collect())
    }
}

/// Endpoints first, then processes, then interfaces, then anything else a name matched.
fn rank(class: CiClass) -> u8 {
    match class {
        CiClass::ListeningEndpoint => 0,
        CiClass::Process => 1,
        CiClass::Interface => 2,
        _ => 3,
    }
}

fn matches(ci: &Ci, wanted: &ResourceKey) -> bool {
    match wanted {
        ResourceKey::Endpoint { protocol, port } => {
            ci.class == CiClass::ListeningEndpoint
                && ci
                    .attr(attrs::PROTOCOL)
                    .and_then(Value::as_str)
                    .is_some_and(|p| p.eq_ignore_ascii_case(protocol))
                && ci.attr(attrs::PORT).is_some_and(|p| {
                    p.as_u64() == Some(u64::from(*port))
                        || p.as_str().and_then(|s| s.parse::<u16>().ok()) == Some(*port)
                })
        }
        ResourceKey::Name(n) => {
            let n = n.to_lowercase();
            let fields: &[&str] = match ci.class {
                CiClass::Process => &["name", "service_unit", "executable"],
                CiClass::Interface => &["if_name", "name", "if_descr"],
                _ => &["name"],
            };
            ci.name.to_lowercase() == n
                || fields.iter().any(|f| {
                    ci.attr_str(f).is_some_and(|v| {
                        let v = v.to_lowercase();
                        v == n || v.rsplit('/').next() == Some(n.as_str())
                    })
                })
        }
    }
}

fn describe(r: &ResourceKey) -> String {
    match r {
        ResourceKey::Endpoint { protocol, port } => format!("endpoint {protocol}/{port}"),
        ResourceKey::Name(n) => format!("resource {n:?}"),
    }
}
