//! SRTP and SRTCP for every DTLS-SRTP protection profile (RFC 3711, RFC 7714, RFC 5764).
//!
//! Sans-IO: no clock, no RNG, no socket. Packets are transformed in place.
#![forbid(unsafe_code)]

mod keys;
mod profile;

pub use keys::{DtlsRole, KeyError, MasterKey, MasterSalt, SessionMaster, SrtpKeyingMaterial};
pub use profile::{SrtpProfile, UnknownProfile};
