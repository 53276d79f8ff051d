//! Async SNMP client on `snmp2`: sessions for v1/v2c/v3, requests with per-request timeout and
//! retries, a global in-flight limit, a per-target rate limit, and safe subtree walks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use snmp2::{AsyncSession, Value};
use tokio::sync::Semaphore;

use super::collect::WalkStatus;
use super::value::{Oid, SnmpValue};
use crate::credentials::{SnmpAuthProto, SnmpCredential, SnmpCredentialKind, SnmpPrivProto};

/// Client tunables. Defaults suit a LAN; see `docs/discovery-snmp.md`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientConfig {
    /// Per request (each retry gets the full timeout).
    pub timeout_ms: u64,
    /// Extra attempts after the first one times out.
    pub retries: u32,
    /// GETBULK max-repetitions (halved automatically when the agent answers tooBig).
    pub max_repetitions: u32,
    /// Hard cap of varbinds kept per walked subtree (bounded memory on huge tables).
    pub max_rows_per_table: usize,
    /// Requests per second to one agent; 0 = unlimited.
    pub max_requests_per_sec: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout_ms: 1500,
            retries: 1,
            max_repetitions: 30,
            max_rows_per_table: 50_000,
            max_requests_per_sec: 0,
        }
    }
}

impl ClientConfig {
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
    /// Longest one unanswered request can take, retries included.
    pub fn request_budget(&self) -> Duration {
        self.timeout() * (self.retries + 1)
    }
}

/// Errors of one SNMP exchange. Messages never contain secrets.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SnmpError {
    #[error("no response within {0:?} ({1} attempts)")]
    Timeout(Duration, u32),
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("malformed or unexpected reply: {0}")]
    Protocol(String),
    #[error("agent returned error status {0}")]
    ErrorStatus(u32),
    #[error("i/o: {0}")]
    Io(String),
}

impl SnmpError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SnmpError::Timeout(..) => "snmp.timeout",
            SnmpError::Unreachable(_) => "snmp.unreachable",
            SnmpError::Auth(_) => "snmp.auth_failed",
            SnmpError::Protocol(_) => "snmp.protocol",
            SnmpError::ErrorStatus(_) => "snmp.error_status",
            SnmpError::Io(_) => "snmp.io",
        }
    }
    /// Fatal for the agent: further walks would fail the same way.
    pub fn agent_dead(&self) -> bool {
        matches!(
            self,
            SnmpError::Timeout(..)
                | SnmpError::Unreachable(_)
                | SnmpError::Io(_)
                | SnmpError::Auth(_)
        )
    }
}

/// One varbind of a reply; exceptions kept as markers for the walker.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Value(SnmpValue),
    EndOfMibView,
    NoSuch,
}

fn convert(v: &Value<'_>) -> Reply {
    Reply::Value(match v {
        Value::Integer(i) => SnmpValue::Integer(*i),
        Value::OctetString(b) => SnmpValue::Octets(b.to_vec()),
        Value::ObjectIdentifier(o) => match o.iter() {
            Some(it) => SnmpValue::Oid(Oid(it
                .map(|x| u32::try_from(x).unwrap_or(u32::MAX))
                .collect())),
            None => SnmpValue::Null,
        },
        Value::IpAddress(a) => SnmpValue::IpAddress(*a),
        Value::Counter32(x) => SnmpValue::Counter32(*x),
        Value::Unsigned32(x) => SnmpValue::Gauge32(*x),
        Value::Timeticks(x) => SnmpValue::Timeticks(*x),
        Value::Counter64(x) => SnmpValue::Counter64(*x),
        Value::Opaque(b) => SnmpValue::Opaque(b.to_vec()),
        Value::EndOfMibView => return Reply::EndOfMibView,
        Value::NoSuchObject | Value::NoSuchInstance => return Reply::NoSuch,
        _ => SnmpValue::Null,
    })
}

fn oid_of(o: &snmp2::Oid<'_>) -> Option<Oid> {
    let v: Option<Vec<u32>> = o.iter()?.map(|x| u32::try_from(x).ok()).collect();
    v.map(Oid)
}

fn to_snmp2_oid(o: &Oid) -> Result<snmp2::Oid<'static>, SnmpError> {
    let parts: Vec<u64> = o.0.iter().map(|x| *x as u64).collect();
    snmp2::Oid::from(&parts).map_err(|_| SnmpError::Protocol(format!("cannot encode OID {o}")))
}

