//! The web console and GraphiQL as static assets, built from `web/` by `build.rs` and
//! embedded in the binary: no CDN, nothing to install beside `cmdb`. The console is a client
//! of the GraphQL API and nothing else (docs/console.md); this crate serves bytes, the server
//! mounts them (it knows no HTTP server).

// A library reports through its return values and `tracing`, never on the terminal.
#![warn(clippy::print_stdout, clippy::print_stderr)]

/// One embedded file.
#[derive(Debug)]
pub struct Asset {
    /// File name under `/console/assets/` (`console.js`, `index.html`, …).
    pub name: &'static str,
    pub content_type: &'static str,
    /// Strong validator of `body` (quoted, as HTTP wants it).
    pub etag: &'static str,
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// An asset by file name.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The console's page (every console route answers it; the page routes itself).
pub fn index() -> &'static Asset {
    asset("index.html").expect("build.rs guarantees index.html")
}

/// GraphiQL's page.
pub fn graphiql() -> &'static Asset {
    asset("graphiql.html").expect("the build writes graphiql.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_asset_is_embedded() {
        for page in [index(), graphiql()] {
            let html = std::str::from_utf8(page.body).unwrap();
            for r in html.split("/console/assets/").skip(1) {
                let name = r.split('"').next().unwrap();
                assert!(
                    asset(name).is_some(),
                    "{} refers to missing {name}",
                    page.name
                );
            }
            // Nothing from elsewhere: no CDN, no absolute URL in a src or href.
            assert!(!html.contains("src=\"http"), "{}", page.name);
            assert!(!html.contains("href=\"http"), "{}", page.name);
        }
    }

    #[test]
    fn names_are_unique_and_typed() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        assert!(ASSETS
            .iter()
            .all(|a| !a.content_type.is_empty() && a.etag.starts_with('"')));
    }
}
