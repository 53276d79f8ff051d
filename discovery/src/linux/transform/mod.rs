//! Collected sections → one [`Observation`], following `docs/observations.md`. Pure: no I/O,
//! never fails; anything odd becomes a [`Diagnostic`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use cmdb_model::{
    CiClass, EvidenceKind, Observation, Record, RelType, RelationshipObs, RunId, Scope, Source,
};
use serde_json::{json, Value};

use super::parse::{self, Link, Proc};
use super::script::Sections;
use crate::Diagnostic;

/// Key of the device record in every observation this module builds.
pub const DEVICE_KEY: &str = "device";

/// Who is transforming what.
#[derive(Debug, Clone)]
pub struct TransformContext<'a> {
    /// `Target::name()`: goes into the scope and diagnostics.
    pub target: &'a str,
    /// `ssh` or `local`: the observation's source and the diagnostics' probe.
    pub source: &'a str,
    pub run_id: &'a RunId,
    /// The address the probe connected to, recorded as `management_ip` when it is an IP.
    pub management_ip: Option<IpAddr>,
}

/// The result of [`transform`].
#[derive(Debug, Clone)]
pub struct Transformed {
    pub observation: Observation,
    pub diagnostics: Vec<Diagnostic>,
}

/// Sections whose absence is normal (alternatives, optional software): no diagnostic.
const OPTIONAL: &[&str] = &[
    "rpm", "dpkg", "docker", "podman", "systemd", "ps_unit", "dmi",
];

/// Interfaces whose addresses are not the host's identity (the same 172.17.0.1 exists on every
/// Docker host).
fn is_container_bridge(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "docker", "veth", "br-", "cni", "cali", "flannel", "virbr", "podman", "lxcbr", "kube-",
        "tunl", "vxlan", "weave", "cilium",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
}

fn usable_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_unspecified() || v4.is_link_local()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

fn valid_mac(mac: &str) -> bool {
    mac.len() == 17 && mac != "00:00:00:00:00:00" && mac != "ff:ff:ff:ff:ff:ff"
}

