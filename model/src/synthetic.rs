//! A synthetic enterprise for benchmarks: hosts with interfaces, addresses, processes,
//! listening endpoints and packages, processes connecting to other hosts' endpoints, and
//! business services over them. Deterministic for a given seed; no I/O.
//!
//! Per host: 1 Host, 4 Interfaces, 4 IpAddresses, 6 Processes, 3 ListeningEndpoints and 2
//! SoftwarePackages = 20 CIs, with 22 structural relationships and (by default) 58 outbound
//! CONNECTS_TO, so a run of N hosts yields 20·N CIs and about 80·N = 4 relationships per CI.

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
        EstateSpec { hosts, connections_per_host: 58, seed: 42 }
    }
    pub fn cis(&self) -> usize {
        self.hosts * 20
    }
}

const PORTS: [u16; 3] = [443, 8080, 5432];

fn host_ip(i: usize, nic: usize) -> String {
    // 10.x.y.z, one /16 per NIC index so every address is unique.
    let n = i + 1;
    format!("10.{}.{}.{}", 16 + nic * 16 + (n >> 16), (n >> 8) & 255, n & 255)
}

/// The observation an SSH probe would report for host `i` (scope: that host, complete).
pub fn host_observation(spec: &EstateSpec, i: usize, run: &RunId) -> Observation {
    let mut rng = Rng::new(spec.seed ^ (i as u64).wrapping_mul(0x1000_0001));
    let name = format!("host{i:07}");
    let mut o = Observation::new(Source::new("ssh"), run.clone(), Scope::complete([name.clone()]));
    let macs: Vec<String> = (0..4).map(|n| format!("52:54:{:02x}:{:02x}:{:02x}:{:02x}", n, (i >> 16) & 255, (i >> 8) & 255, i & 255)).collect();
    let ips: Vec<String> = (0..4).map(|n| host_ip(i, n)).collect();
    o.push(
        Record::new("h", CiClass::Host)
            .name(&name)
            .ident("serial_number", format!("SN{i:09}"))
            .ident("mac_addresses", json!(macs))
            .ident("hostname", name.as_str())
            .ident("ip_addresses", json!(ips))
            .attr("os_name", "Debian GNU/Linux")
            .attr("os_version", "12")
            .attr("cpu_count", 2 + (i % 4) * 2)
            .attr("memory_bytes", 4u64 << (30 + (i % 3)))
            .tag(["prod", "test", "dev"][i % 3]),
    );
    for n in 0..4 {
        let (ik, pk) = (format!("if{n}"), format!("ip{n}"));
        o.push(Record::new(&ik, CiClass::Interface).parent("h").ident("if_name", format!("eth{n}")).ident("mac_address", macs[n].as_str()).attr("speed_bps", 10_000_000_000u64));
        o.push(Record::new(&pk, CiClass::IpAddress).ident("address", ips[n].as_str()).attr("prefix_length", 16));
        o.relate(RelType::HasIp, &ik, &pk, EvidenceKind::Inventory, 1.0);
    }
    let procs = ["nginx", "java", "postgres", "redis-server", "sshd", "node"];
    for (n, p) in procs.iter().enumerate() {
        o.push(Record::new(format!("p{n}"), CiClass::Process).parent("h").ident("executable", *p).ident("command_line", format!("/usr/bin/{p} --instance {n}")).attr("user", "svc"));
    }
    for (n, port) in PORTS.iter().enumerate() {
        o.push(Record::new(format!("e{n}"), CiClass::ListeningEndpoint).parent("h").ident("protocol", "tcp").ident("port", *port));
        o.relate(RelType::ListensOn, &format!("p{n}"), &format!("e{n}"), EvidenceKind::Socket, 0.9);
    }
    for (n, pkg) in ["openssl", "libc6"].iter().enumerate() {
        o.push(Record::new(format!("k{n}"), CiClass::SoftwarePackage).parent("h").ident("package_manager", "dpkg").ident("package_name", *pkg).attr("version", "3.0.11"));
    }
    // Outbound connections to other hosts' endpoints: placeholders for the far ends.
    let mut seen = std::collections::HashSet::new();
    for c in 0..spec.connections_per_host {
        let peer = rng.below(spec.hosts as u64) as usize;
        let port_idx = rng.below(PORTS.len() as u64) as usize;
        if peer == i || !seen.insert((peer, port_idx)) {
            continue;
        }
        let (rh, re) = (format!("rh{peer}"), format!("re{peer}_{port_idx}"));
        if !o.records.iter().any(|r| r.key == rh) {
            o.push(Record::new(&rh, CiClass::Host).ident("ip_addresses", json!([host_ip(peer, 0)])).placeholder());
        }
        o.push(Record::new(&re, CiClass::ListeningEndpoint).parent(&rh).ident("protocol", "tcp").ident("port", PORTS[port_idx]).placeholder());
        o.relate(RelType::ConnectsTo, &format!("p{}", c % procs.len()), &re, EvidenceKind::Socket, 0.5);
    }
    o
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
    let mut o = Observation::new(Source::manual(), RunId::new("synthetic-services"), Scope::none());
    for s in services {
        let sk = format!("s{s}");
        o.push(
            Record::new(&sk, CiClass::BusinessService)
                .name(format!("service-{s:05}"))
                .attr("criticality", 1 + (s % 5) as i64)
                .attr("owner", format!("team-{}", s % 50))
                .attr("sla_target", "99.9%"),
        );
        for m in 0..members {
            let (h, p) = (rng.below(hosts as u64) as usize, rng.below(6) as usize);
            if let Some(id) = process_id(h, p) {
                let mk = format!("m{s}_{m}");
                o.push(Record { key: mk.clone(), id: Some(id), ..Default::default() });
                o.relate(RelType::MemberOf, &mk, &sk, EvidenceKind::Manual, 1.0);
            }
        }
    }
    o
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
}
