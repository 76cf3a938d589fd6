//! SRTP and SRTCP contexts: one direction's session keys, per-SSRC state, replay windows and key-lifetime
//! counters (RFC 3711 §3, RFC 7714 §8–§9).

use core::fmt;
use core::hash::{BuildHasherDefault, Hasher};
use std::collections::HashMap;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::backend::{AesCtr, AesGcm, CryptoBackend, HmacSha1, RustCrypto};
use crate::kdf;
use crate::replay::{Replay, ReplayWindow};
use crate::{DtlsRole, KeyError, SessionMaster, SrtpError, SrtpKeyingMaterial, SrtpProfile};

mod config;

use config::Usage;
pub use config::{Config, KeyStatus, MAX_MKI_LEN};

const RTP_HEADER: usize = 12;
const RTCP_HEADER: usize = 8;
const GCM_TAG: usize = 16;
const SRTCP_INDEX: usize = 4;
const E_BIT: u32 = 0x8000_0000;
/// SRTP packet indices are 48 bits (RFC 3711 §3.3.1).
const MAX_SRTP_INDEX: u64 = (1 << 48) - 1;
/// SRTCP indices are 31 bits (RFC 3711 §3.4).
const MAX_SRTCP_INDEX: u64 = (1 << 31) - 1;
enum Cipher {
    Null,
    Cm(Box<dyn AesCtr>),
    Gcm(Box<dyn AesGcm>),
}

/// The session keys of RTP or RTCP, keyed once.
struct Transform {
    cipher: Cipher,
    /// HMAC-SHA1 for CM and NULL; `None` for GCM.
    mac: Option<Box<dyn HmacSha1>>,
    /// Session salt, zero-padded to 14 octets (GCM uses the first 12).
    salt: Zeroizing<[u8; 14]>,
    tag_len: usize,
}

impl Transform {
    fn new(
        backend: &dyn CryptoBackend,
        master: &SessionMaster,
        rtcp: bool,
    ) -> Result<Self, KeyError> {
        let p = master.profile;
        let key = master.key.expose();
        let msalt = master.salt.expose();
        if key.len() != p.master_key_len() || msalt.len() != p.master_salt_len() {
            return Err(KeyError::WrongLength {
                expected: p.master_key_len() + p.master_salt_len(),
                got: key.len() + msalt.len(),
            });
        }
        let salt_len = if p.is_aead() { 12 } else { 14 };
        let keys = kdf::session_keys(
            backend,
            key,
            msalt,
            rtcp,
            p.cipher_key_len(),
            p.auth_key_len(),
            salt_len,
        )
        .map_err(|e| KeyError::WrongLength {
            expected: p.master_key_len(),
            got: e.0,
        })?;
        let wrong = |e: crate::backend::BadKeyLength| KeyError::WrongLength {
            expected: p.cipher_key_len(),
            got: e.0,
        };
        let cipher = if !p.is_encrypting() {
            Cipher::Null
        } else if p.is_aead() {
            Cipher::Gcm(backend.aes_gcm(&keys.enc).map_err(wrong)?)
        } else {
            Cipher::Cm(backend.aes_ctr(&keys.enc).map_err(wrong)?)
        };
        Self::from_session(backend, p, cipher, &keys.auth, &keys.salt, rtcp)
    }

    /// Keys the transform from session keys (the KDF output).
    fn from_session(
        backend: &dyn CryptoBackend,
        p: SrtpProfile,
        cipher: Cipher,
        auth_key: &[u8],
        session_salt: &[u8],
        rtcp: bool,
    ) -> Result<Self, KeyError> {
        let mac = if p.is_aead() {
            None
        } else {
            Some(backend.hmac_sha1(auth_key))
        };
        let mut salt = Zeroizing::new([0u8; 14]);
        for (d, s) in salt.iter_mut().zip(session_salt.iter()) {
            *d = *s;
        }
        Ok(Self {
            cipher,
            mac,
            salt,
            tag_len: if rtcp {
                p.srtcp_tag_len()
            } else {
                p.srtp_tag_len()
            },
        })
    }

