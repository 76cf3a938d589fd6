//! The OpenSSL command line as a DTLS peer (Debian package `openssl`): `s_server` / `s_client` on 127.0.0.1 with
//! use_srtp and the RFC 5705 exporter printed (`-keymatexport EXTRACTOR-dtls_srtp`), identities made by the CLI
//! itself, processes stopped by PID in a Drop guard.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Whether the `openssl` binary is usable ([`crate::require_peer`]: under `CI=true` its absence fails the test).
pub fn available() -> bool {
    crate::require_peer("openssl", "openssl")
}

/// Kills and reaps the child when dropped, however the test ends.
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Writes `line` to the CLI's stdin (`R\n` asks `s_client` to renegotiate).
    pub fn write_stdin(&mut self, line: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let stdin = self
            .0
            .as_mut()
            .and_then(|c| c.stdin.as_mut())
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        stdin.write_all(line)?;
        stdin.flush()
    }

    /// Closes stdin (the CLI sends close_notify and exits), waits up to 5 s, kills if needed, returns stdout
    /// (followed by stderr when it was captured: [`s_server_with`], [`s_client_with`]).
    pub fn finish(&mut self) -> String {
        let Some(mut child) = self.0.take() else {
            return String::new();
        };
        drop(child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut out = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut out);
        }
        out
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system temp dir.
    pub fn new() -> std::io::Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "dtlsrtp-openssl-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A certificate and key made by the CLI, with its SHA-256 fingerprint as the CLI prints it (`AB:CD:...`).
#[derive(Debug, Clone)]
pub struct Identity {
    /// PEM certificate path.
    pub cert: PathBuf,
    /// PEM key path.
    pub key: PathBuf,
    /// Upper-case colon-separated SHA-256 digest (parse with `format!("sha-256 {}")`).
    pub sha256: String,
}

/// Makes an ECDSA P-256 (or RSA-2048) self-signed identity in `dir`.
pub fn identity(dir: &Path, rsa: bool) -> std::io::Result<Identity> {
    let (cert, key) = (dir.join("peer-cert.pem"), dir.join("peer-key.pem"));
    let mut cmd = Command::new("openssl");
    cmd.args([
        "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=peer", "-newkey",
    ]);
    if rsa {
        cmd.arg("rsa:2048");
    } else {
        cmd.args(["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    let st = cmd
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    if !st.success() {
        return Err(std::io::Error::other("openssl req failed"));
    }
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()?;
    // "sha256 Fingerprint=AB:CD:..." (or "SHA256 Fingerprint=")
    let text = String::from_utf8_lossy(&out.stdout);
    let sha256 = text
        .trim()
        .split('=')
        .nth(1)
        .ok_or_else(|| std::io::Error::other("no fingerprint printed"))?
        .to_owned();
    Ok(Identity { cert, key, sha256 })
}

fn dtls_args(cmd: &mut Command, id: &Identity, srtp_profile: &str, exporter_len: usize) {
    cmd.arg("-cert")
        .arg(&id.cert)
        .arg("-key")
        .arg(&id.key)
        .args(["-use_srtp", srtp_profile])
        .args(["-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen"])
        .arg(exporter_len.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
}

/// `openssl s_server -dtls1_2` on 127.0.0.1:`port` for one connection, requiring a client certificate.
pub fn s_server(
    port: u16,
    id: &Identity,
    srtp_profile: &str,
    exporter_len: usize,
) -> std::io::Result<ChildGuard> {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server",
        "-dtls1_2",
        "-accept",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["-naccept", "1", "-Verify", "1"]);
    dtls_args(&mut cmd, id, srtp_profile, exporter_len);
    Ok(ChildGuard(Some(cmd.spawn()?)))
}

/// `openssl s_client -dtls1_2` connecting to 127.0.0.1:`port`.
pub fn s_client(
    port: u16,
    id: &Identity,
    srtp_profile: &str,
    exporter_len: usize,
) -> std::io::Result<ChildGuard> {
    s_client_cmd(port, id, srtp_profile, exporter_len, &[], false)
}

/// As [`s_server`], with `extra` arguments (e.g. `-msg`), and stderr captured: it is where the CLI reports a
/// received alert (`SSL alert number 42`).
pub fn s_server_with(
    port: u16,
    id: &Identity,
    srtp_profile: &str,
    exporter_len: usize,
    extra: &[&str],
) -> std::io::Result<ChildGuard> {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server",
        "-dtls1_2",
        "-accept",
        &format!("127.0.0.1:{port}"),
    ])
    .args(["-naccept", "1", "-Verify", "1"])
    .args(extra);
    dtls_args(&mut cmd, id, srtp_profile, exporter_len);
    cmd.stderr(Stdio::piped());
    Ok(ChildGuard(Some(cmd.spawn()?)))
}

/// As [`s_client`], with `extra` arguments and stderr captured (see [`s_server_with`]).
pub fn s_client_with(
    port: u16,
    id: &Identity,
    srtp_profile: &str,
    exporter_len: usize,
    extra: &[&str],
) -> std::io::Result<ChildGuard> {
    s_client_cmd(port, id, srtp_profile, exporter_len, extra, true)
}

fn s_client_cmd(
    port: u16,
    id: &Identity,
    srtp_profile: &str,
    exporter_len: usize,
    extra: &[&str],
    stderr: bool,
) -> std::io::Result<ChildGuard> {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-dtls1_2",
        "-connect",
        &format!("127.0.0.1:{port}"),
    ])
    .args(extra);
    dtls_args(&mut cmd, id, srtp_profile, exporter_len);
    if stderr {
        cmd.stderr(Stdio::piped());
    }
    Ok(ChildGuard(Some(cmd.spawn()?)))
}

/// The rest of the first output line starting with `prefix` (after trimming), e.g. `"Keying material:"`.
pub fn line_after<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .map(str::trim)
}
