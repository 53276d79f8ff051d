//! Bearer API tokens. Tokens are configured as SHA-256 hashes; a presented token is hashed and
//! compared against every configured hash in constant time. Tokens are never logged.
//!
//! A token may expire (`expires_at`): from then on it gets `TOKEN_EXPIRED`, not
//! `UNAUTHENTICATED`, so a client knows to ask for a new one. How a refusal reads on each
//! transport — HTTP 401 for every authenticated endpoint, the close of a WebSocket refused at
//! `connection_init`, the error that ends a subscription when its token expires — is decided
//! here ([`AuthError::response`], [`AuthError::ws_error`], [`AuthError::graphql_error`]).

use actix_web::http::header;
use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use cmdb_graphql::Role;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::TokenConfig;

#[derive(Clone)]
struct Token {
    name: String,
    hash: [u8; 32],
    role: Role,
    expires_at: Option<DateTime<Utc>>,
}

/// Who may call the API.
#[derive(Clone)]
pub struct Auth {
    tokens: Vec<Token>,
}

/// Why a request was refused (the message is safe to return: it never holds the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    Invalid,
    /// A configured token whose `expires_at` has passed.
    Expired {
        at: DateTime<Utc>,
    },
}

/// Error code of a refused token that has expired.
pub const TOKEN_EXPIRED: &str = "TOKEN_EXPIRED";
/// Error code of every other refusal.
pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";

impl AuthError {
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "missing API token: send `Authorization: Bearer <token>`".into(),
            AuthError::Malformed => {
                "malformed Authorization header: expected `Bearer <token>`".into()
            }
            AuthError::Invalid => "invalid API token".into(),
            AuthError::Expired { at } => format!(
                "API token expired at {}: ask for a new one",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }
    }

    /// Stable code: `TOKEN_EXPIRED` or `UNAUTHENTICATED`.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Expired { .. } => TOKEN_EXPIRED,
            _ => UNAUTHENTICATED,
        }
    }

    /// The HTTP answer, the same on every authenticated endpoint: 401 with
    /// `WWW-Authenticate` (RFC 6750: `error="invalid_token"` for a token presented and
    /// refused) and the GraphQL error shape.
    pub fn response(&self) -> HttpResponse {
        let challenge = match self {
            AuthError::Missing => "Bearer realm=\"cmdb\"".to_string(),
            AuthError::Malformed => "Bearer realm=\"cmdb\", error=\"invalid_request\"".into(),
            AuthError::Invalid => "Bearer realm=\"cmdb\", error=\"invalid_token\"".into(),
            AuthError::Expired { .. } => "Bearer realm=\"cmdb\", error=\"invalid_token\", error_description=\"the token expired\"".into(),
        };
        let message = self.message();
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, challenge))
            .json(json!({
                "error": message,
                "errors": [{ "message": message, "extensions": { "code": self.code() } }]
            }))
    }

    /// A GraphQL error with the code (ends a subscription whose token expired).
    pub fn graphql_error(&self) -> async_graphql::ServerError {
        let mut e = async_graphql::ServerError::new(self.message(), None);
        e.extensions
            .get_or_insert_with(Default::default)
            .set("code", self.code());
        e
    }

    /// The refusal of a WebSocket `connection_init`. graphql-transport-ws closes the
    /// connection with code 1002 and this message as the reason (no room for extensions), so
    /// the message starts with the code: `TOKEN_EXPIRED: API token expired at …`. The legacy
    /// protocol's `connection_error` carries the code in `extensions` too. Always shorter than
    /// the 123 bytes a close reason may hold.
    pub fn ws_error(&self) -> async_graphql::Error {
        let code = self.code();
        use async_graphql::ErrorExtensions as _;
        async_graphql::Error::new(format!("{code}: {}", self.message()))
            .extend_with(|_, ext| ext.set("code", code))
    }
}

/// A caller that passed authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's configured name (`open` without tokens).
    pub name: String,
    pub role: Role,
    /// When the caller's token expires (a WebSocket's subscriptions end then).
    pub expires_at: Option<DateTime<Utc>>,
}

pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Auth {
    pub fn new(tokens: &[TokenConfig]) -> anyhow::Result<Auth> {
        let mut out = Vec::new();
        for t in tokens {
            let bytes = hex::decode(t.sha256.trim())
                .map_err(|_| anyhow::anyhow!("[[auth.tokens]] `{}`: sha256 is not hex", t.name))?;
            let hash: [u8; 32] = bytes.try_into().map_err(|_| {
                anyhow::anyhow!(
                    "[[auth.tokens]] `{}`: sha256 must be 32 bytes (64 hex digits)",
                    t.name
                )
            })?;
            let role: Role = t
                .role
                .parse()
                .map_err(|e| anyhow::anyhow!("[[auth.tokens]] `{}`: {e}", t.name))?;
            let expires_at = t.expiry().map_err(anyhow::Error::msg)?;
            if let Some(at) = expires_at {
                let left = at - Utc::now();
                if left <= chrono::Duration::zero() {
                    tracing::warn!(token = %t.name, expired_at = %at, "API token has expired: requests with it are refused with TOKEN_EXPIRED");
                } else if left <= chrono::Duration::days(7) {
                    tracing::warn!(token = %t.name, expires_at = %at, "API token expires within 7 days");
                }
            }
            out.push(Token {
                name: t.name.clone(),
                hash,
                role,
                expires_at,
            });
        }
        Ok(Auth { tokens: out })
    }

    /// No tokens: the API is open (and only loopback binds are allowed).
    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Check an `Authorization` header value (or its absence).
    pub fn check_header(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        if self.is_open() {
            return Ok(Self::open());
        }
        let h = header.ok_or(AuthError::Missing)?.trim();
        let (scheme, token) = h.split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        self.check_token(token.trim())
    }

    /// Check a bare token.
    pub fn check_token(&self, token: &str) -> Result<Caller, AuthError> {
        self.check_token_at(token, Utc::now())
    }

    /// Check a bare token at time `now`.
    pub fn check_token_at(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, AuthError> {
        if self.is_open() {
            return Ok(Self::open());
        }
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Compare against every token without short-circuiting.
        let mut found: Option<&Token> = None;
        for t in &self.tokens {
            let eq: bool = t.hash.ct_eq(&presented).into();
            if eq && found.is_none() {
                found = Some(t);
            }
        }
        let t = found.ok_or(AuthError::Invalid)?;
        if let Some(at) = t.expires_at {
            if now >= at {
                tracing::warn!(token = %t.name, expired_at = %at, "an expired API token was presented");
                return Err(AuthError::Expired { at });
            }
        }
        Ok(Caller {
            name: t.name.clone(),
            role: t.role,
            expires_at: t.expires_at,
        })
    }

    fn open() -> Caller {
        Caller {
            name: "open".into(),
            role: Role::Admin,
            expires_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, token: &str, role: &str) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            sha256: sha256_hex(token),
            role: role.into(),
            expires_at: None,
        }
    }

    #[test]
    fn tokens_roles_and_failures() {
        let a = Auth::new(&[
            cfg("ci-reader", "r-secret", "reader"),
            cfg("ops", "e-secret", "editor"),
        ])
        .unwrap();
        assert_eq!(
            a.check_header(Some("Bearer r-secret")).unwrap().role,
            Role::Reader
        );
        assert_eq!(
            a.check_header(Some("bearer e-secret")).unwrap().role,
            Role::Editor
        );
        assert_eq!(a.check_header(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            a.check_header(Some("Basic abc")).unwrap_err(),
            AuthError::Malformed
        );
        assert_eq!(
            a.check_header(Some("Bearer nope")).unwrap_err(),
            AuthError::Invalid
        );
        let open = Auth::new(&[]).unwrap();
        assert_eq!(open.check_header(None).unwrap().role, Role::Admin);
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let mut t = cfg("dash", "d-secret", "reader");
        t.expires_at = Some(toml::Value::String("2026-12-31T00:00:00Z".into()));
        let a = Auth::new(&[t, cfg("ops", "o-secret", "admin")]).unwrap();
        let at: DateTime<Utc> = "2026-12-31T00:00:00Z".parse().unwrap();
        let before = at - chrono::Duration::seconds(1);
        let c = a.check_token_at("d-secret", before).unwrap();
        assert_eq!((c.role, c.expires_at), (Role::Reader, Some(at)));
        for now in [at, at + chrono::Duration::days(400)] {
            let e = a.check_token_at("d-secret", now).unwrap_err();
            assert_eq!(e, AuthError::Expired { at });
            assert_eq!(e.code(), "TOKEN_EXPIRED");
            assert!(
                e.message().contains("expired at 2026-12-31T00:00:00Z"),
                "{}",
                e.message()
            );
            assert!(!e.message().contains("d-secret") && !e.message().contains("dash"));
        }
        // A wrong token stays invalid (not expired), and tokens without expiry never expire.
        assert_eq!(
            a.check_token_at("nope", at).unwrap_err().code(),
            "UNAUTHENTICATED"
        );
        assert!(a
            .check_token_at("o-secret", at + chrono::Duration::days(9999))
            .is_ok());
        // A malformed expiry is refused at start, naming the token.
        let mut bad = cfg("dash", "d-secret", "reader");
        bad.expires_at = Some(toml::Value::String("soon".into()));
        let e = Auth::new(&[bad]).err().unwrap().to_string();
        assert!(e.contains("`dash`") && e.contains("expires_at"), "{e}");
    }

    #[test]
    fn refusals_read_the_same_everywhere() {
        let at: DateTime<Utc> = "2026-12-31T00:00:00Z".parse().unwrap();
        for e in [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::Invalid,
            AuthError::Expired { at },
        ] {
            let r = e.response();
            assert_eq!(r.status().as_u16(), 401);
            assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
            let ws = e.ws_error();
            assert!(
                ws.message.starts_with(&format!("{}: ", e.code())),
                "{}",
                ws.message
            );
            assert!(ws.message.len() < 123, "fits a close frame: {}", ws.message);
            let g = e.graphql_error();
            assert_eq!(
                g.extensions.unwrap().get("code"),
                Some(&async_graphql::Value::from(e.code()))
            );
        }
    }
}
