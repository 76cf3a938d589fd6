//! `--keylog FILE`: the DTLS secrets in the NSS `SSLKEYLOGFILE` format (what Wireshark reads to decrypt DTLS)
//! plus the SRTP master keys and salts of each call, so a capture of the call can be fully decrypted.
//!
//! These are secrets: the file is only written when asked for, created owner-only, and a warning goes to stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use dtlsrtp_dtls::KeyLog;
use dtlsrtp_srtp::{DtlsRole, SrtpKeyingMaterial};

use crate::{Exit, Failure};

/// An append-only key log file.
#[derive(Debug)]
pub(crate) struct FileKeyLog {
    file: Mutex<File>,
}

impl FileKeyLog {
    /// Opens (appends to) the file, owner-only when created, and warns on stderr.
    pub(crate) fn open(path: &Path) -> Result<Self, Failure> {
        let mut opts = OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts
            .open(path)
            .map_err(|e| Failure::new(Exit::Local, format!("keylog {}: {e}", path.display())))?;
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
    use dtlsrtp_srtp::SrtpProfile;

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
