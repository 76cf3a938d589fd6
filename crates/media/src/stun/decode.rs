//! Zero-copy STUN decoding: [`Message`] borrows the datagram.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use super::{
    attr, Class, MessageType, StunError, TransactionId, FINGERPRINT_XOR, HEADER_LEN, MAGIC_COOKIE,
};

/// A decoded ERROR-CODE attribute (RFC 8489 §14.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorCode<'a> {
    /// 300..=699.
    pub code: u16,
    /// Reason phrase.
    pub reason: &'a str,
}

/// The value of an UNKNOWN-ATTRIBUTES attribute: a list of 16-bit types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownAttributes<'a>(&'a [u8]);

impl<'a> UnknownAttributes<'a> {
    /// The attribute types listed.
    pub fn iter(&self) -> impl Iterator<Item = u16> + 'a {
        self.0
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
    }
}

/// A decoded STUN message borrowing the datagram. Only the first occurrence of each attribute counts; attributes
/// after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and all after FINGERPRINT, are
/// ignored (RFC 8489 §14.5, §14.7).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    raw: &'a [u8],
    /// Class and method.
    pub msg_type: MessageType,
    /// Transaction id.
    pub transaction_id: TransactionId,
    /// USERNAME.
    pub username: Option<&'a str>,
    /// SOFTWARE (ignored when not UTF-8).
    pub software: Option<&'a str>,
    /// PRIORITY.
    pub priority: Option<u32>,
    /// USE-CANDIDATE present.
    pub use_candidate: bool,
    /// ICE-CONTROLLING tie-breaker.
    pub ice_controlling: Option<u64>,
    /// ICE-CONTROLLED tie-breaker.
    pub ice_controlled: Option<u64>,
    /// XOR-MAPPED-ADDRESS, un-XORed.
    pub xor_mapped_address: Option<SocketAddr>,
    /// MAPPED-ADDRESS.
    pub mapped_address: Option<SocketAddr>,
    /// ERROR-CODE.
    pub error_code: Option<ErrorCode<'a>>,
    /// UNKNOWN-ATTRIBUTES.
    pub unknown_attributes: Option<UnknownAttributes<'a>>,
    /// REALM (long-term credentials; recognised only).
    pub realm: Option<&'a [u8]>,
    /// NONCE (long-term credentials; recognised only).
    pub nonce: Option<&'a [u8]>,
    /// MESSAGE-INTEGRITY-SHA256 present (recognised, not verified).
    pub has_integrity_sha256: bool,
    /// FINGERPRINT present (and correct: a wrong one fails decoding).
    pub has_fingerprint: bool,
    /// Unknown comprehension-required attribute types (< 0x8000) seen before MESSAGE-INTEGRITY: a request with any
    /// gets a 420 listing them (RFC 8489 §6.3.1.1).
    pub unknown_required: Vec<u16>,
    /// More unknown comprehension-required types were present than [`MAX_UNKNOWN_REPORTED`] (or repeats).
    pub unknown_overflow: bool,
    /// Offset of the MESSAGE-INTEGRITY attribute header, and its HMAC.
    integrity: Option<(usize, [u8; 20])>,
}

/// At most this many unknown comprehension-required types are listed in [`Message::unknown_required`].
pub const MAX_UNKNOWN_REPORTED: usize = 16;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ]))
}

fn array<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
    v.try_into().ok()
}

/// The header with the length field replaced by `len`, for the MESSAGE-INTEGRITY and FINGERPRINT computations.
fn header_with_length(raw: &[u8], len: usize) -> Result<[u8; HEADER_LEN], StunError> {
    let mut h: [u8; HEADER_LEN] = raw
        .get(..HEADER_LEN)
        .and_then(array)
        .ok_or(StunError::TooShort { len: raw.len() })?;
    let len = u16::try_from(len).map_err(|_| StunError::TooLarge)?;
    h[2..4].copy_from_slice(&len.to_be_bytes());
    Ok(h)
}

/// A short-term credential key (RFC 8489 §9.1.1: the password), with HMAC-SHA1 keyed once: reusing it saves two
/// SHA-1 blocks per message. `Debug` is redacted.
#[derive(Clone)]
pub struct IntegrityKey(Hmac<Sha1>);

impl IntegrityKey {
    /// Key HMAC-SHA1 with `key`. Infallible: HMAC zero-pads keys up to the 64-byte block and hashes longer ones
    /// first (RFC 2104 §2), which is done here explicitly.
    #[must_use]
    pub fn new(key: &[u8]) -> Self {
        use sha1::Digest;
        let mut block = [0u8; 64];
        if key.len() > block.len() {
            let h = Sha1::digest(key);
            block.iter_mut().zip(h.iter()).for_each(|(b, k)| *b = *k);
        } else {
            block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
        }
        Self(<Hmac<Sha1> as KeyInit>::new(&block.into()))
    }
}

impl std::fmt::Debug for IntegrityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntegrityKey(<redacted>)")
    }
}

