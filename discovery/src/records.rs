//! Records and relationships every transform builds the same way: the device key, listening
//! endpoints, the far end of a connection (a placeholder host and its endpoint), the
//! connection itself, and the addresses that may identify a host. One shape and one key
//! spelling for SNMP, SSH and the local probe, so reconciliation merges what they report.
//!
//! Keys are local to one observation (records refer to each other by them; nothing outside the
//! observation keeps them).

use std::net::IpAddr;

use cmdb_model::{CiClass, EvidenceKind, Record, RelType, RelationshipObs};

/// Key of the device record in every observation a probe builds.
pub const DEVICE_KEY: &str = "device";

/// Key of the device's listening endpoint `proto/port`.
pub fn endpoint_key(proto: &str, port: impl std::fmt::Display) -> String {
    format!("ep:{proto}/{port}")
}

/// The device's endpoint `proto/port`, under the device record.
pub fn endpoint(proto: &str, port: u32) -> Record {
    Record::new(endpoint_key(proto, port), CiClass::ListeningEndpoint)
        .parent(DEVICE_KEY)
        .name(format!("{proto}/{port}"))
        .ident("protocol", proto)
        .ident("port", port)
}

/// A listening endpoint of the device with the addresses it is bound to.
pub fn listener(proto: &str, port: u32, binds: impl IntoIterator<Item = String>) -> Record {
    endpoint(proto, port).attr("bind_addresses", binds.into_iter().collect::<Vec<_>>())
}

/// Key of the placeholder host a connection reaches at `ip`.
pub fn remote_host_key(ip: &IpAddr) -> String {
    format!("remote:{ip}")
}

/// The placeholder host at the far end of a connection: known only by its address.
pub fn remote_host(ip: &IpAddr) -> Record {
    let text = ip.to_string();
    Record::new(remote_host_key(ip), CiClass::Host)
        .placeholder()
        .name(text.clone())
        .ident("ip_addresses", vec![text])
}

/// The placeholder TCP endpoint `port` of the remote host at `ip`.
pub fn remote_endpoint(ip: &IpAddr, port: u32) -> Record {
    Record::new(
        format!("remote:{ip}:tcp/{port}"),
        CiClass::ListeningEndpoint,
    )
    .parent(remote_host_key(ip))
    .placeholder()
    .name(format!("tcp/{port}"))
    .ident("protocol", "tcp")
    .ident("port", port)
}

/// A TCP connection to endpoint `to`: from the process that holds the socket when it is
/// known (`CONNECTS_TO`), else from the device (`COMMUNICATES_WITH`, host-level evidence that
/// reconciliation hands to the owning process when another probe knows it).
pub fn connection(process: Option<&str>, to: &str) -> RelationshipObs {
    match process {
        Some(p) => RelationshipObs::new(RelType::ConnectsTo, p, to, EvidenceKind::Socket, 0.5),
        None => RelationshipObs::new(
            RelType::CommunicatesWith,
            DEVICE_KEY,
            to,
            EvidenceKind::HostSocket,
            0.5,
        ),
    }
}

/// An address that may name a host: not loopback, unspecified or link-local.
pub fn is_host_address(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => !(a.is_loopback() || a.is_unspecified() || a.is_link_local()),
        IpAddr::V6(a) => {
            !(a.is_loopback() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_shapes() {
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(endpoint("udp", 53).key, "ep:udp/53");
        let r = remote_endpoint(&ip, 5432);
        assert_eq!(r.key, "remote:10.0.0.9:tcp/5432");
        assert_eq!(r.parent.as_deref(), Some("remote:10.0.0.9"));
        assert!(r.placeholder && remote_host(&ip).placeholder);
        assert_eq!(connection(None, "x").from, DEVICE_KEY);
        assert_eq!(
            connection(Some("proc:1"), "x").rel_type,
            RelType::ConnectsTo
        );
        for (a, usable) in [
            ("127.0.0.1", false),
            ("0.0.0.0", false),
            ("169.254.1.1", false),
            ("fe80::1", false),
            ("::1", false),
            ("10.1.1.1", true),
            ("2001:db8::1", true),
        ] {
            assert_eq!(is_host_address(&a.parse().unwrap()), usable, "{a}");
        }
    }
}
