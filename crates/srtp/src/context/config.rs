//! A context's settings ([`Config`]) and the key-lifetime accounting ([`KeyStatus`], `Usage`; D-4.4).

use core::fmt;

use crate::replay::MAX_REPLAY_WINDOW;
use crate::SrtpError;

/// The warning margin before a key's lifetime ends (D-4.4): 2^16 packets, or 1/8 of a short lifetime.
const WARN_MARGIN: u64 = 1 << 16;

/// Largest MKI this crate accepts (RFC 5764 `srtp_mki<0..255>`).
pub const MAX_MKI_LEN: usize = 255;

/// Per-context settings. `Config::default()` is what DTLS-SRTP uses: replay window 64, no MKI, SRTCP
/// encrypted, the profile's maximum key lifetimes.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub(super) replay_window: usize,
    pub(super) mki: Vec<u8>,
    pub(super) rtcp_encrypt: bool,
    pub(super) max_streams: usize,
    pub(super) srtp_lifetime: Option<u64>,
    pub(super) srtcp_lifetime: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            replay_window: 64,
            mki: Vec::new(),
            rtcp_encrypt: true,
            max_streams: 4096,
            srtp_lifetime: None,
            srtcp_lifetime: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("replay_window", &self.replay_window)
            .field("mki_len", &self.mki.len())
            .field("rtcp_encrypt", &self.rtcp_encrypt)
            .field("max_streams", &self.max_streams)
            .field("srtp_lifetime", &self.srtp_lifetime)
            .field("srtcp_lifetime", &self.srtcp_lifetime)
            .finish()
    }
}

impl Config {
    /// Replay window size in packets (RFC 3711 §3.3.2; default 64, clamped to `64..=32768`).
    pub fn replay_window(mut self, packets: usize) -> Self {
        self.replay_window = packets.clamp(64, MAX_REPLAY_WINDOW);
        self
    }

    /// The MKI carried in every packet (D-4.1d); empty means none. Truncated to 255 octets.
    pub fn mki(mut self, mki: &[u8]) -> Self {
        self.mki = mki.iter().take(MAX_MKI_LEN).copied().collect();
        self
    }

    /// Whether protected SRTCP is encrypted (E = 1, the default) or only authenticated (E = 0). Unprotect
    /// accepts both. The NULL profiles never encrypt.
    pub fn rtcp_encrypt(mut self, encrypt: bool) -> Self {
        self.rtcp_encrypt = encrypt;
        self
    }

    /// Most SSRCs tracked by one context (default 4096).
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n.max(1);
        self
    }

    /// Lower key lifetimes (packets per master key) than the profile's maxima (D-4.4), e.g. to rekey early.
    /// Values above the profile's maxima are ignored.
    pub fn key_lifetimes(mut self, srtp: u64, srtcp: u64) -> Self {
        self.srtp_lifetime = Some(srtp);
        self.srtcp_lifetime = Some(srtcp);
        self
    }
}

/// Where a master key stands against its lifetime (D-4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum KeyStatus {
    /// Far from the limit.
    Fresh,
    /// Within the warning margin of the limit: start a new DTLS association now.
    NearLimit,
    /// The limit is reached: every further packet fails with [`SrtpError::KeyExhausted`].
    Exhausted,
}

/// Packet counter against a lifetime.
#[derive(Clone, Copy, Debug)]
pub(super) struct Usage {
    pub(super) used: u64,
    pub(super) limit: u64,
}

impl Usage {
    pub(super) fn new(profile_max: u64, configured: Option<u64>) -> Self {
        Self {
            used: 0,
            limit: configured.map_or(profile_max, |c| c.min(profile_max)),
        }
    }
    #[inline]
    pub(super) fn check(&self) -> Result<(), SrtpError> {
        if self.used >= self.limit {
            Err(SrtpError::KeyExhausted)
        } else {
            Ok(())
        }
    }
    pub(super) fn status(&self) -> KeyStatus {
        let margin = WARN_MARGIN.min(self.limit / 8);
        if self.used >= self.limit {
            KeyStatus::Exhausted
        } else if self.limit - self.used <= margin {
            KeyStatus::NearLimit
        } else {
            KeyStatus::Fresh
        }
    }
}
