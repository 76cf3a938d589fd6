//! Errors, sorted by who is at fault, with the DTLS alert they correspond to.

use core::fmt;

use dtlsrtp_types::HashFunction;
use openssl::error::ErrorStack;

/// A TLS alert description (RFC 5246 §7.2, RFC 8446 §6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alert(pub u8);

impl Alert {
    /// close_notify (0).
    pub const CLOSE_NOTIFY: Self = Self(0);
    /// unexpected_message (10).
    pub const UNEXPECTED_MESSAGE: Self = Self(10);
    /// bad_record_mac (20).
    pub const BAD_RECORD_MAC: Self = Self(20);
    /// handshake_failure (40).
    pub const HANDSHAKE_FAILURE: Self = Self(40);
    /// bad_certificate (42).
    pub const BAD_CERTIFICATE: Self = Self(42);
    /// unsupported_certificate (43).
    pub const UNSUPPORTED_CERTIFICATE: Self = Self(43);
    /// certificate_unknown (46).
    pub const CERTIFICATE_UNKNOWN: Self = Self(46);
    /// illegal_parameter (47).
    pub const ILLEGAL_PARAMETER: Self = Self(47);
    /// decode_error (50).
    pub const DECODE_ERROR: Self = Self(50);
    /// decrypt_error (51).
    pub const DECRYPT_ERROR: Self = Self(51);
    /// protocol_version (70).
    pub const PROTOCOL_VERSION: Self = Self(70);
    /// insufficient_security (71).
    pub const INSUFFICIENT_SECURITY: Self = Self(71);
    /// internal_error (80).
    pub const INTERNAL_ERROR: Self = Self(80);
    /// no_renegotiation (100).
    pub const NO_RENEGOTIATION: Self = Self(100);
    /// unsupported_extension (110).
    pub const UNSUPPORTED_EXTENSION: Self = Self(110);
    /// certificate_required (116).
    pub const CERTIFICATE_REQUIRED: Self = Self(116);

    /// The RFC name, or `None` for a code this type has no constant for.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "close_notify",
            10 => "unexpected_message",
            20 => "bad_record_mac",
            40 => "handshake_failure",
            42 => "bad_certificate",
            43 => "unsupported_certificate",
            46 => "certificate_unknown",
            47 => "illegal_parameter",
            50 => "decode_error",
            51 => "decrypt_error",
            70 => "protocol_version",
            71 => "insufficient_security",
            80 => "internal_error",
            100 => "no_renegotiation",
            110 => "unsupported_extension",
            116 => "certificate_required",
            _ => return None,
        })
    }
}

impl fmt::Debug for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "Alert({n})"),
            None => write!(f, "Alert({})", self.0),
        }
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "alert {}", self.0),
        }
    }
}

/// Why an association failed. Peer faults first, then time, then local setup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DtlsError {
    /// The peer sent a fatal alert.
    #[error("peer sent fatal alert {0}")]
    AlertReceived(Alert),
    /// No SRTP protection profile in common: the server omitted use_srtp or we found no overlap (D-4.1.1c).
    /// An RFC 5763 endpoint never falls back to plain DTLS.
    #[error("no SRTP protection profile in common (use_srtp not negotiated)")]
    NoCommonSrtpProfile,
    /// The peer offered only protocol versions we refuse (DTLS 1.0) or an unknown one.
    #[error("peer offered no acceptable DTLS version (1.2 only)")]
    UnsupportedVersion,
    /// No cipher suite in common (we offer ECDHE suites only, F-8.8).
    #[error("no cipher suite in common (ECDHE only)")]
    NoCommonCipherSuite,
    /// No key-exchange group or signature algorithm in common.
    #[error("no key-exchange group or signature algorithm in common")]
    NoCommonGroup,
    /// The peer's certificate matched none of the fingerprints the association was told to expect
    /// ([`Association::expect_fingerprints`](crate::Association::expect_fingerprints)); a bad_certificate (42)
    /// alert went to the peer (RFC 8122 §6.2, P-6.2b).
    #[error("peer certificate matches no expected fingerprint")]
    CertificateRejected,
    /// The peer (a DTLS client) sent no certificate although we require one.
    #[error("peer sent no certificate")]
    PeerCertificateMissing,
    /// The peer's Finished, MAC or signature did not verify, or a message was malformed.
    #[error("handshake message failed to verify or decode")]
    BadHandshake,
    /// The peer sent a message that is not allowed at this point (including a renegotiation attempt).
    #[error("unexpected message from peer")]
    UnexpectedMessage,
    /// The total handshake time limit passed.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// OpenSSL gave up after too many retransmissions without an answer.
    #[error("too many retransmissions without an answer")]
    RetransmitLimit,
    /// Any other OpenSSL failure, with OpenSSL's library and reason codes (see `openssl errstr`).
    #[error("DTLS failure (OpenSSL library {library}, reason {reason})")]
    Other {
        /// `ERR_GET_LIB` of the first error.
        library: i32,
        /// `ERR_GET_REASON` of the first error.
        reason: i32,
    },
    /// A session offered for resumption came from another context.
    #[error("session belongs to another DTLS context")]
    ForeignSession,
    /// We could not set up OpenSSL (out of memory, bad configuration).
    #[error("could not set up the DTLS context")]
    Setup,
}

