//! `cmdb export`: every CI and relationship, as JSON lines (the import format, so an export
//! re-imports into an empty store with the same ids) or CSV.
//!
//! Independent CIs are written before dependent ones (interfaces, processes, …) so that a
//! dependent's parent always precedes it, whatever the ids.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cmdb_model::interchange::{ci_line, rel_line, Line};
use cmdb_model::{Ci, CiClass, RelType};
use cmdb_store::{
    CiFilter, CiOrder, Direction, EmbeddedOptions, GraphStore, PageRequest, RelQuery,
};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

const PAGE: usize = 5000;

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let store: std::sync::Arc<dyn GraphStore> =
        if ctx.config.store.backend == cmdb_server::config::StoreBackend::Embedded {
            // One point in time: a server (or another command) writing meanwhile cannot make the
            // export name a CI it does not contain.
            std::sync::Arc::new(ctx.open_embedded(EmbeddedOptions {
                snapshot: true,
                ..Default::default()
            })?)
        } else {
            ctx.open_store().await?
        };
    let out: Box<dyn Write> = match &args.output {
        // The whole inventory: readable by the owner only (an existing file keeps its mode).
        Some(p) => Box::new(
            cmdb_server::private_fs::create_truncate(p)
                .with_context(|| format!("cannot create {}", p.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(out);
    if args.format == Format::Csv {
        writeln!(out, "kind,id,class,name,status,tags,sources,first_seen,last_seen,attributes,type,from,to,evidence,confidence")?;
    }
    let (independent, dependent): (Vec<CiClass>, Vec<CiClass>) = CiClass::ALL
        .iter()
        .partition(|c| c.rules().parent.is_none());
    let (mut cis, mut rels) = (0usize, 0usize);
    for classes in [independent, dependent] {
        let filter = CiFilter {
            classes,
            ..Default::default()
        };
        let mut after = None;
        loop {
            let page = store
                .find(
                    &filter,
                    CiOrder::default(),
                    &PageRequest {
                        first: Some(PAGE),
                        after: after.clone(),
                        ..Default::default()
                    },
                )
                .await?;
            let batch: Vec<Ci> = page.items.iter().map(|(_, c)| c.clone()).collect();
            let parents = parents_of(&*store, &batch).await?;
            for ci in &batch {
                write_line(
                    &mut out,
                    args.format,
                    &ci_line(ci, parents.get(&ci.id).map(|p| p.to_string())),
                )?;
                cis += 1;
            }
            if !page.has_next_page {
                break;
            }
            after = page.items.last().map(|(c, _)| c.clone());
        }
    }
    let mut cursor: Option<String> = None;
    loop {
        let (batch, next) = store.all_relationships(cursor.as_deref(), PAGE).await?;
        for r in &batch {
            write_line(&mut out, args.format, &rel_line(r))?;
            rels += 1;
        }
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    out.flush()?;
    eprintln!("exported {cis} CIs and {rels} relationships");
    store.close().await?;
    Ok(ExitCode::SUCCESS)
}

/// The CI each dependent CI is identified within (the other end of its structural relationship).
async fn parents_of(
    store: &dyn GraphStore,
    cis: &[Ci],
) -> anyhow::Result<std::collections::HashMap<cmdb_model::CiId, cmdb_model::CiId>> {
    let deps: Vec<&Ci> = cis
        .iter()
        .filter(|c| c.class.rules().parent.is_some())
        .collect();
    let mut out = std::collections::HashMap::new();
    if deps.is_empty() {
        return Ok(out);
    }
    let ids: Vec<_> = deps.iter().map(|c| c.id.clone()).collect();
    let rels = store
        .relationships(
            &ids,
            &RelQuery {
                direction: Direction::Both,
                types: vec![RelType::Contains, RelType::RunsOn],
                include_closed: true,
            },
        )
        .await?;
    for ci in deps {
        let Some(spec) = &ci.class.rules().parent else {
            continue;
        };
        let found = rels
            .iter()
            .filter(|r| r.rel_type == spec.rel)
            .find_map(|r| {
                let structural = r
                    .evidence
                    .iter()
                    .any(|e| e.kind == cmdb_model::EvidenceKind::Inventory);
                match (spec.parent_is_from, structural) {
                    (true, true) if r.to == ci.id => Some(r.from.clone()),
                    (false, true) if r.from == ci.id => Some(r.to.clone()),
                    _ => None,
                }
            });
        if let Some(p) = found {
            out.insert(ci.id.clone(), p);
        }
    }
    Ok(out)
}

fn write_line(out: &mut impl Write, format: Format, line: &Line) -> anyhow::Result<()> {
    match format {
        Format::Jsonl => {
            serde_json::to_writer(&mut *out, line)?;
            out.write_all(b"\n")?;
        }
        Format::Csv => {
            let cols: Vec<String> = match line {
                Line::Ci(c) => vec![
                    "ci".into(),
                    c.id.clone().unwrap_or_default(),
                    c.class.clone(),
                    c.name.clone().unwrap_or_default(),
                    c.status.clone().unwrap_or_default(),
                    c.tags.iter().cloned().collect::<Vec<_>>().join(";"),
                    c.sources.clone().unwrap_or_default().join(";"),
                    c.first_seen.clone().unwrap_or_default(),
                    c.last_seen.clone().unwrap_or_default(),
                    serde_json::to_string(&c.attributes)?,
                    String::new(),
                    c.parent.clone().unwrap_or_default(),
                    String::new(),
                    String::new(),
                    String::new(),
                ],
                Line::Relationship(r) => vec![
                    "relationship".into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    r.status.clone().unwrap_or_default(),
                    String::new(),
                    String::new(),
                    r.first_seen.clone().unwrap_or_default(),
                    r.last_seen.clone().unwrap_or_default(),
                    serde_json::to_string(&r.attributes)?,
                    r.rel_type.clone(),
                    r.from.clone(),
                    r.to.clone(),
                    r.evidence.clone().unwrap_or_default(),
                    r.confidence.map(|c| c.to_string()).unwrap_or_default(),
                ],
            };
            let row: Vec<String> = cols.iter().map(|c| csv_field(c)).collect();
            writeln!(out, "{}", row.join(","))?;
        }
    }
    Ok(())
}

/// One CSV cell. A value a spreadsheet would run as a formula — starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return — gets a leading apostrophe (OWASP, CSV injection); so does
/// a value that already starts with an apostrophe, which keeps the rule reversible: drop one
/// leading apostrophe from a cell that has one to get the value back. Then RFC 4180 quoting.
pub(super) fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn formula_cells_are_neutralised_reversibly() {
        for (value, cell) in [
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"",
            ),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "\"'\rx\""),
            ("'quoted", "''quoted"),
            ("web1", "web1"),
            ("a,b", "\"a,b\""),
            ("", ""),
        ] {
            assert_eq!(csv_field(value), cell, "{value:?}");
            // Reversible: unquote, then drop one leading apostrophe if there is one.
            let unquoted = cell
                .strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .map(|c| c.replace("\"\"", "\""))
                .unwrap_or(cell.to_string());
            assert_eq!(unquoted.strip_prefix('\'').unwrap_or(&unquoted), value);
        }
    }
}
