//! The monitoring lab: Debian's real `prometheus` and `prometheus-alertmanager` on loopback
//! (setup: `tests/lab/monitoring/setup.sh`), a scrape target the test can stop and start, and
//! a webhook receiver that records what cmdb sends. Plus the small estate the alert tests
//! bind to. Everything binds 127.0.0.1 only (Alertmanager's cluster listener is off).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cmdb_model::{CiClass, EvidenceKind, Observation, Record, RelType, RunId, Scope, Source};
use cmdb_store::{EmbeddedOptions, EmbeddedStore, GraphStore};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// shop (criticality 1, sla_target 99.9%) → haproxy on lb1 → web-pool (min_up 2) of web1..3;
/// web1 listens on `web1_port` (the port Prometheus scrapes, as discovery would record it).
/// blog (criticality 4) → web1's endpoint directly.
pub fn estate_observation(web1_port: u16) -> Observation {
    let mut o = Observation::new(Source::new("manual"), RunId::new("lab"), Scope::none());
    o.push(
        Record::new("shop", CiClass::BusinessService)
            .name("shop")
            .ident("name", "shop")
            .attr("criticality", 1)
            .attr("owner", "web-team")
            .attr("sla_target", "99.9%"),
    );
    o.push(
        Record::new("blog", CiClass::BusinessService)
            .name("blog")
            .ident("name", "blog")
            .attr("criticality", 4),
    );
    o.push(
        Record::new("lbh", CiClass::Host)
            .name("lb1")
            .ident("hostname", "lb1"),
    );
    o.push(
        Record::new("lb", CiClass::Process)
            .parent("lbh")
            .name("haproxy")
            .ident("executable", "/usr/sbin/haproxy"),
    );
    o.push(
        Record::new("pool", CiClass::Cluster)
            .name("web-pool")
            .ident("name", "web-pool")
            .attr("min_up", 2),
    );
    for i in 1..=3 {
        let h = format!("web{i}");
        o.push(
            Record::new(&h, CiClass::Host)
                .name(&h)
                .ident("hostname", h.as_str())
                .ident("ip_addresses", json!([format!("10.9.0.1{i}")])),
        );
        o.relate(RelType::PartOf, &h, "pool", EvidenceKind::Manual, 1.0);
    }
    o.push(
        Record::new("ep", CiClass::ListeningEndpoint)
            .parent("web1")
            .name(format!("tcp/{web1_port}"))
            .ident("protocol", "tcp")
            .ident("port", web1_port),
    );
    o.relate(RelType::DependsOn, "shop", "lb", EvidenceKind::Manual, 1.0);
    o.relate(RelType::DependsOn, "lb", "pool", EvidenceKind::Manual, 1.0);
    o.relate(RelType::DependsOn, "blog", "ep", EvidenceKind::Manual, 1.0);
    o
}

/// Write the estate into a data directory's embedded store (before `cmdb serve` opens it).
pub fn seed_store(data_dir: &Path, obs: Observation) {
    // On a thread of its own: callers may be inside a runtime already.
    let data_dir = data_dir.to_path_buf();
    std::thread::spawn(move || seed_store_now(&data_dir, obs))
        .join()
        .expect("seeding the store");
}

fn seed_store_now(data_dir: &Path, obs: Observation) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let s = EmbeddedStore::open(&data_dir.join("cmdb.sqlite"), EmbeddedOptions::default())
            .expect("open store");
        let r = s.ingest(obs, &Default::default()).await.expect("ingest");
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        s.close().await.unwrap();
    });
}

/// A free loopback port (bound and released; good enough for a test's own daemons).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

async fn read_request(s: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 1 << 20 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..(head_end + len).min(buf.len())]).to_string();
    Some(Received {
        path,
        headers,
        body,
    })
}

