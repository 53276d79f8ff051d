//! Pure parsers for the collected Linux command outputs. None of them fails on odd input: an
//! unparsable line is skipped (and counted, so the caller can report a diagnostic).

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `KEY=value` lines (`/etc/os-release`, the DMI section); values unquoted.
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
                .unwrap_or(v);
            m.insert(
                k.trim().to_string(),
                v.replace("\\\"", "\"").trim().to_string(),
            );
        }
    }
    m
}

/// `uname -srm`: kernel name, release, machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Uname {
    pub kernel_name: String,
    pub kernel_release: String,
    pub machine: String,
}

pub fn parse_uname(text: &str) -> Option<Uname> {
    let mut it = text.split_whitespace();
    let kernel_name = it.next()?.to_string();
    let kernel_release = it.next()?.to_string();
    let machine = it.next().unwrap_or_default().to_string();
    Some(Uname {
        kernel_name,
        kernel_release,
        machine,
    })
}

/// First non-empty line, trimmed.
pub fn first_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// `MemTotal:  16384 kB` → bytes.
pub fn parse_meminfo(text: &str, key: &str) -> Option<u64> {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let mut it = rest.split_whitespace();
            let n: u64 = it.next()?.parse().ok()?;
            let mult = match it.next().map(str::to_ascii_lowercase).as_deref() {
                Some("kb") => 1024,
                Some("mb") => 1024 * 1024,
                Some("gb") => 1024 * 1024 * 1024,
                _ => 1,
            };
            return n.checked_mul(mult);
        }
    }
    None
}

/// `/proc/uptime` → whole seconds.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let f: f64 = text.split_whitespace().next()?.parse().ok()?;
    if f.is_finite() && f >= 0.0 {
        Some(f as u64)
    } else {
        None
    }
}

/// `model name : Intel(R) Xeon(R) …` → the value.
pub fn parse_cpu_model(text: &str) -> Option<String> {
    let line = text.lines().next()?;
    let (_, v) = line.split_once(':')?;
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_string())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    pub source: String,
    pub fs_type: String,
    pub size_bytes: u64,
    pub used_bytes: u64,
    pub mount_point: String,
}

/// `df -PTB1`: Filesystem Type 1-blocks Used Available Capacity Mounted-on.
pub fn parse_df(text: &str) -> (Vec<Filesystem>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "Filesystem" {
            continue;
        }
        if f.len() < 7 {
            bad += 1;
            continue;
        }
        let (Ok(size), Ok(used)) = (f[2].parse::<u64>(), f[3].parse::<u64>()) else {
            bad += 1;
            continue;
        };
        out.push(Filesystem {
            source: f[0].to_string(),
            fs_type: f[1].to_string(),
            size_bytes: size,
            used_bytes: used,
            mount_point: f[6..].join(" "),
        });
    }
    (out, bad)
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub if_index: Option<u64>,
    pub if_name: String,
    pub mac: Option<String>,
    pub link_type: Option<String>,
    pub mtu: Option<u64>,
    pub oper_state: Option<String>,
    pub admin_up: bool,
    pub alias: Option<String>,
    pub addrs: Vec<Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub address: IpAddr,
    pub prefix_len: u8,
    pub scope: Option<String>,
}

/// Output of a JSON-speaking command (`ip -j …`) that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonOutputError {
    #[error("expected a JSON array")]
    NotAnArray,
    #[error("invalid JSON: {0}")]
    Invalid(String),
}

fn json_array(text: &str) -> Result<Vec<Value>, JsonOutputError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(Vec::new());
    }
    match serde_json::from_str::<Value>(t) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(_) => Err(JsonOutputError::NotAnArray),
        Err(e) => Err(JsonOutputError::Invalid(e.to_string())),
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

