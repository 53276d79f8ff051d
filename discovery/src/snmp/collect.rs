//! What `collect` returns: raw varbinds per walked subtree plus how each walk ended. No parsing
//! of meaning happens here; `transform` does that.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::value::{Oid, SnmpValue};

/// One subtree the probe walks.
#[derive(Debug, Clone, Copy)]
pub struct Subtree {
    /// Stable name used in diagnostics (`ifTable`, `lldpRemTable`, …).
    pub name: &'static str,
    pub oid: &'static [u32],
}

macro_rules! st {
    ($name:expr, [$($p:expr),*]) => { Subtree { name: $name, oid: &[$($p),*] } };
}

/// Everything `SnmpProbe` walks, in walk order. The system group comes first: it doubles as the
/// reachability / credential check.
pub const SUBTREES: &[Subtree] = &[
    st!("system", [1, 3, 6, 1, 2, 1, 1]),
    st!("ifTable", [1, 3, 6, 1, 2, 1, 2, 2]),
    st!("ifXTable", [1, 3, 6, 1, 2, 1, 31, 1, 1]),
    st!("ipAddrTable", [1, 3, 6, 1, 2, 1, 4, 20]),
    st!("ipAddressTable", [1, 3, 6, 1, 2, 1, 4, 34]),
    st!("ipNetToMediaTable", [1, 3, 6, 1, 2, 1, 4, 22]),
    st!("ipNetToPhysicalTable", [1, 3, 6, 1, 2, 1, 4, 35]),
    st!("entPhysicalTable", [1, 3, 6, 1, 2, 1, 47, 1, 1, 1]),
    st!("lldpLocalSystemData", [1, 0, 8802, 1, 1, 2, 1, 3]),
    st!("lldpRemTable", [1, 0, 8802, 1, 1, 2, 1, 4, 1]),
    st!("lldpRemManAddrTable", [1, 0, 8802, 1, 1, 2, 1, 4, 2]),
    st!("cdpCacheTable", [1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1]),
    st!("dot1dBase", [1, 3, 6, 1, 2, 1, 17, 1]),
    st!("dot1dTpFdbTable", [1, 3, 6, 1, 2, 1, 17, 4, 3]),
    st!("dot1qTpFdbTable", [1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2]),
    st!("hrSystem", [1, 3, 6, 1, 2, 1, 25, 1]),
    st!("hrStorage", [1, 3, 6, 1, 2, 1, 25, 2]),
    st!("hrDeviceTable", [1, 3, 6, 1, 2, 1, 25, 3, 2]),
    st!("hrSWRunTable", [1, 3, 6, 1, 2, 1, 25, 4, 2]),
    st!("hrSWInstalledTable", [1, 3, 6, 1, 2, 1, 25, 6, 3]),
    st!("tcpConnTable", [1, 3, 6, 1, 2, 1, 6, 13]),
    st!("tcpConnectionTable", [1, 3, 6, 1, 2, 1, 6, 19]),
    st!("tcpListenerTable", [1, 3, 6, 1, 2, 1, 6, 20]),
    st!("udpTable", [1, 3, 6, 1, 2, 1, 7, 5]),
    st!("udpEndpointTable", [1, 3, 6, 1, 2, 1, 7, 7]),
];

/// How the walk of one subtree ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WalkStatus {
    /// Walked to its end.
    Complete { rows: usize },
    /// The agent has nothing there (noSuchObject, endOfMibView or the next OID is outside).
    Missing,
    /// Stopped at the per-subtree row cap; data is partial but bounded.
    Truncated { limit: usize },
    /// The agent returned a non-increasing OID; stopped to avoid looping.
    Looping { at: String },
    /// The walk failed midway (timeout, dead agent, unparsable reply): collection incomplete.
    Failed { code: String, message: String },
    /// Not attempted because an earlier failure made the agent unusable.
    Skipped,
}

/// Raw result of collecting one target.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RawCollection {
    pub target: String,
    /// All varbinds of all walked subtrees.
    pub varbinds: BTreeMap<Oid, SnmpValue>,
    /// Walk outcome per subtree name.
    pub walks: BTreeMap<String, WalkStatus>,
    /// Management address used to reach the agent, if it is an IP.
    pub management_ip: Option<String>,
}

impl RawCollection {
    /// A collection built from recorded varbinds (a `.snmprec` file): every subtree that has data
    /// counts as complete, the others as missing.
    pub fn from_recording(target: &str, varbinds: BTreeMap<Oid, SnmpValue>) -> Self {
        let mut walks = BTreeMap::new();
        for st in SUBTREES {
            let root = Oid::new(st.oid);
            let rows = varbinds
                .range(root.clone()..)
                .take_while(|(o, _)| o.starts_with(&root))
                .count();
            walks.insert(
                st.name.to_string(),
                if rows == 0 {
                    WalkStatus::Missing
                } else {
                    WalkStatus::Complete { rows }
                },
            );
        }
        RawCollection {
            target: target.to_string(),
            varbinds,
            walks,
            management_ip: None,
        }
    }

    /// True when no walk failed midway.
    pub fn complete(&self) -> bool {
        !self
            .walks
            .values()
            .any(|w| matches!(w, WalkStatus::Failed { .. } | WalkStatus::Skipped))
    }
}
