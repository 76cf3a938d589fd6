//! One random-number abstraction for every layer (issue 13 design item 1).
//!
//! The sans-IO crates never reach for a global or OS generator (STYLE rule 1): they take a `&mut dyn Rng`
//! or own a [`SeededRng`] whose seed the driver drew from the OS. Tests fix the seed, so runs are
//! reproducible. [`OsRng`] (feature `os-rng`) is for drivers and tools only.
//!
//! A closure `FnMut(&mut [u8])` is an [`Rng`] too, so a caller may pass `&mut |b: &mut [u8]| ...` where a
//! `&mut dyn Rng` is expected.

use aes::Aes128;
use cipher::{KeyIvInit, StreamCipher};

/// A source of random octets.
pub trait Rng {
    /// Fills `buf` with random octets.
    fn fill(&mut self, buf: &mut [u8]);

    /// A random `u32` (big-endian of four octets).
    fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_be_bytes(b)
    }

    /// A random `u64` (big-endian of eight octets).
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_be_bytes(b)
    }

    /// 32 random octets (seeds, cookie secrets).
    fn block(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }
}

impl<F: FnMut(&mut [u8]) + ?Sized> Rng for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

type Ctr = ctr::Ctr128BE<Aes128>;

/// The seeded CSPRNG of every sans-IO crate: the AES-128 keystream (counter mode) under a 32-octet seed
/// (key = first half, initial counter block = second half). Seed it from the OS in production
/// ([`OsRng::seed`]) and from a constant in tests; its output is not guessable without the seed. `Debug`
/// shows nothing of the state.
pub struct SeededRng(Ctr);

impl core::fmt::Debug for SeededRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SeededRng(<seeded>)")
    }
}

impl SeededRng {
    /// A generator from a seed.
    pub fn new(seed: [u8; 32]) -> Self {
        Self::from_seed(&seed)
    }

    /// A generator from a seed (by reference).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let mut key = [0u8; 16];
        let mut iv = [0u8; 16];
        key.copy_from_slice(&seed[..16]);
        iv.copy_from_slice(&seed[16..]);
        Self(Ctr::new(&key.into(), &iv.into()))
    }

    /// An independent child generator seeded from this one (for a component that owns its generator).
    pub fn child(&mut self) -> Self {
        Self::new(self.block())
    }

    /// Fills `buf` (the same as [`Rng::fill`], callable without the trait in scope).
    pub fn fill(&mut self, buf: &mut [u8]) {
        buf.fill(0);
        self.0.apply_keystream(buf);
    }

    /// A random `u32` (as [`Rng::u32`]).
    pub fn u32(&mut self) -> u32 {
        Rng::u32(self)
    }

    /// A random `u64` (as [`Rng::u64`]).
    pub fn u64(&mut self) -> u64 {
        Rng::u64(self)
    }

    /// 32 random octets (as [`Rng::block`]).
    pub fn block(&mut self) -> [u8; 32] {
        Rng::block(self)
    }
}

impl Rng for SeededRng {
    fn fill(&mut self, buf: &mut [u8]) {
        SeededRng::fill(self, buf);
    }
}

/// The operating system's generator (`getrandom`). Only drivers and tools use it (feature `os-rng`), to seed
/// the sans-IO crates' [`SeededRng`]s.
#[cfg(feature = "os-rng")]
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRng;

#[cfg(feature = "os-rng")]
impl OsRng {
    /// A fresh 32-octet seed from the OS, or the OS's error.
    pub fn seed() -> Result<[u8; 32], getrandom::Error> {
        let mut s = [0u8; 32];
        getrandom::fill(&mut s)?;
        Ok(s)
    }

    /// A [`SeededRng`] seeded from the OS.
    pub fn seeded() -> Result<SeededRng, getrandom::Error> {
        Self::seed().map(SeededRng::new)
    }
}

#[cfg(feature = "os-rng")]
impl Rng for OsRng {
    /// Fills from the OS. The OS generator failing is not recoverable for a CSPRNG user: it panics rather
    /// than hand out predictable octets (use [`OsRng::seed`] to handle the error).
    #[allow(clippy::panic)]
    fn fill(&mut self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_err() {
            panic!("the operating system's random generator failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_reproducible_and_seed_dependent() {
        let (mut a, mut b, mut c) = (
            SeededRng::new([1; 32]),
            SeededRng::new([1; 32]),
            SeededRng::new([2; 32]),
        );
        let (x, y, z) = (a.u32(), b.u32(), c.u32());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(a.u32(), x, "the stream advances");
        assert_ne!(
            a.child().block(),
            b.child().block(),
            "a child follows its parent's position"
        );
    }

    #[test]
    fn fill_overwrites_the_buffer_and_closures_are_rngs() {
        let (mut p, mut q) = ([0u8; 64], [0xffu8; 64]);
        SeededRng::new([3; 32]).fill(&mut p);
        SeededRng::new([3; 32]).fill(&mut q);
        assert_eq!(p, q, "output does not depend on the buffer's old contents");
        let mut n = 0u8;
        let mut counter = |b: &mut [u8]| {
            b.iter_mut().for_each(|x| {
                n = n.wrapping_add(1);
                *x = n
            })
        };
        let dynrng: &mut dyn Rng = &mut counter;
        assert_eq!(dynrng.u32(), 0x0102_0304);
        assert_eq!(dynrng.u64(), 0x0506_0708_090a_0b0c);
    }

    #[cfg(feature = "os-rng")]
    #[test]
    fn os_rng_seeds_differ() {
        assert_ne!(OsRng::seed().unwrap(), OsRng::seed().unwrap());
        let mut o = OsRng;
        assert_ne!(Rng::block(&mut o), [0; 32]);
    }
}
