//! Per-call ICE ([`Config::ice`](crate::Config::ice), RFC 8445): the call's media port gets an ICE agent (full
//! and controlling as offerer; the configured mode and controlled as answerer) with one host candidate, the
//! negotiator writes its `a=ice-ufrag`/`a=ice-pwd`/`a=candidate` (and `a=ice-lite`), and the peer's credentials
//! and candidates reach the port with its [`PeerParams`]. Consent freshness (RFC 7675) is the agent's.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use dtlsrtp_media::ice::{Candidate, CandidateKind, IceConfig, IceCredentials, IceMode, IceRole};
use dtlsrtp_media::MediaPort;
use dtlsrtp_media::RemoteIce;
use dtlsrtp_sdp::negotiate;
use dtlsrtp_sdp::DtlsMedia;
use dtlsrtp_session::Session;

use crate::Error;

/// Enables ICE on `port` and announces it through `neg`.
pub(super) fn enable(
    now: Instant,
    mode: IceMode,
    port: &mut MediaPort,
    session: &mut Session,
    offerer: bool,
) -> Result<(), Error> {
    let (mode, role) = if offerer {
        (IceMode::Full, IceRole::Controlling)
    } else {
        (mode, IceRole::Controlled)
    };
    let (creds, cand) = port.enable_ice(
        now,
        IceConfig {
            mode,
            ..IceConfig::default()
        },
        None,
        role,
    );
    let neg = session.negotiator_mut();
    let mut cfg = neg.config().clone();
    cfg.ice = Some(negotiate::IceConfig {
        ufrag: creds.ufrag().to_owned(),
        pwd: creds.pwd().to_owned(),
        lite: mode == IceMode::Lite,
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
    neg.set_config(cfg)?;
    Ok(())
}

/// The peer's ICE for a port that runs an agent (`None` otherwise, or without valid remote credentials).
pub(super) fn remote(d: &DtlsMedia, port_has_ice: bool) -> Option<RemoteIce> {
    let r = d.remote_ice.as_ref().filter(|_| port_has_ice)?;
    Some(RemoteIce {
        credentials: IceCredentials::new(&r.ufrag, &r.pwd).ok()?,
        candidates: r.candidates.iter().filter_map(candidate).collect(),
    })
}

fn candidate(c: &dtlsrtp_sdp::attr::Candidate) -> Option<Candidate> {
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
