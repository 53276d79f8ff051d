#!/usr/bin/env python3
"""Build the committed seed corpus, fuzz/corpus/<target>/, from what the repository already
holds (Linux collection outputs, SNMP recordings, docs examples, fixtures) and, for `snmp_ber`,
from datagrams a real net-snmp agent sends (needs `snmpd` and the net-snmp tools, which
tests/lab/snmp/setup.sh installs). Deterministic apart from the captured datagrams (request ids,
engine time, encryption salts). Standard library only.

    fuzz/seeds/build.py            rebuild every target's seeds (snmp_ber only if net-snmp is there)
    fuzz/seeds/build.py TARGET...  only these targets

Seeds are written under descriptive names; each target's directory is replaced, except files
named `crash-*`/`regression-*` (inputs that once crashed a target: they stay).
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# Caps that keep the corpus small (it is committed) while keeping every kind of line.
SECTION_LINES = 40  # lines kept per collection-script section
TABLE_ROWS = 4  # rows kept per SNMP table column


def rel(*p):
    return os.path.join(ROOT, *p)


def read(*p):
    with open(rel(*p), "rb") as f:
        return f.read()


class Out:
    def __init__(self, target):
        self.dir = os.path.join(CORPUS, target)
        os.makedirs(self.dir, exist_ok=True)
        for f in os.listdir(self.dir):
            if not (f.startswith("crash-") or f.startswith("regression-")):
                os.remove(os.path.join(self.dir, f))
        self.seen = set()
        self.count = 0
        self.bytes = 0

    def add(self, name, data):
        if isinstance(data, str):
            data = data.encode()
        h = hashlib.sha1(data).hexdigest()
        if h in self.seen or not data:
            return
        self.seen.add(h)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)
        self.count += 1
        self.bytes += len(data)

    def done(self):
        print(f"{os.path.basename(self.dir)}: {self.count} seeds, {self.bytes} bytes")


def code_blocks(md_text, lang):
    return re.findall(r"^```" + lang + r"\n(.*?)^```", md_text, re.S | re.M)


# ---------------------------------------------------------------------------------------------
# Linux collection output

LINUX_OUTPUTS = ["discovery/src/linux/testdata/debian12-local.out"] + [
    f"discovery/src/linux/testdata/estate/{h}.out"
    for h in ["app1", "cache1", "db1", "db2", "lb1", "web1"]
]

SECTION_RE = re.compile(r"^@@CMDB@@ BEGIN (\S+)\n(.*?)^@@CMDB@@ END \1 [^\n]*\n", re.S | re.M)


def capped_output(text):
    """The collection output with each section cut to SECTION_LINES lines."""

    def cap(m):
        body = m.group(2).split("\n")
        if len(body) > SECTION_LINES + 1:
            body = body[:SECTION_LINES] + [""]
        return m.group(0).replace(m.group(2), "\n".join(body), 1)

    return SECTION_RE.sub(cap, text)


def linux_output():
    out = Out("linux_output")
    for p in LINUX_OUTPUTS:
        text = read(p).decode()
        name = os.path.basename(p)
        out.add(name, capped_output(text))
    # the same host cut off mid-way (no DONE line), and with CRLF line ends
    base = capped_output(read(LINUX_OUTPUTS[1]).decode())
    out.add("app1-cut.out", base[: len(base) // 2])
    out.add("app1-crlf.out", base.replace("\n", "\r\n"))
    out.done()


def linux_parsers():
    out = Out("linux_parsers")
    for p in LINUX_OUTPUTS:
        host = os.path.basename(p)[: -len(".out")]
        for m in SECTION_RE.finditer(read(p).decode()):
            body = "\n".join(m.group(2).split("\n")[:SECTION_LINES])
            out.add(f"{host}-{m.group(1)}", body)
    out.done()


# ---------------------------------------------------------------------------------------------
# SNMP walks (.snmprec)


def subtrees():
    src = read("discovery/src/snmp/collect.rs").decode()
    return [
        (name, [int(x) for x in oid.split(",")])
        for name, oid in re.findall(r'st!\("(\w+)", \[([\d, ]+)\]\)', src)
    ]


def oid_key(s):
    try:
        return [int(x) for x in s.strip(".").split(".")]
    except ValueError:
        return None


def snmprec_subset(text):
    """Lines under the probe's subtrees, at most TABLE_ROWS rows per table column."""
    roots = [r for _, r in subtrees()]
    per_column = {}
    keep = []
    for line in text.splitlines():
        oid = oid_key(line.split("|", 1)[0])
        if oid is None:
            continue
        root = next((r for r in roots if oid[: len(r)] == r), None)
        if root is None:
            continue
        # table column = root + entry + column; scalars group under their own OID
        col = tuple(oid[: len(root) + 2])
        n = per_column.get(col, 0)
        if n < TABLE_ROWS:
            per_column[col] = n + 1
            keep.append(line)
    return "\n".join(keep) + "\n"


