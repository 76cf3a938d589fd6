//! The replay window (RFC 3711 §3.3.2): a bitmap of the last `size` indices below the highest one seen.

/// Largest window this crate accepts (a bitmap of 4 KiB).
pub const MAX_REPLAY_WINDOW: usize = 32_768;

/// Why an index was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    Duplicate,
    TooOld,
}

/// A sliding window over packet indices. Bit `i mod bits` of the ring records whether index `i` was seen,
/// for `i` in `(top - size, top]`.
#[derive(Clone, Debug)]
pub(crate) struct ReplayWindow {
    top: u64,
    size: u64,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// A window holding only `first`. `size` is clamped to `1..=MAX_REPLAY_WINDOW`.
    pub(crate) fn new(size: usize, first: u64) -> Self {
        let size = size.clamp(1, MAX_REPLAY_WINDOW);
        let mut w = Self {
            top: first,
            size: size as u64,
            bits: vec![0u64; size.div_ceil(64)].into_boxed_slice(),
        };
        w.set(first);
        w
    }

    /// The highest index accepted so far.
    pub(crate) fn top(&self) -> u64 {
        self.top
    }

    fn nbits(&self) -> u64 {
        (self.bits.len() as u64) * 64
    }

    fn slot(&self, index: u64) -> (usize, u64) {
        let b = index % self.nbits();
        ((b / 64) as usize, 1u64 << (b % 64))
    }

    fn set(&mut self, index: u64) {
        let (w, m) = self.slot(index);
        if let Some(word) = self.bits.get_mut(w) {
            *word |= m;
        }
    }

    fn clear(&mut self, index: u64) {
        let (w, m) = self.slot(index);
        if let Some(word) = self.bits.get_mut(w) {
            *word &= !m;
        }
    }

    /// Whether `index` may be accepted; does not change the window.
    #[inline]
    pub(crate) fn check(&self, index: u64) -> Result<(), Replay> {
        if index > self.top {
            return Ok(());
        }
        let delta = self.top - index;
        if delta >= self.size {
            return Err(Replay::TooOld);
        }
        let (w, m) = self.slot(index);
        match self.bits.get(w) {
            Some(word) if word & m != 0 => Err(Replay::Duplicate),
            _ => Ok(()),
        }
    }

    /// Records `index` (which [`check`](Self::check) accepted).
    #[inline]
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.top {
            let advance = index - self.top;
            if advance >= self.nbits() {
                self.bits.fill(0);
            } else {
                for i in self.top + 1..index {
                    self.clear(i);
                }
                self.clear(index);
            }
            self.top = index;
        }
        self.set(index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_3_window_basics() {
        let mut w = ReplayWindow::new(64, 100);
        assert_eq!(w.check(100), Err(Replay::Duplicate));
        assert_eq!(w.check(101), Ok(()));
        assert_eq!(w.check(99), Ok(()));
        w.accept(99);
        assert_eq!(w.check(99), Err(Replay::Duplicate));
        w.accept(200);
        assert_eq!(w.check(137), Ok(()));
        assert_eq!(w.check(136), Err(Replay::TooOld));
        assert_eq!(w.check(100), Err(Replay::TooOld));
        w.accept(137);
        assert_eq!(w.check(137), Err(Replay::Duplicate));
        // A jump beyond the ring clears it.
        w.accept(200 + 10_000);
        assert_eq!(w.check(10_199), Ok(()));
        assert_eq!(w.top(), 10_200);
    }

    #[test]
    fn s_3_large_window_1024() {
        let mut w = ReplayWindow::new(1024, 5000);
        for i in (3977..5000).rev() {
            assert_eq!(w.check(i), Ok(()), "{i}");
            w.accept(i);
        }
        assert_eq!(w.check(3976), Err(Replay::TooOld));
        for i in 3977..=5000 {
            assert_eq!(w.check(i), Err(Replay::Duplicate), "{i}");
        }
        w.accept(5100);
        assert_eq!(w.check(5001), Ok(()));
        assert_eq!(w.check(5000), Err(Replay::Duplicate));
    }
}
