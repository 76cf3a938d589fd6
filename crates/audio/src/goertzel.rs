//! Tone detection with the Goertzel algorithm: how much of a block's energy sits at one frequency, whether a
//! tone is present through a recording, and which DTMF key (ITU-T Q.23 frequency pair) a block of audio carries.
//! Used by the tests and the CLI's `check` command to hear what came out of a call.

use std::f64::consts::TAU;

use crate::dtmf::DtmfDigit;
use crate::RATE;

/// The power |X(f)|² of the block at `hz` (Goertzel algorithm, 8 kHz samples), unnormalised: compare it with
/// the power at other frequencies of the same block, or use [`goertzel_share`].
pub fn goertzel_power(samples: &[i16], hz: f64) -> f64 {
    let coeff = 2.0 * (TAU * hz / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - coeff * s1 * s2
}

/// The share of the block's energy at `hz` (Goertzel algorithm; 0.0..≈1.0): 2|X(f)|² / (N Σx²). A pure tone
/// at `hz` whose period divides the block gives ≈1.0; silence gives 0.0; white noise ≈ 2/N.
pub fn goertzel_share(samples: &[i16], hz: f64) -> f64 {
    let energy: f64 = samples.iter().map(|&x| f64::from(x).powi(2)).sum();
    if energy == 0.0 {
        return 0.0;
    }
    2.0 * goertzel_power(samples, hz) / (samples.len() as f64 * energy)
}

/// Detects a tone of `hz` in audio: the fraction of 100 ms blocks (800 samples; 10 Hz resolution) that are
/// loud enough (RMS above -40 dBFS) and carry at least `min_share` of their energy at `hz`.
pub fn tone_presence(samples: &[i16], hz: f64, min_share: f64) -> f64 {
    const BLOCK: usize = 800;
    let mut blocks = 0usize;
    let mut hits = 0usize;
    for chunk in samples.chunks_exact(BLOCK) {
        blocks += 1;
        let rms = (chunk.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / BLOCK as f64).sqrt();
        if rms > 327.0 && goertzel_share(chunk, hz) >= min_share {
            hits += 1;
        }
    }
    if blocks == 0 {
        0.0
    } else {
        hits as f64 / blocks as f64
    }
}

/// RMS above −40 dBFS: loud enough to hold a tone.
fn loud(samples: &[i16]) -> bool {
    if samples.is_empty() {
        return false;
    }
    let mean_square =
        samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len() as f64;
    mean_square.sqrt() > 327.0
}

/// The DTMF key (ITU-T Q.23 pair) a block of 8 kHz audio carries, if any: the block is loud, the strongest
/// row and column frequencies together hold most of its energy, each of them clearly above the others of its
/// group. Blocks of 400 samples (50 ms) or more resolve the pairs; shorter ones are refused.
pub fn detect_dtmf(block: &[i16]) -> Option<DtmfDigit> {
    const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    if block.len() < 400 || !loud(block) {
        return None;
    }
    let strongest = |freqs: &[f64; 4]| {
        let shares = freqs.map(|f| goertzel_share(block, f));
        let (best, &share) = shares
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))?;
        let runner_up = shares
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != best)
            .map(|(_, &s)| s)
            .fold(0.0, f64::max);
        (share > 0.15 && share > 4.0 * runner_up).then_some((best, share))
    };
    let (row, low) = strongest(&LOW)?;
    let (col, high) = strongest(&HIGH)?;
    if low + high < 0.6 {
        return None;
    }
    (0..16)
        .filter_map(DtmfDigit::from_event)
        .find(|d| d.frequencies() == (LOW[row], HIGH[col]))
}