def snmp_walk():
    out = Out("snmp_walk")
    d = rel("tests/lab/snmp/data/corpus")
    for f in sorted(os.listdir(d)):
        if f.endswith(".snmprec"):
            with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
                out.add(f, snmprec_subset(fh.read()))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, rel("tests/lab/snmp/gen_topology.py"), tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for f in sorted(os.listdir(tmp)):
            with open(os.path.join(tmp, f), encoding="utf-8") as fh:
                out.add(f"lab-{f}", snmprec_subset(fh.read()))
    out.done()


# ---------------------------------------------------------------------------------------------
# SNMP datagrams (snmp_ber): a private net-snmp agent, answers captured with the tools' -d dump

AGENT = "127.0.1.250:1163"
# must match cmdb_discovery::fuzzing::SEED_ENGINE_ID (80001f8804 + "cmdbfzz")
AGENT_CONF = """agentAddress udp:{addr}
engineID cmdbfzz
rocommunity fuzzpublic 127.0.0.0/8
createUser labsha SHA "labauthpass1" AES "labprivpass1"
createUser labmd5 MD5 "labauthpass2" DES "labprivpass2"
createUser labauth SHA "labauthpass3"
rouser labsha priv
rouser labmd5 priv
rouser labauth auth
sysName fuzz-seed-agent
sysLocation rack 7, row B
sysContact ops@example.com
dontLogTCPWrappersConnects yes
"""

V3 = {
    2: ["-v3", "-l", "authPriv", "-u", "labsha", "-a", "SHA", "-A", "labauthpass1", "-x", "AES", "-X", "labprivpass1"],
    3: ["-v3", "-l", "authPriv", "-u", "labmd5", "-a", "MD5", "-A", "labauthpass2", "-x", "DES", "-X", "labprivpass2"],
    4: ["-v3", "-l", "authNoPriv", "-u", "labauth", "-a", "SHA", "-A", "labauthpass3"],
    5: ["-v3", "-l", "noAuthNoPriv", "-u", "fuzz"],
}


def session_args(mode, community="fuzzpublic"):
    if mode == 0:
        return ["-v1", "-c", community]
    if mode == 1:
        return ["-v2c", "-c", community]
    return V3[mode]


def received(dump):
    """Datagrams in a net-snmp -d dump, in order."""
    out = []
    lines = dump.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"Received (\d+) byte packet", lines[i])
        i += 1
        if not m:
            continue
        n = int(m.group(1))
        data = bytearray()
        while i < len(lines) and re.match(r"^[0-9]{4}: ", lines[i]):
            data += bytes.fromhex(lines[i][6:57].replace(" ", ""))
            i += 1
        out.append(bytes(data[:n]))
    return out


def seed(mode, subtree, datagrams, cap=7):
    b = bytes([mode, subtree | (cap << 5)])
    for d in datagrams:
        b += len(d).to_bytes(2, "big") + d
    return b


