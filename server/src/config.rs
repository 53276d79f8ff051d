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
    pub events: EventsConfig,
}

/// Events in, incidents out (`[events]`; docs/alerts.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Largest body `POST /api/v1/events` and the Alertmanager webhook accept.
    pub max_body_bytes: usize,
    /// Events in one `POST /api/v1/events`.
    pub max_events_per_request: usize,
    /// `instance = "host:port"` binds to that listening endpoint when the host has it.
    pub instance_port_as_resource: bool,
    /// How often open alerts without a CI are bound again (also after every discovery run).
    pub rebind_interval_secs: u64,
    /// `[events.severity_states]` critical = "DOWN", major = "DEGRADED", … (DOWN, AT_RISK,
    /// DEGRADED or NONE).
    pub severity_states: cmdb_events::StateMapping,
    /// `[events.alertmanager]` node_labels, resource_labels, severity_label, default_severity.
    pub alertmanager: cmdb_events::alertmanager::LabelMapping,
    /// `[[events.webhooks]]` name, url, secret (HMAC-SHA256 key), timeout_secs, max_attempts.
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            max_body_bytes: 8 << 20,
            max_events_per_request: 10_000,
            instance_port_as_resource: true,
            rebind_interval_secs: 300,
            severity_states: Default::default(),
            alertmanager: Default::default(),
            webhooks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// `http://` or `https://`.
    pub url: String,
    /// Signs each body (`X-Cmdb-Signature: sha256=…`); or the environment variable
    /// CMDB_WEBHOOK_<NAME>_SECRET. Never logged.
    #[serde(default)]
    pub secret: Option<cmdb_discovery::Secret>,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_secs: u64,
    #[serde(default = "default_webhook_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_webhook_backoff")]
    pub backoff_base_secs: u64,
    #[serde(default = "default_webhook_backoff_max")]
    pub backoff_max_secs: u64,
}

fn default_webhook_timeout() -> u64 {
    10
}
fn default_webhook_attempts() -> u32 {
    12
}
fn default_webhook_backoff() -> u64 {
    1
}
fn default_webhook_backoff_max() -> u64 {
    3600
}

impl EventsConfig {
    fn validate(&self) -> anyhow::Result<()> {
        if self.max_body_bytes < 1024 {
            bail!(
                "[events] max_body_bytes = {} is too small for any alert: at least 1024",
                self.max_body_bytes
            );
        }
        if self.max_events_per_request == 0 {
            bail!("[events] max_events_per_request = 0 would refuse every request: at least 1");
        }
        let mut names = std::collections::HashSet::new();
        for w in &self.webhooks {
            if w.name.trim().is_empty() {
                bail!("[[events.webhooks]] needs a name");
            }
            if !names.insert(&w.name) {
                bail!("[[events.webhooks]] name `{}` is used twice", w.name);
            }
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                bail!(
                    "[[events.webhooks]] `{}`: url must start with http:// or https://",
                    w.name
                );
            }
            if w.max_attempts == 0 || w.timeout_secs == 0 {
                bail!(
                    "[[events.webhooks]] `{}`: max_attempts and timeout_secs must be at least 1",
                    w.name
                );
            }
        }
        Ok(())
    }

    /// The live side's settings (webhook secrets from the file or the environment).
    pub fn live_config(&self) -> cmdb_live::LiveConfig {
        let webhooks = self
            .webhooks
            .iter()
            .map(|w| {
                let env = format!(
                    "CMDB_WEBHOOK_{}_SECRET",
                    w.name
                        .to_ascii_uppercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
                );
                let secret = w
                    .secret
                    .as_ref()
                    .map(|s| s.expose().to_string())
                    .or_else(|| std::env::var(env).ok());
                cmdb_live::Webhook {
                    name: w.name.clone(),
                    url: w.url.clone(),
                    secret,
                    timeout: std::time::Duration::from_secs(w.timeout_secs),
                    max_attempts: w.max_attempts,
                    backoff_base: std::time::Duration::from_secs(w.backoff_base_secs.max(1)),
                    backoff_max: std::time::Duration::from_secs(w.backoff_max_secs.max(1)),
                }
            })
            .collect();
        let mut alertmanager = self.alertmanager.clone();
        alertmanager.instance_port_as_resource = self.instance_port_as_resource;
        cmdb_live::LiveConfig {
            states: self.severity_states,
            alertmanager,
            instance_port_as_resource: self.instance_port_as_resource,
            webhooks,
            impact: Default::default(),
        }
    }
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
    /// `events` (posts events, reads nothing), `reader`, `editor` or `admin`.
    pub role: String,
    /// When the token stops working, as written: an RFC 3339 time with an offset
    /// (`"2026-12-31T00:00:00Z"`, also unquoted as a TOML date-time). None: never. Read it
    /// with [`TokenConfig::expiry`].
    #[serde(default)]
    pub expires_at: Option<toml::Value>,
}

