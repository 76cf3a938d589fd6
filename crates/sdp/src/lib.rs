//! SDP (RFC 8866) and the DTLS-SRTP offer/answer rules (RFC 5763 as updated by RFC 8842, RFC 8122, RFC 5939).
#![forbid(unsafe_code)]

pub mod fingerprint;

pub use fingerprint::{Fingerprint, FingerprintError, HashFunction};
