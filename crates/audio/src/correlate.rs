//! Does the received audio match the sent audio? Normalised cross-correlation with a search for the delay.

/// Pearson correlation of two equally long slices (0.0 when either is constant).
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let (a, b) = (&a[..n], &b[..n]);
    let mean = |v: &[i16]| v.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    if saa == 0.0 || sbb == 0.0 {
        return 0.0;
    }
    sab / (saa * sbb).sqrt()
}

/// The best alignment of `received` against `sent`: `received[lag..]` lined up with `sent[..]`, for lags in
/// `0..=max_lag` (the receiver starts recording before or when the first packet arrives, so audio only ever
/// appears later in the recording). Only lags leaving at least `min_overlap` samples are tried.
/// Returns `(lag, correlation)`, or `None` when no lag leaves enough overlap.
pub fn best_alignment(
    sent: &[i16],
    received: &[i16],
    max_lag: usize,
    min_overlap: usize,
) -> Option<(usize, f64)> {
    let mut best: Option<(usize, f64)> = None;
    for lag in 0..=max_lag {
        let Some(rx) = received.get(lag..) else {
            break;
        };
        let n = rx.len().min(sent.len());
        if n < min_overlap.max(1) {
            break;
        }
        let c = correlation(&sent[..n], &rx[..n]);
        if best.is_none_or(|(_, b)| c > b) {
            best = Some((lag, c));
        }
    }
    best
}

/// [`best_alignment`] both ways: the received audio may start later (it waited for the first packet) or earlier
/// in the sent signal (packets sent before the receiver's keys were verified are not played, F-5.14). A
/// positive lag means `received[lag..]` matches `sent`; a negative one, `received` matches `sent[-lag..]`.
pub fn best_alignment_signed(
    sent: &[i16],
    received: &[i16],
    max_lag: usize,
    min_overlap: usize,
) -> Option<(i64, f64)> {
    let ahead = best_alignment(sent, received, max_lag, min_overlap).map(|(l, c)| (l as i64, c));
    let behind =
        best_alignment(received, sent, max_lag, min_overlap).map(|(l, c)| (-(l as i64), c));
    match (ahead, behind) {
        (Some(a), Some(b)) => Some(if b.1 > a.1 { b } else { a }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::g711::Law;
    use crate::tone::ToneGenerator;

    /// A deterministic speech-like test signal: a chirp plus a few partials, so every lag is distinguishable.
    fn signal(n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / 8000.0;
                let s = (std::f64::consts::TAU * (200.0 + 400.0 * t) * t).sin() * 8000.0
                    + (std::f64::consts::TAU * 730.0 * t).sin() * 3000.0 * (t * 3.0).sin();
                s as i16
            })
            .collect()
    }

    #[test]
    fn identical_and_inverted_and_silent() {
        let s = signal(4000);
        assert!((correlation(&s, &s) - 1.0).abs() < 1e-9);
        let inv: Vec<i16> = s.iter().map(|&x| -x).collect();
        assert!((correlation(&s, &inv) + 1.0).abs() < 1e-9);
        assert_eq!(correlation(&s, &[0; 4000]), 0.0);
        assert_eq!(correlation(&[], &[]), 0.0);
    }

    #[test]
    fn finds_the_delay_through_g711() {
        let s = signal(8000);
        for law in [Law::Pcmu, Law::Pcma] {
            let mut rx = vec![0i16; 321];
            rx.extend(law.decode(&law.encode(&s)));
            let (lag, c) = best_alignment(&s, &rx, 1000, 4000).unwrap();
            assert_eq!(lag, 321, "{law:?}");
            // G.711's SNR is about 38 dB: correlation far above 0.99.
            assert!(c > 0.99, "{law:?}: {c}");
        }
    }

    #[test]
    fn signed_search_finds_a_late_start() {
        let s = signal(8000);
        let rx = s[480..].to_vec(); // the first three 20 ms frames were not played
        assert_eq!(best_alignment_signed(&s, &rx, 1000, 4000).unwrap().0, -480);
        let mut late = vec![0i16; 200];
        late.extend_from_slice(&s);
        assert_eq!(best_alignment_signed(&s, &late, 1000, 4000).unwrap().0, 200);
    }

    #[test]
    fn unrelated_audio_does_not_match() {
        let s = signal(8000);
        let other = ToneGenerator::new(1900.0, 0.4).samples(8000);
        let (_, c) = best_alignment(&s, &other, 200, 4000).unwrap();
        assert!(c < 0.3, "{c}");
        assert!(best_alignment(&s, &other[..10], 5, 100).is_none());
    }
}
