//! Fork identifiers shared by the signalling layer and the media port.

/// A fork (one remote party of a call: one answer, one early dialog), named by the signalling layer and used
/// by the media port to keep each fork's DTLS association and keys apart (RFC 5763 §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForkId(pub u32);
