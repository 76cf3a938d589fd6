//! REGISTER as a client (RFC 3261 §10.2) with digest authentication (RFC 3261 §22.2, RFC 8760), refreshed before
//! expiry, and unregistration (Expires: 0).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Core, Event, Purpose, RegId, TransportKind, UaError, UserAgent};
use crate::digest::{Challenge, Credentials};
use crate::header::{HeaderName, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::TxEvent;
use crate::uri::{SipUri, Uri};

/// What to register.
#[derive(Debug, Clone)]
pub struct RegisterConfig {
    /// The registrar's URI (Request-URI), e.g. `sip:example.com`.
    pub registrar: SipUri,
    /// Our address of record (To and From).
    pub aor: SipUri,
    /// Requested lifetime in seconds.
    pub expires: u32,
    /// Digest credentials, used when challenged.
    pub credentials: Option<Credentials>,
}

#[derive(Debug)]
pub(super) struct Reg {
    cfg: RegisterConfig,
    hop: (TransportKind, SocketAddr),
    call_id: String,
    from_tag: String,
    cseq: u32,
    challenge: Option<(Challenge, bool)>,
    nc: u32,
    tried_nonce: Option<String>,
    pub(super) refresh_at: Option<Instant>,
    unregistering: bool,
}

impl UserAgent {
    /// Registers `cfg.aor` at `cfg.registrar`; answers a 401/407 challenge with digest credentials once per
    /// nonce (again when `stale=true`), then refreshes at 85 % of the granted lifetime.
    pub fn register(&mut self, now: Instant, cfg: RegisterConfig) -> Result<RegId, UaError> {
        let core = &mut self.core;
        let hop = core.resolve(&cfg.registrar)?;
        let id = RegId(core.next_id());
        let mut reg = Reg {
            cfg,
            hop,
            call_id: core.rng.token(16),
            from_tag: core.rng.token(8),
            cseq: core.rng.u32() & 0xffff,
            challenge: None,
            nc: 0,
            tried_nonce: None,
            refresh_at: None,
            unregistering: false,
        };
        send(core, id, &mut reg, now)?;
        self.regs.insert(id, reg);
        self.pump(now);
        Ok(id)
    }

    /// Removes the registration (REGISTER with Expires: 0); [`Event::Unregistered`] follows.
    pub fn unregister(&mut self, now: Instant, reg: RegId) -> Result<(), UaError> {
        let r = self
            .regs
            .get_mut(&reg)
            .ok_or(UaError::UnknownRegistration)?;
        r.unregistering = true;
        r.refresh_at = None;
        send(&mut self.core, reg, r, now)?;
        self.pump(now);
        Ok(())
    }
}

fn send(core: &mut Core, id: RegId, reg: &mut Reg, now: Instant) -> Result<(), UaError> {
    reg.cseq = reg.cseq.wrapping_add(1) & crate::header::CSEQ_MAX;
    let t = reg.hop.0;
    let mut req = Request::new(Method::Register, reg.cfg.registrar.clone());
    let h = &mut req.headers;
    h.add(HeaderName::Via, &core.via(t)?)?;
    h.add(HeaderName::MaxForwards, "70")?;
    let aor = NameAddr::new(Uri::Sip(reg.cfg.aor.clone()));
    let mut from = aor.clone();
    from.set_tag(&reg.from_tag);
    h.add(HeaderName::From, &from.to_string())?;
    h.add(HeaderName::To, &aor.to_string())?;
    h.add(HeaderName::CallId, &reg.call_id)?;
    h.add(HeaderName::CSeq, &format!("{} REGISTER", reg.cseq))?;
    h.add(HeaderName::Contact, &core.contact(t)?)?;
    let expires = if reg.unregistering {
        0
    } else {
        reg.cfg.expires
    };
    h.add(HeaderName::Expires, &expires.to_string())?;
    core.add_common(h, true)?;
    if let (Some((ch, proxy)), Some(creds)) = (&reg.challenge, &reg.cfg.credentials) {
        reg.nc = reg.nc.wrapping_add(1);
        let cnonce = core.rng.token(8);
        let auth = ch.authorize(
            creds,
            "REGISTER",
            reg.cfg.registrar.as_str(),
            &cnonce,
            reg.nc,
        );
        let name = if *proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        req.headers.add(name, &auth.to_string())?;
    }
    req.headers.set(HeaderName::ContentLength, "0")?;
    core.send_request(now, req, reg.hop, (None, Purpose::Register(id)))?;
    Ok(())
}

/// The lifetime the registrar granted: our Contact's `expires`, else Expires, else what we asked.
fn granted(reg: &Reg, contact: &str, r: &Response) -> u32 {
    let ours = r.headers.contacts().find(|c| {
        c.addr()
            .is_some_and(|a| contact.contains(&format!("<{}", a.uri)))
    });
    ours.and_then(|c| c.expires())
        .or_else(|| r.headers.expires())
        .unwrap_or(reg.cfg.expires)
}

pub(super) fn on_event(
    core: &mut Core,
    regs: &mut HashMap<RegId, Reg>,
    now: Instant,
    id: RegId,
    ev: TxEvent,
) {
    let Some(reg) = regs.get_mut(&id) else { return };
    let status = match ev {
        TxEvent::Response(r) if r.status < 200 => return,
        TxEvent::Response(r) if r.status < 300 => {
            if reg.unregistering {
                regs.remove(&id);
                core.events.push_back(Event::Unregistered { reg: id });
                return;
            }
            let contact = core.contact(reg.hop.0).unwrap_or_default();
            let expires = granted(reg, &contact, &r);
            reg.tried_nonce = None;
            if expires > 0 {
                // 85 % of the lifetime, at least 1 s; a huge Expires from the network cannot overflow the clock.
                let ms = u64::from(expires).saturating_mul(850).max(1000);
                reg.refresh_at = now.checked_add(Duration::from_millis(ms));
            }
            core.events
                .push_back(Event::Registered { reg: id, expires });
            return;
        }
        TxEvent::Response(r) if matches!(r.status, 401 | 407) => {
            let proxy = r.status == 407;
            let ch = if proxy {
                Challenge::best(r.headers.proxy_authenticate())
            } else {
                Challenge::best(r.headers.www_authenticate())
            };
            match ch {
                // Credentials go once per challenge: a new challenge right after ours (not stale=true) means they
                // were refused, whatever its nonce (servers often send a fresh one), so no endless retry.
                Some(ch)
                    if reg.cfg.credentials.is_some() && (reg.tried_nonce.is_none() || ch.stale) =>
                {
                    reg.tried_nonce = Some(ch.nonce.clone());
                    reg.challenge = Some((ch, proxy));
                    reg.nc = 0;
                    if send(core, id, reg, now).is_ok() {
                        return;
                    }
                    r.status
                }
                _ => r.status,
            }
        }
        TxEvent::Response(r) => r.status,
        TxEvent::Timeout => 408,
        TxEvent::TransportError => 503,
        _ => return,
    };
    regs.remove(&id);
    core.events
        .push_back(Event::RegistrationFailed { reg: id, status });
}

pub(super) fn on_timer(core: &mut Core, regs: &mut HashMap<RegId, Reg>, now: Instant) {
    for (id, reg) in regs.iter_mut() {
        if reg.refresh_at.is_some_and(|t| t <= now) {
            reg.refresh_at = None;
            // The refresh reuses the last challenge (nc incremented); a 401 with a new nonce is answered again.
            let _ = send(core, *id, reg, now);
        }
    }
}
