//! HOST-RESOURCES-MIB: memory, processors and disks of the device, its processes and its
//! installed software.

use std::collections::{BTreeMap, BTreeSet};

use cmdb_model::{CiClass, Record};
use serde_json::{json, Value};

use super::rows::{scalar, table, Vbs};
use super::{Builder, DEVICE_KEY};
use crate::snmp::mib::{hr_device_table, hr_storage, hr_storage_table as hrs};
use crate::snmp::mib::{hr_sw_installed_table, hr_sw_run_table as run, hr_system};

/// Whether the agent has HOST-RESOURCES-MIB (a host's agent, not a switch's).
pub(super) fn present(vbs: &Vbs) -> bool {
    scalar(vbs, hr_system::UPTIME).is_some()
}

/// Memory, processors and disks as device attributes.
pub(super) fn describe_device(vbs: &Vbs, mut dev: Record) -> Record {
    if let Some(mem) = scalar(vbs, hr_storage::MEMORY_SIZE).and_then(|v| v.as_i64()) {
        dev = dev.attr("memory_bytes", mem * 1024);
    }
    let devices = table(vbs, hr_device_table::TABLE);
    let cpus: Vec<_> = devices
        .values()
        .filter(|c| {
            c.oid(hr_device_table::TYPE)
                .is_some_and(|o| o.0 == hr_device_table::TYPE_PROCESSOR)
        })
        .collect();
    if !cpus.is_empty() {
        dev = dev.attr("cpu_count", cpus.len());
        if let Some(m) = cpus.iter().find_map(|c| c.text(hr_device_table::DESCR)) {
            dev = dev.attr("cpu_model", m);
        }
    }
    let fss = filesystems(vbs);
    if !fss.is_empty() {
        dev = dev.attr("filesystems", Value::Array(fss));
    }
    dev
}

/// Fixed and network disks of hrStorageTable: mount, size and use in bytes.
fn filesystems(vbs: &Vbs) -> Vec<Value> {
    let mut fss = Vec::new();
    for c in table(vbs, hrs::TABLE).values() {
        let is_disk = c.oid(hrs::TYPE).is_some_and(|o| {
            o.0 == hr_storage::TYPE_FIXED_DISK || o.0 == hr_storage::TYPE_NETWORK_DISK
        });
        if !is_disk {
            continue;
        }
        let units = c.int(hrs::ALLOCATION_UNITS).unwrap_or(0).max(0) as u64;
        let size = c.int(hrs::SIZE).unwrap_or(0).max(0) as u64;
        let used = c.int(hrs::USED).unwrap_or(0).max(0) as u64;
        fss.push(json!({
            "mount": c.text(hrs::DESCR).unwrap_or_default(),
            "size_bytes": units.saturating_mul(size),
            "used_bytes": units.saturating_mul(used),
        }));
    }
    fss
}

/// One record per distinct (name, command line) of hrSWRunTable; returns pid → record key.
pub(super) fn processes(vbs: &Vbs, b: &mut Builder) -> BTreeMap<i64, String> {
    let mut by_pid = BTreeMap::new();
    let mut by_ident: BTreeMap<(String, String), String> = BTreeMap::new();
    for (idx, c) in &table(vbs, run::TABLE) {
        let Some(&pid) = idx.first() else { continue };
        let pid = pid as i64;
        let Some(name) = c.text(run::NAME) else {
            continue;
        };
        let path = c.text(run::PATH).unwrap_or_default();
        let params = c.text(run::PARAMETERS).unwrap_or_default();
        // 2 operatingSystem, 3 deviceDriver: kernel threads and drivers are not processes here
        // kernel threads have neither path nor arguments
        if matches!(c.int(run::TYPE), Some(2) | Some(3)) || (path.is_empty() && params.is_empty()) {
            continue;
        }
        let exe_path = if path.is_empty() { name.clone() } else { path };
        let cmd = normalize_ws(&format!("{exe_path} {params}"));
        // Login sessions come and go; the collection script is a discovery's own footprint.
        if is_login_session(&name, &cmd) || cmd.contains(crate::linux::script::MARKER) {
            continue;
        }
        let ident = (name.clone(), cmd.clone());
        if let Some(k) = by_ident.get(&ident) {
            by_pid.insert(pid, k.clone());
            continue;
        }
        let key = format!("proc:{pid}");
        b.push(
            Record::new(&key, CiClass::Process)
                .parent(DEVICE_KEY)
                .name(name.clone())
                .ident("executable", name)
                .ident("command_line", cmd)
                .attr("pid", pid),
        );
        by_ident.insert(ident, key.clone());
        by_pid.insert(pid, key);
    }
    by_pid
}

fn normalize_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// sshd's per-connection processes (the pre-auth child re-executed with `-R`, `sshd-session`,
/// `sshd: user [priv]`, `sshd: user@pts/0`): they live as long as one login, the SSH probe's
/// own included, so the process table catches them only by chance. The listener
/// (`sshd: /usr/sbin/sshd -D [listener] …`) is kept.
fn is_login_session(name: &str, cmd: &str) -> bool {
    if name == "sshd-session" || name == "sshd-auth" {
        return true;
    }
    if name != "sshd" {
        return false;
    }
    if cmd.contains("[listener]") {
        return false;
    }
    // A session's title names its user (`sshd: ops [priv]`, `sshd: ops@pts/0`, `sshd: ops`);
    // the listener's names the daemon's path.
    match cmd.strip_prefix("sshd:").map(str::trim) {
        Some(t) => !t.starts_with('/'),
        None => cmd.split_whitespace().any(|a| a == "-R"),
    }
}

