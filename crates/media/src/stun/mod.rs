//! STUN (RFC 8489) for ICE and the RFC 5763 §6.7.2 checks: a zero-copy decoder ([`Message::decode`]) and an
//! encoder ([`MessageBuilder`]) with short-term MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT.
//!
//! Decoding is total: any byte string gives a [`Message`] or a [`StunError`], never a panic. FINGERPRINT, when
//! present, is checked during decoding; MESSAGE-INTEGRITY is checked by [`Message::verify_integrity`] with the key
//! the caller picks from USERNAME. Unknown comprehension-optional attributes (≥ 0x8000, e.g. Chromium's 0xC057)
//! are ignored; unknown comprehension-required ones are listed in [`Message::unknown_required`] so a server can
//! answer 420 with UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1.1).

mod decode;
mod encode;
#[cfg(test)]
pub(crate) mod tests;

pub use decode::{ErrorCode, IntegrityKey, Message, UnknownAttributes, MAX_UNKNOWN_REPORTED};
pub use encode::MessageBuilder;

/// The magic cookie, bytes 4..8 of every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the STUN header.
pub const HEADER_LEN: usize = 20;
/// XORed into the CRC-32 of FINGERPRINT (RFC 8489 §14.7).
pub const FINGERPRINT_XOR: u32 = 0x5354_554e;

/// Attribute type codes used here (IANA "STUN Attributes").
pub mod attr {
    /// MAPPED-ADDRESS (RFC 8489 §14.1).
    pub const MAPPED_ADDRESS: u16 = 0x0001;
    /// USERNAME (§14.3).
    pub const USERNAME: u16 = 0x0006;
    /// MESSAGE-INTEGRITY (§14.5).
    pub const MESSAGE_INTEGRITY: u16 = 0x0008;
    /// ERROR-CODE (§14.8).
    pub const ERROR_CODE: u16 = 0x0009;
    /// UNKNOWN-ATTRIBUTES (§14.13).
    pub const UNKNOWN_ATTRIBUTES: u16 = 0x000A;
    /// REALM (§14.9), long-term credentials: recognised, not used.
    pub const REALM: u16 = 0x0014;
    /// NONCE (§14.10), long-term credentials: recognised, not used.
    pub const NONCE: u16 = 0x0015;
    /// MESSAGE-INTEGRITY-SHA256 (§14.6): recognised, not verified.
    pub const MESSAGE_INTEGRITY_SHA256: u16 = 0x001C;
    /// XOR-MAPPED-ADDRESS (§14.2).
    pub const XOR_MAPPED_ADDRESS: u16 = 0x0020;
    /// PRIORITY (RFC 8445 §16.1).
    pub const PRIORITY: u16 = 0x0024;
    /// USE-CANDIDATE (RFC 8445 §16.1).
    pub const USE_CANDIDATE: u16 = 0x0025;
    /// SOFTWARE (§14.14).
    pub const SOFTWARE: u16 = 0x8022;
    /// FINGERPRINT (§14.7).
    pub const FINGERPRINT: u16 = 0x8028;
    /// ICE-CONTROLLED (RFC 8445 §16.1).
    pub const ICE_CONTROLLED: u16 = 0x8029;
    /// ICE-CONTROLLING (RFC 8445 §16.1).
    pub const ICE_CONTROLLING: u16 = 0x802A;

    /// Attributes in 0x0000–0x7FFF must be understood (comprehension-required).
    #[must_use]
    pub fn is_comprehension_required(t: u16) -> bool {
        t < 0x8000
    }
}

/// Well-known ERROR-CODE values.
pub mod error_code {
    /// 400 Bad Request.
    pub const BAD_REQUEST: u16 = 400;
    /// 401 Unauthenticated.
    pub const UNAUTHENTICATED: u16 = 401;
    /// 403 Forbidden (RFC 7675 §5.2: revokes consent).
    pub const FORBIDDEN: u16 = 403;
    /// 420 Unknown Attribute.
    pub const UNKNOWN_ATTRIBUTE: u16 = 420;
    /// 487 Role Conflict (RFC 8445 §7.3.1.1).
    pub const ROLE_CONFLICT: u16 = 487;
}

