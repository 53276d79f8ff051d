//! `cmdb retire`: STALE CIs unseen for longer than the retirement age become RETIRED.
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Age in days; default `[reconcile] retire_after_days`.
    #[arg(long)]
    pub older_than_days: Option<u32>,
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store().await?;
    let days = args
        .older_than_days
        .unwrap_or(ctx.config.reconcile.retire_after_days);
    let n = store
        .retire_stale(chrono::Duration::days(days as i64))
        .await?;
    eprintln!("retired {n} CI(s) stale for more than {days} day(s)");
    store.close().await?;
    Ok(ExitCode::SUCCESS)
}
