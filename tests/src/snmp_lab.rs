//! The SNMP lab (tests/lab/snmp): snmpsim serving recorded and generated devices plus net-snmp
//! `snmpd` for this host, all on 127.0.1.x:1161. Started once per test binary by [`lab()`]
//! (idempotent: a running, up-to-date lab is reused and left running for the next run;
//! `tests/lab/snmp/stop.sh` stops it).
//!
//! Also a tiny misbehaving UDP "agent" ([`BadAgent`]) on 127.0.0.1 for bad-input tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cmdb_discovery::credentials::{SnmpCredentialKind, SnmpV3};
use cmdb_discovery::{Secret, SnmpAuthProto, SnmpCredential, SnmpPrivProto, Target};

pub const PORT: u16 = 1161;
/// net-snmp snmpd for this very host.
pub const SNMPD: &str = "127.0.1.1";
pub const SNMPD_COMMUNITY: &str = "labpublic";
/// snmpsim devices answer this community.
pub const SIM_COMMUNITY: &str = "public";
/// Recordings snmpsim ships.
pub const SHIPPED: &[(&str, &str)] = &[
    ("127.0.1.10", "linux-full-walk"),
    ("127.0.1.11", "winxp-full-walk"),
    ("127.0.1.12", "eaton-9PX-partial-walk"),
    ("127.0.1.13", "linksys-system"),
    ("127.0.1.14", "solaris-system"),
];
/// The generated topology (tests/lab/snmp/gen_topology.py).
pub const SW1: &str = "127.0.1.20";
pub const SW2: &str = "127.0.1.21";
pub const RTR1: &str = "127.0.1.22";
pub const WEB1: &str = "127.0.1.30";
pub const DB1: &str = "127.0.1.31";
/// ifTable with 12 000 rows.
pub const HUGE: &str = "127.0.1.40";
/// Nothing listens here (ICMP port unreachable).
pub const CLOSED: &str = "127.0.1.250";

pub fn topology() -> Vec<&'static str> {
    vec![SW1, SW2, RTR1, WEB1, DB1]
}

pub fn target(addr: &str) -> Target {
    Target::new(addr, Some(PORT))
}

pub fn v1(name: &str, community: &str) -> SnmpCredential {
    SnmpCredential {
        name: name.into(),
        kind: SnmpCredentialKind::V1 {
            community: Secret::new(community),
        },
        scope: None,
    }
}
pub fn v2c(name: &str, community: &str) -> SnmpCredential {
    SnmpCredential {
        name: name.into(),
        kind: SnmpCredentialKind::V2c {
            community: Secret::new(community),
        },
        scope: None,
    }
}
pub fn v3(
    name: &str,
    user: &str,
    auth: Option<(SnmpAuthProto, &str)>,
    privacy: Option<(SnmpPrivProto, &str)>,
) -> SnmpCredential {
    SnmpCredential {
        name: name.into(),
        kind: SnmpCredentialKind::V3(SnmpV3 {
            user: user.into(),
            auth_proto: auth.map(|a| a.0),
            auth_pass: auth.map(|a| Secret::new(a.1)),
            priv_proto: privacy.map(|p| p.0),
            priv_pass: privacy.map(|p| Secret::new(p.1)),
        }),
        scope: None,
    }
}
/// snmpd's v3 users (see tests/lab/snmp/snmpd.conf.in).
pub fn v3_sha_aes() -> SnmpCredential {
    v3(
        "v3-sha-aes",
        "labsha",
        Some((SnmpAuthProto::Sha1, "labauthpass1")),
        Some((SnmpPrivProto::Aes128, "labprivpass1")),
    )
}
pub fn v3_md5_des() -> SnmpCredential {
    v3(
        "v3-md5-des",
        "labmd5",
        Some((SnmpAuthProto::Md5, "labauthpass2")),
        Some((SnmpPrivProto::Des, "labprivpass2")),
    )
}
pub fn v3_sha256_aes() -> SnmpCredential {
    v3(
        "v3-sha256-aes",
        "labsha256",
        Some((SnmpAuthProto::Sha256, "labauthpass4")),
        Some((SnmpPrivProto::Aes128, "labprivpass4")),
    )
}
pub fn v3_auth_only() -> SnmpCredential {
    v3(
        "v3-auth",
        "labauth",
        Some((SnmpAuthProto::Sha1, "labauthpass3")),
        None,
    )
}

#[derive(Debug)]
pub struct SnmpLab {
    pub dir: PathBuf,
}

fn lab_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lab/snmp")
        .join(name)
}

static LAB: OnceLock<SnmpLab> = OnceLock::new();

