//! One authenticated SSH session (blocking `ssh2`), and the [`CommandTransport`] over it.

use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use ssh2::{CheckResult, ErrorCode, KnownHostFileKind, KnownHostKeyFormat, Session};

use super::{HostKeyPolicy, SshOptions};
use crate::credentials::{SshAuth, SshCredential};
use crate::transport::{push_capped, CommandOutput, CommandTransport, ExecLimits, TransportError};
use crate::ProbeError;

/// libssh2's error codes we classify.
const LIBSSH2_ERROR_TIMEOUT: i32 = -9;
const LIBSSH2_ERROR_FILE: i32 = -16;
const LIBSSH2_ERROR_AUTHENTICATION_FAILED: i32 = -18;
const LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
const LIBSSH2_ERROR_AGENT_PROTOCOL: i32 = -42;

fn ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
}

fn is_timeout(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT)
}

/// Open a TCP connection with the connect timeout.
pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, ProbeError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| ProbeError::Unreachable(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut last = ProbeError::Unreachable(format!("{host}: no address"));
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                last =
                    ProbeError::Timeout(format!("connecting to {a} took longer than {timeout:?}"));
            }
            Err(e) => last = ProbeError::Unreachable(format!("connecting to {a}: {e}")),
        }
    }
    Err(last)
}

/// Handshake and host-key check. `known_hosts_lock` serialises known-hosts file updates.
pub(crate) fn handshake(
    tcp: TcpStream,
    host: &str,
    port: u16,
    opts: &SshOptions,
    known_hosts_lock: &parking_lot::Mutex<()>,
) -> Result<(Session, TcpStream), ProbeError> {
    let raw = tcp
        .try_clone()
        .map_err(|e| ProbeError::Other(format!("socket: {e}")))?;
    let mut sess = Session::new().map_err(|e| ProbeError::Other(format!("ssh session: {e}")))?;
    sess.set_tcp_stream(tcp);
    sess.set_timeout(ms(opts.connect_timeout));
    sess.handshake().map_err(|e| {
        if is_timeout(&e) {
            ProbeError::Timeout(format!("SSH handshake with {host}:{port}"))
        } else {
            ProbeError::Protocol(format!("SSH handshake with {host}:{port}: {}", e.message()))
        }
    })?;
    check_host_key(&sess, host, port, &opts.host_key_policy, known_hosts_lock)?;
    Ok((sess, raw))
}

fn fingerprint(key: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key);
    format!("SHA256:{}", hex::encode(d))
}

fn check_host_key(
    sess: &Session,
    host: &str,
    port: u16,
    policy: &HostKeyPolicy,
    lock: &parking_lot::Mutex<()>,
) -> Result<(), ProbeError> {
    let (path, accept_new) = match policy {
        HostKeyPolicy::Off => return Ok(()),
        HostKeyPolicy::Strict { known_hosts } => (known_hosts, false),
        HostKeyPolicy::AcceptNew { known_hosts } => (known_hosts, true),
    };
    let (key, key_type) = sess
        .host_key()
        .ok_or_else(|| ProbeError::HostKey(format!("{host}:{port} sent no host key")))?;
    let fp = fingerprint(key);
    let _guard = lock.lock();
    let mut kh = sess
        .known_hosts()
        .map_err(|e| ProbeError::Other(format!("known_hosts: {}", e.message())))?;
    let file = Path::new(path);
    if file.exists() {
        kh.read_file(file, KnownHostFileKind::OpenSSH)
            .map_err(|e| known_hosts_error("read", file, &e))?;
    } else if !accept_new {
        return Err(ProbeError::HostKey(format!(
            "{host}:{port} ({fp}) is not in known_hosts {} (file missing; strict policy)",
            file.display()
        )));
    }
    match kh.check_port(host, port, key) {
        CheckResult::Match => Ok(()),
        CheckResult::Mismatch => Err(ProbeError::HostKey(format!(
            "{host}:{port} presented {fp}, which does not match its entry in {}",
            file.display()
        ))),
        CheckResult::NotFound if accept_new => {
            let entry = if port == 22 {
                host.to_string()
            } else {
                format!("[{host}]:{port}")
            };
            let fmt: KnownHostKeyFormat = key_type.into();
            kh.add(&entry, key, "added by cmdb (accept-new)", fmt)
                .map_err(|e| ProbeError::Other(format!("known_hosts add: {}", e.message())))?;
            write_known_hosts(&kh, file)?;
            tracing::info!(host, port, fingerprint = %fp, "accept-new: remembered new host key");
            Ok(())
        }
        CheckResult::NotFound => Err(ProbeError::HostKey(format!(
            "{host}:{port} ({fp}) is not in known_hosts {} (strict policy)",
            file.display()
        ))),
        CheckResult::Failure => Err(ProbeError::HostKey(format!(
            "{host}:{port}: known_hosts check failed"
        ))),
    }
}

