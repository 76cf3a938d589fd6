//! Owner-only files for the endpoint's secrets and trust state (issue 12 item 13; moved out of the sans-IO SIP
//! crate by issue 13 design item 3): the peer-key cache of continuity of authentication (F-8.4b, P-7b).
//!
//! Writing: the new contents go to a temporary file beside the target whose name carries 96 random bits (never
//! a predictable `FILE.tmp`), created with `create_new` (`O_CREAT | O_EXCL`: an existing name, a symbolic link
//! included, is never opened, so a link planted at any temporary name cannot redirect the write) and mode 0600,
//! then renamed over the target (`rename` replaces a link at the target itself, it does not follow it).
//!
//! Reading: [`read_private`] opens with `O_NOFOLLOW` (a symbolic link at the path is refused, not followed:
//! a planted link must not make us trust keys from a file the attacker controls), reads only a regular file,
//! and at most a bounded size.
//!
//! These are blocking calls: the driver runs them on the blocking pool with a deadline
//! ([`crate::endpoint`]'s peer-key store), the CLI off its loop; never on an event loop.

use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Tries this many fresh random names before giving up (each collision is a file someone else made).
const ATTEMPTS: usize = 8;

/// Creates `path` new (never through an existing name or link), owner-only, and writes `bytes` to it.
pub fn create_private_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
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
    getrandom::fill(&mut r).map_err(|_| io::Error::from(io::ErrorKind::Other))?;
    let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{hex}.tmp"));
    Ok(path.with_file_name(tmp))
}

/// Replaces `path` with `bytes`, owner-only, atomically (a reader sees the old file or the new one).
pub fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
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

/// Reads `path` if it exists: `Ok(None)` when it does not. A symbolic link at `path` is refused (`O_NOFOLLOW`:
/// an error, never followed), as is anything but a regular file or a file over `max` octets
/// (`InvalidData`).
pub fn read_private(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    let f = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() > max {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(io::ErrorKind::InvalidData.into());
    }
    Ok(Some(buf))
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

    /// A symbolic link at the path is refused, not followed (the target's contents never read); a missing
    /// file is `None`; a directory, a FIFO and an oversized file are refused.
    #[test]
    fn sec_files_read_private_refuses_links_and_non_files() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "secret").unwrap();
        assert_eq!(read_private(&real, 64).unwrap().unwrap(), b"secret");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(read_private(&link, 64).is_err(), "a link is not followed");
        assert!(read_private(&dir.path().join("absent"), 64)
            .unwrap()
            .is_none());
        assert!(read_private(dir.path(), 64).is_err(), "a directory");
        assert!(read_private(&real, 3).is_err(), "over the size bound");
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file system entry.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) } == 0;
        if made {
            assert!(read_private(&fifo, 64).is_err(), "a FIFO never blocks us");
        }
    }
}
