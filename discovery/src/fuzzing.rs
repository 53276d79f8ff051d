//! Entry points for the fuzz targets in `fuzz/` (see docs/fuzzing.md). Not an API: hidden from
//! the docs and free to change. Only what the fuzz targets cannot reach through the public API
//! lives here — the SNMP reply path, whose decoding and guards are private to the client.

use std::sync::OnceLock;

use snmp2::v3::{Auth, AuthProtocol, Cipher, Security};
use snmp2::Pdu;

use crate::snmp::client::{owned, Walk};
use crate::snmp::collect::{WalkStatus, SUBTREES};
use crate::snmp::value::{Oid, SnmpValue};

/// The SNMPv3 engine id of the agent that recorded the seed corpus (`fuzz/seeds/snmp.py` starts
/// a net-snmp agent with exactly this id), so the v3 sessions below hold keys localised for it
/// and authenticated seeds verify.
pub const SEED_ENGINE_ID: [u8; 12] = [
    0x80, 0x00, 0x1f, 0x88, 0x04, b'c', b'm', b'd', b'b', b'f', b'z', b'z',
];

/// An SNMPv3 user: name, authentication passphrase and protocol, privacy cipher and passphrase.
type V3User = (
    &'static str,
    &'static str,
    AuthProtocol,
    Option<(Cipher, &'static str)>,
);

/// The SNMPv3 users of the seed agent (the SNMP lab's users, tests/lab/snmp/snmpd.conf.in).
const V3_USERS: [V3User; 3] = [
    (
        "labsha",
        "labauthpass1",
        AuthProtocol::Sha1,
        Some((Cipher::Aes128, "labprivpass1")),
    ),
    (
        "labmd5",
        "labauthpass2",
        AuthProtocol::Md5,
        Some((Cipher::Des, "labprivpass2")),
    ),
    ("labauth", "labauthpass3", AuthProtocol::Sha1, None),
];

/// Sessions' security state with keys already localised for [`SEED_ENGINE_ID`] (deriving a key
/// hashes a megabyte: done once, each input gets a fresh clone).
fn v3_templates() -> &'static Vec<Security> {
    static T: OnceLock<Vec<Security>> = OnceLock::new();
    T.get_or_init(|| {
        let mut out: Vec<Security> = V3_USERS
            .iter()
            .map(|(user, auth_pass, proto, privacy)| {
                let auth = match privacy {
                    Some((cipher, pass)) => Auth::AuthPriv {
                        cipher: *cipher,
                        privacy_password: pass.as_bytes().to_vec(),
                    },
                    None => Auth::AuthNoPriv,
                };
                Security::new(user.as_bytes(), auth_pass.as_bytes())
                    .with_auth_protocol(*proto)
                    .with_auth(auth)
                    .with_engine_id(&SEED_ENGINE_ID)
                    .expect("localising a key for a fixed engine id")
            })
            .collect();
        // noAuthNoPriv, engine not yet discovered (what a session starts with)
        out.push(Security::new(b"fuzz", b"").with_auth(Auth::NoAuthNoPriv));
        out
    })
}

/// What [`snmp_reply`] made of its input (for the harness's own tests).
#[derive(Debug, Default, PartialEq)]
pub struct ReplyOutcome {
    /// Datagrams that decoded to a PDU.
    pub decoded: usize,
    /// Varbinds the walk kept.
    pub rows: usize,
    /// How the walk ended, if it did.
    pub status: Option<WalkStatus>,
}

