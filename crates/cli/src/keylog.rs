//! `--keylog FILE`: the DTLS secrets in the NSS `SSLKEYLOGFILE` format (what Wireshark reads to decrypt DTLS)
//! plus the SRTP master keys and salts of each call, so a capture of the call can be fully decrypted.
//!
//! These are secrets: the file is only written when asked for, never through a symbolic link, always owner-only
//! (an existing file is made 0600 first), and a warning goes to stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use dtlsrtp::KeyLog;
use dtlsrtp::SrtpKeyingMaterial;
use dtlsrtp_types::DtlsRole;

use crate::{Exit, Failure};

/// An append-only key log file.
#[derive(Debug)]
pub(crate) struct FileKeyLog {
    file: Mutex<File>,
}

impl FileKeyLog {
    /// Opens (appends to) the file and warns on stderr. The file holds secrets, so (issue 12 item 13):
    /// - a symbolic link as the last path component is refused (`O_NOFOLLOW`: the link's target is never
    ///   opened, created or changed), and so is anything that is not a regular file (a FIFO cannot block us:
    ///   `O_NONBLOCK`);
    /// - a new file is created owner-only (0600); an existing one is switched to 0600 on the open descriptor
    ///   (`fchmod`) before anything is written, and refused when that fails (a file of another user).
    pub(crate) fn open(path: &Path) -> Result<Self, Failure> {
        let fail =
            |what: String| Failure::new(Exit::Local, format!("keylog {}: {what}", path.display()));
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
        }
        let file = opts.open(path).map_err(|e| {
            #[cfg(unix)]
            if e.raw_os_error() == Some(libc::ELOOP) {
                return fail(
                    "refusing a symbolic link (secrets are only written to a regular file)".into(),
                );
            }
            fail(e.to_string())
        })?;
        let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o7777 != 0o600 {
                // fchmod on the descriptor we write through: no window in which another path is changed.
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| fail(format!("cannot make it owner-only (0600): {e}")))?;
            }
        }
        eprintln!(
            "dtlsrtp: WARNING: writing DTLS and SRTP secrets to {} (--keylog): anyone who reads it can decrypt these calls",
            path.display()
        );
        Ok(Self {
            file: Mutex::new(file),
        })
    }

    fn write(&self, line: &str) {
        if let Ok(mut f) = self.file.lock() {
            // A failed write loses a debugging aid, never the call.
            let _ = writeln!(f, "{line}");
        }
    }

    /// Logs both directions' SRTP master key and salt as comment lines (`#` lines are ignored by SSLKEYLOGFILE
    /// readers): `# SRTP <profile> <local|remote> <who> key=<hex> salt=<hex>`, our own direction first.
    pub(crate) fn log_srtp(&self, who: &str, keys: &SrtpKeyingMaterial, role: DtlsRole) {
        let (tx, rx) = keys.for_role(role);
        for (dir, m) in [("local", tx), ("remote", rx)] {
            self.write(&format!(
                "# SRTP {} {dir} {who} key={} salt={}",
                keys.profile(),
                hex(m.key.expose()),
                hex(m.salt.expose())
            ));
        }
    }
}

impl KeyLog for FileKeyLog {
    fn log_line(&self, line: &str) {
        self.write(line);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtlsrtp_types::SrtpProfile;

    #[test]
    fn writes_ssl_lines_and_srtp_keys_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.log");
        let log = FileKeyLog::open(&path).unwrap();
        log.log_line("CLIENT_RANDOM 00 11");
        let profile = SrtpProfile::Aes128CmHmacSha1_80;
        let exported: Vec<u8> = (0..profile.exporter_len() as u8).collect();
        let keys = SrtpKeyingMaterial::from_exporter(profile, &exported).unwrap();
        log.log_srtp("alice", &keys, DtlsRole::Client);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "CLIENT_RANDOM 00 11");
        // RFC 5764 §4.2 layout: client key | server key | client salt | server salt (16, 16, 14, 14).
        assert_eq!(
            lines[1],
            format!(
                "# SRTP {profile} local alice key={} salt={}",
                hex(&exported[0..16]),
                hex(&exported[32..46])
            )
        );
        assert!(lines[2].contains(&format!("remote alice key={}", hex(&exported[16..32]))));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}

/// Issue 12 item 13: the key log never follows a symbolic link and always ends owner-only.
#[cfg(all(test, unix))]
mod sec_files_tests {
    #![allow(clippy::unwrap_used)] // test helpers
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn sec_files_keylog_symlink_refused_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.path().join("keys.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = FileKeyLog::open(&link).unwrap_err();
        assert!(e.message.contains("symbolic link"), "{}", e.message);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        assert_eq!(mode(&target), 0o644, "the target's mode is unchanged");
        // a dangling link is not followed to create its target either
        let nowhere = dir.path().join("nowhere");
        let dangling = dir.path().join("dangling.log");
        std::os::unix::fs::symlink(&nowhere, &dangling).unwrap();
        assert!(FileKeyLog::open(&dangling).is_err());
        assert!(!nowhere.exists(), "no file created through the link");
    }

    #[test]
    fn sec_files_keylog_existing_0644_file_becomes_0600_and_is_appended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.log");
        std::fs::write(&path, "# earlier\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let log = FileKeyLog::open(&path).unwrap();
        assert_eq!(
            mode(&path),
            0o600,
            "made owner-only before any secret is written"
        );
        log.log_line("CLIENT_RANDOM 00 11");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# earlier\nCLIENT_RANDOM 00 11\n");
    }

    #[test]
    fn sec_files_keylog_not_a_regular_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        // a directory, and a FIFO (which must not block the open)
        assert!(FileKeyLog::open(dir.path()).is_err());
        let fifo = dir.path().join("fifo");
        let st = std::process::Command::new("mkfifo").arg(&fifo).status();
        if st.is_ok_and(|s| s.success()) {
            // refused at once (ENXIO without a reader, "not a regular file" with one), never blocking
            assert!(FileKeyLog::open(&fifo).is_err());
        }
    }
}
