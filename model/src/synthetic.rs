//! A synthetic enterprise for benchmarks: hosts with interfaces, addresses, processes,
//! listening endpoints and packages, processes connecting to other hosts' endpoints, and
//! business services over them. Deterministic for a given seed; no I/O.
//!
//! Per host: 1 Host, 4 Interfaces, 4 IpAddresses, 6 Processes, 3 ListeningEndpoints and 2
//! SoftwarePackages = 20 CIs, with 22 structural relationships and (by default) 58 outbound
//! CONNECTS_TO, so a run of N hosts yields 20·N CIs and about 80·N = 4 relationships per CI.

use crate::attrs;
use serde_json::json;

use crate::class::CiClass;
use crate::ids::{RunId, Source};
use crate::observation::{Observation, Record, Scope};
use crate::rel::{EvidenceKind, RelType};

/// Tiny deterministic PRNG (xorshift64*), so the model needs no `rand`.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

#[derive(Debug, Clone)]
pub struct EstateSpec {
    pub hosts: usize,
    /// Outbound connections per host (spread over its processes).
    pub connections_per_host: usize,
    pub seed: u64,
}

impl EstateSpec {
    pub fn new(hosts: usize) -> Self {
        EstateSpec {
            hosts,
            connections_per_host: 58,
            seed: 42,
        }
    }
    pub fn cis(&self) -> usize {
        self.hosts * 20
    }
}

const PORTS: [u16; 3] = [443, 8080, 5432];

fn host_ip(i: usize, nic: usize) -> String {
    // 10.x.y.z, one /16 per NIC index so every address is unique.
    let n = i + 1;
    format!(
        "10.{}.{}.{}",
        16 + nic * 16 + (n >> 16),
        (n >> 8) & 255,
        n & 255
    )
}

/// The observation an SSH probe would report for host `i` (scope: that host, complete).
pub fn host_observation(spec: &EstateSpec, i: usize, run: &RunId) -> Observation {
    let mut rng = Rng::new(spec.seed ^ (i as u64).wrapping_mul(0x1000_0001));
    let name = format!("host{i:07}");
    let mut o = Observation::new(
        Source::new("ssh"),
        run.clone(),
        Scope::complete([name.clone()]),
    );
    push_hardware(&mut o, i, &name);
    push_software(&mut o);
    push_connections(&mut o, spec, i, &mut rng);
    o
}

/// The host record `h` (serial, MACs, addresses, OS) with its four interfaces and addresses.
fn push_hardware(o: &mut Observation, i: usize, name: &str) {
    let macs: Vec<String> = (0..4)
        .map(|n| {
            format!(
                "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
                n,
                (i >> 16) & 255,
                (i >> 8) & 255,
                i & 255
            )
        })
        .collect();
    let ips: Vec<String> = (0..4).map(|n| host_ip(i, n)).collect();
    o.push(
        Record::new("h", CiClass::Host)
            .name(name)
            .ident("serial_number", format!("SN{i:09}"))
            .ident("mac_addresses", json!(macs))
            .ident("hostname", name)
            .ident("ip_addresses", json!(ips))
            .attr("os_name", "Debian GNU/Linux")
            .attr("os_version", "12")
            .attr("cpu_count", 2 + (i % 4) * 2)
            .attr("memory_bytes", 4u64 << (30 + (i % 3)))
            .tag(["prod", "test", "dev"][i % 3]),
    );
    for n in 0..4 {
        let (ik, pk) = (format!("if{n}"), format!("ip{n}"));
        o.push(
            Record::new(&ik, CiClass::Interface)
                .parent("h")
                .ident("if_name", format!("eth{n}"))
                .ident("mac_address", macs[n].as_str())
                .attr("speed_bps", 10_000_000_000u64),
        );
        o.push(
            Record::new(&pk, CiClass::IpAddress)
                .ident("address", ips[n].as_str())
                .attr("prefix_length", 16),
        );
        o.relate(RelType::HasIp, &ik, &pk, EvidenceKind::Inventory, 1.0);
    }
}

