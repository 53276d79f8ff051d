//! Identifier normalisation and identifier keys.
//!
//! An identifier key is `family|parent|rule|value`: the namespace a value identifies a CI in.
//! Dependent classes carry their parent's id, so `eth0` identifies one interface per device.

use serde_json::Value;
use std::net::IpAddr;

use crate::class::{CiClass, IdentRule, MatchMode, Normalize};
use crate::ids::CiId;

/// Serial numbers vendors ship as placeholders; they identify nothing.
const JUNK_SERIALS: &[&str] = &[
    "",
    "0",
    "00000000",
    "0000000000",
    "0123456789",
    "1234567890",
    "123456789",
    "NONE",
    "N/A",
    "NA",
    "NULL",
    "UNKNOWN",
    "DEFAULT STRING",
    "TO BE FILLED BY O.E.M.",
    "NOT SPECIFIED",
    "NOT APPLICABLE",
    "SYSTEM SERIAL NUMBER",
    "CHASSIS SERIAL NUMBER",
    "INVALID",
    "XXXXXXXXXX",
];

/// Normalise one scalar identifier value; `None` when it cannot identify anything.
pub fn normalize(value: &Value, how: Normalize) -> Option<String> {
    let raw = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    if raw.is_empty() {
        return None;
    }
    match how {
        Normalize::Exact => Some(raw),
        Normalize::Lower => Some(raw.to_lowercase()),
        Normalize::Serial => {
            let up = raw.to_uppercase();
            if JUNK_SERIALS.contains(&up.as_str()) || up.chars().all(|c| c == '0' || c == ' ') {
                None
            } else {
                Some(up)
            }
        }
        Normalize::Mac => normalize_mac(&raw),
        Normalize::ShortName => {
            let s = raw.trim_end_matches('.').to_lowercase();
            let short = s.split('.').next().unwrap_or("").to_string();
            if short.is_empty() || short == "localhost" {
                None
            } else {
                Some(short)
            }
        }
        Normalize::Fqdn => {
            let s = raw.trim_end_matches('.').to_lowercase();
            if !s.contains('.') || s.starts_with("localhost") || s.parse::<IpAddr>().is_ok() {
                None
            } else {
                Some(s)
            }
        }
        Normalize::Ip => normalize_ip(&raw),
        Normalize::IfName => Some(canonical_if_name(&raw)),
        Normalize::Command => Some(canonical_command(&raw)).filter(|c| !c.is_empty()),
    }
}

/// Vendor spellings of interface-type prefixes → one canonical (lower-case, long) form.
/// Abbreviations (`Gi`, `Te`, `Eth`) and long forms (`GigabitEthernet`, `TenGigabitEthernet`,
/// `Ethernet`) name the same port in ifName, ifDescr, CDP and LLDP.
const IF_PREFIXES: &[(&[&str], &str)] = &[
    (&["fa", "fastethernet"], "fastethernet"),
    (
        &["gi", "gig", "ge", "gigabitethernet", "gigethernet"],
        "gigabitethernet",
    ),
    (
        &[
            "te",
            "ten",
            "xge",
            "tengigabitethernet",
            "ten-gigabitethernet",
            "tengige",
        ],
        "tengigabitethernet",
    ),
    (
        &["twe", "twentyfivegige", "twentyfivegigabitethernet"],
        "twentyfivegige",
    ),
    (
        &["fo", "fortygige", "fortygigabitethernet"],
        "fortygigabitethernet",
    ),
    (
        &["hu", "hundredgige", "hundredgigabitethernet"],
        "hundredgige",
    ),
    (&["et", "eth", "ethernet"], "ethernet"),
    (&["po", "port-channel", "portchannel"], "port-channel"),
    (&["vl", "vlan"], "vlan"),
    (&["lo", "loopback"], "loopback"),
    (&["tu", "tunnel"], "tunnel"),
    (&["mgmt", "management"], "mgmt"),
];