def capture(args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return received(p.stdout + p.stderr)


def snmp_ber():
    if not shutil.which("snmpd") or not shutil.which("snmpbulkwalk"):
        print("snmp_ber: net-snmp (snmpd, snmpbulkwalk) not installed: seeds left as they are")
        return
    out = Out("snmp_ber")
    names = {n: i for i, (n, _) in enumerate(subtrees())}
    roots = {n: ".".join(map(str, r)) for n, r in subtrees()}
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "snmpd.conf")
        with open(conf, "w") as f:
            f.write(AGENT_CONF.format(addr=AGENT))
        os.makedirs(os.path.join(tmp, "persist"))
        os.makedirs(os.path.join(tmp, "no-mibs"))
        env = dict(os.environ, SNMP_PERSISTENT_DIR=os.path.join(tmp, "persist"),
                   MIBDIRS=os.path.join(tmp, "no-mibs"), MIBS="")
        agent = subprocess.Popen(
            ["snmpd", "-f", "-C", "-c", conf, "-Lf", os.path.join(tmp, "snmpd.log")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            tools = dict(env, MIBDIRS=os.path.join(tmp, "no-mibs"), MIBS="")
            q = ["-On", "-t", "1", "-r", "1", "-d"]
            for _ in range(50):
                if subprocess.run(["snmpget"] + session_args(1) + ["-t", "0.2", "-r", "0", AGENT,
                                  "1.3.6.1.2.1.1.5.0"], env=tools, capture_output=True).returncode == 0:
                    break
                time.sleep(0.1)

            def run(name, mode, table, cmd, extra=()):
                args = [cmd] + session_args(mode) + q + list(extra) + [AGENT]
                oid = roots[table] if table in roots else table
                dgs = capture(args + [oid])
                sub = names.get(table, 0)
                if dgs:
                    out.add(name, seed(mode, sub, dgs))

            # v1 walks (GETNEXT, one varbind per datagram) and an error status (noSuchName)
            run("v1-system-walk", 0, "system", "snmpwalk")
            run("v1-nosuchname", 0, "1.3.6.1.2.1.1.99.0", "snmpget")
            # v2c GETBULK walks of the tables a probe walks
            for t in ["system", "ifTable", "ifXTable", "ipAddrTable", "ipAddressTable", "hrStorage",
                      "hrDeviceTable", "tcpListenerTable", "udpEndpointTable"]:
                run(f"v2c-{t}", 1, t, "snmpbulkwalk", ["-Cr10"])
            run("v2c-nosuchobject", 1, "1.3.6.1.2.1.1.99.0", "snmpget")
            run("v2c-endofmibview", 1, "1.3.6.1.6.3.1.1.6.99", "snmpbulkget", ["-Cr3"])
            # SNMPv3: engine discovery report, then authenticated (and encrypted) answers
            for mode, user in [(2, "labsha"), (3, "labmd5"), (4, "labauth")]:
                run(f"v3-{user}-system", mode, "system", "snmpbulkwalk", ["-Cr10"])
                run(f"v3-{user}-ifTable", mode, "ifTable", "snmpbulkwalk", ["-Cr5"])
            run("v3-unknown-user-report", 5, "system", "snmpget")
        finally:
            agent.terminate()
            try:
                agent.wait(timeout=10)
            except subprocess.TimeoutExpired:
                agent.kill()
    # the lab's snmpsim switches (another encoder: pysnmp), when the SNMP lab runs
    for ip, tables in [("127.0.1.20", ["lldpRemTable", "lldpRemManAddrTable", "dot1qTpFdbTable", "ifXTable"]),
                       ("127.0.1.21", ["cdpCacheTable", "dot1dTpFdbTable", "ipNetToMediaTable"]),
                       ("127.0.1.22", ["ipAddrTable", "lldpLocalSystemData"])]:
        host = f"{ip}:1161"
        ok = subprocess.run(["snmpget", "-v2c", "-c", "public", "-t", "0.3", "-r", "0", host,
                             "1.3.6.1.2.1.1.5.0"], capture_output=True).returncode == 0
        if not ok:
            continue
        for t in tables:
            dgs = capture(["snmpbulkwalk", "-v2c", "-c", "public", "-On", "-t", "1", "-r", "1", "-d",
                           "-Cr8", host, roots[t]])
            if dgs:
                out.add(f"snmpsim-{ip}-{t}", seed(1, names[t], dgs))
    out.done()


# ---------------------------------------------------------------------------------------------
# import lines


def import_lines():
    out = Out("import_lines")
    doc = read("docs/import-format.md").decode()
    blocks = code_blocks(doc, "json")
    for i, b in enumerate(blocks):
        # the docs wrap long lines for reading; an import file has one object per line
        lines, cur = [], ""
        for line in b.splitlines():
            cur += line.strip() if cur else line
            try:
                json.loads(cur)
                lines.append(cur)
                cur = ""
            except ValueError:
                pass
        out.add(f"docs-import-format-{i}.jsonl", "\n".join(lines) + "\n")
    out.add("docs-import-format-all.jsonl",
            "\n".join(l for b in blocks for l in b.splitlines()) + "\n")
    for p in ["tests/tests/core.rs", "tests/tests/datadir.rs"]:
        lines = re.findall(r'^(?:\s*r#")?(\{"kind":"(?:ci|relationship)".*\})(?:"#)?', read(p).decode(), re.M)
        out.add(os.path.basename(p) + ".jsonl", "\n".join(lines) + "\n")
    out.add("bom-crlf.jsonl", "\ufeff" + '{"kind":"ci","key":"h","class":"Host","identifiers":{"hostname":"h"}}\r\n'
            '{"kind":"ci","class":"Interface","parent":"h","identifiers":{"if_name":"eth0","mac_address":"00:11:22:33:44:55"}}\r\n'
            '{"kind":"relationship","type":"DEPENDS_ON","from":"h","to":"ci_0123456789abcdef","confidence":0.5}\r\n')
    out.add("exported-fields.jsonl",
            '{"kind":"ci","id":"ci_4f1c2b","class":"IpAddress","name":"10.0.0.1","identifiers":{"ip_address":"10.0.0.1"},'
            '"status":"ACTIVE","sources":["snmp","ssh"],"first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-02T00:00:00Z"}\n'
            '{"kind":"relationship","type":"CONNECTS_TO","from":"ci_4f1c2b","to":"ci_77aa","evidence":"netstat",'
            '"evidence_detail":{"port":5432},"status":"ACTIVE","attributes":{"port":5432}}\n')
    out.done()


# ---------------------------------------------------------------------------------------------
# GraphQL requests


def split_operations(doc):
    """The top-level definitions of a GraphQL document (docs blocks list several anonymous
    operations; a request may hold only one of those)."""
    parts, depth, start, i, in_str = [], 0, 0, 0, False
    while i < len(doc):
        c = doc[i]
        if in_str:
            if c == "\\":
                i += 1
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "#":
            while i < len(doc) and doc[i] != "\n":
                i += 1
            continue
        elif c in "{(":
            depth += 1
        elif c in "})":
            depth -= 1
            if depth == 0 and c == "}":
                parts.append(doc[start:i + 1].strip())
                start = i + 1
        i += 1
    fragments = [p for p in parts if p.startswith("fragment")]
    ops = [p for p in parts if not p.startswith("fragment")]
    if len(ops) <= 1 or any(re.match(r"(query|mutation|subscription)\s+\w", o) for o in ops):
        return [doc]
    return ["\n".join([o] + fragments) for o in ops]


def graphql_request():
    out = Out("graphql_request")
    queries = []
    for f in sorted(os.listdir(rel("docs"))):
        if f.endswith(".md"):
            for i, b in enumerate(code_blocks(read("docs", f).decode(), "graphql")):
                ops = split_operations(b)
                for j, op in enumerate(ops):
                    queries.append((f"{f[:-3]}-{i}" + (f"-{j}" if len(ops) > 1 else ""), op))
    guard = read("graphql/src/guard.rs").decode()
    m = re.search(r'INTROSPECTION: &str = r#"(.*?)"#;', guard, re.S)
    if m:
        queries.append(("introspection", m.group(1)))
    # ids of the fixture estate the harness serves (tests/fixtures/estate.jsonl; ids are the
    # BLAKE3 of identifier keys, so they are stable)
    host_id, shop_id, billing_id = "ci_0daac6162fb61ee5", "ci_13477dc234fa8639", "ci_d5dde3ec6f03dc9c"
    for name, q in queries:
        # the docs write ids as `ci_…name`
        q = re.sub(r"ci_…(\w*)", lambda m: billing_id if m.group(1) == "billing" else host_id, q)
        body = {"query": q}
        ops = re.findall(r"^\s*(?:query|mutation|subscription)\s+(\w+)", q, re.M)
        if len(ops) > 1:
            body["operationName"] = ops[0]
        variables = {}
        for var, ty in re.findall(r"\$(\w+)\s*:\s*([\[\]\w!]+)", q):
            base = ty.strip("[]!")
            ident = shop_id if re.search(r"svc|service", var + q, re.I) else host_id
            value = {"ID": ident, "String": "web", "Int": 5, "Boolean": True, "Float": 0.5}.get(base)
            if value is None:
                continue
            variables[var] = [value] if ty.lstrip().startswith("[") else value
        if variables:
            body["variables"] = variables
        out.add(f"post-json-{name}", b"\x00" + json.dumps(body).encode())
        out.add(f"post-graphql-{name}", b"\x01" + q.encode())
        qs = "query=" + urllib.parse.quote(q)
        if "operationName" in body:
            qs += "&operationName=" + body["operationName"]
        if variables:
            qs += "&variables=" + urllib.parse.quote(json.dumps(variables))
        out.add(f"get-{name}", b"\x02" + qs.encode())
    # variables, operation names, batches, mutations
    extra = [
        {"query": "query($q: String!, $n: Int) { cis(first: $n, filter: {name: {contains: $q}}) "
                  "{ totalCount edges { node { id name class } } } }", "variables": {"q": "web", "n": 5}},
        {"query": "query A { stats { cis } } query B { cis(first: 1) { nodes { id } } }", "operationName": "B"},
        {"query": "mutation($i: UpsertCIInput!) { upsertCi(input: $i) { created ci { id name } } }",
         "variables": {"i": {"class": "HOST", "name": "fz1", "identifiers": {"hostname": "fz1"},
                             "tags": ["env:fuzz"]}}},
        {"query": "{ impact(ids: [\"ci_0daac6162fb61ee5\", \"ci_x\"], maxDepth: 3) { affectedCount } }"},
    ]
    for i, e in enumerate(extra):
        out.add(f"post-json-extra-{i}", b"\x00" + json.dumps(e).encode())
    out.add("post-json-batch", b"\x00" + json.dumps(extra[:2]).encode())
    out.done()


# ---------------------------------------------------------------------------------------------
# configuration


def config():
    out = Out("config")
    for f in ["README.md"] + [os.path.join("docs", x) for x in sorted(os.listdir(rel("docs")))]:
        if f.endswith(".md"):
            for i, b in enumerate(code_blocks(read(f).decode(), "toml")):
                out.add(f"{os.path.basename(f)[:-3]}-{i}.toml", b)
    out.add("docker-cmdb.toml", read("docker", "cmdb.toml"))
    out.add("env-overrides", "[server]\nbind = \"127.0.0.1:8080\"\n\0"
            "CMDB_LIMITS_MAX_PAGE_SIZE=500\nCMDB_SERVER_WORKERS=2\nCMDB_DISCOVERY_CONCURRENCY=4\n"
            "CMDB_STORE_BACKEND=neo4j\nCMDB_STORE_URI=bolt://127.0.0.1:7687\n")
    out.add("env-bad", "[limits]\nmax_page_size = 10\n\0CMDB_DISCOVERY_CONCURRENCY=[1, 2]\n"
            "CMDB_LIMITS=3\nCMDB_NOPE_X=1\n")
    out.add("bom.toml", "\ufeff[limits]\nmax_query_depth = 64\nmax_value_depth = 65\n")
    out.done()


# ---------------------------------------------------------------------------------------------
# event intake


def event_intake():
    out = Out("event_intake")
    for i, b in enumerate(code_blocks(read("docs/alerts.md").decode(), "json")):
        out.add(f"docs-alerts-{i}.json", b)
    alert = {"status": "firing", "labels": {"alertname": "HostDown", "instance": "10.9.0.12:9100",
             "severity": "critical", "job": "node"}, "annotations": {"summary": "down"},
             "startsAt": "2026-11-24T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "generatorURL": "http://prom", "fingerprint": "aa01"}
    payload = {"version": "4", "status": "firing", "receiver": "cmdb", "groupKey": "{}:{}",
               "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
               "externalURL": "http://am", "alerts": [alert]}
    out.add("alertmanager-firing.json", json.dumps(payload))
    resolved = dict(payload, status="resolved",
                    alerts=[dict(alert, status="resolved", endsAt="2026-11-24T10:05:00Z")])
    out.add("alertmanager-resolved.json", json.dumps(resolved))
    out.add("events-array.json", json.dumps([
        {"source": "nagios", "node": "web1.example.com", "type": "HOST_DOWN", "severity": 1},
        {"source": "nagios", "node": "52-54-00-12-34-56", "resource": "tcp/5432", "severity": "major"},
        {"source": "zabbix", "node": "[2001:db8::5]:8080", "messageKey": "k1", "severity": 0,
         "time": "2026-11-24T10:00:00+01:00", "additionalInfo": {"a": [1, 2]}}]))
    out.add("events-wrapped.json", json.dumps({"events": [{"source": "x", "node": "db1", "severity": 5}]}))
    out.done()


TARGETS = {
    "snmp_ber": snmp_ber,
    "snmp_walk": snmp_walk,
    "linux_parsers": linux_parsers,
    "linux_output": linux_output,
    "import_lines": import_lines,
    "graphql_request": graphql_request,
    "config": config,
    "event_intake": event_intake,
}

if __name__ == "__main__":
    wanted = sys.argv[1:] or list(TARGETS)
    for t in wanted:
        if t not in TARGETS:
            sys.exit(f"unknown target {t}; known: {', '.join(TARGETS)}")
        TARGETS[t]()
