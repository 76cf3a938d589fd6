//! A sans-IO ICE agent (RFC 8445) with host candidates, ICE-lite and full mode, consent freshness (RFC 7675), ICE
//! restart, and the no-ICE STUN helpers of RFC 5763 §6.7.2 ([`noice`]).
//!
//! The agent follows the project's sans-IO contract (ARCHITECTURE.md §3): `handle_*` take `now` and change state;
//! `poll_transmit`, `poll_event` and `poll_timeout` only drain or read. Randomness (transaction ids, the
//! tie-breaker, consent jitter) comes from a fill-bytes callback supplied by the caller, never a global RNG.
//!
//! Which calls change [`IceAgent::poll_timeout`]: every `handle_*`, [`IceAgent::set_remote_credentials`],
//! [`IceAgent::add_remote_candidate`], [`IceAgent::add_local_candidate`] and [`IceAgent::restart`].

mod agent;
pub mod noice;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use agent::{IceAgent, IceStats};

use crate::stun::StunError;
pub use dtlsrtp_types::Rng;

/// The randomness source: the workspace's [`Rng`] (the driver seeds it from the OS, tests from a seed). A
/// closure `FnMut(&mut [u8]) + Send` is one.
pub type FillBytes = Box<dyn Rng + Send>;

/// The ICE role (RFC 8445 §6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceRole {
    /// Nominates pairs.
    Controlling,
    /// Follows the controlling agent's nomination.
    Controlled,
}

/// Full or lite implementation (RFC 8445 §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceMode {
    /// Full: sends connectivity checks.
    Full,
    /// Lite: only answers checks; pairs come from the checks it receives.
    Lite,
}

/// How the controlling agent nominates (RFC 8445 §8.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Nomination {
    /// Regular: check first, then repeat the check on the chosen valid pair with USE-CANDIDATE.
    Regular,
    /// Aggressive (RFC 5245, deprecated but tolerated, T-6a): USE-CANDIDATE on every check.
    Aggressive,
}

/// Agent configuration. Defaults follow RFC 8445 §14 and RFC 7675 §5.1.
#[derive(Clone, Debug)]
pub struct IceConfig {
    /// Full or lite.
    pub mode: IceMode,
    /// Nomination method when controlling.
    pub nomination: Nomination,
    /// Check pacing Ta (default 50 ms, RFC 8445 §14.2).
    pub ta: Duration,
    /// Initial retransmission timeout of a check (default 500 ms).
    pub initial_rto: Duration,
    /// Retransmissions after the first send before a check fails (default 6: Rc = 7 sends, RFC 8489 §6.2.1).
    pub max_retransmits: u32,
    /// Mean consent check interval (default 5 s, randomised ×0.8–1.2, RFC 7675 §5.1).
    pub consent_interval: Duration,
    /// Consent expires after this long without an authenticated response (default 30 s, RFC 7675 §5.1).
    pub consent_timeout: Duration,
    /// Regular nomination waits for better pairs still being checked, but at most this long after a pair first
    /// became valid (default 1 s): a silent higher-priority candidate cannot hold up the call for ~40 s.
    pub nomination_delay: Duration,
}

impl Default for IceConfig {
    fn default() -> Self {
        Self {
            mode: IceMode::Full,
            nomination: Nomination::Regular,
            ta: Duration::from_millis(50),
            initial_rto: Duration::from_millis(500),
            max_retransmits: 6,
            consent_interval: Duration::from_secs(5),
            consent_timeout: Duration::from_secs(30),
            nomination_delay: Duration::from_secs(1),
        }
    }
}

impl IceConfig {
    /// Floors that keep every timer moving forward (a zero Ta or consent interval would let a driver spin):
    /// Ta ≥ 5 ms, RTO ≥ 10 ms, consent interval ≥ 100 ms, consent timeout ≥ the interval.
    #[must_use]
    pub fn sanitized(self) -> Self {
        let consent_interval = self.consent_interval.max(Duration::from_millis(100));
        Self {
            ta: self.ta.max(Duration::from_millis(5)),
            initial_rto: self.initial_rto.max(Duration::from_millis(10)),
            consent_interval,
            consent_timeout: self.consent_timeout.max(consent_interval),
            ..self
        }
    }
}

/// Local or remote ICE credentials (RFC 8445 §5.3; RFC 8839 §5.4: ufrag 4–256, pwd 22–256 ice-chars).
/// `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct IceCredentials {
    ufrag: String,
    pwd: String,
}

const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn is_ice_chars(s: &str) -> bool {
    s.bytes().all(|b| ICE_CHARS.contains(&b))
}

impl IceCredentials {
    /// Validated credentials.
    pub fn new(ufrag: &str, pwd: &str) -> Result<Self, IceError> {
        if !(4..=256).contains(&ufrag.len()) || !is_ice_chars(ufrag) {
            return Err(IceError::InvalidUfrag);
        }
        if !(22..=256).contains(&pwd.len()) || !is_ice_chars(pwd) {
            return Err(IceError::InvalidPassword);
        }
        Ok(Self {
            ufrag: ufrag.to_owned(),
            pwd: pwd.to_owned(),
        })
    }