/// `ip -j link` or `ip -j addr` (the latter adds `addr_info`).
pub fn parse_ip_links(text: &str) -> Result<Vec<Link>, JsonOutputError> {
    let mut out = Vec::new();
    for v in json_array(text)? {
        let Some(name) = s(&v, "ifname") else {
            continue;
        };
        let flags: Vec<String> = v
            .get("flags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut addrs = Vec::new();
        if let Some(ai) = v.get("addr_info").and_then(Value::as_array) {
            for a in ai {
                let Some(ip) = s(a, "local").and_then(|x| x.parse::<IpAddr>().ok()) else {
                    continue;
                };
                let plen = a
                    .get("prefixlen")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(128) as u8;
                addrs.push(Addr {
                    address: ip,
                    prefix_len: plen,
                    scope: s(a, "scope"),
                });
            }
        }
        out.push(Link {
            if_index: v.get("ifindex").and_then(Value::as_u64),
            if_name: name,
            mac: s(&v, "address").filter(|m| m.len() == 17),
            link_type: s(&v, "link_type"),
            mtu: v.get("mtu").and_then(Value::as_u64),
            oper_state: s(&v, "operstate").map(|x| x.to_ascii_lowercase()),
            admin_up: flags.iter().any(|f| f == "UP"),
            alias: s(&v, "ifalias"),
            addrs,
        });
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: String,
    pub gateway: Option<String>,
    pub dev: Option<String>,
}

/// `ip -j route`.
pub fn parse_ip_routes(text: &str) -> Result<Vec<Route>, JsonOutputError> {
    Ok(json_array(text)?
        .iter()
        .filter_map(|v| {
            Some(Route {
                dst: s(v, "dst")?,
                gateway: s(v, "gateway"),
                dev: s(v, "dev"),
            })
        })
        .collect())
}

/// One socket from `ss -H -tunap`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: String,
    pub state: String,
    /// `None` for the wildcard (`*`, `0.0.0.0`, `::`).
    pub local_ip: Option<IpAddr>,
    pub local_port: u16,
    pub peer_ip: Option<IpAddr>,
    pub peer_port: Option<u16>,
    /// (command, pid) of every process holding the socket.
    pub users: Vec<(String, u32)>,
}

/// `10.0.0.1:80`, `[::1]:80`, `*:80`, `127.0.0.53%lo:53`, `[::ffff:10.0.0.1]:5432`, `*:*`.
pub fn parse_sock_addr(s: &str) -> Option<(Option<IpAddr>, Option<u16>)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = if port == "*" {
        None
    } else {
        Some(port.parse::<u16>().ok()?)
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = host.split('%').next().unwrap_or(host);
    let ip = if host == "*" {
        None
    } else {
        let ip: IpAddr = host.parse().ok()?;
        let ip = canonical_ip(ip);
        if ip.is_unspecified() {
            None
        } else {
            Some(ip)
        }
    };
    Some((ip, port))
}

/// IPv4-mapped IPv6 addresses become IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn parse_users(s: &str) -> Vec<(String, u32)> {
    // users:(("nginx",pid=10,fd=6),("nginx",pid=11,fd=6))
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("((").or_else(|| rest.find("),(")) {
        rest = &rest[i + 2..];
        let Some(q1) = rest.find('"') else { break };
        let after = &rest[q1 + 1..];
        let Some(q2) = after.find('"') else { break };
        let comm = after[..q2].to_string();
        let tail = &after[q2 + 1..];
        let pid = tail.find("pid=").and_then(|p| {
            let d: String = tail[p + 4..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            d.parse::<u32>().ok()
        });
        if let Some(pid) = pid {
            out.push((comm, pid));
        }
        rest = tail;
    }
    out
}

/// `ss -H -tunap`: Netid State Recv-Q Send-Q Local Peer [users:(…)].
pub fn parse_ss(text: &str) -> (Vec<Socket>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            bad += 1;
            continue;
        }
        let protocol = f[0].to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            continue;
        }
        let (Some((lip, Some(lport))), Some((pip, pport))) =
            (parse_sock_addr(f[4]), parse_sock_addr(f[5]))
        else {
            bad += 1;
            continue;
        };
        let users = f[6..]
            .iter()
            .find(|x| x.starts_with("users:"))
            .map(|u| parse_users(u))
            .unwrap_or_default();
        out.push(Socket {
            protocol,
            state: f[1].to_ascii_uppercase(),
            local_ip: lip,
            local_port: lport,
            peer_ip: pip,
            peer_port: pport,
            users,
        });
    }
    (out, bad)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub ppid: u32,
    pub user: String,
    /// Full command line, whitespace normalised.
    pub args: String,
}

/// `ps -eo pid=,ppid=,user:32=,args=`.
pub fn parse_ps(text: &str) -> (Vec<Proc>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut it = line.split_whitespace();
        let (Some(pid), Some(ppid), Some(user)) = (it.next(), it.next(), it.next()) else {
            bad += 1;
            continue;
        };
        let (Ok(pid), Ok(ppid)) = (pid.parse(), ppid.parse()) else {
            bad += 1;
            continue;
        };
        let args = it.collect::<Vec<_>>().join(" ");
        out.push(Proc {
            pid,
            ppid,
            user: user.to_string(),
            args,
        });
    }
    (out, bad)
}

