//! The device record: names, DMI, OS, kernel and hardware, filesystems, default gateway.

use std::net::IpAddr;

use cmdb_model::{CiClass, Record};
use serde_json::{json, Value};

use super::{Diags, DEVICE_KEY};
use crate::linux::parse;
use crate::linux::script::Sections;

/// The device as its own commands describe it (addresses and MACs come with the interfaces).
pub(super) fn device(
    sections: &Sections,
    management_ip: Option<IpAddr>,
    diags: &mut Diags<'_>,
) -> Record {
    let mut dev = names(sections, Record::new(DEVICE_KEY, CiClass::Host));
    if let Some(body) = sections.body("dmi") {
        dev = dmi(body, dev, diags);
    }
    if let Some(body) = sections.body("os_release") {
        dev = os_release(body, dev);
    }
    dev = hardware(sections, dev);
    if let Some(body) = sections.body("df") {
        let (fss, bad) = parse::parse_df(body);
        diags.unparsable("df", bad);
        let arr: Vec<Value> = fss
            .iter()
            .map(|f| json!({"mount_point": f.mount_point, "fs_type": f.fs_type, "source": f.source, "size_bytes": f.size_bytes, "used_bytes": f.used_bytes}))
            .collect();
        dev = dev.attr("filesystems", arr);
    }
    if let Some(ip) = management_ip {
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
            Err(e) => diags.push("linux.parse_error", format!("ip route: {e}")),
        }
    }
    dev
}

/// The short host name (name and `hostname`) and the FQDN when `hostname -f` gives one.
fn names(sections: &Sections, mut dev: Record) -> Record {
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
    dev
}

/// Serial number, vendor, model, UUID and firmware from `/sys/class/dmi/id`.
fn dmi(body: &str, mut dev: Record, diags: &mut Diags<'_>) -> Record {
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
        diags.push(
            "linux.serial_unreadable",
            "DMI serial number not readable (needs root)",
        );
    }
    dev
}

/// OS name, version, pretty name and id from `/etc/os-release`.
fn os_release(body: &str, mut dev: Record) -> Record {
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
    dev
}

/// Kernel, architecture, CPUs, memory and uptime.
fn hardware(sections: &Sections, mut dev: Record) -> Record {
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
    dev
}
