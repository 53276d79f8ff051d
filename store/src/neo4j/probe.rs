//! A bare Bolt handshake + HELLO, to learn the server's identity (neo4rs does not expose the
//! `server` field of HELLO's answer) and to tell "wrong password" from "not reachable" before
//! the pool is built. Only what that needs of PackStream is here.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::db::AUTH_FAILED;
use crate::StoreError;

#[derive(Debug, Clone, PartialEq)]
enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<V>),
    Map(Vec<(String, V)>),
    Struct(u8, Vec<V>),
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    match b.len() {
        n if n < 16 => out.push(0x80 | n as u8),
        n if n < 256 => out.extend([0xD0, n as u8]),
        n => {
            out.push(0xD1);
            out.extend((n.min(65535) as u16).to_be_bytes());
        }
    }
    out.extend(&b[..b.len().min(65535)]);
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.i..self.i + n)?;
        self.i += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|s| s[0])
    }
    fn len(&mut self, bytes: usize) -> Option<usize> {
        let s = self.take(bytes)?;
        Some(s.iter().fold(0usize, |a, b| (a << 8) | *b as usize))
    }
    fn value(&mut self, depth: usize) -> Option<V> {
        if depth > 32 {
            return None;
        }
        let m = self.u8()?;
        Some(match m {
            0xC0 => V::Null,
            0xC2 => V::Bool(false),
            0xC3 => V::Bool(true),
            0xC1 => V::Float(f64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            0xC8 => V::Int(self.take(1)?[0] as i8 as i64),
            0xC9 => V::Int(i16::from_be_bytes(self.take(2)?.try_into().ok()?) as i64),
            0xCA => V::Int(i32::from_be_bytes(self.take(4)?.try_into().ok()?) as i64),
            0xCB => V::Int(i64::from_be_bytes(self.take(8)?.try_into().ok()?)),
            0x00..=0x7F => V::Int(m as i64),
            0xF0..=0xFF => V::Int(m as i8 as i64),
            0x80..=0x8F | 0xD0..=0xD2 => {
                let n = match m {
                    0xD0 => self.len(1)?,
                    0xD1 => self.len(2)?,
                    0xD2 => self.len(4)?,
                    _ => (m & 0x0F) as usize,
                };
                V::Str(String::from_utf8_lossy(self.take(n)?).into_owned())
            }
            0x90..=0x9F | 0xD4..=0xD6 => {
                let n = match m {
                    0xD4 => self.len(1)?,
                    0xD5 => self.len(2)?,
                    0xD6 => self.len(4)?,
                    _ => (m & 0x0F) as usize,
                };
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                V::List(v)
            }
            0xA0..=0xAF | 0xD8..=0xDA => {
                let n = match m {
                    0xD8 => self.len(1)?,
                    0xD9 => self.len(2)?,
                    0xDA => self.len(4)?,
                    _ => (m & 0x0F) as usize,
                };
                let mut v = Vec::new();
                for _ in 0..n {
                    let V::Str(k) = self.value(depth + 1)? else {
                        return None;
                    };
                    v.push((k, self.value(depth + 1)?));
                }
                V::Map(v)
            }
            0xB0..=0xBF => {
                let n = (m & 0x0F) as usize;
                let sig = self.u8()?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(self.value(depth + 1)?);
                }
                V::Struct(sig, v)
            }
            _ => return None,
        })
    }
}

fn field<'a>(v: &'a V, key: &str) -> Option<&'a str> {
    match v {
        V::Struct(_, f) => match f.first()? {
            V::Map(m) => m.iter().find(|(k, _)| k == key).and_then(|(_, v)| {
                if let V::Str(s) = v {
                    Some(s.as_str())
                } else {
                    None
                }
            }),
            _ => None,
        },
        _ => None,
    }
}

async fn read_message(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut msg = Vec::new();
    loop {
        let n = s.read_u16().await? as usize;
        if n == 0 {
            if msg.is_empty() {
                continue;
            }
            return Ok(msg);
        }
        if msg.len() + n > 1 << 20 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "oversized HELLO answer",
            ));
        }
        let mut chunk = vec![0; n];
        s.read_exact(&mut chunk).await?;
        msg.extend(chunk);
    }
}

