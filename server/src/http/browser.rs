//! Defences against web pages: cross-site request forgery and DNS rebinding.
//!
//! A page in the user's browser can send requests to `127.0.0.1:8080` without being allowed to
//! read the answers: "simple" POSTs (`text/plain`, form encodings, no `Content-Type` at all),
//! GETs, and WebSocket handshakes (browsers apply no same-origin policy to WebSockets). A page
//! on a host name it controls can also make that name resolve to 127.0.0.1 (DNS rebinding) and
//! then talk to the server as if same-origin, reading answers too.
//!
//! - Every POST must be `application/json` or `application/graphql`: neither is a simple
//!   content type, so a cross-origin browser POST needs a CORS preflight, which this server
//!   never grants.
//! - In open mode (no tokens; loopback only) every request to the API (`/graphql`,
//!   `/graphql/ws`) must name a loopback host in `Host` (`localhost`, `*.localhost`, or a
//!   loopback IP literal, any port) — a rebinding page's `Host` is its own name — and, when the
//!   browser sends an `Origin`, it must be the same origin as `Host`.
//! - With tokens configured these Host/Origin checks are off: browsers never attach a bearer
//!   token on their own, so a forged or rebound request carries no credentials and is refused
//!   with 401 anyway, and the server is reached under whatever names the operator gives it.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::HttpRequest;

/// Why a request was refused (safe to return).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// POST with a content type other than JSON or GraphQL (HTTP 415).
    ContentType(String),
    /// Host is not a loopback name (HTTP 403).
    Host(String),
    /// Origin is not the server's own (HTTP 403).
    Origin(String),
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::ContentType(t) => format!(
                "unsupported content type `{t}`: POST the request as `application/json` ({{\"query\": …}}) or `application/graphql`"
            ),
            Refusal::Host(h) => format!(
                "refused: Host `{h}` is not a loopback name; without API tokens the server answers only requests addressed to localhost or a loopback address (DNS-rebinding protection)"
            ),
            Refusal::Origin(o) => format!(
                "refused: cross-origin request from `{o}`; without API tokens only pages served by this server may call it (CSRF protection)"
            ),
        }
    }
}

/// The media type of a `Content-Type` value, lowercased, parameters dropped.
fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Which body format a POST has: `Ok(true)` for `application/graphql`, `Ok(false)` for JSON.
pub fn post_body_kind(req: &HttpRequest) -> Result<bool, Refusal> {
    let raw = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or("<not text>").to_string());
    let Some(raw) = raw else {
        return Err(Refusal::ContentType("(none)".into()));
    };
    match media_type(&raw).as_str() {
        "application/json" => Ok(false),
        "application/graphql" => Ok(true),
        _ => Err(Refusal::ContentType(raw.chars().take(100).collect())),
    }
}

/// Is `host` (from a Host header or an origin, port allowed) a name only this machine can
/// answer to?
fn loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        match rest.split_once(']') {
            Some((ip, tail))
                if tail.is_empty()
                    || (tail.starts_with(':') && tail[1..].bytes().all(|b| b.is_ascii_digit())) =>
            {
                return ip
                    .parse::<IpAddr>()
                    .map(|ip| ip.is_loopback())
                    .unwrap_or(false)
            }
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = name.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    name == "localhost" || name.ends_with(".localhost")
}

/// `scheme://host[:port]` → `host[:port]` lowercased, default port dropped.
fn origin_authority(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains('/') || rest.is_empty() {
        return None;
    }
    let rest = rest.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    Some(
        rest.strip_suffix(default)
            .map(str::to_string)
            .unwrap_or(rest),
    )
}

/// The open-mode checks of Host and Origin (see the module docs).
pub fn check_open_mode(req: &HttpRequest) -> Result<(), Refusal> {
    let host = match req.headers().get(header::HOST) {
        Some(h) => Some(
            h.to_str()
                .map_err(|_| Refusal::Host("<not text>".into()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    // No Host at all (HTTP/1.0 tools): not a browser, nothing to rebind.
    if let Some(h) = &host {
        if !loopback_host(h) {
            return Err(Refusal::Host(h.chars().take(100).collect()));
        }
    }
    if let Some(o) = req.headers().get(header::ORIGIN) {
        let o = o
            .to_str()
            .map_err(|_| Refusal::Origin("<not text>".into()))?
            .trim();
        let same = match (origin_authority(o), &host) {
            (Some(auth), Some(h)) => {
                auth == h
                    .to_ascii_lowercase()
                    .strip_suffix(":80")
                    .unwrap_or(&h.to_ascii_lowercase())
            }
            // An origin but no Host: only a loopback origin.
            (Some(auth), None) => loopback_host(&auth),
            (None, _) => false, // `null` (sandboxed frames, file: pages) or garbage
        };
        if !same {
            return Err(Refusal::Origin(o.chars().take(100).collect()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(host: Option<&str>, origin: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::post().uri("/graphql");
        if let Some(h) = host {
            r = r.insert_header((header::HOST, h));
        }
        if let Some(o) = origin {
            r = r.insert_header((header::ORIGIN, o));
        }
        r.to_http_request()
    }

    #[test]
    fn hosts() {
        for ok in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "app.localhost:1",
            "[::1]:8080",
            "[::1]",
            "127.1.2.3:9",
            "localhost.:80",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "10.0.0.1:8080",
            "[::2]:1",
            "localhost.evil.com",
            "127.0.0.1.nip.io:8080",
            "localhost:80x",
            "[::1]x",
            "0.0.0.0:8080",
            "",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn open_mode_checks() {
        assert!(check_open_mode(&req(Some("127.0.0.1:8080"), None)).is_ok());
        assert!(
            check_open_mode(&req(Some("127.0.0.1:8080"), Some("http://127.0.0.1:8080"))).is_ok()
        );
        assert!(check_open_mode(&req(Some("localhost"), Some("http://localhost:80"))).is_ok());
        assert!(check_open_mode(&req(Some("[::1]:8080"), Some("http://[::1]:8080"))).is_ok());
        assert!(check_open_mode(&req(None, None)).is_ok());
        assert!(matches!(
            check_open_mode(&req(
                Some("rebind.evil.example:8080"),
                Some("http://rebind.evil.example:8080")
            )),
            Err(Refusal::Host(_))
        ));
        assert!(matches!(
            check_open_mode(&req(Some("127.0.0.1:8080"), Some("https://evil.example"))),
            Err(Refusal::Origin(_))
        ));
        assert!(matches!(
            check_open_mode(&req(Some("127.0.0.1:8080"), Some("http://localhost:3000"))),
            Err(Refusal::Origin(_))
        ));
        assert!(matches!(
            check_open_mode(&req(Some("127.0.0.1:8080"), Some("null"))),
            Err(Refusal::Origin(_))
        ));
        assert!(matches!(
            check_open_mode(&req(Some("127.0.0.1:8080"), Some("http://127.0.0.1:8081"))),
            Err(Refusal::Origin(_))
        ));
    }

    #[test]
    fn content_types() {
        let ct = |v: Option<&str>| {
            let mut r = TestRequest::post();
            if let Some(v) = v {
                r = r.insert_header((header::CONTENT_TYPE, v));
            }
            post_body_kind(&r.to_http_request())
        };
        assert_eq!(ct(Some("application/json")), Ok(false));
        assert_eq!(ct(Some("Application/JSON; charset=utf-8")), Ok(false));
        assert_eq!(ct(Some("application/graphql")), Ok(true));
        for bad in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
        ] {
            assert!(matches!(ct(bad), Err(Refusal::ContentType(_))), "{bad:?}");
        }
    }
}
