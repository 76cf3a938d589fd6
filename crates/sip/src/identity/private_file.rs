//! Owner-only files replaced atomically (issue 12 item 13): the peer-key cache ([`super::PeerKeyCache::save`]).
//!
//! The new contents go to a temporary file beside the target whose name carries 96 random bits (never a
//! predictable `FILE.tmp`), created with `create_new` (`O_CREAT | O_EXCL`: an existing name, a symbolic link
//! included, is never opened, so a link planted at any temporary name cannot redirect the write) and mode 0600,
//! then renamed over the target (`rename` replaces a link at the target itself, it does not follow it).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Tries this many fresh random names before giving up (each collision is a file someone else made).
const ATTEMPTS: usize = 8;

/// Creates `path` new (never through an existing name or link), owner-only, and writes `bytes` to it.
pub(crate) fn create_private_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn temp_name(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut r = [0u8; 12];
    openssl::rand::rand_bytes(&mut r).map_err(|_| io::Error::from(io::ErrorKind::Other))?;
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{hex}.tmp"));
    Ok(path.with_file_name(tmp))
}

/// Replaces `path` with `bytes`, owner-only, atomically (a reader sees the old file or the new one).
pub(crate) fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    for _ in 0..ATTEMPTS {
        let tmp = temp_name(path)?;
        match create_private_new(&tmp, bytes) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
        return std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        });
    }
    Err(io::ErrorKind::AlreadyExists.into())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn sec_files_create_private_new_never_follows_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("planted");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = create_private_new(&link, b"evil").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let nowhere = dir.path().join("nowhere");
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        assert!(create_private_new(&dangling, b"evil").is_err());
        assert!(!nowhere.exists(), "nothing created through a dangling link");
    }

    #[test]
    fn sec_files_replace_private_names_are_unpredictable_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.txt");
        let a = temp_name(&path).unwrap();
        let b = temp_name(&path).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            a.parent(),
            Some(dir.path()),
            "beside the target (same file system)"
        );
        replace_private(&path, b"one").unwrap();
        replace_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        assert_eq!(mode(&path), 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
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
        let mut cache = crate::identity::PeerKeyCache::new();
        cache
            .accept("sip:bob@example.com", &[("sha-256".into(), vec![7; 32])])
            .unwrap();
        cache.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(mode(&victim), 0o644);
        assert_eq!(mode(&path), 0o600);
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_file());
        assert_eq!(crate::identity::PeerKeyCache::load(&path).unwrap(), cache);
    }
}
