#!/usr/bin/env python3
"""Generate the recorded collection outputs of the simulated estate.

Each host's file is what the cmdb collection script prints on that host. Sections that do not
depend on the host's role (os-release, uname, df layout, dpkg versions of base packages, the
`ip -j` JSON shape, `ss`/`ps` column layouts) are taken from the real Debian 12 recording
discovery/src/linux/testdata/debian12-local.out; the role-specific parts (hostname, DMI, MACs,
addresses, sockets, processes, units, role packages) are written here in exactly the formats the
real tools print. Run from the repository root:  python3 tests/lab/ssh/gen_estate.py
"""
import json, os, re, sys

ROOT = os.path.dirname(os.path.abspath(__file__)) + "/../../.."
REAL = os.path.join(ROOT, "discovery/src/linux/testdata/debian12-local.out")
OUT = os.path.join(ROOT, "discovery/src/linux/testdata/estate")

def sections_of(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    out = {}
    for m in re.finditer(r"@@CMDB@@ BEGIN (\S+)\n(.*?)\n@@CMDB@@ END \1 (\d+)", text, re.S):
        out[m.group(1)] = (m.group(2).rstrip("\n"), int(m.group(3)))
    return out

real = sections_of(REAL)
OS_RELEASE = real["os_release"][0]
UNAME = "Linux 6.1.0-28-amd64 x86_64"   # Debian 12 stock kernel name (the recording machine runs a custom one)
BASE_PKG_NAMES = ["base-files", "bash", "coreutils", "libc6", "openssh-server", "procps", "iproute2", "systemd"]
base_versions = {}
for line in real.get("dpkg", ("", 0))[0].splitlines():
    f = line.split("\t")
    if len(f) == 3 and f[0] in BASE_PKG_NAMES:
        base_versions[f[0]] = (f[1], f[2])

ROLE_PKGS = {
    "haproxy": [("haproxy", "2.6.12-1+deb12u1", "amd64")],
    "nginx": [("nginx", "1.22.1-9+deb12u1", "amd64"), ("nginx-common", "1.22.1-9+deb12u1", "all")],
    "java": [("openjdk-17-jre-headless", "17.0.13+11-1~deb12u1", "amd64")],
    "postgres": [("postgresql-15", "15.10-0+deb12u1", "amd64"), ("postgresql-common", "248", "all")],
    "redis": [("redis-server", "5:7.0.15-1~deb12u1", "amd64"), ("docker.io", "20.10.24+dfsg1-1+b3", "amd64")],
}

# name, lab address, role, 10.x address, serial, mac suffix
HOSTS = [
    ("lb1", "127.0.3.1", "haproxy", "10.20.0.10", "4XK2LB1", "0a:01"),
    ("web1", "127.0.3.2", "nginx", "10.20.1.11", "4XK2WB1", "0b:01"),
    ("web2", "127.0.3.3", "nginx", "10.20.1.12", "4XK2WB2", "0b:02"),
    ("web3", "127.0.3.4", "nginx", "10.20.1.13", "4XK2WB3", "0b:03"),
    ("app1", "127.0.3.5", "java", "10.20.2.21", "4XK2AP1", "0c:01"),
    ("app2", "127.0.3.6", "java", "10.20.2.22", "4XK2AP2", "0c:02"),
    ("db1", "127.0.3.7", "postgres", "10.20.3.31", "4XK2DB1", "0d:01"),
    ("db2", "127.0.3.8", "postgres", "10.20.3.32", "4XK2DB2", "0d:02"),
    ("cache1", "127.0.3.9", "redis", "10.20.4.41", "4XK2CA1", "0e:01"),
]
IP = {h[0]: h[3] for h in HOSTS}
WEBS = ["web1", "web2", "web3"]
APPS = ["app1", "app2"]

def ss_line(proto, state, local, peer, users=None):
    u = ""
    if users:
        u = " users:(" + ",".join('("%s",pid=%d,fd=%d)' % (c, p, fd) for c, p, fd in users) + ")"
    rq, sq = ("0", "511") if state == "LISTEN" else ("0", "0")
    return "%-5s %-6s %-6s %-6s %s %s%s" % (proto, state, rq, sq, local, peer, u)

def host_output(name, addr, role, ip, serial, macsuf):
    idx = [h[0] for h in HOSTS].index(name)
    eph = 40000 + idx * 1000
    procs = [  # pid, ppid, user, comm, args, unit
        (1, 0, "root", "systemd", "/sbin/init", "init.scope"),
        (2, 0, "root", "kthreadd", "[kthreadd]", None),
        (412, 1, "root", "systemd-journal", "/lib/systemd/systemd-journald", "systemd-journald.service"),
        (450, 1, "_chrony", "chronyd", "/usr/sbin/chronyd -F 1", "chrony.service"),
        (500, 1, "root", "sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", "ssh.service"),
        (530, 1, "root", "cron", "/usr/sbin/cron -f", "cron.service"),
    ]
    units = [
        ("chrony.service", "chrony, an NTP client/server"),
        ("cron.service", "Regular background program processing daemon"),
        ("ssh.service", "OpenBSD Secure Shell server"),
        ("systemd-journald.service", "Journal Service"),
    ]
    ss = [
        ss_line("udp", "UNCONN", "127.0.0.1:323", "0.0.0.0:*", [("chronyd", 450, 5)]),
        ss_line("udp", "UNCONN", "[::1]:323", "[::]:*", [("chronyd", 450, 6)]),
        ss_line("tcp", "LISTEN", "0.0.0.0:22", "0.0.0.0:*", [("sshd", 500, 3)]),
        ss_line("tcp", "LISTEN", "[::]:22", "[::]:*", [("sshd", 500, 4)]),
        # the operator's own SSH session: server side, must not become a dependency
        ss_line("tcp", "ESTAB", "%s:22" % ip, "10.20.9.5:52144", [("sshd", 1900, 4)]),
    ]
    procs.append((1900, 500, "root", "sshd", "sshd: ops [priv]", "ssh.service"))
    n = 0
    def nxt():
        nonlocal n
        n += 1
        return eph + n * 7
    containers = []
    if role == "haproxy":
        procs += [(900, 1, "root", "haproxy", "/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid -S /run/haproxy-master.sock", "haproxy.service"),
                  (901, 900, "haproxy", "haproxy", "/usr/sbin/haproxy -Ws -f /etc/haproxy/haproxy.cfg -p /run/haproxy.pid -S /run/haproxy-master.sock", "haproxy.service")]
        units.append(("haproxy.service", "HAProxy Load Balancer"))
        ss.append(ss_line("tcp", "LISTEN", "0.0.0.0:80", "0.0.0.0:*", [("haproxy", 901, 7)]))
        ss.append(ss_line("tcp", "LISTEN", "0.0.0.0:443", "0.0.0.0:*", [("haproxy", 901, 8)]))
        for c in range(3):  # clients from outside
            ss.append(ss_line("tcp", "ESTAB", "%s:443" % ip, "198.51.100.%d:%d" % (20 + c, 50000 + c), [("haproxy", 901, 20 + c)]))
        for w in WEBS:
            for k in range(2):
                ss.append(ss_line("tcp", "ESTAB", "%s:%d" % (ip, nxt()), "%s:80" % IP[w], [("haproxy", 901, 30 + n)]))
    elif role == "nginx":
        procs += [(811, 1, "root", "nginx", "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", "nginx.service"),
                  (812, 811, "www-data", "nginx", "nginx: worker process", "nginx.service"),
                  (813, 811, "www-data", "nginx", "nginx: worker process", "nginx.service")]
        units.append(("nginx.service", "A high performance web server and a reverse proxy server"))
        ss.append(ss_line("tcp", "LISTEN", "0.0.0.0:80", "0.0.0.0:*", [("nginx", 813, 6), ("nginx", 812, 6), ("nginx", 811, 6)]))
        ss.append(ss_line("tcp", "LISTEN", "[::]:80", "[::]:*", [("nginx", 813, 7), ("nginx", 812, 7), ("nginx", 811, 7)]))
        ss.append(ss_line("tcp", "ESTAB", "%s:80" % ip, "%s:%d" % (IP["lb1"], 40000 + idx), [("nginx", 812, 11)]))
        for a in APPS:
            for k, w in ((0, 812), (1, 813)):
                ss.append(ss_line("tcp", "ESTAB", "%s:%d" % (ip, nxt()), "%s:8080" % IP[a], [("nginx", w, 12 + k)]))
        # a local health check to its own status page over loopback
        ss.append(ss_line("tcp", "ESTAB", "127.0.0.1:%d" % nxt(), "127.0.0.1:80", [("nginx", 812, 19)]))
    elif role == "java":
        procs += [(1020, 1, "orders", "java", "/usr/bin/java -Xms512m -Xmx2g -jar /opt/orders/orders-service.jar --server.port=8080", "orders.service")]
        units.append(("orders.service", "Orders service"))
        ss.append(ss_line("tcp", "LISTEN", "*:8080", "*:*", [("java", 1020, 31)]))
        ss.append(ss_line("tcp", "ESTAB", "[::ffff:%s]:8080" % ip, "[::ffff:%s]:%d" % (IP["web1"], 45000 + idx), [("java", 1020, 40)]))
        for k in range(3):  # pooled connections: aggregated into one CONNECTS_TO
            ss.append(ss_line("tcp", "ESTAB", "[::ffff:%s]:%d" % (ip, nxt()), "[::ffff:%s]:5432" % IP["db1"], [("java", 1020, 50 + k)]))
        ss.append(ss_line("tcp", "ESTAB", "[::ffff:%s]:%d" % (ip, nxt()), "[::ffff:%s]:6379" % IP["cache1"], [("java", 1020, 60)]))
    elif role == "postgres":
        pg = "/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf"
        procs += [(700, 1, "postgres", "postgres", pg, "postgresql@15-main.service"),
                  (701, 700, "postgres", "postgres", "postgres: 15/main: checkpointer", "postgresql@15-main.service")]
        units.append(("postgresql@15-main.service", "PostgreSQL Cluster 15-main"))
        ss.append(ss_line("tcp", "LISTEN", "0.0.0.0:5432", "0.0.0.0:*", [("postgres", 700, 6)]))
        ss.append(ss_line("tcp", "LISTEN", "[::]:5432", "[::]:*", [("postgres", 700, 7)]))
        if name == "db1":
            bpid = 760
            for a in APPS:
                procs.append((bpid, 700, "postgres", "postgres", "postgres: 15/main: orders orders %s(41234) idle" % IP[a], "postgresql@15-main.service"))
                ss.append(ss_line("tcp", "ESTAB", "%s:5432" % ip, "%s:%d" % (IP[a], 41234), [("postgres", bpid, 9)]))
                bpid += 1
            procs.append((bpid, 700, "postgres", "postgres", "postgres: 15/main: walsender replicator %s(39990) streaming 0/3000148" % IP["db2"], "postgresql@15-main.service"))
            ss.append(ss_line("tcp", "ESTAB", "%s:5432" % ip, "%s:39990" % IP["db2"], [("postgres", bpid, 9)]))
        else:
            procs.append((770, 700, "postgres", "postgres", "postgres: 15/main: walreceiver streaming 0/3000148", "postgresql@15-main.service"))
            ss.append(ss_line("tcp", "ESTAB", "%s:39990" % ip, "%s:5432" % IP["db1"], [("postgres", 770, 5)]))
    elif role == "redis":
        procs += [(600, 1, "redis", "redis-server", "/usr/bin/redis-server 0.0.0.0:6379", "redis-server.service"),
                  (640, 1, "root", "dockerd", "/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", "docker.service"),
                  (700, 690, "nobody", "redis_exporter", "/redis_exporter --redis.addr=redis://10.20.4.41:6379", "docker-5f0c1bd7e2a94c53a3f0b8e1d2c4a6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e.scope")]
        units += [("redis-server.service", "Advanced key-value store"), ("docker.service", "Docker Application Container Engine")]
        ss.append(ss_line("tcp", "LISTEN", "0.0.0.0:6379", "0.0.0.0:*", [("redis-server", 600, 6)]))
        ss.append(ss_line("tcp", "LISTEN", "0.0.0.0:9121", "0.0.0.0:*", [("docker-proxy", 680, 4)]))
        procs.append((680, 640, "root", "docker-proxy", "/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 9121 -container-ip 172.17.0.2 -container-port 9121", "docker.service"))
        for a in APPS:
            ss.append(ss_line("tcp", "ESTAB", "%s:6379" % ip, "%s:%d" % (IP[a], 47000), [("redis-server", 600, 8)]))
        containers.append({"Command": "\"/redis_exporter\"", "CreatedAt": "2026-11-20 08:14:03 +0000 UTC",
                           "ID": "5f0c1bd7e2a94c53a3f0b8e1d2c4a6b8e9f0a1b2c3d4e5f60718293a4b5c6d7e",
                           "Image": "oliver006/redis_exporter:v1.62.0", "Labels": "", "LocalVolumes": "0",
                           "Mounts": "", "Names": "redis-exporter", "Networks": "bridge",
                           "Ports": "0.0.0.0:9121->9121/tcp", "RunningFor": "4 days ago", "Size": "0B",
                           "State": "running", "Status": "Up 4 days"})
    mac = "14:18:77:%s:%s" % (macsuf, "5e")
    mac2 = "14:18:77:%s:%s" % (macsuf, "5f")
    links = [
        {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536, "qdisc": "noqueue", "operstate": "UNKNOWN", "group": "default", "txqlen": 1000, "link_type": "loopback", "address": "00:00:00:00:00:00", "broadcast": "00:00:00:00:00:00",
         "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host", "label": "lo", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
                       {"family": "inet6", "local": "::1", "prefixlen": 128, "scope": "host", "valid_life_time": 4294967295, "preferred_life_time": 4294967295}]},
        {"ifindex": 2, "ifname": "eno1", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500, "qdisc": "mq", "operstate": "UP", "group": "default", "txqlen": 1000, "link_type": "ether", "address": mac, "broadcast": "ff:ff:ff:ff:ff:ff", "altnames": ["enp24s0f0"],
         "addr_info": [{"family": "inet", "local": ip, "prefixlen": 24, "broadcast": ip.rsplit(".", 1)[0] + ".255", "scope": "global", "label": "eno1", "valid_life_time": 4294967295, "preferred_life_time": 4294967295},
                       {"family": "inet6", "local": "fe80::1618:77ff:fe%s:%s5e" % (macsuf.replace(":", "")[:2], macsuf.replace(":", "")[2:]), "prefixlen": 64, "scope": "link", "valid_life_time": 4294967295, "preferred_life_time": 4294967295}]},
        {"ifindex": 3, "ifname": "eno2", "flags": ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"], "mtu": 1500, "qdisc": "mq", "operstate": "DOWN", "group": "default", "txqlen": 1000, "link_type": "ether", "address": mac2, "broadcast": "ff:ff:ff:ff:ff:ff", "altnames": ["enp24s0f1"], "addr_info": []},
    ]
    virtual = ["lo"]
    if role == "redis":
        links.append({"ifindex": 4, "ifname": "docker0", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500, "qdisc": "noqueue", "operstate": "UP", "group": "default", "link_type": "ether", "address": "02:42:8e:51:3c:0a", "broadcast": "ff:ff:ff:ff:ff:ff",
                      "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16, "broadcast": "172.17.255.255", "scope": "global", "label": "docker0", "valid_life_time": 4294967295, "preferred_life_time": 4294967295}]})
        links.append({"ifindex": 6, "link_index": 5, "ifname": "veth3a1f2c9", "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500, "qdisc": "noqueue", "master": "docker0", "operstate": "UP", "group": "default", "link_type": "ether", "address": "9a:3e:11:c4:7b:02", "broadcast": "ff:ff:ff:ff:ff:ff", "link_netnsid": 0, "addr_info": []})
        virtual += ["docker0", "veth3a1f2c9"]
    gw = ip.rsplit(".", 1)[0] + ".1"
    routes = [{"dst": "default", "gateway": gw, "dev": "eno1", "protocol": "static", "flags": []},
              {"dst": ip.rsplit(".", 1)[0] + ".0/24", "dev": "eno1", "protocol": "kernel", "scope": "link", "prefsrc": ip, "flags": []}]
    dmi = "\n".join([
        "sys_vendor=Dell Inc.", "product_name=PowerEdge R650", "product_version=",
        "product_serial=%s" % serial, "product_uuid=4c4c4544-00%02d-3410-8058-b4c04f%s" % (idx, serial[-4:].lower().encode().hex()[:6]),
        "board_serial=.%s.CNFCP0019C00%02d." % (serial, idx), "chassis_serial=%s" % serial, "bios_version=1.13.2"])
    ps = "\n".join("%7d %7d %-32s %s" % (p, pp, u, a) for p, pp, u, c, a, _ in procs)
    comm = "\n".join("%7d %s" % (p, c) for p, pp, u, c, a, _ in procs)
    punit = "\n".join("%7d %s" % (p, unit or "-") for p, pp, u, c, a, unit in procs)
    sysd = "\n".join("%s loaded active running %s" % (u, d) for u, d in sorted(units))
    pkgs = [(n, v[0], v[1]) for n, v in sorted(base_versions.items())] + ROLE_PKGS[role]
    dpkg = "\n".join("%s\t%s\t%s" % p for p in sorted(pkgs))
    secs = [
        ("os_release", OS_RELEASE, 0), ("uname", UNAME, 0),
        ("hostname", name, 0), ("fqdn", "%s.prod.example.com" % name, 0), ("dmi", dmi, 0),
        ("nproc", "16", 0), ("cpuinfo", "model name\t: Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz", 0),
        ("meminfo", "MemTotal:       65657304 kB\nSwapTotal:       1000444 kB", 0),
        ("uptime", "%d.42 %d.17" % (1840000 + idx * 3600, 29000000 + idx), 0),
        ("df", "Filesystem     Type     1-blocks        Used   Available Capacity Mounted on\n/dev/sda2      ext4  982141468672 %d 882141468672      11%% /\n/dev/sda1      vfat     535805952     6123520   529682432       2%% /boot/efi" % (50000000000 + idx * 1000000000), 0),
        ("ip_addr", json.dumps(links, separators=(",", ":")), 0),
        ("ip_route", json.dumps(routes, separators=(",", ":")), 0),
        ("virtual_net", "\n".join(sorted(virtual)), 0),
        ("ss", "\n".join(ss), 0), ("ps", ps, 0),
        ("systemd", sysd, 0), ("ps_unit", punit, 0), ("dpkg", dpkg, 0), ("rpm", "", 127),
        ("docker", "\n".join(json.dumps(c, separators=(",", ":")) for c in containers), 0 if role == "redis" else 127),
        ("podman", "", 127),
    ]
    out = ["# cmdb-collect v2 recording: simulated host %s (lab address %s)" % (name, addr)]
    for s, body, rc in secs:
        out.append("\n@@CMDB@@ BEGIN %s\n%s%s\n@@CMDB@@ END %s %d" % (s, body, "\n" if body else "", s, rc))
    out.append("\n@@CMDB@@ DONE\n")
    return "\n".join(out)

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "hosts.tsv"), "w") as f:
    f.write("# name\tlab_address\trole\taddress\tserial\n")
    for name, addr, role, ip, serial, macsuf in HOSTS:
        open(os.path.join(OUT, name + ".out"), "w").write(host_output(name, addr, role, ip, serial, macsuf))
        f.write("%s\t%s\t%s\t%s\t%s\n" % (name, addr, role, ip, serial))
print("wrote %d hosts to %s" % (len(HOSTS), OUT))