/// The host's processes (`p0`…), the endpoints the first ones listen on and two packages.
fn push_software(o: &mut Observation) {
    let procs = HOST_PROCS;
    for (n, p) in procs.iter().enumerate() {
        o.push(
            Record::new(format!("p{n}"), CiClass::Process)
                .parent("h")
                .ident("executable", *p)
                .ident("command_line", format!("/usr/bin/{p} --instance {n}"))
                .attr("user", "svc"),
        );
    }
    for (n, port) in PORTS.iter().enumerate() {
        o.push(
            Record::new(format!("e{n}"), CiClass::ListeningEndpoint)
                .parent("h")
                .ident(attrs::PROTOCOL, "tcp")
                .ident(attrs::PORT, *port),
        );
        o.relate(
            RelType::ListensOn,
            &format!("p{n}"),
            &format!("e{n}"),
            EvidenceKind::Socket,
            0.9,
        );
    }
    for (n, pkg) in ["openssl", "libc6"].iter().enumerate() {
        o.push(
            Record::new(format!("k{n}"), CiClass::SoftwarePackage)
                .parent("h")
                .ident("package_manager", "dpkg")
                .ident("package_name", *pkg)
                .attr("version", "3.0.11"),
        );
    }
}

/// The processes of the typical host.
const HOST_PROCS: [&str; 6] = ["nginx", "java", "postgres", "redis-server", "sshd", "node"];

/// Outbound connections to other hosts' endpoints: placeholders for the far ends.
fn push_connections(o: &mut Observation, spec: &EstateSpec, i: usize, rng: &mut Rng) {
    let mut seen = std::collections::HashSet::new();
    for c in 0..spec.connections_per_host {
        let peer = rng.below(spec.hosts as u64) as usize;
        let port_idx = rng.below(PORTS.len() as u64) as usize;
        if peer == i || !seen.insert((peer, port_idx)) {
            continue;
        }
        let (rh, re) = (format!("rh{peer}"), format!("re{peer}_{port_idx}"));
        if !o.records.iter().any(|r| r.key == rh) {
            o.push(
                Record::new(&rh, CiClass::Host)
                    .ident("ip_addresses", json!([host_ip(peer, 0)]))
                    .placeholder(),
            );
        }
        o.push(
            Record::new(&re, CiClass::ListeningEndpoint)
                .parent(&rh)
                .ident(attrs::PROTOCOL, "tcp")
                .ident(attrs::PORT, PORTS[port_idx])
                .placeholder(),
        );
        o.relate(
            RelType::ConnectsTo,
            &format!("p{}", c % HOST_PROCS.len()),
            &re,
            EvidenceKind::Socket,
            0.5,
        );
    }
}

/// Business services (manual source), each with `members` processes of random hosts,
/// referenced by the ids the hosts' processes got. `process_id(host, n)` resolves those.
pub fn service_observation(
    services: std::ops::Range<usize>,
    members: usize,
    hosts: usize,
    seed: u64,
    process_id: &dyn Fn(usize, usize) -> Option<crate::ids::CiId>,
) -> Observation {
    let mut rng = Rng::new(seed);
    let mut o = Observation::new(
        Source::manual(),
        RunId::new("synthetic-services"),
        Scope::none(),
    );
    for s in services {
        let sk = format!("s{s}");
        o.push(
            Record::new(&sk, CiClass::BusinessService)
                .name(format!("service-{s:05}"))
                .attr(attrs::CRITICALITY, 1 + (s % 5) as i64)
                .attr(attrs::OWNER, format!("team-{}", s % 50))
                .attr(attrs::SLA_TARGET, "99.9%"),
        );
        for m in 0..members {
            let (h, p) = (rng.below(hosts as u64) as usize, rng.below(6) as usize);
            if let Some(id) = process_id(h, p) {
                let mk = format!("m{s}_{m}");
                o.push(Record {
                    key: mk.clone(),
                    id: Some(id),
                    ..Default::default()
                });
                o.relate(RelType::MemberOf, &mk, &sk, EvidenceKind::Manual, 1.0);
            }
        }
    }
    o
}

