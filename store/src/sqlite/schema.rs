//! The SQLite schema, opening a connection (pragmas, the SQL functions the queries use) and
//! migrations.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use crate::StoreError;

pub(super) const SCHEMA_VERSION: i64 = 1;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cis (
    id TEXT PRIMARY KEY,
    class TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    placeholder INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    body TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cis_class ON cis (class, id);
CREATE INDEX IF NOT EXISTS cis_name ON cis (name, id);
CREATE INDEX IF NOT EXISTS cis_last_seen ON cis (last_seen, id);
CREATE INDEX IF NOT EXISTS cis_status ON cis (status, id);
CREATE TABLE IF NOT EXISTS ci_tags (tag TEXT NOT NULL, ci_id TEXT NOT NULL, PRIMARY KEY (tag, ci_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ci_tags_ci ON ci_tags (ci_id);
CREATE TABLE IF NOT EXISTS ci_sources (source TEXT NOT NULL, ci_id TEXT NOT NULL, PRIMARY KEY (source, ci_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ci_sources_ci ON ci_sources (ci_id);
CREATE TABLE IF NOT EXISTS identifiers (key TEXT NOT NULL, ci_id TEXT NOT NULL, parent TEXT, PRIMARY KEY (key, ci_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS identifiers_ci ON identifiers (ci_id);
CREATE INDEX IF NOT EXISTS identifiers_parent ON identifiers (parent) WHERE parent IS NOT NULL;
CREATE TABLE IF NOT EXISTS aliases (old_id TEXT PRIMARY KEY, ci_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_ci ON aliases (ci_id);
CREATE TABLE IF NOT EXISTS rels (
    from_id TEXT NOT NULL,
    type TEXT NOT NULL,
    to_id TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (from_id, type, to_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rels_to ON rels (to_id, type);
CREATE TABLE IF NOT EXISTS sightings (
    source TEXT NOT NULL, target TEXT NOT NULL, entity TEXT NOT NULL, run_id TEXT NOT NULL, seen_at INTEGER NOT NULL,
    PRIMARY KEY (source, target, entity)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sightings_entity ON sightings (entity);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ci_id TEXT NOT NULL,
    other_id TEXT,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    field TEXT,
    rel_type TEXT,
    old TEXT,
    new TEXT,
    source TEXT NOT NULL,
    run_id TEXT
);
CREATE INDEX IF NOT EXISTS history_ci ON history (ci_id, seq);
CREATE INDEX IF NOT EXISTS history_other ON history (other_id, seq) WHERE other_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS graph_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, ids TEXT, n INTEGER NOT NULL);
"#;

/// Create the database file (owner read/write only) if it does not exist yet. SQLite creates
/// `-wal`/`-shm` with the mode of the database file.
pub(super) fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

pub(super) fn open_connection(path: &Path, cache_kib: i64) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL in WAL mode: a committed transaction survives a process crash; only an OS crash
    // or power loss can roll back the last commits, never leave half of one.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Reads go through the OS page cache without copying; the file is shared by all
    // connections, so this costs no extra memory per reader.
    conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
    // Checkpoint the WAL every ~40 MiB instead of every 4 MiB: fewer, larger sequential writes.
    conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    register_regexp(&conn)?;
    register_name_contains(&conn)?;
    Ok(conn)
}

/// `cmdb_name_contains(name, folded)`: the search box's name rule
/// (`cmdb_model::search::name_contains`), so SQL answers exactly what the model says.
pub(super) fn register_name_contains(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "cmdb_name_contains",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let name = ctx.get_raw(0).as_str().unwrap_or("");
            let folded = ctx.get_raw(1).as_str().unwrap_or("");
            Ok(cmdb_model::search::name_contains(name, folded))
        },
    )?;
    Ok(())
}

/// `regexp(pattern, text)` for name filters; compiled patterns are cached per statement.
pub(super) fn register_regexp(conn: &Connection) -> Result<(), StoreError> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "regexp",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let re: Arc<regex::Regex> = ctx.get_or_create_aux(
                0,
                |vr| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                    let pat = vr.as_str()?;
                    Ok(regex::RegexBuilder::new(pat).size_limit(1 << 20).build()?)
                },
            )?;
            let text = ctx.get_raw(1).as_str().unwrap_or("");
            Ok(re.is_match(text))
        },
    )?;
    Ok(())
}

/// An ingest that created this many CIs may have changed the tables' shape enough for the
/// query planner's statistics to mislead it.
pub(super) const OPTIMIZE_AFTER_CREATED: usize = 1000;

/// Refresh the planner's statistics where they are missing or stale (SQLite's `PRAGMA
/// optimize`; cheap when nothing changed). Without them the planner guesses, and for
/// `class IN (…) AND status IN (…)` it picked the status index — every ACTIVE CI — over the
/// class index: 70 ms instead of 2 ms for a page of hosts among 40k CIs.
pub(super) fn optimize(conn: &Connection) {
    if let Err(e) = conn.execute_batch("PRAGMA optimize=0x10002;") {
        tracing::debug!(error = %e, "PRAGMA optimize failed; the planner keeps its old statistics");
    }
}

pub(super) fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(super::ops::SCHEMA)?;
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    match v.as_deref().map(str::parse::<i64>) {
        None => {
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                [SCHEMA_VERSION.to_string()],
            )?;
        }
        Some(Ok(v)) if v == SCHEMA_VERSION => {}
        Some(Ok(v)) if v > SCHEMA_VERSION => {
            return Err(StoreError::Corrupt(format!("the store was written by a newer cmdb (schema {v}, this build knows {SCHEMA_VERSION})")));
        }
        Some(_) => return Err(StoreError::Corrupt("unreadable schema version".into())),
    }
    Ok(())
}
