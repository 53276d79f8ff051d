//! Discovery runs recorded in the data directory, so every process that discovers into it
//! (`cmdb serve` from the API, schedules and start-up; `cmdb discover`) leaves one record the
//! server's `discoveryRun(s)` can list, and a run never stays RUNNING after its process died.
//!
//! `<data-dir>/runs/<run-id>.json` is the run's record, replaced atomically (write a temporary
//! file, rename) at start, on progress and at the end. `<run-id>.lock` is held with `flock` by
//! the process running it, for as long as it runs; the kernel releases it when that process
//! ends, however it ends (kill -9, crash). A record that says RUNNING while nobody holds its
//! lock was left by a dead process: it reads as (and is rewritten to) **INTERRUPTED**. What the
//! run stored before it died stays (each observation is applied in its own transaction); run
//! the discovery again to complete it — reconciliation makes the re-run idempotent.
//!
//! The owner writes its final record before it releases the lock, and an examiner re-reads the
//! record after taking the lock, so a run finishing while someone looks is never mislabelled.

use std::fs::File;
use std::path::{Path, PathBuf};

use cmdb_graphql::discovery::{DiscoveryRun, DiscoveryRunStatus};

use crate::private_fs;

/// Finished runs kept on disk (the oldest are removed when a run starts).
pub const KEEP_RUNS: usize = 200;

/// The code a pair left unfinished by a dead process gets (as its run's status reads).
pub const INTERRUPTED: &str = "INTERRUPTED";

/// The `runs/` directory of a data directory.
#[derive(Debug, Clone)]
pub struct RunLog {
    dir: PathBuf,
}

/// The running process's hold on one run: its lock and where its record goes.
#[derive(Debug)]
pub struct RunLease {
    json: PathBuf,
    lock_path: PathBuf,
    /// Held (flock) while the lease lives.
    _lock: File,
}

