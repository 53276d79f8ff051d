//! Bearer API tokens. Tokens are configured as SHA-256 hashes; a presented token is hashed and
//! compared against every configured hash in constant time. Tokens are never logged.

use cmdb_graphql::Role;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::TokenConfig;

#[derive(Clone)]
struct Token {
    name: String,
    hash: [u8; 32],
    role: Role,
}

/// Who may call the API.
#[derive(Clone)]
pub struct Auth {
    tokens: Vec<Token>,
}

/// Why a request was refused (the message is safe to return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    Missing,
    Malformed,
    Invalid,
}

impl AuthError {
    pub fn message(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing API token: send `Authorization: Bearer <token>`",
            AuthError::Malformed => "malformed Authorization header: expected `Bearer <token>`",
            AuthError::Invalid => "invalid API token",
        }
    }
}

/// A caller that passed authentication.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's configured name (`open` without tokens).
    pub name: String,
    pub role: Role,
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
                .map_err(|e: String| anyhow::anyhow!("[[auth.tokens]] `{}`: {e}", t.name))?;
            out.push(Token {
                name: t.name.clone(),
                hash,
                role,
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
            return Ok(Caller {
                name: "open".into(),
                role: Role::Admin,
            });
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
        if self.is_open() {
            return Ok(Caller {
                name: "open".into(),
                role: Role::Admin,
            });
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
        found
            .map(|t| Caller {
                name: t.name.clone(),
                role: t.role,
            })
            .ok_or(AuthError::Invalid)
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
}