impl DtlsError {
    /// The alert that goes (or went) to the peer for this failure, if any.
    pub const fn alert(&self) -> Option<Alert> {
        match self {
            Self::AlertReceived(_)
            | Self::HandshakeTimeout
            | Self::RetransmitLimit
            | Self::ForeignSession
            | Self::Setup => None,
            Self::NoCommonSrtpProfile | Self::NoCommonCipherSuite | Self::NoCommonGroup => {
                Some(Alert::HANDSHAKE_FAILURE)
            }
            Self::UnsupportedVersion => Some(Alert::PROTOCOL_VERSION),
            // OpenSSL sends certificate_required, which DTLS 1.2 has not: it goes out as handshake_failure.
            Self::PeerCertificateMissing => Some(Alert::HANDSHAKE_FAILURE),
            Self::CertificateRejected => Some(Alert::BAD_CERTIFICATE),
            Self::BadHandshake => Some(Alert::DECRYPT_ERROR),
            Self::UnexpectedMessage => Some(Alert::UNEXPECTED_MESSAGE),
            Self::Other { .. } => Some(Alert::INTERNAL_ERROR),
        }
    }

    /// Maps OpenSSL's error queue to a typed error (first error wins).
    pub(crate) fn from_stack(stack: &ErrorStack) -> Self {
        let Some(e) = stack.errors().first() else {
            return Self::Other {
                library: 0,
                reason: 0,
            };
        };
        Self::from_codes(e.library_code(), e.reason_code())
    }

    pub(crate) fn from_codes(library: i32, reason: i32) -> Self {
        const LIB_SSL: i32 = 20;
        if library != LIB_SSL {
            return Self::Other { library, reason };
        }
        match reason {
            // SSL_AD_REASON_OFFSET + alert code: an alert the peer sent.
            1000..=1255 => Self::AlertReceived(Alert(u8::try_from(reason - 1000).unwrap_or(80))),
            // SSL_R_NO_SRTP_PROFILES, SSL_R_USE_SRTP_NOT_NEGOTIATED, SSL_R_BAD_SRTP_PROTECTION_PROFILE_LIST
            359 | 369 | 353 | 354 => Self::NoCommonSrtpProfile,
            // SSL_R_UNSUPPORTED_PROTOCOL, WRONG_VERSION_NUMBER, VERSION_TOO_LOW, VERSION_TOO_HIGH
            258 | 267 | 396 | 166 => Self::UnsupportedVersion,
            193 => Self::NoCommonCipherSuite,
            410 | 118 => Self::NoCommonGroup,
            199 => Self::PeerCertificateMissing,
            // UNEXPECTED_MESSAGE, NO_RENEGOTIATION, UNKNOWN_ALERT_TYPE, BAD_CHANGE_CIPHER_SPEC,
            // CANNOT_CHANGE_CIPHER, COOKIE_MISMATCH
            244 | 339 | 246 | 103 | 109 | 308 => Self::UnexpectedMessage,
            // LENGTH_MISMATCH, BAD_PACKET_LENGTH, DECRYPTION_FAILED_OR_BAD_RECORD_MAC, DIGEST_CHECK_FAILED,
            // BAD_SIGNATURE, BAD_LENGTH, LENGTH_TOO_SHORT, ENCRYPTED_LENGTH_TOO_LONG, BAD_HANDSHAKE_LENGTH,
            // EXCESSIVE_MESSAGE_SIZE
            159 | 115 | 281 | 149 | 123 | 271 | 160 | 150 | 332 | 152 => Self::BadHandshake,
            312 => Self::RetransmitLimit,
            _ => Self::Other { library, reason },
        }
    }
}

/// Why a certificate could not be made, loaded or hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The PEM holds no parsable certificate.
    #[error("no certificate in the PEM")]
    NoCertificate,
    /// The PEM holds no parsable private key.
    #[error("no private key in the PEM")]
    NoPrivateKey,
    /// The private key does not belong to the certificate.
    #[error("private key does not match the certificate")]
    KeyMismatch,
    /// MD2/MD5 are never used for fingerprints (P-5c).
    #[error("hash function {0} is not allowed for fingerprints")]
    HashRefused(HashFunction),
    /// OpenSSL failed (key generation, signing, encoding).
    #[error("OpenSSL failed")]
    OpenSsl,
}

impl From<ErrorStack> for CertificateError {
    fn from(_: ErrorStack) -> Self {
        Self::OpenSsl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_reasons_map_to_typed_errors() {
        assert_eq!(
            DtlsError::from_codes(20, 1040),
            DtlsError::AlertReceived(Alert::HANDSHAKE_FAILURE)
        );
        assert_eq!(
            DtlsError::from_codes(20, 199),
            DtlsError::PeerCertificateMissing
        );
        assert_eq!(
            DtlsError::from_codes(20, 359),
            DtlsError::NoCommonSrtpProfile
        );
        assert_eq!(
            DtlsError::from_codes(6, 1040),
            DtlsError::Other {
                library: 6,
                reason: 1040
            }
        );
        assert_eq!(Alert(40).to_string(), "handshake_failure");
        assert_eq!(format!("{:?}", Alert(200)), "Alert(200)");
    }
}
