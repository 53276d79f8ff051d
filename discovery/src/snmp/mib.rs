//! The MIB objects the SNMP probe reads, by name: what `collect` walks ([`SUBTREES`]) and the
//! scalars, tables and columns `transform` reads. Every OID is spelled here once.
//!
//! A table module holds the table's OID (`TABLE`, walked as a subtree or inside its group's
//! subtree) and its columns; rows are `TABLE.1.column.index…`.

/// One subtree the probe walks.
#[derive(Debug, Clone, Copy)]
pub struct Subtree {
    /// Stable name used in diagnostics (`ifTable`, `lldpRemTable`, …).
    pub name: &'static str,
    pub oid: &'static [u32],
}

const fn st(name: &'static str, oid: &'static [u32]) -> Subtree {
    Subtree { name, oid }
}

/// Everything `SnmpProbe` walks, in walk order. The system group comes first: it doubles as the
/// reachability / credential check.
pub const SUBTREES: &[Subtree] = &[
    st("system", system::GROUP),
    st("ifTable", if_table::TABLE),
    st("ifXTable", if_x_table::TABLE),
    st("ipAddrTable", ip_addr_table::TABLE),
    st("ipAddressTable", ip_address_table::TABLE),
    st("ipNetToMediaTable", ip_net_to_media_table::TABLE),
    st("ipNetToPhysicalTable", ip_net_to_physical_table::TABLE),
    st("entPhysicalTable", ent_physical_table::TABLE),
    st("lldpLocalSystemData", lldp_local::GROUP),
    st("lldpRemTable", lldp_rem_table::TABLE),
    st("lldpRemManAddrTable", lldp_rem_man_addr_table::TABLE),
    st("cdpCacheTable", cdp_cache_table::TABLE),
    st("dot1dBase", dot1d_base::GROUP),
    st("dot1dTpFdbTable", dot1d_tp_fdb_table::TABLE),
    st("dot1qTpFdbTable", dot1q_tp_fdb_table::TABLE),
    st("hrSystem", hr_system::GROUP),
    st("hrStorage", hr_storage::GROUP),
    st("hrDeviceTable", hr_device_table::TABLE),
    st("hrSWRunTable", hr_sw_run_table::TABLE),
    st("hrSWInstalledTable", hr_sw_installed_table::TABLE),
    st("tcpConnTable", tcp_conn_table::TABLE),
    st("tcpConnectionTable", tcp_connection_table::TABLE),
    st("tcpListenerTable", tcp_listener_table::TABLE),
    st("udpTable", udp_table::TABLE),
    st("udpEndpointTable", udp_endpoint_table::TABLE),
];

/// SNMPv2-MIB system group.
pub mod system {
    pub const GROUP: &[u32] = &[1, 3, 6, 1, 2, 1, 1];
    pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
    pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
    pub const SYS_UP_TIME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 3, 0];
    pub const SYS_CONTACT: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 4, 0];
    pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
    pub const SYS_LOCATION: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 6, 0];
    pub const SYS_SERVICES: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 7, 0];
}

/// IF-MIB ifTable.
pub mod if_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2];
    pub const DESCR: u32 = 2;
    pub const TYPE: u32 = 3;
    pub const MTU: u32 = 4;
    pub const SPEED: u32 = 5;
    pub const PHYS_ADDRESS: u32 = 6;
    pub const ADMIN_STATUS: u32 = 7;
    pub const OPER_STATUS: u32 = 8;
}

/// IF-MIB ifXTable.
pub mod if_x_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 31, 1, 1];
    pub const NAME: u32 = 1;
    pub const HIGH_SPEED: u32 = 15;
    pub const ALIAS: u32 = 18;
}

/// IP-MIB ipAddrTable (IPv4, deprecated but common).
pub mod ip_addr_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 20];
    pub const IF_INDEX: u32 = 2;
    pub const NET_MASK: u32 = 3;
}

/// IP-MIB ipAddressTable.
pub mod ip_address_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 34];
    pub const IF_INDEX: u32 = 3;
    pub const TYPE: u32 = 4;
    pub const PREFIX: u32 = 5;
}

/// IP-MIB ipNetToMediaTable (ARP, IPv4).
pub mod ip_net_to_media_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 22];
    pub const PHYS_ADDRESS: u32 = 2;
    pub const TYPE: u32 = 4;
}

/// IP-MIB ipNetToPhysicalTable (ARP and IPv6 neighbours).
pub mod ip_net_to_physical_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 4, 35];
    pub const PHYS_ADDRESS: u32 = 4;
    pub const TYPE: u32 = 6;
}

/// ENTITY-MIB entPhysicalTable.
pub mod ent_physical_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1];
    pub const DESCR: u32 = 2;
    pub const CLASS: u32 = 5;
    pub const HARDWARE_REV: u32 = 8;
    pub const FIRMWARE_REV: u32 = 9;
    pub const SOFTWARE_REV: u32 = 10;
    pub const SERIAL_NUM: u32 = 11;
    pub const MFG_NAME: u32 = 12;
    pub const MODEL_NAME: u32 = 13;
    /// entPhysicalClass values.
    pub const CLASS_CHASSIS: i64 = 3;
    pub const CLASS_STACK: i64 = 11;
}

