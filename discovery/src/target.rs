//! Discovery targets as users write them: `10.0.0.1`, `host:port`, `[::1]:161`, `10.0.0.0/24`.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// Address or DNS name.
    pub host: String,
    /// Explicit port; `None` means the protocol's default.
    pub port: Option<u16>,
}

impl Target {
    pub fn new(host: impl Into<String>, port: Option<u16>) -> Self {
        Target {
            host: host.into(),
            port,
        }
    }
    /// The stable name used in scopes, run reports and sightings: `host` or `host:port`.
    pub fn name(&self) -> String {
        match (self.port, self.host.contains(':')) {
            (None, _) => self.host.clone(),
            (Some(p), true) => format!("[{}]:{p}", self.host),
            (Some(p), false) => format!("{}:{p}", self.host),
        }
    }
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("`{0}` is not an address, host:port or CIDR range")]
    Invalid(String),
    #[error("range `{0}` has {1} addresses, more than the limit of {2}")]
    TooLarge(String, u64, u64),
}

/// Largest range one target expression may expand to (a /16).
pub const MAX_RANGE_ADDRESSES: u64 = 65_536;

/// Expand a user's target expression into targets. A CIDR range expands to its host addresses
/// (network and broadcast excluded for IPv4 prefixes shorter than /31).
pub fn parse_targets(expr: &str) -> Result<Vec<Target>, TargetError> {
    let expr = expr.trim();
    if expr.is_empty() {
        return Err(TargetError::Invalid(expr.to_string()));
    }
    if expr.contains('/') {
        let (net_part, port) = split_port(expr)?;
        let net: IpNet = net_part
            .parse()
            .map_err(|_| TargetError::Invalid(expr.to_string()))?;
        let size: u64 = match net {
            IpNet::V4(n) => 1u64 << (32 - n.prefix_len()),
            IpNet::V6(n) => {
                let bits = 128 - n.prefix_len() as u32;
                if bits >= 63 {
                    u64::MAX
                } else {
                    1u64 << bits
                }
            }
        };
        if size > MAX_RANGE_ADDRESSES {
            return Err(TargetError::TooLarge(
                expr.to_string(),
                size,
                MAX_RANGE_ADDRESSES,
            ));
        }
        return Ok(net
            .hosts()
            .map(|ip| Target::new(ip.to_string(), port))
            .collect());
    }
    let (host, port) = split_port(expr)?;
    if host.is_empty() {
        return Err(TargetError::Invalid(expr.to_string()));
    }
    Ok(vec![Target::new(host, port)])
}

pub(crate) fn split_port(expr: &str) -> Result<(String, Option<u16>), TargetError> {
    let bad = || TargetError::Invalid(expr.to_string());
    if let Some(rest) = expr.strip_prefix('[') {
        // [v6]:port or [v6]
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().map_err(|_| bad())?),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        return Ok((host.to_string(), port));
    }
    if expr.matches(':').count() > 1 {
        // bare IPv6 address or range
        return Ok((expr.to_string(), None));
    }
    match expr.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), Some(p.parse().map_err(|_| bad())?))),
        None => Ok((expr.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        assert_eq!(
            parse_targets("10.0.0.1").unwrap(),
            vec![Target::new("10.0.0.1", None)]
        );
        assert_eq!(
            parse_targets("h:1161").unwrap(),
            vec![Target::new("h", Some(1161))]
        );
        assert_eq!(
            parse_targets("[::1]:161").unwrap(),
            vec![Target::new("::1", Some(161))]
        );
        assert_eq!(
            parse_targets("::1").unwrap(),
            vec![Target::new("::1", None)]
        );
        assert_eq!(parse_targets("10.0.0.0/30").unwrap().len(), 2);
        assert_eq!(
            parse_targets("127.0.1.0/24:1161").unwrap()[0],
            Target::new("127.0.1.1", Some(1161))
        );
        assert_eq!(parse_targets("10.0.0.0/16").unwrap().len(), 65534);
    }

    #[test]
    fn rejects_bad() {
        assert!(parse_targets("").is_err());
        assert!(parse_targets("h:notaport").is_err());
        assert!(parse_targets("10.0.0.0/8").is_err());
        assert!(parse_targets("1.2.3.4/99").is_err());
    }
}
