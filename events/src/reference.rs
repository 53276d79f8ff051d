//! What an event says about its CI, in the terms reconciliation identifies CIs by: `node` is a
//! name, an FQDN, an IP or a MAC address (or an Alertmanager `instance`, `host:port`);
//! `resource` a listening endpoint (`tcp/5432`) or the name of a process or an interface.
//! The lookup itself belongs to the store; this is the parsing, so every intake binds alike.

use std::net::IpAddr;

use cmdb_model::identify::{normalize_ip, normalize_mac};

/// One way the node may be known, most specific first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKey {
    /// A MAC address, canonical (`aa:bb:cc:dd:ee:ff`).
    Mac(String),
    /// An IP address, canonical. Loopback and link-local addresses are kept here (they
    /// identify nothing across hosts, so the store matches them only as a host's own name).
    Ip(String),
    /// A host name, lower case, as given (an FQDN stays whole).
    Name(String),
    /// The first label of an FQDN (`web1` of `web1.example.com`), lower case.
    ShortName(String),
}

/// A resource on the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceKey {
    /// A listening endpoint: protocol (`tcp`, `udp`) and port.
    Endpoint { protocol: String, port: u16 },
    /// A process, an interface, an application: matched by name.
    Name(String),
}

/// A node reference, parsed: its keys and the port an `instance` named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    pub keys: Vec<NodeKey>,
    pub port: Option<u16>,
}

/// Parse a node: `web1`, `web1.example.com`, `10.0.0.5`, `2001:db8::5`, `[2001:db8::5]:9100`,
/// `web1:9100`, `http://web1:8080/metrics`, `aa:bb:cc:dd:ee:ff`, `aabb.ccdd.eeff`.
pub fn node_ref(node: &str) -> NodeRef {
    let mut s = node.trim();
    // A URL: keep the authority.
    if let Some(i) = s.find("://") {
        s = &s[i + 3..];
        s = s.split(['/', '?', '#']).next().unwrap_or("");
        if let Some(at) = s.rfind('@') {
            s = &s[at + 1..];
        }
    }
    let mut keys = Vec::new();
    // An address first (MAC text never parses as one; `2001:db8:abc::de` has 12 hex digits).
    // A MAC only in its usual groupings (six pairs, or three quads), so a 12-hex-digit host
    // name such as a container id stays a name.
    if s.parse::<IpAddr>().is_err() && mac_shaped(s) {
        if let Some(mac) = normalize_mac(s) {
            keys.push(NodeKey::Mac(mac));
            return NodeRef { keys, port: None };
        }
    }
    let (host, port) = split_host_port(s);
    if let Ok(ip) = host.parse::<IpAddr>() {
        let canonical = normalize_ip(host).unwrap_or_else(|| ip.to_string());
        keys.push(NodeKey::Ip(canonical));
        return NodeRef { keys, port };
    }
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if !name.is_empty() {
        if let Some((short, _)) = name.split_once('.') {
            keys.push(NodeKey::Name(name.clone()));
            if !short.is_empty() {
                keys.push(NodeKey::ShortName(short.to_string()));
            }
        } else {
            keys.push(NodeKey::Name(name));
        }
    }
    NodeRef { keys, port }
}

/// `aa:bb:cc:dd:ee:ff`, `aa-bb-…` or `aabb.ccdd.eeff`.
fn mac_shaped(s: &str) -> bool {
    let groups = |sep: char, n: usize, len: usize| {
        let parts: Vec<&str> = s.split(sep).collect();
        parts.len() == n
            && parts
                .iter()
                .all(|p| p.len() == len && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    groups(':', 6, 2) || groups('-', 6, 2) || groups('.', 3, 4)
}

/// `host:port`, `[v6]:port`, a bare IPv6 address, or a host alone.
fn split_host_port(s: &str) -> (&str, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, tail)) = rest.split_once(']') {
            let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
            return (h, port);
        }
    }
    if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').unwrap_or((s, ""));
        if let Ok(port) = p.parse::<u16>() {
            return (h, Some(port));
        }
        return (h, None);
    }
    (s, None)
}

