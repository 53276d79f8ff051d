//! Benchmark (not a test): SSH discovery of the lab's 50 real-shell hosts (127.0.3.101-150)
//! versus Ansible fact gathering (`ansible all -m setup -f 50`) against the same sshd, same run.
//!
//!     tests/lab/ssh/setup.sh
//!     /usr/bin/python3 -m venv /tmp/cmdb-ssh-bench/venv && /tmp/cmdb-ssh-bench/venv/bin/pip install ansible-core
//!     cargo run -p cmdb-tests --example ssh_bench \
//!       --config 'profile.dev.package.cmdb-discovery.opt-level=3' \
//!       --config 'profile.dev.package.cmdb-model.opt-level=3' -- [ROUNDS] [ANSIBLE_BIN]
//!
//! (the two `--config` flags optimise our code without a release build of the workspace).
//! Prints each round's wall time and the ratio of the medians.

use std::process::Command;
use std::time::{Duration, Instant};

use cmdb_discovery::ssh::{HostKeyPolicy, SshOptions, SshProbe};
use cmdb_discovery::Probe;
use cmdb_model::RunId;
use cmdb_tests::ssh_lab::{self, lab};

/// CPU seconds (user + system) of this process and of its waited-for children, from
/// /proc/self/stat: what the controller side pays, independent of the targets' CPU.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    let tick = 100.0; // USER_HZ on Linux
    let get = |i: usize| f.get(i).copied().unwrap_or(0.0) / tick;
    // after the comm field: state=0, …, utime=11, stime=12, cutime=13, cstime=14
    (get(11) + get(12), get(13) + get(14))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let ansible = args
        .next()
        .unwrap_or_else(|| "/tmp/cmdb-ssh-bench/venv/bin/ansible".into());
    let l = lab();
    let addrs = ssh_lab::bench_addresses();
    let targets: Vec<_> = addrs.iter().map(|a| ssh_lab::target(a)).collect();

    let work = std::env::temp_dir().join("cmdb-ssh-bench");
    std::fs::create_dir_all(&work).expect("bench dir");
    let inv = work.join("inventory.ini");
    let mut s = String::from("[lab]\n");
    for a in &addrs {
        s.push_str(&format!(
            "{a} ansible_host={a} ansible_port={} ansible_user={} ansible_ssh_private_key_file={} ansible_python_interpreter=/usr/bin/python3\n",
            ssh_lab::PORT,
            ssh_lab::USER,
            l.key().display()
        ));
    }
    std::fs::write(&inv, s).expect("inventory");

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let (mut cpu_ours, mut cpu_theirs, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        // ours: every host fully discovered (collection + transform), 50 at a time
        let mut o = SshOptions::new(vec![l.key_credential("lab-key")], HostKeyPolicy::Off);
        o.max_concurrent = 50;
        o.command_timeout = Duration::from_secs(120);
        let probe = std::sync::Arc::new(SshProbe::new(o).expect("probe"));
        let rid = RunId::generate();
        let (self0, _) = cpu_seconds();
        let t0 = Instant::now();
        let handles: Vec<_> = targets
            .iter()
            .map(|t| {
                let (p, t, rid) = (probe.clone(), t.clone(), rid.clone());
                tokio::spawn(async move { p.discover(&t, &rid).await })
            })
            .collect();
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.expect("discovery task panicked"));
        }
        let ours_s = t0.elapsed().as_secs_f64();
        let ours_cpu = cpu_seconds().0 - self0;
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let records: usize = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|o| o.observation.records.len())
            .sum();
        if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
            eprintln!("ours: first error: {e}");
        }

        // the floor: connect + authenticate + run `true` on every host, no collection
        let t0 = Instant::now();
        let floor: Vec<_> = targets
            .iter()
            .map(|t| {
                let (p, t) = (probe.clone(), t.clone());
                tokio::task::spawn_blocking(move || -> bool {
                    use cmdb_discovery::transport::{CommandTransport, ExecLimits};
                    let Ok((mut tr, _)) = p.connect_blocking(&t) else {
                        return false;
                    };
                    let ok = tr
                        .run("true", &ExecLimits::default())
                        .map(|o| o.exit_status == Some(0))
                        .unwrap_or(false);
                    tr.disconnect();
                    ok
                })
            })
            .collect();
        let mut floor_ok = 0;
        for h in floor {
            floor_ok += usize::from(h.await.unwrap_or(false));
        }
        let floor_s = t0.elapsed().as_secs_f64();

        // Ansible: fresh control sockets each round, pipelining on (its fastest setup)
        let cp = work.join(format!("cp-{round}-{}", std::process::id()));
        std::fs::create_dir_all(&cp).ok();
        let (_, child0) = cpu_seconds();
        let t0 = Instant::now();
        let out = Command::new(&ansible)
            .args(["all", "-i"])
            .arg(&inv)
            .args(["-m", "setup", "-f", "50", "-o"])
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env("ANSIBLE_PIPELINING", "True")
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", &cp)
            .env("ANSIBLE_LOCAL_TEMP", work.join("ansible-tmp"))
            .output();
        let theirs_s = t0.elapsed().as_secs_f64();
        let theirs_cpu = cpu_seconds().1 - child0;
        let (a_ok, a_status) = match &out {
            Ok(o) => (
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.contains("| SUCCESS"))
                    .count(),
                o.status.to_string(),
            ),
            Err(e) => (0, format!("could not run {ansible}: {e}")),
        };
        println!(
            "round {round}: cmdb {ours_s:.2}s wall, {ours_cpu:.2}s controller CPU ({ok}/50 hosts, {records} records) | \
             SSH floor (connect+auth+`true`) {floor_s:.2}s ({floor_ok}/50) | \
             ansible setup {theirs_s:.2}s wall, {theirs_cpu:.2}s controller CPU ({a_ok}/50 hosts, {a_status}) | ratio {:.1}x wall, {:.1}x CPU",
            theirs_s / ours_s,
            theirs_cpu / ours_cpu.max(0.01)
        );
        floors.push(floor_s);
        cpu_ours.push(ours_cpu);
        cpu_theirs.push(theirs_cpu);
        ours.push(ours_s);
        theirs.push(theirs_s);
        let _ = std::fs::remove_dir_all(&cp);
    }
    let (m_ours, m_theirs) = (median(&mut ours), median(&mut theirs));
    let (c_ours, c_theirs) = (median(&mut cpu_ours), median(&mut cpu_theirs));
    println!(
        "median over {rounds} rounds: wall cmdb {m_ours:.2}s, ansible {m_theirs:.2}s, ratio {:.1}x",
        m_theirs / m_ours
    );
    println!("median over {rounds} rounds: SSH floor (connect+auth+`true`, 50 hosts) {:.2}s: the best any SSH tool can do here; ansible / floor = {:.1}x", median(&mut floors), m_theirs / median(&mut floors));
    println!("median over {rounds} rounds: controller CPU cmdb {c_ours:.2}s, ansible {c_theirs:.2}s, ratio {:.1}x", c_theirs / c_ours.max(0.01));
}
