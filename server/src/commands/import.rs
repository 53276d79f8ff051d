//! `cmdb import FILE`: CIs and relationships from JSON lines, through identification like any
//! source (source `import`). Two passes over the file: CI lines first (in batches, each batch
//! one transaction), then relationship lines, so a relationship may name a CI defined anywhere
//! in the file. A bad line is reported with its line number and field and skipped; nothing
//! from it is written and the rest of the file is imported.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use cmdb_model::interchange::{parse_line, LineError, Parsed};
use cmdb_model::{CiId, Observation, Record, RelationshipObs, RunId, Scope, Source};
use cmdb_store::IngestReport;

mod sink;
use sink::{BulkChoice, Sink};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// JSON-lines file (see docs/import-format.md); `-` reads standard input.
    pub file: PathBuf,
    /// Records per transaction.
    #[arg(long, default_value_t = 5000)]
    pub batch_size: usize,
    /// Reconcile and report what would change, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the per-record identification explanations (JSON lines on stdout).
    #[arg(long)]
    pub explain: bool,
    /// Bulk-load: reconcile in memory and write the result at the end in one sorted
    /// transaction. Needs an empty embedded store; chosen automatically when the store is empty.
    #[arg(long, conflicts_with = "no_bulk")]
    pub bulk: bool,
    /// Never bulk-load: every batch is its own transaction against the store.
    #[arg(long)]
    pub no_bulk: bool,
}

#[derive(Default)]
struct Totals {
    lines: usize,
    created: usize,
    updated: usize,
    unchanged: usize,
    merged: usize,
    rel_created: usize,
    rel_updated: usize,
    errors: Vec<LineError>,
}

impl Totals {
    fn add(&mut self, r: &IngestReport) {
        self.created += r.created;
        self.updated += r.updated;
        self.unchanged += r.unchanged;
        self.merged += r.merged;
        self.rel_created += r.relationships_created;
        self.rel_updated += r.relationships_updated;
    }
}

fn open(path: &PathBuf) -> anyhow::Result<Box<dyn BufRead>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, f)))
}

/// Lines as (1-based number, text), skipping blanks; non-UTF-8 lines become errors.
fn for_each_line(
    path: &PathBuf,
    mut f: impl FnMut(usize, Result<String, LineError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut reader = open(path)?;
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        match std::str::from_utf8(&buf) {
            Ok(s) if s.trim().is_empty() => continue,
            // Editors on Windows start UTF-8 files with a byte order mark; it is not content.
            Ok(s) if n == 1 && s.starts_with('\u{feff}') => {
                f(n, Ok(s['\u{feff}'.len_utf8()..].trim_end().to_string()))?
            }
            Ok(s) => f(n, Ok(s.trim_end().to_string()))?,
            Err(e) => f(
                n,
                Err(LineError {
                    line: n,
                    field: None,
                    message: format!("not valid UTF-8: {e}"),
                }),
            )?,
        }
    }
}

struct Batch {
    obs: Observation,
    /// record key → line number, to name lines in errors.
    lines: HashMap<String, usize>,
    refs: std::collections::HashSet<String>,
}

impl Batch {
    fn new(run: &RunId) -> Self {
        Batch {
            obs: Observation::new(Source::new(Source::IMPORT), run.clone(), Scope::none()),
            lines: HashMap::new(),
            refs: Default::default(),
        }
    }
    /// A record key for a reference: a key of this batch, or a reference record for an id.
    fn reference(&mut self, r: &str, known: &HashMap<String, CiId>) -> String {
        if self.lines.contains_key(r) && self.obs.records.iter().any(|x| x.key == r) {
            return r.to_string();
        }
        let id = known.get(r).cloned().unwrap_or_else(|| CiId::new(r));
        let key = format!("ref:{id}");
        if self.refs.insert(key.clone()) {
            self.obs.records.push(Record {
                key: key.clone(),
                id: Some(id),
                ..Default::default()
            });
        }
        key
    }
    fn len(&self) -> usize {
        self.obs.records.len() + self.obs.relationships.len()
    }

    /// A batch for relationships that carries `records` along (a dry run's, so the
    /// relationships can name what was not written).
    fn carrying(run: &RunId, records: Option<&Batch>) -> Batch {
        let mut b = Batch::new(run);
        if let Some(d) = records {
            b.obs.records = d.obs.records.clone();
            b.lines = d.lines.clone();
            b.refs = d.refs.clone();
        }
        b
    }
}

