//! A short authentication string over both certificate fingerprints (F-8.5).
//!
//! Construction (version 1): each side's fingerprint is written as `alg " " DIG` (hash name in lower case,
//! digest as upper-case colon hex, the SDP form); the two strings are sorted bytewise so both ends compute
//! the same value whichever side is "local"; then
//! `SHA-256("dtlsrtp-sas-v1" 0x00 len(a) a len(b) b)` (lengths as 2-byte big-endian) is taken, and its first
//! 8 bytes, a big-endian `u64`, are the SAS: 64 bits, the minimum RFC 5763 §8.5 asks for. It is shown as 20
//! decimal digits in five groups of four (`0123 4567 8901 2345 6789`), easy to read aloud.
//! Both sides should use the same hash function (sha-256) for the two fingerprints.

use std::fmt;

use openssl::sha::Sha256;

use super::passport::colon_hex;

/// A 64-bit short authentication string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sas(u64);

impl Sas {
    /// Bits of entropy the SAS carries.
    pub const BITS: u32 = 64;

    /// The SAS of a call from the two fingerprints (hash name, digest bytes), in either order.
    pub fn new(a: (&str, &[u8]), b: (&str, &[u8])) -> Self {
        let fa = format!("{} {}", a.0.to_ascii_lowercase(), colon_hex(a.1));
        let fb = format!("{} {}", b.0.to_ascii_lowercase(), colon_hex(b.1));
        let (lo, hi) = if fa.as_bytes() <= fb.as_bytes() {
            (fa, fb)
        } else {
            (fb, fa)
        };
        let mut h = Sha256::new();
        h.update(b"dtlsrtp-sas-v1\0");
        for s in [&lo, &hi] {
            // fingerprints are far below 64 KiB; saturate rather than wrap if one is not
            let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
            h.update(&len.to_be_bytes());
            h.update(s.as_bytes());
        }
        let d = h.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(d.get(..8).unwrap_or(&[0; 8]));
        Self(u64::from_be_bytes(first))
    }

    /// The 64-bit value.
    pub fn value(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = format!("{:020}", self.0);
        for (i, chunk) in d.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(std::str::from_utf8(chunk).unwrap_or("????"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sas({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_8_5_sas_length_stability_order_independence() {
        let a = [0x11u8; 32];
        let b = [0x22u8; 32];
        let s1 = Sas::new(("sha-256", &a), ("sha-256", &b));
        let s2 = Sas::new(("SHA-256", &b), ("sha-256", &a));
        assert_eq!(s1, s2, "order and hash-name case do not matter");
        assert_eq!(s1, Sas::new(("sha-256", &a), ("sha-256", &b)), "stable");
        let shown = s1.to_string();
        assert_eq!(shown.len(), 24, "{shown}");
        assert_eq!(shown.split(' ').count(), 5);
        assert!(shown
            .split(' ')
            .all(|g| g.len() == 4 && g.bytes().all(|c| c.is_ascii_digit())));
        // all 64 bits are used: over 64 inputs every bit position is set at least once
        let or = (0..64u8)
            .map(|i| Sas::new(("sha-256", &[i; 32]), ("sha-256", &b)).value())
            .fold(0u64, |acc, v| acc | v);
        assert_eq!(or.count_ones(), Sas::BITS);
        // the displayed digits carry the whole 64-bit value
        assert_eq!(shown.replace(' ', "").parse::<u64>().unwrap(), s1.value());
        // any change to either fingerprint changes it
        let mut a2 = a;
        a2[31] ^= 1;
        assert_ne!(Sas::new(("sha-256", &a2), ("sha-256", &b)), s1);
        assert_ne!(Sas::new(("sha-1", &a), ("sha-256", &b)), s1);
        // pinned: version 1 of the construction must not change silently
        let pinned = Sas::new(("sha-256", &[0u8; 32]), ("sha-256", &[0xffu8; 32]));
        assert_eq!(pinned.value(), PINNED_V1);
    }

    /// Computed independently (Python hashlib) from the construction in the module docs.
    const PINNED_V1: u64 = 13477391628201582398;
}
