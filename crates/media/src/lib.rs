//! One media port for DTLS-SRTP (RFC 5763): first-byte demultiplexing (RFC 7983), a STUN codec (RFC 8489) and a
//! sans-IO ICE agent (RFC 8445, consent freshness RFC 7675).
#![forbid(unsafe_code)]

pub mod demux;

pub use demux::{classify, Demux, DropCounters, DropReason, PacketKind};
