//! Configuration: a TOML file (`--config`, default `./cmdb.toml` if present) plus `CMDB_*`
//! environment overrides (`CMDB_SERVER_BIND=0.0.0.0:8080` sets `[server] bind`). Unknown keys
//! are rejected with a message naming them, so a typo never silently does nothing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub reconcile: ReconcileConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub discovery: DiscoveryConfig,
}

/// Named credentials, SSH host-key policy and scheduled runs for discovery.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// `[[discovery.snmp]]` name = "…", version = "v2c", community = "…"  (or v1, or v3 with
    /// user, auth_proto, auth_pass, priv_proto, priv_pass). Tried in order.
    pub snmp: Vec<cmdb_discovery::SnmpCredential>,
    /// `[[discovery.ssh]]` name = "…", user = "…", method = "key" (path, passphrase) |
    /// "password" (password) | "agent". Tried in order.
    pub ssh: Vec<cmdb_discovery::SshCredential>,
    /// `accept-new` (default), `strict` or `off`.
    pub ssh_host_keys: String,
    /// Default `<data-dir>/known_hosts`.
    pub known_hosts: Option<PathBuf>,
    /// Targets in progress at once.
    pub concurrency: usize,
    pub target_timeout_secs: u64,
    /// `[[discovery.schedules]]` run by `cmdb serve`.
    pub schedules: Vec<ScheduleConfig>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            snmp: Vec::new(),
            ssh: Vec::new(),
            ssh_host_keys: "accept-new".into(),
            known_hosts: None,
            concurrency: 64,
            target_timeout_secs: 120,
            schedules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: String,
    /// Cron expression with seconds: `sec min hour day-of-month month day-of-week [year]`,
    /// e.g. `0 0 2 * * *` for 02:00 every day (UTC).
    pub cron: String,
    #[serde(default)]
    pub targets: Vec<String>,
    /// Credential names; empty = all.
    #[serde(default)]
    pub credentials: Vec<String>,
    #[serde(default)]
    pub local: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: String,
    /// Discover the local host once at start when no discovery is configured.
    pub discover_local_on_start: bool,
    /// HTTP worker threads; 0 = one per CPU.
    pub workers: usize,
    /// Seconds in-flight requests get to finish at shutdown.
    pub shutdown_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            discover_local_on_start: true,
            workers: 0,
            shutdown_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `embedded` (default) or `neo4j`.
    pub backend: String,
    /// Embedded store file; default `<data-dir>/cmdb.sqlite`.
    pub path: Option<PathBuf>,
    /// Neo4j: `bolt://host:7687`.
    pub uri: Option<String>,
    pub user: Option<String>,
    /// Neo4j password; or the environment variable CMDB_STORE_PASSWORD / CMDB_NEO4J_PASSWORD.
    pub password: Option<cmdb_discovery::Secret>,
    pub database: Option<String>,
    /// Rows per UNWIND statement (default 5000).
    pub batch_size: Option<usize>,
    pub max_connections: Option<usize>,
    pub connect_timeout_secs: Option<u64>,
    pub query_timeout_secs: Option<u64>,
    pub max_retries: Option<u32>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: "embedded".into(),
            path: None,
            uri: None,
            user: None,
            password: None,
            database: None,
            batch_size: None,
            max_connections: None,
            connect_timeout_secs: None,
            query_timeout_secs: None,
            max_retries: None,
        }
    }
}