pub async fn run(ctx: super::Context, args: Args) -> anyhow::Result<ExitCode> {
    let choice = match (args.bulk, args.no_bulk) {
        (true, _) => BulkChoice::Force,
        (_, true) => BulkChoice::Never,
        _ => BulkChoice::Auto,
    };
    let mut store = Sink::open(&ctx, choice, args.dry_run).await?;
    let mut opts = ctx.ingest_options();
    opts.dry_run = args.dry_run;
    let started = std::time::Instant::now();
    let mut import = Import::new(&args, opts);
    import.cis(&mut store).await?;
    import.relationships(&mut store).await?;
    store.finish().await?;
    import.report(started.elapsed());
    // 2 = imported, but some lines were rejected (scripts can tell partial from total failure).
    Ok(if import.totals.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `from->to` record keys → the lines that gave that relationship.
type LinesOfPairs = HashMap<String, Vec<usize>>;

/// One import's state across its two passes.
struct Import<'a> {
    args: &'a Args,
    opts: cmdb_store::IngestOptions,
    run_id: RunId,
    batch_size: usize,
    /// Dry run: the records of pass 1, which ride along with the relationships of pass 2.
    dry_records: Option<Batch>,
    totals: Totals,
    /// File key → CI id, filled from each batch's explanations.
    known: HashMap<String, CiId>,
}

impl<'a> Import<'a> {
    fn new(args: &'a Args, opts: cmdb_store::IngestOptions) -> Self {
        // A dry run writes nothing, so a later batch could not see what an earlier one would
        // have created (parents, relationship ends): it checks the whole file as one
        // observation, and the relationships together with the records they name.
        let batch_size = if args.dry_run {
            usize::MAX
        } else {
            args.batch_size.max(1)
        };
        Import {
            args,
            opts,
            run_id: RunId::generate(),
            batch_size,
            dry_records: None,
            totals: Totals::default(),
            known: HashMap::new(),
        }
    }

    /// Pass 1: CI lines, in batches.
    async fn cis(&mut self, store: &mut Sink) -> anyhow::Result<()> {
        let pending = self.read_ci_batches()?;
        // Batches are ingested in order; keys resolved by earlier batches are visible to later
        // ones because references are re-resolved against `known` just before ingesting.
        for b in pending {
            let b = rebind(b, &self.known);
            if self.args.dry_run {
                self.dry_records = Some(Batch::carrying(&self.run_id, Some(&b)));
            }
            let (totals, known) = (&mut self.totals, &mut self.known);
            ingest_batch(store, b, &self.opts, totals, known, self.args.explain).await?;
        }
        Ok(())
    }

    fn read_ci_batches(&mut self) -> anyhow::Result<Vec<Batch>> {
        let mut batch = Batch::new(&self.run_id);
        let mut pending: Vec<Batch> = Vec::new();
        let (totals, known) = (&mut self.totals, &self.known);
        for_each_line(&self.args.file, |n, text| {
            totals.lines += 1;
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    totals.errors.push(e);
                    return Ok(());
                }
            };
            match parse_line(n, &text) {
                Ok(Parsed::Ci { class, line }) => {
                    let key = line.key.clone().unwrap_or_else(|| format!("line:{n}"));
                    if batch.lines.contains_key(&key) || known.contains_key(&key) {
                        totals.errors.push(LineError {
                            line: n,
                            field: Some("key".into()),
                            message: format!("key `{key}` is already used by another line"),
                        });
                        return Ok(());
                    }
                    let parent = line.parent.as_deref().map(|p| batch.reference(p, known));
                    batch.lines.insert(key.clone(), n);
                    batch.obs.records.push(line.into_record(key, class, parent));
                    if batch.len() >= self.batch_size {
                        pending.push(std::mem::replace(&mut batch, Batch::new(&self.run_id)));
                    }
                }
                Ok(Parsed::Relationship { .. }) => {}
                Err(e) => totals.errors.push(e),
            }
            Ok(())
        })?;
        pending.push(batch);
        Ok(pending)
    }

    /// Pass 2: relationship lines, in batches.
    async fn relationships(&mut self, store: &mut Sink) -> anyhow::Result<()> {
        let pass1_rels = (self.totals.rel_created, self.totals.rel_updated);
        for (b, lines) in self.read_relationship_batches()? {
            if b.obs.relationships.is_empty() {
                continue;
            }
            let report = store.ingest(b.obs, &self.opts).await?;
            if self.dry_records.is_some() {
                // The records rode along only to be named; pass 1 counted and reported them
                // and the relationships they imply (parents), which this report counts again.
                self.totals.rel_created +=
                    report.relationships_created.saturating_sub(pass1_rels.0);
                self.totals.rel_updated +=
                    report.relationships_updated.saturating_sub(pass1_rels.1);
            } else {
                self.totals.add(&report);
            }
            for e in report.errors {
                // A reference record's own NOT_FOUND is reported through the relationship lines
                // that used it (their UNKNOWN_RECORD errors), which name the line.
                let Some(ns) = lines.get(&e.record) else {
                    continue;
                };
                for &n in ns {
                    self.totals.errors.push(LineError {
                        line: n,
                        field: e.field.clone(),
                        message: e.message.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Relationship batches, each with the lines that gave each (from, to) pair.
    fn read_relationship_batches(&self) -> anyhow::Result<Vec<(Batch, LinesOfPairs)>> {
        let new_batch = || Batch::carrying(&self.run_id, self.dry_records.as_ref());
        let mut batch = new_batch();
        let mut rel_lines: HashMap<String, Vec<usize>> = HashMap::new();
        let mut batches = Vec::new();
        for_each_line(&self.args.file, |n, text| {
            let Ok(text) = text else { return Ok(()) };
            if let Ok(Parsed::Relationship {
                rel_type,
                evidence,
                confidence,
                line,
            }) = parse_line(n, &text)
            {
                let from = batch.reference(&line.from, &self.known);
                let to = batch.reference(&line.to, &self.known);
                rel_lines
                    .entry(format!("{from}->{to}"))
                    .or_default()
                    .push(n);
                let mut r = RelationshipObs::new(rel_type, from, to, evidence, confidence);
                r.attributes = line.attributes;
                batch.obs.relationships.push(r);
                if batch.len() >= self.batch_size {
                    batches.push((
                        std::mem::replace(&mut batch, new_batch()),
                        std::mem::take(&mut rel_lines),
                    ));
                }
            }
            Ok(())
        })?;
        batches.push((batch, rel_lines));
        Ok(batches)
    }

    /// Rejected lines and the totals, on stderr.
    fn report(&mut self, took: std::time::Duration) {
        let totals = &mut self.totals;
        totals.errors.sort_by_key(|e| e.line);
        for e in &totals.errors {
            eprintln!("error: {e}");
        }
        let verb = if self.args.dry_run {
            "would import"
        } else {
            "imported"
        };
        eprintln!(
            "{verb} {} lines in {:.2}s: CIs created {}, updated {}, unchanged {}, merged {}; relationships created {}, updated {}; {} line(s) rejected",
            totals.lines,
            took.as_secs_f64(),
            totals.created,
            totals.updated,
            totals.unchanged,
            totals.merged,
            totals.rel_created,
            totals.rel_updated,
            totals.errors.len()
        );
    }
}

/// Re-resolve reference records of a batch against keys learned from earlier batches.
fn rebind(mut b: Batch, known: &HashMap<String, CiId>) -> Batch {
    for r in &mut b.obs.records {
        if let (Some(rest), Some(id)) = (r.key.strip_prefix("ref:"), r.id.as_ref()) {
            if let Some(real) = known.get(rest) {
                if real != id {
                    r.id = Some(real.clone());
                }
            }
        }
    }
    b
}

async fn ingest_batch(
    store: &mut Sink,
    b: Batch,
    opts: &cmdb_store::IngestOptions,
    totals: &mut Totals,
    known: &mut HashMap<String, CiId>,
    explain: bool,
) -> anyhow::Result<()> {
    if b.obs.records.is_empty() {
        return Ok(());
    }
    let lines = b.lines;
    let report = store.ingest(b.obs, opts).await?;
    totals.add(&report);
    for ex in &report.explanations {
        if let Some(ci) = &ex.ci {
            if !ex.record.starts_with("ref:") {
                known.insert(ex.record.clone(), ci.clone());
            }
        }
        if explain && !ex.record.starts_with("ref:") {
            println!("{}", serde_json::to_string(ex)?);
        }
    }
    for e in report.errors {
        match lines.get(&e.record) {
            Some(&n) => totals.errors.push(LineError {
                line: n,
                field: e.field,
                message: e.message,
            }),
            None if e.record.starts_with("ref:") => {
                // An unknown parent reference: the child records that used it fail with
                // INVALID_PARENT and are reported there.
            }
            None => totals.errors.push(LineError {
                line: 0,
                field: e.field,
                message: format!("{}: {}", e.record, e.message),
            }),
        }
    }
    Ok(())
}
