//! A fatal alert on an established association (P-6.2b, RFC 8122 §6.2), built here because OpenSSL 3.0 has
//! no public call that sends one once the handshake completed.
//!
//! Only public OpenSSL APIs are used: the session's master secret (`SSL_SESSION_get_master_key`), the two
//! randoms (`SSL_get_client_random`, `SSL_get_server_random`) and the negotiated suite. From them the TLS 1.2
//! key block is expanded (RFC 5246 §5 PRF, §6.3 layout) and one alert record is sealed for our current write
//! epoch with the sequence number after the highest one OpenSSL used (seen in every datagram it emitted):
//! - AES-GCM (RFC 5288): 4-byte implicit salt ‖ 8-byte explicit nonce (epoch ‖ sequence, as OpenSSL does);
//! - ChaCha20-Poly1305 (RFC 7905): the 12-byte IV XOR the left-padded epoch ‖ sequence, no explicit nonce;
//! - AES-CBC with HMAC-SHA1: MAC-then-encrypt (RFC 5246 §6.2.3.2) or encrypt-then-MAC (RFC 7366), told apart
//!   by the length of the encrypted records OpenSSL sent (16·n for MAC-then-encrypt, 16·n + 20 for
//!   encrypt-then-MAC). The explicit IV is the block cipher applied to the record's epoch ‖ sequence under the
//!   write key (NIST SP 800-38A Appendix C): unpredictable without the key, unique per record, no RNG.
//!
//! The AEAD additional data and the MAC input are, for DTLS (RFC 6347 §4.1.2.1), epoch ‖ sequence ‖ type ‖
//! version ‖ length.

use dtlsrtp_srtp::DtlsRole;
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::ssl::SslRef;
use openssl::symm::{encrypt_aead, Cipher, Crypter, Mode};

use crate::error::Alert;

/// Content type alert (RFC 5246 §6.2.1).
const CONTENT_ALERT: u8 = 21;
/// DTLS 1.2 on the wire.
const DTLS_1_2: [u8; 2] = [254, 253];
/// AlertLevel fatal.
const FATAL: u8 = 2;
/// The largest 48-bit sequence number.
const MAX_SEQ: u64 = (1 << 48) - 1;

/// What OpenSSL wrote so far, seen in its output datagrams: the highest record (epoch, sequence number), and
/// the body length of the last encrypted (epoch ≥ 1) record.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SentRecords {
    highest: Option<(u16, u64)>,
    encrypted_len: Option<usize>,
}

impl SentRecords {
    /// Notes every record header of one datagram we emit (several records may share it).
    pub(crate) fn observe(&mut self, datagram: &[u8]) {
        let mut rest = datagram;
        while let Some((hdr, body)) = rest.split_first_chunk::<13>() {
            let epoch = u16::from_be_bytes([hdr[3], hdr[4]]);
            let seq = u64::from_be_bytes([0, 0, hdr[5], hdr[6], hdr[7], hdr[8], hdr[9], hdr[10]]);
            let len = usize::from(u16::from_be_bytes([hdr[11], hdr[12]]));
            if self.highest.is_none_or(|h| (epoch, seq) > h) {
                self.highest = Some((epoch, seq));
            }
            if epoch > 0 {
                self.encrypted_len = Some(len);
            }
            let Some(next) = body.get(len..) else {
                return;
            };
            rest = next;
        }
    }

    /// The epoch and sequence number of the next record we write, if any record was written yet.
    fn next(&self) -> Option<(u16, u64)> {
        let (epoch, seq) = self.highest?;
        (seq < MAX_SEQ).then_some((epoch, seq + 1))
    }
}

/// How one suite protects records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protection {
    /// AES-GCM with a key of this many octets.
    Gcm(usize),
    /// ChaCha20-Poly1305.
    ChaCha,
    /// AES-CBC with a key of this many octets, HMAC-SHA1.
    Cbc(usize),
}

