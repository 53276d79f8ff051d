//! Credentials, held by name. Secret values are wrapped in [`Secret`], whose `Debug` and
//! `Display` print `***`, so a credential can be logged or put in an error without leaking.

use serde::{Deserialize, Serialize};
use std::fmt;

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
}
