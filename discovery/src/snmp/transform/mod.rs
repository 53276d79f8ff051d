//! Pure transformation of a [`RawCollection`] into an [`Observation`] plus diagnostics,
//! following `docs/observations.md`. Never fails: odd or missing data becomes a diagnostic.
//!
//! [`transform`] runs the steps in order, each in its own part: `system` (the device from the
//! system group and ENTITY-MIB), `interfaces`, `ip` (addresses and subnets), the device's
//! class, `host_resources` (memory, CPUs, disks, processes, software), `topology` (LLDP, CDP,
//! FDB and ARP neighbours) and `sockets` (listeners and connections). `rows` reads MIB tables.

mod host_resources;
mod interfaces;
mod ip;
mod rows;
mod sockets;
mod system;
mod topology;

use std::collections::BTreeSet;

use cmdb_model::{
    CiClass, EvidenceKind, Observation, Record, RelType, RelationshipObs, RunId, Scope, Source,
};

use super::collect::{RawCollection, WalkStatus};
use super::mib::SUBTREES;
use crate::Diagnostic;

pub use crate::records::DEVICE_KEY;

pub const PROBE: &str = "snmp";

/// Tunables of the pure transform.
#[derive(Debug, Clone)]
pub struct TransformOptions {
    /// A bridge port that learned more than this many MACs is a trunk/uplink (a downstream switch
    /// or a hypervisor uplink), not an edge port: its MACs are not attached to it.
    pub edge_port_max_macs: usize,
}

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions {
            edge_port_max_macs: EDGE_PORT_MAX_MACS,
        }
    }
}

/// Default edge-port threshold (see `docs/discovery-snmp.md`).
pub const EDGE_PORT_MAX_MACS: usize = 4;

/// Accumulates the observation.
struct Builder {
    target: String,
    obs: Observation,
    diags: Vec<Diagnostic>,
    keys: BTreeSet<String>,
    rel_seen: BTreeSet<(RelType, String, String)>,
}

impl Builder {
    fn new(raw: &RawCollection, run_id: &RunId) -> Self {
        let scope = if raw.complete() {
            Scope::complete([raw.target.clone()])
        } else {
            Scope::partial([raw.target.clone()])
        };
        Builder {
            target: raw.target.clone(),
            obs: Observation::new(Source::new(Source::SNMP), run_id.clone(), scope),
            diags: Vec::new(),
            keys: BTreeSet::new(),
            rel_seen: BTreeSet::new(),
        }
    }
    fn diag(&mut self, code: &str, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::new(&self.target, PROBE, code, msg));
    }
    /// Add a record unless one with its key is there already; true when added.
    fn push(&mut self, r: Record) -> bool {
        if self.keys.insert(r.key.clone()) {
            self.obs.records.push(r);
            true
        } else {
            false
        }
    }
    fn has(&self, key: &str) -> bool {
        self.keys.contains(key)
    }
    fn record_mut(&mut self, key: &str) -> Option<&mut Record> {
        self.obs.records.iter_mut().find(|r| r.key == key)
    }
    fn relate(&mut self, t: RelType, from: &str, to: &str, ev: EvidenceKind, conf: f64) {
        self.relate_obs(RelationshipObs::new(t, from, to, ev, conf));
    }
    /// Add a relationship unless one of its type between the same records is there already.
    fn relate_obs(&mut self, rel: RelationshipObs) {
        if self
            .rel_seen
            .insert((rel.rel_type, rel.from.clone(), rel.to.clone()))
        {
            self.obs.relationships.push(rel);
        }
    }
}

/// Turn a raw collection into an observation. `run_id` and the scope's target come from the
/// caller; `complete` mirrors [`RawCollection::complete`].
pub fn transform(
    raw: &RawCollection,
    run_id: &RunId,
    opts: &TransformOptions,
) -> (Observation, Vec<Diagnostic>) {
    let mut b = Builder::new(raw, run_id);
    report_walks(raw, &mut b);
    let vbs = &raw.varbinds;
    let sys = system::read(vbs, raw.management_ip.as_deref(), &mut b);
    let ifs = interfaces::read(vbs, &mut b);
    let mut macs = ifs.physical_macs.clone();
    macs.extend(interfaces::bridge_identity_macs(vbs));
    let addrs = ip::read(vbs, &ifs.info, &mut b);
    let class = system::classify(vbs, &sys);
    let has_hr = host_resources::present(vbs);
    let mut dev = sys.device;
    dev.class = Some(class);
    dev = with_addresses(dev, &macs, &addrs.device_ips);
    dev = host_resources::describe_device(vbs, dev);
    b.push(dev);
    for r in ifs.records.into_iter().chain(addrs.records) {
        b.push(r);
    }
    for (t, f, to) in addrs.relationships {
        b.relate(t, &f, &to, EvidenceKind::Inventory, 1.0);
    }
    topology::neighbours(
        vbs,
        &ifs.info,
        &macs,
        &addrs.device_ips,
        class,
        opts,
        &mut b,
    );
    if class == CiClass::Host || has_hr {
        let procs = host_resources::processes(vbs, &mut b);
        host_resources::software(vbs, &mut b);
        sockets::sockets(vbs, &procs, &addrs.own_ips, &mut b);
    }
    (b.obs, b.diags)
}

/// One diagnostic per subtree whose walk did not end well.
fn report_walks(raw: &RawCollection, b: &mut Builder) {
    for st in SUBTREES {
        match raw.walks.get(st.name) {
            Some(WalkStatus::Missing) | None => {}
            Some(WalkStatus::Complete { .. }) => {}
            Some(WalkStatus::Truncated { limit }) => b.diag(
                "snmp.table_truncated",
                format!("{}: stopped at the limit of {limit} rows", st.name),
            ),
            Some(WalkStatus::Looping { at }) => b.diag(
                "snmp.oid_not_increasing",
                format!(
                    "{}: agent returned a non-increasing OID at {at}; walk stopped",
                    st.name
                ),
            ),
            Some(WalkStatus::Failed { code, message }) => b.diag(
                "snmp.walk_failed",
                format!("{}: {code}: {message}", st.name),
            ),
            Some(WalkStatus::Skipped) => b.diag(
                "snmp.walk_skipped",
                format!("{}: not walked after an earlier failure", st.name),
            ),
        }
    }
}

/// The device's own MACs and addresses as its identifiers.
fn with_addresses(mut dev: Record, macs: &BTreeSet<String>, ips: &BTreeSet<String>) -> Record {
    if !macs.is_empty() {
        dev = dev.ident("mac_addresses", macs.iter().cloned().collect::<Vec<_>>());
    }
    if !ips.is_empty() {
        dev = dev.ident("ip_addresses", ips.iter().cloned().collect::<Vec<_>>());
    }
    dev
}

#[cfg(test)]
mod corpus_tests;