/// A scrape target: answers `/metrics` while running; [`Target::stop`] closes its port.
pub struct Target {
    pub port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Target {
    pub async fn start(port: u16) -> Target {
        let l = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind target");
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    if read_request(&mut s).await.is_some() {
                        let body = "# TYPE lab_up gauge\nlab_up 1\n";
                        let resp = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(resp.as_bytes()).await;
                    }
                });
            }
        });
        Target {
            port,
            task: Some(task),
        }
    }

    pub async fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Records every request; answers 200, or `fail_first` times 503 first.
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
    failures: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let got: Arc<Mutex<Vec<Received>>> = Default::default();
        let g = got.clone();
        let failures = Arc::new(Mutex::new(fail_first));
        let fails = failures.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else {
                    return;
                };
                let g = g.clone();
                let failures = fails.clone();
                tokio::spawn(async move {
                    if let Some(r) = read_request(&mut s).await {
                        let fail = {
                            let mut f = failures.lock().unwrap();
                            if *f > 0 {
                                *f -= 1;
                                true
                            } else {
                                false
                            }
                        };
                        g.lock().unwrap().push(r);
                        let status = if fail {
                            "503 Service Unavailable"
                        } else {
                            "200 OK"
                        };
                        let resp = format!(
                            "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        );
                        let _ = s.write_all(resp.as_bytes()).await;
                    }
                });
            }
        });
        Receiver {
            addr,
            got,
            failures,
            task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Answer 200 from now on.
    pub fn accept(&self) {
        *self.failures.lock().unwrap() = 0;
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wait until `f` gives `Some`, polling; panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A daemon of the lab, killed when dropped; its log kept for failures.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
    pub port: u16,
}

impl Daemon {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn find_bin(names: &[&str]) -> PathBuf {
    for n in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/sbin"] {
            let p = Path::new(dir).join(n);
            if p.exists() {
                return p;
            }
        }
    }
    panic!(
        "{} not installed: run tests/lab/monitoring/setup.sh (apt-get install prometheus prometheus-alertmanager)",
        names[0]
    );
}

fn spawn(bin: &Path, args: &[String], dir: &Path, name: &str, port: u16) -> Daemon {
    let log = dir.join(format!("{name}.log"));
    let f = std::fs::File::create(&log).unwrap();
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    Daemon {
        child: Some(child),
        log,
        port,
    }
}

/// Alertmanager with one receiver: cmdb's webhook, bearer `token`, resolved alerts sent.
pub fn alertmanager(dir: &Path, cmdb: SocketAddr, token: &str) -> Daemon {
    let port = free_port();
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        format!(
            r#"route:
  receiver: cmdb
  group_by: ['alertname', 'instance']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: cmdb
    webhook_configs:
      - url: http://{cmdb}/api/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"#
        ),
    )
    .unwrap();
    let data = dir.join("am-data");
    std::fs::create_dir_all(&data).unwrap();
    let bin = find_bin(&["prometheus-alertmanager", "alertmanager"]);
    spawn(
        &bin,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.path={}", data.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            // No gossip listener (it would bind every interface).
            "--cluster.listen-address=".into(),
        ],
        dir,
        "alertmanager",
        port,
    )
}

/// Prometheus scraping the lab target (as node web1) and cmdb's /metrics (with `token`), with
/// a rule firing when the target is down, sending to `am`.
pub fn prometheus(dir: &Path, target_port: u16, cmdb: SocketAddr, token: &str, am: u16) -> Daemon {
    let port = free_port();
    std::fs::write(
        dir.join("rules.yml"),
        r#"groups:
  - name: lab
    interval: 1s
    rules:
      - alert: TargetDown
        expr: up{job="shop-web"} == 0
        labels:
          severity: critical
        annotations:
          summary: "the shop's web target stopped answering"
"#,
    )
    .unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            r#"global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: ['{rules}']
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am}']
scrape_configs:
  - job_name: shop-web
    static_configs:
      - targets: ['127.0.0.1:{target_port}']
        labels:
          node: web1
  - job_name: cmdb
    authorization:
      type: Bearer
      credentials: {token}
    static_configs:
      - targets: ['{cmdb}']
"#,
            rules = dir.join("rules.yml").display()
        ),
    )
    .unwrap();
    let data = dir.join("prom-data");
    std::fs::create_dir_all(&data).unwrap();
    let bin = find_bin(&["prometheus"]);
    spawn(
        &bin,
        &[
            format!("--config.file={}", cfg.display()),
            format!("--storage.tsdb.path={}", data.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        dir,
        "prometheus",
        port,
    )
}