// ---------------------------------------------------------------------------------------------
// The impact benchmark's enterprise (issue 6): a whole graph built directly as CIs and
// relationships (for `load_snapshot`), not as observations.
// ---------------------------------------------------------------------------------------------

/// Shape of [`enterprise`]. Sizes are derived from `target_cis`.
#[derive(Debug, Clone)]
pub struct EnterpriseSpec {
    /// Approximate number of CIs (the generator rounds to whole racks and applications).
    pub target_cis: usize,
    /// Business services (each with the entry processes of one or more applications).
    pub services: usize,
    pub seed: u64,
}

impl EnterpriseSpec {
    pub fn new(target_cis: usize) -> Self {
        EnterpriseSpec {
            target_cis,
            services: 2_000,
            seed: 42,
        }
    }
}

/// A generated estate: every CI and relationship, plus a few named hubs.
#[derive(Debug, Clone, Default)]
pub struct Enterprise {
    pub cis: Vec<crate::ci::Ci>,
    pub relationships: Vec<crate::rel::Relationship>,
    /// Named high-fan-out CIs worth measuring separately: `("core switch", id)`, …
    pub hubs: Vec<(String, crate::ids::CiId)>,
}

impl Enterprise {
    /// Ids of every CI that is not a BusinessService, in generation order.
    pub fn non_service_ids(&self) -> Vec<&crate::ids::CiId> {
        self.cis
            .iter()
            .filter(|c| c.class != CiClass::BusinessService)
            .map(|c| &c.id)
            .collect()
    }
}

/// Hosts per rack (one pair of top-of-rack switches per rack).
const RACK: usize = 20;
/// Shared infrastructure services every host talks to: (name, port, replicas, connecting
/// process index). Their endpoints are the estate's big fan-in hubs.
const INFRA: [(&str, u16, usize, usize); 9] = [
    ("dns", 53, 4, 5),
    ("ntp", 123, 4, 5),
    ("ldap", 389, 4, 4),
    ("syslog", 514, 8, 3),
    ("metrics", 9090, 8, 5),
    ("config", 8140, 4, 5),
    ("backup", 9102, 4, 5),
    ("vault", 8200, 3, 4),
    ("audit", 6514, 6, 3),
];
/// Processes on every host: (executable, listening port index or none). Index 0: front end /
/// load balancer, 1: application server, 2: database, 3: log shipper, 4: sshd, 5: agent.
const PROCS: [&str; 6] = [
    "haproxy",
    "java",
    "postgres",
    "fluent-bit",
    "sshd",
    "node_exporter",
];
const HOST_PORTS: [u16; 3] = [443, 8080, 5432];
const PACKAGES: [&str; 4] = ["libc6", "openssl", "zlib1g", "libstdc++6"];

struct Builder {
    cis: Vec<crate::ci::Ci>,
    rels: Vec<crate::rel::Relationship>,
    hubs: Vec<(String, crate::ids::CiId)>,
    at: crate::time::Timestamp,
}

impl Builder {
    fn ci(
        &mut self,
        class: CiClass,
        key: &str,
        name: String,
        attrs: &[(&str, serde_json::Value)],
    ) -> crate::ids::CiId {
        use crate::ci::{Attribute, Ci, CiStatus};
        let id = crate::ids::CiId::derive(&format!("{}||synthetic|{key}", class.as_str()), 0);
        let source = if class == CiClass::BusinessService || class == CiClass::Cluster {
            Source::manual()
        } else {
            Source::new("ssh")
        };
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert(
            "name".to_string(),
            Attribute {
                value: json!(name),
                source: source.clone(),
                run_id: None,
                updated_at: self.at,
            },
        );
        for (k, v) in attrs {
            attributes.insert(
                k.to_string(),
                Attribute {
                    value: v.clone(),
                    source: source.clone(),
                    run_id: None,
                    updated_at: self.at,
                },
            );
        }
        self.cis.push(Ci {
            id: id.clone(),
            class,
            name,
            status: CiStatus::Active,
            tags: Default::default(),
            attributes,
            sources: [source].into_iter().collect(),
            placeholder: false,
            first_seen: self.at,
            last_seen: self.at,
            identification: None,
        });
        id
    }

