//! The cipher backend: the three primitives SRTP needs, behind a small trait, and the default RustCrypto
//! implementation.
//!
//! Every object is keyed once, when a context is built: the AES key schedule is expanded once, HMAC keeps
//! its precomputed inner/outer state and is cloned per packet (never re-keyed), and one GCM instance (key
//! schedule plus GHASH key) serves every packet.

use aes::{Aes128, Aes192, Aes256};
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cipher::consts::U16;
use cipher::{BlockCipherEncrypt, BlockSizeUser, KeyInit};
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A key of a length the primitive does not take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key length {0} does not fit the cipher")]
pub struct BadKeyLength(pub usize);

/// AES in counter mode (RFC 3711 §4.1.1) with an expanded key.
pub trait AesCtr: Send + Sync {
    /// XORs the keystream that starts at the 128-bit big-endian counter `iv` into `data`.
    fn apply_keystream(&self, iv: &[u8; 16], data: &mut [u8]);
}

/// HMAC-SHA1 with its inner/outer state precomputed from the key.
pub trait HmacSha1: Send + Sync {
    /// HMAC-SHA1 over `data ‖ trailer` (the trailer is the ROC for SRTP, empty for SRTCP).
    fn mac(&self, data: &[u8], trailer: &[u8]) -> [u8; 20];
}

/// AES-GCM with a 12-octet nonce and a 16-octet tag.
pub trait AesGcm: Send + Sync {
    /// Encrypts `data` in place and returns the tag.
    fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16];
    /// Checks `tag` (in constant time) and, only if it matches, decrypts `data` in place. `data` is untouched
    /// when the tag does not match.
    fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8; 16]) -> bool;
}

/// A source of keyed primitives. Objects are built once per context, never per packet.
pub trait CryptoBackend {
    /// AES-CM with a 16-, 24- or 32-octet key.
    fn aes_ctr(&self, key: &[u8]) -> Result<Box<dyn AesCtr>, BadKeyLength>;
    /// HMAC-SHA1 with the given key.
    fn hmac_sha1(&self, key: &[u8]) -> Box<dyn HmacSha1>;
    /// AES-GCM with a 16- or 32-octet key.
    fn aes_gcm(&self, key: &[u8]) -> Result<Box<dyn AesGcm>, BadKeyLength>;
}

/// The default backend: RustCrypto `aes` (AES-NI/VAES detected at run time), `hmac` + `sha1` (SHA-NI
/// detected at run time), `aes-gcm` (PCLMULQDQ GHASH).
#[derive(Clone, Copy, Debug, Default)]
pub struct RustCrypto;

/// Counter blocks processed per `encrypt_blocks` call: large enough for the AES pipeline (8 or more blocks
/// in flight), small enough to stay on the stack.
const BATCH_BLOCKS: usize = 32;

struct Ctr<C>(C);

#[inline(always)]
fn ctr_apply<C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>>(
    cipher: &C,
    iv: &[u8; 16],
    data: &mut [u8],
) {
    let mut counter = u128::from_be_bytes(*iv);
    let mut blocks = [aes::Block::default(); BATCH_BLOCKS];
    for chunk in data.chunks_mut(BATCH_BLOCKS * 16) {
        let n = chunk.len().div_ceil(16);
        let batch = &mut blocks[..n];
        for b in batch.iter_mut() {
            *b = counter.to_be_bytes().into();
            counter = counter.wrapping_add(1);
        }
        cipher.encrypt_blocks(batch);
        for (d, k) in chunk.chunks_mut(16).zip(batch.iter()) {
            if d.len() == 16 {
                let x = u128::from_ne_bytes(<[u8; 16]>::try_from(&*d).unwrap_or([0; 16]))
                    ^ u128::from_ne_bytes((*k).into());
                d.copy_from_slice(&x.to_ne_bytes());
            } else {
                for (a, b) in d.iter_mut().zip(k.iter()) {
                    *a ^= *b;
                }
            }
        }
    }
}

impl AesCtr for Ctr<Aes128> {
    fn apply_keystream(&self, iv: &[u8; 16], data: &mut [u8]) {
        ctr_apply(&self.0, iv, data);
    }
}

impl AesCtr for Ctr<Aes192> {
    fn apply_keystream(&self, iv: &[u8; 16], data: &mut [u8]) {
        ctr_apply(&self.0, iv, data);
    }
}