/// The suites of our cipher list (config.rs `CIPHER_LIST`): their record protection and PRF hash.
fn suite(id: u16) -> Option<(Protection, MessageDigest)> {
    Some(match id {
        // ECDHE-{ECDSA,RSA}-AES128-GCM-SHA256
        0xC02B | 0xC02F => (Protection::Gcm(16), MessageDigest::sha256()),
        // ECDHE-{ECDSA,RSA}-AES256-GCM-SHA384
        0xC02C | 0xC030 => (Protection::Gcm(32), MessageDigest::sha384()),
        // ECDHE-{RSA,ECDSA}-CHACHA20-POLY1305
        0xCCA8 | 0xCCA9 => (Protection::ChaCha, MessageDigest::sha256()),
        // ECDHE-{ECDSA,RSA}-AES128-SHA
        0xC009 | 0xC013 => (Protection::Cbc(16), MessageDigest::sha256()),
        // ECDHE-{ECDSA,RSA}-AES256-SHA
        0xC00A | 0xC014 => (Protection::Cbc(32), MessageDigest::sha256()),
        _ => return None,
    })
}

/// The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label ‖ seed) filling `out`.
pub(crate) fn prf(
    md: MessageDigest,
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    out: &mut [u8],
) -> Result<(), ErrorStack> {
    let key = PKey::hmac(secret)?;
    let hmac = |parts: &[&[u8]]| -> Result<Vec<u8>, ErrorStack> {
        let mut s = Signer::new(md, &key)?;
        for p in parts {
            s.update(p)?;
        }
        s.sign_to_vec()
    };
    // A(1) = HMAC(secret, A(0)), A(0) = label ‖ seed.
    let mut a = hmac(&[label, seed])?;
    let mut filled = 0;
    while filled < out.len() {
        let block = hmac(&[&a, label, seed])?;
        if block.is_empty() {
            return Err(ErrorStack::get());
        }
        let n = block.len().min(out.len() - filled);
        if let (Some(dst), Some(src)) = (out.get_mut(filled..filled + n), block.get(..n)) {
            dst.copy_from_slice(src);
        }
        filled += n;
        a = hmac(&[&a])?;
    }
    Ok(())
}

/// Our write keys for the current epoch: (MAC key, encryption key, IV), from the key block (RFC 5246 §6.3).
struct WriteKeys {
    mac: Vec<u8>,
    key: Vec<u8>,
    iv: Vec<u8>,
}

impl Drop for WriteKeys {
    fn drop(&mut self) {
        for v in [&mut self.mac, &mut self.key, &mut self.iv] {
            v.iter_mut().for_each(|b| *b = 0);
            core::hint::black_box(&v);
        }
    }
}

fn write_keys(ssl: &SslRef, role: DtlsRole, p: Protection, md: MessageDigest) -> Option<WriteKeys> {
    let (mac_len, key_len, iv_len) = match p {
        Protection::Gcm(k) => (0, k, 4),
        Protection::ChaCha => (0, 32, 12),
        Protection::Cbc(k) => (20, k, 16),
    };
    let mut master = [0u8; 48];
    let n = ssl.session()?.master_key(&mut master);
    let (mut client_random, mut server_random) = ([0u8; 32], [0u8; 32]);
    if n != master.len()
        || ssl.client_random(&mut client_random) != 32
        || ssl.server_random(&mut server_random) != 32
    {
        return None;
    }
    let mut seed = [0u8; 64];
    seed[..32].copy_from_slice(&server_random);
    seed[32..].copy_from_slice(&client_random);
    let mut block = vec![0u8; 2 * (mac_len + key_len + iv_len)];
    let ok = prf(md, &master, b"key expansion", &seed, &mut block).is_ok();
    master.iter_mut().for_each(|b| *b = 0);
    core::hint::black_box(&master);
    let ours = usize::from(role == DtlsRole::Server);
    let take = |at: usize, len: usize| block.get(at..at + len).map(<[u8]>::to_vec);
    let keys = ok
        .then(|| {
            Some(WriteKeys {
                mac: take(ours * mac_len, mac_len)?,
                key: take(2 * mac_len + ours * key_len, key_len)?,
                iv: take(2 * (mac_len + key_len) + ours * iv_len, iv_len)?,
            })
        })
        .flatten();
    block.iter_mut().for_each(|b| *b = 0);
    core::hint::black_box(&block);
    keys
}