    /// Fresh random credentials: an 8-character ufrag and a 24-character password (144 bits).
    pub fn random(rng: &mut dyn Rng) -> Self {
        let mut pick = |n: usize| -> String {
            let mut b = vec![0u8; n];
            rng.fill(&mut b);
            b.iter()
                .map(|x| char::from(ICE_CHARS[usize::from(*x & 63)]))
                .collect()
        };
        Self {
            ufrag: pick(8),
            pwd: pick(24),
        }
    }

    /// The username fragment.
    #[must_use]
    pub fn ufrag(&self) -> &str {
        &self.ufrag
    }

    /// The password (the STUN short-term key).
    #[must_use]
    pub fn pwd(&self) -> &str {
        &self.pwd
    }
}

impl fmt::Debug for IceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceCredentials")
            .field("ufrag", &self.ufrag)
            .field("pwd", &"<redacted>")
            .finish()
    }
}

/// Candidate type (RFC 8445 §5.1.1); only host candidates are gathered here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// Host.
    Host,
    /// Peer-reflexive (learnt from a check).
    PeerReflexive,
    /// Server-reflexive (from the remote side's SDP).
    ServerReflexive,
    /// Relayed (from the remote side's SDP).
    Relayed,
}

impl CandidateKind {
    /// Recommended type preference (RFC 8445 §5.1.2.2).
    #[must_use]
    pub fn type_preference(self) -> u32 {
        match self {
            Self::Host => 126,
            Self::PeerReflexive => 110,
            Self::ServerReflexive => 100,
            Self::Relayed => 0,
        }
    }
}

/// One candidate of component 1 (RTP and RTCP are muxed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Transport address.
    pub addr: SocketAddr,
    /// Type.
    pub kind: CandidateKind,
    /// Priority (RFC 8445 §5.1.2).
    pub priority: u32,
    /// Foundation.
    pub foundation: String,
}

/// Priority formula of RFC 8445 §5.1.2.1 for component 1.
#[must_use]
pub fn candidate_priority(kind: CandidateKind, local_preference: u16) -> u32 {
    (kind.type_preference() << 24) | (u32::from(local_preference) << 8) | (256 - 1)
}

/// Pair priority of RFC 8445 §6.1.2.3: 2^32·MIN(G,D) + 2·MAX(G,D) + (G>D ? 1 : 0), with G the controlling agent's
/// candidate priority and D the controlled agent's.
#[must_use]
pub fn pair_priority(controlling: u32, controlled: u32) -> u64 {
    let (g, d) = (u64::from(controlling), u64::from(controlled));
    (g.min(d) << 32) + 2 * g.max(d) + u64::from(g > d)
}

impl Candidate {
    /// A host candidate with the given local preference (65535 for the preferred one).
    #[must_use]
    pub fn host(addr: SocketAddr, local_preference: u16) -> Self {
        // Host candidates with the same base IP share a foundation (RFC 8445 §5.1.1.3).
        let ip = match addr.ip() {
            std::net::IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
            std::net::IpAddr::V6(a) => a.octets(),
        };
        let h = ip.iter().fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
        });
        Self {
            addr,
            kind: CandidateKind::Host,
            priority: candidate_priority(CandidateKind::Host, local_preference),
            foundation: format!("h{h:08x}"),
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Local address (the socket) to send from.
    pub local: SocketAddr,
    /// Destination.
    pub remote: SocketAddr,
    /// The STUN message.
    pub bytes: Vec<u8>,
}

/// The agent's overall state, for the layers above (e.g. to report `iceConnectionState`-like status).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IceState {
    /// Nothing to check yet (no remote credentials or pairs).
    New,
    /// Checks are running; no pair selected.
    Checking,
    /// A pair is selected and consent holds.
    Connected,
    /// Consent was lost on the selected pair (RFC 7675): only an ICE restart recovers.
    Disconnected,
    /// Every pair failed.
    Failed,
}

/// What the agent tells its owner.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IceEvent {
    /// A pair was nominated and selected, or the selection moved to another pair: media goes here now.
    SelectedPair {
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
    },
    /// The role changed to resolve a role conflict (RFC 8445 §7.3.1.1, §7.2.5.1).
    RoleChanged(IceRole),
    /// No authenticated response on the selected pair for the consent timeout (RFC 7675 §5.1), or a 403 answer to
    /// a consent check (§5.2): stop sending media on that pair. The pair is no longer selected.
    ConsentExpired {
        /// Local address.
        local: SocketAddr,
        /// Remote address.
        remote: SocketAddr,
    },
    /// Every candidate pair failed and none is selected.
    Failed,
}

/// Errors of the ICE agent. A message that is dropped leaves the agent unchanged.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IceError {
    /// The datagram is not a valid STUN message.
    #[error("bad STUN message: {0}")]
    Stun(#[from] StunError),
    /// A STUN method other than Binding.
    #[error("STUN method {0:#05x} is not Binding")]
    NotBinding(u16),
    /// A response that matches no outstanding transaction (late, duplicate or forged).
    #[error("response matches no outstanding transaction")]
    UnknownTransaction,
    /// A response whose MESSAGE-INTEGRITY does not verify with the remote password: ignored.
    #[error("response failed MESSAGE-INTEGRITY")]
    ResponseIntegrity,
    /// Credentials given to the API are not valid ice-chars of the right length.
    #[error("ice-ufrag must be 4-256 ice-chars")]
    InvalidUfrag,
    /// Credentials given to the API are not valid ice-chars of the right length.
    #[error("ice-pwd must be 22-256 ice-chars")]
    InvalidPassword,
}
