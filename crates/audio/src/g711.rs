//! ITU-T G.711: µ-law (PCMU, RTP payload type 0) and A-law (PCMA, payload type 8), 16-bit linear in and out.
//!
//! The encoders take the 16-bit sample's top 14 (µ-law) or 13 (A-law) bits, as G.711 specifies for its 14-/13-bit
//! linear input; the decoders return the midpoint of each quantisation interval scaled to 16 bits (µ-law
//! ±32124 full scale, A-law ±32256), the values of G.711's decoder tables.

/// µ-law bias added before finding the segment (G.711 Table 2a, 33 in 14-bit units = 0x84 in 16-bit units).
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude encoded without clipping (so that magnitude + bias fits 15 bits).
const ULAW_CLIP: i32 = 32_635;

/// Encodes one sample to µ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let x = i32::from(sample);
    let (sign, magnitude) = if x < 0 { (0x80, -x) } else { (0, x) };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS; // 132..=32767: highest set bit is 7..=14
    let exponent = (31 - biased.leading_zeros() as i32 - 7).clamp(0, 7);
    let mantissa = (biased >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

/// Decodes one µ-law byte.
pub fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0F);
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS; // at most 32124
    let value = if u & 0x80 != 0 { -magnitude } else { magnitude };
    value as i16
}

/// Segment end points of A-law in 13-bit units (G.711 Table 1a).
const ALAW_SEGMENT_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encodes one sample to A-law (even bits inverted: the XOR with 0x55 of G.711).
pub fn alaw_encode(sample: i16) -> u8 {
    let pcm = i32::from(sample) >> 3; // 13-bit
    let (mask, magnitude) = if pcm >= 0 {
        (0xD5, pcm)
    } else {
        (0x55, -pcm - 1)
    };
    let segment = ALAW_SEGMENT_END
        .iter()
        .position(|&end| magnitude <= end)
        .unwrap_or(8) as i32;
    let code = if segment >= 8 {
        0x7F
    } else {
        let shift = if segment < 2 { 1 } else { segment };
        (segment << 4) | ((magnitude >> shift) & 0x0F)
    };
    (code ^ mask) as u8
}

/// Decodes one A-law byte.
pub fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = i32::from(a & 0x0F) << 4;
    let segment = (a & 0x70) >> 4;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        s => t = (t + 0x108) << (s - 1),
    }
    let value = if a & 0x80 != 0 { t } else { -t };
    value as i16
}

/// The two G.711 laws, as negotiated in SDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Law {
    /// µ-law, PCMU, static payload type 0.
    Pcmu,
    /// A-law, PCMA, static payload type 8.
    Pcma,
}

