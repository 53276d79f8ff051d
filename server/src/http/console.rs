//! The web console and GraphiQL, served from the assets `cmdb-console` embeds. Pages and
//! scripts hold no data and need no token; everything they show comes from `/graphql` with
//! the token the user signs in with (docs/console.md).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// What a console page may load and where it may connect: only this server. Inline styles
/// are allowed (the graph library sizes its canvas with them); inline scripts are not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; \
frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/console", web::get().to(index))
        .route("/console/", web::get().to(index))
        .route("/console/assets/{name}", web::get().to(asset))
        .route("/graphiql", web::get().to(graphiql));
}

/// A browser opening the server lands in the console; API clients get the endpoint list.
async fn root(req: HttpRequest) -> HttpResponse {
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    // The answer depends on Accept: caches must keep the two apart.
    if wants_html {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/console/"))
            .insert_header((header::VARY, "Accept"))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::VARY, "Accept"))
        .json(serde_json::json!({
            "name": "cmdb",
            "version": env!("CARGO_PKG_VERSION"),
            "endpoints": super::ENDPOINTS,
        }))
}

async fn index(req: HttpRequest) -> HttpResponse {
    page(&req, cmdb_console::index())
}

pub async fn graphiql(req: HttpRequest) -> HttpResponse {
    page(&req, cmdb_console::graphiql())
}

async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    match cmdb_console::asset(&name) {
        // The pages themselves only under their own routes (so they get their headers).
        Some(a) if !a.name.ends_with(".html") => send(&req, a),
        _ => super::not_found(req).await,
    }
}

fn page(req: &HttpRequest, a: &'static cmdb_console::Asset) -> HttpResponse {
    let mut res = send(req, a);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    res
}

/// The bytes with a strong ETag; `no-cache` makes browsers revalidate (a 304 costs nothing),
/// so a new binary's console is picked up without stale scripts.
fn send(req: &HttpRequest, a: &'static cmdb_console::Asset) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == a.etag));
    let mut res = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::ETAG, a.etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if fresh {
        return res.finish();
    }
    res.content_type(a.content_type).body(a.body)
}