/// Run ids become file names: only `[A-Za-z0-9_-]`, and not too long.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn try_lock(f: &File) -> std::io::Result<bool> {
    match rustix::fs::flock(f, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

impl RunLog {
    pub fn new(data_dir: &Path) -> RunLog {
        RunLog {
            dir: data_dir.join("runs"),
        }
    }

    fn paths(&self, id: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.join(format!("{id}.json")),
            self.dir.join(format!("{id}.lock")),
        )
    }

    /// Record a run that starts now in this process; the lease holds its lock until
    /// [`RunLease::finish`] (or this process ends).
    pub fn begin(&self, run: &DiscoveryRun) -> std::io::Result<RunLease> {
        if !valid_id(&run.id) {
            return Err(std::io::Error::other(format!(
                "unusable run id `{}`",
                run.id.as_str()
            )));
        }
        private_fs::create_dir(&self.dir)?;
        let (json, lock_path) = self.paths(&run.id);
        let lock = private_fs::create_file(&lock_path)?;
        if !try_lock(&lock)? {
            return Err(std::io::Error::other(format!(
                "run {} is already running",
                run.id.as_str()
            )));
        }
        let lease = RunLease {
            json,
            lock_path,
            _lock: lock,
        };
        lease.update(run)?;
        self.prune();
        Ok(lease)
    }

    fn read(&self, path: &Path) -> Option<DiscoveryRun> {
        let text = std::fs::read(path).ok()?;
        match serde_json::from_slice(&text) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(path = %path.display(), "unreadable discovery run record: {e}");
                None
            }
        }
    }

    /// A RUNNING record whose lock nobody holds becomes INTERRUPTED (on disk too).
    fn settle(&self, run: DiscoveryRun) -> DiscoveryRun {
        if run.status != DiscoveryRunStatus::Running {
            return run;
        }
        let (json, lock_path) = self.paths(&run.id);
        let lock = match File::options().read(true).write(true).open(&lock_path) {
            Ok(f) => match try_lock(&f) {
                Ok(true) => Some(f),
                Ok(false) => return run, // its process is alive and running it
                Err(e) => {
                    tracing::warn!(path = %lock_path.display(), "cannot examine a run's lock: {e}");
                    return run;
                }
            },
            Err(_) => None, // the lock is gone: the owner finished (or died after removing it)
        };
        // Under the lock (or with no lock left), the record is final unless its owner died.
        let Some(mut run) = self.read(&json) else {
            return run;
        };
        if run.status == DiscoveryRunStatus::Running {
            run.status = DiscoveryRunStatus::Interrupted;
            run.message = Some(
                "interrupted: the process running this discovery ended before it finished (killed, crashed or the machine stopped); \
                 what it stored up to then is kept — run it again to complete it"
                    .into(),
            );
            crate::run_targets::close_unfinished(
                &mut run,
                INTERRUPTED,
                "the process running the discovery ended before this target finished",
            );
            if let Err(e) = private_fs::write_atomic(
                &json,
                &serde_json::to_vec_pretty(&run).unwrap_or_default(),
            ) {
                tracing::warn!(path = %json.display(), "cannot record an interrupted run: {e}");
            } else {
                tracing::warn!(run_id = %run.id.as_str(), trigger = %run.trigger, started_at = %run.started_at, "a discovery run was interrupted by its process ending");
            }
        }
        if lock.is_some() {
            let _ = std::fs::remove_file(&lock_path);
        }
        run
    }

    /// One run by id.
    pub fn get(&self, id: &str) -> Option<DiscoveryRun> {
        if !valid_id(id) {
            return None;
        }
        let r = self.read(&self.paths(id).0)?;
        Some(self.settle(r))
    }

    /// Recorded runs, newest first.
    pub fn list(&self, limit: usize) -> Vec<DiscoveryRun> {
        let mut runs: Vec<DiscoveryRun> = self
            .record_paths()
            .iter()
            .filter_map(|p| self.read(p))
            .collect();
        runs.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then_with(|| b.id.cmp(&a.id))
        });
        runs.truncate(limit);
        runs.into_iter().map(|r| self.settle(r)).collect()
    }

    /// Settle every record (at server start: report runs a dead process left behind).
    pub fn recover(&self) -> Vec<DiscoveryRun> {
        self.list(usize::MAX)
            .into_iter()
            .filter(|r| r.status == DiscoveryRunStatus::Interrupted)
            .collect()
    }

    fn record_paths(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().map(|x| x == "json").unwrap_or(false)
                    && p.file_stem()
                        .and_then(|s| s.to_str())
                        .map(valid_id)
                        .unwrap_or(false)
            })
            .collect()
    }

    /// Keep the newest KEEP_RUNS finished records.
    fn prune(&self) {
        let mut runs: Vec<DiscoveryRun> = self
            .record_paths()
            .iter()
            .filter_map(|p| self.read(p))
            .filter(|r| r.status != DiscoveryRunStatus::Running)
            .collect();
        if runs.len() <= KEEP_RUNS {
            return;
        }
        runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        for r in &runs[KEEP_RUNS..] {
            let (json, _) = self.paths(&r.id);
            let _ = std::fs::remove_file(json);
        }
    }
}

impl RunLease {
    /// Replace the record (atomically).
    pub fn update(&self, run: &DiscoveryRun) -> std::io::Result<()> {
        private_fs::write_atomic(
            &self.json,
            &serde_json::to_vec_pretty(run).map_err(std::io::Error::other)?,
        )
    }

    /// Write the final record and remove the lock file; the lock itself is released when the
    /// lease is dropped (or the process ends).
    pub fn finish(&self, run: &DiscoveryRun) -> std::io::Result<()> {
        let written = self.update(run);
        let _ = std::fs::remove_file(&self.lock_path);
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, status: DiscoveryRunStatus) -> DiscoveryRun {
        let mut r = crate::discovery::new_run_record(&cmdb_model::RunId::new(id), "cli");
        r.id = async_graphql::ID(id.into());
        r.status = status;
        r
    }

