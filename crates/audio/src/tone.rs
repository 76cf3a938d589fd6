//! A sine tone generator (one tone, or the two of a DTMF key).

use std::f64::consts::TAU;

use crate::dtmf::DtmfDigit;
use crate::RATE;

/// A continuous sine tone at 8 kHz: successive calls continue the phase, so 20 ms frames join without clicks.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl ToneGenerator {
    /// A tone of `hz` at `amplitude` (0.0..=1.0 of full scale).
    pub fn new(hz: f64, amplitude: f64) -> Self {
        Self {
            step: TAU * hz / f64::from(RATE),
            phase: 0.0,
            amplitude: amplitude.clamp(0.0, 1.0) * f64::from(i16::MAX),
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out {
            *o = (self.amplitude * self.phase.sin()).round() as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
    }

    /// The next `n` samples.
    pub fn samples(&mut self, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Two tones summed: a DTMF key (ITU-T Q.23), or any other pair.
#[derive(Debug, Clone)]
pub struct DualTone {
    low: ToneGenerator,
    high: ToneGenerator,
}

impl DualTone {
    /// Tones of `f1` and `f2`, each at `amplitude` (so the sum stays within 2 × `amplitude` of full scale).
    pub fn new(f1: f64, f2: f64, amplitude: f64) -> Self {
        Self {
            low: ToneGenerator::new(f1, amplitude),
            high: ToneGenerator::new(f2, amplitude),
        }
    }

    /// The in-band tone of a DTMF key.
    pub fn dtmf(digit: DtmfDigit, amplitude: f64) -> Self {
        let (low, high) = digit.frequencies();
        Self::new(low, high, amplitude)
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut high = vec![0i16; out.len()];
        self.low.fill(out);
        self.high.fill(&mut high);
        for (o, h) in out.iter_mut().zip(high) {
            *o = o.saturating_add(h);
        }
    }

    /// The next `n` samples.
    pub fn samples(&mut self, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
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
    fn dual_tone_is_the_sum_of_its_tones() {
        let d = DtmfDigit::from_char('1').unwrap();
        let both = DualTone::dtmf(d, 0.25).samples(160);
        let a = ToneGenerator::new(697.0, 0.25).samples(160);
        let b = ToneGenerator::new(1209.0, 0.25).samples(160);
        for ((x, y), z) in a.iter().zip(&b).zip(&both) {
            assert_eq!(x + y, *z);
        }
    }
}