/// One record per package of hrSWInstalledTable.
pub(super) fn software(vbs: &Vbs, b: &mut Builder) {
    let mut seen = BTreeSet::new();
    for c in table(vbs, hr_sw_installed_table::TABLE).values() {
        let Some(raw) = c.text(hr_sw_installed_table::NAME) else {
            continue;
        };
        let pkg = InstalledPackage::parse(&raw);
        if !seen.insert((pkg.manager, pkg.name.clone())) {
            continue;
        }
        let key = format!("pkg:{}", seen.len());
        let mut r = Record::new(&key, CiClass::SoftwarePackage)
            .parent(DEVICE_KEY)
            .name(pkg.name.clone())
            .ident("package_manager", pkg.manager)
            .ident("package_name", pkg.name);
        if let Some(v) = pkg.version {
            r = r.attr("version", v);
        }
        if let Some(a) = pkg.arch {
            r = r.attr("architecture", a);
        }
        b.push(r);
    }
}

/// One hrSWInstalledName, read the way the agent's package database wrote it, so the package
/// is the same CI an SSH probe finds with `dpkg-query`/`rpm -qa`.
#[derive(Debug, PartialEq)]
struct InstalledPackage {
    manager: &'static str,
    name: String,
    version: Option<String>,
    arch: Option<String>,
}

impl InstalledPackage {
    /// net-snmp on Debian reports `name_version_arch` (dpkg), on RPM systems
    /// `name-version-release.arch`; anything else (Windows, appliances) is kept whole.
    fn parse(raw: &str) -> InstalledPackage {
        let raw = raw.trim();
        let parts: Vec<&str> = raw.split('_').collect();
        if parts.len() == 3
            && parts.iter().all(|p| !p.is_empty() && !p.contains(' '))
            && parts[1].starts_with(|c: char| c.is_ascii_digit())
        {
            return InstalledPackage {
                manager: "dpkg",
                name: parts[0].into(),
                version: Some(parts[1].into()),
                arch: Some(parts[2].into()),
            };
        }
        const RPM_ARCHES: &[&str] = &[
            "x86_64", "noarch", "i686", "i386", "aarch64", "ppc64le", "s390x", "armv7hl",
        ];
        if let Some((nvr, arch)) = raw.rsplit_once('.').filter(|(_, a)| RPM_ARCHES.contains(a)) {
            let mut it = nvr.rsplitn(3, '-');
            if let (Some(release), Some(version), Some(name)) = (it.next(), it.next(), it.next()) {
                if !name.is_empty()
                    && version.starts_with(|c: char| c.is_ascii_digit())
                    && !raw.contains(' ')
                {
                    return InstalledPackage {
                        manager: "rpm",
                        name: name.into(),
                        version: Some(format!("{version}-{release}")),
                        arch: Some(arch.into()),
                    };
                }
            }
        }
        InstalledPackage {
            manager: "hrSWInstalled",
            name: raw.into(),
            version: None,
            arch: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_read_like_the_package_manager_writes_them() {
        let p = |m: &'static str, n: &str, v: Option<&str>, a: Option<&str>| InstalledPackage {
            manager: m,
            name: n.into(),
            version: v.map(Into::into),
            arch: a.map(Into::into),
        };
        assert_eq!(
            InstalledPackage::parse("bash_5.2.15-2+b8_amd64"),
            p("dpkg", "bash", Some("5.2.15-2+b8"), Some("amd64"))
        );
        assert_eq!(
            InstalledPackage::parse("adduser_3.134_all"),
            p("dpkg", "adduser", Some("3.134"), Some("all"))
        );
        assert_eq!(
            InstalledPackage::parse("bash-5.1.8-6.el9.x86_64"),
            p("rpm", "bash", Some("5.1.8-6.el9"), Some("x86_64"))
        );
        assert_eq!(
            InstalledPackage::parse("python3-libs-3.9.18-1.el9.noarch"),
            p("rpm", "python3-libs", Some("3.9.18-1.el9"), Some("noarch"))
        );
        for whole in [
            "Microsoft Visual C++ 2019 X64 Minimum Runtime - 14.29.30133",
            "VMware Tools",
            "kernel_modules",
        ] {
            assert_eq!(
                InstalledPackage::parse(whole).manager,
                "hrSWInstalled",
                "{whole}"
            );
        }
    }

    #[test]
    fn login_sessions_are_not_processes_of_the_host() {
        for (n, c) in [
            ("sshd", "/usr/sbin/sshd -D -f /etc/ssh/sshd_config -R"),
            ("sshd", "sshd: root@notty"),
            ("sshd", "sshd: ops [priv]"),
            ("sshd", "sshd: [accepted]"),
            ("sshd", "sshd: root"),
            ("sshd-session", "sshd-session: root@notty"),
        ] {
            assert!(is_login_session(n, c), "{c}");
        }
        for (n, c) in [
            (
                "sshd",
                "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
            ),
            ("sshd", "/usr/sbin/sshd -D"),
            ("nginx", "nginx: worker process"),
        ] {
            assert!(!is_login_session(n, c), "{c}");
        }
    }
}
