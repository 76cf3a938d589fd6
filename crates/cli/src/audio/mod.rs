//! Audio for `dtlsrtp call`/`answer`: G.711 (PCMU/PCMA), WAV files at 8 kHz mono 16-bit, a tone generator, a
//! Goertzel tone detector, correlation between sent and received audio, 20 ms packetisation, and the receive
//! path (a jitter buffer with RFC 3550 A.8 statistics).
//!
//! Everything here is pure computation on samples and bytes: no sockets, no clock (times come in as RTP
//! timestamp units or arguments), so each piece is unit-tested on its own.

// The command wires these pieces to the endpoint as it lands; until then some are used by tests only.
#![allow(dead_code)]

pub(crate) mod correlate;
pub(crate) mod g711;
pub(crate) mod jitter;
pub(crate) mod packetize;
pub(crate) mod tone;
pub(crate) mod wav;

/// The sample rate of everything on the wire and in memory: G.711 is 8 kHz.
pub(crate) const RATE: u32 = 8000;
/// Samples in one 20 ms packet at 8 kHz.
pub(crate) const FRAME: usize = 160;
