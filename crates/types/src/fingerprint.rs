//! The `a=fingerprint` value (RFC 8122 §5): a hash function and the digest of a DER certificate.
//!
//! This module is pure data: parsing, formatting and the P-5.1d choice of which set to verify (shared by the
//! SDP and DTLS crates, which do not depend on each other). Computing a
//! certificate's digest and comparing it in constant time is the DTLS crate's job.

use core::fmt;
use core::str::FromStr;

/// A hash function named in `a=fingerprint` (RFC 8122 §5, requirements.md §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashFunction {
    /// `sha-1` (20 octets): allowed, weak.
    Sha1,
    /// `sha-224` (28 octets).
    Sha224,
    /// `sha-256` (32 octets): always emitted.
    Sha256,
    /// `sha-384` (48 octets).
    Sha384,
    /// `sha-512` (64 octets).
    Sha512,
    /// `md5`: recognised, never used to verify (P-5c).
    Md5,
    /// `md2`: recognised, never used to verify (P-5c).
    Md2,
}

impl HashFunction {
    /// Every hash function we recognise.
    pub const ALL: [HashFunction; 7] = [
        Self::Sha1,
        Self::Sha224,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
        Self::Md5,
        Self::Md2,
    ];

    /// The verifier's preference, most preferred first (P-5.1d). MD2/MD5 are absent: never used (P-5c).
    pub const PREFERENCE: [HashFunction; 5] = [
        Self::Sha512,
        Self::Sha384,
        Self::Sha256,
        Self::Sha224,
        Self::Sha1,
    ];

    /// The token as the RFC 8122 ABNF spells it (lower case).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha-1",
            Self::Sha224 => "sha-224",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
            Self::Md5 => "md5",
            Self::Md2 => "md2",
        }
    }

    /// Digest length in octets.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
            Self::Md5 | Self::Md2 => 16,
        }
    }

    /// Whether the function may be used to compute or verify a fingerprint (false for MD2/MD5, P-5c).
    pub const fn is_allowed(self) -> bool {
        !matches!(self, Self::Md5 | Self::Md2)
    }
}

impl fmt::Display for HashFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an `a=fingerprint` value could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// No space between the hash function and the digest.
    #[error("fingerprint has no hash function or no digest")]
    MissingPart,
    /// The hash function token is not one we know; the line is skipped when verifying (RFC 8122 §5.1).
    #[error("unknown fingerprint hash function")]
    UnknownHash,
    /// The digest is not colon-separated pairs of hex digits.
    #[error("fingerprint digest is not colon-separated hex pairs")]
    BadHex,
    /// The digest has the wrong number of octets for its hash function.
    #[error("fingerprint digest has {got} octets, {hash} needs {expected}")]
    WrongLength {
        /// The hash function named.
        hash: HashFunction,
        /// Its digest length.
        expected: usize,
        /// What the line carried.
        got: usize,
    },
}

impl FromStr for HashFunction {
    type Err = FingerprintError;

    /// Case-insensitive (RFC 8122's tokens; peers write `SHA-256` and `sha-256`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|h| h.name().eq_ignore_ascii_case(s))
            .ok_or(FingerprintError::UnknownHash)
    }
}

/// One `a=fingerprint` value: hash function and digest.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    hash: HashFunction,
    digest: Vec<u8>,
}

impl Fingerprint {
    /// A fingerprint from a digest, checking its length against the hash function.
    pub fn new(hash: HashFunction, digest: &[u8]) -> Result<Self, FingerprintError> {
        if digest.len() != hash.digest_len() {
            return Err(FingerprintError::WrongLength {
                hash,
                expected: hash.digest_len(),
                got: digest.len(),
            });
        }
        Ok(Self {
            hash,
            digest: digest.to_vec(),
        })
    }

    /// The hash function.
    pub fn hash(&self) -> HashFunction {
        self.hash
    }