/// `ps -eo pid=,comm=` (also `pid=,unit=`): pid → rest of line.
pub fn parse_pid_map(text: &str) -> BTreeMap<u32, String> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some((pid, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let (Ok(pid), rest) = (pid.parse::<u32>(), rest.trim()) else {
            continue;
        };
        if !rest.is_empty() && rest != "-" {
            m.insert(pid, rest.to_string());
        }
    }
    m
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub load: String,
    pub active: String,
    pub sub: String,
    pub description: String,
}

/// `systemctl list-units --type=service --all --no-legend --plain`.
pub fn parse_systemd_units(text: &str) -> Vec<Unit> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim_start_matches(|c: char| c == '●' || c == '*' || c.is_whitespace());
            let mut it = l.split_whitespace();
            let name = it.next()?.to_string();
            if !name.ends_with(".service") {
                return None;
            }
            Some(Unit {
                name,
                load: it.next()?.to_string(),
                active: it.next()?.to_string(),
                sub: it.next()?.to_string(),
                description: it.collect::<Vec<_>>().join(" "),
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub arch: String,
}

/// Tab-separated `name version arch` (the dpkg-query and rpm formats of the script).
pub fn parse_packages(text: &str) -> (Vec<Package>, usize) {
    let mut out = Vec::new();
    let mut bad = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 2 || f[0].trim().is_empty() {
            bad += 1;
            continue;
        }
        out.push(Package {
            name: f[0].trim().to_string(),
            version: f[1].trim().to_string(),
            arch: f.get(2).map(|x| x.trim().to_string()).unwrap_or_default(),
        });
    }
    (out, bad)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub state: String,
}

