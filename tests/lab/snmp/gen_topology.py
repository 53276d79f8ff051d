#!/usr/bin/env python3
"""Generate the SNMP lab's topology recordings (.snmprec) — deterministic, no dependencies.

Topology (all on 127.0.1.x, UDP 1161, community `public`; the MIB contents describe a 10.10.0.0/24 LAN):

    lab-rtr1 (Juniper, 127.0.1.22) ge-0/0/1 --LLDP-- Gi1/0/6 lab-sw1 (Cisco, 127.0.1.20)
    lab-sw1 Gi1/0/5 --LLDP-- Gi1/0/5 lab-sw2 (Cisco, 127.0.1.21)
    lab-sw1 edge ports: Gi1/0/1 lab-web1 (127.0.1.30), Gi1/0/2 lab-db1 (127.0.1.31),
                        Gi1/0/3 printer 52:54:00:00:00:a3 (no ARP)
                        Gi1/0/4 unmanaged hub with 6 MACs (a trunk: above the edge threshold)
    lab-sw2 edge ports: Gi1/0/1 52:54:00:00:00:33 (ARP 10.10.0.33), Gi1/0/2 52:54:00:00:00:34,
                        Gi1/0/4 CDP neighbour: IP phone SEP001122334455 port "Port 1"
    lab-huge (127.0.1.40): an ifTable with 12000 rows (bounded-memory test)

The expected discovery results are asserted in tests/tests/snmp.rs; change both together.
Usage: gen_topology.py OUT_DIR   (writes OUT_DIR/<name>.snmprec)
"""
import os
import sys

IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
LLDP_LOC = "1.0.8802.1.1.2.1.3"
LLDP_REM = "1.0.8802.1.1.2.1.4.1.1"
LLDP_MAN = "1.0.8802.1.1.2.1.4.2.1"


class Dev:
    def __init__(self):
        self.rows = {}

    def put(self, oid, tag, val):
        self.rows[tuple(int(x) for x in oid.split("."))] = (tag, str(val))

    def s(self, oid, val):
        self.put(oid, "4", val)

    def hex(self, oid, b):
        self.put(oid, "4x", b.hex())

    def i(self, oid, val):
        self.put(oid, "2", val)

    def render(self):
        return "".join(
            "%s|%s|%s\n" % (".".join(map(str, k)), t, v) for k, (t, v) in sorted(self.rows.items())
        )


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def mac_idx(s):
    return ".".join(str(b) for b in mac(s))


def system(d, descr, oid, name, services, contact="noc@lab.example", location="Lab rack 1"):
    d.s("1.3.6.1.2.1.1.1.0", descr)
    d.put("1.3.6.1.2.1.1.2.0", "6", oid)
    d.put("1.3.6.1.2.1.1.3.0", "67", 123456700)
    d.s("1.3.6.1.2.1.1.4.0", contact)
    d.s("1.3.6.1.2.1.1.5.0", name)
    d.s("1.3.6.1.2.1.1.6.0", location)
    d.i("1.3.6.1.2.1.1.7.0", services)