/// HMAC-SHA1 over `raw[..end]` with the length field covering a 24-byte MESSAGE-INTEGRITY at `end`.
pub(super) fn integrity_hmac(
    raw: &[u8],
    end: usize,
    key: &IntegrityKey,
) -> Result<Hmac<Sha1>, StunError> {
    let len = end
        .checked_add(24)
        .and_then(|e| e.checked_sub(HEADER_LEN))
        .ok_or(StunError::TooLarge)?;
    let h = header_with_length(raw, len)?;
    let body = raw.get(HEADER_LEN..end).ok_or(StunError::TooLarge)?;
    let mut mac = key.0.clone();
    mac.update(&h);
    mac.update(body);
    Ok(mac)
}

/// CRC-32 of `raw[..end]` with the length field covering an 8-byte FINGERPRINT at `end`, XOR 0x5354554e.
pub(super) fn fingerprint_value(raw: &[u8], end: usize) -> Result<u32, StunError> {
    let len = end
        .checked_add(8)
        .and_then(|e| e.checked_sub(HEADER_LEN))
        .ok_or(StunError::TooLarge)?;
    let h = header_with_length(raw, len)?;
    let body = raw.get(HEADER_LEN..end).ok_or(StunError::TooLarge)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&h);
    crc.update(body);
    Ok(crc.finalize() ^ FINGERPRINT_XOR)
}

