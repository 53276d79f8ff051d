pub mod api_support;
pub mod bolt_lab;
pub mod cli;
pub mod monitoring_lab;
pub mod serve;

pub mod browser;
pub mod estate_lab;
pub mod snmp_lab;
pub mod ssh_lab;
