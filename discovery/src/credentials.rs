//! Credentials, held by name. Secret values are wrapped in [`Secret`], whose `Debug` and
//! `Display` print `***`, so a credential can be logged or put in an error without leaking.

use std::collections::BTreeSet;
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::target::Target;

/// A secret string (community, passphrase, password). Never printed.
#[derive(Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The only way to read the value: grep for `expose` to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Secrets serialise as `***`: API responses and run reports can carry credentials safely.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SnmpAuthProto {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SnmpPrivProto {
    Des,
    Aes128,
    Aes192,
    Aes256,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnmpV3 {
    pub user: String,
    #[serde(default)]
    pub auth_proto: Option<SnmpAuthProto>,
    #[serde(default)]
    pub auth_pass: Option<Secret>,
    #[serde(default)]
    pub priv_proto: Option<SnmpPrivProto>,
    #[serde(default)]
    pub priv_pass: Option<Secret>,
}

/// Where a credential may be sent: address ranges (`10.0.0.0/24`, a bare address) and exact
/// host names. A credential with a scope is never offered to a target outside it — not tried,
/// not even as a fallback — so a run aimed at an address someone else controls cannot collect
/// the community or the password. Names match only as written (no DNS lookup decides scope:
/// a name's address can change under us).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CredentialScope {
    nets: Vec<IpNet>,
    names: BTreeSet<String>,
}

/// A credential setting that cannot work, naming what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// A scope entry that is neither a range, an address nor a host name.
    #[error("`{0}` is not an address range, an address or a host name")]
    ScopeEntry(String),
    /// A target expression a scope cannot be drawn from.
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    /// An SNMPv3 passphrase given empty.
    #[error("SNMPv3 user `{user}`: {what} is empty; give a passphrase or leave it out")]
    EmptyPassphrase { user: String, what: &'static str },
}

impl CredentialError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::ScopeEntry(_) => "credential.scope_entry",
            CredentialError::Target(_) => "credential.target",
            CredentialError::EmptyPassphrase { .. } => "credential.empty_passphrase",
        }
    }
}

impl CredentialScope {
    /// Parse scope entries; an entry that is neither a range, an address nor a host name is an
    /// error naming it.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, CredentialError> {
        let mut scope = CredentialScope::default();
        for e in entries {
            scope.add(e.as_ref())?;
        }
        Ok(scope)
    }

    /// Add one entry (see [`CredentialScope::parse`]).
    pub fn add(&mut self, entry: &str) -> Result<(), CredentialError> {
        let e = entry.trim();
        if let Ok(net) = e.parse::<IpNet>() {
            self.nets.push(net.trunc());
        } else if let Ok(ip) = e.parse::<std::net::IpAddr>() {
            self.nets.push(IpNet::from(ip));
        } else if is_host_name(e) {
            self.names.insert(e.to_ascii_lowercase());
        } else {
            return Err(CredentialError::ScopeEntry(entry.to_string()));
        }
        Ok(())
    }

    /// Add what a run target expression covers (`10.0.0.0/24`, `host:port`, `[v6]:port`): the
    /// default scope of a credential is the targets of the schedules that name it.
    pub fn add_target_expr(&mut self, expr: &str) -> Result<(), CredentialError> {
        let (host, _port) = crate::target::split_port(expr.trim())?;
        self.add(&host)
    }

    /// Add every entry of `other`.
    pub fn extend(&mut self, other: &CredentialScope) {
        self.nets.extend(other.nets.iter().copied());
        self.names.extend(other.names.iter().cloned());
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty() && self.names.is_empty()
    }

    /// Whether `target` is inside the scope.
    pub fn allows(&self, target: &Target) -> bool {
        match target.ip() {
            Some(ip) => self.nets.iter().any(|n| n.contains(&ip)),
            None => self.names.contains(&target.host.to_ascii_lowercase()),
        }
    }

    /// The entries, as a user would write them.
    pub fn entries(&self) -> Vec<String> {
        self.nets
            .iter()
            .map(|n| {
                if n.prefix_len() == n.max_prefix_len() {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            })
            .chain(self.names.iter().cloned())
            .collect()
    }
}

fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl<'de> Deserialize<'de> for CredentialScope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(d)?;
        CredentialScope::parse(&entries).map_err(serde::de::Error::custom)
    }
}

impl Serialize for CredentialScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries().serialize(s)
    }
}

/// A credential as affinity and scope see it: a name and where it may be sent.
pub trait ScopedCredential {
    fn name(&self) -> &str;
    fn scope(&self) -> &Option<CredentialScope>;
}

impl ScopedCredential for SnmpCredential {
    fn name(&self) -> &str {
        &self.name
    }
    fn scope(&self) -> &Option<CredentialScope> {
        &self.scope
    }
}

impl ScopedCredential for SshCredential {
    fn name(&self) -> &str {
        &self.name
    }
    fn scope(&self) -> &Option<CredentialScope> {
        &self.scope
    }
}

/// Whether a credential with this scope may be offered to `target` (no scope: anywhere —
/// credentials given for one command line's own targets).
pub fn in_scope(scope: &Option<CredentialScope>, target: &Target) -> bool {
    scope.as_ref().is_none_or(|s| s.allows(target))
}