impl StoreConfig {
    /// Connection settings for the Neo4j backend (defaults for what is not configured).
    pub fn neo4j_config(&self) -> cmdb_store::neo4j::Neo4jConfig {
        let d = cmdb_store::neo4j::Neo4jConfig::default();
        let password = self
            .password
            .as_ref()
            .map(|p| p.expose().to_string())
            .or_else(|| std::env::var("CMDB_NEO4J_PASSWORD").ok())
            .unwrap_or(d.password.clone());
        cmdb_store::neo4j::Neo4jConfig {
            uri: self.uri.clone().unwrap_or(d.uri.clone()),
            user: self.user.clone().unwrap_or(d.user.clone()),
            password,
            database: self.database.clone().unwrap_or(d.database.clone()),
            batch_size: self.batch_size.unwrap_or(d.batch_size),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            connect_timeout: self
                .connect_timeout_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or(d.connect_timeout),
            query_timeout: self
                .query_timeout_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or(d.query_timeout),
            max_retries: self.max_retries.unwrap_or(d.max_retries),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Source precedence, strongest first.
    pub precedence: Vec<String>,
    /// STALE CIs not seen for this many days become RETIRED.
    pub retire_after_days: u32,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            precedence: cmdb_model::Precedence::default().0,
            retire_after_days: 30,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub tokens: Vec<TokenConfig>,
}

/// An API token, stored as its SHA-256 hash (`cmdb token-hash` prints one).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub name: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    /// `reader`, `editor` or `admin`.
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub max_body_bytes: usize,
    pub max_query_depth: usize,
    pub max_query_complexity: usize,
    pub max_page_size: usize,
    /// Largest `maxDepth` of `dependencies` and `impact`.
    pub max_traversal_depth: u32,
    /// Largest number of CI ids in one `impact` question.
    pub max_impact_ids: usize,
    /// Operations in one batched POST.
    pub max_batch_operations: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: 1 << 20,
            max_query_depth: 15,
            max_query_complexity: 5000,
            max_page_size: 1000,
            max_traversal_depth: 50,
            max_impact_ids: 1000,
            max_batch_operations: 20,
        }
    }
}

impl LimitsConfig {
    /// The schema's share of the limits.
    pub fn api_limits(&self) -> cmdb_graphql::ApiLimits {
        cmdb_graphql::ApiLimits {
            max_page_size: self.max_page_size,
            default_page_size: 100.min(self.max_page_size),
            max_query_depth: self.max_query_depth,
            max_query_complexity: self.max_query_complexity,
            max_traversal_depth: self.max_traversal_depth,
            max_impact_ids: self.max_impact_ids,
            ..Default::default()
        }
    }
}

/// Variables the CLI reads itself; not config overrides.
const CLI_VARS: &[&str] = &["CMDB_DATA_DIR", "CMDB_CONFIG", "CMDB_LOG"];

impl Config {
    /// Load from `path` (or `./cmdb.toml` when present) and apply `CMDB_*` overrides.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?,
                p.display().to_string(),
            ),
            None if Path::new("cmdb.toml").exists() => (
                std::fs::read_to_string("cmdb.toml").context("cannot read ./cmdb.toml")?,
                "./cmdb.toml".into(),
            ),
            None => (String::new(), "defaults".into()),
        };
        Self::from_parts(&text, &origin, std::env::vars())
    }

    pub fn from_parts(
        text: &str,
        origin: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut table: toml::Table =
            toml::from_str(text).with_context(|| format!("{origin}: invalid TOML"))?;
        let sections = [
            "server",
            "store",
            "reconcile",
            "auth",
            "limits",
            "discovery",
        ];
        for (k, v) in env {
            // CMDB_SNMP_* and CMDB_SSH_* carry `cmdb discover` secrets, not config keys.
            let cli_secret = k.starts_with("CMDB_SECRET_")
                || k.starts_with("CMDB_SNMP_")
                || k.starts_with("CMDB_SSH_")
                || k.starts_with("CMDB_NEO4J_");
            if !k.starts_with("CMDB_") || CLI_VARS.contains(&k.as_str()) || cli_secret {
                continue;
            }
            let rest = k["CMDB_".len()..].to_ascii_lowercase();
            let Some(section) = sections.iter().find(|s| rest.starts_with(&format!("{s}_"))) else {
                bail!("environment variable {k} does not name a config key (expected CMDB_<SECTION>_<KEY>, sections: {})", sections.join(", "));
            };
            let key = rest[section.len() + 1..].to_string();
            let value = parse_env_value(&v);
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(Default::default()));
            match entry {
                toml::Value::Table(t) => {
                    t.insert(key, value);
                }
                _ => bail!("config section [{section}] is not a table"),
            }
        }
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("{origin}: {}", e.message()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !matches!(
            self.discovery.ssh_host_keys.as_str(),
            "accept-new" | "strict" | "off"
        ) {
            bail!(
                "[discovery] ssh_host_keys must be accept-new, strict or off, not `{}`",
                self.discovery.ssh_host_keys
            );
        }
        let mut names = std::collections::HashSet::new();
        for n in self
            .discovery
            .snmp
            .iter()
            .map(|c| &c.name)
            .chain(self.discovery.ssh.iter().map(|c| &c.name))
        {
            if !names.insert(n) {
                bail!("[discovery] credential name `{n}` is used twice");
            }
        }
        for s in &self.discovery.schedules {
            if let Err(e) = s.cron.parse::<cron::Schedule>() {
                bail!(
                    "[[discovery.schedules]] `{}`: invalid cron expression `{}`: {e}",
                    s.name,
                    s.cron
                );
            }
            for c in &s.credentials {
                if !names.contains(c) {
                    bail!(
                        "[[discovery.schedules]] `{}`: unknown credential `{c}`",
                        s.name
                    );
                }
            }
        }
        match self.store.backend.as_str() {
            "embedded" => {}
            "neo4j" => {
                if self.store.uri.is_none() {
                    bail!("[store] backend = \"neo4j\" needs `uri` (bolt://host:7687)");
                }
            }
            other => bail!("[store] backend = \"{other}\" is not known (embedded, neo4j)"),
        }
        for t in &self.auth.tokens {
            if !matches!(t.role.as_str(), "reader" | "editor" | "admin") {
                bail!(
                    "[[auth.tokens]] `{}`: role must be reader, editor or admin, not `{}`",
                    t.name,
                    t.role
                );
            }
            if t.sha256.len() != 64 || !t.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                bail!(
                    "[[auth.tokens]] `{}`: sha256 must be 64 hex digits (the token's SHA-256)",
                    t.name
                );
            }
        }
        Ok(())
    }

    pub fn store_path(&self, data_dir: &Path) -> PathBuf {
        self.store
            .path
            .clone()
            .unwrap_or_else(|| data_dir.join("cmdb.sqlite"))
    }

    pub fn precedence(&self) -> cmdb_model::Precedence {
        cmdb_model::Precedence(self.reconcile.precedence.clone())
    }
}