/// Turn collected sections into an observation.
pub fn transform(sections: &Sections, ctx: &TransformContext<'_>) -> Transformed {
    let mut diags = Vec::new();
    let mut complete = sections.done;
    let diag = |diags: &mut Vec<Diagnostic>, code: &str, msg: String| {
        diags.push(Diagnostic::new(ctx.target, ctx.source, code, msg));
    };
    if !sections.done {
        diag(
            &mut diags,
            "linux.collection_incomplete",
            "the collection script did not run to its end".into(),
        );
    }
    for name in super::script::SECTIONS {
        match sections.get(name) {
            None => {
                if sections.done {
                    diag(
                        &mut diags,
                        "linux.section_missing",
                        format!("section `{name}` missing from the output"),
                    );
                }
            }
            Some(s) if s.status.is_none() => {
                complete = false;
                diag(
                    &mut diags,
                    "linux.section_cut",
                    format!("section `{name}` was cut off"),
                );
            }
            Some(s) if s.missing() => {
                if !OPTIONAL.contains(name) {
                    diag(
                        &mut diags,
                        "linux.command_missing",
                        format!("`{name}`: command not available"),
                    );
                }
            }
            Some(s) if s.status == Some(13) => {
                diag(
                    &mut diags,
                    "linux.permission_denied",
                    format!("`{name}`: some data needs more privileges"),
                );
            }
            Some(s) if !s.ok() => {
                // optional software that failed without saying anything: not worth a diagnostic
                if !(OPTIONAL.contains(name) && s.body.trim().is_empty()) {
                    diag(
                        &mut diags,
                        "linux.command_failed",
                        format!("`{name}` exited with status {}", s.status.unwrap_or(-1)),
                    );
                }
            }
            Some(_) => {}
        }
    }

    let mut obs = Observation::new(
        Source::new(ctx.source),
        ctx.run_id.clone(),
        Scope {
            targets: [ctx.target.to_string()].into_iter().collect(),
            complete: false,
        },
    );

    // ---- the device ----
    let mut dev = Record::new(DEVICE_KEY, CiClass::Host);
    let hostname = sections.body("hostname").and_then(parse::first_line);
    let fqdn = sections
        .body("fqdn")
        .and_then(parse::first_line)
        .filter(|f| f.contains('.') && !f.contains(' '));
    let short = hostname
        .as_deref()
        .or(fqdn.as_deref())
        .map(|h| h.split('.').next().unwrap_or(h).to_string());
    if let Some(s) = &short {
        dev = dev.name(s.clone()).ident("hostname", s.clone());
    }
    if let Some(f) = &fqdn {
        dev = dev.ident("fqdn", f.clone());
    }
    if let Some(body) = sections.body("dmi") {
        let dmi = parse::parse_kv(body);
        let get = |k: &str| dmi.get(k).filter(|v| !v.is_empty()).cloned();
        if let Some(v) = get("product_serial").or_else(|| get("chassis_serial")) {
            dev = dev.ident("serial_number", v);
        }
        for (attr, key) in [
            ("vendor", "sys_vendor"),
            ("model", "product_name"),
            ("product_uuid", "product_uuid"),
            ("firmware", "bios_version"),
        ] {
            if let Some(v) = get(key) {
                dev = dev.attr(attr, v);
            }
        }
        if !dmi.contains_key("product_serial") {
            diag(
                &mut diags,
                "linux.serial_unreadable",
                "DMI serial number not readable (needs root)".into(),
            );
        }
    }
    if let Some(body) = sections.body("os_release") {
        let os = parse::parse_kv(body);
        if let Some(v) = os.get("NAME") {
            dev = dev.attr("os_name", v.clone());
        }
        if let Some(v) = os.get("VERSION_ID").or_else(|| os.get("VERSION")) {
            dev = dev.attr("os_version", v.clone());
        }
        if let Some(v) = os.get("PRETTY_NAME") {
            dev = dev.attr("os_pretty_name", v.clone());
        }
        if let Some(v) = os.get("ID") {
            dev = dev.attr("os_id", v.clone());
        }
    }
    if let Some(u) = sections.body("uname").and_then(parse::parse_uname) {
        dev = dev
            .attr("kernel", u.kernel_release)
            .attr("architecture", u.machine)
            .attr("kernel_name", u.kernel_name);
    }
    if let Some(n) = sections
        .body("nproc")
        .and_then(parse::first_line)
        .and_then(|l| l.parse::<u64>().ok())
    {
        dev = dev.attr("cpu_count", n);
    }
    if let Some(m) = sections.body("cpuinfo").and_then(parse::parse_cpu_model) {
        dev = dev.attr("cpu_model", m);
    }
    if let Some(b) = sections
        .body("meminfo")
        .and_then(|t| parse::parse_meminfo(t, "MemTotal"))
    {
        dev = dev.attr("memory_bytes", b);
    }
    if let Some(u) = sections.body("uptime").and_then(parse::parse_uptime) {
        dev = dev.attr("uptime_seconds", u);
    }
    if let Some(body) = sections.body("df") {
        let (fss, bad) = parse::parse_df(body);
        if bad > 0 {
            diag(
                &mut diags,
                "linux.parse_error",
                format!("df: {bad} unparsable lines"),
            );
        }
        let arr: Vec<Value> = fss
            .iter()
            .map(|f| json!({"mount_point": f.mount_point, "fs_type": f.fs_type, "source": f.source, "size_bytes": f.size_bytes, "used_bytes": f.used_bytes}))
            .collect();
        dev = dev.attr("filesystems", arr);
    }
    if let Some(ip) = ctx.management_ip {
        dev = dev.attr("management_ip", ip.to_string());
    }
    if let Some(body) = sections.body("ip_route") {
        match parse::parse_ip_routes(body) {
            Ok(routes) => {
                if let Some(gw) = routes
                    .iter()
                    .find(|r| r.dst == "default")
                    .and_then(|r| r.gateway.clone())
                {
                    dev = dev.attr("default_gateway", gw);
                }
            }
            Err(e) => diag(&mut diags, "linux.parse_error", format!("ip route: {e}")),
        }
    }

    // ---- interfaces and addresses ----
    let virtual_ifs: BTreeSet<String> = sections
        .body("virtual_net")
        .map(|b| b.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let links: Vec<Link> = match sections
        .body("ip_addr")
        .or_else(|| sections.body("ip_link"))
    {
        Some(body) => match parse::parse_ip_links(body) {
            Ok(l) => l,
            Err(e) => {
                diag(&mut diags, "linux.parse_error", format!("ip addr: {e}"));
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let mut macs = BTreeSet::new();
    let mut host_ips = BTreeSet::new();
    let mut own_ips: BTreeSet<IpAddr> = BTreeSet::new();
    let mut if_records = Vec::new();
    let mut ip_records = Vec::new();
    let mut rels = Vec::new();
    for l in &links {
        let key = format!("if:{}", l.if_name);
        let mut r = Record::new(&key, CiClass::Interface)
            .name(l.if_name.clone())
            .parent(DEVICE_KEY)
            .ident("if_name", l.if_name.clone());
        if let Some(m) = l.mac.as_deref().filter(|m| valid_mac(m)) {
            r = r.ident("mac_address", m.to_string());
            let physical = l.link_type.as_deref() == Some("ether")
                && !virtual_ifs.contains(&l.if_name)
                && !is_container_bridge(&l.if_name);
            if physical {
                macs.insert(m.to_string());
            }
        }
        if let Some(i) = l.if_index {
            r = r.ident("if_index", i);
        }
        if let Some(t) = &l.link_type {
            r = r.attr("if_type", t.clone());
        }
        if let Some(m) = l.mtu {
            r = r.attr("mtu", m);
        }
        if let Some(s) = &l.oper_state {
            r = r.attr("oper_status", s.clone());
        }
        r = r.attr("admin_status", if l.admin_up { "up" } else { "down" });
        if let Some(a) = &l.alias {
            r = r.attr("if_alias", a.clone());
        }
        if_records.push(r);
        for a in &l.addrs {
            own_ips.insert(parse::canonical_ip(a.address));
            if !usable_ip(&a.address) || is_container_bridge(&l.if_name) {
                continue;
            }
            let text = a.address.to_string();
            host_ips.insert(text.clone());
            let ikey = format!("ip:{text}");
            if !ip_records.iter().any(|r: &Record| r.key == ikey) {
                ip_records.push(
                    Record::new(&ikey, CiClass::IpAddress)
                        .name(text.clone())
                        .ident("address", text.clone())
                        .attr("prefix_length", a.prefix_len)
                        .attr("version", if a.address.is_ipv4() { 4 } else { 6 }),
                );
            }
            rels.push(RelationshipObs::new(
                RelType::HasIp,
                &key,
                &ikey,
                EvidenceKind::Inventory,
                1.0,
            ));
        }
    }
    if !macs.is_empty() {
        dev = dev.ident("mac_addresses", macs.into_iter().collect::<Vec<_>>());
    }
    if !host_ips.is_empty() {
        dev = dev.ident("ip_addresses", host_ips.iter().cloned().collect::<Vec<_>>());
    }
    if dev.identifiers.is_empty() {
        diag(
            &mut diags,
            "linux.no_identity",
            "no hostname, serial, MAC or address could be read".into(),
        );
    }
    obs.push(dev);
    for r in if_records.into_iter().chain(ip_records) {
        obs.push(r);
    }

    // ---- processes, sockets, dependencies ----
    let (procs, bad) = sections.body("ps").map(parse::parse_ps).unwrap_or_default();
    if bad > 0 {
        diag(
            &mut diags,
            "linux.parse_error",
            format!("ps: {bad} unparsable lines"),
        );
    }
    let procs: BTreeMap<u32, Proc> = procs.into_iter().map(|p| (p.pid, p)).collect();
    let comms = sections
        .body("comm")
        .map(parse::parse_pid_map)
        .unwrap_or_default();
    let units = sections
        .body("ps_unit")
        .map(parse::parse_pid_map)
        .unwrap_or_default();
    let (sockets, bad) = sections.body("ss").map(parse::parse_ss).unwrap_or_default();
    if bad > 0 {
        diag(
            &mut diags,
            "linux.parse_error",
            format!("ss: {bad} unparsable lines"),
        );
    }
    let mut procs_out = ProcTable::default();

    // listening endpoints
    let mut listeners: BTreeMap<(String, u16), Listener> = BTreeMap::new();
    for s in &sockets {
        let listening = (s.protocol == "tcp" && s.state == "LISTEN")
            || (s.protocol == "udp"
                && s.state == "UNCONN"
                && s.peer_ip.is_none()
                && s.local_port < 32768);
        if !listening {
            continue;
        }
        let e = listeners
            .entry((s.protocol.clone(), s.local_port))
            .or_default();
        e.0.insert(
            s.local_ip
                .map(|i| i.to_string())
                .unwrap_or_else(|| "*".into()),
        );
        e.1.extend(s.users.iter().cloned());
    }
    let mut endpoint_keys = BTreeSet::new();
    let mut missing_owner = 0usize;
    for ((proto, port), (binds, users)) in &listeners {
        let key = format!("ep:{proto}:{port}");
        obs.push(
            Record::new(&key, CiClass::ListeningEndpoint)
                .name(format!("{proto}/{port}"))
                .parent(DEVICE_KEY)
                .ident("protocol", proto.clone())
                .ident("port", *port)
                .attr("bind_addresses", binds.iter().cloned().collect::<Vec<_>>()),
        );
        endpoint_keys.insert(key.clone());
        if users.is_empty() {
            missing_owner += 1;
        }
        let mut seen = BTreeSet::new();
        for (comm, pid) in users {
            if let Some(pk) = procs_out.key_for(*pid, comm, &procs, &comms, &units) {
                if seen.insert(pk.clone()) {
                    rels.push(RelationshipObs::new(
                        RelType::ListensOn,
                        pk,
                        &key,
                        EvidenceKind::Socket,
                        0.9,
                    ));
                }
            }
        }
    }

    // outbound connections, aggregated per (process, remote ip, port)
    let tcp_listen_ports: BTreeSet<u16> = listeners
        .keys()
        .filter(|(p, _)| p == "tcp")
        .map(|(_, port)| *port)
        .collect();
    // Connections `ss` shows without an owner (not root: other users' sockets) belong to the
    // host: recorded as host-level evidence, which reconciliation hands to the owning process
    // when another probe (or a later run) knows it.
    let mut conns: BTreeMap<(String, IpAddr, u16), u64> = BTreeMap::new();
    for s in sockets
        .iter()
        .filter(|s| s.protocol == "tcp" && s.state == "ESTAB")
    {
        let (Some(pip), Some(pport)) = (s.peer_ip, s.peer_port) else {
            continue;
        };
        if tcp_listen_ports.contains(&s.local_port) {
            continue; // we are the server side: the client's port is ephemeral, not an endpoint
        }
        let owner = match s.users.first() {
            Some((comm, pid)) => procs_out.key_for(*pid, comm, &procs, &comms, &units),
            None => {
                missing_owner += 1;
                None
            }
        };
        *conns
            .entry((owner.unwrap_or_else(|| DEVICE_KEY.to_string()), pip, pport))
            .or_default() += 1;
    }
    if missing_owner > 0 {
        diag(
            &mut diags,
            "linux.socket_owner_unknown",
            format!("{missing_owner} sockets without a visible owning process (needs root)"),
        );
    }
    let mut remote_devices = BTreeSet::new();
    for ((pk, ip, port), count) in conns {
        let local = ip.is_loopback() || own_ips.contains(&ip);
        let ep_key = if local {
            let k = format!("ep:tcp:{port}");
            if endpoint_keys.insert(k.clone()) {
                obs.push(
                    Record::new(&k, CiClass::ListeningEndpoint)
                        .name(format!("tcp/{port}"))
                        .parent(DEVICE_KEY)
                        .ident("protocol", "tcp")
                        .ident("port", port)
                        .placeholder(),
                );
            }
            k
        } else {
            let dkey = format!("remote:{ip}");
            if remote_devices.insert(dkey.clone()) {
                obs.push(
                    Record::new(&dkey, CiClass::Host)
                        .name(ip.to_string())
                        .ident("ip_addresses", vec![ip.to_string()])
                        .placeholder(),
                );
            }
            let k = format!("remote:{ip}:tcp:{port}");
            if endpoint_keys.insert(k.clone()) {
                obs.push(
                    Record::new(&k, CiClass::ListeningEndpoint)
                        .name(format!("tcp/{port}"))
                        .parent(dkey)
                        .ident("protocol", "tcp")
                        .ident("port", port)
                        .placeholder(),
                );
            }
            k
        };
        let mut rel = if pk == DEVICE_KEY {
            RelationshipObs::new(
                RelType::CommunicatesWith,
                pk,
                ep_key,
                EvidenceKind::HostSocket,
                0.5,
            )
        } else {
            RelationshipObs::new(RelType::ConnectsTo, pk, ep_key, EvidenceKind::Socket, 0.5)
        };
        rel.attributes
            .insert("remote_ip".into(), json!(ip.to_string()));
        rel.attributes.insert("remote_port".into(), json!(port));
        rel.attributes.insert("connections".into(), json!(count));
        rels.push(rel);
    }
    for r in procs_out.records {
        obs.push(r);
    }

    // ---- packages ----
    for (mgr, section) in [("dpkg", "dpkg"), ("rpm", "rpm")] {
        let Some(body) = sections.body(section) else {
            continue;
        };
        let (pkgs, bad) = parse::parse_packages(body);
        if bad > 0 {
            diag(
                &mut diags,
                "linux.parse_error",
                format!("{section}: {bad} unparsable lines"),
            );
        }
        let mut seen = BTreeSet::new();
        for p in pkgs {
            if !seen.insert(p.name.clone()) {
                continue;
            }
            let mut r = Record::new(format!("pkg:{mgr}:{}", p.name), CiClass::SoftwarePackage)
                .name(p.name.clone())
                .parent(DEVICE_KEY)
                .ident("package_manager", mgr)
                .ident("package_name", p.name.clone())
                .attr("version", p.version);
            if !p.arch.is_empty() {
                r = r.attr("architecture", p.arch);
            }
            obs.push(r);
        }
    }

    // ---- containers ----
    for runtime in ["docker", "podman"] {
        let Some(body) = sections.body(runtime) else {
            continue;
        };
        let (cs, bad) = parse::parse_containers(body);
        if bad > 0 {
            diag(
                &mut diags,
                "linux.parse_error",
                format!("{runtime}: {bad} unparsable lines"),
            );
        }
        for c in cs {
            let id = if c.id.is_empty() {
                c.name.clone()
            } else {
                c.id.to_ascii_lowercase()
            };
            let mut r = Record::new(format!("ctr:{runtime}:{id}"), CiClass::Container)
                .name(if c.name.is_empty() {
                    id.clone()
                } else {
                    c.name.clone()
                })
                .parent(DEVICE_KEY)
                .ident("runtime", runtime)
                .attr("image", c.image)
                .attr("state", c.state);
            if !c.id.is_empty() {
                r = r.ident("container_id", c.id.to_ascii_lowercase());
            }
            if !c.name.is_empty() {
                r = r.ident("container_name", c.name);
            }
            obs.push(r);
        }
    }

    obs.relationships = rels;
    obs.scope.complete = complete;
    Transformed {
        observation: obs,
        diagnostics: diags,
    }
}

/// Bound addresses and (command, pid) owners of one listening (protocol, port).
type Listener = (BTreeSet<String>, Vec<(String, u32)>);

/// The program a command line runs: the first word, without path and without the `:` that
/// process titles such as `nginx: master process` or `postgres: walreceiver` add.
pub(crate) fn program_name(args: &str) -> String {
    let first = args.split_whitespace().next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    base.trim_end_matches(':').to_string()
}

/// Processes worth a CI: the ones holding sockets, each collapsed to the top of its tree of
/// same-named processes (nginx workers → the nginx master), deduplicated by identity.
#[derive(Default)]
struct ProcTable {
    by_identity: BTreeMap<(String, String), String>,
    records: Vec<Record>,
}

impl ProcTable {
    fn key_for(
        &mut self,
        pid: u32,
        ss_comm: &str,
        procs: &BTreeMap<u32, Proc>,
        comms: &BTreeMap<u32, String>,
        units: &BTreeMap<u32, String>,
    ) -> Option<String> {
        // A process's name for walking up its tree: `comm` when recorded, else the program
        // named by its arguments (`nginx: worker process` → nginx, `/usr/bin/java …` → java).
        let name_of = |p: u32| -> Option<String> {
            comms
                .get(&p)
                .cloned()
                .or_else(|| procs.get(&p).map(|x| program_name(&x.args)))
        };
        let mut rep = pid;
        let exe = comms
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| ss_comm.to_string());
        let mut me = name_of(pid);
        for _ in 0..64 {
            let Some(p) = procs.get(&rep) else { break };
            if p.ppid == 0 || p.ppid == rep {
                break;
            }
            match (name_of(p.ppid), &me) {
                (Some(parent), Some(mine)) if &parent == mine => rep = p.ppid,
                _ => break,
            }
            me = name_of(rep);
        }
        let proc = procs.get(&rep);
        let args = proc
            .map(|p| p.args.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| exe.clone());
        let identity = (exe.clone(), args.clone());
        if let Some(k) = self.by_identity.get(&identity) {
            return Some(k.clone());
        }
        let key = format!("proc:{rep}");
        let mut r = Record::new(&key, CiClass::Process)
            .name(exe.clone())
            .parent(DEVICE_KEY)
            .ident("executable", exe)
            .ident("command_line", args)
            .attr("pid", rep);
        if let Some(p) = proc {
            r = r.attr("user", p.user.clone());
        }
        if let Some(u) = units.get(&rep).filter(|u| u.ends_with(".service")) {
            r = r.ident("service_unit", u.clone());
        }
        self.records.push(r);
        self.by_identity.insert(identity, key.clone());
        Some(key)
    }
}

#[cfg(test)]
mod tests;