/// Owned result of one request.
#[derive(Debug, Clone)]
pub struct Response {
    pub error_status: u32,
    pub varbinds: Vec<(Oid, Reply)>,
}

pub(crate) fn owned(pdu: &snmp2::Pdu<'_>) -> Response {
    let mut varbinds = Vec::new();
    for (name, value) in pdu.varbinds.clone() {
        // an unencodable OID (sub-identifier > u32) is malformed: stop reading this reply
        let Some(o) = oid_of(&name) else { break };
        varbinds.push((o, convert(&value)));
    }
    Response {
        error_status: pdu.error_status,
        varbinds,
    }
}

/// Shared limits across every session of a probe or sweep.
#[derive(Clone)]
pub struct Limits {
    /// Requests in flight across all targets.
    pub in_flight: Arc<Semaphore>,
}

impl Limits {
    pub fn new(max_in_flight: usize) -> Self {
        Limits {
            in_flight: Arc::new(Semaphore::new(max_in_flight.max(1))),
        }
    }
}

enum Op<'a> {
    Get(&'a [Oid]),
    GetNext(&'a Oid),
    GetBulk(&'a Oid, u32),
}

/// One agent, one credential.
pub struct Session {
    inner: AsyncSession,
    v1: bool,
    v3: bool,
    cfg: ClientConfig,
    limits: Limits,
    next_slot: Instant,
    max_rep: u32,
}

fn start_req_id() -> i32 {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    (n & 0x3fff_ffff) as i32
}

/// The snmp2 security parameters of an SNMPv3 credential (SHA-1 when no authentication
/// protocol is named; Blumenthal key extension where the cipher needs a longer key).
fn v3_security(v3: &crate::credentials::SnmpV3) -> Result<snmp2::v3::Security, SnmpError> {
    use snmp2::v3::{Auth, AuthProtocol, Cipher, Security};
    v3.validate().map_err(|e| SnmpError::Auth(e.to_string()))?;
    let auth_pass = v3
        .auth_pass
        .as_ref()
        .map(|s| s.expose().as_bytes().to_vec())
        .unwrap_or_default();
    let mut sec = Security::new(v3.user.as_bytes(), &auth_pass);
    let proto = match v3.auth_proto {
        Some(SnmpAuthProto::Md5) => AuthProtocol::Md5,
        Some(SnmpAuthProto::Sha1) => AuthProtocol::Sha1,
        Some(SnmpAuthProto::Sha224) => AuthProtocol::Sha224,
        Some(SnmpAuthProto::Sha256) => AuthProtocol::Sha256,
        Some(SnmpAuthProto::Sha384) => AuthProtocol::Sha384,
        Some(SnmpAuthProto::Sha512) => AuthProtocol::Sha512,
        None => AuthProtocol::Sha1,
    };
    sec = sec.with_auth_protocol(proto);
    let auth = match (&v3.auth_pass, &v3.priv_proto, &v3.priv_pass) {
        (None, _, _) => Auth::NoAuthNoPriv,
        (Some(_), Some(p), Some(pp)) => Auth::AuthPriv {
            cipher: match p {
                SnmpPrivProto::Des => Cipher::Des,
                SnmpPrivProto::Aes128 => Cipher::Aes128,
                SnmpPrivProto::Aes192 => Cipher::Aes192,
                SnmpPrivProto::Aes256 => Cipher::Aes256,
            },
            privacy_password: pp.expose().as_bytes().to_vec(),
        },
        (Some(_), _, _) => Auth::AuthNoPriv,
    };
    if let Auth::AuthPriv { cipher, .. } = &auth {
        if cipher.priv_key_needs_extension(&proto) {
            sec = sec.with_key_extension_method(snmp2::v3::KeyExtension::Blumenthal);
        }
    }
    Ok(sec.with_auth(auth))
}

impl Session {
    /// Open a session (and for v3, discover the engine id). Secrets stay inside snmp2.
    pub async fn open(
        addr: SocketAddr,
        cred: &SnmpCredential,
        cfg: &ClientConfig,
        limits: &Limits,
    ) -> Result<Session, SnmpError> {
        let io = |e: std::io::Error| SnmpError::Io(e.kind().to_string());
        let (inner, v1, v3) = match &cred.kind {
            SnmpCredentialKind::V1 { community } => (
                AsyncSession::new_v1(addr, community.expose().as_bytes(), start_req_id())
                    .await
                    .map_err(io)?,
                true,
                false,
            ),
            SnmpCredentialKind::V2c { community } => (
                AsyncSession::new_v2c(addr, community.expose().as_bytes(), start_req_id())
                    .await
                    .map_err(io)?,
                false,
                false,
            ),
            SnmpCredentialKind::V3(v3) => {
                let sec = v3_security(v3)?;
                (
                    AsyncSession::new_v3(addr, start_req_id(), sec)
                        .await
                        .map_err(io)?,
                    false,
                    true,
                )
            }
        };
        let mut s = Session {
            inner,
            v1,
            v3,
            max_rep: cfg.max_repetitions.clamp(1, 200),
            cfg: cfg.clone(),
            limits: limits.clone(),
            next_slot: Instant::now(),
        };
        if s.v3 {
            s.init_v3().await?;
        }
        Ok(s)
    }

    async fn init_v3(&mut self) -> Result<(), SnmpError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let _permit = self
                .limits
                .in_flight
                .acquire()
                .await
                .map_err(|_| SnmpError::Io("closed".into()))?;
            match tokio::time::timeout(self.cfg.timeout(), self.inner.init()).await {
                Err(_) if attempts <= self.cfg.retries => continue,
                Err(_) => return Err(SnmpError::Timeout(self.cfg.timeout(), attempts)),
                Ok(Ok(())) => return Ok(()),
                Ok(Err(snmp2::Error::Receive)) => {
                    return Err(SnmpError::Unreachable(
                        "port closed (ICMP unreachable)".into(),
                    ))
                }
                Ok(Err(snmp2::Error::RequestIdMismatch)) if attempts <= self.cfg.retries + 4 => {
                    continue
                }
                Ok(Err(snmp2::Error::AuthFailure(k))) => {
                    return Err(SnmpError::Auth(format!("SNMPv3 engine discovery: {k}")))
                }
                Ok(Err(e)) => {
                    return Err(SnmpError::Protocol(format!("SNMPv3 engine discovery: {e}")))
                }
            }
        }
    }

    pub fn is_v1(&self) -> bool {
        self.v1
    }

    async fn pace(&mut self) {
        if self.cfg.max_requests_per_sec == 0 {
            return;
        }
        let now = Instant::now();
        if self.next_slot > now {
            tokio::time::sleep(self.next_slot - now).await;
        }
        self.next_slot = Instant::now().max(self.next_slot)
            + Duration::from_secs(1) / self.cfg.max_requests_per_sec;
    }

    async fn request(&mut self, op: Op<'_>) -> Result<Response, SnmpError> {
        let mut timeouts = 0u32;
        let mut stale = 0u32;
        let mut garbage = 0u32;
        loop {
            self.pace().await;
            let permit = self
                .limits
                .in_flight
                .acquire()
                .await
                .map_err(|_| SnmpError::Io("closed".into()))?;
            let inner = &mut self.inner;
            let fut = async {
                match &op {
                    Op::Get(oids) => {
                        let o: Vec<snmp2::Oid<'static>> =
                            oids.iter().map(to_snmp2_oid).collect::<Result<_, _>>()?;
                        let refs: Vec<&snmp2::Oid<'_>> = o.iter().collect();
                        Ok(inner.get_many(&refs).await.map(|p| owned(&p)))
                    }
                    Op::GetNext(oid) => {
                        let o = to_snmp2_oid(oid)?;
                        Ok(inner.getnext(&o).await.map(|p| owned(&p)))
                    }
                    Op::GetBulk(oid, rep) => {
                        let o = to_snmp2_oid(oid)?;
                        Ok(inner.getbulk(&[&o], 0, *rep).await.map(|p| owned(&p)))
                    }
                }
            };
            let r = tokio::time::timeout(self.cfg.timeout(), fut).await;
            drop(permit);
            match r {
                Err(_) => {
                    timeouts += 1;
                    if timeouts > self.cfg.retries {
                        return Err(SnmpError::Timeout(self.cfg.timeout(), timeouts));
                    }
                }
                Ok(Err(e)) => return Err(e),
                Ok(Ok(Ok(resp))) => return Ok(resp),
                Ok(Ok(Err(e))) => match e {
                    // a late reply to an earlier (timed-out) request: consumed, ask again
                    snmp2::Error::RequestIdMismatch if stale < 8 => stale += 1,
                    snmp2::Error::Receive => return Err(SnmpError::Unreachable("port closed (ICMP unreachable)".into())),
                    snmp2::Error::Send => return Err(SnmpError::Unreachable("cannot send".into())),
                    snmp2::Error::AuthFailure(k) => return Err(SnmpError::Auth(format!("SNMPv3: {k}"))),
                    // v3 agents answer a bad user/key with a Report PDU
                    snmp2::Error::AsnWrongType if self.v3 => {
                        return Err(SnmpError::Auth("SNMPv3 agent sent a report (unknown user, wrong key or wrong security level)".into()))
                    }
                    snmp2::Error::CommunityMismatch => return Err(SnmpError::Protocol("reply for another community".into())),
                    other => {
                        garbage += 1;
                        if garbage > self.cfg.retries {
                            return Err(SnmpError::Protocol(other.to_string()));
                        }
                    }
                },
            }
        }
    }

    /// GET several scalars; missing ones are left out.
    pub async fn get(&mut self, oids: &[Oid]) -> Result<Vec<(Oid, SnmpValue)>, SnmpError> {
        let resp = self.request(Op::Get(oids)).await?;
        if resp.error_status != 0 && !(self.v1 && resp.error_status == 2) {
            return Err(SnmpError::ErrorStatus(resp.error_status));
        }
        Ok(resp
            .varbinds
            .into_iter()
            .filter_map(|(o, r)| match r {
                Reply::Value(v) => Some((o, v)),
                _ => None,
            })
            .collect())
    }

    /// Walk one subtree: GETBULK (v2c/v3) or GETNEXT (v1). Stops at the end of the subtree,
    /// endOfMibView, a non-increasing OID (loop) or the row cap. A failure midway returns what was
    /// read so far with a `Failed` status.
    pub async fn walk(&mut self, root: &Oid, out: &mut Vec<(Oid, SnmpValue)>) -> WalkStatus {
        let mut walk = Walk::new(root, self.v1, self.cfg.max_rows_per_table, out.len());
        loop {
            let resp = if self.v1 {
                self.request(Op::GetNext(&walk.cur)).await
            } else {
                self.request(Op::GetBulk(&walk.cur, self.max_rep)).await
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    return WalkStatus::Failed {
                        code: e.code().into(),
                        message: e.to_string(),
                    }
                }
            };
            if let Some(status) = walk.absorb(resp, &mut self.max_rep, out) {
                return status;
            }
        }
    }
}