/// `true`/`42`/`[…]` parse as TOML values; anything else is a string.
fn parse_env_value(v: &str) -> toml::Value {
    let probe = format!("v = {v}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(v.to_string())),
        Err(_) => toml::Value::String(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = Config::from_parts(
            "[server]\nbind = \"127.0.0.1:9000\"\n",
            "t",
            env(&[("CMDB_RECONCILE_RETIRE_AFTER_DAYS", "7")]),
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9000");
        assert_eq!(c.reconcile.retire_after_days, 7);
        assert_eq!(c.limits.max_page_size, 1000);
    }

    #[test]
    fn unknown_keys_rejected() {
        let e = Config::from_parts("[server]\nbnid = \"x\"\n", "cmdb.toml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bnid"), "{e}");
        let e = Config::from_parts("[sever]\n", "cmdb.toml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sever"), "{e}");
        let e = Config::from_parts("", "t", env(&[("CMDB_NOPE", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CMDB_NOPE"), "{e}");
        let e = Config::from_parts("", "t", env(&[("CMDB_SERVER_BINDD", "1")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bindd"), "{e}");
    }

    #[test]
    fn discovery_section() {
        let text = r#"
[discovery]
ssh_host_keys = "strict"
[[discovery.snmp]]
name = "core-v2"
version = "v2c"
community = "s3cret"
[[discovery.snmp]]
name = "core-v3"
version = "v3"
user = "monitor"
auth_proto = "SHA256"
auth_pass = "authpass"
priv_proto = "AES128"
priv_pass = "privpass"
[[discovery.ssh]]
name = "ops"
user = "ops"
method = "key"
path = "/etc/cmdb/id_ed25519"
[[discovery.schedules]]
name = "nightly"
cron = "0 0 2 * * *"
targets = ["10.0.0.0/24"]
credentials = ["core-v2", "ops"]
"#;
        let c = Config::from_parts(text, "t", env(&[])).unwrap();
        assert_eq!(c.discovery.snmp.len(), 2);
        assert_eq!(c.discovery.schedules[0].credentials, ["core-v2", "ops"]);
        assert!(
            !format!("{:?}", c.discovery).contains("s3cret"),
            "secrets never in Debug output"
        );
        let bad_cron = text.replace("0 0 2 * * *", "every night");
        assert!(Config::from_parts(&bad_cron, "t", env(&[]))
            .unwrap_err()
            .to_string()
            .contains("invalid cron"));
        let bad_cred = text.replace(
            "credentials = [\"core-v2\", \"ops\"]",
            "credentials = [\"nope\"]",
        );
        assert!(Config::from_parts(&bad_cred, "t", env(&[]))
            .unwrap_err()
            .to_string()
            .contains("unknown credential `nope`"));
    }
}