/// The DTMF keys heard in a recording, in order: 50 ms blocks are classified with [`detect_dtmf`], and a key is
/// counted where the detection changes to it (a key held over several blocks counts once; keys must be
/// separated by at least one block without that key, e.g. the usual ≥ 50 ms gap).
pub fn dtmf_keys(samples: &[i16]) -> Vec<DtmfDigit> {
    let mut out = Vec::new();
    let mut previous = None;
    for block in samples.chunks_exact(400) {
        let now = detect_dtmf(block);
        if let Some(d) = now {
            if previous != Some(d) {
                out.push(d);
            }
        }
        previous = now;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{DualTone, ToneGenerator};

    #[test]
    fn goertzel_finds_the_tone_and_rejects_others() {
        let tone = ToneGenerator::new(440.0, 0.3).samples(800);
        assert!(
            goertzel_share(&tone, 440.0) > 0.9,
            "{}",
            goertzel_share(&tone, 440.0)
        );
        assert!(goertzel_share(&tone, 1000.0) < 0.01);
        assert!(goertzel_share(&tone, 400.0) < 0.05);
        assert_eq!(goertzel_share(&[0; 800], 440.0), 0.0);
        assert_eq!(goertzel_share(&[], 440.0), 0.0);
        // A mix of two tones: each holds about half the energy.
        let other = ToneGenerator::new(1200.0, 0.3).samples(800);
        let mix: Vec<i16> = tone
            .iter()
            .zip(&other)
            .map(|(a, b)| a / 2 + b / 2)
            .collect();
        let share = goertzel_share(&mix, 440.0);
        assert!((0.4..0.6).contains(&share), "{share}");
    }

    #[test]
    fn presence_counts_loud_tone_blocks() {
        let mut v = vec![0i16; 1600]; // 200 ms silence
        v.extend(ToneGenerator::new(440.0, 0.3).samples(1600)); // 200 ms tone
        assert!((tone_presence(&v, 440.0, 0.5) - 0.5).abs() < 1e-9);
        assert_eq!(tone_presence(&v, 1000.0, 0.5), 0.0);
        // Through G.711 the tone is still found.
        let law = crate::g711::Law::Pcmu;
        let coded = law.decode(&law.encode(&v));
        assert!((tone_presence(&coded, 440.0, 0.5) - 0.5).abs() < 1e-9);
    }

    /// Every key's Q.23 pair is recognised through G.711, alone and amid silence; single tones, two tones of
    /// the same group, quiet audio and a chirp are not keys.
    #[test]
    fn dtmf_keys_are_recognised_and_nothing_else() {
        let law = crate::g711::Law::Pcmu;
        for e in 0..16 {
            let d = DtmfDigit::from_event(e).unwrap();
            let tone = law.decode(&law.encode(&DualTone::dtmf(d, 0.3).samples(800)));
            assert_eq!(detect_dtmf(&tone), Some(d), "{d}");
            assert_eq!(detect_dtmf(&tone[..399]), None, "too short to resolve");
        }
        assert_eq!(detect_dtmf(&[0; 800]), None);
        assert_eq!(
            detect_dtmf(&ToneGenerator::new(697.0, 0.3).samples(800)),
            None
        );
        assert_eq!(
            detect_dtmf(&DualTone::new(697.0, 852.0, 0.3).samples(800)),
            None
        );
        assert_eq!(
            detect_dtmf(&DualTone::new(697.0, 1209.0, 0.0005).samples(800)),
            None
        );
        let chirp: Vec<i16> = (0..800)
            .map(|i| {
                let t = f64::from(i) / 8000.0;
                ((TAU * (300.0 + 20_000.0 * t) * t).sin() * 8000.0) as i16
            })
            .collect();
        assert_eq!(detect_dtmf(&chirp), None);
    }

    /// A sequence of 100 ms keys with 100 ms gaps, at an offset that does not align with the blocks.
    #[test]
    fn dtmf_keys_in_a_recording() {
        let mut audio = vec![0i16; 123];
        for c in "1#9D0".chars() {
            let d = DtmfDigit::from_char(c).unwrap();
            audio.extend(DualTone::dtmf(d, 0.3).samples(800));
            audio.extend([0; 800]);
        }
        let got: String = dtmf_keys(&audio).iter().map(|d| d.as_char()).collect();
        assert_eq!(got, "1#9D0");
        // The same key twice, separated by a gap, is two presses.
        let d = DtmfDigit::from_char('5').unwrap();
        let mut twice = DualTone::dtmf(d, 0.3).samples(1200);
        twice.extend([0; 800]);
        twice.extend(DualTone::dtmf(d, 0.3).samples(1200));
        assert_eq!(dtmf_keys(&twice), [d, d]);
    }

    #[test]
    fn power_is_unnormalised_share() {
        let tone = ToneGenerator::new(440.0, 0.3).samples(800);
        let energy: f64 = tone.iter().map(|&x| f64::from(x).powi(2)).sum();
        let share = 2.0 * goertzel_power(&tone, 440.0) / (800.0 * energy);
        assert!((share - goertzel_share(&tone, 440.0)).abs() < 1e-12);
        assert!(goertzel_power(&tone, 440.0) > 1000.0 * goertzel_power(&tone, 1000.0));
    }
}
