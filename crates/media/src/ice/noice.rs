//! STUN without ICE (RFC 5763 §6.7.2): open a pinhole with one unauthenticated Binding request (F-6.7.2a) and
//! answer such requests with XOR-MAPPED-ADDRESS (F-6.7.2b).

use std::net::SocketAddr;

use crate::stun::{
    error_code, Class, Message, MessageBuilder, MessageType, Method, StunError, TransactionId,
};

/// F-6.7.2a: one unauthenticated Binding request (no USERNAME, no MESSAGE-INTEGRITY; FINGERPRINT for demux),
/// sent once by the passive side to the peer's media address when the handshake has not completed on receiving
/// the peer's SDP. The caller draws `tid` from its seeded RNG.
#[must_use]
pub fn binding_request(tid: TransactionId) -> Vec<u8> {
    let mut b = MessageBuilder::new(MessageType::BINDING_REQUEST, tid);
    b.fingerprint();
    // A 28-byte message cannot be too large.
    b.finish().unwrap_or_default()
}

/// F-6.7.2b: the answer to an unauthenticated Binding request received on the media port from `source`: a success
/// response with XOR-MAPPED-ADDRESS and FINGERPRINT, or 420 when the request carries unknown
/// comprehension-required attributes. `Ok(None)` for anything that is not a Binding request (responses and
/// indications need no answer).
pub fn answer_binding_request(
    request: &[u8],
    source: SocketAddr,
) -> Result<Option<Vec<u8>>, StunError> {
    let m = Message::decode(request)?;
    if m.msg_type.method != Method::BINDING || m.class() != Class::Request {
        return Ok(None);
    }
    if !m.unknown_required.is_empty() {
        let mut b = MessageBuilder::new(MessageType::BINDING_ERROR, m.transaction_id);
        b.error_code(error_code::UNKNOWN_ATTRIBUTE, "Unknown Attribute")
            .unknown_attributes(&m.unknown_required);
        b.fingerprint();
        return b.finish().map(Some);
    }
    let mut b = MessageBuilder::new(MessageType::BINDING_SUCCESS, m.transaction_id);
    b.xor_mapped_address(source).fingerprint();
    b.finish().map(Some)
}

/// The mapped address in a success response to [`binding_request`] with transaction id `tid`.
pub fn parse_binding_response(
    response: &[u8],
    tid: TransactionId,
) -> Result<Option<SocketAddr>, StunError> {
    let m = Message::decode(response)?;
    if m.transaction_id != tid || m.msg_type != MessageType::BINDING_SUCCESS {
        return Ok(None);
    }
    Ok(m.xor_mapped_address.or(m.mapped_address))
}
