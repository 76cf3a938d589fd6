//! SIP Identity for `call`/`answer` (issue 8): the endpoint's [`IdentityConfig`] from the options, and the
//! certificate resolver the verifier fetches `info` with: `file://` under the directories the user named
//! (`--identity-fetch-dir`, the trust anchors', the signing certificate's; never the working directory) and
//! `http://` only to the loopback `HOST:PORT`s named with `--identity-fetch-http` (issue 12 item 7: no
//! loopback SSRF). The tokio driver runs it off its loop (on the blocking pool, with the endpoint's deadline).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use dtlsrtp::sip_identity::{
    AuthService, CacheFileError, CertResolver, PeerKeyCache, ResolveError, TrustAnchors, Verifier,
};
use dtlsrtp::{IdentityConfig, IdentityPolicy, InfoAllow, SharedResolver};

use crate::options::IdentitySettings;
use crate::{Exit, Failure};

/// Most bytes read from an `info` URL.
const MAX_CERT: usize = 64 * 1024;

/// Resolves `file:///path` URLs (moved here from the sans-IO SIP crate, issue 13 design item 3) from the local file system (at most 64 KiB), only under one directory:
/// `info` comes from the network, and a resolver that opened any path would let a caller probe the
/// verifier's file system (436 vs 437 tells whether a file exists).
#[derive(Debug, Clone)]
pub(crate) struct FileResolver {
    root: std::path::PathBuf,
}

impl FileResolver {
    /// Serves files under `root` (symbolic links and `..` are resolved before the check).
    pub(crate) fn under(root: &std::path::Path) -> Self {
        Self {
            root: root.canonicalize().unwrap_or_else(|_| root.to_path_buf()),
        }
    }
}

impl CertResolver for FileResolver {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let path = url
            .strip_prefix("file://")
            .filter(|p| p.starts_with('/'))
            .ok_or(ResolveError::Unsupported)?;
        let path = std::path::Path::new(path)
            .canonicalize()
            .map_err(|_| ResolveError::Unreachable)?;
        if !path.starts_with(&self.root) {
            return Err(ResolveError::Unsupported);
        }
        let meta = std::fs::metadata(&path).map_err(|_| ResolveError::Unreachable)?;
        if !meta.is_file() {
            return Err(ResolveError::Unreachable);
        }
        if meta.len() > 64 * 1024 {
            return Err(ResolveError::TooLarge);
        }
        std::fs::read(&path).map_err(|_| ResolveError::Unreachable)
    }
}

/// `file://` under a few directories, `http://` to listed loopback authorities (2 s, 64 KiB).
pub(crate) struct CliResolver {
    files: Vec<FileResolver>,
    http: Vec<SocketAddr>,
}

impl CliResolver {
    fn new(dirs: &[PathBuf], http: &[SocketAddr]) -> Self {
        Self {
            files: dirs.iter().map(|d| FileResolver::under(d)).collect(),
            http: http.to_vec(),
        }
    }

    fn http(&self, url: &str) -> Result<Vec<u8>, ResolveError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or(ResolveError::Unsupported)?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let addr: SocketAddr = authority
            .parse()
            .or_else(|_| format!("{authority}:80").parse())
            .map_err(|_| ResolveError::Unsupported)?;
        if !addr.ip().is_loopback() || !self.http.contains(&addr) {
            return Err(ResolveError::Unsupported);
        }
        let t = Duration::from_secs(2);
        let mut s = TcpStream::connect_timeout(&addr, t).map_err(|_| ResolveError::Unreachable)?;
        s.set_read_timeout(Some(t))
            .map_err(|_| ResolveError::Unreachable)?;
        s.set_write_timeout(Some(t))
            .map_err(|_| ResolveError::Unreachable)?;
        write!(
            s,
            "GET /{path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|_| ResolveError::Unreachable)?;
        let mut buf = Vec::new();
        s.take((MAX_CERT + 4096) as u64)
            .read_to_end(&mut buf)
            .map_err(|_| ResolveError::Unreachable)?;
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or(ResolveError::Unreachable)?;
        let (head, body) = buf.split_at(split);
        let status_ok = head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200");
        let body = body.get(4..).unwrap_or_default();
        if !status_ok {
            return Err(ResolveError::Unreachable);
        }
        if body.len() > MAX_CERT {
            return Err(ResolveError::TooLarge);
        }
        Ok(body.to_vec())
    }
}

