//! `a=tls-id` (RFC 8842 §4; T-4a, T-4c).

use core::fmt;
use core::str::FromStr;
use dtlsrtp_types::Rng;

/// Why an `a=tls-id` value is invalid (RFC 8842 §4, T-4a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsIdError {
    /// Fewer than 20 characters.
    #[error("tls-id has {0} characters, at least 20 required")]
    TooShort(usize),
    /// More than 255 characters.
    #[error("tls-id has {0} characters, at most 255 allowed")]
    TooLong(usize),
    /// A character outside ALPHA / DIGIT / `+` / `/` / `-` / `_`.
    #[error("tls-id has a character outside ALPHA DIGIT + / - _")]
    BadChar,
}

/// An `a=tls-id` value: 20–255 characters of ALPHA / DIGIT / `+` `/` `-` `_` (RFC 8842 §4, T-4a).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TlsId(String);

impl TlsId {
    /// Minimum length (T-4a).
    pub const MIN_LEN: usize = 20;
    /// Maximum length (T-4a).
    pub const MAX_LEN: usize = 255;

    /// A fresh tls-id from 16 random octets (128 bits ≥ the 120 required by T-4c), base64url without padding
    /// (22 characters). `rng` must be a cryptographically strong generator (T-4c).
    pub fn generate(rng: &mut dyn Rng) -> Self {
        let mut raw = [0u8; 16];
        rng.fill(&mut raw);
        Self(base64url(&raw))
    }

    /// The value as written in SDP.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TlsId {
    type Err = TlsIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let len = s.len();
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_'))
        {
            return Err(TlsIdError::BadChar);
        }
        if len < Self::MIN_LEN {
            return Err(TlsIdError::TooShort(len));
        }
        if len > Self::MAX_LEN {
            return Err(TlsIdError::TooLong(len));
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for TlsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TlsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsId({})", self.0)
    }
}

fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let [b0, b1, b2] = b;
        let n = u32::from(b0) << 16 | u32::from(b1) << 8 | u32::from(b2);
        // 1 input octet → 2 characters, 2 → 3, 3 → 4 (no padding)
        for shift in [18u32, 12, 6, 0].into_iter().take(chunk.len() + 1) {
            let idx = ((n >> shift) & 0x3F) as usize;
            out.push(ALPHABET.get(idx).map_or('A', |&c| char::from(c)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_4a_tls_id_lengths_and_alphabet() {
        assert!("a".repeat(20).parse::<TlsId>().is_ok());
        assert!("a".repeat(255).parse::<TlsId>().is_ok());
        assert_eq!(
            "a".repeat(19).parse::<TlsId>(),
            Err(TlsIdError::TooShort(19))
        );
        assert_eq!(
            "a".repeat(256).parse::<TlsId>(),
            Err(TlsIdError::TooLong(256))
        );
        assert_eq!(
            format!("{} b", "a".repeat(20)).parse::<TlsId>(),
            Err(TlsIdError::BadChar)
        );
        assert_eq!(
            format!("{}=", "a".repeat(20)).parse::<TlsId>(),
            Err(TlsIdError::BadChar)
        );
        assert!("abc3de65cddef001be82".parse::<TlsId>().is_ok());
        assert!("Az09+/-_Az09+/-_Az09+/-_".parse::<TlsId>().is_ok());
    }

    #[test]
    fn t_4c_generated_tls_id_has_128_bits_in_base64url() {
        let mut n = 0u8;
        let mut fill = |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_add(37);
                *x = n;
            }
        };
        let id = TlsId::generate(&mut fill);
        assert_eq!(id.as_str().len(), 22);
        assert!(id.as_str().parse::<TlsId>().is_ok());
        let other = TlsId::generate(&mut fill);
        assert_ne!(id, other);
        assert_eq!(base64url(&[0xFB, 0xFF]), "-_8");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
    }
}
