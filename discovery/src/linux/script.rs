//! The collection script: one shell script, run with ONE command execution per host, that
//! prints every section between delimiter lines. One round trip instead of twenty keeps SSH
//! discovery fast; the script is plain POSIX `sh` and every step is optional (a missing command
//! exits 127 inside its own subshell and becomes a diagnostic).
//!
//! Output format, per section:
//! ```text
//! @@CMDB@@ BEGIN <name>
//! <the command's stdout, verbatim>
//! @@CMDB@@ END <name> <exit status>
//! ```

/// Line prefix of section delimiters.
pub const MARKER: &str = "@@CMDB@@";

/// Sections in the order the script prints them.
pub const SECTIONS: &[&str] = &[
    "id", "os_release", "uname", "hostname", "fqdn", "dmi", "nproc", "cpuinfo", "meminfo",
    "uptime", "df", "ip_link", "ip_addr", "ip_route", "virtual_net", "ss", "ps", "comm",
    "systemd", "ps_unit", "dpkg", "rpm", "docker", "podman",
];

/// The script. Sent as the command of one exec; needs only `sh`.
pub const COLLECT_SCRIPT: &str = r#"# cmdb-collect v1 @@CMDB@@
export LC_ALL=C
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
s() { printf '\n@@CMDB@@ BEGIN %s\n' "$1"; ( "$2" ) 2>/dev/null </dev/null; r=$?; printf '\n@@CMDB@@ END %s %s\n' "$1" "$r"; }
need() { command -v "$1" >/dev/null 2>&1 || exit 127; }
lim() { if command -v timeout >/dev/null 2>&1; then timeout 15 "$@"; else "$@"; fi; }
c_id() { id -u; }
c_os_release() { if [ -r /etc/os-release ]; then cat /etc/os-release; else cat /usr/lib/os-release; fi; }
c_uname() { uname -srm; }
c_hostname() { hostname 2>/dev/null || cat /proc/sys/kernel/hostname; }
c_fqdn() { need hostname; lim hostname -f; }
c_dmi() { [ -d /sys/class/dmi/id ] || exit 127; cd /sys/class/dmi/id || exit 1; r=0; for f in sys_vendor product_name product_version product_serial product_uuid board_serial chassis_serial bios_version; do if [ -e "$f" ]; then if [ -r "$f" ]; then printf '%s=%s\n' "$f" "$(cat "$f" 2>/dev/null)"; else r=13; fi; fi; done; exit $r; }
c_nproc() { nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo; }
c_cpuinfo() { grep -m1 -E '^(model name|Hardware|cpu model|Processor)' /proc/cpuinfo; }
c_meminfo() { grep -E '^(MemTotal|SwapTotal):' /proc/meminfo; }
c_uptime() { cat /proc/uptime; }
c_df() { need df; df -PTB1 -x tmpfs -x devtmpfs -x overlay -x squashfs; }
c_ip_link() { need ip; ip -j link show; }
c_ip_addr() { need ip; ip -j addr show; }
c_ip_route() { need ip; ip -j route show; }
c_virtual_net() { ls /sys/devices/virtual/net; }
c_ss() { need ss; ss -H -tunap; }
c_ps() { need ps; ps -eo pid=,ppid=,user:32=,args=; }
c_comm() { need ps; ps -eo pid=,comm=; }
c_systemd() { need systemctl; [ -d /run/systemd/system ] || exit 127; lim systemctl list-units --type=service --all --no-legend --no-pager --plain; }
c_ps_unit() { [ -d /run/systemd/system ] || exit 127; ps -eo pid=,unit=; }
c_dpkg() { need dpkg-query; dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\n'; }
c_rpm() { need rpm; rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n'; }
c_docker() { need docker; lim docker ps --no-trunc --format '{{json .}}'; }
c_podman() { need podman; lim podman ps --no-trunc --format '{{json .}}'; }
for n in id os_release uname hostname fqdn dmi nproc cpuinfo meminfo uptime df ip_link ip_addr ip_route virtual_net ss ps comm systemd ps_unit dpkg rpm docker podman; do s "$n" "c_$n"; done
printf '\n@@CMDB@@ DONE\n'
"#;

/// One section of collected output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub body: String,
    /// Exit status of the section's command; `None` when the END line was never seen (output
    /// cut off or the command hung).
    pub status: Option<i32>,
}

impl Section {
    pub fn ok(&self) -> bool {
        self.status == Some(0)
    }
    /// The command is not installed / not applicable here.
    pub fn missing(&self) -> bool {
        self.status == Some(127)
    }
}

/// Every section of one collection, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sections {
    pub sections: std::collections::BTreeMap<String, Section>,
    /// The closing DONE line was seen: the script ran to its end.
    pub done: bool,
}

