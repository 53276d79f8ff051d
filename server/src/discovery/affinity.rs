//! Credential affinity (which credential worked where) remembered between runs, as JSON in the
//! data directory. Names only, never secrets.

use std::path::Path;

use cmdb_discovery::ssh::CredentialAffinity as SshAffinity;
use cmdb_discovery::sweep::CredentialAffinity as SnmpAffinity;
use serde::{Deserialize, Serialize};

/// Credential affinity of both protocols, as the file holds it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AffinityFile {
    #[serde(default)]
    snmp: cmdb_discovery::sweep::AffinityMap,
    #[serde(default)]
    ssh: std::collections::BTreeMap<String, String>,
}

/// The handles a run's probes share: what they learn is what [`Affinity::save`] writes.
#[derive(Clone)]
pub(super) struct Affinity {
    pub(super) snmp: SnmpAffinity,
    pub(super) ssh: SshAffinity,
}

impl Affinity {
    /// What `path` remembers (nothing when there is no file or it cannot be read).
    pub(super) fn load(path: Option<&Path>) -> Affinity {
        let file: AffinityFile = path
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        Affinity {
            snmp: SnmpAffinity::from_map(file.snmp),
            ssh: SshAffinity::from_map(file.ssh),
        }
    }

    /// Remember what the run learned (a failure is logged; the run's result stands).
    pub(super) fn save(&self, path: &Path) {
        let file = AffinityFile {
            snmp: self.snmp.snapshot(),
            ssh: self.ssh.snapshot().entries,
        };
        let written = serde_json::to_vec_pretty(&file)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::private_fs::write_atomic(path, &bytes));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "cannot remember credential affinity: {e}");
        }
    }
}
