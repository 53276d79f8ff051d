//! The physical network in impact: which device relies on which, from the links discovery
//! found between their interfaces (LLDP/CDP neighbours, FDB/ARP edge-port attachments).
//!
//! A link says two devices are wired together, not which one needs the other. The rule:
//! - every device's **distance from the edge** is the number of links between it and the
//!   nearest end system: end systems (hosts, including hosts known only from a switch's
//!   forwarding table) are at 0, the switches they hang off at 1, those switches' uplinks at
//!   2, and so on (breadth first over all links);
//! - a device relies on each linked **network device** farther from the edge than itself: a
//!   host on its access switch(es), an access switch on its uplinks. Links between devices at
//!   the same distance (two core switches, two top-of-rack switches of a pair) are peer links
//!   and carry no dependency; a device is never relied on for being an end system;
//! - a device's `network_tier` attribute, when set (0 = end system, 1 = access, …), replaces
//!   its computed distance: the way to correct the rule where the discovered links mislead it.
//!
//! Pure: the store turns the answer into DEPENDS_ON edges and 1-of-n groups (docs/impact.md).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::class::CiClass;
use crate::ids::CiId;

/// Attribute of a Host/NetworkDevice overriding its computed distance from the edge.
pub use crate::attrs::NETWORK_TIER as NETWORK_TIER_ATTR;

/// One device as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub class: CiClass,
    /// `network_tier`, when the device declares one.
    pub tier: Option<u32>,
}

/// One physical link between two devices (their interfaces are LINKED_TO each other).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub a: CiId,
    pub b: CiId,
}

/// Distance from the edge of every device that has one (devices with no end system anywhere
/// behind their links have none, and take part in no dependency).
pub fn edge_distances(devices: &HashMap<CiId, Device>, links: &[Link]) -> HashMap<CiId, u32> {
    let mut adj: BTreeMap<&CiId, BTreeSet<&CiId>> = BTreeMap::new();
    for l in links {
        if l.a != l.b && devices.contains_key(&l.a) && devices.contains_key(&l.b) {
            adj.entry(&l.a).or_default().insert(&l.b);
            adj.entry(&l.b).or_default().insert(&l.a);
        }
    }
    // Declared tiers are fixed; end systems start at 0. Then breadth first, lowest distance
    // first (several starting distances: a Dijkstra over unit weights, one bucket per distance).
    let mut dist: HashMap<CiId, u32> = HashMap::new();
    let mut buckets: BTreeMap<u32, Vec<&CiId>> = BTreeMap::new();
    for (id, d) in devices {
        let start = match d.tier {
            Some(t) => t,
            None if d.class != CiClass::NetworkDevice && adj.contains_key(id) => 0,
            None => continue,
        };
        dist.insert(id.clone(), start);
        buckets.entry(start).or_default().push(id);
    }
    while let Some((d, ids)) = buckets.pop_first() {
        for u in ids {
            if dist.get(u) != Some(&d) {
                continue;
            }
            for v in adj.get(u).into_iter().flatten() {
                if !dist.contains_key(*v) {
                    dist.insert((*v).clone(), d + 1);
                    buckets.entry(d + 1).or_default().push(v);
                }
            }
        }
    }
    dist
}

/// What each device relies on: the linked network devices farther from the edge than itself.
/// Devices relying on nothing are absent.
pub fn upstreams(
    devices: &HashMap<CiId, Device>,
    links: &[Link],
) -> BTreeMap<CiId, BTreeSet<CiId>> {
    let dist = edge_distances(devices, links);
    let mut out: BTreeMap<CiId, BTreeSet<CiId>> = BTreeMap::new();
    for l in links {
        for (me, other) in [(&l.a, &l.b), (&l.b, &l.a)] {
            let (Some(dm), Some(dother)) = (dist.get(me), dist.get(other)) else {
                continue;
            };
            let other_is_network = devices
                .get(other)
                .is_some_and(|d| d.class == CiClass::NetworkDevice);
            if other_is_network && dother > dm {
                out.entry(me.clone()).or_default().insert(other.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estate(
        hosts: &[&str],
        switches: &[&str],
        links: &[(&str, &str)],
    ) -> (HashMap<CiId, Device>, Vec<Link>) {
        let mut d = HashMap::new();
        for h in hosts {
            d.insert(
                CiId::from(*h),
                Device {
                    class: CiClass::Host,
                    tier: None,
                },
            );
        }
        for s in switches {
            d.insert(
                CiId::from(*s),
                Device {
                    class: CiClass::NetworkDevice,
                    tier: None,
                },
            );
        }
        (
            d,
            links
                .iter()
                .map(|(a, b)| Link {
                    a: CiId::from(*a),
                    b: CiId::from(*b),
                })
                .collect(),
        )
    }

    fn up(u: &BTreeMap<CiId, BTreeSet<CiId>>, id: &str) -> Vec<String> {
        u.get(&CiId::from(id))
            .map(|s| s.iter().map(|i| i.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn hosts_rely_on_access_switches_which_rely_on_their_uplinks() {
        let (d, l) = estate(
            &["web1", "db"],
            &["tor1", "tor2", "core1", "core2"],
            &[
                ("web1", "tor1"),
                ("web1", "tor2"),
                ("db", "tor1"),
                ("tor1", "core1"),
                ("tor1", "core2"),
                ("tor2", "core1"),
                ("tor2", "core2"),
                ("core1", "core2"),
                ("tor1", "tor2"),
            ],
        );
        let u = upstreams(&d, &l);
        assert_eq!(up(&u, "web1"), ["tor1", "tor2"]);
        assert_eq!(up(&u, "db"), ["tor1"]);
        assert_eq!(up(&u, "tor1"), ["core1", "core2"]);
        assert!(up(&u, "core1").is_empty(), "core peers rely on nothing");
        assert!(
            !up(&u, "tor2").contains(&"tor1".to_string()),
            "a ToR pair's interconnect is a peer link"
        );
    }

    #[test]
    fn a_single_core_is_upstream_and_isolated_switches_take_no_part() {
        let (d, l) = estate(
            &["h"],
            &["acc", "core", "lab1", "lab2"],
            &[("h", "acc"), ("acc", "core"), ("lab1", "lab2")],
        );
        let u = upstreams(&d, &l);
        assert_eq!(up(&u, "acc"), ["core"]);
        assert!(up(&u, "core").is_empty());
        assert!(
            up(&u, "lab1").is_empty() && up(&u, "lab2").is_empty(),
            "no end system behind them: no direction"
        );
    }

    #[test]
    fn hosts_are_never_relied_on_and_declared_tiers_win() {
        // Two servers cabled back to back: neither is network gear.
        let (d, l) = estate(&["a", "b"], &[], &[("a", "b")]);
        assert!(upstreams(&d, &l).is_empty());
        // A router seen only by LLDP from a distribution switch, declared core.
        let (mut d, l) = estate(
            &["h"],
            &["acc", "dist", "rtr"],
            &[
                ("h", "acc"),
                ("acc", "dist"),
                ("dist", "rtr"),
                ("acc", "rtr"),
            ],
        );
        assert_eq!(
            up(&upstreams(&d, &l), "acc"),
            ["dist", "rtr"],
            "both at distance 2 from the edge"
        );
        d.insert(
            CiId::from("rtr"),
            Device {
                class: CiClass::NetworkDevice,
                tier: Some(3),
            },
        );
        let u = upstreams(&d, &l);
        assert_eq!(
            up(&u, "dist"),
            ["rtr"],
            "the declared tier puts the router above the distribution switch"
        );
    }
}