/// `docker|podman ps --format '{{json .}}'`: one JSON object per line (podman prints a
/// single array instead; both are accepted).
pub fn parse_containers(text: &str) -> (Vec<Container>, usize) {
    let mut objs = Vec::new();
    let mut bad = 0;
    let t = text.trim();
    if t.starts_with('[') {
        match serde_json::from_str::<Value>(t) {
            Ok(Value::Array(a)) => objs = a,
            _ => bad += 1,
        }
    } else {
        for line in t.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Value>(line) {
                Ok(v @ Value::Object(_)) => objs.push(v),
                _ => bad += 1,
            }
        }
    }
    let mut out = Vec::new();
    for v in objs {
        let id = s(&v, "ID").or_else(|| s(&v, "Id")).unwrap_or_default();
        let name = match v.get("Names") {
            Some(Value::String(x)) => x.split(',').next().unwrap_or_default().to_string(),
            Some(Value::Array(a)) => a
                .first()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => String::new(),
        };
        if id.is_empty() && name.is_empty() {
            bad += 1;
            continue;
        }
        out.push(Container {
            id,
            name,
            image: s(&v, "Image").unwrap_or_default(),
            state: s(&v, "State")
                .or_else(|| s(&v, "Status"))
                .unwrap_or_default(),
        });
    }
    (out, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_unquotes() {
        let m =
            parse_kv("NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n# c\nbad line\n");
        assert_eq!(m["NAME"], "Debian GNU/Linux");
        assert_eq!(m["VERSION_ID"], "12");
        assert_eq!(m["ID"], "debian");
    }

    #[test]
    fn meminfo_and_uptime() {
        assert_eq!(
            parse_meminfo("MemTotal:       16384 kB\n", "MemTotal"),
            Some(16384 * 1024)
        );
        assert_eq!(parse_meminfo("garbage", "MemTotal"), None);
        assert_eq!(parse_uptime("12345.67 222.0\n"), Some(12345));
        assert_eq!(parse_uptime("NaN"), None);
    }

    #[test]
    fn sock_addrs() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            parse_sock_addr("10.0.0.1:80"),
            Some((ip("10.0.0.1"), Some(80)))
        );
        assert_eq!(parse_sock_addr("[::1]:80"), Some((ip("::1"), Some(80))));
        assert_eq!(parse_sock_addr("*:80"), Some((None, Some(80))));
        assert_eq!(parse_sock_addr("0.0.0.0:*"), Some((None, None)));
        assert_eq!(
            parse_sock_addr("127.0.0.53%lo:53"),
            Some((ip("127.0.0.53"), Some(53)))
        );
        assert_eq!(
            parse_sock_addr("[::ffff:10.0.0.1]:5432"),
            Some((ip("10.0.0.1"), Some(5432)))
        );
        assert_eq!(parse_sock_addr("nonsense"), None);
    }

    #[test]
    fn ss_lines() {
        let t = "tcp   LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:((\"nginx\",pid=120,fd=6),(\"nginx\",pid=119,fd=6))\n\
                 tcp   ESTAB  0 0   10.0.1.11:41234 10.0.2.21:8080 users:((\"nginx\",pid=120,fd=12))\n\
                 udp   UNCONN 0 0   127.0.0.1:323 0.0.0.0:*\n\
                 garbage\n";
        let (s, bad) = parse_ss(t);
        assert_eq!(bad, 1);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].users,
            vec![("nginx".to_string(), 120), ("nginx".to_string(), 119)]
        );
        assert_eq!(s[1].peer_port, Some(8080));
        assert!(s[2].users.is_empty());
    }

    #[test]
    fn ps_and_pid_maps() {
        let (p, bad) = parse_ps(
            "  1     0 root  /sbin/init splash\n 200 1 www-data nginx: worker   process\nx y\n",
        );
        assert_eq!(bad, 1);
        assert_eq!(p[1].args, "nginx: worker process");
        let m = parse_pid_map("  1 systemd\n  22 Web Content\n 30 -\n");
        assert_eq!(m[&22], "Web Content");
        assert!(!m.contains_key(&30));
    }

    #[test]
    fn packages_and_containers() {
        let (p, bad) = parse_packages("bash\t5.2.15-2+b2\tamd64\nnoversion\n");
        assert_eq!(p[0].version, "5.2.15-2+b2");
        assert_eq!(bad, 1);
        let (c, bad) = parse_containers("{\"ID\":\"abc\",\"Names\":\"web\",\"Image\":\"nginx:1\",\"State\":\"running\"}\nnot json\n");
        assert_eq!(c[0].name, "web");
        assert_eq!(bad, 1);
        let (c, _) = parse_containers(
            "[{\"Id\":\"def\",\"Names\":[\"db\"],\"Image\":\"pg\",\"State\":\"running\"}]",
        );
        assert_eq!(c[0].id, "def");
    }

    #[test]
    fn systemd_units() {
        let u = parse_systemd_units("nginx.service loaded active running A high performance web server\n● bad.service not-found inactive dead bad.service\nfoo.socket loaded active listening x\n");
        assert_eq!(u.len(), 2);
        assert_eq!(u[0].description, "A high performance web server");
    }

    /// Every parser over every recording: real Debian 12 and the estate, no unparsable line.
    #[test]
    fn every_parser_on_every_recording() {
        let dir = format!("{}/src/linux/testdata", env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![format!("{dir}/debian12-local.out")];
        for h in [
            "lb1", "web1", "web2", "web3", "app1", "app2", "db1", "db2", "cache1",
        ] {
            files.push(format!("{dir}/estate/{h}.out"));
        }
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let s = crate::linux::script::parse_sections(&text);
            assert!(s.done, "{f}");
            let body = |n: &str| s.body(n).unwrap_or_else(|| panic!("{f}: no {n}"));
            assert!(parse_kv(body("os_release")).contains_key("ID"), "{f}");
            assert!(parse_uname(body("uname")).is_some(), "{f}");
            assert!(first_line(body("hostname")).is_some(), "{f}");
            assert!(parse_meminfo(body("meminfo"), "MemTotal").is_some(), "{f}");
            assert!(parse_uptime(body("uptime")).is_some(), "{f}");
            assert!(parse_cpu_model(body("cpuinfo")).is_some(), "{f}");
            let (fs, bad) = parse_df(body("df"));
            assert!(!fs.is_empty() && bad == 0, "{f}");
            let links = parse_ip_links(body("ip_addr")).unwrap();
            assert!(
                links.iter().any(|l| l.if_name == "lo") && links.len() >= 2,
                "{f}"
            );
            assert!(links.iter().any(|l| !l.addrs.is_empty()), "{f}");
            let routes = parse_ip_routes(body("ip_route")).unwrap();
            assert!(routes.iter().any(|r| r.dst == "default"), "{f}");
            let (socks, bad) = parse_ss(body("ss"));
            assert!(!socks.is_empty() && bad == 0, "{f}");
            let (procs, bad) = parse_ps(body("ps"));
            assert!(procs.len() > 5 && bad == 0, "{f}");
            let (pkgs, bad) = parse_packages(body("dpkg"));
            assert!(pkgs.len() > 5 && bad == 0, "{f}");
            if let Some(b) = s.body("systemd") {
                assert!(!parse_systemd_units(b).is_empty(), "{f}");
                assert!(!parse_pid_map(body("ps_unit")).is_empty(), "{f}");
            }
            if let Some(b) = s.body("docker") {
                let (c, bad) = parse_containers(b);
                assert!(c.len() == 1 && bad == 0, "{f}");
            }
        }
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        assert!(parse_ip_links("{nope").is_err());
        assert!(parse_ip_links("{}").is_err());
        assert_eq!(parse_ip_links("").unwrap().len(), 0);
        assert!(parse_ip_routes("[1,2]").unwrap().is_empty());
    }
}