impl Law {
    /// The static RTP payload type (RFC 3551 Table 4).
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        }
    }

    /// The law of a static payload type, if it is one of the two.
    pub fn from_payload_type(pt: u8) -> Option<Self> {
        match pt {
            0 => Some(Law::Pcmu),
            8 => Some(Law::Pcma),
            _ => None,
        }
    }

    /// The SDP encoding name.
    pub fn name(self) -> &'static str {
        match self {
            Law::Pcmu => "PCMU",
            Law::Pcma => "PCMA",
        }
    }

    /// Encodes samples, one byte each.
    pub fn encode(self, samples: &[i16]) -> Vec<u8> {
        let f = match self {
            Law::Pcmu => ulaw_encode,
            Law::Pcma => alaw_encode,
        };
        samples.iter().map(|&s| f(s)).collect()
    }

    /// Decodes bytes, one sample each.
    pub fn decode(self, bytes: &[u8]) -> Vec<i16> {
        let f = match self {
            Law::Pcmu => ulaw_decode,
            Law::Pcma => alaw_decode,
        };
        bytes.iter().map(|&b| f(b)).collect()
    }

    /// The code of silence (what a lost packet is concealed with).
    pub fn silence(self) -> u8 {
        match self {
            Law::Pcmu => 0xFF,
            Law::Pcma => 0xD5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reference points of G.711: zero, full scale, and the decoder table's extremes and segment edges.
    #[test]
    fn ulaw_reference_points() {
        // Segment 0: (100 + 132) >> 3 = 29 → mantissa 13 of exponent 0.
        assert_eq!(ulaw_encode(100), !0x0Du8);
        assert_eq!(ulaw_encode(-100), !0x8Du8);
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_encode(32767), 0x80);
        assert_eq!(ulaw_encode(-32768), 0x00);
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0); // "negative zero"
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        // Segment 0 has step 8 (2 in 14-bit units), the last segment step 1024 (256).
        assert_eq!(ulaw_decode(0xFE) - ulaw_decode(0xFF), 8);
        assert_eq!(ulaw_decode(0x80) - ulaw_decode(0x81), 1024);
        // 14-bit decoder outputs of G.711 Table 2a, scaled by 4: 0, 2, …, 8031 → 32124 at the top.
        assert_eq!(ulaw_decode(0xEF), 4 * 33); // first value of segment 1 (bias 33 in 14-bit units)
        assert_eq!(ulaw_decode(0x8F), 4 * 4191);
    }

    #[test]
    fn alaw_reference_points() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(32767), 0xAA);
        assert_eq!(alaw_encode(-32768), 0x2A);
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32256);
        assert_eq!(alaw_decode(0x2A), -32256);
        // Segments 0 and 1 have the same step (16 in 16-bit units); the last 1024.
        assert_eq!(alaw_decode(0xD4) - alaw_decode(0xD5), 16);
        assert_eq!(alaw_decode(0xAA) - alaw_decode(0xAB), 1024);
        // 13-bit decoder outputs of G.711 Table 1a scaled by 8: 1, 3, …; first of segment 2 is 66 → 528.
        assert_eq!(alaw_decode(0x20 ^ 0xD5), 8 * 66);
    }

    /// Every code decodes and re-encodes to itself (µ-law's "negative zero" 0x7F becomes 0xFF).
    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            let want = if code == 0x7F { 0xFF } else { code };
            assert_eq!(ulaw_encode(ulaw_decode(code)), want, "µ-law {code:#04x}");
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    /// Decoding is monotonic over the 256 codes in quantisation order: every linear value has one nearest level.
    #[test]
    fn decoders_are_monotonic() {
        let mut u: Vec<i16> = (0..=255u8).map(ulaw_decode).collect();
        let mut a: Vec<i16> = (0..=255u8).map(alaw_decode).collect();
        u.sort_unstable();
        a.sort_unstable();
        u.dedup();
        a.dedup();
        assert_eq!(u.len(), 255); // two zeros
        assert_eq!(a.len(), 256);
    }

    proptest! {
        /// Any sample survives encode → decode within half the step of its segment (plus the clip at the top).
        #[test]
        fn sample_round_trip_error_is_bounded(s in any::<i16>()) {
            let x = i32::from(s);
            let err_u = (i32::from(ulaw_decode(ulaw_encode(s))) - x).abs();
            let err_a = (i32::from(alaw_decode(alaw_encode(s))) - x).abs();
            // Segment step grows with magnitude: relative error ≤ 1/16 + a small absolute term.
            let bound_u = x.abs() / 16 + 8 + if x.abs() > 32124 { x.abs() - 32124 } else { 0 };
            let bound_a = x.abs() / 16 + 16 + if x.abs() > 32256 { x.abs() - 32256 } else { 0 };
            prop_assert!(err_u <= bound_u, "µ-law {s}: error {err_u} > {bound_u}");
            prop_assert!(err_a <= bound_a, "A-law {s}: error {err_a} > {bound_a}");
            // And the law's encode of the decoded value is idempotent.
            prop_assert_eq!(ulaw_encode(ulaw_decode(ulaw_encode(s))), ulaw_encode(s) | if ulaw_encode(s) == 0x7F { 0x80 } else { 0 });
            prop_assert_eq!(alaw_encode(alaw_decode(alaw_encode(s))), alaw_encode(s));
        }
    }

    #[test]
    fn law_helpers() {
        assert_eq!(Law::from_payload_type(0), Some(Law::Pcmu));
        assert_eq!(Law::from_payload_type(8), Some(Law::Pcma));
        assert_eq!(Law::from_payload_type(9), None);
        for law in [Law::Pcmu, Law::Pcma] {
            assert_eq!(
                law.decode(&[law.silence()])[0].abs(),
                if law == Law::Pcmu { 0 } else { 8 }
            );
            let samples = [0i16, 1000, -1000, 20000];
            let back = law.decode(&law.encode(&samples));
            for (a, b) in samples.iter().zip(&back) {
                assert!((a - b).abs() <= a.abs() / 16 + 16, "{law:?} {a} {b}");
            }
        }
    }
}
