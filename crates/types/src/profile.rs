//! The DTLS-SRTP protection profiles: one table (requirements.md §2.1).

use core::fmt;
use core::str::FromStr;

/// A DTLS-SRTP protection profile (IANA "DTLS-SRTP Protection Profiles", RFC 5764 §4.1.2, RFC 7714 §14.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SrtpProfile {
    /// SRTP_AES128_CM_HMAC_SHA1_80, code point 0x0001.
    Aes128CmHmacSha1_80,
    /// SRTP_AES128_CM_HMAC_SHA1_32, code point 0x0002 (the SRTCP tag stays 80 bits).
    Aes128CmHmacSha1_32,
    /// SRTP_NULL_HMAC_SHA1_80, code point 0x0005: no confidentiality, never offered by default.
    NullHmacSha1_80,
    /// SRTP_NULL_HMAC_SHA1_32, code point 0x0006: no confidentiality, never offered by default.
    NullHmacSha1_32,
    /// SRTP_AEAD_AES_128_GCM, code point 0x0007.
    AeadAes128Gcm,
    /// SRTP_AEAD_AES_256_GCM, code point 0x0008.
    AeadAes256Gcm,
}

/// One row of the profile table.
struct Row {
    profile: SrtpProfile,
    code_point: u16,
    rfc_name: &'static str,
    openssl_name: &'static str,
    master_key_len: usize,
    master_salt_len: usize,
    /// Session encryption key length (0 for NULL).
    cipher_key_len: usize,
    /// HMAC-SHA1 session auth key length (0 for AEAD).
    auth_key_len: usize,
    srtp_tag_len: usize,
    srtcp_tag_len: usize,
    /// Maximum packets per master key for SRTP (D-4.4).
    srtp_lifetime: u64,
    /// Maximum packets per master key for SRTCP (D-4.4).
    srtcp_lifetime: u64,
}

const P31: u64 = 1 << 31;
const P48: u64 = 1 << 48;

/// The table of requirements.md §2.1. NULL profiles use libsrtp's 16/14 master lengths.
const TABLE: [Row; 6] = [
    Row {
        profile: SrtpProfile::Aes128CmHmacSha1_80,
        code_point: 0x0001,
        rfc_name: "SRTP_AES128_CM_HMAC_SHA1_80",
        openssl_name: "SRTP_AES128_CM_SHA1_80",
        master_key_len: 16,
        master_salt_len: 14,
        cipher_key_len: 16,
        auth_key_len: 20,
        srtp_tag_len: 10,
        srtcp_tag_len: 10,
        srtp_lifetime: P31,
        srtcp_lifetime: P31,
    },
    Row {
        profile: SrtpProfile::Aes128CmHmacSha1_32,
        code_point: 0x0002,
        rfc_name: "SRTP_AES128_CM_HMAC_SHA1_32",
        openssl_name: "SRTP_AES128_CM_SHA1_32",
        master_key_len: 16,
        master_salt_len: 14,
        cipher_key_len: 16,
        auth_key_len: 20,
        srtp_tag_len: 4,
        srtcp_tag_len: 10,
        srtp_lifetime: P31,
        srtcp_lifetime: P31,
    },
    Row {
        profile: SrtpProfile::NullHmacSha1_80,
        code_point: 0x0005,
        rfc_name: "SRTP_NULL_HMAC_SHA1_80",
        openssl_name: "SRTP_NULL_SHA1_80",
        master_key_len: 16,
        master_salt_len: 14,
        cipher_key_len: 0,
        auth_key_len: 20,
        srtp_tag_len: 10,
        srtcp_tag_len: 10,
        srtp_lifetime: P31,
        srtcp_lifetime: P31,
    },
    Row {
        profile: SrtpProfile::NullHmacSha1_32,
        code_point: 0x0006,
        rfc_name: "SRTP_NULL_HMAC_SHA1_32",
        openssl_name: "SRTP_NULL_SHA1_32",
        master_key_len: 16,
        master_salt_len: 14,
        cipher_key_len: 0,
        auth_key_len: 20,
        srtp_tag_len: 4,
        srtcp_tag_len: 10,
        srtp_lifetime: P31,
        srtcp_lifetime: P31,
    },
    Row {
        profile: SrtpProfile::AeadAes128Gcm,
        code_point: 0x0007,
        rfc_name: "SRTP_AEAD_AES_128_GCM",
        openssl_name: "SRTP_AEAD_AES_128_GCM",
        master_key_len: 16,
        master_salt_len: 12,
        cipher_key_len: 16,
        auth_key_len: 0,
        srtp_tag_len: 16,
        srtcp_tag_len: 16,
        srtp_lifetime: P48,
        srtcp_lifetime: P31,
    },
    Row {
        profile: SrtpProfile::AeadAes256Gcm,
        code_point: 0x0008,
        rfc_name: "SRTP_AEAD_AES_256_GCM",
        openssl_name: "SRTP_AEAD_AES_256_GCM",
        master_key_len: 32,
        master_salt_len: 12,
        cipher_key_len: 32,
        auth_key_len: 0,
        srtp_tag_len: 16,
        srtcp_tag_len: 16,
        srtp_lifetime: P48,
        srtcp_lifetime: P31,
    },
];

impl SrtpProfile {
    /// Every profile this crate implements, in table order.
    pub const ALL: [SrtpProfile; 6] = [
        Self::Aes128CmHmacSha1_80,
        Self::Aes128CmHmacSha1_32,
        Self::NullHmacSha1_80,
        Self::NullHmacSha1_32,
        Self::AeadAes128Gcm,
        Self::AeadAes256Gcm,
    ];