/// The name an interface is identified by. Network gear names one port several ways
/// (`Gi1/0/1` in ifName, `GigabitEthernet1/0/1` in ifDescr and in a neighbour's CDP/LLDP
/// port id); those become one name: the canonical type prefix and the numbering, lower-case.
/// Only names that look like a network device's (a `/` in the numbering, or a capitalised type
/// prefix) are rewritten, so Linux names (`eth0`, `ens3`, `bond0`) stay exactly what they are.
pub fn canonical_if_name(raw: &str) -> String {
    let name = raw.trim();
    let vendor_style = name.contains('/') || name.starts_with(|c: char| c.is_ascii_uppercase());
    let split = name
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(name.len());
    let (prefix, rest) = name.split_at(split);
    let prefix_l = prefix.trim().to_ascii_lowercase();
    if vendor_style && !rest.is_empty() {
        if let Some((_, canon)) = IF_PREFIXES
            .iter()
            .find(|(names, _)| names.contains(&prefix_l.as_str()))
        {
            return format!("{canon}{rest}").to_ascii_lowercase();
        }
    }
    name.to_string()
}

/// Characters of a command line that identify a process: HOST-RESOURCES-MIB keeps at most 128
/// octets of a process's path and of its parameters, so nothing beyond that can be compared
/// between SNMP and SSH.
pub const COMMAND_IDENTITY_CHARS: usize = 128;

/// The part of a command line that identifies a process: whitespace collapsed, cut to
/// [`COMMAND_IDENTITY_CHARS`], and volatile process-title parts removed (sshd's listener
/// retitles itself `… [listener] 1 of 10-100 startups` while a client connects). Two processes
/// of one executable on one host whose command lines agree this far are one CI.
pub fn canonical_command(raw: &str) -> String {
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = collapsed.chars().take(COMMAND_IDENTITY_CHARS).collect();
    let stable = match cut.find(" [listener]") {
        Some(i) => &cut[..i],
        None => cut.as_str(),
    };
    stable.trim().to_string()
}

/// `aa:bb:cc:dd:ee:ff` from common spellings (`AA-BB-…`, `aabb.ccdd.eeff`, `0xAABBCC…`, `aabbcc…`).
/// All-zero, broadcast, multicast, Docker-bridge and virtual-router addresses are rejected.
pub fn normalize_mac(raw: &str) -> Option<String> {
    let hex: String = raw
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect();
    let cleaned_len = raw
        .trim()
        .trim_start_matches("0x")
        .trim_start_matches("0X")
        .len();
    // Reject strings that had non-separator garbage in them.
    let separators = raw
        .chars()
        .filter(|c| matches!(c, ':' | '-' | '.' | ' '))
        .count();
    if hex.len() != 12 || hex.len() + separators != cleaned_len {
        return None;
    }
    let bytes: Vec<u8> = (0..6)
        .filter_map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).ok())
        .collect();
    if bytes.len() != 6 || bytes.iter().all(|b| *b == 0) || bytes.iter().all(|b| *b == 0xff) {
        return None;
    }
    if bytes[0] & 0x01 != 0 {
        return None; // multicast
    }
    // Addresses many machines share: Docker bridge MACs, VRRP/HSRP virtual routers.
    // (Locally administered addresses in general are kept: KVM guests use 52:54:00:…, and
    // probes only report the MACs of physical interfaces anyway.)
    let shared = (bytes[0] == 0x02 && bytes[1] == 0x42)
        || (bytes[0..5] == [0x00, 0x00, 0x5e, 0x00, 0x01])
        || (bytes[0..5] == [0x00, 0x00, 0x0c, 0x07, 0xac]);
    if shared {
        return None;
    }
    Some(
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The identifier keys under which CIs holding this IP address are indexed — a device's
/// `ip_addresses`, an IpAddress's `address` — which is how an IP filter finds them.
pub fn ip_address_keys(ip: &str) -> [String; 2] {
    let norm = normalize_ip(ip).unwrap_or_else(|| ip.trim().to_lowercase());
    [
        format!("device||ip_addresses|{norm}"),
        format!("IpAddress||address|{norm}"),
    ]
}

/// Canonical IP text; loopback, unspecified, link-local and multicast rejected.
pub fn normalize_ip(raw: &str) -> Option<String> {
    let ip: IpAddr = raw.split('/').next()?.trim().parse().ok()?;
    let bad = match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    if bad {
        None
    } else {
        Some(ip.to_string())
    }
}

/// The normalised values a record offers for a rule: one combined value for `All`, one per
/// element for `AnyElement`. Empty when the rule cannot be applied.
pub fn rule_values(rule: &IdentRule, lookup: &dyn Fn(&str) -> Option<Value>) -> Vec<String> {
    match rule.mode {
        MatchMode::All => {
            let mut parts = Vec::with_capacity(rule.attributes.len());
            for a in rule.attributes {
                match lookup(a)
                    .as_ref()
                    .and_then(|v| normalize(v, rule.normalize))
                {
                    Some(v) => parts.push(v),
                    None => return Vec::new(),
                }
            }
            vec![parts.join("|")]
        }
        MatchMode::AnyElement => {
            let attr = rule.attributes[0];
            let mut out: Vec<String> = match lookup(attr) {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| normalize(v, rule.normalize))
                    .collect(),
                Some(v) => normalize(&v, rule.normalize).into_iter().collect(),
                None => Vec::new(),
            };
            out.sort();
            out.dedup();
            out
        }
    }
}

