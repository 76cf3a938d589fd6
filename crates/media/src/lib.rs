//! One media port for DTLS-SRTP (RFC 5763): first-byte demultiplexing (RFC 7983), a STUN codec (RFC 8489), a
//! sans-IO ICE agent (RFC 8445, consent freshness RFC 7675), and [`MediaPort`]: DTLS associations per remote,
//! fingerprint-gated SRTP, SSRC routing and RTCP on one local port ([`port`]).
#![forbid(unsafe_code)]

pub mod demux;
pub mod ice;
pub mod port;
pub mod stun;

pub use demux::{classify, Demux, DropCounters, DropReason, PacketKind};
pub use port::{
    dtls_role, AssocCounters, AssocId, AssocInfo, CloseReason, ForkId, MediaError, MediaEvent,
    MediaPort, MediaPortConfig, PeerParams, PortCounters, ReceivedRtp, RemoteIce, Transmit,
};

/// Fuzz body for the STUN parser (also run by the unit tests over RFC 5769 vectors and mutations): decode, verify
/// integrity with a fixed key, and re-decode a re-encoding of what was understood. Returns whether `data` decoded.
/// Must never panic.
#[doc(hidden)]
pub fn fuzz_stun_parse(data: &[u8]) -> bool {
    let Ok(m) = stun::Message::decode(data) else {
        return false;
    };
    let _ = m.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt");
    let _ = m.unknown_attributes.map(|u| u.iter().count());
    let mut b = stun::MessageBuilder::new(m.msg_type, m.transaction_id);
    if let Some(u) = m.username {
        b.username(u);
    }
    if let Some(p) = m.priority {
        b.priority(p);
    }
    if let Some(a) = m.xor_mapped_address {
        b.xor_mapped_address(a);
    }
    if let Some(e) = m.error_code {
        b.error_code(e.code, e.reason);
    }
    b.message_integrity(b"k").fingerprint();
    if let Ok(raw) = b.finish() {
        if let Ok(again) = stun::Message::decode(&raw) {
            return again.username == m.username
                && again.priority == m.priority
                && again.xor_mapped_address == m.xor_mapped_address
                && again.verify_integrity(b"k").is_ok();
        }
        return false;
    }
    true
}
