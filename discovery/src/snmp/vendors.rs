//! Vendor from the sysObjectID enterprise number, and model / OS parsed from sysDescr.

/// `(enterprise number, vendor, is a network-equipment vendor)`. The flag is a classification
/// hint only: ENTITY/BRIDGE/LLDP data and sysServices decide when it is `false`.
pub const ENTERPRISES: &[(u32, &str, bool)] = &[
    (2, "IBM", false),
    (9, "Cisco", true),
    (11, "HPE", false),
    (43, "3Com", true),
    (171, "D-Link", true),
    (232, "HPE", false),
    (311, "Microsoft", false),
    (318, "APC", false),
    (674, "Dell", false),
    (789, "NetApp", false),
    (890, "Zyxel", true),
    (1916, "Extreme Networks", true),
    (1991, "Brocade", true),
    (2011, "Huawei", true),
    (2021, "Net-SNMP", false),
    (2636, "Juniper Networks", true),
    (3375, "F5 Networks", true),
    (4526, "Netgear", true),
    (6027, "Dell EMC Networking", true),
    (6486, "Alcatel-Lucent", true),
    (6527, "Nokia", true),
    (6876, "VMware", false),
    (8072, "Net-SNMP", false),
    (9303, "Ruckus", true),
    (11863, "TP-Link", true),
    (12356, "Fortinet", true),
    (14179, "Cisco", true),
    (14823, "Aruba", true),
    (14988, "MikroTik", true),
    (25461, "Palo Alto Networks", true),
    (25506, "H3C", true),
    (26543, "IBM", true),
    (30065, "Arista Networks", true),
    (30803, "Vyatta", true),
    (41112, "Ubiquiti", true),
    (534, "Eaton", false),
    (705, "Eaton", false),
];

/// Enterprise number of a sysObjectID under `1.3.6.1.4.1`.
pub fn enterprise_number(sys_object_id: &[u32]) -> Option<u32> {
    match sys_object_id {
        [1, 3, 6, 1, 4, 1, n, ..] => Some(*n),
        _ => None,
    }
}

pub fn vendor(sys_object_id: &[u32]) -> Option<(&'static str, bool)> {
    let n = enterprise_number(sys_object_id)?;
    ENTERPRISES
        .iter()
        .find(|(e, _, _)| *e == n)
        .map(|(_, v, net)| (*v, *net))
}

/// What sysDescr says about the OS.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DescrInfo {
    pub os_name: Option<String>,
    pub os_version: Option<String>,
    pub model: Option<String>,
    pub kernel: Option<String>,
}

fn word_after<'a>(s: &'a str, marker: &str) -> Option<&'a str> {
    let lower = s.to_ascii_lowercase();
    let i = lower.find(&marker.to_ascii_lowercase())?;
    let rest = s.get(i + marker.len()..)?.trim_start();
    let w = rest.split(|c: char| c.is_whitespace() || c == ',').next()?;
    (!w.is_empty()).then_some(w)
}

