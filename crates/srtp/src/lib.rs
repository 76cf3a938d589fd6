//! SRTP and SRTCP for every DTLS-SRTP protection profile (RFC 3711, RFC 7714, RFC 5764).
//!
//! Sans-IO: no clock, no RNG, no socket. Packets are transformed in place, with no allocation per packet.
//!
//! * [`SrtpProfile`]: the profile table (code points, key/salt/tag lengths, exporter length, lifetimes).
//! * [`SrtpKeyingMaterial`]: the split of the DTLS exporter output (D-4.2a).
//! * [`SrtpContext`]: one direction (protect or unprotect) of SRTP and SRTCP for any number of SSRCs, with
//!   the RFC 3711 §4.3 KDF, ROC estimation, replay windows, optional MKI and key-lifetime counters.
//! * [`backend`]: the cipher trait and its default RustCrypto implementation.
//!
//! ```
//! use dtlsrtp_srtp::{Config, DtlsRole, SrtpContext, SrtpKeyingMaterial, SrtpProfile};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let profile = SrtpProfile::AeadAes128Gcm;
//! // In a call this comes from the DTLS exporter (label EXTRACTOR-dtls_srtp).
//! let exported = vec![7u8; profile.exporter_len()];
//! let km = SrtpKeyingMaterial::from_exporter(profile, &exported)?;
//! let (mut client_tx, _client_rx) = SrtpContext::from_keying_material(&km, DtlsRole::Client, &Config::default())?;
//! let (_server_tx, mut server_rx) = SrtpContext::from_keying_material(&km, DtlsRole::Server, &Config::default())?;
//!
//! // RTP: V=2, PT 0, SEQ 1, TS 160, SSRC 0x11223344, 160 octets of payload.
//! let mut rtp = vec![0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0x11, 0x22, 0x33, 0x44];
//! rtp.extend_from_slice(&[0xd5; 160]);
//! let original = rtp.clone();
//! rtp.reserve(client_tx.rtp_overhead()); // tail room: protect then never reallocates
//! client_tx.protect_rtp(&mut rtp)?;
//! assert_eq!(rtp.len(), original.len() + 16);
//! server_rx.unprotect_rtp(&mut rtp)?;
//! assert_eq!(rtp, original);
//! // A replay is refused, and the context is unchanged by the refusal.
//! let mut again = original.clone();
//! client_tx.protect_rtp(&mut again).unwrap_err();
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod backend;
mod context;
mod error;
mod kdf;
mod keys;
mod replay;

pub use context::{Config, KeyStatus, SrtpContext, MAX_MKI_LEN};
pub use dtlsrtp_types::DtlsRole;
pub use dtlsrtp_types::{SrtpProfile, UnknownProfile};
pub use error::SrtpError;
pub use keys::{KeyError, MasterKey, MasterSalt, SessionMaster, SrtpKeyingMaterial};
pub use replay::MAX_REPLAY_WINDOW;

#[doc(hidden)]
pub mod __private {
    //! Internals exposed for the crate's own tests and benchmark; not a stable API.
    use crate::kdf::Label;

    /// Derives `out.len()` octets for `label` (RFC 3711 §4.3, KDR 0) with the RustCrypto backend.
    pub fn kdf(master_key: &[u8], master_salt: &[u8], label: u8, out: &mut [u8]) -> bool {
        let l = match label {
            0 => Label::RtpEncryption,
            1 => Label::RtpAuth,
            2 => Label::RtpSalt,
            3 => Label::RtcpEncryption,
            4 => Label::RtcpAuth,
            5 => Label::RtcpSalt,
            _ => return false,
        };
        crate::kdf::derive(&crate::backend::RustCrypto, master_key, master_salt, l, out).is_ok()
    }
}