    /// AES-CM IV (RFC 3711 §4.1.1, S-2): (salt·2^16) ⊕ (SSRC·2^64) ⊕ (index·2^16).
    #[inline]
    fn cm_iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&self.salt[..]);
        let s = ssrc.to_be_bytes();
        let i = index.to_be_bytes();
        for k in 0..4 {
            iv[4 + k] ^= s[k];
        }
        for k in 0..6 {
            iv[8 + k] ^= i[2 + k];
        }
        iv
    }

    /// GCM IV for SRTP (RFC 7714 §8.1, S-5): (0x0000 ‖ SSRC ‖ ROC ‖ SEQ) ⊕ salt.
    #[inline]
    fn gcm_rtp_iv(&self, ssrc: u32, index: u64) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..12].copy_from_slice(&index.to_be_bytes()[2..8]);
        for (d, s) in iv.iter_mut().zip(self.salt.iter()) {
            *d ^= *s;
        }
        iv
    }

    /// GCM IV for SRTCP (RFC 7714 §9.1, S-5): (0x0000 ‖ SSRC ‖ 0x0000 ‖ 0 ‖ index31) ⊕ salt.
    #[inline]
    fn gcm_rtcp_iv(&self, ssrc: u32, index: u32) -> [u8; 12] {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[8..12].copy_from_slice(&(index & 0x7fff_ffff).to_be_bytes());
        for (d, s) in iv.iter_mut().zip(self.salt.iter()) {
            *d ^= *s;
        }
        iv
    }
}

/// A fast hasher for SSRC keys. Only authenticated packets create map entries, so an attacker cannot choose
/// keys without the session keys.
#[derive(Default, Clone, Copy)]
struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

/// Per-SSRC state: the RTP window (its top is the highest index, i.e. ROC·2^16 + SEQ) and the SRTCP window.
#[derive(Default)]
struct Stream {
    rtp: Option<ReplayWindow>,
    rtcp: Option<ReplayWindow>,
}

/// One direction of an SRTP session: protects (outbound) or unprotects (inbound) SRTP and SRTCP packets
/// of any number of SSRCs with one master key.
///
/// Both directions use the same type; build the pair for a DTLS association with
/// [`SrtpContext::from_keying_material`]. Every method works in place and allocates nothing per packet
/// (a new SSRC allocates its state once, after its first packet was authenticated).
pub struct SrtpContext {
    profile: SrtpProfile,
    rtp: Transform,
    rtcp: Transform,
    mki: Box<[u8]>,
    rtcp_encrypt: bool,
    replay_window: usize,
    max_streams: usize,
    streams: HashMap<u32, Stream, BuildHasherDefault<SsrcHasher>>,
    srtp_usage: Usage,
    srtcp_usage: Usage,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpContext")
            .field("profile", &self.profile)
            .field("keys", &"<redacted>")
            .field("mki_len", &self.mki.len())
            .field("streams", &self.streams.len())
            .field("srtp_packets", &self.srtp_usage.used)
            .field("srtcp_packets", &self.srtcp_usage.used)
            .finish()
    }
}

/// RTP header facts needed for the transform.
struct RtpHeader {
    len: usize,
    seq: u16,
    ssrc: u32,
}

