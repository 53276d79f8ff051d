
pub mod ssh_lab;
