//! Credential affinity: which credential (by name) worked for which target (by
//! [`Target::name`]), so it is tried first next time. One map per protocol, shared by every
//! clone of a probe (and by a sweep), persisted by the server between runs.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::credentials::ScopedCredential;
use crate::target::Target;

/// Affinity as plain data: target name (`10.0.0.1` or `10.0.0.1:1161`) → credential name.
/// Serialises as `{"entries": {…}}` (the server's file keeps SNMP affinity in this shape).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffinityMap {
    pub entries: BTreeMap<String, String>,
}

impl From<BTreeMap<String, String>> for AffinityMap {
    fn from(entries: BTreeMap<String, String>) -> Self {
        AffinityMap { entries }
    }
}

/// Shared, thread-safe credential affinity. Cloning shares the same map. Serialises as a plain
/// JSON object `{"target": "credential"}`.
#[derive(Debug, Clone, Default)]
pub struct CredentialAffinity(Arc<RwLock<BTreeMap<String, String>>>);

impl CredentialAffinity {
    pub fn new() -> Self {
        Self::default()
    }
    /// Affinity restored from an earlier run.
    pub fn from_map(m: impl Into<AffinityMap>) -> Self {
        CredentialAffinity(Arc::new(RwLock::new(m.into().entries)))
    }
    pub fn snapshot(&self) -> AffinityMap {
        AffinityMap {
            entries: self.0.read().clone(),
        }
    }
    pub fn get(&self, target: &str) -> Option<String> {
        self.0.read().get(target).cloned()
    }
    /// Remember that `credential` worked for `target`.
    pub fn record(&self, target: &str, credential: &str) {
        self.0
            .write()
            .insert(target.to_string(), credential.to_string());
    }
    /// Nothing worked for `target` (any more).
    pub fn forget(&self, target: &str) {
        self.0.write().remove(target);
    }
    /// The credentials that may be offered to `target` (their scope includes it), in the order
    /// to try them: the one that worked last time first, then the rest in configured order.
    pub fn order<'a, C: ScopedCredential>(&self, target: &Target, creds: &'a [C]) -> Vec<&'a C> {
        let preferred = self.get(&target.name());
        let allowed = creds
            .iter()
            .filter(|c| crate::credentials::in_scope(c.scope(), target));
        let (mut first, rest): (Vec<&C>, Vec<&C>) =
            allowed.partition(|c| Some(c.name()) == preferred.as_deref());
        first.extend(rest);
        first
    }
}

impl Serialize for CredentialAffinity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.read().serialize(s)
    }
}

impl<'de> Deserialize<'de> for CredentialAffinity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_map(BTreeMap::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{CredentialScope, Secret, SnmpCredential, SnmpCredentialKind};

    fn cred(n: &str, scope: Option<&str>) -> SnmpCredential {
        SnmpCredential {
            name: n.into(),
            kind: SnmpCredentialKind::V2c {
                community: Secret::new("x"),
            },
            scope: scope.map(|s| CredentialScope::parse(&[s]).unwrap()),
        }
    }

    fn names(aff: &CredentialAffinity, host: &str, creds: &[SnmpCredential]) -> Vec<String> {
        aff.order(&Target::new(host, None), creds)
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    #[test]
    fn remembered_first_then_configured_order() {
        let creds = vec![cred("a", None), cred("b", None), cred("c", None)];
        let aff = CredentialAffinity::default();
        assert_eq!(names(&aff, "10.0.0.1", &creds), ["a", "b", "c"]);
        aff.record("10.0.0.1", "c");
        assert_eq!(names(&aff, "10.0.0.1", &creds), ["c", "a", "b"]);
        aff.record("10.0.0.1", "gone");
        assert_eq!(names(&aff, "10.0.0.1", &creds), ["a", "b", "c"]);
        aff.forget("10.0.0.1");
        assert_eq!(aff.get("10.0.0.1"), None);
    }

    #[test]
    fn credentials_out_of_scope_are_never_offered() {
        let creds = vec![
            cred("a", Some("10.0.0.0/24")),
            cred("b", Some("10.9.0.0/16")),
            cred("c", None),
        ];
        let aff = CredentialAffinity::default();
        assert_eq!(names(&aff, "10.0.0.5", &creds), ["a", "c"]);
        aff.record("10.9.3.3", "b");
        assert_eq!(names(&aff, "10.9.3.3", &creds), ["b", "c"]);
        // Affinity never brings back a credential the scope excludes.
        aff.record("192.0.2.1", "a");
        assert_eq!(names(&aff, "192.0.2.1", &creds), ["c"]);
    }

    #[test]
    fn round_trips_in_both_persisted_shapes() {
        let a = CredentialAffinity::new();
        a.record("10.0.0.1:22", "ops-key");
        let j = serde_json::to_string(&a).unwrap();
        assert_eq!(j, r#"{"10.0.0.1:22":"ops-key"}"#);
        let b: CredentialAffinity = serde_json::from_str(&j).unwrap();
        assert_eq!(b.get("10.0.0.1:22").as_deref(), Some("ops-key"));
        let snap = serde_json::to_string(&a.snapshot()).unwrap();
        assert_eq!(snap, r#"{"entries":{"10.0.0.1:22":"ops-key"}}"#);
        let c = CredentialAffinity::from_map(serde_json::from_str::<AffinityMap>(&snap).unwrap());
        assert_eq!(c.snapshot(), a.snapshot());
    }
}
