//! Audio for dtlsrtp, pure computation on samples and bytes (sans-IO: no files, sockets or clocks; times come in
//! as RTP timestamp units or `now: Instant` arguments):
//!
//! - [`g711`]: ITU-T G.711 µ-law (PCMU) and A-law (PCMA), the one codec of the workspace;
//! - [`tone`]: sine and dual-tone (DTMF) generators;
//! - [`goertzel`]: tone detection, in-band DTMF detection;
//! - [`correlate`]: does the received audio match the sent audio (cross-correlation with delay search);
//! - [`packetize`]: 20 ms G.711 RTP packets;
//! - [`jitter`]: the receive path, a jitter buffer with RFC 3550 A.8 statistics;
//! - [`wav`]: WAV files in and out at 8 kHz mono 16-bit (over `Read`/`Write`; the caller opens files);
//! - [`dtmf`]: RFC 4733 telephone-event — the payload codec, a sender and a receiver state machine.

pub mod correlate;
pub mod dtmf;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod packetize;
pub mod tone;
pub mod wav;

pub use dtmf::{DtmfDigit, DtmfEvent, DtmfReceiver, DtmfSender};
pub use g711::Law;

/// The sample rate of everything on the wire and in memory: G.711 is 8 kHz.
pub const RATE: u32 = 8000;
/// Samples in one 20 ms packet at 8 kHz.
pub const FRAME: usize = 160;