/// Write `kh` to `file`. A new known_hosts (and its directory) is for the service account
/// only; an existing file keeps its mode.
fn write_known_hosts(kh: &ssh2::KnownHosts, file: &Path) -> Result<(), ProbeError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        let _ = b.create(dir);
    }
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        let _ = o.open(file);
    }
    kh.write_file(file, KnownHostFileKind::OpenSSH)
        .map_err(|e| known_hosts_error("write", file, &e))
}

/// A known_hosts file that cannot be read or written (`verb`): a configuration error.
fn known_hosts_error(verb: &str, file: &Path, e: &ssh2::Error) -> ProbeError {
    ProbeError::Config(format!(
        "cannot {verb} known_hosts {}: {}",
        file.display(),
        e.message()
    ))
}

/// Outcome of one authentication attempt.
pub(crate) enum AuthOutcome {
    Ok,
    /// The server refused this credential; the session can try another.
    Refused(String),
    /// The session is no longer usable.
    Broken(ProbeError),
}

pub(crate) fn authenticate(sess: &Session, cred: &SshCredential, timeout: Duration) -> AuthOutcome {
    sess.set_timeout(ms(timeout));
    let res = match &cred.auth {
        SshAuth::Key { path, passphrase } => {
            let p = Path::new(path);
            if !p.exists() {
                return AuthOutcome::Refused(format!(
                    "credential `{}`: key file {} not found",
                    cred.name, path
                ));
            }
            sess.userauth_pubkey_file(&cred.user, None, p, passphrase.as_ref().map(|s| s.expose()))
        }
        SshAuth::Password { password } => sess.userauth_password(&cred.user, password.expose()),
        SshAuth::Agent => sess.userauth_agent(&cred.user),
    };
    match res {
        Ok(()) if sess.authenticated() => AuthOutcome::Ok,
        Ok(()) => AuthOutcome::Refused(format!("credential `{}`: not accepted", cred.name)),
        Err(e) => {
            // Never echo libssh2's message for password attempts verbatim: keep it generic.
            let code = match e.code() {
                ErrorCode::Session(c) => c,
                ErrorCode::SFTP(c) => c,
            };
            match code {
                LIBSSH2_ERROR_AUTHENTICATION_FAILED | LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED => {
                    AuthOutcome::Refused(format!(
                        "credential `{}` ({}): rejected by server",
                        cred.name,
                        method(cred)
                    ))
                }
                LIBSSH2_ERROR_FILE => AuthOutcome::Refused(format!(
                    "credential `{}`: key file unreadable or wrong passphrase",
                    cred.name
                )),
                LIBSSH2_ERROR_TIMEOUT => AuthOutcome::Broken(ProbeError::Timeout(format!(
                    "authentication with credential `{}` took longer than {timeout:?}",
                    cred.name
                ))),
                c if c == LIBSSH2_ERROR_AGENT_PROTOCOL || matches!(cred.auth, SshAuth::Agent) => {
                    AuthOutcome::Refused(format!(
                        "credential `{}` (agent): {}",
                        cred.name,
                        e.message()
                    ))
                }
                _ => AuthOutcome::Broken(ProbeError::Protocol(format!(
                    "authentication with credential `{}` ({}) failed: error {code}",
                    cred.name,
                    method(cred)
                ))),
            }
        }
    }
}

fn method(c: &SshCredential) -> &'static str {
    match c.auth {
        SshAuth::Key { .. } => "key",
        SshAuth::Password { .. } => "password",
        SshAuth::Agent => "agent",
    }
}

