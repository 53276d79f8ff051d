//! Processes worth a CI: the ones holding sockets (`ps`, `comm`, systemd units).

use std::collections::BTreeMap;

use cmdb_model::{CiClass, Record};

use super::DEVICE_KEY;
use crate::linux::parse::Proc;

/// The program a command line runs: the first word, without path and without the `:` that
/// process titles such as `nginx: master process` or `postgres: walreceiver` add.
fn program_name(args: &str) -> String {
    let first = args.split_whitespace().next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    base.trim_end_matches(':').to_string()
}

/// Processes worth a CI: the ones holding sockets, each collapsed to the top of its tree of
/// same-named processes (nginx workers → the nginx master), deduplicated by identity.
#[derive(Default)]
pub(super) struct ProcTable {
    by_identity: BTreeMap<(String, String), String>,
    pub(super) records: Vec<Record>,
}

impl ProcTable {
    pub(super) fn key_for(
        &mut self,
        pid: u32,
        ss_comm: &str,
        procs: &BTreeMap<u32, Proc>,
        comms: &BTreeMap<u32, String>,
        units: &BTreeMap<u32, String>,
    ) -> Option<String> {
        // A process's name for walking up its tree: `comm` when recorded, else the program
        // named by its arguments (`nginx: worker process` → nginx, `/usr/bin/java …` → java).
        let name_of = |p: u32| -> Option<String> {
            comms
                .get(&p)
                .cloned()
                .or_else(|| procs.get(&p).map(|x| program_name(&x.args)))
        };
        let mut rep = pid;
        let exe = comms
            .get(&pid)
            .cloned()
            .unwrap_or_else(|| ss_comm.to_string());
        let mut me = name_of(pid);
        for _ in 0..64 {
            let Some(p) = procs.get(&rep) else { break };
            if p.ppid == 0 || p.ppid == rep {
                break;
            }
            match (name_of(p.ppid), &me) {
                (Some(parent), Some(mine)) if &parent == mine => rep = p.ppid,
                _ => break,
            }
            me = name_of(rep);
        }
        let proc = procs.get(&rep);
        let args = proc
            .map(|p| p.args.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| exe.clone());
        let identity = (exe.clone(), args.clone());
        if let Some(k) = self.by_identity.get(&identity) {
            return Some(k.clone());
        }
        let key = format!("proc:{rep}");
        let mut r = Record::new(&key, CiClass::Process)
            .name(exe.clone())
            .parent(DEVICE_KEY)
            .ident("executable", exe)
            .ident("command_line", args)
            .attr("pid", rep);
        if let Some(p) = proc {
            r = r.attr("user", p.user.clone());
        }
        if let Some(u) = units.get(&rep).filter(|u| u.ends_with(".service")) {
            r = r.ident("service_unit", u.clone());
        }
        self.records.push(r);
        self.by_identity.insert(identity, key.clone());
        Some(key)
    }
}