fn decode_address(
    value: &[u8],
    xor: Option<&TransactionId>,
    t: u16,
) -> Result<SocketAddr, StunError> {
    let bad = StunError::MalformedAttribute { attr: t };
    let family = *value.get(1).ok_or(bad)?;
    let mut port = be16(value, 2).ok_or(bad)?;
    let cookie = MAGIC_COOKIE.to_be_bytes();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match (family, value.len()) {
        (0x01, 8) => {
            let mut a: [u8; 4] = value.get(4..8).and_then(array).ok_or(bad)?;
            if xor.is_some() {
                a.iter_mut().zip(cookie).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        (0x02, 20) => {
            let mut a: [u8; 16] = value.get(4..20).and_then(array).ok_or(bad)?;
            if let Some(tid) = xor {
                let key = cookie.iter().chain(tid.0.iter());
                a.iter_mut().zip(key).for_each(|(b, k)| *b ^= k);
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return Err(bad),
    };
    Ok(SocketAddr::new(ip, port))
}

impl<'a> Message<'a> {
    /// Decode one STUN message that fills `raw` exactly (one UDP datagram). Checks the header, every attribute's
    /// framing and the FINGERPRINT if present. Never panics.
    pub fn decode(raw: &'a [u8]) -> Result<Self, StunError> {
        if raw.len() < HEADER_LEN {
            return Err(StunError::TooShort { len: raw.len() });
        }
        let t = be16(raw, 0).ok_or(StunError::TooShort { len: raw.len() })?;
        if t & 0xC000 != 0 {
            return Err(StunError::NotStun);
        }
        let header = be16(raw, 2).ok_or(StunError::TooShort { len: raw.len() })?;
        if header % 4 != 0 {
            return Err(StunError::UnalignedLength { header });
        }
        let actual = raw.len() - HEADER_LEN;
        if usize::from(header) != actual {
            return Err(StunError::LengthMismatch { header, actual });
        }
        let cookie: [u8; 4] = raw.get(4..8).and_then(array).ok_or(StunError::NotStun)?;
        if u32::from_be_bytes(cookie) != MAGIC_COOKIE {
            return Err(StunError::BadMagicCookie);
        }
        let tid: [u8; 12] = raw.get(8..20).and_then(array).ok_or(StunError::NotStun)?;
        let mut m = Self {
            raw,
            msg_type: MessageType::from_u16(t),
            transaction_id: TransactionId(tid),
            username: None,
            software: None,
            priority: None,
            use_candidate: false,
            ice_controlling: None,
            ice_controlled: None,
            xor_mapped_address: None,
            mapped_address: None,
            error_code: None,
            unknown_attributes: None,
            realm: None,
            nonce: None,
            has_integrity_sha256: false,
            has_fingerprint: false,
            unknown_required: Vec::new(),
            unknown_overflow: false,
            integrity: None,
        };
        let mut pos = HEADER_LEN;
        while pos < raw.len() {
            let at = be16(raw, pos).ok_or(StunError::TooShort { len: raw.len() })?;
            let len =
                usize::from(be16(raw, pos + 2).ok_or(StunError::AttributeOverrun { attr: at })?);
            let start = pos + 4;
            let value = raw
                .get(start..start + len)
                .ok_or(StunError::AttributeOverrun { attr: at })?;
            let next = start + ((len + 3) & !3);
            if next > raw.len() {
                return Err(StunError::AttributeOverrun { attr: at });
            }
            if m.has_fingerprint {
                // Nothing after FINGERPRINT counts.
            } else if m.integrity.is_some()
                && !matches!(at, attr::MESSAGE_INTEGRITY_SHA256 | attr::FINGERPRINT)
            {
                // After MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count.
            } else {
                m.attribute(at, value, pos)?;
            }
            pos = next;
        }
        Ok(m)
    }

    fn attribute(&mut self, t: u16, v: &'a [u8], pos: usize) -> Result<(), StunError> {
        let bad = StunError::MalformedAttribute { attr: t };
        match t {
            attr::USERNAME if self.username.is_none() => {
                self.username = Some(std::str::from_utf8(v).map_err(|_| bad)?);
            }
            attr::SOFTWARE if self.software.is_none() => {
                self.software = std::str::from_utf8(v).ok();
            }
            attr::USERNAME | attr::SOFTWARE => {} // repeated: first occurrence counts
            attr::PRIORITY => {
                let p = array::<4>(v).ok_or(bad)?;
                self.priority.get_or_insert(u32::from_be_bytes(p));
            }
            attr::USE_CANDIDATE => {
                if !v.is_empty() {
                    return Err(bad);
                }
                self.use_candidate = true;
            }
            attr::ICE_CONTROLLING => {
                let p = array::<8>(v).ok_or(bad)?;
                self.ice_controlling.get_or_insert(u64::from_be_bytes(p));
            }
            attr::ICE_CONTROLLED => {
                let p = array::<8>(v).ok_or(bad)?;
                self.ice_controlled.get_or_insert(u64::from_be_bytes(p));
            }
            attr::XOR_MAPPED_ADDRESS => {
                let a = decode_address(v, Some(&self.transaction_id), t)?;
                self.xor_mapped_address.get_or_insert(a);
            }
            attr::MAPPED_ADDRESS => {
                let a = decode_address(v, None, t)?;
                self.mapped_address.get_or_insert(a);
            }
            attr::ERROR_CODE => {
                let class = u16::from(*v.get(2).ok_or(bad)? & 0x07);
                let number = u16::from(*v.get(3).ok_or(bad)?);
                if !(3..=6).contains(&class) || number > 99 {
                    return Err(bad);
                }
                let reason = std::str::from_utf8(v.get(4..).ok_or(bad)?).map_err(|_| bad)?;
                self.error_code.get_or_insert(ErrorCode {
                    code: class * 100 + number,
                    reason,
                });
            }
            attr::UNKNOWN_ATTRIBUTES => {
                if v.len() % 2 != 0 {
                    return Err(bad);
                }
                self.unknown_attributes.get_or_insert(UnknownAttributes(v));
            }
            attr::REALM => {
                self.realm.get_or_insert(v);
            }
            attr::NONCE => {
                self.nonce.get_or_insert(v);
            }
            attr::MESSAGE_INTEGRITY => {
                let mac = array::<20>(v).ok_or(bad)?;
                self.integrity = Some((pos, mac));
            }
            attr::MESSAGE_INTEGRITY_SHA256 => {
                if !(16..=32).contains(&v.len()) || v.len() % 4 != 0 {
                    return Err(bad);
                }
                self.has_integrity_sha256 = true;
            }
            attr::FINGERPRINT => {
                let want = u32::from_be_bytes(array::<4>(v).ok_or(bad)?);
                if fingerprint_value(self.raw, pos)? != want {
                    return Err(StunError::FingerprintMismatch);
                }
                self.has_fingerprint = true;
            }
            // Bounded so a 64 KiB datagram of distinct unknown types cannot cost quadratic time; a 420 listing
            // the first few is enough for the client.
            other
                if attr::is_comprehension_required(other)
                    && self.unknown_required.len() < MAX_UNKNOWN_REPORTED
                    && !self.unknown_required.contains(&other) =>
            {
                self.unknown_required.push(other);
            }
            other if attr::is_comprehension_required(other) => self.unknown_overflow = true,
            _ => {} // unknown comprehension-optional (e.g. Chromium's 0xC057): ignored
        }
        Ok(())
    }

    /// The datagram this message was decoded from.
    #[must_use]
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The message class.
    #[must_use]
    pub fn class(&self) -> Class {
        self.msg_type.class
    }

    /// Whether MESSAGE-INTEGRITY is present.
    #[must_use]
    pub fn has_integrity(&self) -> bool {
        self.integrity.is_some()
    }

    /// Verify MESSAGE-INTEGRITY (HMAC-SHA1) with a short-term credential key (the password's bytes; ICE passwords
    /// are ice-chars, which SASLprep leaves unchanged). Constant-time comparison.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<(), StunError> {
        self.verify_integrity_with(&IntegrityKey::new(key))
    }

    /// [`verify_integrity`](Self::verify_integrity) with a key prepared once.
    pub fn verify_integrity_with(&self, key: &IntegrityKey) -> Result<(), StunError> {
        let (pos, tag) = self.integrity.ok_or(StunError::MissingIntegrity)?;
        integrity_hmac(self.raw, pos, key)?
            .verify_slice(&tag)
            .map_err(|_| StunError::IntegrityMismatch)
    }
}
