//! `cmdb token-hash [TOKEN]`: print the `[[auth.tokens]]` entry for an API token (its SHA-256).
//! Without TOKEN a new random token is generated and printed once; only its hash belongs in the
//! config. `-` reads the token from standard input (keeps it out of shell history).

use std::io::Read;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The token; `-` reads it from standard input; omitted: generate one.
    pub token: Option<String>,
    /// Name for the config entry.
    #[arg(long, default_value = "my-integration")]
    pub name: String,
    /// events (posts events only), reader, editor or admin.
    #[arg(long, default_value = "reader")]
    pub role: String,
    /// When the token stops working: an RFC 3339 time, e.g. 2026-12-31T00:00:00Z.
    #[arg(long)]
    pub expires_at: Option<String>,
}

pub async fn run(_ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let role: cmdb_graphql::Role = args.role.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    // The config's own reading of `expires_at`, so what is printed loads.
    let expires_at = cmdb_server::config::TokenConfig {
        name: args.name.clone(),
        sha256: String::new(),
        role: role.as_str().into(),
        expires_at: args.expires_at.clone().map(toml::Value::String),
    }
    .expiry()
    .map_err(|e| anyhow::anyhow!("--expires-at: {e}"))?;
    let (token, generated) = match args.token.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            (s.trim_end_matches(['\n', '\r']).to_string(), false)
        }
        Some(t) => (t.to_string(), false),
        None => (
            format!(
                "cmdb_{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            true,
        ),
    };
    if token.is_empty() {
        anyhow::bail!("the token is empty");
    }
    if generated {
        println!("# token (shown once; give it to the client, do not store it in the config):\n# {token}");
    }
    println!(
        "[[auth.tokens]]\nname = \"{}\"\nsha256 = \"{}\"\nrole = \"{}\"",
        args.name,
        cmdb_server::http::auth::sha256_hex(&token),
        role.as_str()
    );
    if let Some(at) = expires_at {
        println!(
            "expires_at = \"{}\"",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    Ok(ExitCode::SUCCESS)
}
