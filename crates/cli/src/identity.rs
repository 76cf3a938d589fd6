//! The persistent identity: one certificate per user, generated once into the config directory, so that peers
//! (and people comparing fingerprints by voice) see the same fingerprint call after call (F-8.4a continuity).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use dtlsrtp::{Certificate, KeyType};

use crate::{Exit, Failure};

/// File name of the identity (certificate and key in one PEM) inside the config directory.
pub(crate) const IDENTITY_FILE: &str = "identity.pem";
/// Validity of a generated certificate, in days.
const DAYS: u32 = 3650;

/// The config directory: the override, else `$XDG_CONFIG_HOME/dtlsrtp`, else `$HOME/.config/dtlsrtp`.
pub(crate) fn config_dir(overridden: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(dir) = overridden {
        return Ok(dir.to_path_buf());
    }
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("dtlsrtp"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("dtlsrtp")),
        None => Err(Failure::new(
            Exit::Local,
            "no config directory: set XDG_CONFIG_HOME or HOME, or pass --config-dir or --cert",
        )),
    }
}

/// Where the identity came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// `--cert`/`--key`.
    Given(PathBuf),
    /// Loaded from the config directory.
    Loaded(PathBuf),
    /// Generated now and saved to the config directory.
    Created(PathBuf),
}

/// Loads `--cert` (with `--key` when the key is separate), or the config directory's identity, creating it
/// (ECDSA P-256, owner-only permissions) on first use.
pub(crate) fn load_or_create(
    cert: Option<&Path>,
    key: Option<&Path>,
    dir: Option<&Path>,
) -> Result<(Certificate, Origin), Failure> {
    if let Some(cert_path) = cert {
        let mut pem = read(cert_path)?;
        if let Some(key_path) = key {
            pem.push(b'\n');
            pem.extend(read(key_path)?);
        }
        let c = Certificate::from_pem(&pem)
            .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", cert_path.display())))?;
        return Ok((c, Origin::Given(cert_path.to_path_buf())));
    }
    let dir = config_dir(dir)?;
    let path = dir.join(IDENTITY_FILE);
    if path.exists() {
        let c = Certificate::from_pem(&read(&path)?)
            .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?;
        return Ok((c, Origin::Loaded(path)));
    }
    let c = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp", DAYS)
        .map_err(|e| Failure::new(Exit::Local, format!("certificate: {e}")))?;
    let pem = c
        .to_pem()
        .map_err(|e| Failure::new(Exit::Local, format!("certificate: {e}")))?;
    fs::create_dir_all(&dir)
        .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", dir.display())))?;
    // Written whole under a temporary name, then linked into place: a second process starting at the same
    // moment either links first (we then load its identity) or finds the complete file, never half of it.
    let mut r = [0u8; 8];
    crate::os_random(&mut r);
    let tmp = dir.join(format!("{IDENTITY_FILE}.{}.tmp", u64::from_be_bytes(r)));
    write_private(&tmp, &pem)?;
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    if let Err(e) = linked {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            let c = Certificate::from_pem(&read(&path)?)
                .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?;
            return Ok((c, Origin::Loaded(path)));
        }
        return Err(Failure::new(
            Exit::Local,
            format!("{}: {e}", path.display()),
        ));
    }
    Ok((c, Origin::Created(path)))
}

fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    fs::read(path)
        .map_err(|e| Failure::new(Exit::Local, format!("cannot read {}: {e}", path.display())))
}

/// Writes a secret file readable by its owner only (created new: an existing file is not overwritten).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtlsrtp_types::HashFunction;

    #[test]
    fn generated_once_then_reused_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cfg");
        let (a, o1) = load_or_create(None, None, Some(&sub)).unwrap();
        assert!(matches!(o1, Origin::Created(_)));
        let (b, o2) = load_or_create(None, None, Some(&sub)).unwrap();
        assert!(matches!(o2, Origin::Loaded(_)));
        assert_eq!(
            a.fingerprint(HashFunction::Sha256).unwrap(),
            b.fingerprint(HashFunction::Sha256).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(sub.join(IDENTITY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn cert_and_separate_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = Certificate::generate(KeyType::EcdsaP256, "t", 1).unwrap();
        let pem = String::from_utf8(c.to_pem().unwrap()).unwrap();
        let split = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
        fs::write(dir.path().join("c.pem"), &pem[..split]).unwrap();
        fs::write(dir.path().join("k.pem"), &pem[split..]).unwrap();
        let (got, origin) = load_or_create(
            Some(&dir.path().join("c.pem")),
            Some(&dir.path().join("k.pem")),
            None,
        )
        .unwrap();
        assert!(matches!(origin, Origin::Given(_)));
        assert_eq!(got.der(), c.der());
        // The certificate alone has no key: a clear local error.
        let e = load_or_create(Some(&dir.path().join("c.pem")), None, None).unwrap_err();
        assert_eq!(e.exit, Exit::Local);
    }

    /// Two processes creating the identity at once end up with the same one.
    #[test]
    fn concurrent_creation_yields_one_identity() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("cfg");
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || load_or_create(None, None, Some(&d)).unwrap().0)
            })
            .collect();
        let fps: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().unwrap().fingerprint(HashFunction::Sha256).unwrap())
            .collect();
        assert!(fps.windows(2).all(|w| w[0] == w[1]), "{fps:?}");
    }

    #[test]
    fn config_dir_override_wins() {
        let d = config_dir(Some(Path::new("/x/y"))).unwrap();
        assert_eq!(d, PathBuf::from("/x/y"));
    }
}
