//! The endpoint's identity I/O (issue 13 design item 3): the sans-IO endpoint names what it needs, the driver
//! does it off the event loop with a deadline and feeds the answer back.
//!
//! - Certificates at Identity `info` URLs: [`dtlsrtp::Event::FetchCertificate`], run on the blocking pool until
//!   the endpoint's deadline ([`super::Driver`]'s `fetch_certificate`).
//! - The peer-key cache of continuity of authentication (F-8.4b, P-7b): [`preload`] reads
//!   [`dtlsrtp::IdentityConfig::peer_keys`] into `known_peers` before the endpoint exists (no call can be
//!   verified against a half-loaded cache); [`PeerKeyStore`] writes each
//!   [`dtlsrtp::Event::StorePeerKeys`] snapshot, newest wins, one write at a time.
//!
//! Files are read refusing symbolic links and written owner-only and atomically ([`crate::files`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use dtlsrtp_sip::identity::{CacheFileError, PeerKeyCache};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::files;

/// Largest peer-key cache file read.
pub const PEER_KEYS_MAX: u64 = 1 << 20;
/// How long reading or writing the peer-key cache may take (a file on a hung network mount).
pub const FILE_DEADLINE: Duration = Duration::from_secs(2);

/// Reads the peer-key cache at `path` (blocking): a missing file is an empty cache; a symbolic link, a
/// non-regular file, an oversized or malformed one is an error.
pub fn load_peer_keys(path: &Path) -> Result<PeerKeyCache, CacheFileError> {
    match files::read_private(path, PEER_KEYS_MAX) {
        Ok(None) => Ok(PeerKeyCache::new()),
        Ok(Some(b)) => PeerKeyCache::from_text(&String::from_utf8_lossy(&b)),
        Err(e) => Err(CacheFileError::Io(e.kind())),
    }
}

/// Writes the peer-key cache at `path` (blocking), owner-only and atomically.
pub fn save_peer_keys(path: &Path, cache: &PeerKeyCache) -> Result<(), CacheFileError> {
    files::replace_private(path, cache.to_text().as_bytes())
        .map_err(|e| CacheFileError::Io(e.kind()))
}

/// Loads the configured peer-key cache into `known_peers` (unless the application already did), on the
/// blocking pool within [`FILE_DEADLINE`]. A cache that cannot be read starts empty (logged): the first
/// new peer's write replaces the file (a link there is replaced, never followed).
pub(super) async fn preload(cfg: &mut dtlsrtp::Config) {
    let Some(id) = cfg.identity.as_mut() else {
        return;
    };
    let Some(path) = id.peer_keys.clone().filter(|_| id.known_peers.is_empty()) else {
        return;
    };
    let p = path.clone();
    let job = tokio::task::spawn_blocking(move || load_peer_keys(&p));
    match tokio::time::timeout(FILE_DEADLINE, job).await {
        Ok(Ok(Ok(c))) => id.known_peers = c,
        Ok(Ok(Err(e))) => tracing::warn!("peer-key cache {}: {e}", path.display()),
        _ => tracing::warn!("peer-key cache {}: not read in time", path.display()),
    }
}

/// Writes peer-key cache snapshots in the background: the newest snapshot wins, one write at a time, each
/// bounded by [`FILE_DEADLINE`]. Dropping it lets a pending write finish.
#[derive(Debug)]
pub(super) struct PeerKeyStore {
    tx: watch::Sender<Option<(PathBuf, PeerKeyCache)>>,
    _task: JoinHandle<()>,
}

impl PeerKeyStore {
    pub(super) fn new() -> Self {
        let (tx, mut rx) = watch::channel(None::<(PathBuf, PeerKeyCache)>);
        let task = tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some((path, cache)) = rx.borrow_and_update().clone() else {
                    continue;
                };
                let shown = path.clone();
                let job = tokio::task::spawn_blocking(move || save_peer_keys(&path, &cache));
                match tokio::time::timeout(FILE_DEADLINE, job).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(e))) => tracing::warn!("peer-key cache {}: {e}", shown.display()),
                    _ => tracing::warn!("peer-key cache {}: not written in time", shown.display()),
                }
            }
        });
        Self { tx, _task: task }
    }

    /// Queues `cache` for `path` (replacing a snapshot not yet written).
    pub(super) fn store(&self, path: PathBuf, cache: PeerKeyCache) {
        self.tx.send_replace(Some((path, cache)));
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn cache(b: u8) -> PeerKeyCache {
        let mut c = PeerKeyCache::new();
        c.accept("sip:bob@example.com", &[("sha-256".into(), vec![b; 32])])
            .unwrap();
        c
    }

    /// F-8.4b cache file: links planted at the old fixed name and at the target's temporary names leave their
    /// targets untouched; the saved cache is 0600 and loads back.
    #[test]
    fn f_8_4b_sec_files_peer_key_cache_save_never_follows_planted_links() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.txt");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        for planted in ["peers.txt.tmp", ".peers.txt.tmp", "peers.txt~"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(planted)).unwrap();
        }
        let c = cache(7);
        save_peer_keys(&path, &c).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(mode(&victim), 0o644);
        assert_eq!(mode(&path), 0o600);
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_file());
        assert_eq!(load_peer_keys(&path).unwrap(), c);
    }

    /// F-8.4b, P-7b: the cache is not loaded through a symbolic link: a link planted at the cache path
    /// pointing at a file of the attacker's keys is refused (those keys are never trusted), and the next save
    /// replaces the link itself, leaving its target untouched.
    #[test]
    fn f_8_4b_sec_files_peer_key_cache_load_refuses_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.txt");
        let evil = dir.path().join("evil");
        std::fs::write(&evil, cache(0xee).to_text()).unwrap();
        std::os::unix::fs::symlink(&evil, &path).unwrap();
        assert!(matches!(load_peer_keys(&path), Err(CacheFileError::Io(_))));
        save_peer_keys(&path, &cache(1)).unwrap();
        assert_eq!(
            std::fs::read_to_string(&evil).unwrap(),
            cache(0xee).to_text()
        );
        assert_eq!(load_peer_keys(&path).unwrap(), cache(1));
        // missing: empty; malformed: an error
        assert!(load_peer_keys(&dir.path().join("none")).unwrap().is_empty());
        std::fs::write(dir.path().join("bad"), "x sha-256\n").unwrap();
        assert_eq!(
            load_peer_keys(&dir.path().join("bad")),
            Err(CacheFileError::Line(1))
        );
    }

    /// Snapshots are written in the background, newest last.
    #[tokio::test]
    async fn f_8_4b_peer_key_store_writes_the_newest_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.txt");
        let store = PeerKeyStore::new();
        store.store(path.clone(), cache(1));
        store.store(path.clone(), cache(2));
        let mut loaded = PeerKeyCache::new();
        for _ in 0..200 {
            loaded = load_peer_keys(&path).unwrap();
            if loaded == cache(2) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(loaded, cache(2));
        assert_eq!(mode(&path), 0o600);
    }
}
