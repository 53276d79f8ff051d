//! Helpers for the API tests: an in-process server on port 0 over a fresh embedded store, the
//! fixture estate, a GraphQL client, and a minimal WebSocket client for subscriptions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cmdb_graphql::{Api, ApiLimits, EventBus};
use cmdb_model::Observation;
use cmdb_server::config::TokenConfig;
use cmdb_server::http::{self, Auth, HttpOptions, Running};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore, IngestOptions};
use serde_json::{json, Value};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Ingest every observation (one JSON object per line) of a fixture file.
pub async fn load_estate(store: &dyn GraphStore, name: &str) {
    let text = std::fs::read_to_string(fixture(name)).expect("fixture readable");
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let obs: Observation =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
        let r = store
            .ingest(obs, &IngestOptions::default())
            .await
            .expect("ingest");
        assert!(r.errors.is_empty(), "{name}:{}: {:?}", i + 1, r.errors);
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub store: Arc<dyn GraphStore>,
    running: Option<Running>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

pub fn token(name: &str, secret: &str, role: &str) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        sha256: http::auth::sha256_hex(secret),
        role: role.parse().expect("a role name"),
        expires_at: None,
    }
}

impl TestServer {
    /// A server on 127.0.0.1:0 over a fresh store holding the fixture estate.
    pub async fn start(
        tokens: Vec<TokenConfig>,
        limits: ApiLimits,
        max_body_bytes: usize,
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn GraphStore> = Arc::new(
            EmbeddedStore::open(&dir.path().join("cmdb.sqlite"), EmbeddedOptions::default())
                .expect("open store"),
        );
        load_estate(store.as_ref(), "estate.jsonl").await;
        let api = Api::new(
            store.clone(),
            limits,
            EventBus::default(),
            IngestOptions::default(),
        );
        let auth = Auth::new(&tokens).expect("tokens");
        let opts = HttpOptions {
            max_body_bytes,
            max_batch: 5,
            workers: 2,
            shutdown_timeout: Duration::from_secs(5),
            ..HttpOptions::new("127.0.0.1:0")
        };
        let running = http::start(api, auth, opts).expect("server starts");
        TestServer {
            addr: running.addr,
            store,
            running: Some(running),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST a GraphQL operation; returns (HTTP status, JSON body).
    pub async fn post(&self, bearer: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// POST as an open/admin caller and insist on success; returns `data`.
    pub async fn ok(&self, query: &str, variables: Value) -> Value {
        self.ok_as(None, query, variables).await
    }

    pub async fn ok_as(&self, bearer: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(bearer, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["errors"].is_null(),
            "unexpected errors for {query}: {body}"
        );
        body["data"].clone()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The id of the CI named `name` (exactly one must exist).
    pub async fn id_of(&self, name: &str) -> String {
        let d = self.ok("query($n: String!) { cis(filter: {name: {equals: $n}}) { totalCount nodes { id } } }", json!({ "n": name })).await;
        assert_eq!(
            d["cis"]["totalCount"],
            json!(1),
            "exactly one CI named {name}: {d}"
        );
        d["cis"]["nodes"][0]["id"].as_str().expect("id").to_string()
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stops");
        }
        self.store.close().await.expect("store closes");
    }
}

/// The `extensions.code` of the first error.
pub fn code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
        .to_string()
}

/// A minimal blocking WebSocket client (text frames only), enough to speak graphql-transport-ws.
pub struct WsClient {
    s: TcpStream,
}

impl WsClient {
    pub fn connect(
        addr: SocketAddr,
        path: &str,
        protocol: &str,
        bearer: Option<&str>,
    ) -> std::io::Result<WsClient> {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        Self::connect_with(addr, path, protocol, &headers)
    }

    /// As [`WsClient::connect`], with extra request headers (e.g. `Origin`).
    pub fn connect_with(
        addr: SocketAddr,
        path: &str,
        protocol: &str,
        headers: &[(&str, &str)],
    ) -> std::io::Result<WsClient> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: {protocol}\r\n{extra}\r\n"
        )?;
        // Read the response head.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b)? == 0 {
                break;
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        if !head.starts_with("HTTP/1.1 101") {
            return Err(std::io::Error::other(format!("no upgrade: {head}")));
        }
        Ok(WsClient { s })
    }

    pub fn send(&mut self, v: &Value) -> std::io::Result<()> {
        self.send_text(v.to_string().as_bytes())
    }

    /// One text frame with these bytes (need not be JSON, nor UTF-8).
    pub fn send_text(&mut self, payload: &[u8]) -> std::io::Result<()> {
        self.send_frame(true, 0x1, payload)
    }

    /// One frame: `fin` and `opcode` as given (0x0 continuation, 0x1 text, 0x2 binary).
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![(if fin { 0x80u8 } else { 0 }) | opcode];
        let n = payload.len();
        if n < 126 {
            frame.push(0x80 | n as u8);
        } else if n < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&frame)
    }

    /// The next text message as JSON (control frames skipped).
    pub fn recv(&mut self) -> std::io::Result<Value> {
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h)?;
            let op = h[0] & 0x0f;
            let mut len = (h[1] & 0x7f) as u64;
            if len == 126 {
                let mut l = [0u8; 2];
                self.s.read_exact(&mut l)?;
                len = u16::from_be_bytes(l) as u64;
            } else if len == 127 {
                let mut l = [0u8; 8];
                self.s.read_exact(&mut l)?;
                len = u64::from_be_bytes(l);
            }
            let mut data = vec![0u8; len as usize];
            self.s.read_exact(&mut data)?;
            match op {
                0x1 => return serde_json::from_slice(&data).map_err(std::io::Error::other),
                0x8 => {
                    return Err(std::io::Error::other(format!(
                        "closed: {}",
                        String::from_utf8_lossy(&data)
                    )))
                }
                _ => continue,
            }
        }
    }
}
