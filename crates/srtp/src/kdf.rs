//! The SRTP key derivation function of RFC 3711 §4.3 with KDR = 0 (S-1, D-4.1.2b), for the AES-128 and
//! AES-256 CM PRFs (RFC 6188 §7).

use zeroize::Zeroizing;

use crate::backend::{BadKeyLength, CryptoBackend};

/// The six labels of RFC 3711 §4.3.1 (S-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Label {
    RtpEncryption = 0,
    RtpAuth = 1,
    RtpSalt = 2,
    RtcpEncryption = 3,
    RtcpAuth = 4,
    RtcpSalt = 5,
}

/// Derives `out.len()` octets for `label` from the master key and master salt. A 12-octet (GCM) master
/// salt is right-padded with two zero octets to the 14 octets the KDF takes (S-6).
pub(crate) fn derive(
    backend: &dyn CryptoBackend,
    master_key: &[u8],
    master_salt: &[u8],
    label: Label,
    out: &mut [u8],
) -> Result<(), BadKeyLength> {
    let prf = backend.aes_ctr(master_key)?;
    derive_with(&*prf, master_salt, label, out);
    Ok(())
}

/// [`derive`] with an already keyed PRF.
pub(crate) fn derive_with(
    prf: &dyn crate::backend::AesCtr,
    master_salt: &[u8],
    label: Label,
    out: &mut [u8],
) {
    // x = (label ‖ index DIV kdr) XOR master_salt, with index DIV kdr = 0 for KDR 0; the label lands in octet
    // 7 of the 14-octet salt. The AES-CM input is x·2^16.
    let mut iv = Zeroizing::new([0u8; 16]);
    for (d, s) in iv.iter_mut().zip(master_salt.iter().take(14)) {
        *d = *s;
    }
    iv[7] ^= label as u8;
    out.fill(0);
    prf.apply_keystream(&iv, out);
}

/// Session keys for one of RTP or RTCP.
pub(crate) struct SessionKeys {
    /// Encryption key (empty for NULL).
    pub(crate) enc: Zeroizing<Vec<u8>>,
    /// HMAC-SHA1 key (empty for AEAD).
    pub(crate) auth: Zeroizing<Vec<u8>>,
    /// Session salt: 14 octets for CM, 12 for GCM.
    pub(crate) salt: Zeroizing<Vec<u8>>,
}

/// Derives the RTP (`rtcp == false`) or RTCP session keys with the given lengths.
pub(crate) fn session_keys(
    backend: &dyn CryptoBackend,
    master_key: &[u8],
    master_salt: &[u8],
    rtcp: bool,
    enc_len: usize,
    auth_len: usize,
    salt_len: usize,
) -> Result<SessionKeys, BadKeyLength> {
    let prf = backend.aes_ctr(master_key)?;
    let (le, la, ls) = if rtcp {
        (Label::RtcpEncryption, Label::RtcpAuth, Label::RtcpSalt)
    } else {
        (Label::RtpEncryption, Label::RtpAuth, Label::RtpSalt)
    };
    let mut keys = SessionKeys {
        enc: Zeroizing::new(vec![0; enc_len]),
        auth: Zeroizing::new(vec![0; auth_len]),
        salt: Zeroizing::new(vec![0; salt_len]),
    };
    derive_with(&*prf, master_salt, le, &mut keys.enc);
    derive_with(&*prf, master_salt, la, &mut keys.auth);
    derive_with(&*prf, master_salt, ls, &mut keys.salt);
    Ok(keys)
}