/// Parse a resource: `tcp/5432`, `5432/tcp`, `udp:53`, `:8080` (tcp), a bare port (tcp), or a
/// name (`postgres`, `eth0`).
pub fn resource_ref(resource: &str) -> Option<ResourceKey> {
    let r = resource.trim();
    if r.is_empty() {
        return None;
    }
    let lower = r.to_ascii_lowercase();
    let endpoint = |protocol: &str, port: &str| {
        port.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(|port| ResourceKey::Endpoint {
                protocol: protocol.to_string(),
                port,
            })
    };
    for proto in ["tcp", "udp"] {
        for sep in ['/', ':'] {
            if let Some(p) = lower.strip_prefix(&format!("{proto}{sep}")) {
                if let Some(k) = endpoint(proto, p) {
                    return Some(k);
                }
            }
            if let Some(p) = lower.strip_suffix(&format!("{sep}{proto}")) {
                if let Some(k) = endpoint(proto, p) {
                    return Some(k);
                }
            }
        }
    }
    if let Some(p) = lower.strip_prefix(':') {
        if let Some(k) = endpoint("tcp", p) {
            return Some(k);
        }
    }
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(k) = endpoint("tcp", &lower) {
            return Some(k);
        }
    }
    Some(ResourceKey::Name(r.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use NodeKey::*;

    #[test]
    fn nodes() {
        let cases: Vec<(&str, Vec<NodeKey>, Option<u16>)> = vec![
            ("web1", vec![Name("web1".into())], None),
            (
                "WEB1.Example.com.",
                vec![Name("web1.example.com".into()), ShortName("web1".into())],
                None,
            ),
            ("10.0.0.5", vec![Ip("10.0.0.5".into())], None),
            ("10.0.0.5:9100", vec![Ip("10.0.0.5".into())], Some(9100)),
            ("web1:9100", vec![Name("web1".into())], Some(9100)),
            (
                "[2001:db8::5]:9100",
                vec![Ip("2001:db8::5".into())],
                Some(9100),
            ),
            ("2001:DB8::5", vec![Ip("2001:db8::5".into())], None),
            ("127.0.0.1:8080", vec![Ip("127.0.0.1".into())], Some(8080)),
            (
                "http://user@web1.example.com:8080/metrics?x=1",
                vec![Name("web1.example.com".into()), ShortName("web1".into())],
                Some(8080),
            ),
            (
                "AA-BB-CC-DD-EE-01",
                vec![Mac("aa:bb:cc:dd:ee:01".into())],
                None,
            ),
            ("", vec![], None),
            (
                "2001:db8:abc::de",
                vec![Ip("2001:db8:abc::de".into())],
                None,
            ),
            (
                "aabb.ccdd.ee01",
                vec![Mac("aa:bb:cc:dd:ee:01".into())],
                None,
            ),
            ("0123456789ab", vec![Name("0123456789ab".into())], None),
        ];
        for (input, keys, port) in cases {
            assert_eq!(node_ref(input), NodeRef { keys, port }, "{input}");
        }
    }

    #[test]
    fn resources() {
        let ep = |p: &str, port| {
            Some(ResourceKey::Endpoint {
                protocol: p.into(),
                port,
            })
        };
        assert_eq!(resource_ref("tcp/5432"), ep("tcp", 5432));
        assert_eq!(resource_ref("5432/TCP"), ep("tcp", 5432));
        assert_eq!(resource_ref("udp:53"), ep("udp", 53));
        assert_eq!(resource_ref(":8080"), ep("tcp", 8080));
        assert_eq!(resource_ref("9100"), ep("tcp", 9100));
        assert_eq!(
            resource_ref("tcp/0"),
            Some(ResourceKey::Name("tcp/0".into()))
        );
        assert_eq!(
            resource_ref("tcp/99999"),
            Some(ResourceKey::Name("tcp/99999".into()))
        );
        assert_eq!(
            resource_ref("postgres"),
            Some(ResourceKey::Name("postgres".into()))
        );
        assert_eq!(resource_ref("  "), None);
    }
}