impl TokenConfig {
    /// `expires_at` as a time; an error (naming the token) when it is not an RFC 3339 time
    /// with an offset.
    pub fn expiry(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
        let text = match &self.expires_at {
            None => return Ok(None),
            Some(toml::Value::String(s)) => s.trim().to_string(),
            Some(toml::Value::Datetime(d)) => d.to_string(),
            Some(other) => {
                return Err(format!(
                    "[[auth.tokens]] `{}`: expires_at must be an RFC 3339 time such as \"2026-12-31T00:00:00Z\", not a TOML {}",
                    self.name,
                    other.type_str()
                ))
            }
        };
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| Some(t.with_timezone(&chrono::Utc)))
            .map_err(|e| {
                format!(
                    "[[auth.tokens]] `{}`: expires_at `{text}` is not an RFC 3339 time with an offset, such as \"2026-12-31T00:00:00Z\" ({e})",
                    self.name
                )
            })
    }
}

/// `[limits]`: what one request may ask for. Every limit must be at least 1 (except
/// `max_aliases` and `max_directives`, where 0 forbids them); see docs/security.md.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Bytes of one request body (POST), query string (GET) or WebSocket message.
    pub max_body_bytes: usize,
    /// Bytes of query text in one operation.
    pub max_query_bytes: usize,
    /// Depth of fields, fragments expanded (selection sets, inline fragments and spreads may
    /// nest 2 × this + 2).
    pub max_query_depth: usize,
    /// Nesting of list and input-object values, in the query and in the variables.
    pub max_value_depth: usize,
    /// Items in one list value (literal or variable).
    pub max_list_items: usize,
    /// Selections in a document, each fragment spread counted as its fragment's expansion.
    pub max_selections: usize,
    /// Aliased fields in a document, fragments expanded.
    pub max_aliases: usize,
    /// Directives in a document, fragments expanded.
    pub max_directives: usize,
    pub max_query_complexity: usize,
    pub max_page_size: usize,
    /// Largest `maxDepth` of `dependencies` and `impact`.
    pub max_traversal_depth: u32,
    /// Largest number of CI ids in one `impact` question.
    pub max_impact_ids: usize,
    /// Operations in one batched POST.
    pub max_batch_operations: usize,
    /// Wall-clock budget of one HTTP request (reading the body, parsing, validating,
    /// executing), in milliseconds; past it the request is answered LIMIT_EXCEEDED and its
    /// work cancelled.
    pub request_timeout_ms: u64,
    /// Operations (subscriptions) running at once on one WebSocket connection.
    pub max_ws_operations: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let r = cmdb_graphql::RequestLimits::default();
        LimitsConfig {
            max_body_bytes: 1 << 20,
            max_query_bytes: r.max_query_bytes,
            max_query_depth: r.max_query_depth,
            max_value_depth: r.max_value_depth,
            max_list_items: r.max_list_items,
            max_selections: r.max_selections,
            max_aliases: r.max_aliases,
            max_directives: r.max_directives,
            max_query_complexity: 5000,
            max_page_size: 1000,
            max_traversal_depth: 50,
            max_impact_ids: 1000,
            max_batch_operations: 20,
            request_timeout_ms: 30_000,
            max_ws_operations: 100,
        }
    }
}

