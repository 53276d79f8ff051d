pub mod bolt_lab;
pub mod api_support;
pub mod cli;

pub mod ssh_lab;
pub mod snmp_lab;