    fn rel(&mut self, t: RelType, from: &crate::ids::CiId, to: &crate::ids::CiId) {
        use crate::rel::{Evidence, RelStatus, Relationship};
        let (kind, source, confidence) = match t {
            RelType::ConnectsTo | RelType::ListensOn => (EvidenceKind::Socket, "ssh", 0.9),
            RelType::LinkedTo => (EvidenceKind::Lldp, "snmp", 0.9),
            RelType::MemberOf | RelType::PartOf => (EvidenceKind::Manual, "manual", 1.0),
            _ => (EvidenceKind::Inventory, "ssh", 1.0),
        };
        // LINKED_TO is stored once, ids in order.
        let (from, to) = if t == RelType::LinkedTo && to < from {
            (to, from)
        } else {
            (from, to)
        };
        self.rels.push(Relationship {
            rel_type: t,
            from: from.clone(),
            to: to.clone(),
            status: RelStatus::Active,
            evidence: vec![Evidence {
                source: Source::new(source),
                kind,
                confidence,
                observations: 1,
                first_seen: self.at,
                last_seen: self.at,
                last_run: None,
            }],
            attributes: Default::default(),
            first_seen: self.at,
            last_seen: self.at,
        });
    }

    fn cluster(&mut self, key: &str, kind: &str, min_up: usize, size: usize) -> crate::ids::CiId {
        self.ci(
            CiClass::Cluster,
            key,
            key.to_string(),
            &[
                ("kind", json!(kind)),
                (attrs::MIN_UP, json!(min_up)),
                ("size", json!(size)),
            ],
        )
    }
}

/// The ids of one host's CIs.
struct HostIds {
    host: crate::ids::CiId,
    procs: Vec<crate::ids::CiId>,
    endpoints: Vec<crate::ids::CiId>,
}