/// `family|parent|rule|value`.
pub fn identifier_key(
    class: CiClass,
    parent: Option<&CiId>,
    rule: &IdentRule,
    value: &str,
) -> String {
    format!(
        "{}|{}|{}|{}",
        class.family(),
        parent.map(CiId::as_str).unwrap_or(""),
        rule.name,
        value
    )
}

/// The parts of an identifier key `family|parent|rule|value` (see [`identifier_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentifierKeyParts<'a> {
    /// The class family (`device`, `Interface`, …; see [`CiClass::family`]).
    pub family: &'a str,
    /// The parent a dependent CI is identified within; `None` for classes identified on
    /// their own.
    pub parent: Option<&'a str>,
    /// The identification rule's name (`serial_number`, `mac_address`, …).
    pub rule: &'a str,
    /// The normalised value (rules over several attributes join them with `|`).
    pub value: &'a str,
}

/// The rule names of a class family (`None` for a family this build does not know).
fn family_rules(family: &str) -> Option<&'static [IdentRule]> {
    CiClass::ALL
        .iter()
        .find(|c| c.family() == family)
        .map(|c| c.rules().rules)
}

/// Split an identifier key into its parts: the one place that reads keys back.
///
/// The family never contains `|`; values may (rules over several attributes join them with
/// `|`), and so may a parent id a user chose. The rule is therefore found as the first
/// `|`-delimited segment after the family that names one of the family's rules; for a family
/// or rule this build does not know, the key is read as `family|parent|rule|value` split at its
/// first three `|`. `None` for text that is not a key (fewer than four parts).
pub fn parse_identifier_key(key: &str) -> Option<IdentifierKeyParts<'_>> {
    let (family, rest) = key.split_once('|')?;
    let split_at = |i: usize| -> Option<(&str, &str, &str)> {
        let parent = &rest[..i];
        let (rule, value) = rest[i + 1..].split_once('|')?;
        Some((parent, rule, value))
    };
    let bars: Vec<usize> = rest.match_indices('|').map(|(i, _)| i).collect();
    let known = family_rules(family).and_then(|rules| {
        bars.iter()
            .find_map(|&i| split_at(i).filter(|(_, rule, _)| rules.iter().any(|r| r.name == *rule)))
    });
    let (parent, rule, value) = match known {
        Some(parts) => parts,
        None => split_at(*bars.first()?)?,
    };
    Some(IdentifierKeyParts {
        family,
        parent: Some(parent).filter(|p| !p.is_empty()),
        rule,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn macs() {
        assert_eq!(
            normalize_mac("00:1A:2b:3c:4d:5e").as_deref(),
            Some("00:1a:2b:3c:4d:5e")
        );
        assert_eq!(
            normalize_mac("001a.2b3c.4d5e").as_deref(),
            Some("00:1a:2b:3c:4d:5e")
        );
        assert_eq!(
            normalize_mac("00-1A-2B-3C-4D-5E").as_deref(),
            Some("00:1a:2b:3c:4d:5e")
        );
        assert_eq!(
            normalize_mac("0x001A2B3C4D5E").as_deref(),
            Some("00:1a:2b:3c:4d:5e")
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("ff:ff:ff:ff:ff:ff"), None);
        assert_eq!(
            normalize_mac("02:42:ac:11:00:02"),
            None,
            "docker bridge MAC"
        );
        assert_eq!(
            normalize_mac("00:00:5e:00:01:0a"),
            None,
            "VRRP virtual router"
        );
        assert_eq!(
            normalize_mac("52:54:00:12:34:56").as_deref(),
            Some("52:54:00:12:34:56"),
            "KVM guests keep theirs"
        );
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None, "multicast");
        assert_eq!(normalize_mac("zz:1a:2b:3c:4d:5e"), None);
        assert_eq!(normalize_mac("001a2b3c4d5e77"), None);
    }

    #[test]
    fn serials_and_names() {
        assert_eq!(
            normalize(&json!(" abc123 "), Normalize::Serial).as_deref(),
            Some("ABC123")
        );
        assert_eq!(
            normalize(&json!("To be filled by O.E.M."), Normalize::Serial),
            None
        );
        assert_eq!(normalize(&json!("0000000"), Normalize::Serial), None);
        assert_eq!(
            normalize(&json!("Web1.Example.COM."), Normalize::ShortName).as_deref(),
            Some("web1")
        );
        assert_eq!(
            normalize(&json!("Web1.Example.COM."), Normalize::Fqdn).as_deref(),
            Some("web1.example.com")
        );
        assert_eq!(normalize(&json!("web1"), Normalize::Fqdn), None);
        assert_eq!(normalize(&json!("localhost"), Normalize::ShortName), None);
        assert_eq!(
            normalize(&json!(5432), Normalize::Lower).as_deref(),
            Some("5432")
        );
    }

    #[test]
    fn interface_names_long_and_short_are_one() {
        for (a, b) in [
            ("Gi1/0/1", "GigabitEthernet1/0/1"),
            ("Te1/1/1", "TenGigabitEthernet1/1/1"),
            ("Eth1/48", "Ethernet1/48"),
            ("Fa0/1", "FastEthernet0/1"),
            ("Po1", "Port-channel1"),
            ("Vl100", "Vlan100"),
            ("GE1/0/1", "GigabitEthernet1/0/1"),
            ("XGE1/0/49", "Ten-GigabitEthernet1/0/49"),
        ] {
            assert_eq!(canonical_if_name(a), canonical_if_name(b), "{a} vs {b}");
        }
        assert_eq!(canonical_if_name("Gi1/0/1"), "gigabitethernet1/0/1");
        // Linux and Juniper names are left alone; distinct ports stay distinct.
        for n in [
            "eth0",
            "ens3",
            "bond0",
            "lo",
            "ge-0/0/1",
            "xe-0/0/0.0",
            "vlan100",
        ] {
            assert_eq!(canonical_if_name(n), n);
        }
        assert_ne!(canonical_if_name("Gi1/0/1"), canonical_if_name("Te1/0/1"));
        assert_ne!(canonical_if_name("Gi1/0/1"), canonical_if_name("Gi1/0/10"));
    }

    #[test]
    fn command_lines_identify_up_to_what_snmp_keeps() {
        let full = format!(
            "/usr/sbin/snmpd -f -C -c {} -Lf /var/log/snmpd.log",
            "x".repeat(200)
        );
        // SNMP: the path, a space and the first 128 octets of the parameters.
        let params = full.split_once(' ').unwrap().1;
        let snmp = format!("/usr/sbin/snmpd {}", &params[..128]);
        assert_eq!(canonical_command(&full), canonical_command(&snmp));
        // sshd's listener retitles itself while clients connect.
        assert_eq!(
            canonical_command("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
            canonical_command("sshd: /usr/sbin/sshd -D [listener] 1 of 10-100 startups")
        );
        assert_eq!(
            canonical_command("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
            "sshd: /usr/sbin/sshd -D"
        );
        assert_eq!(
            canonical_command("  java   -jar  app.jar "),
            "java -jar app.jar"
        );
        assert_ne!(
            canonical_command("java -jar a.jar"),
            canonical_command("java -jar b.jar")
        );
    }

    #[test]
    fn keys_parse_back_into_their_parts() {
        let host = CiId::new("ci_0123456789abcdef");
        let rules = CiClass::Interface.rules().rules;
        type Parts<'a> = (&'a str, Option<&'a str>, &'a str, &'a str);
        let cases: Vec<(String, Parts)> = vec![
            (
                identifier_key(
                    CiClass::Host,
                    None,
                    &CiClass::Host.rules().rules[1],
                    "52:54:00:aa:00:01",
                ),
                ("device", None, "mac_addresses", "52:54:00:aa:00:01"),
            ),
            (
                identifier_key(CiClass::Interface, Some(&host), &rules[0], "eth0"),
                ("Interface", Some("ci_0123456789abcdef"), "if_name", "eth0"),
            ),
            (
                // A rule over two attributes joins them with `|`.
                identifier_key(
                    CiClass::Process,
                    Some(&host),
                    &CiClass::Process.rules().rules[1],
                    "nginx|nginx: master",
                ),
                (
                    "Process",
                    Some("ci_0123456789abcdef"),
                    "command",
                    "nginx|nginx: master",
                ),
            ),
            (
                // A parent id a user chose may hold `|`.
                identifier_key(
                    CiClass::Interface,
                    Some(&CiId::new("my|host")),
                    &rules[1],
                    "00:1a:2b:3c:4d:5e",
                ),
                (
                    "Interface",
                    Some("my|host"),
                    "mac_address",
                    "00:1a:2b:3c:4d:5e",
                ),
            ),
            (
                // A family or rule this build does not know: the first three `|`.
                "Gadget|p1|thing|a|b".to_string(),
                ("Gadget", Some("p1"), "thing", "a|b"),
            ),
        ];
        for (key, (family, parent, rule, value)) in cases {
            let p = parse_identifier_key(&key).unwrap_or_else(|| panic!("{key}"));
            assert_eq!(
                (p.family, p.parent, p.rule, p.value),
                (family, parent, rule, value),
                "{key}"
            );
        }
        assert_eq!(parse_identifier_key("device|x|y"), None);
        assert_eq!(parse_identifier_key(""), None);
    }

    proptest::proptest! {
        /// Every key reconciliation can write reads back as what it was made of.
        #[test]
        fn every_key_round_trips(class_i in 0usize..12, rule_i in 0usize..8, value in ".{1,40}", seed in "[a-z0-9]{1,12}") {
            let class = CiClass::ALL[class_i];
            let rules = class.rules().rules;
            let rule = &rules[rule_i % rules.len()];
            let parent = class.rules().parent.as_ref().map(|_| CiId::derive(&seed, 0));
            let key = identifier_key(class, parent.as_ref(), rule, &value);
            let p = parse_identifier_key(&key).expect("parses");
            proptest::prop_assert_eq!(p.family, class.family());
            proptest::prop_assert_eq!(p.parent, parent.as_ref().map(CiId::as_str));
            proptest::prop_assert_eq!(p.rule, rule.name);
            proptest::prop_assert_eq!(p.value, value.as_str());
        }
    }

    #[test]
    fn ips() {
        assert_eq!(normalize_ip("10.0.0.5/24").as_deref(), Some("10.0.0.5"));
        assert_eq!(normalize_ip("127.0.0.1"), None);
        assert_eq!(normalize_ip("fe80::1"), None);
        assert_eq!(normalize_ip("2001:DB8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(normalize_ip("not an ip"), None);
    }
}