/// Parses the fixed header, CSRCs and extension header (RFC 3550 §5.1, §5.3.1) of `pkt`.
#[inline]
fn parse_rtp(pkt: &[u8]) -> Result<RtpHeader, SrtpError> {
    let fixed: &[u8; RTP_HEADER] = pkt
        .get(..RTP_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(SrtpError::TooShort)?;
    if fixed[0] >> 6 != 2 {
        return Err(SrtpError::BadVersion);
    }
    let cc = usize::from(fixed[0] & 0x0f);
    let mut len = RTP_HEADER + 4 * cc;
    if fixed[0] & 0x10 != 0 {
        let ext = pkt.get(len..len + 4).ok_or(SrtpError::TooShort)?;
        let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        len += 4 + 4 * words;
    }
    if len > pkt.len() {
        return Err(SrtpError::TooShort);
    }
    Ok(RtpHeader {
        len,
        seq: u16::from_be_bytes([fixed[2], fixed[3]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
    })
}

/// Parses the first 8 octets of an RTCP packet: version check, sender SSRC.
#[inline]
fn parse_rtcp(pkt: &[u8]) -> Result<u32, SrtpError> {
    let h = pkt.get(..RTCP_HEADER).ok_or(SrtpError::TooShort)?;
    if h[0] >> 6 != 2 {
        return Err(SrtpError::BadVersion);
    }
    Ok(u32::from_be_bytes([h[4], h[5], h[6], h[7]]))
}

/// The packet index for `seq` given the highest index so far (RFC 3711 §3.3.1, Appendix A, S-3).
/// `None` when the guess would fall below index 0 (a ROC of -1).
#[inline]
fn estimate_index(top: u64, seq: u16) -> Option<u64> {
    let roc = top >> 16;
    let s_l = (top & 0xffff) as i64;
    let s = i64::from(seq);
    let v = if s_l < 32768 {
        if s - s_l > 32768 {
            roc.checked_sub(1)?
        } else {
            roc
        }
    } else if s_l - 32768 > s {
        roc + 1
    } else {
        roc
    };
    Some((v << 16) | u64::from(seq))
}

fn replay_err(r: Replay) -> SrtpError {
    match r {
        Replay::Duplicate => SrtpError::ReplayDuplicate,
        Replay::TooOld => SrtpError::ReplayTooOld,
    }
}

impl SrtpContext {
    /// A context for one direction, with the default RustCrypto backend.
    pub fn new(master: &SessionMaster, config: &Config) -> Result<Self, KeyError> {
        Self::with_backend(master, config, &RustCrypto)
    }

    /// A context for one direction, with the given cipher backend.
    pub fn with_backend(
        master: &SessionMaster,
        config: &Config,
        backend: &dyn CryptoBackend,
    ) -> Result<Self, KeyError> {
        let p = master.profile;
        Ok(Self {
            profile: p,
            rtp: Transform::new(backend, master, false)?,
            rtcp: Transform::new(backend, master, true)?,
            mki: config.mki.clone().into_boxed_slice(),
            rtcp_encrypt: config.rtcp_encrypt && p.is_encrypting(),
            replay_window: config.replay_window,
            max_streams: config.max_streams,
            streams: HashMap::default(),
            srtp_usage: Usage::new(p.srtp_lifetime(), config.srtp_lifetime),
            srtcp_usage: Usage::new(p.srtcp_lifetime(), config.srtcp_lifetime),
        })
    }

    /// The `(outbound, inbound)` contexts of a DTLS-SRTP association for our DTLS role: the outbound one
    /// protects with our write keys, the inbound one unprotects with the peer's (D-4.2b).
    pub fn from_keying_material(
        km: &SrtpKeyingMaterial,
        role: DtlsRole,
        config: &Config,
    ) -> Result<(Self, Self), KeyError> {
        let (tx, rx) = km.for_role(role);
        Ok((Self::new(tx, config)?, Self::new(rx, config)?))
    }

    /// A context keyed directly with session keys (`(encryption key, auth key, salt)` for RTP and for RTCP),
    /// bypassing the KDF. Only for RFC test vectors, which are given as session keys.
    #[doc(hidden)]
    pub fn from_session_keys(
        profile: SrtpProfile,
        rtp: (&[u8], &[u8], &[u8]),
        rtcp: (&[u8], &[u8], &[u8]),
        config: &Config,
    ) -> Result<Self, KeyError> {
        let backend = &RustCrypto;
        let mk = |(enc, auth, salt): (&[u8], &[u8], &[u8]), is_rtcp| {
            let wrong = |e: crate::backend::BadKeyLength| KeyError::WrongLength {
                expected: profile.cipher_key_len(),
                got: e.0,
            };
            let cipher = if !profile.is_encrypting() {
                Cipher::Null
            } else if profile.is_aead() {
                Cipher::Gcm(backend.aes_gcm(enc).map_err(wrong)?)
            } else {
                Cipher::Cm(backend.aes_ctr(enc).map_err(wrong)?)
            };
            Transform::from_session(backend, profile, cipher, auth, salt, is_rtcp)
        };
        let master = SessionMaster::new(
            profile,
            &vec![0; profile.master_key_len()],
            &vec![0; profile.master_salt_len()],
        )?;
        let mut ctx = Self::new(&master, config)?;
        ctx.rtp = mk(rtp, false)?;
        ctx.rtcp = mk(rtcp, true)?;
        Ok(ctx)
    }

    /// Sets the SRTCP index the next `protect_rtcp` for `ssrc` uses (e.g. to continue a stream in a new
    /// context). Indices are 31 bits.
    pub fn set_next_srtcp_index(&mut self, ssrc: u32, index: u32) -> Result<(), SrtpError> {
        if u64::from(index) > MAX_SRTCP_INDEX || index == 0 {
            // Index 0 is what a new stream starts at anyway.
            if index == 0 {
                if let Some(st) = self.streams.get_mut(&ssrc) {
                    st.rtcp = None;
                }
                return Ok(());
            }
            return Err(SrtpError::KeyExhausted);
        }
        self.ensure_room(ssrc)?;
        let window = self.replay_window;
        self.streams.entry(ssrc).or_default().rtcp =
            Some(ReplayWindow::new(window, u64::from(index) - 1));
        Ok(())
    }

    /// The protection profile.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// Octets `protect_rtp` adds: MKI plus tag.
    pub fn rtp_overhead(&self) -> usize {
        self.mki.len() + self.rtp.tag_len
    }

    /// Octets `protect_rtcp` adds: SRTCP index, MKI and tag.
    pub fn rtcp_overhead(&self) -> usize {
        SRTCP_INDEX + self.mki.len() + self.rtcp.tag_len
    }

    /// The worse of the SRTP and SRTCP key-lifetime states (D-4.4).
    pub fn key_status(&self) -> KeyStatus {
        self.srtp_usage.status().max(self.srtcp_usage.status())
    }

    /// SRTP packets processed with this master key.
    pub fn srtp_packets(&self) -> u64 {
        self.srtp_usage.used
    }

    /// SRTCP packets processed with this master key.
    pub fn srtcp_packets(&self) -> u64 {
        self.srtcp_usage.used
    }

    /// The ROC of `ssrc`'s highest RTP index, if the SSRC is known.
    pub fn roc(&self, ssrc: u32) -> Option<u32> {
        let top = self.streams.get(&ssrc)?.rtp.as_ref()?.top();
        u32::try_from(top >> 16).ok()
    }

    fn ensure_room(&self, ssrc: u32) -> Result<(), SrtpError> {
        if self.streams.len() >= self.max_streams && !self.streams.contains_key(&ssrc) {
            Err(SrtpError::TooManyStreams)
        } else {
            Ok(())
        }
    }

    fn commit_rtp(&mut self, ssrc: u32, index: u64) {
        let window = self.replay_window;
        let st = self.streams.entry(ssrc).or_default();
        match &mut st.rtp {
            Some(w) => w.accept(index),
            None => st.rtp = Some(ReplayWindow::new(window, index)),
        }
        self.srtp_usage.used += 1;
    }

    fn commit_rtcp(&mut self, ssrc: u32, index: u64) {
        let window = self.replay_window;
        let st = self.streams.entry(ssrc).or_default();
        match &mut st.rtcp {
            Some(w) => w.accept(index),
            None => st.rtcp = Some(ReplayWindow::new(window, index)),
        }
        self.srtcp_usage.used += 1;
    }

    /// Protects the RTP packet in `packet` in place, appending MKI and tag (the vector grows only when its
    /// capacity is short of [`rtp_overhead`](Self::rtp_overhead)).
    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = packet.len();
        packet.resize(len + self.rtp_overhead(), 0);
        match self.protect_rtp_in(packet, len) {
            Ok(n) => {
                packet.truncate(n);
                Ok(())
            }
            Err(e) => {
                packet.truncate(len);
                Err(e)
            }
        }
    }

    /// Protects the RTP packet in `buf[..len]` in place; `buf` must have [`rtp_overhead`](Self::rtp_overhead)
    /// octets of tail room. Returns the protected length.
    pub fn protect_rtp_in(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let out_len = len
            .checked_add(self.rtp_overhead())
            .filter(|n| *n <= buf.len())
            .ok_or(SrtpError::BufferTooSmall)?;
        let hdr = parse_rtp(&buf[..len])?;
        let index = match self.streams.get(&hdr.ssrc).and_then(|s| s.rtp.as_ref()) {
            Some(w) => {
                let i = estimate_index(w.top(), hdr.seq).ok_or(SrtpError::ReplayTooOld)?;
                w.check(i).map_err(replay_err)?;
                i
            }
            None => {
                self.ensure_room(hdr.ssrc)?;
                u64::from(hdr.seq)
            }
        };
        if index > MAX_SRTP_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        self.srtp_usage.check()?;
        let roc = ((index >> 16) as u32).to_be_bytes();
        let mki_len = self.mki.len();
        let t = &self.rtp;
        match &t.cipher {
            Cipher::Gcm(gcm) => {
                let iv = t.gcm_rtp_iv(hdr.ssrc, index);
                let (head, rest) = buf.split_at_mut(hdr.len);
                let (payload, tail) = rest.split_at_mut(len - hdr.len);
                let tag = gcm.seal(&iv, head, payload);
                tail[..GCM_TAG].copy_from_slice(&tag);
                tail[GCM_TAG..GCM_TAG + mki_len].copy_from_slice(&self.mki);
            }
            Cipher::Cm(ctr) => {
                ctr.apply_keystream(&t.cm_iv(hdr.ssrc, index), &mut buf[hdr.len..len]);
                Self::hmac_tail(t, &self.mki, buf, len, &roc);
            }
            Cipher::Null => Self::hmac_tail(t, &self.mki, buf, len, &roc),
        }
        self.commit_rtp(hdr.ssrc, index);
        Ok(out_len)
    }

    /// Writes `MKI ‖ tag` after `buf[..len]`, the tag being HMAC-SHA1(`buf[..len]` ‖ `trailer`) truncated.
    #[inline]
    fn hmac_tail(t: &Transform, mki: &[u8], buf: &mut [u8], len: usize, trailer: &[u8]) {
        if let Some(mac) = &t.mac {
            let full = mac.mac(&buf[..len], trailer);
            let (m, rest) = buf[len..].split_at_mut(mki.len());
            m.copy_from_slice(mki);
            rest[..t.tag_len].copy_from_slice(&full[..t.tag_len]);
        }
    }

    /// Checks an HMAC tag in constant time.
    #[inline]
    fn hmac_ok(t: &Transform, data: &[u8], trailer: &[u8], tag: &[u8]) -> bool {
        match &t.mac {
            Some(mac) => {
                let full = mac.mac(data, trailer);
                bool::from(full[..t.tag_len].ct_eq(tag))
            }
            None => false,
        }
    }

    /// Unprotects the SRTP packet in `packet` in place and truncates it to the RTP packet.
    pub fn unprotect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let n = self.unprotect_rtp_in(packet)?;
        packet.truncate(n);
        Ok(())
    }

    /// Unprotects the SRTP packet filling `buf` in place; returns the length of the RTP packet at its start.
    pub fn unprotect_rtp_in(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let len = buf.len();
        let tag_len = self.rtp.tag_len;
        let mki_len = self.mki.len();
        let body_len = len
            .checked_sub(tag_len + mki_len)
            .filter(|b| *b >= RTP_HEADER)
            .ok_or(SrtpError::TooShort)?;
        // Layout: CM/NULL `header | payload | MKI | tag`, GCM `header | ciphertext | tag | MKI`.
        let (mki_at, tag_at) = if self.rtp.mac.is_some() {
            (body_len, body_len + mki_len)
        } else {
            (body_len + tag_len, body_len)
        };
        let hdr = parse_rtp(&buf[..body_len])?;
        if !bool::from(buf[mki_at..mki_at + mki_len].ct_eq(&self.mki)) {
            return Err(SrtpError::UnknownMki);
        }
        let index = match self.streams.get(&hdr.ssrc).and_then(|s| s.rtp.as_ref()) {
            Some(w) => {
                let i = estimate_index(w.top(), hdr.seq).ok_or(SrtpError::ReplayTooOld)?;
                w.check(i).map_err(replay_err)?;
                i
            }
            None => {
                self.ensure_room(hdr.ssrc)?;
                u64::from(hdr.seq)
            }
        };
        self.srtp_usage.check()?;
        let t = &self.rtp;
        match &t.cipher {
            Cipher::Gcm(gcm) => {
                let iv = t.gcm_rtp_iv(hdr.ssrc, index);
                let tag: [u8; GCM_TAG] = buf[tag_at..tag_at + GCM_TAG]
                    .try_into()
                    .map_err(|_| SrtpError::TooShort)?;
                let (head, rest) = buf.split_at_mut(hdr.len);
                if !gcm.open(&iv, head, &mut rest[..body_len - hdr.len], &tag) {
                    return Err(SrtpError::AuthFailed);
                }
            }
            cipher => {
                let roc = ((index >> 16) as u32).to_be_bytes();
                if !Self::hmac_ok(t, &buf[..body_len], &roc, &buf[tag_at..tag_at + tag_len]) {
                    return Err(SrtpError::AuthFailed);
                }
                if let Cipher::Cm(ctr) = cipher {
                    ctr.apply_keystream(&t.cm_iv(hdr.ssrc, index), &mut buf[hdr.len..body_len]);
                }
            }
        }
        self.commit_rtp(hdr.ssrc, index);
        Ok(body_len)
    }

    /// Protects the (compound) RTCP packet in `packet` in place, appending `E ‖ index`, MKI and tag.
    pub fn protect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = packet.len();
        packet.resize(len + self.rtcp_overhead(), 0);
        match self.protect_rtcp_in(packet, len) {
            Ok(n) => {
                packet.truncate(n);
                Ok(())
            }
            Err(e) => {
                packet.truncate(len);
                Err(e)
            }
        }
    }

    /// Protects the RTCP packet in `buf[..len]` in place; `buf` must have
    /// [`rtcp_overhead`](Self::rtcp_overhead) octets of tail room. Returns the protected length.
    pub fn protect_rtcp_in(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let out_len = len
            .checked_add(self.rtcp_overhead())
            .filter(|n| *n <= buf.len())
            .ok_or(SrtpError::BufferTooSmall)?;
        let ssrc = parse_rtcp(&buf[..len])?;
        let index = match self.streams.get(&ssrc).and_then(|s| s.rtcp.as_ref()) {
            Some(w) => w.top() + 1,
            None => {
                self.ensure_room(ssrc)?;
                0
            }
        };
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::KeyExhausted);
        }
        self.srtcp_usage.check()?;
        let idx = index as u32;
        let encrypt = self.rtcp_encrypt;
        let e_index = (if encrypt { idx | E_BIT } else { idx }).to_be_bytes();
        let mki = &self.mki;
        let t = &self.rtcp;
        match &t.cipher {
            Cipher::Gcm(gcm) => {
                let iv = t.gcm_rtcp_iv(ssrc, idx);
                // Output: header | ciphertext | tag | E‖index | MKI (RFC 7714 §9).
                let tag = if encrypt {
                    let mut aad = [0u8; RTCP_HEADER + SRTCP_INDEX];
                    aad[..RTCP_HEADER].copy_from_slice(&buf[..RTCP_HEADER]);
                    aad[RTCP_HEADER..].copy_from_slice(&e_index);
                    gcm.seal(&iv, &aad, &mut buf[RTCP_HEADER..len])
                } else {
                    // E = 0: the whole packet ‖ E‖index is AAD, the plaintext is empty (RFC 7714 §9.2).
                    buf[len..len + SRTCP_INDEX].copy_from_slice(&e_index);
                    gcm.seal(&iv, &buf[..len + SRTCP_INDEX], &mut [])
                };
                buf[len..len + GCM_TAG].copy_from_slice(&tag);
                let at = len + GCM_TAG;
                buf[at..at + SRTCP_INDEX].copy_from_slice(&e_index);
                buf[at + SRTCP_INDEX..at + SRTCP_INDEX + mki.len()].copy_from_slice(mki);
            }
            cipher => {
                // Output: header | encrypted rest | E‖index | MKI | tag (RFC 3711 §3.4).
                if let (Cipher::Cm(ctr), true) = (cipher, encrypt) {
                    ctr.apply_keystream(&t.cm_iv(ssrc, index), &mut buf[RTCP_HEADER..len]);
                }
                buf[len..len + SRTCP_INDEX].copy_from_slice(&e_index);
                Self::hmac_tail(t, mki, buf, len + SRTCP_INDEX, &[]);
            }
        }
        self.commit_rtcp(ssrc, index);
        Ok(out_len)
    }

    /// Unprotects the SRTCP packet in `packet` in place and truncates it to the RTCP packet.
    pub fn unprotect_rtcp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let n = self.unprotect_rtcp_in(packet)?;
        packet.truncate(n);
        Ok(())
    }

    /// Unprotects the SRTCP packet filling `buf` in place; returns the length of the RTCP packet at its start.
    pub fn unprotect_rtcp_in(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let len = buf.len();
        let tag_len = self.rtcp.tag_len;
        let mki_len = self.mki.len();
        let gcm = self.rtcp.mac.is_none();
        // CM/NULL: header | rest | E‖index | MKI | tag.  GCM: header | ciphertext | tag | E‖index | MKI.
        let (eidx_at, mki_at, tag_at, body_len) = if gcm {
            let eidx_at = len
                .checked_sub(mki_len + SRTCP_INDEX)
                .ok_or(SrtpError::TooShort)?;
            let tag_at = eidx_at
                .checked_sub(tag_len)
                .filter(|t| *t >= RTCP_HEADER)
                .ok_or(SrtpError::TooShort)?;
            (eidx_at, eidx_at + SRTCP_INDEX, tag_at, tag_at)
        } else {
            let eidx_at = len
                .checked_sub(tag_len + mki_len + SRTCP_INDEX)
                .filter(|e| *e >= RTCP_HEADER)
                .ok_or(SrtpError::TooShort)?;
            (
                eidx_at,
                eidx_at + SRTCP_INDEX,
                eidx_at + SRTCP_INDEX + mki_len,
                eidx_at,
            )
        };
        let ssrc = parse_rtcp(&buf[..body_len])?;
        if !bool::from(buf[mki_at..mki_at + mki_len].ct_eq(&self.mki)) {
            return Err(SrtpError::UnknownMki);
        }
        let e_index: [u8; 4] = buf[eidx_at..eidx_at + SRTCP_INDEX]
            .try_into()
            .map_err(|_| SrtpError::TooShort)?;
        let word = u32::from_be_bytes(e_index);
        let encrypted = word & E_BIT != 0;
        let idx = word & !E_BIT;
        let index = u64::from(idx);
        match self.streams.get(&ssrc).and_then(|s| s.rtcp.as_ref()) {
            Some(w) => w.check(index).map_err(replay_err)?,
            None => self.ensure_room(ssrc)?,
        }
        self.srtcp_usage.check()?;
        let t = &self.rtcp;
        match &t.cipher {
            Cipher::Gcm(g) => {
                let iv = t.gcm_rtcp_iv(ssrc, idx);
                let tag: [u8; GCM_TAG] = buf[tag_at..tag_at + GCM_TAG]
                    .try_into()
                    .map_err(|_| SrtpError::TooShort)?;
                if encrypted {
                    let mut aad = [0u8; RTCP_HEADER + SRTCP_INDEX];
                    aad[..RTCP_HEADER].copy_from_slice(&buf[..RTCP_HEADER]);
                    aad[RTCP_HEADER..].copy_from_slice(&e_index);
                    if !g.open(&iv, &aad, &mut buf[RTCP_HEADER..body_len], &tag) {
                        return Err(SrtpError::AuthFailed);
                    }
                } else {
                    // E = 0: AAD = packet ‖ E‖index. Move E‖index next to the packet to make the AAD
                    // contiguous, and put the tag back if it does not verify.
                    buf[tag_at..tag_at + SRTCP_INDEX].copy_from_slice(&e_index);
                    if !g.open(&iv, &buf[..tag_at + SRTCP_INDEX], &mut [], &tag) {
                        buf[tag_at..tag_at + GCM_TAG].copy_from_slice(&tag);
                        return Err(SrtpError::AuthFailed);
                    }
                }
            }
            cipher => {
                if !Self::hmac_ok(
                    t,
                    &buf[..eidx_at + SRTCP_INDEX],
                    &[],
                    &buf[tag_at..tag_at + tag_len],
                ) {
                    return Err(SrtpError::AuthFailed);
                }
                if let (Cipher::Cm(ctr), true) = (cipher, encrypted) {
                    ctr.apply_keystream(&t.cm_iv(ssrc, index), &mut buf[RTCP_HEADER..body_len]);
                }
            }
        }
        self.commit_rtcp(ssrc, index);
        Ok(body_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s_3_estimate_index_appendix_a() {
        // Plain successor, wrap forward, late packet from before the wrap.
        assert_eq!(estimate_index(100, 101), Some(101));
        assert_eq!(estimate_index(65535, 0), Some(1 << 16));
        assert_eq!(estimate_index(1 << 16, 65535), Some(65535));
        assert_eq!(
            estimate_index((5 << 16) | 10, 65530),
            Some((4 << 16) | 65530)
        );
        assert_eq!(estimate_index((5 << 16) | 40000, 5), Some((6 << 16) | 5));
        // ROC would be -1.
        assert_eq!(estimate_index(10, 60000), None);
    }

    #[test]
    fn d_4_4_usage_states() {
        let mut u = Usage::new(1 << 31, Some(80));
        assert_eq!(u.status(), KeyStatus::Fresh);
        u.used = 70;
        assert_eq!(u.status(), KeyStatus::NearLimit);
        assert_eq!(u.check(), Ok(()));
        u.used = 80;
        assert_eq!(u.status(), KeyStatus::Exhausted);
        assert_eq!(u.check(), Err(SrtpError::KeyExhausted));
        assert_eq!(Usage::new(100, Some(1000)).limit, 100);
    }
}
