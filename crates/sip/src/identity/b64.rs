//! base64url without padding (RFC 4648 §5, as JWS uses it: RFC 7515 §2 "Base64url Encoding").
//!
//! Decoding is strict: no padding, no whitespace, no characters outside the URL-safe alphabet, and the unused
//! low bits of the last character must be zero, so every byte string has exactly one encoding (a PASSporT is
//! compared and signed as text).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why a base64url string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Base64Error {
    /// A character outside `A-Z a-z 0-9 - _`.
    #[error("character outside the base64url alphabet")]
    Alphabet,
    /// A length of 1 modulo 4 cannot come from any byte string.
    #[error("impossible base64url length")]
    Length,
    /// Non-zero unused bits in the last character (a second encoding of the same bytes).
    #[error("non-canonical trailing bits")]
    TrailingBits,
}

/// Encodes `data` as base64url without padding.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let chars = chunk.len() + 1; // 1 byte → 2 chars, 2 → 3, 3 → 4
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

fn value(c: u8) -> Result<u32, Base64Error> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return Err(Base64Error::Alphabet),
    };
    Ok(u32::from(v))
}

/// Decodes unpadded base64url, strictly (see the module docs).
pub fn decode(text: &str) -> Result<Vec<u8>, Base64Error> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 == 1 {
        return Err(Base64Error::Length);
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3 + 2);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= value(c)? << (18 - 6 * i);
        }
        let [_, a, b, c] = n.to_be_bytes();
        match chunk.len() {
            4 => out.extend_from_slice(&[a, b, c]),
            3 => {
                if c != 0 {
                    return Err(Base64Error::TrailingBits);
                }
                out.extend_from_slice(&[a, b]);
            }
            2 => {
                if b != 0 || c != 0 {
                    return Err(Base64Error::TrailingBits);
                }
                out.push(a);
            }
            _ => return Err(Base64Error::Length),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4648 §10 vectors, with the padding removed (base64 and base64url agree on these inputs).
    #[test]
    fn rfc4648_section10_vectors() {
        let v = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, enc) in v {
            assert_eq!(encode(plain.as_bytes()), enc);
            assert_eq!(decode(enc).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn url_alphabet_and_strictness() {
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode("Zg=="), Err(Base64Error::Alphabet));
        assert_eq!(decode("Z"), Err(Base64Error::Length));
        assert_eq!(decode("Zh"), Err(Base64Error::TrailingBits));
        assert_eq!(decode("a+b/"), Err(Base64Error::Alphabet));
    }

    proptest::proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            proptest::prop_assert_eq!(decode(&encode(&data)).unwrap(), data);
        }
        #[test]
        fn decode_never_panics(s in "\\PC{0,64}") {
            let _ = decode(&s);
        }
    }
}