/// LLDP-MIB lldpLocalSystemData.
pub mod lldp_local {
    pub const GROUP: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3];
    pub const CHASSIS_ID_SUBTYPE: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 1, 0];
    pub const CHASSIS_ID: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 2, 0];
    pub const SYS_CAP_ENABLED: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 6, 0];
}

/// LLDP-MIB lldpLocPortTable (inside lldpLocalSystemData).
pub mod lldp_loc_port_table {
    pub const TABLE: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 3, 7];
    pub const ID_SUBTYPE: u32 = 2;
    pub const ID: u32 = 3;
    pub const DESC: u32 = 4;
}

/// LLDP-MIB lldpRemTable.
pub mod lldp_rem_table {
    pub const TABLE: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 1];
    pub const CHASSIS_ID_SUBTYPE: u32 = 4;
    pub const CHASSIS_ID: u32 = 5;
    pub const PORT_ID_SUBTYPE: u32 = 6;
    pub const PORT_ID: u32 = 7;
    pub const PORT_DESC: u32 = 8;
    pub const SYS_NAME: u32 = 9;
    pub const SYS_CAP_SUPPORTED: u32 = 11;
    pub const SYS_CAP_ENABLED: u32 = 12;
}

/// LLDP-MIB lldpRemManAddrTable.
pub mod lldp_rem_man_addr_table {
    pub const TABLE: &[u32] = &[1, 0, 8802, 1, 1, 2, 1, 4, 2];
}

/// CISCO-CDP-MIB cdpCacheTable.
pub mod cdp_cache_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1];
    pub const ADDRESS_TYPE: u32 = 3;
    pub const ADDRESS: u32 = 4;
    pub const DEVICE_ID: u32 = 6;
    pub const DEVICE_PORT: u32 = 7;
    pub const CAPABILITIES: u32 = 9;
}

/// BRIDGE-MIB dot1dBase.
pub mod dot1d_base {
    pub const GROUP: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1];
    pub const BRIDGE_ADDRESS: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1, 1, 0];
    pub const NUM_PORTS: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1, 2, 0];
}

/// BRIDGE-MIB dot1dBasePortTable (inside dot1dBase).
pub mod dot1d_base_port_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 1, 4];
    pub const IF_INDEX: u32 = 2;
}

/// BRIDGE-MIB dot1dTpFdbTable.
pub mod dot1d_tp_fdb_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 4, 3];
    pub const ADDRESS: u32 = 1;
    pub const PORT: u32 = 2;
    pub const STATUS: u32 = 3;
}

/// Q-BRIDGE-MIB dot1qTpFdbTable.
pub mod dot1q_tp_fdb_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 17, 7, 1, 2, 2];
    pub const PORT: u32 = 2;
    pub const STATUS: u32 = 3;
}

/// HOST-RESOURCES-MIB hrSystem.
pub mod hr_system {
    pub const GROUP: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 1];
    pub const UPTIME: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 1, 1, 0];
}

/// HOST-RESOURCES-MIB hrStorage.
pub mod hr_storage {
    pub const GROUP: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2];
    pub const MEMORY_SIZE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 2, 0];
    /// hrStorageType values that are disks.
    pub const TYPE_FIXED_DISK: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 1, 4];
    pub const TYPE_NETWORK_DISK: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 1, 9];
}

/// HOST-RESOURCES-MIB hrStorageTable (inside hrStorage).
pub mod hr_storage_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 2, 3];
    pub const TYPE: u32 = 2;
    pub const DESCR: u32 = 3;
    pub const ALLOCATION_UNITS: u32 = 4;
    pub const SIZE: u32 = 5;
    pub const USED: u32 = 6;
}

/// HOST-RESOURCES-MIB hrDeviceTable.
pub mod hr_device_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2];
    pub const TYPE: u32 = 2;
    pub const DESCR: u32 = 3;
    /// hrDeviceType of a processor.
    pub const TYPE_PROCESSOR: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 1, 3];
}

/// HOST-RESOURCES-MIB hrSWRunTable.
pub mod hr_sw_run_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 4, 2];
    pub const NAME: u32 = 2;
    pub const PATH: u32 = 4;
    pub const PARAMETERS: u32 = 5;
    pub const TYPE: u32 = 6;
}

/// HOST-RESOURCES-MIB hrSWInstalledTable.
pub mod hr_sw_installed_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 6, 3];
    pub const NAME: u32 = 2;
}

/// TCP-MIB tcpConnTable (IPv4, legacy).
pub mod tcp_conn_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 6, 13];
    pub const STATE: u32 = 1;
}

/// TCP-MIB tcpConnectionTable.
pub mod tcp_connection_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 6, 19];
    pub const STATE: u32 = 7;
    pub const PROCESS: u32 = 8;
}

/// TCP-MIB tcpListenerTable.
pub mod tcp_listener_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 6, 20];
    pub const PROCESS: u32 = 4;
}

/// TCP-MIB tcpConnState values.
pub mod tcp_state {
    pub const LISTEN: i64 = 2;
    pub const ESTABLISHED: i64 = 5;
}

/// UDP-MIB udpTable (IPv4, legacy).
pub mod udp_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 7, 5];
}

/// UDP-MIB udpEndpointTable.
pub mod udp_endpoint_table {
    pub const TABLE: &[u32] = &[1, 3, 6, 1, 2, 1, 7, 7];
    pub const PROCESS: u32 = 8;
}