/// Start the lab (once per process; reuses a running one) and return it. Panics with
/// instructions when `tests/lab/snmp/setup.sh` has not been run.
pub fn lab() -> &'static SnmpLab {
    LAB.get_or_init(|| {
        let out = Command::new("bash")
            .arg(lab_script("start.sh"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run tests/lab/snmp/start.sh: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0) => {}
            Some(2) => panic!("the SNMP lab must be started as root (snmpsim, snmpd on 127.0.1.x):\n{stderr}"),
            Some(3) => panic!(
                "the SNMP lab is not set up on this machine: run `tests/lab/snmp/setup.sh` as root \
                 (installs snmpd, snmp, python3-venv and a venv with snmpsim), then rerun the tests.\n{stderr}"
            ),
            _ => panic!("tests/lab/snmp/start.sh failed ({}):\n{stderr}", out.status),
        }
        SnmpLab { dir: PathBuf::from(std::env::var("SNMP_LAB_DIR").unwrap_or_else(|_| "/tmp/cmdb-snmplab".into())) }
    })
}

// ---------------------------------------------------------------------------------------------
// A misbehaving agent for bad-input tests: minimal BER, v1/v2c only.

/// How [`BadAgent`] answers.
#[derive(Debug, Clone, Copy)]
pub enum Misbehaviour {
    /// Random bytes.
    Garbage,
    /// A valid reply cut in half.
    Truncated,
    /// Always answers with the same OID inside the requested subtree (never increasing).
    Looping,
    /// Answers a synthetic system group + ifTable correctly for `n` requests, then dies (socket
    /// closed: further requests get ICMP port unreachable).
    DieAfter(usize),
    /// Serves correctly forever, with `ifDescr` values that are not UTF-8.
    NonUtf8,
}

pub struct BadAgent {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl BadAgent {
    pub fn target(&self) -> Target {
        Target::new(self.addr.ip().to_string(), Some(self.addr.port()))
    }
}

impl Drop for BadAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ber_len(n: usize, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let b = n.to_be_bytes();
        let skip = b.iter().take_while(|x| **x == 0).count();
        out.push(0x80 | (b.len() - skip) as u8);
        out.extend_from_slice(&b[skip..]);
    }
}
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    ber_len(content.len(), &mut v);
    v.extend_from_slice(content);
    v
}
fn ber_int(i: i64) -> Vec<u8> {
    let b = i.to_be_bytes();
    let mut s = 0;
    while s < 7 && ((b[s] == 0 && b[s + 1] & 0x80 == 0) || (b[s] == 0xff && b[s + 1] & 0x80 != 0)) {
        s += 1;
    }
    tlv(0x02, &b[s..])
}
fn ber_oid(o: &[u32]) -> Vec<u8> {
    let mut c = Vec::new();
    let mut arcs = vec![o.first().copied().unwrap_or(1) * 40 + o.get(1).copied().unwrap_or(3)];
    arcs.extend_from_slice(o.get(2..).unwrap_or(&[]));
    for a in arcs {
        let mut tmp = vec![(a & 0x7f) as u8];
        let mut x = a >> 7;
        while x > 0 {
            tmp.push(0x80 | (x & 0x7f) as u8);
            x >>= 7;
        }
        tmp.reverse();
        c.extend(tmp);
    }
    tlv(0x06, &c)
}

/// Read one TLV: (tag, content, rest).
fn read_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let l0 = *b.get(1)? as usize;
    let (len, hdr) = if l0 < 0x80 {
        (l0, 2)
    } else {
        let n = l0 & 0x7f;
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let content = b.get(hdr..hdr + len)?;
    Some((tag, content, &b[hdr + len..]))
}

fn parse_oid(c: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut x: u32 = 0;
    for (i, byte) in c.iter().enumerate() {
        x = (x << 7) | (byte & 0x7f) as u32;
        if byte & 0x80 == 0 {
            if i == out.len() && out.is_empty() {
                out.push(x / 40);
                out.push(x % 40);
            } else {
                out.push(x);
            }
            x = 0;
        }
    }
    out
}

/// What the lab's agent reads of a request.
struct Request {
    version: i64,
    community: Vec<u8>,
    pdu_tag: u8,
    request_id: Vec<u8>,
    /// The first requested OID.
    oid: Vec<u32>,
}

