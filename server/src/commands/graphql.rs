//! `cmdb graphql --query Q [--variables JSON]`: run one GraphQL operation against the configured
//! store without a server and print the JSON response (for scripts). Runs with the admin role:
//! whoever can open the store file can change it anyway. Exit status 1 when the response
//! carries errors.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context as _;
use cmdb_graphql::{Api, EventBus, Role};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The operation (query or mutation); `-` reads it from standard input.
    #[arg(long, short)]
    pub query: String,
    /// Variables as a JSON object.
    #[arg(long, short)]
    pub variables: Option<String>,
    /// Which operation of a multi-operation document to run.
    #[arg(long)]
    pub operation_name: Option<String>,
    /// Print compact JSON instead of indented.
    #[arg(long)]
    pub compact: bool,
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let query = if args.query == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the query from standard input")?;
        s
    } else {
        args.query
    };
    let variables = match &args.variables {
        Some(v) => {
            let json: serde_json::Value =
                serde_json::from_str(v).context("--variables is not valid JSON")?;
            if !json.is_object() {
                anyhow::bail!("--variables must be a JSON object");
            }
            async_graphql::Variables::from_json(json)
        }
        None => async_graphql::Variables::default(),
    };
    let store = ctx.open_store().await?;
    let api = Api::new(
        store.clone(),
        ctx.config.limits.api_limits(),
        EventBus::default(),
        ctx.ingest_options(),
    );
    let mut req = async_graphql::Request::new(query).variables(variables);
    if let Some(op) = args.operation_name {
        req = req.operation_name(op);
    }
    let resp = api.execute(req, Role::Admin).await;
    let failed = !resp.errors.is_empty();
    let out = if args.compact {
        serde_json::to_string(&resp)?
    } else {
        serde_json::to_string_pretty(&resp)?
    };
    println!("{out}");
    store.close().await.context("closing the store")?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