/// One subtree walk in progress, apart from the network: what to ask for next and what the
/// replies so far mean. Pure, so the guards (end of subtree, loops, the row cap) hold for any
/// reply an agent can send — the fuzz targets drive it with decoded hostile datagrams.
pub(crate) struct Walk<'a> {
    root: &'a Oid,
    /// The OID the next request starts after.
    pub(crate) cur: Oid,
    v1: bool,
    max_rows: usize,
    /// `out.len()` when the walk started.
    start: usize,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(root: &'a Oid, v1: bool, max_rows: usize, start: usize) -> Self {
        Walk {
            root,
            cur: root.clone(),
            v1,
            max_rows,
            start,
        }
    }

    /// Take in one reply: `None` to ask again (from `cur`, with `max_rep` possibly halved),
    /// `Some(status)` when the walk is over.
    pub(crate) fn absorb(
        &mut self,
        resp: Response,
        max_rep: &mut u32,
        out: &mut Vec<(Oid, SnmpValue)>,
    ) -> Option<WalkStatus> {
        let start = self.start;
        let rows = move |out: &Vec<(Oid, SnmpValue)>| out.len() - start;
        match resp.error_status {
            0 => {}
            // v1 noSuchName: end of the MIB view
            2 if self.v1 => return Some(done(rows(out))),
            // tooBig: fewer repetitions
            1 if *max_rep > 1 => {
                *max_rep = (*max_rep / 2).max(1);
                return None;
            }
            s => {
                let e = SnmpError::ErrorStatus(s);
                return Some(WalkStatus::Failed {
                    code: e.code().into(),
                    message: e.to_string(),
                });
            }
        }
        if resp.varbinds.is_empty() {
            return Some(done(rows(out)));
        }
        for (oid, r) in resp.varbinds {
            if !oid.starts_with(self.root) {
                return Some(done(rows(out)));
            }
            let v = match r {
                Reply::Value(v) => v,
                Reply::EndOfMibView | Reply::NoSuch => return Some(done(rows(out))),
            };
            if oid <= self.cur {
                return Some(WalkStatus::Looping {
                    at: oid.to_string(),
                });
            }
            self.cur = oid.clone();
            out.push((oid, v));
            if rows(out) >= self.max_rows {
                return Some(WalkStatus::Truncated {
                    limit: self.max_rows,
                });
            }
        }
        None
    }
}