def iface(d, idx, name, descr, iftype, macaddr=None, speed=1000000000, alias=None, mtu=1500, oper=1):
    d.i(f"{IF}.1.{idx}", idx)
    d.s(f"{IF}.2.{idx}", descr)
    d.i(f"{IF}.3.{idx}", iftype)
    d.i(f"{IF}.4.{idx}", mtu)
    d.put(f"{IF}.5.{idx}", "66", min(speed, 4294967295))
    if macaddr:
        d.hex(f"{IF}.6.{idx}", mac(macaddr))
    else:
        d.s(f"{IF}.6.{idx}", "")
    d.i(f"{IF}.7.{idx}", 1)
    d.i(f"{IF}.8.{idx}", oper)
    d.s(f"{IFX}.1.{idx}", name)
    d.put(f"{IFX}.15.{idx}", "66", speed // 1000000)
    if alias is not None:
        if isinstance(alias, bytes):
            d.hex(f"{IFX}.18.{idx}", alias)
        else:
            d.s(f"{IFX}.18.{idx}", alias)


def ip_addr_table(d, ip, ifidx, mask):
    d.put(f"1.3.6.1.2.1.4.20.1.1.{ip}", "64", ip)
    d.i(f"1.3.6.1.2.1.4.20.1.2.{ip}", ifidx)
    d.put(f"1.3.6.1.2.1.4.20.1.3.{ip}", "64", mask)


def ip_address_table(d, ip, ifidx, prefix):
    idx = "1.4." + ip
    d.i(f"1.3.6.1.2.1.4.34.1.3.{idx}", ifidx)
    d.i(f"1.3.6.1.2.1.4.34.1.4.{idx}", 1)
    net = ".".join(ip.split(".")[:3]) + ".0" if prefix == 24 else ip
    d.put(f"1.3.6.1.2.1.4.34.1.5.{idx}", "6", f"1.3.6.1.2.1.4.32.1.5.{ifidx}.1.4.{net}.{prefix}")


def entity(d, descr, model, serial, fw, mfg):
    e = "1.3.6.1.2.1.47.1.1.1.1"
    d.s(f"{e}.2.1", descr)
    d.i(f"{e}.5.1", 3)
    d.s(f"{e}.8.1", "V01")
    d.s(f"{e}.9.1", fw)
    d.s(f"{e}.10.1", fw)
    d.s(f"{e}.11.1", serial)
    d.s(f"{e}.12.1", mfg)
    d.s(f"{e}.13.1", model)
    # a module under the chassis, not the chassis itself
    d.s(f"{e}.2.2", "Power supply")
    d.i(f"{e}.5.2", 6)
    d.s(f"{e}.11.2", "PSU0001")


def lldp_local(d, chassis_mac, name, ports):
    d.i(f"{LLDP_LOC}.1.0", 4)
    d.hex(f"{LLDP_LOC}.2.0", mac(chassis_mac))
    d.s(f"{LLDP_LOC}.3.0", name)
    d.hex(f"{LLDP_LOC}.6.0", bytes([0x28, 0x00]))  # bridge + router supported
    for num, pid, desc in ports:
        d.i(f"{LLDP_LOC}.7.1.2.{num}", 5)
        d.s(f"{LLDP_LOC}.7.1.3.{num}", pid)
        d.s(f"{LLDP_LOC}.7.1.4.{num}", desc)


def lldp_rem(d, local_port, rem_idx, chassis_mac, port_id, port_desc, sysname, mgmt_ip):
    idx = f"0.{local_port}.{rem_idx}"
    d.i(f"{LLDP_REM}.4.{idx}", 4)
    d.hex(f"{LLDP_REM}.5.{idx}", mac(chassis_mac))
    d.i(f"{LLDP_REM}.6.{idx}", 5)
    d.s(f"{LLDP_REM}.7.{idx}", port_id)
    d.s(f"{LLDP_REM}.8.{idx}", port_desc)
    d.s(f"{LLDP_REM}.9.{idx}", sysname)
    d.s(f"{LLDP_REM}.10.{idx}", "lab device")
    if mgmt_ip:
        d.i(f"{LLDP_MAN}.3.{idx}.1.4.{mgmt_ip}", 2)
        d.i(f"{LLDP_MAN}.4.{idx}.1.4.{mgmt_ip}", 0)


def bridge(d, base_mac, ports):
    d.hex("1.3.6.1.2.1.17.1.1.0", mac(base_mac))
    d.i("1.3.6.1.2.1.17.1.2.0", len(ports))
    d.i("1.3.6.1.2.1.17.1.3.0", 2)
    for p in ports:
        d.i(f"1.3.6.1.2.1.17.1.4.1.1.{p}", p)
        d.i(f"1.3.6.1.2.1.17.1.4.1.2.{p}", p)


def fdb(d, entries):
    for m, port, status in entries:
        i = mac_idx(m)
        d.hex(f"1.3.6.1.2.1.17.4.3.1.1.{i}", mac(m))
        d.i(f"1.3.6.1.2.1.17.4.3.1.2.{i}", port)
        d.i(f"1.3.6.1.2.1.17.4.3.1.3.{i}", status)


def qfdb(d, entries, fdb_id=1):
    for m, port, status in entries:
        i = f"{fdb_id}.{mac_idx(m)}"
        d.i(f"1.3.6.1.2.1.17.7.1.2.2.1.2.{i}", port)
        d.i(f"1.3.6.1.2.1.17.7.1.2.2.1.3.{i}", status)


def arp_media(d, ifidx, ip, m):
    d.i(f"1.3.6.1.2.1.4.22.1.1.{ifidx}.{ip}", ifidx)
    d.hex(f"1.3.6.1.2.1.4.22.1.2.{ifidx}.{ip}", mac(m))
    d.put(f"1.3.6.1.2.1.4.22.1.3.{ifidx}.{ip}", "64", ip)
    d.i(f"1.3.6.1.2.1.4.22.1.4.{ifidx}.{ip}", 3)


def arp_phys(d, ifidx, ip, m):
    i = f"{ifidx}.1.4.{ip}"
    d.hex(f"1.3.6.1.2.1.4.35.1.4.{i}", mac(m))
    d.i(f"1.3.6.1.2.1.4.35.1.6.{i}", 3)
    d.i(f"1.3.6.1.2.1.4.35.1.7.{i}", 1)


CISCO_DESCR = "Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E3, RELEASE SOFTWARE (fc1)"


def switch(n, ports):
    d = Dev()
    name = f"lab-sw{n}.lab.example"
    system(d, CISCO_DESCR, "1.3.6.1.4.1.9.1.1208", name, 2)
    for p in range(1, ports + 1):
        iface(d, p, f"Gi1/0/{p}", f"GigabitEthernet1/0/{p}", 6, f"00:1a:2b:0{n}:00:{p:02x}",
              alias=f"access port {p}")
    iface(d, 100, "Vl1", "Vlan1", 53, f"00:1a:2b:0{n}:00:64", speed=1000000000)
    ip_addr_table(d, f"10.10.0.{n + 1}", 100, "255.255.255.0")
    entity(d, "Cisco Catalyst 2960-X", "WS-C2960X-24TS-L", f"FOC2001L0A{n}", "15.2(7)E3", "Cisco")
    bridge(d, f"00:1a:2b:0{n}:00:00", range(1, ports + 1))
    lldp_local(d, f"00:1a:2b:0{n}:00:00", name,
               [(p, f"Gi1/0/{p}", f"GigabitEthernet1/0/{p}") for p in range(1, ports + 1)])
    return d


def sw1():
    d = switch(1, 6)
    lldp_rem(d, 5, 1, "00:1a:2b:02:00:00", "Gi1/0/5", "GigabitEthernet1/0/5", "lab-sw2.lab.example", "10.10.0.3")
    lldp_rem(d, 6, 2, "00:1a:2b:03:00:00", "ge-0/0/1", "LAN", "lab-rtr1", "10.10.0.1")
    hub = [f"52:54:00:00:01:{i:02x}" for i in range(1, 7)]
    fdb(d, [("52:54:00:00:00:31", 1, 3), ("52:54:00:00:00:32", 2, 3), ("52:54:00:00:00:a3", 3, 3)]
        + [(m, 4, 3) for m in hub]
        + [("00:1a:2b:02:00:05", 5, 3), ("52:54:00:00:00:33", 5, 3), ("52:54:00:00:00:34", 5, 3)]
        + [("00:1a:2b:03:00:02", 6, 3), ("00:1a:2b:01:00:00", 0, 4)])
    arp_media(d, 100, "10.10.0.1", "00:1a:2b:03:00:02")
    arp_media(d, 100, "10.10.0.31", "52:54:00:00:00:31")
    arp_media(d, 100, "10.10.0.32", "52:54:00:00:00:32")
    return d


def sw2():
    d = switch(2, 5)
    # a non-UTF-8 interface alias (Latin-1 "Büro" + junk): must survive as lossy text
    iface(d, 3, "Gi1/0/3", "GigabitEthernet1/0/3", 6, "00:1a:2b:02:00:03", alias=b"B\xfcro \xff\xfe", oper=2)
    lldp_rem(d, 5, 1, "00:1a:2b:01:00:00", "Gi1/0/5", "GigabitEthernet1/0/5", "lab-sw1.lab.example", "10.10.0.2")
    qfdb(d, [("52:54:00:00:00:33", 1, 3), ("52:54:00:00:00:34", 2, 3),
             ("00:1a:2b:01:00:05", 5, 3), ("52:54:00:00:00:31", 5, 3), ("52:54:00:00:00:32", 5, 3),
             ("00:11:22:33:44:55", 4, 3)])
    arp_media(d, 100, "10.10.0.33", "52:54:00:00:00:33")
    c = "1.3.6.1.4.1.9.9.23.1.2.1.1"
    d.i(f"{c}.3.4.1", 1)
    d.hex(f"{c}.4.4.1", bytes([10, 10, 0, 60]))
    d.s(f"{c}.5.4.1", "SIP75.8-5-3SR1S")
    d.s(f"{c}.6.4.1", "SEP001122334455")
    d.s(f"{c}.7.4.1", "Port 1")
    d.s(f"{c}.8.4.1", "Cisco IP Phone 7975")
    # the phone's MAC is on a port with a CDP neighbour: not an FDB attachment
    return d


def rtr1():
    d = Dev()
    system(d, "Juniper Networks, Inc. mx204 internet router, kernel JUNOS 21.4R3-S2.3, Build date: 2022-12-01",
           "1.3.6.1.4.1.2636.1.1.1.2.29", "lab-rtr1", 4)
    iface(d, 16, "lo0", "lo0", 24, None, mtu=65535)
    iface(d, 501, "ge-0/0/0", "ge-0/0/0", 6, "00:1a:2b:03:00:01", alias="WAN uplink")
    iface(d, 502, "ge-0/0/1", "ge-0/0/1", 6, "00:1a:2b:03:00:02", alias="LAN")
    ip_address_table(d, "203.0.113.2", 501, 30)
    ip_address_table(d, "10.10.0.1", 502, 24)
    ip_address_table(d, "10.255.0.1", 16, 32)
    ip_address_table(d, "127.0.0.1", 16, 8)
    entity(d, "MX204", "MX204", "JN11F2AB3CDE", "21.4R3-S2.3", "Juniper Networks")
    lldp_local(d, "00:1a:2b:03:00:00", "lab-rtr1", [(502, "ge-0/0/1", "LAN")])
    lldp_rem(d, 502, 1, "00:1a:2b:01:00:00", "Gi1/0/6", "GigabitEthernet1/0/6", "lab-sw1.lab.example", "10.10.0.2")
    arp_phys(d, 502, "10.10.0.31", "52:54:00:00:00:31")
    arp_phys(d, 502, "10.10.0.32", "52:54:00:00:00:32")
    arp_phys(d, 502, "10.10.0.2", "00:1a:2b:01:00:64")
    arp_phys(d, 501, "203.0.113.1", "00:00:5e:00:53:01")
    return d


def host_common(d, name, hostmac, ip, procs, mem_kb=4194304):
    system(d, f"Linux {name} 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64",
           "1.3.6.1.4.1.8072.3.2.10", name, 72, contact="root@lab.example", location="Lab rack 2")
    iface(d, 1, "lo", "lo", 24, None, speed=10000000, mtu=65536)
    iface(d, 2, "eth0", "eth0", 6, hostmac)
    d.put("1.3.6.1.2.1.25.1.1.0", "67", 123456700)
    d.put("1.3.6.1.2.1.25.2.2.0", "2", mem_kb)
    s = "1.3.6.1.2.1.25.2.3.1"
    d.i(f"{s}.1.31", 31)
    d.put(f"{s}.2.31", "6", "1.3.6.1.2.1.25.2.1.4")
    d.s(f"{s}.3.31", "/")
    d.i(f"{s}.4.31", 4096)
    d.i(f"{s}.5.31", 5000000)
    d.i(f"{s}.6.31", 1250000)
    d.i(f"{s}.1.1", 1)
    d.put(f"{s}.2.1", "6", "1.3.6.1.2.1.25.2.1.2")
    d.s(f"{s}.3.1", "Physical memory")
    hd = "1.3.6.1.2.1.25.3.2.1"
    for i in (196608, 196609):
        d.i(f"{hd}.1.{i}", i)
        d.put(f"{hd}.2.{i}", "6", "1.3.6.1.2.1.25.3.1.3")
        d.s(f"{hd}.3.{i}", "GenuineIntel: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz")
    r = "1.3.6.1.2.1.25.4.2.1"
    for pid, pname, path, params in procs:
        d.i(f"{r}.1.{pid}", pid)
        d.s(f"{r}.2.{pid}", pname)
        d.s(f"{r}.4.{pid}", path)
        d.s(f"{r}.5.{pid}", params)
        d.i(f"{r}.6.{pid}", 4)
        d.i(f"{r}.7.{pid}", 2)


KTHREAD = (2, "kthreadd", "", "")


def web1():
    d = Dev()
    host_common(d, "lab-web1", "52:54:00:00:00:31", "10.10.0.31", [
        (1, "systemd", "/sbin/init", ""), KTHREAD,
        (812, "sshd", "/usr/sbin/sshd", "-D"),
        (900, "nginx", "/usr/sbin/nginx", "-g daemon off;"),
        (901, "nginx", "/usr/sbin/nginx", "-g  daemon off;"),
        (1000, "python3", "/usr/bin/python3", "/srv/app/app.py --port 8080"),
    ])
    ip_address_table(d, "10.10.0.31", 2, 24)
    ip_address_table(d, "127.0.0.1", 1, 8)
    tl = "1.3.6.1.2.1.6.20.1.4"
    d.put(f"{tl}.1.4.0.0.0.0.22", "66", 812)
    d.put(f"{tl}.1.4.0.0.0.0.80", "66", 900)
    d.put(f"{tl}.1.4.127.0.0.1.8080", "66", 1000)
    tc = "1.3.6.1.2.1.6.19.1"
    for lip, lp, rip, rp, pid in [("10.10.0.31", 45678, "10.10.0.32", 5432, 1000),
                                  ("127.0.0.1", 45000, "127.0.0.1", 8080, 900),
                                  ("10.10.0.31", 22, "10.10.0.50", 51000, 812)]:
        i = f"1.4.{lip}.{lp}.1.4.{rip}.{rp}"
        d.i(f"{tc}.7.{i}", 5)
        d.put(f"{tc}.8.{i}", "66", pid)
    ue = "1.3.6.1.2.1.7.7.1.8"
    d.put(f"{ue}.1.4.0.0.0.0.123.1.4.0.0.0.0.0.1", "66", 0)
    return d


def db1():
    d = Dev()
    host_common(d, "lab-db1", "52:54:00:00:00:32", "10.10.0.32", [
        (1, "systemd", "/sbin/init", ""), KTHREAD,
        (700, "postgres", "/usr/lib/postgresql/15/bin/postgres", "-D /var/lib/postgresql/15/main"),
    ], mem_kb=8388608)
    # old-style tables on this host: ipAddrTable, tcpConnTable, udpTable
    ip_addr_table(d, "10.10.0.32", 2, "255.255.255.0")
    ip_addr_table(d, "127.0.0.1", 1, "255.0.0.0")
    t = "1.3.6.1.2.1.6.13.1.1"
    d.i(f"{t}.0.0.0.0.5432.0.0.0.0.0", 2)
    d.i(f"{t}.0.0.0.0.22.0.0.0.0.0", 2)
    d.i(f"{t}.10.10.0.32.5432.10.10.0.31.45678", 5)
    d.i(f"{t}.10.10.0.32.40000.10.10.0.40.514", 5)
    d.put("1.3.6.1.2.1.7.5.1.1.0.0.0.0.161", "64", "0.0.0.0")
    sw = "1.3.6.1.2.1.25.6.3.1"
    for i, n in enumerate(["postgresql-15", "openssh-server", "postgresql-15"], start=1):
        d.i(f"{sw}.1.{i}", i)
        d.s(f"{sw}.2.{i}", n)
        d.i(f"{sw}.4.{i}", 4)
    return d


def huge():
    d = Dev()
    system(d, "Linux lab-huge 6.1.0 #1 SMP x86_64", "1.3.6.1.4.1.8072.3.2.10", "lab-huge", 72)
    for i in range(1, 12001):
        d.s(f"{IF}.2.{i}", f"veth{i}")
    return d


DEVICES = {"lab-sw1": sw1, "lab-sw2": sw2, "lab-rtr1": rtr1, "lab-web1": web1, "lab-db1": db1, "lab-huge": huge}

if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    for name, fn in DEVICES.items():
        with open(os.path.join(out, name + ".snmprec"), "w") as f:
            f.write(fn().render())