/// The 96-bit transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransactionId(pub [u8; 12]);

/// The class of a STUN message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Request.
    Request,
    /// Indication.
    Indication,
    /// Success response.
    Success,
    /// Error response.
    Error,
}

/// A STUN method (12 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Method(pub u16);

impl Method {
    /// Binding (0x001).
    pub const BINDING: Self = Self(0x001);
}

/// Class and method, as packed in the first 16 bits of the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MessageType {
    /// Class.
    pub class: Class,
    /// Method.
    pub method: Method,
}

impl MessageType {
    /// Binding request (0x0001).
    pub const BINDING_REQUEST: Self = Self {
        class: Class::Request,
        method: Method::BINDING,
    };
    /// Binding success response (0x0101).
    pub const BINDING_SUCCESS: Self = Self {
        class: Class::Success,
        method: Method::BINDING,
    };
    /// Binding error response (0x0111).
    pub const BINDING_ERROR: Self = Self {
        class: Class::Error,
        method: Method::BINDING,
    };

    /// Unpack from the 16-bit field (the two leading zero bits are checked by the decoder).
    #[must_use]
    pub fn from_u16(t: u16) -> Self {
        let method = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
        let class = match ((t >> 4) & 1) | ((t >> 7) & 2) {
            0 => Class::Request,
            1 => Class::Indication,
            2 => Class::Success,
            _ => Class::Error,
        };
        Self {
            class,
            method: Method(method),
        }
    }

    /// Pack into the 16-bit field (M11..M7 C1 M6..M4 C0 M3..M0, RFC 8489 §5).
    #[must_use]
    pub fn to_u16(self) -> u16 {
        let c: u16 = match self.class {
            Class::Request => 0,
            Class::Indication => 1,
            Class::Success => 2,
            Class::Error => 3,
        };
        let m = self.method.0 & 0x0FFF;
        (m & 0x000F) | ((c & 1) << 4) | ((m & 0x0070) << 1) | ((c & 2) << 7) | ((m & 0x0F80) << 2)
    }
}

/// Why a datagram is not an acceptable STUN message. Sorted: framing, attributes, security checks, encoding.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StunError {
    /// Shorter than the 20-byte header.
    #[error("{len} bytes is shorter than a STUN header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The two leading bits are not zero.
    #[error("not a STUN message: leading bits set")]
    NotStun,
    /// Bytes 4..8 are not the magic cookie (an RFC 3489 message, or not STUN).
    #[error("wrong magic cookie")]
    BadMagicCookie,
    /// The length field is not a multiple of 4.
    #[error("length field {header} is not a multiple of 4")]
    UnalignedLength {
        /// The length field.
        header: u16,
    },
    /// The length field disagrees with the datagram size.
    #[error("length field says {header} bytes of attributes, {actual} follow the header")]
    LengthMismatch {
        /// The length field.
        header: u16,
        /// Bytes after the header.
        actual: usize,
    },
    /// An attribute's length runs past the end of the message.
    #[error("attribute {attr:#06x} runs past the end of the message")]
    AttributeOverrun {
        /// Attribute type.
        attr: u16,
    },
    /// An attribute's value has the wrong size or content.
    #[error("attribute {attr:#06x} is malformed")]
    MalformedAttribute {
        /// Attribute type.
        attr: u16,
    },
    /// FINGERPRINT is present and wrong: not a STUN message for us (RFC 8489 §7.3).
    #[error("FINGERPRINT does not match")]
    FingerprintMismatch,
    /// The message carries no MESSAGE-INTEGRITY.
    #[error("no MESSAGE-INTEGRITY")]
    MissingIntegrity,
    /// MESSAGE-INTEGRITY does not verify with the key.
    #[error("MESSAGE-INTEGRITY does not match")]
    IntegrityMismatch,
    /// The message being encoded would exceed 65,535 bytes of attributes.
    #[error("message too large to encode")]
    TooLarge,
}
