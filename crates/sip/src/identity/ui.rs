//! The security state a call shows (F-8.0, F-8.1b, F-8.6a).
//!
//! | State | Meaning |
//! |---|---|
//! | `NotSecured` | No DTLS association whose certificate matched the SDP fingerprint yet (early media before the answer, or a mismatch). |
//! | `EncryptedUnauthenticated` | Media encrypted to whoever holds the fingerprinted key, but nothing binds that key to a person: no Identity, or one whose `mky` does not cover the fingerprints. Protects against passive attackers only (F-8.0). |
//! | `EncryptedToVerifiedIdentity { uri }` | Media verified by fingerprint **and** a valid PASSporT from `uri` signs exactly those fingerprints (`mky`). |
//! | `IdentityFailed { reason }` | An Identity header was present and did not verify: never shown as the claimed identity (F-8.6a). |

use super::service::Verdict;
use super::IdentityError;

/// What the UI shows for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallSecurityState {
    /// Media not (yet) verified by fingerprint.
    NotSecured,
    /// Encrypted to an unauthenticated peer.
    EncryptedUnauthenticated,
    /// Encrypted to a verified identity.
    EncryptedToVerifiedIdentity {
        /// The verified originator (a URI or a telephone number).
        uri: String,
    },
    /// Identity verification failed.
    IdentityFailed {
        /// Why.
        reason: IdentityError,
    },
}

impl CallSecurityState {
    /// A short label for a call summary.
    pub fn label(&self) -> String {
        match self {
            Self::NotSecured => "not secured".into(),
            Self::EncryptedUnauthenticated => "encrypted, unauthenticated peer".into(),
            Self::EncryptedToVerifiedIdentity { uri } => format!("encrypted to verified {uri}"),
            Self::IdentityFailed { reason } => format!("identity failed: {reason}"),
        }
    }
}

/// Decides the state of a call.
///
/// - `media_verified`: the DTLS peer certificate matched the SDP fingerprint (F-5.15).
/// - `peer_identity`: the verdict on the peer's dialog-creating request (the INVITE when we are the UAS;
///   [`Verdict::Absent`] when we are the UAC, since responses carry no Identity).
/// - `connected_identity`: the verdict on the peer's RFC 4916 UPDATE/re-INVITE (I-3), if one came.
///
/// Both verdicts must have been computed over the same SDP whose fingerprints the media was verified
/// against. A later failed verdict wins over an earlier success; a verdict is shown as a verified
/// identity only when its `mky` covered the fingerprints (F-8.6a).
pub fn call_security_state(
    media_verified: bool,
    peer_identity: &Verdict,
    connected_identity: Option<&Verdict>,
) -> CallSecurityState {
    let effective = match connected_identity {
        Some(v @ (Verdict::Verified(_) | Verdict::Failed(_))) => v,
        Some(Verdict::Absent) | None => peer_identity,
    };
    match effective {
        Verdict::Failed(e) => CallSecurityState::IdentityFailed { reason: *e },
        _ if !media_verified => CallSecurityState::NotSecured,
        Verdict::Verified(v) if v.covers_fingerprints => {
            CallSecurityState::EncryptedToVerifiedIdentity {
                uri: v.orig.as_str().to_owned(),
            }
        }
        Verdict::Verified(_) | Verdict::Absent => CallSecurityState::EncryptedUnauthenticated,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Party, VerifiedIdentity};
    use super::*;

    fn ok(covers: bool) -> Verdict {
        Verdict::Verified(VerifiedIdentity {
            orig: Party::Uri("sip:alice@example.com".into()),
            iat: 1,
            covers_fingerprints: covers,
            info: "file:///c.pem".into(),
        })
    }

    #[test]
    fn f_8_0_f_8_1b_f_8_6a_state_table() {
        use CallSecurityState as S;
        let verified = S::EncryptedToVerifiedIdentity {
            uri: "sip:alice@example.com".into(),
        };
        // F-8.0: no Identity → encrypted, unauthenticated
        assert_eq!(
            call_security_state(true, &Verdict::Absent, None),
            S::EncryptedUnauthenticated
        );
        // F-8.1b: 7.1 without UPDATE (UAC side) stays unverified; 7.2's UPDATE verifies
        assert_eq!(
            call_security_state(true, &Verdict::Absent, Some(&Verdict::Absent)),
            S::EncryptedUnauthenticated
        );
        assert_eq!(
            call_security_state(true, &Verdict::Absent, Some(&ok(true))),
            verified
        );
        assert_eq!(call_security_state(true, &ok(true), None), verified);
        // F-8.6a: a signature that does not cover the fingerprints is never "verified"
        assert_eq!(
            call_security_state(true, &ok(false), None),
            S::EncryptedUnauthenticated
        );
        // failures are shown as failures, whatever the media state
        let f = Verdict::Failed(IdentityError::MkyMismatch);
        assert_eq!(
            call_security_state(true, &f, None),
            S::IdentityFailed {
                reason: IdentityError::MkyMismatch
            }
        );
        assert_eq!(
            call_security_state(true, &ok(true), Some(&f)),
            S::IdentityFailed {
                reason: IdentityError::MkyMismatch
            }
        );
        // media not verified: never secured, even with a valid identity
        assert_eq!(call_security_state(false, &ok(true), None), S::NotSecured);
        assert!(verified.label().contains("verified sip:alice@example.com"));
    }
}
