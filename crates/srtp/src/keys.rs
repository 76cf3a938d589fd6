//! Key material exported by DTLS and its split per direction (RFC 5764 §4.2, requirements.md §2.2).

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{DtlsRole, SrtpProfile};

/// Why key material could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The exporter output is not 2·(key + salt) octets for the profile.
    #[error("key material is {got} octets, the profile needs {expected}")]
    WrongLength {
        /// What the profile needs.
        expected: usize,
        /// What was given.
        got: usize,
    },
}

/// An SRTP master key (16 or 32 octets). Zeroized on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey(Vec<u8>);

/// An SRTP master salt (14 octets for CM/NULL, 12 for GCM). Zeroized on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MasterSalt(Vec<u8>);

impl MasterKey {
    /// Wraps key bytes. The length is checked where the key meets a profile.
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
    /// The secret bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl MasterSalt {
    /// Wraps salt bytes. The length is checked where the salt meets a profile.
    pub fn new(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
    /// The secret bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(<{} octets redacted>)", self.0.len())
    }
}

impl fmt::Debug for MasterSalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterSalt(<{} octets redacted>)", self.0.len())
    }
}

/// One direction's master key and salt, with the profile they are for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMaster {
    /// The protection profile.
    pub profile: SrtpProfile,
    /// The master key.
    pub key: MasterKey,
    /// The master salt.
    pub salt: MasterSalt,
}

impl SessionMaster {
    /// Builds one direction's master from raw key and salt, checking their lengths against the profile.
    pub fn new(profile: SrtpProfile, key: &[u8], salt: &[u8]) -> Result<Self, KeyError> {
        if key.len() != profile.master_key_len() {
            return Err(KeyError::WrongLength {
                expected: profile.master_key_len(),
                got: key.len(),
            });
        }
        if salt.len() != profile.master_salt_len() {
            return Err(KeyError::WrongLength {
                expected: profile.master_salt_len(),
                got: salt.len(),
            });
        }
        Ok(Self {
            profile,
            key: MasterKey::new(key),
            salt: MasterSalt::new(salt),
        })
    }
}

/// The keying material of one DTLS-SRTP association, split per RFC 5764 §4.2:
/// `client key | server key | client salt | server salt` (D-4.2a).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpKeyingMaterial {
    client: SessionMaster,
    server: SessionMaster,
}

impl SrtpKeyingMaterial {
    /// Splits the output of the exporter (label `EXTRACTOR-dtls_srtp`, no context, `profile.exporter_len()`
    /// octets). D-4.2a.
    pub fn from_exporter(profile: SrtpProfile, exported: &[u8]) -> Result<Self, KeyError> {
        let k = profile.master_key_len();
        let s = profile.master_salt_len();
        if exported.len() != profile.exporter_len() {
            return Err(KeyError::WrongLength {
                expected: profile.exporter_len(),
                got: exported.len(),
            });
        }
        let (client_key, rest) = exported.split_at(k);
        let (server_key, rest) = rest.split_at(k);
        let (client_salt, server_salt) = rest.split_at(s);
        Ok(Self {
            client: SessionMaster::new(profile, client_key, client_salt)?,
            server: SessionMaster::new(profile, server_key, server_salt)?,
        })
    }

    /// The negotiated profile.
    pub fn profile(&self) -> SrtpProfile {
        self.client.profile
    }

    /// The client-write master (what the DTLS client protects with).
    pub fn client_write(&self) -> &SessionMaster {
        &self.client
    }

    /// The server-write master (what the DTLS server protects with).
    pub fn server_write(&self) -> &SessionMaster {
        &self.server
    }

    /// `(local transmit, remote transmit)` for our DTLS role: the client sends with client keys and receives
    /// with server keys, and the server the reverse (D-4.2b).
    pub fn for_role(&self, role: DtlsRole) -> (&SessionMaster, &SessionMaster) {
        match role {
            DtlsRole::Client => (&self.client, &self.server),
            DtlsRole::Server => (&self.server, &self.client),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// requirements.md §3.6 (project-derived exporter layout vector).
    const EXPORT_88: &str = "d4f0a9e6a63cd8cbe8bd56feaa31a87adc948c5a833439e5e3e895798a3264ea774bc606065dd84b66c185f9377b5217a2009bb1fb919e0b598b92d928c8c6fde21e835500139262dc3e1f874b502c2ab91f9c25c2012573";

    fn hexs(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn d_4_2a_split_cm_128() {
        let all = hexs(EXPORT_88);
        let km = SrtpKeyingMaterial::from_exporter(SrtpProfile::Aes128CmHmacSha1_80, &all[..60])
            .unwrap();
        assert_eq!(
            km.client_write().key.expose(),
            hexs("d4f0a9e6a63cd8cbe8bd56feaa31a87a")
        );
        assert_eq!(
            km.server_write().key.expose(),
            hexs("dc948c5a833439e5e3e895798a3264ea")
        );
        assert_eq!(
            km.client_write().salt.expose(),
            hexs("774bc606065dd84b66c185f9377b")
        );
        assert_eq!(
            km.server_write().salt.expose(),
            hexs("5217a2009bb1fb919e0b598b92d9")
        );
    }

    #[test]
    fn d_4_2a_split_gcm() {
        let all = hexs(EXPORT_88);
        let km = SrtpKeyingMaterial::from_exporter(SrtpProfile::AeadAes128Gcm, &all[..56]).unwrap();
        assert_eq!(
            km.client_write().salt.expose(),
            hexs("774bc606065dd84b66c185f9")
        );
        assert_eq!(
            km.server_write().salt.expose(),
            hexs("377b5217a2009bb1fb919e0b")
        );
        let km = SrtpKeyingMaterial::from_exporter(SrtpProfile::AeadAes256Gcm, &all).unwrap();
        assert_eq!(
            km.server_write().key.expose(),
            hexs("774bc606065dd84b66c185f9377b5217a2009bb1fb919e0b598b92d928c8c6fd")
        );
        assert_eq!(
            km.client_write().salt.expose(),
            hexs("e21e835500139262dc3e1f87")
        );
        assert_eq!(
            km.server_write().salt.expose(),
            hexs("4b502c2ab91f9c25c2012573")
        );
    }

    #[test]
    fn d_4_2b_directions_and_lengths() {
        let all = hexs(EXPORT_88);
        let km = SrtpKeyingMaterial::from_exporter(SrtpProfile::Aes128CmHmacSha1_80, &all[..60])
            .unwrap();
        let (ctx, crx) = km.for_role(DtlsRole::Client);
        let (stx, srx) = km.for_role(DtlsRole::Server);
        assert_eq!(ctx, srx);
        assert_eq!(crx, stx);
        assert_ne!(ctx, crx);
        assert_eq!(
            SrtpKeyingMaterial::from_exporter(SrtpProfile::Aes128CmHmacSha1_80, &all[..59]),
            Err(KeyError::WrongLength {
                expected: 60,
                got: 59
            })
        );
        assert!(
            !format!("{km:?}").contains("d4"),
            "Debug must redact secrets"
        );
    }
}
