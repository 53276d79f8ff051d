//! One interface for running commands on a host, shared by SSH and the local machine, so every
//! Linux parser is used by both probes.
//!
//! A transport runs one command with a timeout and an output cap: a command that prints 10 MB or
//! never stops uses at most `max_output` bytes per stream, and a hung command is killed (local)
//! or abandoned with its channel closed (SSH) when the timeout expires. Output is bytes; callers
//! decode lossily.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Limits for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecLimits {
    /// Wall-clock limit for the whole command, output included.
    pub timeout: Duration,
    /// Bytes kept per stream (stdout, stderr); the rest is discarded and the command stopped.
    pub max_output: usize,
}

/// Default cap per stream: 4 MiB.
pub const DEFAULT_MAX_OUTPUT: usize = 4 * 1024 * 1024;

impl Default for ExecLimits {
    fn default() -> Self {
        ExecLimits {
            timeout: Duration::from_secs(60),
            max_output: DEFAULT_MAX_OUTPUT,
        }
    }
}

/// What a command produced. `exit_status` is `None` when the command was stopped (timeout,
/// output cap) or the remote side did not report one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandOutput {
    pub exit_status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output went past `max_output` and was cut.
    pub truncated: bool,
    /// The command ran into its timeout and was stopped.
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl CommandOutput {
    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn success(&self) -> bool {
        self.exit_status == Some(0) && !self.timed_out && !self.truncated
    }
}

/// Why a command could not be run at all (a command that ran and failed is a
/// [`CommandOutput`] with a non-zero status).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TransportError {
    #[error("could not start command: {0}")]
    Spawn(String),
    #[error("transport I/O error: {0}")]
    Io(String),
    #[error("connection closed: {0}")]
    Closed(String),
}

impl TransportError {
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Spawn(_) => "transport.spawn_failed",
            TransportError::Io(_) => "transport.io",
            TransportError::Closed(_) => "transport.closed",
        }
    }
}

/// Runs commands on one host. Blocking: async callers run it on the blocking pool.
pub trait CommandTransport: Send {
    /// `ssh` or `local`.
    fn kind(&self) -> &'static str;
    /// Run `command` through the host's POSIX shell.
    fn run(&mut self, command: &str, limits: &ExecLimits) -> Result<CommandOutput, TransportError>;
}

/// Appends to a buffer up to a cap. Returns false once the cap is reached.
pub(crate) fn push_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    if data.len() > room {
        buf.extend_from_slice(&data[..room]);
        false
    } else {
        buf.extend_from_slice(data);
        true
    }
}

/// Runs commands on this machine with `sh -c`, in their own process group so a timeout kills
/// the command and everything it started.
#[derive(Debug, Clone, Default)]
pub struct LocalTransport {
    _private: (),
}

impl LocalTransport {
    pub fn new() -> Self {
        LocalTransport { _private: () }
    }
}

enum ReaderMsg {
    /// Stream finished (EOF or read error).
    Done(usize, Vec<u8>, bool),
}

fn spawn_reader<R: Read + Send + 'static>(
    idx: usize,
    mut r: R,
    cap: usize,
    tx: mpsc::Sender<ReaderMsg>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let mut truncated = false;
        loop {
            match r.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    if !push_capped(&mut buf, &chunk[..n], cap) {
                        truncated = true;
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let _ = tx.send(ReaderMsg::Done(idx, buf, truncated));
    })
}

#[allow(unsafe_code)] // kill(2): see the SAFETY note (workspace lint, Cargo.toml)
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: plain syscall; a negative pid addresses the process group we created.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

impl CommandTransport for LocalTransport {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn run(&mut self, command: &str, limits: &ExecLimits) -> Result<CommandOutput, TransportError> {
        let start = Instant::now();
        let mut child = spawn_group(command)?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        let mut handles = Vec::new();
        if let Some(out) = child.stdout.take() {
            handles.push(spawn_reader(0, out, limits.max_output, tx.clone()));
        }
        if let Some(err) = child.stderr.take() {
            handles.push(spawn_reader(1, err, limits.max_output, tx.clone()));
        }
        drop(tx);
        let mut out = CommandOutput::default();
        let deadline = start + limits.timeout;
        let pending = read_until(&rx, handles.len(), deadline, &mut out);
        if out.timed_out || out.truncated {
            kill_group(pid);
        }
        // Streams are closed now (EOF) or the group is dead; collect what the readers kept.
        let status = reap(&mut child, pid, deadline, &mut out);
        take_late_output(&rx, pending, &mut out);
        for h in handles {
            if h.is_finished() {
                let _ = h.join();
            }
        }
        if !(out.timed_out || out.truncated) {
            out.exit_status = status.and_then(|s| s.code());
        }
        out.elapsed = start.elapsed();
        Ok(out)
    }
}