    /// The profiles offered by default, most preferred first (requirements.md §5). NULL is never offered by
    /// default.
    pub const DEFAULT_OFFER: [SrtpProfile; 4] = [
        Self::AeadAes128Gcm,
        Self::AeadAes256Gcm,
        Self::Aes128CmHmacSha1_80,
        Self::Aes128CmHmacSha1_32,
    ];

    const fn row(self) -> &'static Row {
        match self {
            Self::Aes128CmHmacSha1_80 => &TABLE[0],
            Self::Aes128CmHmacSha1_32 => &TABLE[1],
            Self::NullHmacSha1_80 => &TABLE[2],
            Self::NullHmacSha1_32 => &TABLE[3],
            Self::AeadAes128Gcm => &TABLE[4],
            Self::AeadAes256Gcm => &TABLE[5],
        }
    }

    /// The two-byte code point carried in the use_srtp extension.
    pub const fn code_point(self) -> u16 {
        self.row().code_point
    }

    /// The profile for a use_srtp code point, if we implement it.
    pub fn from_code_point(code: u16) -> Option<Self> {
        TABLE
            .iter()
            .find(|r| r.code_point == code)
            .map(|r| r.profile)
    }

    /// The IANA name, e.g. `SRTP_AES128_CM_HMAC_SHA1_80`.
    pub const fn rfc_name(self) -> &'static str {
        self.row().rfc_name
    }

    /// The name OpenSSL's `SSL_CTX_set_tlsext_use_srtp` and `SSL_get_selected_srtp_profile` use.
    pub const fn openssl_name(self) -> &'static str {
        self.row().openssl_name
    }

    /// Master key length in octets.
    pub const fn master_key_len(self) -> usize {
        self.row().master_key_len
    }

    /// Master salt length in octets (14 for CM and NULL, 12 for GCM).
    pub const fn master_salt_len(self) -> usize {
        self.row().master_salt_len
    }

    /// Session encryption key length in octets (0 for the NULL profiles).
    pub const fn cipher_key_len(self) -> usize {
        self.row().cipher_key_len
    }

    /// HMAC-SHA1 session authentication key length in octets (0 for AEAD profiles).
    pub const fn auth_key_len(self) -> usize {
        self.row().auth_key_len
    }

    /// SRTP authentication tag length in octets (the AEAD tag for GCM).
    pub const fn srtp_tag_len(self) -> usize {
        self.row().srtp_tag_len
    }

    /// SRTCP authentication tag length in octets (80 bits for every HMAC profile, 16 octets for GCM).
    pub const fn srtcp_tag_len(self) -> usize {
        self.row().srtcp_tag_len
    }

    /// Whether the profile is an AEAD (RFC 7714) profile.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AeadAes128Gcm | Self::AeadAes256Gcm)
    }

    /// Whether the profile encrypts at all (false for the NULL profiles).
    pub const fn is_encrypting(self) -> bool {
        self.row().cipher_key_len != 0
    }

    /// Bytes to export with label `EXTRACTOR-dtls_srtp`: 2·(key + salt) (D-4.2a, requirements.md §2.2).
    pub const fn exporter_len(self) -> usize {
        2 * (self.row().master_key_len + self.row().master_salt_len)
    }

    /// Maximum SRTP packets per master key (D-4.4).
    pub const fn srtp_lifetime(self) -> u64 {
        self.row().srtp_lifetime
    }

    /// Maximum SRTCP packets per master key (D-4.4).
    pub const fn srtcp_lifetime(self) -> u64 {
        self.row().srtcp_lifetime
    }
}

impl fmt::Display for SrtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rfc_name())
    }
}

/// A profile name that is neither an IANA nor an OpenSSL name of a profile we implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown SRTP protection profile name")]
pub struct UnknownProfile;

impl FromStr for SrtpProfile {
    type Err = UnknownProfile;

    /// Accepts the IANA name (`SRTP_AES128_CM_HMAC_SHA1_80`) or OpenSSL's (`SRTP_AES128_CM_SHA1_80`),
    /// case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TABLE
            .iter()
            .find(|r| r.rfc_name.eq_ignore_ascii_case(s) || r.openssl_name.eq_ignore_ascii_case(s))
            .map(|r| r.profile)
            .ok_or(UnknownProfile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_requirements_2_1() {
        use SrtpProfile::*;
        let expect = [
            (Aes128CmHmacSha1_80, 0x0001, 16, 14, 10, 10, 60),
            (Aes128CmHmacSha1_32, 0x0002, 16, 14, 4, 10, 60),
            (NullHmacSha1_80, 0x0005, 16, 14, 10, 10, 60),
            (NullHmacSha1_32, 0x0006, 16, 14, 4, 10, 60),
            (AeadAes128Gcm, 0x0007, 16, 12, 16, 16, 56),
            (AeadAes256Gcm, 0x0008, 32, 12, 16, 16, 88),
        ];
        for (p, cp, k, s, t, tc, ex) in expect {
            assert_eq!(p.code_point(), cp, "{p}");
            assert_eq!(p.master_key_len(), k, "{p}");
            assert_eq!(p.master_salt_len(), s, "{p}");
            assert_eq!(p.srtp_tag_len(), t, "{p}");
            assert_eq!(p.srtcp_tag_len(), tc, "{p}");
            assert_eq!(p.exporter_len(), ex, "{p}");
            assert_eq!(SrtpProfile::from_code_point(cp), Some(p));
            assert_eq!(p.rfc_name().parse::<SrtpProfile>(), Ok(p));
            assert_eq!(p.openssl_name().parse::<SrtpProfile>(), Ok(p));
        }
        assert_eq!(SrtpProfile::from_code_point(0x0003), None);
        assert!(!SrtpProfile::DEFAULT_OFFER
            .iter()
            .any(|p| !p.is_encrypting()));
    }
}