    #[test]
    fn a_run_whose_owner_let_go_without_finishing_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let log = RunLog::new(dir.path());
        let lease = log
            .begin(&run("run_a", DiscoveryRunStatus::Running))
            .unwrap();
        // Alive: still RUNNING, however often it is looked at.
        assert_eq!(
            log.get("run_a").unwrap().status,
            DiscoveryRunStatus::Running
        );
        assert_eq!(log.list(10)[0].status, DiscoveryRunStatus::Running);
        // Finished normally.
        let mut done = run("run_a", DiscoveryRunStatus::Succeeded);
        done.finished_at = Some(chrono::Utc::now());
        lease.finish(&done).unwrap();
        assert_eq!(
            log.get("run_a").unwrap().status,
            DiscoveryRunStatus::Succeeded
        );
        drop(lease);
        assert_eq!(
            log.get("run_a").unwrap().status,
            DiscoveryRunStatus::Succeeded
        );
        // The owner dies: its lock is released (dropped) without a final record. The pair it
        // was working on reads as interrupted, the one it finished as it ended.
        let mut b = run("run_b", DiscoveryRunStatus::Running);
        let mut targets = crate::run_targets::RunTargets::default();
        let id = cmdb_model::RunId::new("run_b");
        for ev in [
            cmdb_discovery::run::ProgressEvent::RunStarted {
                run_id: id.clone(),
                targets: 2,
                probes: vec!["snmp".into()],
                target_names: vec!["10.0.0.1".into(), "10.0.0.2".into()],
            },
            cmdb_discovery::run::ProgressEvent::TargetFinished {
                run_id: id.clone(),
                target: "10.0.0.1".into(),
                probe: "snmp".into(),
                outcome: cmdb_discovery::run::TargetOutcome::Error {
                    code: "TIMEOUT".into(),
                    message: "no answer".into(),
                },
                diagnostics: vec![],
                duration_ms: 5,
            },
            cmdb_discovery::run::ProgressEvent::TargetStarted {
                run_id: id.clone(),
                target: "10.0.0.2".into(),
                probe: "snmp".into(),
            },
        ] {
            targets.apply(&mut b, &ev);
        }
        let lease = log.begin(&b).unwrap();
        drop(lease);
        let r = log.get("run_b").unwrap();
        assert_eq!(r.status, DiscoveryRunStatus::Interrupted);
        assert!(r.message.unwrap().contains("run it again"));
        use cmdb_graphql::discovery::TargetStatus;
        assert_eq!(r.targets[0].status, TargetStatus::Failed);
        assert_eq!(r.targets[0].error.as_ref().unwrap().code, "TIMEOUT");
        assert_eq!(r.targets[1].status, TargetStatus::Failed);
        assert_eq!(r.targets[1].error.as_ref().unwrap().code, INTERRUPTED);
        // … and stays so on disk.
        let text = std::fs::read_to_string(dir.path().join("runs/run_b.json")).unwrap();
        assert!(text.contains("INTERRUPTED"), "{text}");
        assert_eq!(log.list(10).len(), 2);
    }

    #[test]
    fn ids_never_leave_the_runs_directory() {
        let dir = tempfile::tempdir().unwrap();
        let log = RunLog::new(dir.path());
        for bad in ["../x", "a/b", "", "run .json"] {
            assert!(log.get(bad).is_none());
            assert!(log.begin(&run(bad, DiscoveryRunStatus::Running)).is_err());
        }
    }

    #[test]
    fn statuses_read_and_write_as_the_words_older_records_hold() {
        let dir = tempfile::tempdir().unwrap();
        let log = RunLog::new(dir.path());
        std::fs::create_dir_all(dir.path().join("runs")).unwrap();
        for (word, status) in [
            ("SUCCEEDED", DiscoveryRunStatus::Succeeded),
            ("PARTIAL", DiscoveryRunStatus::Partial),
            ("FAILED", DiscoveryRunStatus::Failed),
            ("INTERRUPTED", DiscoveryRunStatus::Interrupted),
        ] {
            // As the code that held the status as a string wrote it.
            let old = format!(
                r#"{{"id":"run_{word}","status":"{word}","trigger":"cli","started_at":"2026-11-01T00:00:00Z","finished_at":null,"targets_done":0,"targets_ok":0,"targets_failed":0,"cis_created":0,"cis_updated":0,"cis_unchanged":0,"cis_staled":0,"relationships_created":0,"relationships_closed":0,"errors":[],"message":null}}"#
            );
            std::fs::write(dir.path().join(format!("runs/run_{word}.json")), old).unwrap();
            let r = log.get(&format!("run_{word}")).unwrap();
            assert_eq!(r.status, status);
            assert_eq!(status.as_str(), word);
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["status"], word);
        }
    }
}
