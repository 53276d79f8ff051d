//! `cmdb serve` (being built).
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(_ctx: super::Context, _args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`cmdb serve` is not built yet")
}
