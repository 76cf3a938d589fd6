//! Glue between a negotiated SDP m-line and a media port, shared by the WHIP/WHEP server, the WHIP client and
//! the SDP-file mode: our negotiator configuration (ICE credentials and one host candidate, SAVPF), the
//! audio stream we offer or answer with (PCMU, PCMA), and the port's view of the peer.

use std::net::{IpAddr, SocketAddr};

use dtlsrtp_media::ice::{Candidate, CandidateKind, IceCredentials};
use dtlsrtp_media::{dtls_role, PeerParams, RemoteIce};
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{self, AnswerSetup, Codec, DtlsMedia, LocalMedia, Profile};
use dtlsrtp_sdp::Fingerprint;

/// Our negotiator configuration: SAVPF, `answer_setup`, and (when `ice` is given) our ICE credentials with one
/// host candidate and `a=end-of-candidates` (ICE-lite when `lite`).
pub fn negotiator_config(
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

/// Our audio stream: PCMU then PCMA (8 kHz G.711), `a=mid:0`.
pub fn audio(port: u16, direction: Direction) -> LocalMedia {
    LocalMedia {
        kind: "audio".to_owned(),
        port,
        codecs: vec![
            Codec::new(0, "PCMU", 8000, None),
            Codec::new(8, "PCMA", 8000, None),
        ],
        direction,
        mid: Some("0".to_owned()),
    }
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

/// The port's view of the peer from the negotiated m-line: address, DTLS role, fingerprints, association and
/// (when both sides do ICE) the remote credentials and candidates. `None` when the peer's ICE credentials are
/// not valid for the agent.
pub fn peer_params(d: &DtlsMedia, use_ice: bool) -> Option<PeerParams> {
    let ice = match (&d.remote_ice, use_ice) {
        (Some(r), true) => Some(RemoteIce {
            credentials: IceCredentials::new(&r.ufrag, &r.pwd).ok()?,
            candidates: r.candidates.iter().filter_map(ice_candidate).collect(),
        }),
        _ => None,
    };
    Some(PeerParams {
        addr: d
            .remote_address
            .as_deref()
            .and_then(|a| a.parse::<IpAddr>().ok())
            .filter(|_| d.remote_port != 0)
            .map(|ip| SocketAddr::new(ip, d.remote_port)),
        role: dtls_role(d.local_role),
        fingerprints: d.remote_fingerprints.clone(),
        association: d.association,
        ice,
    })
}
