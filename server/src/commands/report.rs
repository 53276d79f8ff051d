//! `cmdb report availability --window 30d [--format table|csv|json]`: availability, outages,
//! MTTR, MTBF, incidents and SLA of every business service (and of every CI monitoring has
//! reported on) over the window ending now, with the CMDB's own health.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use cmdb_live::{AvailabilityReport, SubjectHealth};

// One CSV rule for every export: RFC 4180 quoting, formula cells neutralised reversibly.
use super::export::csv_field;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub report: Report,
}

#[derive(clap::Subcommand, Debug)]
pub enum Report {
    /// Service levels over a window ending now.
    Availability(AvailabilityArgs),
}

#[derive(clap::Args, Debug)]
pub struct AvailabilityArgs {
    /// How far back: a number and a unit, `30d`, `12h`, `90m`, `2w`.
    #[arg(long, default_value = "30d")]
    pub window: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// `30d` → 30 days. Units: s, m, h, d, w.
pub fn parse_window(s: &str) -> anyhow::Result<chrono::Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .with_context(|| format!("window `{s}`: expected a number and a unit, e.g. 30d"))?;
    if n <= 0 {
        bail!("window `{s}` must be longer than zero");
    }
    let d = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        "w" => chrono::Duration::try_weeks(n),
        _ => bail!("window `{s}`: unit must be s, m, h, d or w"),
    };
    match d {
        Some(d) if d <= chrono::Duration::days(3660) => Ok(d),
        _ => bail!("window `{s}` is too long (at most ten years)"),
    }
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let Report::Availability(a) = args.report;
    let window = parse_window(&a.window)?;
    let store = ctx.open_store().await?;
    let to = chrono::Utc::now();
    let report = cmdb_live::availability_report(&*store, to - window, to)
        .await
        .map_err(|e| anyhow::anyhow!("{e} ({})", e.code()))?;
    store.close().await?;
    let mut out = std::io::stdout().lock();
    match a.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json(&report))?;
            writeln!(out)?;
        }
        Format::Csv => csv(&mut out, &report)?,
        Format::Table => table(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn hours(ms: Option<u64>) -> Option<f64> {
    ms.map(|m| m as f64 / 3_600_000.0)
}

fn row(kind: &str, h: &SubjectHealth) -> serde_json::Value {
    let f = &h.figures;
    serde_json::json!({
        "kind": kind,
        "id": h.id.as_str(),
        "name": h.name,
        "availabilityPercent": f.availability_percent,
        "downSeconds": f.down_ms as f64 / 1000.0,
        "degradedSeconds": f.degraded_ms as f64 / 1000.0,
        "atRiskSeconds": f.at_risk_ms as f64 / 1000.0,
        "outages": f.outages,
        "mttrSeconds": f.mttr_ms.map(|m| m as f64 / 1000.0),
        "mtbfSeconds": f.mtbf_ms.map(|m| m as f64 / 1000.0),
        "incidents": h.incidents,
        "slaTargetPercent": f.sla.as_ref().map(|s| s.target_percent),
        "slaMet": f.sla.as_ref().map(|s| s.met),
        "errorBudgetLeftSeconds": f.sla.as_ref().map(|s| s.error_budget_left_ms as f64 / 1000.0),
        "slaProblem": h.sla_problem,
    })
}

fn json(r: &AvailabilityReport) -> serde_json::Value {
    serde_json::json!({
        "from": r.from,
        "to": r.to,
        "services": r.services.iter().map(|h| row("service", h)).collect::<Vec<_>>(),
        "cis": r.cis.iter().map(|h| row("ci", h)).collect::<Vec<_>>(),
        "cmdbHealth": r.health,
    })
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_default()
}

fn csv(out: &mut impl Write, r: &AvailabilityReport) -> anyhow::Result<()> {
    writeln!(out, "kind,id,name,availability_percent,down_seconds,degraded_seconds,at_risk_seconds,outages,mttr_seconds,mtbf_seconds,incidents,sla_target_percent,sla_met,error_budget_left_seconds")?;
    for (kind, list) in [("service", &r.services), ("ci", &r.cis)] {
        for h in list {
            let f = &h.figures;
            writeln!(
                out,
                "{kind},{},{},{:.4},{:.3},{:.3},{:.3},{},{},{},{},{},{},{}",
                csv_field(h.id.as_str()),
                csv_field(&h.name),
                f.availability_percent,
                f.down_ms as f64 / 1000.0,
                f.degraded_ms as f64 / 1000.0,
                f.at_risk_ms as f64 / 1000.0,
                f.outages,
                opt(f.mttr_ms.map(|m| m as f64 / 1000.0)),
                opt(f.mtbf_ms.map(|m| m as f64 / 1000.0)),
                h.incidents,
                opt(f.sla.as_ref().map(|s| s.target_percent)),
                f.sla
                    .as_ref()
                    .map(|s| s.met.to_string())
                    .unwrap_or_default(),
                opt(f
                    .sla
                    .as_ref()
                    .map(|s| s.error_budget_left_ms as f64 / 1000.0)),
            )?;
        }
    }
    Ok(())
}

fn table(out: &mut impl Write, r: &AvailabilityReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "Availability from {} to {}\n",
        r.from.format("%Y-%m-%d %H:%M UTC"),
        r.to.format("%Y-%m-%d %H:%M UTC")
    )?;
    for (title, list) in [
        ("Business services", &r.services),
        ("Monitored CIs", &r.cis),
    ] {
        if list.is_empty() && title == "Monitored CIs" {
            continue;
        }
        subjects_table(out, title, list)?;
        writeln!(out)?;
    }
    health_table(out, &r.health)
}