fn done(rows: usize) -> WalkStatus {
    if rows == 0 {
        WalkStatus::Missing
    } else {
        WalkStatus::Complete { rows }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{Secret, SnmpV3};

    fn v3(auth_pass: Option<&str>, priv_pass: Option<&str>) -> SnmpCredential {
        SnmpCredential {
            name: "v3".into(),
            kind: SnmpCredentialKind::V3(SnmpV3 {
                user: "u".into(),
                auth_proto: Some(SnmpAuthProto::Sha1),
                auth_pass: auth_pass.map(Secret::new),
                priv_proto: priv_pass.map(|_| SnmpPrivProto::Aes128),
                priv_pass: priv_pass.map(Secret::new),
            }),
            scope: None,
        }
    }

    /// An empty passphrase is refused before any packet: snmp2 would index into it while
    /// localising the key once the agent's engine id arrives (found reading snmp2 for the fuzz
    /// harness; it panicked in release builds too).
    #[tokio::test]
    async fn empty_v3_passphrases_are_refused_up_front() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for cred in [v3(Some(""), None), v3(Some("authpass1"), Some(""))] {
            let e = Session::open(addr, &cred, &ClientConfig::default(), &Limits::new(1))
                .await
                .err()
                .expect("refused");
            assert_eq!(e.code(), "snmp.auth_failed", "{e}");
            assert!(e.to_string().contains("is empty"), "{e}");
        }
    }

    /// What a walk makes of replies, whatever the agent sends: the guards end it.
    #[test]
    fn walk_guards() {
        let root = Oid::new(&[1, 3, 6, 1, 2, 1, 2, 2]);
        let row = |last: u32| {
            (
                root.child(&[1, 1, last]),
                Reply::Value(SnmpValue::Integer(last as i64)),
            )
        };
        let resp = |varbinds: Vec<(Oid, Reply)>| Response {
            error_status: 0,
            varbinds,
        };
        // a non-increasing OID is a loop
        let mut out = Vec::new();
        let mut w = Walk::new(&root, false, 100, 0);
        let mut rep = 30;
        assert_eq!(
            w.absorb(resp(vec![row(2), row(3)]), &mut rep, &mut out),
            None
        );
        assert!(matches!(
            w.absorb(resp(vec![row(3)]), &mut rep, &mut out),
            Some(WalkStatus::Looping { .. })
        ));
        // the row cap truncates
        let mut out = Vec::new();
        let mut w = Walk::new(&root, false, 2, 0);
        assert_eq!(
            w.absorb(resp(vec![row(1), row(2), row(3)]), &mut rep, &mut out),
            Some(WalkStatus::Truncated { limit: 2 })
        );
        // tooBig halves the repetitions and asks again; another error status fails the walk
        let mut w = Walk::new(&root, false, 2, 0);
        let too_big = Response {
            error_status: 1,
            varbinds: vec![],
        };
        assert_eq!(w.absorb(too_big.clone(), &mut rep, &mut Vec::new()), None);
        assert_eq!(rep, 15);
        let mut one = 1;
        assert!(matches!(
            w.absorb(too_big, &mut one, &mut Vec::new()),
            Some(WalkStatus::Failed { .. })
        ));
        // leaving the subtree ends it
        let outside = (
            Oid::new(&[1, 3, 6, 1, 2, 1, 3]),
            Reply::Value(SnmpValue::Null),
        );
        let mut out = Vec::new();
        assert_eq!(
            Walk::new(&root, false, 10, 0).absorb(resp(vec![row(1), outside]), &mut 30, &mut out),
            Some(WalkStatus::Complete { rows: 1 })
        );
    }
}