fn parse_request(b: &[u8]) -> Option<Request> {
    let (_, msg, _) = read_tlv(b)?;
    let (_, ver, rest) = read_tlv(msg)?;
    let (_, comm, rest) = read_tlv(rest)?;
    let (tag, pdu, _) = read_tlv(rest)?;
    let (_, reqid, rest) = read_tlv(pdu)?;
    let (_, _, rest) = read_tlv(rest)?;
    let (_, _, rest) = read_tlv(rest)?;
    let (_, vbl, _) = read_tlv(rest)?;
    let (_, vb, _) = read_tlv(vbl)?;
    let (_, oid, _) = read_tlv(vb)?;
    let version = ver.iter().fold(0i64, |a, x| (a << 8) | *x as i64);
    Some(Request {
        version,
        community: comm.to_vec(),
        pdu_tag: tag,
        request_id: reqid.to_vec(),
        oid: parse_oid(oid),
    })
}

fn response(
    version: i64,
    community: &[u8],
    reqid: &[u8],
    varbinds: &[(Vec<u32>, Vec<u8>)],
) -> Vec<u8> {
    let mut vbl = Vec::new();
    for (o, v) in varbinds {
        let mut vb = ber_oid(o);
        vb.extend_from_slice(v);
        vbl.extend(tlv(0x30, &vb));
    }
    let mut pdu = tlv(0x02, reqid);
    pdu.extend(ber_int(0));
    pdu.extend(ber_int(0));
    pdu.extend(tlv(0x30, &vbl));
    let mut msg = ber_int(version);
    msg.extend(tlv(0x04, community));
    msg.extend(tlv(0xa2, &pdu));
    tlv(0x30, &msg)
}

/// The synthetic MIB the well-behaved modes serve: system group + 200 ifDescr rows.
fn synthetic(non_utf8: bool) -> Vec<(Vec<u32>, Vec<u8>)> {
    let mut v = vec![
        (
            vec![1, 3, 6, 1, 2, 1, 1, 1, 0],
            tlv(0x04, b"Linux bad-agent 6.1.0 #1 SMP x86_64"),
        ),
        (
            vec![1, 3, 6, 1, 2, 1, 1, 2, 0],
            ber_oid(&[1, 3, 6, 1, 4, 1, 8072, 3, 2, 10]),
        ),
        (
            vec![1, 3, 6, 1, 2, 1, 1, 5, 0],
            tlv(
                0x04,
                if non_utf8 {
                    b"bad-\xff\xfeagent"
                } else {
                    b"bad-agent"
                },
            ),
        ),
    ];
    for i in 1..=200u32 {
        let d: Vec<u8> = if non_utf8 {
            vec![b'e', b't', 0xc3, 0x28, b'0' + (i % 10) as u8]
        } else {
            format!("eth{i}").into_bytes()
        };
        v.push((vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2, i], tlv(0x04, &d)));
    }
    v
}

/// Start a misbehaving agent on 127.0.0.1 (random port). Must be called inside a tokio runtime.
pub async fn bad_agent(mode: Misbehaviour) -> BadAgent {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind bad agent");
    let addr = sock.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mib = synthetic(matches!(mode, Misbehaviour::NonUtf8));
        let mut buf = vec![0u8; 65536];
        let mut served = 0usize;
        let mut seed: u64 = 0x9e3779b97f4a7c15;
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Some(Request {
                version,
                community: comm,
                pdu_tag: tag,
                request_id: reqid,
                oid,
            }) = parse_request(&buf[..n])
            else {
                continue;
            };
            let reply = match mode {
                Misbehaviour::Garbage => (0..64)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        seed as u8
                    })
                    .collect(),
                Misbehaviour::Truncated => {
                    let full = response(version, &comm, &reqid, &mib[..3]);
                    full[..full.len() / 2].to_vec()
                }
                Misbehaviour::Looping => {
                    let mut o = oid.clone();
                    o.extend([1, 1]);
                    response(
                        version,
                        &comm,
                        &reqid,
                        &[(o.clone(), tlv(0x04, b"x")), (o, tlv(0x04, b"x"))],
                    )
                }
                Misbehaviour::DieAfter(_) | Misbehaviour::NonUtf8 => {
                    if let Misbehaviour::DieAfter(k) = mode {
                        if served >= k {
                            return; // socket dropped: the agent is gone
                        }
                    }
                    served += 1;
                    let vbs: Vec<_> = match tag {
                        // GET
                        0xa0 => mib.iter().filter(|(o, _)| *o == oid).cloned().collect(),
                        // GETNEXT / GETBULK: next rows after the requested OID
                        _ => mib
                            .iter()
                            .filter(|(o, _)| *o > oid)
                            .take(if tag == 0xa5 { 10 } else { 1 })
                            .cloned()
                            .collect(),
                    };
                    if vbs.is_empty() {
                        response(version, &comm, &reqid, &[(oid, vec![0x82, 0x00])])
                    } else {
                        response(version, &comm, &reqid, &vbs)
                    }
                }
            };
            let _ = sock.send_to(&reply, peer).await;
        }
    });
    BadAgent { addr, task }
}