    /// The digest octets.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Parses `HASH XX:XX:...`. Lenient where peers are: a leading space (the RFC 5763 §7 examples), lower-case
    /// hex (Chromium), any case in the hash name. Strict on the digest length.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim_matches(|c| c == ' ' || c == '\t');
        let (name, hex) = s
            .split_once([' ', '\t'])
            .ok_or(FingerprintError::MissingPart)?;
        let hash: HashFunction = name.parse()?;
        let hex = hex.trim_matches(|c| c == ' ' || c == '\t');
        let mut digest = Vec::with_capacity(hash.digest_len());
        for pair in hex.split(':') {
            let &[hi, lo] = pair.as_bytes() else {
                return Err(FingerprintError::BadHex);
            };
            let (Some(hi), Some(lo)) = (hex_val(hi), hex_val(lo)) else {
                return Err(FingerprintError::BadHex);
            };
            digest.push(hi << 4 | lo);
        }
        Self::new(hash, &digest)
    }
}

impl fmt::Display for Fingerprint {
    /// `sha-256 AB:CD:...`: lower-case token, upper-case hex (P-5b).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.hash.name())?;
        for (i, b) in self.digest.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ":" })?;
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// P-5.1d: of the fingerprints offered, the set to verify against: every fingerprint in our most preferred
/// hash function among those present. MD2/MD5 never count (P-5c). Empty when no usable fingerprint is present,
/// which must fail verification (P-5.1e).
pub fn preferred_set(offered: &[Fingerprint]) -> Vec<&Fingerprint> {
    HashFunction::PREFERENCE
        .iter()
        .map(|h| offered.iter().filter(|f| f.hash == *h).collect::<Vec<_>>())
        .find(|set| !set.is_empty())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC8122_256: &str = "SHA-256 12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB:4A:AD";
    const RFC8122_1: &str = "SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB";

    #[test]
    fn p_5b_parse_and_format() {
        let f: Fingerprint = RFC8122_256.parse().unwrap();
        assert_eq!(f.hash(), HashFunction::Sha256);
        assert_eq!(f.digest()[..2], [0x12, 0xDF]);
        assert_eq!(f.to_string(), RFC8122_256.replace("SHA-256", "sha-256"));
        let lower: Fingerprint = RFC8122_256.to_ascii_lowercase().parse().unwrap();
        assert_eq!(lower, f);
        let spaced: Fingerprint = format!(" {RFC8122_1}").parse().unwrap();
        assert_eq!(spaced.hash(), HashFunction::Sha1);
    }

    #[test]
    fn p_5b_rejects_malformed() {
        assert_eq!(
            "sha-256".parse::<Fingerprint>(),
            Err(FingerprintError::MissingPart)
        );
        assert_eq!(
            "sha3-256 AB".parse::<Fingerprint>(),
            Err(FingerprintError::UnknownHash)
        );
        assert_eq!(
            "sha-1 AB:CD:G0".parse::<Fingerprint>(),
            Err(FingerprintError::BadHex)
        );
        assert_eq!(
            "sha-1 AB:CD:0".parse::<Fingerprint>(),
            Err(FingerprintError::BadHex)
        );
        assert_eq!(
            "sha-1 AB::CD".parse::<Fingerprint>(),
            Err(FingerprintError::BadHex)
        );
        assert!(matches!(
            "sha-1 AB:CD".parse::<Fingerprint>(),
            Err(FingerprintError::WrongLength {
                expected: 20,
                got: 2,
                ..
            })
        ));
        // multi-byte UTF-8 must not split a char boundary or panic
        assert_eq!(
            "sha-1 é:é".parse::<Fingerprint>(),
            Err(FingerprintError::BadHex)
        );
    }

    #[test]
    fn p_5_1d_prefers_strongest_and_p_5c_never_md5() {
        let sha1: Fingerprint = RFC8122_1.parse().unwrap();
        let sha256: Fingerprint = RFC8122_256.parse().unwrap();
        let md5: Fingerprint = "md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF"
            .parse()
            .unwrap();
        let offered = [sha1.clone(), sha256.clone(), md5.clone()];
        assert_eq!(preferred_set(&offered), vec![&sha256]);
        assert_eq!(preferred_set(std::slice::from_ref(&sha1)), vec![&sha1]);
        assert!(preferred_set(&[md5]).is_empty());
    }
}
