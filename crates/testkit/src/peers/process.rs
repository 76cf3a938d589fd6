//! The process guard shared by every peer: spawn with output captured to a log file, wait (bounded) for log
//! patterns, stop by PID (its own process group) in `Drop`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process_group, waitid, Pid, Signal, WaitId, WaitIdOptions};

use super::PeerError;

/// How often a bounded wait re-reads the log file.
const POLL: Duration = Duration::from_millis(20);
/// How long a stop waits for the process to exit after SIGTERM before it sends SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How many trailing characters of a log an error message quotes.
const TAIL_CHARS: usize = 3000;

/// A log file written by a peer process (stdout and stderr together).
///
/// Reads normalise line endings: `\r\n` and a lone `\r` (baresip's live status line) both become `\n`, and
/// ANSI colour escapes are removed, so patterns are plain text.
#[derive(Debug, Clone)]
pub struct LogFile {
    path: PathBuf,
}

impl LogFile {
    /// A log file at `path` (it may not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole log so far, normalised (see the type docs). Empty if the file does not exist yet.
    pub fn read(&self) -> String {
        let raw = std::fs::read(&self.path).unwrap_or_default();
        normalise(&String::from_utf8_lossy(&raw))
    }

    /// The last `TAIL_CHARS` characters of the log, for error messages.
    pub fn tail(&self) -> String {
        tail_of(&self.read())
    }

    /// How many times `pattern` occurs in the log so far.
    pub fn count(&self, pattern: &str) -> usize {
        self.read().matches(pattern).count()
    }

    /// Every line of the log that contains `pattern`.
    pub fn lines_with(&self, pattern: &str) -> Vec<String> {
        self.read()
            .lines()
            .filter(|l| l.contains(pattern))
            .map(str::to_owned)
            .collect()
    }
}

/// Removes ANSI escapes (`ESC [ ... letter`) and turns `\r\n` and `\r` into `\n`.
pub(super) fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for e in chars.by_ref() {
                        if e.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            c => out.push(c),
        }
    }
    out
}

fn tail_of(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(TAIL_CHARS)).collect()
}

/// A running peer process. `Drop` stops it: SIGTERM to its process group (the process is spawned as the leader
/// of a new group, so Kamailio's worker children go too), up to 2 s grace, then SIGKILL, then reap.
#[derive(Debug)]
pub struct PeerProcess {
    name: String,
    child: Child,
    log: LogFile,
    status: Option<ExitStatus>,
}

