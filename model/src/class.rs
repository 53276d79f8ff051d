//! CI classes and their identification rules.
//!
//! Identification rules are *data*: per class an ordered list of identifier sets, plus (for
//! dependent classes) which parent classes they live under. Reconciliation walks this table;
//! the explanation of a match is simply the rule that fired.

use crate::attrs;
use crate::ids::UnknownName;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::rel::RelType;

/// The kinds of configuration item the CMDB knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CiClass {
    Host,
    NetworkDevice,
    Interface,
    IpAddress,
    Subnet,
    Process,
    ListeningEndpoint,
    Application,
    SoftwarePackage,
    Container,
    BusinessService,
    /// A group of interchangeable members (pool, cluster) that CIs are PART_OF.
    Cluster,
}

impl CiClass {
    pub const ALL: [CiClass; 12] = [
        CiClass::Host,
        CiClass::NetworkDevice,
        CiClass::Interface,
        CiClass::IpAddress,
        CiClass::Subnet,
        CiClass::Process,
        CiClass::ListeningEndpoint,
        CiClass::Application,
        CiClass::SoftwarePackage,
        CiClass::Container,
        CiClass::BusinessService,
        CiClass::Cluster,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CiClass::Host => "Host",
            CiClass::NetworkDevice => "NetworkDevice",
            CiClass::Interface => "Interface",
            CiClass::IpAddress => "IpAddress",
            CiClass::Subnet => "Subnet",
            CiClass::Process => "Process",
            CiClass::ListeningEndpoint => "ListeningEndpoint",
            CiClass::Application => "Application",
            CiClass::SoftwarePackage => "SoftwarePackage",
            CiClass::Container => "Container",
            CiClass::BusinessService => "BusinessService",
            CiClass::Cluster => "Cluster",
        }
    }

    /// Classes in one identification family share one identifier namespace, so a CI can change
    /// class within its family (an unmanaged `NetworkDevice` neighbour that turns out to be a
    /// `Host` when it is discovered itself).
    pub fn family(self) -> &'static str {
        match self {
            CiClass::Host | CiClass::NetworkDevice => "device",
            other => other.as_str(),
        }
    }

    /// What a CI of this class should have for the CMDB to be useful about it (the
    /// completeness check of `cmdbHealth` and `cmdb report`): names of attributes, any of
    /// `a|b` meaning one of them. Placeholders (seen only from elsewhere) are not held to it.
    pub fn expected_attributes(self) -> &'static [&'static str] {
        match self {
            CiClass::Host => &[
                "hostname|fqdn",
                "ip_addresses",
                "os_name",
                "serial_number|mac_addresses",
            ],
            CiClass::NetworkDevice => &[
                "hostname|fqdn|sys_name",
                "management_ip|ip_addresses",
                "vendor|sys_object_id",
                "serial_number|mac_addresses",
            ],
            CiClass::Interface => &["if_name", "mac_address"],
            CiClass::IpAddress => &["address"],
            CiClass::Subnet => &["cidr"],
            CiClass::Process => &["executable"],
            CiClass::ListeningEndpoint => &[attrs::PROTOCOL, attrs::PORT],
            CiClass::Application => &["name"],
            CiClass::SoftwarePackage => &["package_name", "version"],
            CiClass::Container => &["container_id|container_name"],
            CiClass::BusinessService => &[attrs::OWNER, attrs::CRITICALITY, attrs::SLA_TARGET],
            CiClass::Cluster => &["name"],
        }
    }

    /// The identification rules of this class.
    pub fn rules(self) -> &'static ClassRules {
        match self {
            CiClass::Host | CiClass::NetworkDevice => &DEVICE_RULES,
            CiClass::Interface => &INTERFACE_RULES,
            CiClass::IpAddress => &IP_RULES,
            CiClass::Subnet => &SUBNET_RULES,
            CiClass::Process => &PROCESS_RULES,
            CiClass::ListeningEndpoint => &ENDPOINT_RULES,
            CiClass::Application => &APPLICATION_RULES,
            CiClass::SoftwarePackage => &PACKAGE_RULES,
            CiClass::Container => &CONTAINER_RULES,
            CiClass::BusinessService => &SERVICE_RULES,
            CiClass::Cluster => &CLUSTER_RULES,
        }
    }
}

impl fmt::Display for CiClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CiClass {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CiClass::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName::new("CI class", s))
    }
}

/// How the values of an identifier set are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchMode {
    /// Every listed attribute must be present; the combination is one key.
    All,
    /// The attribute holds a set (array); any shared element matches.
    AnyElement,
}

/// How an identifier value is normalised before comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Trimmed, case preserved.
    Exact,
    /// Trimmed and lower-cased.
    Lower,
    /// Serial numbers: trimmed, upper-cased; placeholder junk ("To be filled by O.E.M.") rejected.
    Serial,
    /// MAC addresses: `aa:bb:cc:dd:ee:ff`; all-zero, broadcast and locally administered rejected.
    Mac,
    /// Host names: lower-cased, trailing dot removed, reduced to the first label.
    ShortName,
    /// FQDNs: lower-cased, trailing dot removed; must contain a dot.
    Fqdn,
    /// IP addresses in canonical text; loopback, unspecified and link-local rejected.
    Ip,
    /// Interface names: vendor abbreviations and long forms of one port are one name
    /// (`Gi1/0/1` = `GigabitEthernet1/0/1`, `Eth1/1` = `Ethernet1/1`); see
    /// `identify::canonical_if_name`.
    IfName,
    /// Process executables and command lines: whitespace collapsed, volatile process-title
    /// counters removed, cut to what every probe can see; see
    /// `identify::canonical_command`.
    Command,
}