/// A synthetic enterprise of about `spec.target_cis` CIs and 4 relationships per CI.
///
/// - **Hosts** (25 CIs each incl. their two switch ports): Host, 4 Interfaces with an
///   IpAddress each, 6 Processes (RUNS_ON the host; 0–2 LISTENS_ON ports 443/8080/5432 the host
///   CONTAINS), 4 SoftwarePackages every process DEPENDS_ON, and a NIC bond (Cluster, `min_up`
///   1) that eth0 and eth1 are PART_OF and the host DEPENDS_ON.
/// - **Network**: per rack of 20 hosts two top-of-rack switches (NetworkDevice CONTAINS a port
///   per host NIC, LINKED_TO eth0 resp. eth1) with two uplink ports each, LINKED_TO the two core
///   switches; each ToR switch DEPENDS_ON an uplink group (Cluster, `min_up` 1) its uplinks are
///   PART_OF. A core switch failure therefore reaches every ToR switch and host NIC.
/// - **Infrastructure**: DNS, NTP, LDAP, syslog, metrics, config, backup, vault and audit
///   servers (2–8 replicas, PART_OF one Cluster each with `min_up` 1); every other host's log
///   shipper, sshd and agent processes CONNECT_TO all replicas (the estate's fan-in hubs).
/// - **Applications** of 7–14 hosts: 1–2 load balancers whose haproxy CONNECTS_TO every
///   application server's :8080 (PART_OF an `lb` pool, `min_up` 1), application servers whose
///   java CONNECTS_TO every database's :5432 (PART_OF an `app` pool, `min_up` ⌈n/3⌉), three
///   databases PART_OF a quorum cluster (`min_up` 2), and application servers of some
///   applications CONNECT_TO the load balancers of 1–2 other applications.
/// - **Business services** (`spec.services`, criticality 1–5, owner, sla_target): the load
///   balancers' haproxy processes of each application are MEMBER_OF one service.
///
/// A failing database process reaches its service at depth 6, a load balancer host at depth 2,
/// a top-of-rack switch reaches load-balancer services at depth 6. Deterministic for a seed.
pub fn enterprise(spec: &EnterpriseSpec) -> Enterprise {
    let at = chrono::DateTime::from_timestamp(1_764_000_000, 0).unwrap_or_default();
    let mut b = Builder {
        cis: Vec::with_capacity(spec.target_cis + 1000),
        rels: Vec::with_capacity(spec.target_cis * 4 + 1000),
        hubs: Vec::new(),
        at,
    };
    let mut rng = Rng::new(spec.seed);
    // 25 CIs per host + ~0.8 per host for switches, clusters and services.
    let hosts_total = ((spec.target_cis.saturating_sub(spec.services)) as f64 / 25.75)
        .round()
        .max(60.0) as usize;
    let racks = hosts_total.div_ceil(RACK);
    let (cores, mut tors) = b.network(racks);
    let hosts: Vec<HostIds> = (0..hosts_total).map(|i| b.host(i, &mut tors)).collect();
    let infra_hosts = b.infrastructure(&hosts);
    let apps = plan_apps(&mut rng, infra_hosts, hosts.len());
    for a in 0..apps.len() {
        b.application(&mut rng, a, &apps, &hosts);
    }
    if let Some(app) = apps.first() {
        b.hubs
            .push(("database host".into(), hosts[app.dbs[0]].host.clone()));
        b.hubs
            .push(("load balancer host".into(), hosts[app.lbs[0]].host.clone()));
    }
    b.business_services(spec.services, &apps, &hosts);
    b.hubs.insert(0, ("core switch".into(), cores[0].clone()));
    // A rack with a load balancer in it, so the switch's failure reaches a service.
    let tor_rack = apps.first().map(|a| a.lbs[0] / RACK).unwrap_or(0);
    b.hubs.insert(
        1,
        ("top-of-rack switch".into(), tors[tor_rack][0].0.clone()),
    );
    Enterprise {
        cis: b.cis,
        relationships: b.rels,
        hubs: b.hubs,
    }
}

/// One application's hosts (indexes into the estate's hosts).
struct App {
    lbs: Vec<usize>,
    apps: Vec<usize>,
    dbs: Vec<usize>,
}

/// Applications over the hosts from `first` on: 7 to 14 hosts each (one or two load
/// balancers, three databases, application servers between).
fn plan_apps(rng: &mut Rng, first: usize, hosts: usize) -> Vec<App> {
    let mut apps: Vec<App> = Vec::new();
    let mut h = first;
    while h + 7 <= hosts {
        let size = (7 + rng.below(8) as usize).min(hosts - h);
        let n_lb = if size >= 10 { 2 } else { 1 };
        let lbs: Vec<usize> = (h..h + n_lb).collect();
        let dbs: Vec<usize> = (h + size - 3..h + size).collect();
        let appsrv: Vec<usize> = (h + n_lb..h + size - 3).collect();
        apps.push(App {
            lbs,
            apps: appsrv,
            dbs,
        });
        h += size;
    }
    apps
}

/// A top-of-rack switch and the next free port on it.
type Tor = (crate::ids::CiId, usize);