/// Commands over one authenticated session.
pub struct SshTransport {
    sess: Session,
    raw: TcpStream,
    /// Set once a command was abandoned mid-stream; the session is not reused after that.
    poisoned: bool,
}

impl SshTransport {
    pub(crate) fn new(sess: Session, raw: TcpStream) -> Self {
        SshTransport {
            sess,
            raw,
            poisoned: false,
        }
    }

    #[allow(unsafe_code)] // poll(2): see the SAFETY note (workspace lint, Cargo.toml)
    fn wait_readable(&self, max: Duration) {
        let mut fds = libc::pollfd {
            fd: self.raw.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let t = i32::try_from(max.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe {
            libc::poll(&mut fds, 1, t);
        }
    }

    pub fn disconnect(&self) {
        self.sess.set_blocking(true);
        self.sess.set_timeout(500);
        let _ = self.sess.disconnect(None, "done", None);
    }
}

impl SshTransport {
    /// Read stdout and stderr (non-blocking) until both end, one passes the cap
    /// (`truncated`) or the deadline passes (`timed_out`).
    fn read_output(
        &self,
        ch: &mut ssh2::Channel,
        limits: &ExecLimits,
        deadline: Instant,
        out: &mut CommandOutput,
    ) -> std::io::Result<()> {
        let mut buf = vec![0u8; 32 * 1024];
        let (mut out_eof, mut err_eof) = (false, false);
        let cap = limits.max_output;
        loop {
            let mut progress = false;
            if !out_eof {
                progress |= read_some(
                    ch,
                    &mut buf,
                    &mut out.stdout,
                    cap,
                    &mut out_eof,
                    &mut out.truncated,
                )?;
            }
            if !err_eof {
                progress |= read_some(
                    &mut ch.stderr(),
                    &mut buf,
                    &mut out.stderr,
                    cap,
                    &mut err_eof,
                    &mut out.truncated,
                )?;
            }
            if out.truncated || (out_eof && (err_eof || ch.eof())) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                out.timed_out = true;
                return Ok(());
            }
            if !progress {
                self.wait_readable((deadline - now).min(Duration::from_millis(50)));
            }
        }
    }
}

/// One non-blocking read of a stream into `dst` (kept to `cap` bytes; more sets
/// `truncated`); true when bytes came, `eof` set at the stream's end.
fn read_some(
    r: &mut impl Read,
    buf: &mut [u8],
    dst: &mut Vec<u8>,
    cap: usize,
    eof: &mut bool,
    truncated: &mut bool,
) -> std::io::Result<bool> {
    match r.read(buf) {
        Ok(0) => {
            *eof = true;
            Ok(false)
        }
        Ok(n) => {
            if !push_capped(dst, &buf[..n], cap) {
                *truncated = true;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

impl CommandTransport for SshTransport {
    fn kind(&self) -> &'static str {
        "ssh"
    }

    fn run(&mut self, command: &str, limits: &ExecLimits) -> Result<CommandOutput, TransportError> {
        if self.poisoned {
            return Err(TransportError::Closed(
                "session abandoned after an earlier timeout".into(),
            ));
        }
        let start = Instant::now();
        let deadline = start + limits.timeout;
        self.sess.set_blocking(true);
        self.sess.set_timeout(ms(limits.timeout));
        let io = |e: ssh2::Error| {
            if is_timeout(&e) {
                TransportError::Io("timed out opening a channel".into())
            } else {
                TransportError::Io(e.message().to_string())
            }
        };
        let mut ch = self.sess.channel_session().map_err(io)?;
        ch.exec(command).map_err(io)?;
        self.sess.set_blocking(false);
        let mut out = CommandOutput::default();
        let read = self.read_output(&mut ch, limits, deadline, &mut out);
        if let Err(e) = read {
            self.poisoned = true;
            return Err(TransportError::Io(e.to_string()));
        }
        self.sess.set_blocking(true);
        if out.timed_out || out.truncated {
            // Stop the remote command: closing the channel makes sshd hang up its pipes.
            self.sess.set_timeout(500);
            let _ = ch.close();
            self.poisoned = true;
        } else {
            self.sess.set_timeout(ms(deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(500))));
            let _ = ch.wait_close();
            out.exit_status = ch.exit_status().ok();
        }
        out.elapsed = start.elapsed();
        Ok(out)
    }
}