/// One table of services or CIs with their figures.
fn subjects_table(out: &mut impl Write, title: &str, list: &[SubjectHealth]) -> anyhow::Result<()> {
    writeln!(out, "{title}")?;
    writeln!(
        out,
        "  {:<28} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "NAME",
        "AVAIL %",
        "DOWN h",
        "DEGR h",
        "OUTAGES",
        "MTTR h",
        "MTBF h",
        "INCIDENTS",
        "SLA",
        "BUDGET h"
    )?;
    for h in list.iter() {
        let f = &h.figures;
        let name: String = h.name.chars().take(28).collect();
        let sla = match &f.sla {
            Some(s) if s.met => format!("{}% ok", s.target_percent),
            Some(s) => format!("{}% NO", s.target_percent),
            None => "-".into(),
        };
        writeln!(
            out,
            "  {:<28} {:>9.3} {:>9.2} {:>9.2} {:>7} {:>9} {:>9} {:>9} {:>8} {:>10}",
            name,
            f.availability_percent,
            f.down_ms as f64 / 3_600_000.0,
            f.degraded_ms as f64 / 3_600_000.0,
            f.outages,
            hours(f.mttr_ms)
                .map(|v| format!("{v:.2}"))
                .unwrap_or("-".into()),
            hours(f.mtbf_ms)
                .map(|v| format!("{v:.1}"))
                .unwrap_or("-".into()),
            h.incidents,
            sla,
            f.sla
                .as_ref()
                .map(|s| format!("{:.2}", s.error_budget_left_ms as f64 / 3_600_000.0))
                .unwrap_or("-".into()),
        )?;
    }
    Ok(())
}

/// The CMDB's own health: completeness, staleness, duplicate candidates.
fn health_table(out: &mut impl Write, hl: &cmdb_live::CmdbHealth) -> anyhow::Result<()> {
    writeln!(out, "CMDB health")?;
    writeln!(out, "  CIs: {}   complete: {:.1}%   duplicate candidates: {}   open alerts: {} ({} unbound, {:.1}%)",
        hl.cis, hl.completeness_percent, hl.duplicates.len(), hl.open_alerts, hl.unbound_alerts, hl.unbound_alerts_percent)?;
    for c in &hl.completeness {
        if c.complete < c.total {
            let missing: Vec<String> = c
                .missing
                .iter()
                .map(|(a, n)| format!("{a} ({n})"))
                .collect();
            writeln!(
                out,
                "  {:<18} {}/{} complete; missing {}",
                c.class.as_str(),
                c.complete,
                c.total,
                missing.join(", ")
            )?;
        }
    }
    for s in hl.staleness.iter().filter(|s| s.stale > 0) {
        writeln!(
            out,
            "  stale: {} {} from {} ({} active)",
            s.stale,
            s.class.as_str(),
            s.source,
            s.active
        )?;
    }
    for d in hl.duplicates.iter().take(20) {
        writeln!(
            out,
            "  duplicate candidate: {} {:?} ×{}",
            d.class.as_str(),
            d.name,
            d.ids.len()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(parse_window("30d").unwrap(), chrono::Duration::days(30));
        assert_eq!(parse_window("12h").unwrap(), chrono::Duration::hours(12));
        assert_eq!(parse_window("2w").unwrap(), chrono::Duration::weeks(2));
        for bad in [
            "",
            "d",
            "0d",
            "30",
            "30y",
            "-1d",
            "99999999999999999999d",
            "100000d",
        ] {
            assert!(parse_window(bad).is_err(), "{bad}");
        }
    }
}