impl SnmpV3 {
    /// Refuse what cannot work: an empty authentication or privacy passphrase. No agent
    /// accepts one (RFC 3414 keys are derived from the passphrase), and the SNMP library
    /// would index into it while localising the key as soon as an agent answers — a panic.
    pub fn validate(&self) -> Result<(), CredentialError> {
        for (what, pass) in [
            ("auth_pass", &self.auth_pass),
            ("priv_pass", &self.priv_pass),
        ] {
            if pass.as_ref().is_some_and(|p| p.expose().is_empty()) {
                return Err(CredentialError::EmptyPassphrase {
                    user: self.user.clone(),
                    what,
                });
            }
        }
        Ok(())
    }
}

/// One SNMP credential, tried in order during sweeps and discovery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum SnmpCredentialKind {
    V1 { community: Secret },
    V2c { community: Secret },
    V3(SnmpV3),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnmpCredential {
    /// Name used in config, logs and affinity records.
    pub name: String,
    #[serde(flatten)]
    pub kind: SnmpCredentialKind,
    /// Where it may be sent; `None`: anywhere (see [`in_scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<CredentialScope>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum SshAuth {
    Key {
        path: String,
        #[serde(default)]
        passphrase: Option<Secret>,
    },
    Password {
        password: Secret,
    },
    Agent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SshCredential {
    pub name: String,
    pub user: String,
    #[serde(flatten)]
    pub auth: SshAuth,
    /// Where it may be sent; `None`: anywhere (see [`in_scope`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<CredentialScope>,
}

/// Removes the values of a run's secrets from text that leaves the run (target errors and
/// diagnostics as the API and the run log show them). Probes already keep secrets out of
/// their messages; this is the second line, at the boundary. Values shorter than
/// [`Redactor::MIN_LEN`] characters are left alone: they would match ordinary text everywhere.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    pub const MIN_LEN: usize = 3;

    /// Every secret value of these credentials.
    pub fn new(snmp: &[SnmpCredential], ssh: &[SshCredential]) -> Redactor {
        let mut secrets: Vec<Secret> = Vec::new();
        for c in snmp {
            match &c.kind {
                SnmpCredentialKind::V1 { community } | SnmpCredentialKind::V2c { community } => {
                    secrets.push(community.clone())
                }
                SnmpCredentialKind::V3(v3) => {
                    secrets.extend(v3.auth_pass.iter().cloned());
                    secrets.extend(v3.priv_pass.iter().cloned());
                }
            }
        }
        for c in ssh {
            match &c.auth {
                SshAuth::Password { password } => secrets.push(password.clone()),
                SshAuth::Key {
                    passphrase: Some(p),
                    ..
                } => secrets.push(p.clone()),
                _ => {}
            }
        }
        secrets.retain(|s| s.expose().chars().count() >= Self::MIN_LEN);
        // Longest first, so a secret containing another is removed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every secret value replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.expose()) {
                out = out.replace(s.expose(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod redactor_tests {
    use super::*;

    #[test]
    fn secret_values_are_removed_from_messages() {
        let snmp = vec![
            SnmpCredential {
                name: "v2".into(),
                kind: SnmpCredentialKind::V2c {
                    community: Secret::new("s3cret-community"),
                },
                scope: None,
            },
            SnmpCredential {
                name: "tiny".into(),
                kind: SnmpCredentialKind::V2c {
                    community: Secret::new("ab"),
                },
                scope: None,
            },
        ];
        let ssh = vec![SshCredential {
            name: "ops".into(),
            user: "ops".into(),
            auth: SshAuth::Password {
                password: Secret::new("hunter22"),
            },
            scope: None,
        }];
        let r = Redactor::new(&snmp, &ssh);
        assert_eq!(
            r.redact("community s3cret-community refused; tried hunter22 and hunter22x"),
            "community *** refused; tried *** and ***x"
        );
        assert_eq!(r.redact("about abc"), "about abc", "too short to redact");
        assert!(!format!("{r:?}").contains("hunter22"));
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn scope_entries_and_membership() {
        let s =
            CredentialScope::parse(&["10.1.0.0/16", "192.0.2.7", "Core-SW1.example.net"]).unwrap();
        for (host, want) in [
            ("10.1.200.3", true),
            ("10.2.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("core-sw1.example.net", true),
            ("core-sw2.example.net", false),
            ("::1", false),
        ] {
            assert_eq!(s.allows(&Target::new(host, None)), want, "{host}");
        }
        assert_eq!(
            s.entries(),
            vec!["10.1.0.0/16", "192.0.2.7", "core-sw1.example.net"]
        );
        for bad in ["10.0.0.0/33", "a b", "-x", "10.0.0.1:161", ""] {
            assert!(CredentialScope::parse(&[bad]).is_err(), "{bad}");
        }
        let mut d = CredentialScope::default();
        for e in [
            "10.3.0.0/24:1161",
            "[2001:db8::1]:22",
            "sw1:161",
            "10.4.0.9",
        ] {
            d.add_target_expr(e).unwrap();
        }
        assert!(d.allows(&Target::new("10.3.0.77", Some(161))));
        assert!(d.allows(&Target::new("2001:db8::1", None)));
        assert!(d.allows(&Target::new("sw1", None)));
        assert!(!d.allows(&Target::new("10.4.0.10", None)));
        assert!(in_scope(&None, &Target::new("203.0.113.9", None)));
        assert!(!in_scope(
            &Some(CredentialScope::default()),
            &Target::new("203.0.113.9", None)
        ));
    }
}