impl Sections {
    pub fn get(&self, name: &str) -> Option<&Section> {
        self.sections.get(name)
    }
    /// Body of a section whose command succeeded (or printed something despite a non-zero
    /// status, as `df` does when one mount is unreadable).
    pub fn body(&self, name: &str) -> Option<&str> {
        let s = self.sections.get(name)?;
        if s.ok() || (!s.missing() && !s.body.trim().is_empty()) {
            Some(s.body.as_str())
        } else {
            None
        }
    }
}

/// Split collected output into sections. Never fails: text outside sections is ignored and a
/// section without END keeps what arrived, with `status: None`.
pub fn parse_sections(text: &str) -> Sections {
    let mut out = Sections::default();
    let mut current: Option<(String, Vec<&str>)> = None;
    let begin = format!("{MARKER} BEGIN ");
    let end = format!("{MARKER} END ");
    for line in text.split('\n') {
        let line_t = line.strip_suffix('\r').unwrap_or(line);
        if let Some(name) = line_t.strip_prefix(&begin) {
            if let Some((n, lines)) = current.take() {
                out.sections.insert(n, Section { body: join_body(&lines), status: None });
            }
            current = Some((name.trim().to_string(), Vec::new()));
        } else if let Some(rest) = line_t.strip_prefix(&end) {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let status = parts.next().and_then(|s| s.parse::<i32>().ok());
            if let Some((n, lines)) = current.take() {
                if n == name {
                    out.sections.insert(n, Section { body: join_body(&lines), status });
                } else {
                    out.sections.insert(n, Section { body: join_body(&lines), status: None });
                }
            }
        } else if line_t.trim() == format!("{MARKER} DONE") {
            out.done = true;
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line_t);
        }
    }
    if let Some((n, lines)) = current.take() {
        out.sections.insert(n, Section { body: join_body(&lines), status: None });
    }
    out
}

fn join_body(lines: &[&str]) -> String {
    // The script prints a newline before END so output without a final newline stays
    // delimited: drop the trailing empty lines that adds.
    let mut end = lines.len();
    while end > 0 && lines[end - 1].is_empty() {
        end -= 1;
    }
    lines[..end].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lists_every_section() {
        for s in SECTIONS {
            assert!(COLLECT_SCRIPT.contains(&format!("c_{s}()")), "{s}");
        }
    }

    #[test]
    fn splits_sections() {
        let t = "junk\n\n@@CMDB@@ BEGIN a\nx\ny\n@@CMDB@@ END a 0\n\n@@CMDB@@ BEGIN b\n\n@@CMDB@@ END b 127\n\n@@CMDB@@ BEGIN c\npartial";
        let s = parse_sections(t);
        assert_eq!(s.get("a").unwrap().body, "x\ny");
        assert_eq!(s.get("a").unwrap().status, Some(0));
        assert!(s.get("b").unwrap().missing());
        assert_eq!(s.get("c").unwrap().status, None);
        assert_eq!(s.get("c").unwrap().body, "partial");
        assert!(!s.done);
        assert_eq!(s.body("b"), None);
    }

    #[test]
    fn garbage_gives_no_sections() {
        let s = parse_sections("\u{fffd}\u{fffd} random bytes\n@@CMDB@@ END x\n@@CMDB@@ BEGIN");
        assert!(s.sections.is_empty() || s.sections.values().all(|v| v.body.is_empty()));
    }
}