/// One identifier set: if all its attributes are present on a record, it can identify the CI.
#[derive(Debug)]
pub struct IdentRule {
    /// Stable rule name used in explanations and identifier keys.
    pub name: &'static str,
    pub attributes: &'static [&'static str],
    pub mode: MatchMode,
    pub normalize: Normalize,
}

/// Where a dependent class lives: its parent classes and the structural relationship to it.
#[derive(Debug)]
pub struct ParentSpec {
    pub classes: &'static [CiClass],
    pub rel: RelType,
    /// `true` when the relationship points from the parent to the child (Host CONTAINS Interface),
    /// `false` when it points from the child to the parent (Process RUNS_ON Host).
    pub parent_is_from: bool,
}

#[derive(Debug)]
pub struct ClassRules {
    /// Ordered strongest first.
    pub rules: &'static [IdentRule],
    /// `Some` for dependent classes: identified within their parent.
    pub parent: Option<ParentSpec>,
}

const fn rule(
    name: &'static str,
    attributes: &'static [&'static str],
    mode: MatchMode,
    normalize: Normalize,
) -> IdentRule {
    IdentRule {
        name,
        attributes,
        mode,
        normalize,
    }
}

use MatchMode::{All, AnyElement};

static DEVICE_RULES: ClassRules = ClassRules {
    rules: &[
        rule("serial_number", &["serial_number"], All, Normalize::Serial),
        rule(
            "mac_addresses",
            &["mac_addresses"],
            AnyElement,
            Normalize::Mac,
        ),
        rule("fqdn", &["fqdn"], All, Normalize::Fqdn),
        rule("hostname", &["hostname"], All, Normalize::ShortName),
        rule("ip_addresses", &["ip_addresses"], AnyElement, Normalize::Ip),
    ],
    parent: None,
};

const DEVICES: &[CiClass] = &[CiClass::Host, CiClass::NetworkDevice];

static INTERFACE_RULES: ClassRules = ClassRules {
    rules: &[
        rule("if_name", &["if_name"], All, Normalize::IfName),
        rule("mac_address", &["mac_address"], All, Normalize::Mac),
        rule("if_index", &["if_index"], All, Normalize::Exact),
    ],
    parent: Some(ParentSpec {
        classes: DEVICES,
        rel: RelType::Contains,
        parent_is_from: true,
    }),
};

static IP_RULES: ClassRules = ClassRules {
    rules: &[rule("address", &["address"], All, Normalize::Lower)],
    parent: None,
};

static SUBNET_RULES: ClassRules = ClassRules {
    rules: &[rule("cidr", &["cidr"], All, Normalize::Lower)],
    parent: None,
};

static PROCESS_RULES: ClassRules = ClassRules {
    rules: &[
        rule("service_unit", &["service_unit"], All, Normalize::Exact),
        rule(
            "command",
            &["executable", "command_line"],
            All,
            Normalize::Command,
        ),
        rule("executable", &["executable"], All, Normalize::Exact),
    ],
    parent: Some(ParentSpec {
        classes: DEVICES,
        rel: RelType::RunsOn,
        parent_is_from: false,
    }),
};

static ENDPOINT_RULES: ClassRules = ClassRules {
    rules: &[rule(
        "protocol_port",
        &[attrs::PROTOCOL, attrs::PORT],
        All,
        Normalize::Lower,
    )],
    parent: Some(ParentSpec {
        classes: DEVICES,
        rel: RelType::Contains,
        parent_is_from: true,
    }),
};

static APPLICATION_RULES: ClassRules = ClassRules {
    rules: &[rule("name", &["name"], All, Normalize::Lower)],
    parent: None,
};

static PACKAGE_RULES: ClassRules = ClassRules {
    rules: &[rule(
        "package",
        &["package_manager", "package_name"],
        All,
        Normalize::Exact,
    )],
    parent: Some(ParentSpec {
        classes: DEVICES,
        rel: RelType::Contains,
        parent_is_from: true,
    }),
};

static CONTAINER_RULES: ClassRules = ClassRules {
    rules: &[
        rule("container_id", &["container_id"], All, Normalize::Lower),
        rule(
            "container_name",
            &["runtime", "container_name"],
            All,
            Normalize::Exact,
        ),
    ],
    parent: Some(ParentSpec {
        classes: DEVICES,
        rel: RelType::RunsOn,
        parent_is_from: false,
    }),
};

static SERVICE_RULES: ClassRules = ClassRules {
    rules: &[rule("name", &["name"], All, Normalize::Lower)],
    parent: None,
};

static CLUSTER_RULES: ClassRules = ClassRules {
    rules: &[rule("name", &["name"], All, Normalize::Lower)],
    parent: None,
};
