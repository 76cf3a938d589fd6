//! A sine tone generator and a Goertzel tone detector.

use std::f64::consts::TAU;

use super::RATE;

/// A continuous sine tone at 8 kHz: successive calls continue the phase, so 20 ms frames join without clicks.
#[derive(Debug, Clone)]
pub(crate) struct ToneGenerator {
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl ToneGenerator {
    /// A tone of `hz` at `amplitude` (0.0..=1.0 of full scale).
    pub(crate) fn new(hz: f64, amplitude: f64) -> Self {
        Self {
            step: TAU * hz / f64::from(RATE),
            phase: 0.0,
            amplitude: amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX),
        }
    }

    /// Fills `out` with the next samples.
    pub(crate) fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = (self.amplitude * self.phase.sin()).round() as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }

    /// The next `n` samples.
    pub(crate) fn samples(&mut self, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// The share of the block's energy at `hz` (Goertzel algorithm; 0.0..≈1.0): 2|X(f)|² / (N Σx²). A pure tone
/// at `hz` whose period divides the block gives ≈1.0; silence gives 0.0; white noise ≈ 2/N.
pub(crate) fn goertzel_share(samples: &[i16], hz: f64) -> f64 {
    let n = samples.len();
    if n == 0 {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * hz / f64::from(RATE)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    let mut energy = 0.0f64;
    for &x in samples {
        let x = f64::from(x);
        energy += x * x;
        let s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    if energy == 0.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2; // |X(f)|²
    2.0 * power / (n as f64 * energy)
}

/// Detects a tone of `hz` in audio: the fraction of 100 ms blocks (800 samples; 10 Hz resolution) that are
/// loud enough (RMS above -40 dBFS) and carry at least `min_share` of their energy at `hz`.
pub(crate) fn tone_presence(samples: &[i16], hz: f64, min_share: f64) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_is_continuous_and_scaled() {
        let mut g = ToneGenerator::new(1000.0, 0.5);
        let a = g.samples(8);
        // 1 kHz at 8 kHz: 8 samples per period; sample 2 is the peak.
        assert_eq!(a[0], 0);
        assert_eq!(a[2], (0.5 * 32767.0f64).round() as i16);
        let b = g.samples(8);
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1,
                "period continues across calls: {a:?} {b:?}"
            );
        }
    }

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
        let law = super::super::g711::Law::Pcmu;
        let coded = law.decode(&law.encode(&v));
        assert!((tone_presence(&coded, 440.0, 0.5) - 0.5).abs() < 1e-9);
    }
}