impl Builder {
    /// Two core switches and a pair of top-of-rack switches per rack, each with redundant
    /// uplinks to both cores.
    fn network(&mut self, racks: usize) -> (Vec<crate::ids::CiId>, Vec<[Tor; 2]>) {
        let b = self;
        let cores: Vec<crate::ids::CiId> = (0..2)
            .map(|c| {
                b.ci(
                    CiClass::NetworkDevice,
                    &format!("core{c}"),
                    format!("core-sw-{c}"),
                    &[("role", json!("core")), ("vendor", json!("Arista"))],
                )
            })
            .collect();
        let mut tors: Vec<[Tor; 2]> = Vec::with_capacity(racks);
        for r in 0..racks {
            let mut pair = Vec::new();
            for side in 0..2 {
                let key = format!("tor{r}{}", ["a", "b"][side]);
                let sw = b.ci(
                    CiClass::NetworkDevice,
                    &key,
                    format!("tor-{r:05}-{}", ["a", "b"][side]),
                    &[("role", json!("access")), ("vendor", json!("Cisco"))],
                );
                let group = b.cluster(&format!("{key}-uplinks"), "uplinks", 1, 2);
                b.rel(RelType::DependsOn, &sw, &group);
                for (u, core) in cores.clone().iter().enumerate() {
                    let up = b.ci(
                        CiClass::Interface,
                        &format!("{key}|up{u}"),
                        format!("Ethernet49/{u}"),
                        &[("if_name", json!(format!("Ethernet49/{u}")))],
                    );
                    b.rel(RelType::Contains, &sw, &up);
                    b.rel(RelType::PartOf, &up, &group);
                    let cp = b.ci(
                        CiClass::Interface,
                        &format!("core{u}|{key}"),
                        format!("Ethernet{}/{}", r / 48 + 1, r % 48 + 1),
                        &[(
                            "if_name",
                            json!(format!(
                                "Ethernet{}/{}/{}",
                                side + 1,
                                r / 48 + 1,
                                r % 48 + 1
                            )),
                        )],
                    );
                    b.rel(RelType::Contains, core, &cp);
                    b.rel(RelType::LinkedTo, &up, &cp);
                }
                pair.push((sw, 0usize));
            }
            tors.push([pair[0].clone(), pair[1].clone()]);
        }

        (cores, tors)
    }

    /// Host `i`: its NICs (two bonded to its rack's switches), addresses, packages,
    /// processes and listening endpoints.
    fn host(&mut self, i: usize, tors: &mut [[Tor; 2]]) -> HostIds {
        let b = self;
        let name = format!("host{i:07}");
        let host = b.ci(
            CiClass::Host,
            &name,
            name.clone(),
            &[
                ("serial_number", json!(format!("SN{i:09}"))),
                ("os_name", json!("Debian GNU/Linux")),
                ("cpu_count", json!(2 + (i % 4) * 2)),
            ],
        );
        b.nics(i, &name, &host, tors);
        let pkgs: Vec<crate::ids::CiId> = PACKAGES
            .iter()
            .map(|p| {
                let k = b.ci(
                    CiClass::SoftwarePackage,
                    &format!("{name}|{p}"),
                    p.to_string(),
                    &[("package_name", json!(p)), ("version", json!("1.0"))],
                );
                b.rel(RelType::Contains, &host, &k);
                k
            })
            .collect();
        let mut procs = Vec::new();
        for p in PROCS.iter() {
            let pid = b.ci(
                CiClass::Process,
                &format!("{name}|{p}"),
                p.to_string(),
                &[("executable", json!(p)), ("user", json!("svc"))],
            );
            b.rel(RelType::RunsOn, &pid, &host);
            for k in &pkgs {
                b.rel(RelType::DependsOn, &pid, k);
            }
            procs.push(pid);
        }
        let mut endpoints = Vec::new();
        for (n, port) in HOST_PORTS.iter().enumerate() {
            let e = b.ci(
                CiClass::ListeningEndpoint,
                &format!("{name}|tcp/{port}"),
                format!("tcp/{port}"),
                &[(attrs::PROTOCOL, json!("tcp")), (attrs::PORT, json!(port))],
            );
            b.rel(RelType::Contains, &host, &e);
            b.rel(RelType::ListensOn, &procs[n], &e);
            endpoints.push(e);
        }
        HostIds {
            host,
            procs,
            endpoints,
        }
    }

