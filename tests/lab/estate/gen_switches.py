#!/usr/bin/env python3
"""Generate the estate's switch recordings (.snmprec) from estate.conf — deterministic.

Two top-of-rack switches (Cisco Catalyst style: Gi1/0/1-48, uplinks Te1/1/1-2) and two core
switches (Cisco Nexus style: Eth1/1-48) in the shapes real devices report them:
- hosts with one or two plain NICs are learnt in the ToR's bridge forwarding table (FDB) on their
  port, with their addresses in the ToR's ARP table;
- bonded hosts (lldpd on the host) are LLDP neighbours of both ToRs: chassis id = the bond's MAC,
  port id = the slave's name;
- each ToR has one uplink to each core switch, seen by LLDP on both ends. The ToR names the core's
  port in long form (`Ethernet1/1`) and the core names the ToR's in long form
  (`TenGigabitEthernet1/1/1`), while each device's own ifName is the short form (`Eth1/1`,
  `Te1/1/1`); tor1 also sees core1 over CDP with an NX-OS device id `core1(SERIAL)`;
- the uplink ports carry every MAC learnt from the far side (trunks, not edge ports);
- core1 is the gateway: its ARP table has every host address plus one address nothing else
  knows (10.77.0.99, a printer behind tor2 port 20), learnt through the ToR uplinks.

Usage: gen_switches.py ESTATE_CONF OUT_DIR   (writes OUT_DIR/<switch>.snmprec)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "snmp"))
from gen_topology import (  # noqa: E402  (the SNMP lab's recording helpers)
    Dev, system, iface, ip_addr_table, entity, lldp_local, lldp_rem, bridge, fdb, arp_media, LLDP_REM,
)

CDP = "1.3.6.1.4.1.9.9.23.1.2.1.1"
CATALYST = ("Cisco IOS Software [Cupertino], Catalyst L3 Switch Software (CAT9K_IOSXE), Version 17.9.4a, "
            "RELEASE SOFTWARE (fc3)")
NEXUS = "Cisco Nexus Operating System (NX-OS) Software, Version 10.2(5)"
PRINTER = ("10.77.0.99", "00:00:aa:12:34:99", "tor2", 20)


def read_conf(path):
    hosts, switches, mgmt = [], {}, None
    for line in open(path):
        f = line.split()
        if not f or f[0].startswith("#"):
            continue
        if f[0] == "host":
            name, addr, role, listen, ups, nics, ports = f[1:8]
            hosts.append(dict(name=name, addr=addr, role=role, nics=nics,
                              ports=[(p.split("/")[0], int(p.split("/")[1])) for p in ports.split(",")]))
        elif f[0] == "switch":
            name, addr, kind, ups = f[1:5]
            switches[name] = dict(name=name, addr=addr, kind=kind, index=len(switches) + 1,
                                  uplinks=[] if ups == "-" else
                                  [(u.split("/")[0], int(u.split("/")[1])) for u in ups.split(",")])
        elif f[0] == "mgmt":
            mgmt = f[1]
    for i, h in enumerate(hosts, start=1):
        h["macs"] = ["52:54:00:77:%02x:%02x" % (i, n) for n in range(len(h["ports"]))]
        if h["nics"] == "bond":
            h["macs"] = [h["macs"][0]] * len(h["ports"])  # slaves carry the bond's MAC
        n = h["addr"].rsplit(".", 1)
        h["addrs"] = [h["addr"]] + (["%s.%d" % (n[0], int(n[1]) + 100)] if h["nics"] == "nics" else [])
    return hosts, switches, mgmt


def base_mac(sw):
    return "00:1a:2b:77:%02x:00" % sw["index"]


def port_mac(sw, p):
    return "00:1a:2b:77:%02x:%02x" % (sw["index"], p)


def serial(sw):
    return ("FOC2231X0T%d" if sw["kind"] == "access" else "FDO21120U0%d") % sw["index"]


ACCESS_UPLINK_PORTS = (49, 50)


def port_names(sw, p):
    """(ifName, ifDescr) of port p."""
    if sw["kind"] == "access":
        if p in ACCESS_UPLINK_PORTS:
            k = ACCESS_UPLINK_PORTS.index(p) + 1
            return "Te1/1/%d" % k, "TenGigabitEthernet1/1/%d" % k
        return "Gi1/0/%d" % p, "GigabitEthernet1/0/%d" % p
    return "Eth1/%d" % p, "Ethernet1/%d" % p


def ports_of(sw):
    return list(range(1, 49)) + (list(ACCESS_UPLINK_PORTS) if sw["kind"] == "access" else [])


def links(switches):
    """Switch-to-switch links: (a, a_port, b, b_port) once each."""
    out = []
    for a in switches.values():
        for k, (b, bp) in enumerate(a["uplinks"]):
            out.append((a["name"], ACCESS_UPLINK_PORTS[k], b, bp))
    cores = [s["name"] for s in switches.values() if s["kind"] == "core"]
    for x, y in zip(cores, cores[1:]):
        out.append((x, 48, y, 48))  # the core peer link
    return out


def build(sw, hosts, switches):
    d = Dev()
    kind = sw["kind"]
    system(d, CATALYST if kind == "access" else NEXUS,
           "1.3.6.1.4.1.9.1.2494" if kind == "access" else "1.3.6.1.4.1.9.12.3.1.3.1812",
           sw["name"], 6, location="estate lab, rack 1")
    for p in ports_of(sw):
        name, descr = port_names(sw, p)
        iface(d, p, name, descr, 6, port_mac(sw, p), speed=10000000000 if name.startswith("T") else 1000000000)
    iface(d, 100, "Vl1", "Vlan1", 53, port_mac(sw, 100))
    ip_addr_table(d, sw["addr"], 100, "255.255.255.0")
    entity(d, "Cisco Catalyst 9300 48-port" if kind == "access" else "Nexus 93180YC-EX chassis",
           "C9300-48T" if kind == "access" else "N9K-C93180YC-EX", serial(sw),
           "17.9.4a" if kind == "access" else "10.2(5)", "Cisco")
    bridge(d, base_mac(sw), ports_of(sw))
    lldp_local(d, base_mac(sw), sw["name"], [(p, *port_names(sw, p)) for p in ports_of(sw)])

    learnt, arp, rem = [], [], {}
    # hosts on this switch
    for h in hosts:
        for k, (s, p) in enumerate(h["ports"]):
            if s != sw["name"]:
                continue
            if h["nics"] == "bond":
                rem.setdefault(p, []).append((h["macs"][k], "eth%d" % k, "eth%d" % k, h["name"], h["addr"]))
            else:
                learnt.append((h["macs"][k], p, 3))
                arp.append((h["addrs"][k], h["macs"][k]))
    # switch neighbours, long-form port names on the wire
    for a, ap, b, bp in links(switches):
        for here, hp, there, tp in ((a, ap, b, bp), (b, bp, a, ap)):
            if here != sw["name"]:
                continue
            far = switches[there]
            rem.setdefault(hp, []).append((base_mac(far), port_names(far, tp)[1], port_names(far, tp)[1],
                                           far["name"], far["addr"]))
            if sw["name"] == "tor1" and far["kind"] == "core" and far["name"] == "core1":
                cdp_neighbour(d, hp, "%s(%s)" % (far["name"], serial(far)), port_names(far, tp)[1], far["addr"])
    for p, ns in sorted(rem.items()):
        for i, (cm, pid, pdesc, sysname, ip) in enumerate(ns, start=1):
            lldp_rem(d, p, i, cm, pid, pdesc, sysname, ip)
            # capabilities (BITS): a switch is a bridge + router; lldpd on a host supports
            # bridge/wlan/router/station with only station enabled
            switch = sysname in switches
            d.hex("%s.11.0.%d.%d" % (LLDP_REM, p, i), bytes([0x28 if switch else 0x39, 0x00]))
            d.hex("%s.12.0.%d.%d" % (LLDP_REM, p, i), bytes([0x28 if switch else 0x01, 0x00]))
    # trunks: every MAC of the far side is learnt on the uplinks
    if kind == "access":
        for h in hosts:
            for k, (s, p) in enumerate(h["ports"]):
                if s != sw["name"] and not any(s2 == sw["name"] for s2, _ in h["ports"]):
                    learnt.append((h["macs"][k], ACCESS_UPLINK_PORTS[0], 3))
        if sw["name"] == PRINTER[2]:
            learnt.append((PRINTER[1], PRINTER[3], 3))
            arp.append((PRINTER[0], PRINTER[1]))
    else:
        for h in hosts:
            for k, (s, p) in enumerate(h["ports"]):
                up = [bp for (a, ap, b, bp) in links(switches) if a == s and b == sw["name"]]
                if up:
                    learnt.append((h["macs"][k], up[0], 3))
        if sw["name"] == "core1":
            for h in hosts:
                for k, a in enumerate(h["addrs"]):
                    arp.append((a, h["macs"][k]))
            arp.append((PRINTER[0], PRINTER[1]))
            up = [bp for (a, ap, b, bp) in links(switches) if a == PRINTER[2] and b == "core1"]
            learnt.append((PRINTER[1], up[0], 3))
    seen = set()
    fdb(d, [e for e in learnt if not (e[0] in seen or seen.add(e[0]))])
    seen = set()
    for ip, m in arp:
        if ip not in seen:
            seen.add(ip)
            arp_media(d, 100, ip, m)
    return d


def cdp_neighbour(d, port, device_id, port_id, ip):
    idx = "%d.1" % port
    d.hex("%s.4.%s" % (CDP, idx), bytes(int(x) for x in ip.split(".")))
    d.i("%s.3.%s" % (CDP, idx), 1)
    d.s("%s.5.%s" % (CDP, idx), NEXUS)
    d.s("%s.6.%s" % (CDP, idx), device_id)
    d.s("%s.7.%s" % (CDP, idx), port_id)
    d.s("%s.8.%s" % (CDP, idx), "N9K-C93180YC-EX")
    d.hex("%s.9.%s" % (CDP, idx), bytes([0x00, 0x00, 0x00, 0x29]))  # router, switch, IGMP


if __name__ == "__main__":
    conf, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    hosts, switches, _ = read_conf(conf)
    for sw in switches.values():
        with open(os.path.join(out, sw["name"] + ".snmprec"), "w") as f:
            f.write(build(sw, hosts, switches).render())