impl LimitsConfig {
    /// The schema's share of the limits.
    pub fn api_limits(&self) -> cmdb_graphql::ApiLimits {
        cmdb_graphql::ApiLimits {
            max_page_size: self.max_page_size,
            default_page_size: 100.min(self.max_page_size),
            request: cmdb_graphql::RequestLimits {
                max_query_bytes: self.max_query_bytes,
                max_query_depth: self.max_query_depth,
                max_value_depth: self.max_value_depth,
                max_list_items: self.max_list_items,
                max_selections: self.max_selections,
                max_aliases: self.max_aliases,
                max_directives: self.max_directives,
            },
            max_query_complexity: self.max_query_complexity,
            max_traversal_depth: self.max_traversal_depth,
            max_impact_ids: self.max_impact_ids,
            ..Default::default()
        }
    }

    /// Refuse settings that cannot mean what they say: a zero limit (every request refused,
    /// or in async-graphql's case the limit silently ignored) and depths beyond what the
    /// parser can take without risking its stack.
    fn validate(&self) -> anyhow::Result<()> {
        let at_least_one: [(&str, u64); 13] = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_query_bytes", self.max_query_bytes as u64),
            ("max_query_depth", self.max_query_depth as u64),
            ("max_value_depth", self.max_value_depth as u64),
            ("max_list_items", self.max_list_items as u64),
            ("max_selections", self.max_selections as u64),
            ("max_query_complexity", self.max_query_complexity as u64),
            ("max_page_size", self.max_page_size as u64),
            ("max_traversal_depth", self.max_traversal_depth as u64),
            ("max_impact_ids", self.max_impact_ids as u64),
            ("max_batch_operations", self.max_batch_operations as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("max_ws_operations", self.max_ws_operations as u64),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            bail!("[limits] {key} = 0 is not a usable limit: it must be at least 1");
        }
        if self.max_query_bytes > self.max_body_bytes {
            bail!(
                "[limits] max_query_bytes ({}) must not exceed max_body_bytes ({}): the query arrives inside the body",
                self.max_query_bytes,
                self.max_body_bytes
            );
        }
        let cap = cmdb_graphql::guard::MAX_DEPTH_SETTING;
        for (key, v) in [
            ("max_query_depth", self.max_query_depth),
            ("max_value_depth", self.max_value_depth),
        ] {
            if v > cap {
                bail!(
                    "[limits] {key} = {v} is above {cap}: deeper nesting risks the parser's stack"
                );
            }
        }
        Ok(())
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

    /// Where the value at `path` (`limits.max_page_size`, `discovery.snmp[0].version`) came
    /// from, for an error message: the environment variable that set it, or the file and line.
    fn locate(text: &str, origin: &str, path: &str, from_env: &[(String, String)]) -> String {
        for (key, var) in from_env {
            if path == key
                || path.starts_with(&format!("{key}."))
                || path.starts_with(&format!("{key}["))
            {
                return format!("environment variable {var}: `{path}`");
            }
        }
        // The file alone reproduces the error with a position when the bad value is its own.
        let line = match toml::from_str::<Config>(text) {
            Err(e) => e
                .span()
                .map(|r| text[..r.start.min(text.len())].matches('\n').count() + 1),
            Ok(_) => None,
        };
        match line {
            Some(l) => format!("{origin} line {l}: `{path}`"),
            None => format!("{origin}: `{path}`"),
        }
    }

    pub fn from_parts(
        text: &str,
        origin: &str,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        // A UTF-8 byte order mark (some Windows editors write one) is not TOML; skip it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut table: toml::Table =
            toml::from_str(text).with_context(|| format!("{origin}: invalid TOML"))?;
        let sections = [
            "server",
            "store",
            "reconcile",
            "auth",
            "limits",
            "discovery",
            "events",
        ];
        // `section.key` → the variable that set it.
        let mut from_env: Vec<(String, String)> = Vec::new();
        for (k, v) in env {
            // CMDB_SNMP_* and CMDB_SSH_* carry `cmdb discover` secrets, not config keys.
            let cli_secret = k.starts_with("CMDB_SECRET_")
                || k.starts_with("CMDB_SNMP_")
                || k.starts_with("CMDB_SSH_")
                || k.starts_with("CMDB_NEO4J_")
                || k.starts_with("CMDB_WEBHOOK_");
            if !k.starts_with("CMDB_") || CLI_VARS.contains(&k.as_str()) || cli_secret {
                continue;
            }
            let rest = k["CMDB_".len()..].to_ascii_lowercase();
            let Some(section) = sections.iter().find(|s| rest.starts_with(&format!("{s}_"))) else {
                bail!("environment variable {k} does not name a config key (expected CMDB_<SECTION>_<KEY>, sections: {})", sections.join(", "));
            };
            let key = rest[section.len() + 1..].to_string();
            from_env.push((format!("{section}.{key}"), k.clone()));
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
        let cfg: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let path = e.path().to_string();
                let message = e.inner().message().to_string();
                if path.is_empty() || path == "." {
                    anyhow::anyhow!("{origin}: {message}")
                } else {
                    anyhow::anyhow!(
                        "{}: {message}",
                        Self::locate(text, origin, &path, &from_env)
                    )
                }
            })?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.limits.validate()?;
        self.events.validate()?;
        if self.server.shutdown_timeout_secs == 0 {
            bail!("[server] shutdown_timeout_secs = 0 is not usable: in-flight requests need at least 1 second to finish");
        }
        if self.discovery.concurrency == 0 {
            bail!("[discovery] concurrency = 0 would never probe a target: it must be at least 1");
        }
        if self.discovery.target_timeout_secs == 0 {
            bail!("[discovery] target_timeout_secs = 0 would fail every target at once: it must be at least 1");
        }
        for (key, v) in [
            ("batch_size", self.store.batch_size.map(|v| v as u64)),
            (
                "max_connections",
                self.store.max_connections.map(|v| v as u64),
            ),
            ("connect_timeout_secs", self.store.connect_timeout_secs),
            ("query_timeout_secs", self.store.query_timeout_secs),
        ] {
            if v == Some(0) {
                bail!("[store] {key} = 0 is not usable: it must be at least 1");
            }
        }
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
        for c in &self.discovery.snmp {
            if let cmdb_discovery::credentials::SnmpCredentialKind::V3(v3) = &c.kind {
                if let Err(e) = v3.validate() {
                    bail!("[[discovery.snmp]] `{}`: {e}", c.name);
                }
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
            for t in &s.targets {
                let mut probe = cmdb_discovery::CredentialScope::default();
                if let Err(e) = cmdb_discovery::target::parse_targets(t)
                    .map_err(|e| e.to_string())
                    .and_then(|_| probe.add_target_expr(t).map_err(|e| e.to_string()))
                {
                    bail!("[[discovery.schedules]] `{}`: target {e}", s.name);
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
        let mut by_hash: std::collections::HashMap<String, &TokenConfig> =
            std::collections::HashMap::new();
        let mut token_names = std::collections::HashSet::new();
        for t in &self.auth.tokens {
            if !token_names.insert(t.name.as_str()) {
                bail!(
                    "[[auth.tokens]] name `{}` is used twice: each token entry needs its own name",
                    t.name
                );
            }
            // One token, one role: the same hash twice would make the role depend on entry order.
            if let Some(first) = by_hash.insert(t.sha256.trim().to_ascii_lowercase(), t) {
                if first.role == t.role {
                    bail!("[[auth.tokens]] `{}` and `{}` have the same sha256, i.e. the same token: configure each token once", first.name, t.name);
                }
                bail!(
                    "[[auth.tokens]] `{}` ({}) and `{}` ({}) have the same sha256, i.e. the same token with two roles: a token has exactly one role; keep one entry",
                    first.name, first.role, t.name, t.role
                );
            }
            if !matches!(t.role.as_str(), "events" | "reader" | "editor" | "admin") {
                bail!(
                    "[[auth.tokens]] `{}`: role must be events, reader, editor or admin, not `{}`",
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
            if let Err(e) = t.expiry() {
                bail!("{e}");
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
    fn events_section() {
        let c = Config::from_parts(
            r#"[events]
max_body_bytes = 65536
[events.severity_states]
major = "DOWN"
warning = "DEGRADED"
[events.alertmanager]
node_labels = ["hostname", "instance"]
default_severity = "major"
[[events.webhooks]]
name = "itsm"
url = "https://itsm.example.com/hook"
secret = "k"
"#,
            "cmdb.toml",
            env(&[]),
        )
        .unwrap();
        let live = c.events.live_config();
        assert_eq!(
            live.states.state(cmdb_events::EventSeverity::Major),
            Some(cmdb_model::impact::Severity::Down)
        );
        assert_eq!(
            live.states.state(cmdb_events::EventSeverity::Critical),
            Some(cmdb_model::impact::Severity::Down),
            "unset severities keep their default"
        );
        assert_eq!(live.alertmanager.node_labels, ["hostname", "instance"]);
        assert_eq!(live.webhooks[0].secret.as_deref(), Some("k"));
        assert!(
            !format!("{:?}", live.webhooks[0]).contains("\"k\""),
            "the secret is never in Debug output"
        );
        for (bad, says) in [
            ("[events.severity_states]\nmajor = \"BROKEN\"\n", "major"),
            ("[[events.webhooks]]\nname = \"a\"\nurl = \"ftp://x\"\n", "http://"),
            ("[[events.webhooks]]\nname = \"a\"\nurl = \"http://x\"\n[[events.webhooks]]\nname = \"a\"\nurl = \"http://y\"\n", "twice"),
            ("[events]\nmax_body_bytes = 10\n", "max_body_bytes"),
            ("[events.alertmanager]\nnode_label = [\"x\"]\n", "node_label"),
        ] {
            let e = Config::from_parts(bad, "cmdb.toml", env(&[])).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
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
    fn type_errors_name_the_key_and_where_it_was_set() {
        let e = Config::from_parts(
            "[server]\nworkers = 2\n\n[limits]\nmax_page_size = \"lots\"\n",
            "cmdb.toml",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("cmdb.toml line 5: `limits.max_page_size`"),
            "{e}"
        );
        assert!(e.contains("invalid type: string \"lots\""), "{e}");
        let e = Config::from_parts(
            "",
            "defaults",
            env(&[("CMDB_LIMITS_MAX_PAGE_SIZE", "lots")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("environment variable CMDB_LIMITS_MAX_PAGE_SIZE: `limits.max_page_size`"),
            "{e}"
        );
        let e = Config::from_parts(
            "[[discovery.schedules]]\nname = \"n\"\ncron = 5\n",
            "c.toml",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`discovery.schedules[0].cron`") && e.contains("line 3"),
            "{e}"
        );
        let e = Config::from_parts(
            "[server]\ndiscover_local_on_start = \"yes\"\n",
            "c.toml",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.toml line 2: `server.discover_local_on_start`"),
            "{e}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let c = Config::from_parts(
            "\u{feff}[server]\nbind = \"127.0.0.1:9000\"\n",
            "t",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9000");
    }

    #[test]
    fn one_token_one_role() {
        let h = "ab".repeat(32);
        let tokens = |r1: &str, r2: &str, h2: &str| {
            format!(
            "[[auth.tokens]]\nname = \"a\"\nsha256 = \"{h}\"\nrole = \"{r1}\"\n[[auth.tokens]]\nname = \"b\"\nsha256 = \"{h2}\"\nrole = \"{r2}\"\n"
        )
        };
        let e = Config::from_parts(&tokens("reader", "admin", &h.to_uppercase()), "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`a` (reader) and `b` (admin) have the same sha256"),
            "{e}"
        );
        let e = Config::from_parts(&tokens("reader", "reader", &h), "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("configure each token once"), "{e}");
        assert!(
            Config::from_parts(&tokens("reader", "admin", &"cd".repeat(32)), "t", env(&[])).is_ok()
        );
        let dup_name =
            tokens("reader", "admin", &"cd".repeat(32)).replace("name = \"b\"", "name = \"a\"");
        assert!(Config::from_parts(&dup_name, "t", env(&[]))
            .unwrap_err()
            .to_string()
            .contains("name `a` is used twice"));
    }

    #[test]
    fn token_expiry_is_an_rfc3339_time() {
        let token = |expires: &str| {
            format!(
                "[[auth.tokens]]\nname = \"dash\"\nsha256 = \"{}\"\nrole = \"reader\"\n{expires}",
                "ab".repeat(32)
            )
        };
        let at = |text: &str| {
            Config::from_parts(&token(text), "t", env(&[])).map(|c| c.auth.tokens[0].expiry())
        };
        let want = chrono::DateTime::parse_from_rfc3339("2026-12-31T00:00:00Z").unwrap();
        for ok in [
            "expires_at = \"2026-12-31T00:00:00Z\"\n",
            "expires_at = \"2026-12-31T01:00:00+01:00\"\n",
            "expires_at = 2026-12-31T00:00:00Z\n",
        ] {
            assert_eq!(at(ok).unwrap().unwrap(), Some(want.into()), "{ok}");
        }
        assert_eq!(at("").unwrap().unwrap(), None, "no expiry: never expires");
        for (bad, says) in [
            (
                "expires_at = \"next year\"\n",
                "`next year` is not an RFC 3339 time",
            ),
            ("expires_at = \"2026-12-31\"\n", "is not an RFC 3339 time"),
            ("expires_at = \"2026-12-31T00:00:00\"\n", "with an offset"),
            ("expires_at = 2026-12-31T00:00:00\n", "with an offset"),
            ("expires_at = 2026-12-31\n", "is not an RFC 3339 time"),
            ("expires_at = 1798675200\n", "not a TOML integer"),
        ] {
            let e = at(bad).unwrap_err().to_string();
            assert!(
                e.contains("[[auth.tokens]] `dash`: expires_at") && e.contains(says),
                "{bad}: {e}"
            );
        }
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
        assert_eq!(c.discovery.snmp[0].scope, None, "no explicit scope");
        let scoped = text.replace(
            "community = \"s3cret\"",
            "community = \"s3cret\"\nscope = [\"10.1.0.0/16\", \"sw1.example.net\"]",
        );
        let c = Config::from_parts(&scoped, "t", env(&[])).unwrap();
        assert_eq!(
            c.discovery.snmp[0].scope.as_ref().map(|s| s.entries()),
            Some(vec![
                "10.1.0.0/16".to_string(),
                "sw1.example.net".to_string()
            ])
        );
        let bad_scope = text.replace(
            "community = \"s3cret\"",
            "community = \"s3cret\"\nscope = [\"10.1.0.0/99\"]",
        );
        let e = Config::from_parts(&bad_scope, "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("10.1.0.0/99"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
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
        // an empty SNMPv3 passphrase is refused at load, not when an agent first answers
        let empty = text.replace("priv_pass = \"privpass\"", "priv_pass = \"\"");
        let e = Config::from_parts(&empty, "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`core-v3`") && e.contains("priv_pass is empty"),
            "{e}"
        );
    }

    #[test]
    fn nonsense_limits_rejected() {
        let e = Config::from_parts("[limits]\nmax_query_depth = 0\n", "cmdb.toml", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("max_query_depth") && e.contains("at least 1"),
            "{e}"
        );
        for key in [
            "max_body_bytes",
            "max_query_bytes",
            "max_value_depth",
            "max_list_items",
            "max_selections",
            "max_query_complexity",
            "max_page_size",
            "max_traversal_depth",
            "max_impact_ids",
            "max_batch_operations",
            "request_timeout_ms",
            "max_ws_operations",
        ] {
            let e = Config::from_parts(&format!("[limits]\n{key} = 0\n"), "t", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
        let e = Config::from_parts("", "t", env(&[("CMDB_LIMITS_MAX_QUERY_DEPTH", "0")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_query_depth"), "{e}");
        let e = Config::from_parts("[limits]\nmax_value_depth = 1000\n", "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_value_depth") && e.contains("stack"), "{e}");
        let e = Config::from_parts("[limits]\nmax_query_bytes = 2000000\n", "t", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_body_bytes"), "{e}");
        // 0 aliases or directives is a policy (none allowed), not nonsense.
        let c = Config::from_parts(
            "[limits]\nmax_aliases = 0\nmax_directives = 0\n",
            "t",
            env(&[]),
        )
        .unwrap();
        assert_eq!(c.limits.api_limits().request.max_aliases, 0);
        for (section, key) in [
            ("server", "shutdown_timeout_secs"),
            ("discovery", "concurrency"),
            ("discovery", "target_timeout_secs"),
            ("store", "batch_size"),
            ("store", "max_connections"),
            ("store", "query_timeout_secs"),
        ] {
            let e = Config::from_parts(&format!("[{section}]\n{key} = 0\n"), "t", env(&[]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{section}.{key}: {e}");
        }
    }
}
