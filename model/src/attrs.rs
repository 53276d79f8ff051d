//! Well-known attribute names: the attributes the product itself reads or writes on CIs (as
//! opposed to whatever probes report), spelled once for every crate.

// A leaf module: it names attributes and depends on nothing, so every module may use it.

/// Groups (pools, clusters): members that must be up for the group to work (the impact
/// engine's group rule, `impact::GroupRule`).
pub const MIN_UP: &str = "min_up";
/// Groups: up members at or below which the group is at risk.
pub const AT_RISK_UP: &str = "at_risk_up";
/// A Host's or NetworkDevice's declared distance from the edge (`topology`).
pub const NETWORK_TIER: &str = "network_tier";

// Listening endpoints (and the pools inferred in front of them).
pub const PROTOCOL: &str = "protocol";
pub const PORT: &str = "port";

// What a business service's definition holds (set by people through the API).
pub const OWNER: &str = "owner";
pub const CRITICALITY: &str = "criticality";
pub const SLA_TARGET: &str = "sla_target";
/// The other spelling of [`SLA_TARGET`] the availability report also reads (`live::health`),
/// as people write it on CIs by hand or by import.
pub const SLA_TARGET_CAMEL: &str = "slaTarget";
/// The service rule (class/name/tag filters) selecting its members.
pub const RULE: &str = "rule";
/// `ip:port` / `host:port` texts where discovery of the service starts.
pub const ENTRY_POINTS: &str = "entry_points";
pub const MAPPING_DEPTH: &str = "mapping_depth";

// What the service mapper writes on a service.
/// Ids of the CIs on the service's map.
pub const MAP_CIS: &str = "map_cis";
/// Ids of the CIs its entry points resolved to.
pub const MAP_ENTRY_CIS: &str = "map_entry_cis";
/// The map stopped at its size limit.
pub const MAP_TRUNCATED: &str = "map_truncated";
/// Entry points that named no CI.
pub const UNRESOLVED_ENTRY_POINTS: &str = "unresolved_entry_points";
/// When the service was first mapped.
pub const MAPPED_AT: &str = "mapped_at";
/// `(dependant, target)` pairs the map inferred from host-level connections.
pub const MAP_INFERRED_DEPENDENCIES: &str = "map_inferred_dependencies";

// What mappers write on the groups they infer.
/// Set on CIs a mapper inferred rather than a probe reported.
pub const INFERRED: &str = "inferred";
/// The identity of an inferred load-balancer pool (what it balances).
pub const POOL_KEY: &str = "pool_key";
/// The identity of an inferred group of redundant network paths.
pub const PATHS_KEY: &str = "paths_key";

#[cfg(test)]
mod tests {
    /// The impact engine still spells the group attributes itself (until it uses these).
    #[test]
    fn group_attributes_match_the_impact_engine() {
        assert_eq!(super::MIN_UP, crate::impact::MIN_UP_ATTR);
        assert_eq!(super::AT_RISK_UP, crate::impact::AT_RISK_UP_ATTR);
    }
}
