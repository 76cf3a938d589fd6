//! Keep or renew the DTLS association of an m-line after an offer/answer (RFC 8842 §3, §4, §5; T-3.1a, T-3.2,
//! T-3.3, T-4b, T-4d, T-5.3c, T-5.4b, T-5.5a/b; RFC 5763 §6.6 as replaced, F-6.6b/c).

use crate::attr::TlsId;
use crate::fingerprint::Fingerprint;

/// The DTLS handshake role of one side (RFC 4145 `active` = client, `passive` = server; requirements §2.4).
///
/// This is the SDP crate's own type (the crate depends on nothing internal); the media layer maps it to the
/// SRTP crate's `DtlsRole`, which has the same two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandshakeRole {
    /// DTLS client: sends the ClientHello (`a=setup:active`).
    Client,
    /// DTLS server: waits for the ClientHello (`a=setup:passive`, or the offerer's `actpass` answered `active`).
    Server,
}

impl HandshakeRole {
    /// The other side's role.
    pub const fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

/// What the offer/answer means for an m-line's DTLS association.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Association {
    /// The running association carries on: no handshake, SRTP continues (T-5.3c, T-5.4b, T-5.5b).
    Keep,
    /// A new association must be established (the old one closes once the offer/answer completes; T-5.5c).
    New {
        /// Why.
        reason: NewReason,
    },
}

impl Association {
    /// Whether a new handshake is needed.
    pub fn is_new(self) -> bool {
        matches!(self, Self::New { .. })
    }
}

/// Why a new association is needed (RFC 8842 §3.1 criteria, checked in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewReason {
    /// No association existed on this m-line (initial offer/answer, or the m-line was rejected or plain RTP
    /// before).
    Initial,
    /// The negotiated setup roles changed (T-3.1a (a), F-6.6c).
    RolesChanged,
    /// A fingerprint was modified, added or removed on either side (T-3.1a (b)).
    FingerprintsChanged,
    /// Either side's tls-id changed (T-3.1a (c), T-4b, T-5.5a, T-5.3a). An offerer asking for a new
    /// association changes its tls-id, and the answerer accepting it answers with a fresh one too.
    TlsIdChanged,
    /// A peer without tls-id, and the transport (address or port of either side) changed (T-4d, T-5.4b).
    TransportChanged,
    /// The media protocol moved between plain RTP / non-UDP and UDP DTLS-SRTP.
    ProtoChanged,
}

/// The parameters of an m-line's association after one offer/answer, as seen from our side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssocSnapshot {
    /// Our handshake role.
    pub local_role: HandshakeRole,
    /// The fingerprints we sent.
    pub local_fingerprints: Vec<Fingerprint>,
    /// The peer's fingerprints (P-5d applied).
    pub remote_fingerprints: Vec<Fingerprint>,
    /// Our tls-id as sent (None when we answered a legacy offer, T-5.3d).
    pub local_tls_id: Option<TlsId>,
    /// The peer's tls-id (None for a legacy peer).
    pub remote_tls_id: Option<TlsId>,
    /// Our transport: connection address and port.
    pub local_transport: (String, u16),
    /// The peer's transport: connection address and port.
    pub remote_transport: (String, u16),
    /// ICE is in use on this m-line (both sides sent ICE credentials): candidate and address changes are ICE's
    /// business, not a transport change for DTLS (T-6c), and an ICE restart alone keeps (T-3.3).
    pub ice: bool,
}

fn same_set(a: &[Fingerprint], b: &[Fingerprint]) -> bool {
    a.len() == b.len() && a.iter().all(|f| b.contains(f)) && b.iter().all(|f| a.contains(f))
}

/// The keep/renew decision for one m-line (RFC 8842 §3.1, §4):
///
/// 1. no previous association → `New { Initial }`;
/// 2. roles changed → `RolesChanged` (T-3.1a a);
/// 3. any fingerprint added, removed or modified, either side → `FingerprintsChanged` (T-3.1a b);
/// 4. our tls-id or the peer's changed (added counts, for the peer) → `TlsIdChanged` (T-3.1a c);
/// 5. the peer uses tls-id and both tls-ids are unchanged → `Keep`, whatever happened to addresses, ports or
///    ICE credentials (T-3.2: a transport change that needs a new association comes with a new tls-id; T-3.3);
/// 6. a peer without tls-id (T-4d): local or remote transport changed → `TransportChanged`; otherwise `Keep`
///    (an ICE ufrag change alone keeps; with ICE the addresses are not compared, T-6c).
pub fn decide(previous: Option<&AssocSnapshot>, next: &AssocSnapshot) -> Association {
    let new = |reason| Association::New { reason };
    let Some(prev) = previous else {
        return new(NewReason::Initial);
    };
    if prev.local_role != next.local_role {
        return new(NewReason::RolesChanged);
    }
    if !same_set(&prev.local_fingerprints, &next.local_fingerprints)
        || !same_set(&prev.remote_fingerprints, &next.remote_fingerprints)
    {
        return new(NewReason::FingerprintsChanged);
    }
    if let (Some(a), Some(b)) = (&prev.local_tls_id, &next.local_tls_id) {
        if a != b {
            return new(NewReason::TlsIdChanged);
        }
    }
    match (&prev.remote_tls_id, &next.remote_tls_id) {
        (Some(a), Some(b)) if a == b => Association::Keep,
        (_, Some(_)) => new(NewReason::TlsIdChanged),
        (Some(_), None) | (None, None) => {
            let moved = prev.local_transport != next.local_transport
                || prev.remote_transport != next.remote_transport;
            if moved && !(prev.ice && next.ice) {
                new(NewReason::TransportChanged)
            } else {
                Association::Keep
            }
        }
    }
}
