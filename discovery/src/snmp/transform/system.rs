//! The device record from the system group and the ENTITY-MIB chassis, and the device's class.

use cmdb_model::{CiClass, Record};

use super::rows::{scalar, table, Row, Vbs};
use super::{Builder, DEVICE_KEY};
use crate::snmp::mib::{dot1d_base, dot1d_base_port_table, ent_physical_table as ent};
use crate::snmp::mib::{lldp_local, system};
use crate::snmp::value::Oid;
use crate::snmp::vendors;

/// The device as the system group and ENTITY-MIB describe it, and what classifying it needs.
pub(super) struct System {
    pub(super) device: Record,
    sys_services: Option<i64>,
    /// Vendor by sysObjectID, and whether that vendor only makes network devices.
    vendor: Option<(&'static str, bool)>,
}

/// Read the system group and the chassis into the device record.
pub(super) fn read(vbs: &Vbs, management_ip: Option<&str>, b: &mut Builder) -> System {
    let sys = |oid: &[u32]| scalar(vbs, oid);
    if sys(system::SYS_DESCR).is_none() && sys(system::SYS_NAME).is_none() {
        b.diag(
            "snmp.table_missing",
            "system group (SNMPv2-MIB) not readable",
        );
    }
    let sys_descr = sys(system::SYS_DESCR)
        .and_then(|v| v.as_text())
        .unwrap_or_default();
    let sys_oid = sys(system::SYS_OBJECT_ID).and_then(|v| v.as_oid()).cloned();
    let mut dev = system_group(
        vbs,
        Record::new(DEVICE_KEY, CiClass::Host),
        &sys_descr,
        &sys_oid,
    );
    if let Some(ip) = management_ip {
        dev = dev.attr("management_ip", ip.to_string());
    }
    let vendor = sys_oid.as_ref().and_then(|o| vendors::vendor(&o.0));
    if let Some((v, _)) = vendor {
        dev = dev.attr("vendor", v);
    }
    let dinfo = vendors::parse_sys_descr(&sys_descr);
    for (attr, value) in [
        ("os_name", &dinfo.os_name),
        ("os_version", &dinfo.os_version),
        ("kernel", &dinfo.kernel),
    ] {
        if let Some(v) = value {
            dev = dev.attr(attr, v.clone());
        }
    }
    let mut model = dinfo.model.clone();
    if let Some(c) = chassis(vbs) {
        dev = describe_chassis(dev, &c, vendor.is_some(), &mut model);
    }
    if let Some(m) = model {
        dev = dev.attr("model", m);
    }
    System {
        device: dev,
        sys_services: sys(system::SYS_SERVICES).and_then(|v| v.as_i64()),
        vendor,
    }
}

/// sysDescr, sysObjectID, sysUpTime, sysContact, sysLocation, and sysName as the device's
/// hostname (and FQDN when it has a domain) and short name.
fn system_group(vbs: &Vbs, mut dev: Record, sys_descr: &str, sys_oid: &Option<Oid>) -> Record {
    let text = |oid: &[u32]| {
        scalar(vbs, oid)
            .and_then(|v| v.as_text())
            .filter(|s| !s.is_empty())
    };
    if !sys_descr.is_empty() {
        dev = dev.attr("sys_descr", sys_descr.to_string());
    }
    if let Some(o) = sys_oid {
        dev = dev.attr("sys_object_id", o.to_string());
    }
    if let Some(t) = scalar(vbs, system::SYS_UP_TIME).and_then(|v| v.as_i64()) {
        dev = dev.attr("uptime_seconds", t / 100);
    }
    if let Some(s) = text(system::SYS_CONTACT) {
        dev = dev.attr("sys_contact", s);
    }
    if let Some(s) = text(system::SYS_LOCATION) {
        dev = dev.attr("sys_location", s);
    }
    if let Some(n) = text(system::SYS_NAME) {
        dev = dev.ident("hostname", n.clone());
        if n.contains('.') && !n.ends_with('.') {
            dev = dev.ident("fqdn", n.to_ascii_lowercase());
        }
        dev = dev.name(n.split('.').next().unwrap_or(&n).to_string());
    }
    dev
}

/// The chassis row of entPhysicalTable (else the stack).
fn chassis(vbs: &Vbs) -> Option<Row<'_>> {
    let mut rows = table(vbs, ent::TABLE);
    let key = rows
        .iter()
        .find(|(_, c)| c.int(ent::CLASS) == Some(ent::CLASS_CHASSIS))
        .or_else(|| {
            rows.iter()
                .find(|(_, c)| c.int(ent::CLASS) == Some(ent::CLASS_STACK))
        })
        .map(|(k, _)| k.clone())?;
    rows.remove(&key)
}

/// Serial, model, firmware, hardware revision and (when sysObjectID named none) the vendor.
fn describe_chassis(
    mut dev: Record,
    c: &Row<'_>,
    vendor_known: bool,
    model: &mut Option<String>,
) -> Record {
    if let Some(s) = c.text(ent::SERIAL_NUM) {
        dev = dev.ident("serial_number", s);
    }
    if let Some(m) = c.text(ent::MODEL_NAME) {
        *model = Some(m);
    } else if model.is_none() {
        *model = c.text(ent::DESCR);
    }
    if let Some(f) = c
        .text(ent::FIRMWARE_REV)
        .or_else(|| c.text(ent::SOFTWARE_REV))
    {
        dev = dev.attr("firmware", f);
    }
    if let Some(h) = c.text(ent::HARDWARE_REV) {
        dev = dev.attr("hardware_revision", h);
    }
    if let Some(m) = c.text(ent::MFG_NAME) {
        if !vendor_known {
            dev = dev.attr("vendor", m);
        }
    }
    dev
}

/// NetworkDevice for a network vendor, or a device without HOST-RESOURCES that bridges,
/// advertises bridge/router LLDP capabilities or layer 2/3 sysServices; Host otherwise.
pub(super) fn classify(vbs: &Vbs, sys: &System) -> CiClass {
    let has_bridge = !table(vbs, dot1d_base_port_table::TABLE).is_empty()
        || scalar(vbs, dot1d_base::NUM_PORTS)
            .and_then(|v| v.as_i64())
            .unwrap_or(0)
            > 0;
    let has_hr = super::host_resources::present(vbs);
    let lldp_caps = scalar(vbs, lldp_local::SYS_CAP_ENABLED)
        .and_then(|v| v.as_bytes())
        .and_then(|b| b.first().copied());
    // LLDP capability bits (first octet, MSB first): other, repeater, bridge, wlanAP, router, …
    let lldp_net = lldp_caps
        .map(|c| c & 0b0010_1000 != 0 && c & 0b0000_0001 == 0)
        .unwrap_or(false);
    let services_net = sys
        .sys_services
        .map(|s| s & 0x06 != 0 && s & 0x40 == 0)
        .unwrap_or(false);
    match sys.vendor {
        Some((_, true)) => CiClass::NetworkDevice,
        _ if has_bridge && !has_hr => CiClass::NetworkDevice,
        _ if lldp_net && !has_hr => CiClass::NetworkDevice,
        _ if services_net && !has_hr => CiClass::NetworkDevice,
        _ => CiClass::Host,
    }
}
