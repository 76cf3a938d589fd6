//! The DTLS-SRTP leg's view of a negotiated m-line: the media port's [`PeerParams`] (address, role,
//! fingerprints, association; ICE when both sides do it), the RTCP component's address, and the negotiator
//! configuration of an ICE session (WHIP/WHEP, `dtlsrtp media`).

use std::net::{IpAddr, SocketAddr};

use dtlsrtp_media::ice::{Candidate, CandidateKind, IceCredentials};
use dtlsrtp_media::{dtls_role, PeerParams, RemoteIce};
use dtlsrtp_sdp::negotiate::{self, AnswerSetup, DtlsMedia, Profile};
use dtlsrtp_sdp::Fingerprint;

/// A negotiator configuration for an ICE session: SAVPF, `answer_setup`, and (when `ice` is given) our ICE
/// credentials with one host candidate and `a=end-of-candidates` (ICE-lite when `lite`).
pub fn ice_negotiator_config(
    address: IpAddr,
    fingerprint: Fingerprint,
    answer_setup: AnswerSetup,
    ice: Option<(&IceCredentials, &Candidate)>,
    lite: bool,
) -> negotiate::Config {
    let mut cfg = negotiate::Config::new(address, vec![fingerprint]);
    cfg.profile = Profile::Savpf;
    cfg.answer_setup = answer_setup;
    cfg.ice = ice.map(|(creds, cand)| negotiate::IceConfig {
        ufrag: creds.ufrag().to_owned(),
        pwd: creds.pwd().to_owned(),
        lite,
        options: vec![],
        candidates: vec![format!(
            "{} 1 udp {} {} {} typ host",
            cand.foundation,
            cand.priority,
            cand.addr.ip(),
            cand.addr.port()
        )],
        end_of_candidates: true,
    });
    cfg
}

/// An `a=candidate` value as the ICE agent's candidate (UDP component 1 host/srflx/prflx/relay only).
pub fn ice_candidate(c: &dtlsrtp_sdp::attr::Candidate) -> Option<Candidate> {
    if !c.transport.eq_ignore_ascii_case("udp") || c.component != 1 {
        return None;
    }
    let ip: IpAddr = c.address.parse().ok()?;
    let kind = match c.kind.as_str() {
        "host" => CandidateKind::Host,
        "srflx" => CandidateKind::ServerReflexive,
        "prflx" => CandidateKind::PeerReflexive,
        "relay" => CandidateKind::Relayed,
        _ => return None,
    };
    Some(Candidate {
        addr: SocketAddr::new(ip, c.port),
        kind,
        priority: c.priority,
        foundation: c.foundation.clone(),
    })
}

/// The signalled RTP address of an m-line (`None` for port 0 or an address that is not an IP literal).
pub fn rtp_addr(address: Option<&str>, port: u16) -> Option<SocketAddr> {
    address
        .and_then(|a| a.parse::<IpAddr>().ok())
        .filter(|_| port != 0)
        .map(|ip| SocketAddr::new(ip, port))
}

/// The RTCP component's address when the peer refused rtcp-mux (`a=rtcp:PORT`, RFC 3605).
pub fn rtcp_addr(d: &DtlsMedia) -> Option<SocketAddr> {
    rtp_addr(d.remote_address.as_deref(), d.remote_rtcp_port?)
}

/// The port's view of the peer from the negotiated m-line: address, DTLS role, fingerprints, association and
/// (when `use_ice` and the peer does ICE) the remote credentials and candidates. `None` when the peer's ICE
/// credentials are not valid for the agent.
pub fn peer_params(d: &DtlsMedia, use_ice: bool) -> Option<PeerParams> {
    let ice = match (&d.remote_ice, use_ice) {
        (Some(r), true) => Some(RemoteIce {
            credentials: IceCredentials::new(&r.ufrag, &r.pwd).ok()?,
            candidates: r.candidates.iter().filter_map(ice_candidate).collect(),
        }),
        _ => None,
    };
    Some(PeerParams {
        addr: rtp_addr(d.remote_address.as_deref(), d.remote_port),
        role: dtls_role(d.local_role),
        fingerprints: d.remote_fingerprints.clone(),
        association: d.association,
        ice,
    })
}

/// [`peer_params`] for a latching leg (no ICE): always available.
pub fn latching_peer(d: &DtlsMedia) -> PeerParams {
    PeerParams {
        addr: rtp_addr(d.remote_address.as_deref(), d.remote_port),
        role: dtls_role(d.local_role),
        fingerprints: d.remote_fingerprints.clone(),
        association: d.association,
        ice: None,
    }
}
