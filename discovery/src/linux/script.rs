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
    "os_release",
    "uname",
    "hostname",
    "fqdn",
    "dmi",
    "nproc",
    "cpuinfo",
    "meminfo",
    "uptime",
    "df",
    "ip_addr",
    "ip_route",
    "virtual_net",
    "ss",
    "ps",
    "systemd",
    "ps_unit",
    "dpkg",
    "rpm",
    "docker",
    "podman",
];

/// The script. Sent as the command of one exec; needs only a POSIX shell. Files are read with
/// shell builtins and sections run without subshells, so a host pays for about ten process
/// starts in total: discovery of a busy host costs it little.
pub const COLLECT_SCRIPT: &str = r#"# cmdb-collect v2 @@CMDB@@
export LC_ALL=C
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
s() { printf '\n@@CMDB@@ BEGIN %s\n' "$1"; "c_$1" 2>/dev/null </dev/null; printf '\n@@CMDB@@ END %s %s\n' "$1" "$?"; }
have() { command -v "$1" >/dev/null 2>&1; }
lim() { if have timeout; then timeout 15 "$@"; else "$@"; fi; }
rd() { [ -r "$1" ] || return 1; while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done < "$1"; }
c_os_release() { rd /etc/os-release || rd /usr/lib/os-release; }
c_uname() { if [ -r /proc/sys/kernel/arch ]; then read -r a < /proc/sys/kernel/ostype; read -r b < /proc/sys/kernel/osrelease; read -r c < /proc/sys/kernel/arch; echo "$a $b $c"; else uname -srm; fi; }
c_hostname() { rd /proc/sys/kernel/hostname || hostname; }
c_fqdn() { have hostname || return 127; hostname -f; }
c_dmi() { d=/sys/class/dmi/id; [ -d $d ] || return 127; r=0; for f in sys_vendor product_name product_version product_serial product_uuid board_serial chassis_serial bios_version; do if [ -e $d/$f ]; then if [ -r $d/$f ]; then v=; read -r v < $d/$f; printf '%s=%s\n' $f "$v"; else r=13; fi; fi; done; return $r; }
CPUS=0; CPUM=
c_nproc() { while IFS= read -r l; do case $l in processor*) CPUS=$((CPUS+1));; "model name"*|Hardware*|"cpu model"*) [ -n "$CPUM" ] || CPUM=$l;; esac; done < /proc/cpuinfo; echo $CPUS; }
c_cpuinfo() { [ -n "$CPUM" ] || return 1; printf '%s\n' "$CPUM"; }
c_meminfo() { while IFS= read -r l; do case $l in MemTotal:*|SwapTotal:*) printf '%s\n' "$l";; esac; done < /proc/meminfo; }
c_uptime() { rd /proc/uptime; }
c_df() { have df || return 127; df -PTB1 -x tmpfs -x devtmpfs -x overlay -x squashfs; }
c_ip_addr() { have ip || return 127; ip -j addr show; }
c_ip_route() { have ip || return 127; ip -j route show; }
c_virtual_net() { [ -d /sys/devices/virtual/net ] || return 127; for f in /sys/devices/virtual/net/*; do printf '%s\n' "${f##*/}"; done; }
c_ss() { have ss || return 127; ss -H -tunap; }
c_ps() { have ps || return 127; ps -eo pid=,ppid=,user:32=,args=; }
c_systemd() { [ -d /run/systemd/system ] && have systemctl || return 127; lim systemctl list-units --type=service --all --no-legend --no-pager --plain; }
c_ps_unit() { [ -d /run/systemd/system ] || return 127; ps -eo pid=,unit=; }
c_dpkg() { have dpkg-query || return 127; dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\n'; }
c_rpm() { have rpm || return 127; rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n'; }
c_docker() { have docker && [ -S /var/run/docker.sock ] || return 127; lim docker ps --no-trunc --format '{{json .}}'; }
c_podman() { have podman || return 127; lim podman ps --no-trunc --format '{{json .}}'; }
for n in os_release uname hostname fqdn dmi nproc cpuinfo meminfo uptime df ip_addr ip_route virtual_net ss ps systemd ps_unit dpkg rpm docker podman; do s "$n"; done
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
                out.sections.insert(
                    n,
                    Section {
                        body: join_body(&lines),
                        status: None,
                    },
                );
            }
            current = Some((name.trim().to_string(), Vec::new()));
        } else if let Some(rest) = line_t.strip_prefix(&end) {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap_or_default().to_string();
            let status = parts.next().and_then(|s| s.parse::<i32>().ok());
            if let Some((n, lines)) = current.take() {
                if n == name {
                    out.sections.insert(
                        n,
                        Section {
                            body: join_body(&lines),
                            status,
                        },
                    );
                } else {
                    out.sections.insert(
                        n,
                        Section {
                            body: join_body(&lines),
                            status: None,
                        },
                    );
                }
            }
        } else if line_t.trim() == format!("{MARKER} DONE") {
            out.done = true;
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line_t);
        }
    }
    if let Some((n, lines)) = current.take() {
        out.sections.insert(
            n,
            Section {
                body: join_body(&lines),
                status: None,
            },
        );
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
        let order = format!("for n in {}; do", SECTIONS.join(" "));
        assert!(
            COLLECT_SCRIPT.contains(&order),
            "the loop runs SECTIONS in order"
        );
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