    /// Host `i`'s four NICs with their addresses; the first two bonded, each linked to a port
    /// of its rack's switch of that side.
    fn nics(&mut self, i: usize, name: &str, host: &crate::ids::CiId, tors: &mut [[Tor; 2]]) {
        let b = self;
        let bond = b.cluster(&format!("{name}|bond0"), "bond", 1, 2);
        b.rel(RelType::DependsOn, host, &bond);
        for n in 0..4 {
            let nic = b.ci(
                CiClass::Interface,
                &format!("{name}|eth{n}"),
                format!("eth{n}"),
                &[
                    ("if_name", json!(format!("eth{n}"))),
                    ("speed_bps", json!(10_000_000_000u64)),
                ],
            );
            b.rel(RelType::Contains, host, &nic);
            let ip = b.ci(
                CiClass::IpAddress,
                &host_ip(i, n),
                host_ip(i, n),
                &[("address", json!(host_ip(i, n)))],
            );
            b.rel(RelType::HasIp, &nic, &ip);
            if n < 2 {
                b.rel(RelType::PartOf, &nic, &bond);
                let (r, side) = (i / RACK, n);
                let (sw, used) = tors[r][side].clone();
                let port = b.ci(
                    CiClass::Interface,
                    &format!("tor{r}{}|{used}", ["a", "b"][side]),
                    format!("Ethernet1/{}", used + 1),
                    &[("if_name", json!(format!("Ethernet1/{}", used + 1)))],
                );
                tors[r][side].1 += 1;
                b.rel(RelType::Contains, &sw, &port);
                b.rel(RelType::LinkedTo, &port, &nic);
            }
        }
    }

    /// Infrastructure servers (the first hosts) every other host connects to; returns how
    /// many hosts they took.
    fn infrastructure(&mut self, hosts: &[HostIds]) -> usize {
        let b = self;
        let mut next = 0usize;
        let mut infra_eps: Vec<(usize, Vec<crate::ids::CiId>)> = Vec::new();
        for (name, port, replicas, client_proc) in INFRA {
            let cl = b.cluster(&format!("infra-{name}"), name, 1, replicas);
            let mut eps = Vec::new();
            for _ in 0..replicas {
                let h = &hosts[next % hosts.len()];
                b.rel(RelType::PartOf, &h.procs[0], &cl);
                eps.push(h.endpoints[0].clone());
                next += 1;
            }
            let _ = port;
            infra_eps.push((client_proc, eps));
        }
        let infra_hosts = next;
        for (i, h) in hosts.iter().enumerate().skip(infra_hosts) {
            let _ = i;
            for (client_proc, eps) in &infra_eps {
                for e in eps {
                    b.rel(RelType::ConnectsTo, &h.procs[*client_proc], e);
                }
            }
        }
        if let Some((_, eps)) = infra_eps.first() {
            b.hubs
                .push(("dns endpoint (infra fan-in hub)".into(), eps[0].clone()));
        }

        infra_hosts
    }