impl CertResolver for CliResolver {
    fn fetch(&mut self, url: &str) -> Result<Vec<u8>, ResolveError> {
        if url.starts_with("http://") {
            return self.http(url);
        }
        let mut last = ResolveError::Unsupported;
        for f in &mut self.files {
            match f.fetch(url) {
                Ok(b) => return Ok(b),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new(Exit::Local, format!("{what} {}: {e}", path.display())))
}

fn parent(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p)
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

/// The endpoint's identity configuration, or `None` when no identity option was given.
#[allow(clippy::disallowed_methods)] // the CLI is the driver: it reads the wall clock once for the endpoint
pub(crate) fn config(s: &IdentitySettings) -> Result<Option<IdentityConfig>, Failure> {
    if !(s.key.is_some() || !s.trust_anchors.is_empty() || s.required || s.anonymous) {
        return Ok(None);
    }
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut c = IdentityConfig::new((Instant::now(), unix));
    // never the working directory by default (issue 12 item 7)
    let mut dirs: Vec<PathBuf> = s.fetch_dirs.clone();
    if let (Some(key), Some(cert)) = (&s.key, &s.cert) {
        let info = match &s.info {
            Some(u) => u.clone(),
            None => {
                let abs = std::fs::canonicalize(cert).map_err(|e| {
                    Failure::new(
                        Exit::Local,
                        format!("--identity-cert {}: {e}", cert.display()),
                    )
                })?;
                format!("file://{}", abs.display())
            }
        };
        let signer = AuthService::new(
            &read(key, "--identity-key")?,
            &read(cert, "--identity-cert")?,
            &info,
        )
        .map_err(|e| Failure::new(Exit::Local, format!("identity: {e}")))?;
        c.signer = Some(Arc::new(signer));
        dirs.extend(parent(cert));
    }
    let mut anchors = TrustAnchors::new();
    for a in &s.trust_anchors {
        anchors.add(&read(a, "--trust-anchor")?).map_err(|e| {
            Failure::new(Exit::Local, format!("--trust-anchor {}: {e}", a.display()))
        })?;
        dirs.extend(parent(a));
    }
    if !anchors.is_empty() {
        c.verifier = Some(Verifier::new(anchors));
    }
    let mut http = Vec::new();
    for h in &s.fetch_http {
        let a: SocketAddr = h.parse().map_err(|_| {
            Failure::new(
                Exit::Usage,
                format!("--identity-fetch-http {h}: not an IP:PORT"),
            )
        })?;
        if !a.ip().is_loopback() {
            return Err(Failure::new(
                Exit::Usage,
                format!("--identity-fetch-http {h}: only loopback addresses"),
            ));
        }
        http.push(a);
    }
    let r: SharedResolver = Arc::new(Mutex::new(CliResolver::new(&dirs, &http)));
    c.resolver = Some(r);
    let mut allow = InfoAllow::default();
    allow.schemes = vec!["file".into()];
    if !http.is_empty() {
        allow.schemes.push("http".into());
        allow.hosts = http.iter().map(|a| a.ip().to_string()).collect();
    }
    c.info_allow = allow;
    c.policy = if s.required {
        IdentityPolicy::Required
    } else {
        IdentityPolicy::BestEffort
    };
    if let Some(p) = &s.peer_keys {
        c.known_peers = load_peer_keys(p)?;
    }
    c.peer_keys = s.peer_keys.clone();
    Ok(Some(c))
}

/// Largest peer-key cache file read.
const PEER_KEYS_MAX: u64 = 1 << 20;
/// How long reading or writing the peer-key cache may take (a file on a hung network mount).
const PEER_KEYS_DEADLINE: Duration = Duration::from_secs(2);

/// Runs `job` on its own thread, waiting at most [`PEER_KEYS_DEADLINE`].
fn with_deadline<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(job());
    });
    rx.recv_timeout(PEER_KEYS_DEADLINE).ok()
}