fn aes_cbc(key_len: usize) -> Cipher {
    if key_len == 32 {
        Cipher::aes_256_cbc()
    } else {
        Cipher::aes_128_cbc()
    }
}

fn aes_ecb(key_len: usize) -> Cipher {
    if key_len == 32 {
        Cipher::aes_256_ecb()
    } else {
        Cipher::aes_128_ecb()
    }
}

/// One CBC pass without OpenSSL's padding (the input is already a multiple of the block size).
fn cbc_raw(cipher: Cipher, key: &[u8], iv: Option<&[u8]>, data: &[u8]) -> Option<Vec<u8>> {
    let mut c = Crypter::new(cipher, Mode::Encrypt, key, iv).ok()?;
    c.pad(false);
    let mut out = vec![0u8; data.len() + 16];
    let mut n = c.update(data, &mut out).ok()?;
    n += c.finalize(out.get_mut(n..)?).ok()?;
    out.truncate(n);
    Some(out)
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    let key = PKey::hmac(key).ok()?;
    let mut s = Signer::new(MessageDigest::sha1(), &key).ok()?;
    for p in parts {
        s.update(p).ok()?;
    }
    s.sign_to_vec().ok()
}

/// The fatal alert record to send on this association, or `None` when it cannot be built (no record written
/// yet, keys unavailable, a suite outside our list). Epoch 0 (before our ChangeCipherSpec): in the clear.
pub(crate) fn fatal_alert_record(
    ssl: &SslRef,
    role: DtlsRole,
    sent: &SentRecords,
    alert: Alert,
) -> Option<Vec<u8>> {
    let (epoch, seq) = sent.next()?;
    let plain = [FATAL, alert.0];
    let mut seq_num = [0u8; 8];
    seq_num[..2].copy_from_slice(&epoch.to_be_bytes());
    seq_num[2..].copy_from_slice(&seq.to_be_bytes()[2..]);
    let header = |len: usize| -> Option<Vec<u8>> {
        let len = u16::try_from(len).ok()?;
        let mut h = Vec::with_capacity(13 + usize::from(len));
        h.push(CONTENT_ALERT);
        h.extend_from_slice(&DTLS_1_2);
        h.extend_from_slice(&seq_num);
        h.extend_from_slice(&len.to_be_bytes());
        Some(h)
    };
    if epoch == 0 {
        let mut rec = header(plain.len())?;
        rec.extend_from_slice(&plain);
        return Some(rec);
    }
    let (p, md) = suite(u16::from_be_bytes(ssl.current_cipher()?.protocol_id()))?;
    let keys = write_keys(ssl, role, p, md)?;
    // AEAD additional data: seq_num ‖ type ‖ version ‖ plaintext length (RFC 5246 §6.2.3.3).
    let mut aad = [0u8; 13];
    aad[..8].copy_from_slice(&seq_num);
    aad[8] = CONTENT_ALERT;
    aad[9..11].copy_from_slice(&DTLS_1_2);
    aad[11..].copy_from_slice(&2u16.to_be_bytes());
    let fragment = match p {
        Protection::Gcm(k) => {
            let cipher = if k == 32 {
                Cipher::aes_256_gcm()
            } else {
                Cipher::aes_128_gcm()
            };
            let mut nonce = keys.iv.clone();
            nonce.extend_from_slice(&seq_num);
            let mut tag = [0u8; 16];
            let ct = encrypt_aead(cipher, &keys.key, Some(&nonce), &aad, &plain, &mut tag).ok()?;
            let mut f = seq_num.to_vec();
            f.extend_from_slice(&ct);
            f.extend_from_slice(&tag);
            f
        }
        Protection::ChaCha => {
            let mut nonce = keys.iv.clone();
            for (n, s) in nonce.iter_mut().skip(4).zip(seq_num) {
                *n ^= s;
            }
            let mut tag = [0u8; 16];
            let ct = encrypt_aead(
                Cipher::chacha20_poly1305(),
                &keys.key,
                Some(&nonce),
                &aad,
                &plain,
                &mut tag,
            )
            .ok()?;
            let mut f = ct;
            f.extend_from_slice(&tag);
            f
        }
        Protection::Cbc(k) => {
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&seq_num);
            let iv = cbc_raw(aes_ecb(k), &keys.key, None, &nonce)?;
            // Encrypt-then-MAC bodies are IV + 16·n + 20: ≡ 4 (mod 16); MAC-then-encrypt ones ≡ 0.
            let etm = sent.encrypted_len? % 16 == 4;
            if etm {
                // RFC 7366 §3: pad, encrypt, then MAC over the header (with the ciphertext length), IV and
                // ciphertext.
                let mut padded = plain.to_vec();
                padded.extend_from_slice(&[13u8; 14]);
                let ct = cbc_raw(aes_cbc(k), &keys.key, Some(&iv), &padded)?;
                let mut f = iv;
                f.extend_from_slice(&ct);
                let len = u16::try_from(f.len()).ok()?.to_be_bytes();
                let mac = hmac_sha1(
                    &keys.mac,
                    &[&seq_num, &[CONTENT_ALERT], &DTLS_1_2, &len, &f],
                )?;
                f.extend_from_slice(&mac);
                f
            } else {
                // RFC 5246 §6.2.3.2: MAC over the header and plaintext, then content ‖ MAC ‖ padding encrypted.
                let mac = hmac_sha1(&keys.mac, &[&aad, &plain])?;
                let mut padded = plain.to_vec();
                padded.extend_from_slice(&mac);
                let pad = 16 - padded.len() % 16;
                let pad_byte = u8::try_from(pad - 1).ok()?;
                padded.extend(core::iter::repeat_n(pad_byte, pad));
                let ct = cbc_raw(aes_cbc(k), &keys.key, Some(&iv), &padded)?;
                let mut f = iv;
                f.extend_from_slice(&ct);
                f
            }
        }
    };
    let mut rec = header(fragment.len())?;
    rec.extend_from_slice(&fragment);
    Some(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_6_2b_sent_records_track_the_highest_epoch_and_sequence() {
        let rec = |epoch: u16, seq: u64, len: u16| {
            let mut r = vec![22, 254, 253];
            r.extend_from_slice(&epoch.to_be_bytes());
            r.extend_from_slice(&seq.to_be_bytes()[2..]);
            r.extend_from_slice(&len.to_be_bytes());
            r.extend(core::iter::repeat_n(0, usize::from(len)));
            r
        };
        let mut s = SentRecords::default();
        assert_eq!(s.next(), None);
        let mut d = rec(0, 7, 3);
        d.extend(rec(1, 0, 52));
        d.extend(rec(0, 8, 1));
        s.observe(&d);
        assert_eq!(s.next(), Some((1, 1)));
        assert_eq!(s.encrypted_len, Some(52));
        s.observe(&rec(1, 4, 48));
        s.observe(&rec(0, 9, 1));
        assert_eq!(s.next(), Some((1, 5)));
        assert_eq!(s.encrypted_len, Some(48));
        // Truncated or garbage tails are ignored.
        s.observe(&[22, 254]);
        s.observe(&rec(1, 9, 40)[..20]);
        assert_eq!(s.next(), Some((1, 10)));
    }

    #[test]
    fn p_6_2b_prf_matches_the_published_tls_1_2_sha256_vector() {
        // The TLS 1.2 PRF-SHA256 test vector circulated on the IETF TLS list (secret, seed, "test label").
        let secret = hex("9bbe436ba940f017b17652849a71db35");
        let seed = hex("a0ba9f936cda311827a6f796ffd5198c");
        let mut out = [0u8; 100];
        prf(
            MessageDigest::sha256(),
            &secret,
            b"test label",
            &seed,
            &mut out,
        )
        .unwrap();
        let want = hex(
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66",
        );
        assert_eq!(out.to_vec(), want);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