/// Datagrams as an agent could send them to one session, decoded the way the session decodes
/// them and fed to a subtree walk.
///
/// Input: byte 0 picks the session — v1, v2c, or SNMPv3 as `labsha` (SHA/AES), `labmd5`
/// (MD5/DES), `labauth` (SHA, no privacy) or an undiscovered noAuthNoPriv user; byte 1 picks the
/// walked subtree (low 5 bits) and the row cap (high 3 bits); then datagrams, each a big-endian
/// `u16` length and that many bytes (the last one may be short).
pub fn snmp_reply(data: &[u8]) -> ReplyOutcome {
    let mut out = ReplyOutcome::default();
    let (Some(&mode), Some(&walk_sel)) = (data.first(), data.get(1)) else {
        return out;
    };
    let mode = mode % 6;
    let v1 = mode == 0;
    let mut security = match mode {
        0 | 1 => None,
        m => Some(v3_templates()[(m - 2) as usize].clone()),
    };
    let root = Oid::new(SUBTREES[(walk_sel & 0x1f) as usize % SUBTREES.len()].oid);
    let max_rows = [1, 2, 5, 10, 50, 100, 1_000, 50_000][(walk_sel >> 5) as usize];
    let mut max_rep = 30u32;
    let mut rows: Vec<(Oid, SnmpValue)> = Vec::new();
    let mut walk = Walk::new(&root, v1, max_rows, 0);

    let mut rest = &data[2..];
    while rest.len() >= 2 && out.status.is_none() {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let take = len.min(rest.len() - 2);
        // The session decodes from its own receive buffer: a copy, as there.
        let datagram = rest[2..2 + take].to_vec();
        rest = &rest[2 + take..];
        let decoded = match security.as_mut() {
            None => Pdu::from_bytes(&datagram[..]),
            Some(sec) => Pdu::from_bytes_with_security(&datagram[..], Some(sec)),
        };
        let Ok(pdu) = decoded else { continue };
        out.decoded += 1;
        let resp = owned(&pdu);
        out.status = walk.absorb(resp, &mut max_rep, &mut rows);
    }
    out.rows = rows.len();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `snmp_ber` seeds are real agents' answers (fuzz/seeds/build.py): each must
    /// decode in the session it was recorded for — v3 ones with their signatures checked and
    /// their payloads decrypted — or the fuzzer would start from nothing but parse errors.
    #[test]
    fn recorded_replies_decode_and_walk() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/snmp_ber");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("fuzz/corpus/snmp_ber") {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with("crash-") || name.starts_with("regression-") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let out = snmp_reply(&data);
            assert!(out.decoded > 0, "{name}: nothing decoded: {out:?}");
            let errors = ["nosuch", "endofmibview", "unknown-user"];
            if !errors.iter().any(|e| name.contains(e)) {
                assert!(
                    matches!(
                        out.status,
                        Some(WalkStatus::Complete { .. } | WalkStatus::Missing) | None
                    ),
                    "{name}: {out:?}"
                );
            }
            // the net-snmp agent's answers all carry rows, v3 ones only once verified and
            // decrypted
            let walked =
                name.starts_with("v2c-") || name.starts_with("v3-lab") || name.starts_with("v1-");
            if walked && !errors.iter().any(|e| name.contains(e)) {
                assert!(out.rows > 0, "{name}: no rows walked: {out:?}");
            }
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} seeds");
    }

    /// An unauthenticated SNMPv3 agent (a noAuthNoPriv session) reports engine boots 0, then
    /// answers with engine time i64::MIN: snmp2's time-window check computes
    /// `(time - previous).abs()`, which overflowed — a panic in debug and test builds (the
    /// workspace profile now makes snmp2 wrap, as release builds do). Also in the corpus as
    /// `regression-v3-engine-time-min`.
    #[test]
    fn v3_engine_time_extremes_do_not_panic() {
        let hex = "05e000643062020103300d020101020205780401000201030420301e040c80001f8804636d6462\
                   667a7a020100020100040466757a7a04000400302c040c80001f8804636d6462667a7a0400a21a\
                   020107020100020100300f300d06082b06010201010500040178006b3069020103300d02010102\
                   02057804010002010304273025040c80001f8804636d6462667a7a020100020880000000000000\
                   00040466757a7a04000400302c040c80001f8804636d6462667a7a0400a21a0201070201000201\
                   00300f300d06082b06010201010500040178";
        let data = hex::decode(hex).unwrap();
        let out = snmp_reply(&data);
        // the report only set the engine; the answer decodes (its one varbind is outside the
        // walked subtree)
        assert_eq!(out.decoded, 1, "{out:?}");
    }

    #[test]
    fn odd_inputs_are_harmless() {
        assert_eq!(snmp_reply(&[]), ReplyOutcome::default());
        assert_eq!(snmp_reply(&[1]), ReplyOutcome::default());
        // a length past the end takes what is there
        let out = snmp_reply(&[1, 0, 0xff, 0xff, 0x30, 0x03, 0x02, 0x01]);
        assert_eq!(out.decoded, 0);
    }
}