/// The peer-key cache at `path` (F-8.4b, P-7b), read before the endpoint starts: missing is empty; a
/// symbolic link is refused, not followed (a planted link must not choose whose keys we trust); a malformed
/// or unreadable file is an error the user sees.
fn load_peer_keys(path: &Path) -> Result<PeerKeyCache, Failure> {
    let p = path.to_path_buf();
    let r = with_deadline(
        move || match dtlsrtp_tokio::files::read_private(&p, PEER_KEYS_MAX) {
            Ok(None) => Ok(PeerKeyCache::new()),
            Ok(Some(b)) => PeerKeyCache::from_text(&String::from_utf8_lossy(&b)),
            Err(e) => Err(CacheFileError::Io(e.kind())),
        },
    );
    match r {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(Failure::new(
            Exit::Local,
            format!("--peer-keys {}: {e}", path.display()),
        )),
        None => Err(Failure::new(
            Exit::Local,
            format!("--peer-keys {}: not readable in time", path.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolver_refuses_non_loopback_http_and_files_outside_its_directories() {
        let dir = std::env::temp_dir().join(format!("dtlsrtp-sipid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.pem");
        std::fs::write(&f, b"PEM").unwrap();
        let mut r = CliResolver::new(std::slice::from_ref(&dir), &[]);
        let url = format!("file://{}", std::fs::canonicalize(&f).unwrap().display());
        assert_eq!(r.fetch(&url).unwrap(), b"PEM");
        assert_eq!(
            r.fetch("http://192.0.2.1/c.pem"),
            Err(ResolveError::Unsupported)
        );
        assert!(r.fetch("file:///etc/hostname").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Issue 12 item 7: `file://` is confined to configured directories, never the working directory by
    /// default (here the crate directory, where Cargo.toml is); `--identity-fetch-dir` adds one.
    #[test]
    fn r_2_identity_file_info_never_from_the_working_directory_by_default() {
        let cwd_file = std::env::current_dir().unwrap().join("Cargo.toml");
        let url = format!("file://{}", cwd_file.display());
        let mut s = IdentitySettings {
            required: true,
            ..IdentitySettings::default()
        };
        let c = config(&s).unwrap().unwrap();
        let r = c.resolver.unwrap();
        assert!(r.lock().unwrap().fetch(&url).is_err());
        s.fetch_dirs = vec![std::env::current_dir().unwrap()];
        let c = config(&s).unwrap().unwrap();
        let r = c.resolver.unwrap();
        assert!(r.lock().unwrap().fetch(&url).is_ok());
        assert!(c.info_allow.allows(&url));
        assert!(!c.info_allow.allows("http://127.0.0.1:8080/a.pem"));
    }

    #[test]
    fn resolver_fetches_http_on_loopback() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut b = [0u8; 512];
            let _ = s.read(&mut b).unwrap();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nCERT")
                .unwrap();
        });
        // not listed: refused without a connection (no loopback SSRF)
        let mut r = CliResolver::new(&[], &[]);
        assert_eq!(
            r.fetch(&format!("http://{addr}/a.pem")),
            Err(ResolveError::Unsupported)
        );
        let mut r = CliResolver::new(&[], &[addr]);
        assert_eq!(r.fetch(&format!("http://{addr}/a.pem")).unwrap(), b"CERT");
        h.join().unwrap();
    }

    #[test]
    fn file_resolver_stays_under_its_root() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("c.pem");
        std::fs::write(&inside, b"x").unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let mut r = FileResolver::under(&sub);
        assert_eq!(
            r.fetch("http://127.0.0.1/x"),
            Err(ResolveError::Unsupported)
        );
        assert_eq!(r.fetch("file://relative"), Err(ResolveError::Unsupported));
        // outside the root, also through `..`
        let url = format!("file://{}", inside.display());
        assert_eq!(r.fetch(&url), Err(ResolveError::Unsupported));
        let dotdot = format!("file://{}/../c.pem", sub.display());
        assert_eq!(r.fetch(&dotdot), Err(ResolveError::Unsupported));
        assert_eq!(
            r.fetch("file:///nonexistent/dtlsrtp-no-such-cert.pem"),
            Err(ResolveError::Unreachable)
        );
        let mut r = FileResolver::under(dir.path());
        assert_eq!(r.fetch(&url).unwrap(), b"x");
        assert_eq!(r.fetch(&dotdot).unwrap(), b"x");
        let dir_url = format!("file://{}", sub.display());
        assert_eq!(r.fetch(&dir_url), Err(ResolveError::Unreachable));
    }
}