/// The address part of a `bolt://host:port` / `neo4j://host:port` / `host:port` URI.
pub(crate) fn host_port(uri: &str) -> Result<(String, u16), StoreError> {
    let rest = uri.split_once("://");
    let (scheme, rest) = match rest {
        Some((s, r)) => (s, r),
        None => ("bolt", uri),
    };
    if !matches!(scheme, "bolt" | "neo4j") {
        return Err(StoreError::InvalidInput(format!(
            "unsupported Neo4j URI scheme `{scheme}` (use bolt:// or neo4j://; TLS schemes are not supported yet)"
        )));
    }
    let hostport = rest.split(['/', '?']).next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => (
            h,
            p.parse::<u16>().map_err(|_| {
                StoreError::InvalidInput(format!("invalid port in Neo4j URI `{uri}`"))
            })?,
        ),
        _ if !hostport.is_empty() => (hostport, 7687),
        _ => {
            return Err(StoreError::InvalidInput(format!(
                "no host in Neo4j URI `{uri}`"
            )))
        }
    };
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Connect, negotiate Bolt 4.x, authenticate, and return the server's agent string
/// (`Neo4j/5.x`, or `Neo4j/5.26.0 compatible (ArcadeDB …)`).
pub(crate) async fn hello(
    host: &str,
    port: u16,
    user: &str,
    password: &str,
    limit: Duration,
) -> Result<String, StoreError> {
    let unavailable = |e: std::io::Error| {
        StoreError::Unavailable(format!(
            "cannot reach the graph database at {host}:{port}: {e}"
        ))
    };
    let fut = async {
        let mut s = TcpStream::connect((host, port))
            .await
            .map_err(unavailable)?;
        s.write_all(&[0x60, 0x60, 0xB0, 0x17])
            .await
            .map_err(unavailable)?;
        // Bolt 4.1 and 4.0: exactly what neo4rs 0.8 offers, so success here means it can talk.
        s.write_all(&[0, 0, 1, 4, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0])
            .await
            .map_err(unavailable)?;
        let mut v = [0u8; 4];
        s.read_exact(&mut v).await.map_err(unavailable)?;
        if v == [0, 0, 0, 0] {
            return Err(StoreError::Unavailable(format!(
                "the server at {host}:{port} speaks no Bolt 4.x version this client supports"
            )));
        }
        let mut body = vec![0xB1, 0x01, 0xA4];
        for (k, val) in [
            ("user_agent", "cmdb/0.1"),
            ("scheme", "basic"),
            ("principal", user),
            ("credentials", password),
        ] {
            put_str(&mut body, k);
            put_str(&mut body, val);
        }
        let mut framed = Vec::with_capacity(body.len() + 4);
        framed.extend((body.len() as u16).to_be_bytes());
        framed.extend(&body);
        framed.extend([0, 0]);
        s.write_all(&framed).await.map_err(unavailable)?;
        let msg = read_message(&mut s).await.map_err(unavailable)?;
        let answer = Reader { b: &msg, i: 0 }.value(0).ok_or_else(|| {
            StoreError::Unavailable(format!("unreadable HELLO answer from {host}:{port}"))
        })?;
        // Say goodbye politely; errors here do not matter.
        let _ = s.write_all(&[0, 2, 0xB0, 0x02, 0, 0]).await;
        match &answer {
            V::Struct(0x70, _) => Ok(field(&answer, "server").unwrap_or("unknown").to_string()),
            V::Struct(0x7F, _) => {
                let code = field(&answer, "code").unwrap_or("");
                let message = field(&answer, "message").unwrap_or("");
                if code.contains("Security") || code.is_empty() {
                    Err(StoreError::Unavailable(format!(
                        "{AUTH_FAILED} for user `{user}` at {host}:{port}: {code} {message}; check the [store] user and password"
                    )))
                } else {
                    Err(StoreError::Unavailable(format!(
                        "the server at {host}:{port} refused the connection: {code} {message}"
                    )))
                }
            }
            _ => Err(StoreError::Unavailable(format!(
                "unexpected HELLO answer from {host}:{port}"
            ))),
        }
    };
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(StoreError::Unavailable(format!(
            "the graph database at {host}:{port} did not answer within {} s",
            limit.as_secs_f32()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            host_port("bolt://127.0.0.1:17687").unwrap(),
            ("127.0.0.1".into(), 17687)
        );
        assert_eq!(
            host_port("neo4j://db.example.com").unwrap(),
            ("db.example.com".into(), 7687)
        );
        assert_eq!(
            host_port("localhost:7687").unwrap(),
            ("localhost".into(), 7687)
        );
        assert!(host_port("http://x:1").is_err());
        assert!(host_port("bolt://x:notaport").is_err());
    }

    #[test]
    fn packstream_maps() {
        let mut b = vec![0xB1, 0x70, 0xA2];
        put_str(&mut b, "server");
        put_str(&mut b, "Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)");
        put_str(&mut b, "n");
        b.extend([0xC9, 0x01, 0x00]);
        let v = Reader { b: &b, i: 0 }.value(0).unwrap();
        assert_eq!(
            field(&v, "server"),
            Some("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)")
        );
        assert!(
            Reader {
                b: &[0xB1, 0x70, 0xA1, 0x85],
                i: 0
            }
            .value(0)
            .is_none(),
            "truncated input is refused, not a panic"
        );
    }
}