impl AesCtr for Ctr<Aes256> {
    fn apply_keystream(&self, iv: &[u8; 16], data: &mut [u8]) {
        ctr_apply(&self.0, iv, data);
    }
}

struct HmacState(Hmac<Sha1>);

impl HmacSha1 for HmacState {
    fn mac(&self, data: &[u8], trailer: &[u8]) -> [u8; 20] {
        let mut h = self.0.clone();
        h.update(data);
        h.update(trailer);
        h.finalize().into_bytes().into()
    }
}

struct Gcm<A>(A);

macro_rules! gcm_impl {
    ($t:ty) => {
        impl AesGcm for Gcm<$t> {
            fn seal(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8]) -> [u8; 16] {
                match self
                    .0
                    .encrypt_inout_detached(&(*nonce).into(), aad, data.into())
                {
                    Ok(tag) => tag.into(),
                    // Only for inputs beyond 2^36 octets, which no datagram reaches; fail closed with a tag
                    // that cannot verify rather than panic.
                    Err(_) => [0; 16],
                }
            }
            fn open(&self, nonce: &[u8; 12], aad: &[u8], data: &mut [u8], tag: &[u8; 16]) -> bool {
                self.0
                    .decrypt_inout_detached(&(*nonce).into(), aad, data.into(), &(*tag).into())
                    .is_ok()
            }
        }
    };
}
gcm_impl!(Aes128Gcm);
gcm_impl!(Aes256Gcm);

impl CryptoBackend for RustCrypto {
    fn aes_ctr(&self, key: &[u8]) -> Result<Box<dyn AesCtr>, BadKeyLength> {
        match key.len() {
            16 => Aes128::new_from_slice(key)
                .map(|c| Box::new(Ctr(c)) as Box<dyn AesCtr>)
                .map_err(|_| BadKeyLength(16)),
            24 => Aes192::new_from_slice(key)
                .map(|c| Box::new(Ctr(c)) as Box<dyn AesCtr>)
                .map_err(|_| BadKeyLength(24)),
            32 => Aes256::new_from_slice(key)
                .map(|c| Box::new(Ctr(c)) as Box<dyn AesCtr>)
                .map_err(|_| BadKeyLength(32)),
            n => Err(BadKeyLength(n)),
        }
    }

    fn hmac_sha1(&self, key: &[u8]) -> Box<dyn HmacSha1> {
        // HMAC takes keys of any length; `new_from_slice` cannot fail for HMAC.
        match Hmac::<Sha1>::new_from_slice(key) {
            Ok(h) => Box::new(HmacState(h)),
            Err(_) => Box::new(HmacState(Hmac::<Sha1>::new(&Default::default()))),
        }
    }

    fn aes_gcm(&self, key: &[u8]) -> Result<Box<dyn AesGcm>, BadKeyLength> {
        match key.len() {
            16 => Aes128Gcm::new_from_slice(key)
                .map(|c| Box::new(Gcm(c)) as Box<dyn AesGcm>)
                .map_err(|_| BadKeyLength(16)),
            32 => Aes256Gcm::new_from_slice(key)
                .map(|c| Box::new(Gcm(c)) as Box<dyn AesGcm>)
                .map_err(|_| BadKeyLength(32)),
            n => Err(BadKeyLength(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3711 B.2 first blocks, via the raw counter primitive (the packet-level test is in tests/vectors.rs).
    #[test]
    fn s_2_ctr_first_blocks() {
        let key = hex::decode("2B7E151628AED2A6ABF7158809CF4F3C").unwrap();
        let ctr = RustCrypto.aes_ctr(&key).unwrap();
        let iv: [u8; 16] = hex::decode("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000")
            .unwrap()
            .try_into()
            .unwrap();
        // Odd length crosses a batch and ends in a partial block.
        let mut buf = vec![0u8; 16 * 40 + 7];
        ctr.apply_keystream(&iv, &mut buf);
        assert_eq!(
            hex::encode(&buf[..48]),
            "e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab41e95b3bb0a2e8dd477901e4fca894c0"
        );
        // The same keystream computed in one-block calls.
        let mut single = vec![0u8; buf.len()];
        for (c, chunk) in (u128::from_be_bytes(iv)..).zip(single.chunks_mut(16)) {
            ctr.apply_keystream(&c.to_be_bytes(), chunk);
        }
        assert_eq!(buf, single);
    }
}