    /// Application `a`: its pools, the connections between its tiers and calls to other
    /// applications' load balancers (a third of the applications).
    fn application(&mut self, rng: &mut Rng, a: usize, apps: &[App], hosts: &[HostIds]) {
        let b = self;
        let app = &apps[a];
        let n_apps = apps.len();
        let lb_pool = b.cluster(&format!("app{a}-lb"), "lb", 1, app.lbs.len());
        let app_pool = b.cluster(
            &format!("app{a}-app"),
            "app",
            app.apps.len().div_ceil(3),
            app.apps.len(),
        );
        let db_quorum = b.cluster(&format!("app{a}-db"), "quorum", 2, app.dbs.len());
        for &l in &app.lbs {
            b.rel(RelType::PartOf, &hosts[l].procs[0], &lb_pool);
            for &s in &app.apps {
                b.rel(
                    RelType::ConnectsTo,
                    &hosts[l].procs[0],
                    &hosts[s].endpoints[1],
                );
            }
        }
        for &s in &app.apps {
            b.rel(RelType::PartOf, &hosts[s].procs[1], &app_pool);
            for &d in &app.dbs {
                b.rel(
                    RelType::ConnectsTo,
                    &hosts[s].procs[1],
                    &hosts[d].endpoints[2],
                );
            }
        }
        for &d in &app.dbs {
            b.rel(RelType::PartOf, &hosts[d].procs[2], &db_quorum);
        }
        // Calls to other applications' load balancers (a third of the applications).
        if n_apps > 1 && rng.below(3) == 0 {
            let k = 1 + rng.below(2) as usize;
            let mut others: Vec<usize> = (0..k)
                .map(|_| rng.below(n_apps as u64) as usize)
                .filter(|&o| o != a)
                .collect();
            others.dedup();
            for other in others {
                for &s in &app.apps {
                    for &l in &apps[other].lbs {
                        b.rel(
                            RelType::ConnectsTo,
                            &hosts[s].procs[1],
                            &hosts[l].endpoints[0],
                        );
                    }
                }
            }
        }
    }

    /// Business services: each application's load balancers are MEMBER_OF one service.
    fn business_services(&mut self, n: usize, apps: &[App], hosts: &[HostIds]) {
        let b = self;
        let services: Vec<crate::ids::CiId> = (0..n)
            .map(|s| {
                b.ci(
                    CiClass::BusinessService,
                    &format!("service-{s:05}"),
                    format!("service-{s:05}"),
                    &[
                        (attrs::CRITICALITY, json!(1 + (s % 5) as i64)),
                        (attrs::OWNER, json!(format!("team-{}", s % 50))),
                        (
                            attrs::SLA_TARGET,
                            json!(["99.9%", "99.95%", "99.99%"][s % 3]),
                        ),
                    ],
                )
            })
            .collect();
        if !services.is_empty() {
            for (a, app) in apps.iter().enumerate() {
                let s = &services[a % services.len()];
                for &l in &app.lbs {
                    b.rel(RelType::MemberOf, &hosts[l].procs[0], s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_and_determinism() {
        let spec = EstateSpec::new(100);
        let run = RunId::new("r");
        let a = host_observation(&spec, 7, &run);
        let b = host_observation(&spec, 7, &run);
        assert_eq!(a.records, b.records);
        let own = a.records.iter().filter(|r| !r.placeholder).count();
        assert_eq!(own, 20);
        assert!(a.relationships.len() > 40);
    }

    #[test]
    fn enterprise_shape_and_determinism() {
        let spec = EnterpriseSpec {
            target_cis: 20_000,
            services: 50,
            seed: 7,
        };
        let a = enterprise(&spec);
        let b = enterprise(&spec);
        assert_eq!(a.cis.len(), b.cis.len());
        assert_eq!(a.relationships, b.relationships);
        let ids: std::collections::HashSet<_> = a.cis.iter().map(|c| &c.id).collect();
        assert_eq!(ids.len(), a.cis.len(), "ids are unique");
        assert!(a
            .relationships
            .iter()
            .all(|r| ids.contains(&r.from) && ids.contains(&r.to)));
        let keys: std::collections::HashSet<_> = a.relationships.iter().map(|r| r.key()).collect();
        assert_eq!(
            keys.len(),
            a.relationships.len(),
            "relationships are unique"
        );
        let per_ci = a.relationships.len() as f64 / a.cis.len() as f64;
        assert!(
            (0.8..1.25).contains(&(a.cis.len() as f64 / 20_000.0)),
            "{}",
            a.cis.len()
        );
        eprintln!(
            "{} CIs, {} relationships ({per_ci:.2} per CI)",
            a.cis.len(),
            a.relationships.len()
        );
        assert!((3.5..4.5).contains(&per_ci), "{per_ci}");
        assert_eq!(
            a.cis
                .iter()
                .filter(|c| c.class == CiClass::BusinessService)
                .count(),
            50
        );
    }
}