/// `sh -c command` in its own process group, with a C locale and no stdin.
fn spawn_group(command: &str) -> Result<std::process::Child, TransportError> {
    use std::os::unix::process::CommandExt;
    Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .process_group(0)
        .spawn()
        .map_err(|e| TransportError::Spawn(e.to_string()))
}

/// Take the streams the readers finish before `deadline` into `out` (stdout is reader 0),
/// stopping at the deadline (`timed_out`) or at a stream over the cap (`truncated`). Returns
/// how many readers are still pending.
fn read_until(
    rx: &mpsc::Receiver<ReaderMsg>,
    mut pending: usize,
    deadline: Instant,
    out: &mut CommandOutput,
) -> usize {
    while pending > 0 {
        let now = Instant::now();
        if now >= deadline {
            out.timed_out = true;
            break;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(ReaderMsg::Done(idx, buf, truncated)) => {
                pending -= 1;
                if idx == 0 {
                    out.stdout = buf;
                } else {
                    out.stderr = buf;
                }
                if truncated {
                    out.truncated = true;
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                out.timed_out = true;
                break;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    pending
}

/// Wait for the command to end: past the deadline its group is killed (`timed_out`), and two
/// seconds later it is killed outright.
fn reap(
    child: &mut std::process::Child,
    pid: u32,
    deadline: Instant,
    out: &mut CommandOutput,
) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {
                if Instant::now() >= deadline + Duration::from_secs(2) {
                    // A daemonised grandchild may keep pipes open; the group kill covers
                    // the command itself.
                    kill_group(pid);
                    let _ = child.kill();
                    return child.wait().ok();
                }
                if !(out.timed_out || out.truncated) && Instant::now() >= deadline {
                    out.timed_out = true;
                    kill_group(pid);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => return None,
        }
    }
}

/// The process is gone; its pipes close unless a daemonised grandchild holds them. Give the
/// readers a moment to hand over what they read, filling streams still empty in `out`.
fn take_late_output(rx: &mpsc::Receiver<ReaderMsg>, mut pending: usize, out: &mut CommandOutput) {
    let mut late = Vec::new();
    let drain_until = Instant::now() + Duration::from_millis(500);
    while pending > 0 {
        let now = Instant::now();
        if now >= drain_until {
            break;
        }
        match rx.recv_timeout(drain_until - now) {
            Ok(m) => {
                pending -= 1;
                late.push(m);
            }
            Err(_) => break,
        }
    }
    for msg in late.into_iter().chain(rx.try_iter()) {
        let ReaderMsg::Done(idx, buf, truncated) = msg;
        if idx == 0 && out.stdout.is_empty() {
            out.stdout = buf;
        } else if idx == 1 && out.stderr.is_empty() {
            out.stderr = buf;
        }
        out.truncated |= truncated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(ms: u64, cap: usize) -> ExecLimits {
        ExecLimits {
            timeout: Duration::from_millis(ms),
            max_output: cap,
        }
    }

    #[test]
    fn runs_and_reports_status() {
        let mut t = LocalTransport::new();
        let o = t
            .run("echo hello; echo err >&2; exit 3", &limits(5000, 1024))
            .unwrap();
        assert_eq!(o.stdout, b"hello\n");
        assert_eq!(o.stderr, b"err\n");
        assert_eq!(o.exit_status, Some(3));
        assert!(!o.timed_out && !o.truncated);
    }

    #[test]
    fn caps_endless_output() {
        let mut t = LocalTransport::new();
        let o = t.run("yes", &limits(10_000, 64 * 1024)).unwrap();
        assert!(o.truncated);
        assert_eq!(o.stdout.len(), 64 * 1024);
        assert!(o.elapsed < Duration::from_secs(5));
    }

    #[test]
    fn kills_hung_command_at_timeout() {
        let mut t = LocalTransport::new();
        let o = t.run("echo started; sleep 30", &limits(300, 1024)).unwrap();
        assert!(o.timed_out);
        assert_eq!(o.exit_status, None);
        assert_eq!(o.stdout, b"started\n");
        assert!(o.elapsed < Duration::from_secs(3), "{:?}", o.elapsed);
    }

    #[test]
    fn non_utf8_is_kept_as_bytes() {
        let mut t = LocalTransport::new();
        let o = t.run("printf 'a\\377b'", &limits(5000, 1024)).unwrap();
        assert_eq!(o.stdout, b"a\xffb");
        assert_eq!(o.stdout_lossy(), "a\u{fffd}b");
    }
}