impl PeerProcess {
    /// Spawns `cmd` with stdin from /dev/null and stdout+stderr appended to `log_path`, in a new process group.
    /// `name` labels errors.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<Self, PeerError> {
        use std::os::unix::process::CommandExt as _;
        let out = File::create(log_path).map_err(|e| PeerError::Io {
            what: "create log file",
            source: e,
        })?;
        let err = out.try_clone().map_err(|e| PeerError::Io {
            what: "clone log file",
            source: e,
        })?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().map_err(|e| PeerError::Io {
            what: "spawn peer",
            source: e,
        })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log: LogFile::new(log_path),
            status: None,
        })
    }

    /// The process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The label given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The log of its stdout and stderr.
    pub fn log(&self) -> &LogFile {
        &self.log
    }

    /// The exit status if the process has exited (reaps it), `None` while it runs.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.try_status().is_none()
    }

    /// Waits at most `timeout` for the log to satisfy `done` (called on the normalised log). Returns the log
    /// then. Fails with [`PeerError::Timeout`] (quoting the log's tail) or, if the process exits first without
    /// `done` holding, [`PeerError::Exited`].
    #[allow(clippy::disallowed_methods)] // test support: bounded waits use the real clock
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> Result<String, PeerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self.try_status();
            let log = self.log.read();
            if done(&log) {
                return Ok(log);
            }
            if let Some(status) = exited {
                return Err(PeerError::Exited {
                    peer: self.name.clone(),
                    waiting_for: what.to_owned(),
                    status,
                    tail: tail_of(&log),
                });
            }
            if Instant::now() >= deadline {
                return Err(PeerError::Timeout {
                    peer: self.name.clone(),
                    waiting_for: what.to_owned(),
                    waited: timeout,
                    tail: tail_of(&log),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits at most `timeout` until `pattern` occurs in the log; returns the first line containing it.
    pub fn wait_for(&mut self, pattern: &str, timeout: Duration) -> Result<String, PeerError> {
        self.wait_for_count(pattern, 1, timeout)
    }

    /// Waits at most `timeout` until `pattern` occurs at least `n` times; returns the `n`-th line containing it.
    pub fn wait_for_count(
        &mut self,
        pattern: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<String, PeerError> {
        let what = format!("{n} x `{pattern}`");
        let log = self.wait_until(&what, timeout, |log| log.matches(pattern).count() >= n)?;
        Ok(log
            .lines()
            .filter(|l| l.contains(pattern))
            .nth(n.saturating_sub(1))
            .unwrap_or_default()
            .to_owned())
    }

    /// Waits at most `timeout` for the process to exit by itself.
    #[allow(clippy::disallowed_methods)] // test support: bounded waits use the real clock
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, PeerError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(PeerError::Timeout {
                    peer: self.name.clone(),
                    waiting_for: "process exit".to_owned(),
                    waited: timeout,
                    tail: self.log.tail(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Stops the process (SIGTERM to its group, 2 s grace, SIGKILL to its group) and reaps it. Idempotent.
    /// Returns its exit status (a signal exit after SIGKILL).
    #[allow(clippy::disallowed_methods)] // test support: bounded waits use the real clock
    pub fn stop(&mut self) -> Option<ExitStatus> {
        if self.status.is_some() {
            return self.status;
        }
        let Some(pid) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) else {
            let _ = self.child.kill();
            return self.try_status();
        };
        // The leader is not reaped until the end, so its pid (= the group id) cannot be reused meanwhile.
        let _ = kill_process_group(pid, Signal::TERM);
        let deadline = Instant::now() + TERM_GRACE;
        let opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        while Instant::now() < deadline {
            match waitid(WaitId::Pid(pid), opts) {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(POLL),
            }
        }
        // Leftover group members (a leader that ignored TERM, or workers of a leader that died first).
        let _ = kill_process_group(pid, Signal::KILL);
        self.status = self.child.wait().ok();
        self.status
    }
}

/// Environment variable naming a directory where every peer log is copied when its process is dropped
/// (e.g. `DTLSRTP_PEER_LOGS=/tmp/peer-logs cargo test …`), since the temp dirs are removed.
pub const KEEP_LOGS_ENV: &str = "DTLSRTP_PEER_LOGS";

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = std::env::var_os(KEEP_LOGS_ENV) {
            let name: String = self
                .name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let _ = std::fs::create_dir_all(&dir);
            let target = Path::new(&dir).join(format!("{name}-{}.log", self.child.id()));
            let _ = std::fs::copy(self.log.path(), target);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_strips_colours_and_carriage_returns() {
        let s = "\u{1b}[36;1m#\nINVITE x SIP/2.0\r\nVia: a\r\n\u{1b}[;m\n[0:00:01] audio=1/2\r[0:00:02] audio=3/4";
        assert_eq!(
            normalise(s),
            "#\nINVITE x SIP/2.0\nVia: a\n\n[0:00:01] audio=1/2\n[0:00:02] audio=3/4"
        );
    }

    #[test]
    fn guard_waits_for_output_and_kills_by_pid() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo ready; exec sleep 30"]);
        let mut p = PeerProcess::spawn("sh", cmd, &dir.path().join("log")).unwrap();
        p.wait_for("ready", Duration::from_secs(5)).unwrap();
        assert!(p.is_running());
        let err = p
            .wait_for("never printed", Duration::from_millis(100))
            .unwrap_err();
        assert!(matches!(err, PeerError::Timeout { .. }), "{err}");
        let status = p.stop().unwrap();
        assert!(!status.success());
        assert!(!p.is_running());
    }

    #[test]
    fn exit_before_pattern_is_reported_as_exit() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo bye; exit 3"]);
        let mut p = PeerProcess::spawn("sh", cmd, &dir.path().join("log")).unwrap();
        let err = p.wait_for("hello", Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, PeerError::Exited { .. }), "{err}");
        assert!(err.to_string().contains("bye"), "{err}");
    }
}
