//! Types shared by the dtlsrtp layers (issue 13 design item 1), so that no protocol crate depends on another
//! for a value type: `dtls` needs fingerprints without depending on `sdp`; SRTP profiles and the DTLS role are
//! shared by `srtp`, `dtls`, `sdp` users and the media port; the fork id by the signalling layer and the port;
//! one seedable [`Rng`] replaces the per-crate generators.
//!
//! Pure: no I/O, no clock, no global generator, and no dependency on another dtlsrtp crate. The old paths
//! stay as re-exports (`dtlsrtp_sdp::Fingerprint`, `dtlsrtp_srtp::SrtpProfile`, `dtlsrtp_media::ForkId`).
//!
//! ```
//! use dtlsrtp_types::{Fingerprint, HashFunction, Rng, SeededRng, SrtpProfile};
//!
//! let fp: Fingerprint = "sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89"
//!     .parse()
//!     .unwrap();
//! assert_eq!(fp.hash(), HashFunction::Sha256);
//! assert_eq!(SrtpProfile::AeadAes128Gcm.code_point(), 0x0007);
//! let mut rng = SeededRng::new([7; 32]); // the driver seeds from the OS
//! let ssrc = Rng::u32(&mut rng);
//! assert_eq!(ssrc, SeededRng::new([7; 32]).u32());
//! ```

pub mod fingerprint;
mod fork;
mod profile;
mod rng;
mod role;

pub use fingerprint::{preferred_set, Fingerprint, FingerprintError, HashFunction};
pub use fork::ForkId;
pub use profile::{SrtpProfile, UnknownProfile};
#[cfg(feature = "os-rng")]
pub use rng::OsRng;
pub use rng::{Rng, SeededRng};
pub use role::DtlsRole;
