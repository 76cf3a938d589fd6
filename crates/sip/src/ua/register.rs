//! REGISTER as a client (RFC 3261 §10.2) with digest authentication (RFC 3261 §22.2, RFC 8760), refreshed before
//! expiry, and unregistration (Expires: 0).
//!
//! Credentials go to the registrar only (issue 12 item 11): a 401/407 is answered when it came from the address
//! the REGISTER was sent to, for the credentials' realm (or, with none configured, the realm of the registrar's
//! first challenge, then kept), with `qop=auth` unless legacy digest is allowed. Anything else fails the
//! registration with the challenge's status. A registration the registrar accepted after a challenge teaches
//! the UA that realm for INVITEs through the same server ([`super::Config::credentials`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::transport::token;
use super::{Core, Event, Purpose, RegId, TransportKind, UaError, UserAgent};
use crate::digest::{Challenge, Credentials};
use crate::header::{HeaderName, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::transaction::{ClientKey, TxEvent};
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
    /// Digest credentials, used when the registrar challenges (bound to it, see the module docs).
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
    /// The realm learned from this registrar's first challenge (when the credentials name none).
    realm: Option<String>,
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
            call_id: token(&mut core.rng, 16),
            from_tag: token(&mut core.rng, 8),
            cseq: core.rng.u32() & 0xffff,
            challenge: None,
            realm: None,
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
        let cnonce = token(&mut core.rng, 8);
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
    key: &ClientKey,
    ev: TxEvent,
) {
    let Some(reg) = regs.get_mut(&id) else { return };
    let status = match ev {
        TxEvent::Response(r) if r.status < 200 => return,
        TxEvent::Response(r) if r.status < 300 => {
            if reg.unregistering {
                if let Some(gone) = regs.remove(&id) {
                    forget_registrar(core, regs, gone.hop.1);
                }
                core.events.push_back(Event::Unregistered { reg: id });
                return;
            }
            let realm = reg.challenge.as_ref().map(|(c, _)| c.realm.clone());
            core.registrars.insert(reg.hop.1, realm);
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
            // Only the registrar's own answer (from where the REGISTER went) may ask for the credentials.
            let from_registrar = core.response_source(key) == Some(reg.hop);
            let ch = reg
                .cfg
                .credentials
                .as_ref()
                .filter(|_| from_registrar)
                .and_then(|c| {
                    let realm = c.bound_realm(reg.realm.as_deref());
                    if proxy {
                        c.choose(r.headers.proxy_authenticate(), realm)
                    } else {
                        c.choose(r.headers.www_authenticate(), realm)
                    }
                });
            match ch {
                // Credentials go once per challenge: a new challenge right after ours (not stale=true) means they
                // were refused, whatever its nonce (servers often send a fresh one), so no endless retry.
                Some(ch) if reg.tried_nonce.is_none() || ch.stale => {
                    reg.tried_nonce = Some(ch.nonce.clone());
                    reg.realm = Some(ch.realm.clone());
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
    if let Some(gone) = regs.remove(&id) {
        forget_registrar(core, regs, gone.hop.1);
    }
    core.events
        .push_back(Event::RegistrationFailed { reg: id, status });
}

/// A registration ended: its server no longer vouches for INVITE credentials unless another one is there.
fn forget_registrar(core: &mut Core, regs: &HashMap<RegId, Reg>, hop: SocketAddr) {
    if !regs.values().any(|r| r.hop.1 == hop) {
        core.registrars.remove(&hop);
    }
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