/// Best-effort parse of the common sysDescr shapes (Linux, Windows, Cisco IOS/NX-OS, JUNOS,
/// H3C/Huawei VRP, D-Link, NetApp). Unknown shapes give an empty result.
pub fn parse_sys_descr(descr: &str) -> DescrInfo {
    let mut d = DescrInfo::default();
    let lower = descr.to_ascii_lowercase();
    if lower.starts_with("linux ") {
        d.os_name = Some("Linux".into());
        // "Linux host 5.10.0-21-amd64 #1 SMP … x86_64"
        d.kernel = descr.split_whitespace().nth(2).map(str::to_string);
        d.os_version = d.kernel.clone();
    } else if lower.contains("windows") {
        d.os_name = Some("Windows".into());
        d.os_version = word_after(descr, "Windows Version").map(str::to_string);
    } else if lower.contains("cisco nx-os") || lower.contains("nx-os") {
        d.os_name = Some("NX-OS".into());
        d.os_version = word_after(descr, "Version").map(str::to_string);
        d.model = word_after(descr, "Software (").map(|s| s.trim_end_matches(')').to_string());
    } else if lower.contains("cisco ios") || lower.contains("cisco internetwork operating system") {
        d.os_name = Some(
            if lower.contains("ios-xe") || lower.contains("ios xe") {
                "IOS-XE"
            } else {
                "IOS"
            }
            .into(),
        );
        d.os_version = word_after(descr, "Version").map(str::to_string);
        // "C3560 Software (C3560-IPSERVICESK9-M)" → C3560
        if let Some(i) = descr.find(" Software (") {
            let before = &descr[..i];
            d.model = before
                .rsplit([',', ' '])
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_string);
        }
    } else if lower.contains("junos") || lower.starts_with("juniper") {
        d.os_name = Some("JUNOS".into());
        d.os_version = word_after(descr, "JUNOS").map(str::to_string);
        d.model = word_after(descr, "Inc.").map(str::to_string);
    } else if lower.contains("versatile routing platform") || lower.contains("vrp") {
        d.os_name = Some("VRP".into());
        d.os_version = word_after(descr, "Version").map(|s| s.trim_end_matches(')').to_string());
    } else if lower.contains("comware") {
        d.os_name = Some("Comware".into());
        d.os_version = word_after(descr, "Version").map(str::to_string);
    } else if lower.contains("netapp") {
        d.os_name = Some("ONTAP".into());
        d.os_version = word_after(descr, "Release").map(|s| s.trim_end_matches(':').to_string());
    } else if lower.contains("vyatta") || lower.contains("vyos") {
        d.os_name = Some("Vyatta".into());
        d.os_version = word_after(descr, "Vyatta").map(str::to_string);
    } else if lower.contains("sunos") || lower.contains("solaris") {
        d.os_name = Some("SunOS".into());
        d.os_version = word_after(descr, "SunOS")
            .and_then(|_| descr.split_whitespace().nth(2))
            .map(str::to_string);
    }
    if d.model.is_none() {
        // D-Link / many switches: the model is the first word of sysDescr ("DES-3200-28 Fast Ethernet Switch")
        let first = descr.split_whitespace().next().unwrap_or("");
        if first.contains('-')
            && first.chars().any(|c| c.is_ascii_digit())
            && !lower.starts_with("linux")
        {
            d.model = Some(first.to_string());
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors() {
        assert_eq!(
            vendor(&[1, 3, 6, 1, 4, 1, 9, 1, 516]),
            Some(("Cisco", true))
        );
        assert_eq!(
            vendor(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10]),
            Some(("Net-SNMP", false))
        );
        assert_eq!(vendor(&[1, 3, 6, 1, 2, 1]), None);
    }

    #[test]
    fn descr_shapes() {
        let c = parse_sys_descr("Cisco IOS Software, C3560 Software (C3560-IPSERVICESK9-M), Version 12.2(35)SE5, RELEASE SOFTWARE (fc1)");
        assert_eq!(c.os_name.as_deref(), Some("IOS"));
        assert_eq!(c.os_version.as_deref(), Some("12.2(35)SE5"));
        assert_eq!(c.model.as_deref(), Some("C3560"));
        let l = parse_sys_descr("Linux web1 5.10.0-21-amd64 #1 SMP Debian x86_64");
        assert_eq!(l.os_name.as_deref(), Some("Linux"));
        assert_eq!(l.kernel.as_deref(), Some("5.10.0-21-amd64"));
        let w = parse_sys_descr(
            "Hardware: x86 Family 6 - Software: Windows Version 5.2 (Build 3790 Uniprocessor Free)",
        );
        assert_eq!(w.os_version.as_deref(), Some("5.2"));
        let j = parse_sys_descr(
            "Juniper Networks, Inc. mx960 internet router, kernel JUNOS 12.3R6.6, Build date: 2014",
        );
        assert_eq!(j.model.as_deref(), Some("mx960"));
        assert_eq!(j.os_version.as_deref(), Some("12.3R6.6"));
        assert_eq!(parse_sys_descr(""), DescrInfo::default());
    }
}
