//! Typed errors of the packet transforms.

/// Why a packet was not protected or unprotected. After any of these the context and the packet buffer are
/// unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// Shorter than its header (with CSRCs and extension), MKI and tag.
    #[error("packet too short")]
    TooShort,
    /// The RTP/RTCP version field is not 2.
    #[error("RTP/RTCP version is not 2")]
    BadVersion,
    /// The authentication tag (HMAC-SHA1 or AEAD) does not verify.
    #[error("authentication failed")]
    AuthFailed,
    /// The packet index was already accepted (RFC 3711 §3.3.2).
    #[error("replayed packet")]
    ReplayDuplicate,
    /// The packet index is older than the replay window.
    #[error("packet older than the replay window")]
    ReplayTooOld,
    /// The MKI in the packet is not the one of this context.
    #[error("unknown MKI")]
    UnknownMki,
    /// The master key reached its maximum lifetime (D-4.4), or the packet index space is used up; rekey.
    #[error("master key exhausted")]
    KeyExhausted,
    /// The context already tracks its maximum number of SSRCs.
    #[error("too many SSRCs in one context")]
    TooManyStreams,
    /// The buffer has no room for the tag and MKI (slice API only; the `Vec` API grows the vector).
    #[error("buffer too small for the protected packet")]
    BufferTooSmall,
}
