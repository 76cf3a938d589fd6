//! The fingerprint gate (ARCHITECTURE §4): the association never decides trust; keys leave the gate only after
//! the peer certificate matched the fingerprints of its SDP (F-5.6, F-5.14, F-5.15, T-5.2c).

use dtlsrtp_types::Fingerprint;

use crate::assoc::Connected;
use crate::cert::{verify_fingerprint, VerifyError};

/// Where a gate stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GateState {
    /// The handshake has not completed (the expected fingerprints may already be known).
    AwaitingHandshake,
    /// The handshake completed before the SDP answer (F-5.8, T-5.2b): keys are held, unusable.
    AwaitingFingerprint,
    /// The certificate matched: keys may be used.
    Verified,
    /// The certificate did not match (or no usable fingerprint): keys were dropped (F-5.15, P-5.1e).
    Rejected(VerifyError),
}

enum Inner {
    AwaitingHandshake {
        expected: Option<Vec<Fingerprint>>,
    },
    AwaitingFingerprint {
        peer_cert: Vec<u8>,
        connected: Connected,
    },
    Verified {
        peer_cert: Vec<u8>,
        connected: Connected,
    },
    Rejected(VerifyError),
}

/// Holds a handshake's peer certificate and keys until the SDP fingerprints vouch for them.
///
/// `AwaitingHandshake → AwaitingFingerprint → Verified | Rejected`; when the SDP arrives first,
/// `AwaitingHandshake → Verified | Rejected` directly at the end of the handshake.
pub struct FingerprintGate {
    inner: Inner,
}

impl core::fmt::Debug for FingerprintGate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FingerprintGate({:?})", self.state())
    }
}

impl Default for FingerprintGate {
    fn default() -> Self {
        Self::new()
    }
}

impl FingerprintGate {
    /// A gate waiting for both the handshake and the fingerprints.
    pub const fn new() -> Self {
        Self {
            inner: Inner::AwaitingHandshake { expected: None },
        }
    }

    /// Where the gate stands.
    pub fn state(&self) -> GateState {
        match &self.inner {
            Inner::AwaitingHandshake { .. } => GateState::AwaitingHandshake,
            Inner::AwaitingFingerprint { .. } => GateState::AwaitingFingerprint,
            Inner::Verified { .. } => GateState::Verified,
            Inner::Rejected(e) => GateState::Rejected(*e),
        }
    }

    /// The handshake completed ([`Event::PeerCertificate`](crate::Event::PeerCertificate) then
    /// [`Event::Connected`](crate::Event::Connected)). If the fingerprints are already known the certificate
    /// is checked now. A second handshake on the same gate is refused (a new association needs a new gate).
    pub fn on_handshake(&mut self, peer_cert: Vec<u8>, connected: Connected) -> GateState {
        let old = core::mem::replace(&mut self.inner, Inner::AwaitingHandshake { expected: None });
        self.inner = match old {
            Inner::AwaitingHandshake { expected: None } => Inner::AwaitingFingerprint {
                peer_cert,
                connected,
            },
            Inner::AwaitingHandshake {
                expected: Some(expected),
            } => match verify_fingerprint(&peer_cert, &expected) {
                Ok(()) => Inner::Verified {
                    peer_cert,
                    connected,
                },
                Err(e) => Inner::Rejected(e),
            },
            other => other,
        };
        self.state()
    }

    /// The peer's SDP fingerprints arrived (P-5.1d matching, constant-time). Before the handshake they are
    /// remembered; after it the held certificate is checked: a match releases the keys, a mismatch drops them
    /// for good. A verified gate re-checks on a new SDP (a changed fingerprint rejects).
    pub fn verify(&mut self, expected: &[Fingerprint]) -> Result<GateState, VerifyError> {
        let old = core::mem::replace(&mut self.inner, Inner::AwaitingHandshake { expected: None });
        let (next, result) = match old {
            Inner::AwaitingHandshake { .. } => (
                Inner::AwaitingHandshake {
                    expected: Some(expected.to_vec()),
                },
                Ok(()),
            ),
            Inner::AwaitingFingerprint {
                peer_cert,
                connected,
            }
            | Inner::Verified {
                peer_cert,
                connected,
            } => match verify_fingerprint(&peer_cert, expected) {
                Ok(()) => (
                    Inner::Verified {
                        peer_cert,
                        connected,
                    },
                    Ok(()),
                ),
                // Dropping `connected` zeroizes the keys.
                Err(e) => (Inner::Rejected(e), Err(e)),
            },
            Inner::Rejected(e) => (Inner::Rejected(e), Err(e)),
        };
        self.inner = next;
        result.map(|()| self.state())
    }

    /// The negotiated profile and keys, only once verified.
    pub fn keys(&self) -> Option<&Connected> {
        match &self.inner {
            Inner::Verified { connected, .. } => Some(connected),
            _ => None,
        }
    }

    /// The peer certificate (DER) once the handshake completed and until rejection.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        match &self.inner {
            Inner::AwaitingFingerprint { peer_cert, .. } | Inner::Verified { peer_cert, .. } => {
                Some(peer_cert)
            }
            _ => None,
        }
    }
}
