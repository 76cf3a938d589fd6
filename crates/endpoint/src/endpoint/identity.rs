//! Identity in calls (issue 8): the authentication service signs our INVITE and our RFC 4916 UPDATE with a
//! PASSporT whose `mky` lists our SDP fingerprints (I-2, I-3); the verification service checks the peer's
//! INVITE (UAS) and its connected-identity UPDATE (UAC); the per-call [`CallSecurityState`], the SAS (F-8.5)
//! and continuity of authentication (F-8.4b) are reported as events.

use std::time::Instant;

use super::fetch::CacheLookup;
use super::{
    call_security_state, sdp_fingerprints, CallSecurityState, Continuity, Disposition, HeaderName,
    ModifyKind, RequestExtras, RequestFacts, Sas, Verdict,
};
use crate::{CallId, Endpoint, Event};
use dtlsrtp_sip::identity::{IdentityError, MAX_IDENTITY_HEADERS};

/// The outcome of verifying a peer's request.
pub(super) enum Check {
    /// The verdict, whether the peer supports `from-change`, whether an Identity header was present.
    Done(Verdict, bool, bool),
    /// Certificates to fetch first (the request is parked).
    Fetch(Vec<String>),
}
use dtlsrtp_sip::{SipUri, Uri};

/// The Supported value of our identity-capable requests (RFC 4916 `from-change`).
fn supported(use_100rel: bool) -> &'static str {
    if use_100rel {
        "100rel, from-change"
    } else {
        "from-change"
    }
}

/// The Date header field value (RFC 3261 §20.17, the RFC 7231 IMF-fixdate form) for Unix seconds.
fn sip_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // civil date from days since 1970-01-01 (H. Hinnant's algorithm, unsigned: dates after 1970)
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    let wd = DAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let mon = MONTHS.get((m - 1) as usize).copied().unwrap_or("Jan");
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds of a Date header value in the RFC 7231 IMF-fixdate form RFC 3261 §20.17 requires
/// (`Fri, 15 Jan 2027 08:00:00 GMT`); `None` for anything else (a compact PASSporT then fails, 438).
pub(super) fn parse_sip_date(s: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rest = s.trim().split_once(", ")?.1;
    let mut it = rest.split(' ');
    let (Some(d), Some(mon), Some(y), Some(t), Some("GMT"), None) = (
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
        it.next(),
    ) else {
        return None;
    };
    let num = |x: &str, len: usize| -> Option<u64> {
        (x.len() == len && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    let d = num(d, 2)?;
    let y = num(y, 4)?;
    let m = MONTHS.iter().position(|x| *x == mon)? as u64 + 1;
    let mut hms = t.split(':');
    let (Some(h), Some(mi), Some(se), None) = (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return None;
    };
    let (h, mi, se) = (num(h, 2)?, num(mi, 2)?, num(se, 2)?);
    if !(1970..=9999).contains(&y) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // days from civil (H. Hinnant), for dates after 1970
    let (y2, mp) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2 / 400;
    let yoe = y2 - era * 400;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

fn has_from_change(req: &dtlsrtp_sip::Request) -> bool {
    req.headers.all(HeaderName::Supported).any(|f| {
        f.value()
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("from-change"))
    })
}

impl Endpoint {
    /// The wall clock at `now` (Unix seconds), from the configured anchor.
    fn unix_now(&self, now: Instant) -> u64 {
        let Some((at, unix)) = self.cfg.identity.as_ref().map(|i| i.clock) else {
            return 0;
        };
        if now >= at {
            unix.saturating_add(now.duration_since(at).as_secs())
        } else {
            unix.saturating_sub(at.duration_since(now).as_secs())
        }
    }

    /// The INVITE's extra header fields: `Supported: from-change` and our signed Identity (F-5.4, I-2), or the
    /// anonymous form (F-6.1: no Identity, `Privacy: id`).
    pub(super) fn invite_extras(
        &self,
        now: Instant,
        target: &SipUri,
        body: Option<&[u8]>,
        anonymous: bool,
    ) -> RequestExtras {
        let mut x = RequestExtras::new();
        x.anonymous = anonymous;
        let Some(idc) = self.cfg.identity.as_ref() else {
            return x;
        };
        x.headers
            .push((HeaderName::Supported, supported(self.cfg.use_100rel).into()));
        if anonymous {
            return x;
        }
        let (Some(signer), Ok(from)) = (
            idc.signer.as_ref(),
            Uri::parse(&format!("sip:{}@{}", self.cfg.user, self.cfg.domain)),
        ) else {
            return x;
        };
        let to = Uri::Sip(target.clone());
        let fps = body.map(sdp_fingerprints).unwrap_or_default();
        let facts = RequestFacts {
            from: &from,
            to: &to,
            date: None,
            fingerprints: &fps,
        };
        let unix = self.unix_now(now);
        if let Ok(h) = signer.sign(&facts, unix) {
            // RFC 8224 §5: the signed request carries a Date (iat is its time)
            x.headers.push((HeaderName::Date, sip_date(unix)));
            x.headers.push((HeaderName::Identity, h.to_string()));
        }
        x
    }

    /// Verifies the peer's request the call is acting on (its INVITE, or its pending UPDATE/re-INVITE):
    /// `None` without identity configuration. At most [`MAX_IDENTITY_HEADERS`] Identity headers are examined;
    /// certificates come from the cache: a miss gives [`Check::Fetch`] (the caller parks the request) unless
    /// fetching is over for it (deadline passed, bound reached), when it counts as unreachable (436).
    pub(super) fn verify_peer_request(&mut self, now: Instant, call: CallId) -> Option<Check> {
        let unix = self.unix_now(now);
        let idc = self.cfg.identity.as_ref()?;
        let req = self.ua.peer_request(call)?;
        let values: Vec<String> = req
            .headers
            .all(HeaderName::Identity)
            .take(MAX_IDENTITY_HEADERS)
            .map(|f| f.value())
            .collect();
        let present = !values.is_empty();
        let from_change = has_from_change(req);
        let (Some(from), Some(to)) = (req.headers.from(), req.headers.to()) else {
            return Some(Check::Done(
                Verdict::Failed(IdentityError::OrigMismatch),
                from_change,
                present,
            ));
        };
        let fps = sdp_fingerprints(&req.body);
        // RFC 8224 §7.3 / RFC 8225 §7: a compact-form PASSporT's iat is the request's Date
        let date = req
            .headers
            .first(HeaderName::Date)
            .and_then(|f| parse_sip_date(&f.value()));
        let facts = RequestFacts {
            from: &from.uri,
            to: &to.uri,
            date,
            fingerprints: &fps,
        };
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let Some(v) = idc.verifier.as_ref() else {
            // Without a verification service nothing can be verified: unverified, never failed.
            return Some(Check::Done(Verdict::Absent, from_change, present));
        };
        let mut lookup = CacheLookup {
            cache: &self.certs,
            allow: &idc.info_allow,
            now,
            fetch: !self.no_fetch,
            missing: Vec::new(),
        };
        let verdict = v.verify_request(&refs, &facts, unix, &mut lookup);
        if verdict.verified().is_none() && !lookup.missing.is_empty() {
            return Some(Check::Fetch(lookup.missing));
        }
        Some(Check::Done(verdict, from_change, present))
    }

    /// UAS, on the ACK of our 2xx: the RFC 4916 UPDATE (I-3, §7.2 message 10) repeating our answer unchanged
    /// (same fingerprint and tls-id: no new handshake), signed by our authentication service.
    pub(super) fn send_connected_identity(&mut self, now: Instant, call: CallId) {
        let Some(idc) = self.cfg.identity.as_ref() else {
            return;
        };
        let Some(signer) = idc.signer.clone().filter(|_| idc.connected_identity) else {
            return;
        };
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.uac || c.sec.update_sent || !c.sec.peer_from_change {
            return;
        }
        let Some(body) = c.answer.as_ref().map(|a| a.0.clone()) else {
            return;
        };
        let Some(req) = self.ua.peer_request(call) else {
            return;
        };
        // The UPDATE's From is our dialog URI (the INVITE's To), its To the caller (the INVITE's From).
        let (Some(from), Some(to)) = (
            req.headers.to().map(|n| n.uri.clone()),
            req.headers.from().map(|n| n.uri.clone()),
        ) else {
            return;
        };
        let fps = sdp_fingerprints(&body);
        let facts = RequestFacts {
            from: &from,
            to: &to,
            date: None,
            fingerprints: &fps,
        };
        let unix = self.unix_now(now);
        let Ok(h) = signer.sign(&facts, unix) else {
            return;
        };
        let mut x = RequestExtras::new();
        x.headers.push((HeaderName::Date, sip_date(unix)));
        x.headers
            .push((HeaderName::Supported, supported(self.cfg.use_100rel).into()));
        x.headers.push((HeaderName::Identity, h.to_string()));
        if self
            .ua
            .modify_with(now, call, ModifyKind::Update, Some(body), &x)
            .is_ok()
        {
            if let Some(c) = self.calls.get_mut(&call) {
                c.sec.update_sent = true;
            }
        }
    }

    /// UAC, on the peer's UPDATE/re-INVITE: a signed one is its connected identity (I-3). Its verdict counts
    /// only when its fingerprints are exactly those our media was verified against (A-R-ID-BINDING).
    /// Returns false when it was rejected (Required policy); the caller then does nothing more with it.
    /// `checked` is the verdict on the request ([`Endpoint::verify_or_park`]).
    pub(super) fn check_connected_identity(
        &mut self,
        now: Instant,
        call: CallId,
        checked: Option<(Verdict, bool, bool)>,
    ) -> bool {
        if !self.calls.get(&call).is_some_and(|c| c.uac) {
            return true;
        }
        let Some((mut verdict, _, present)) = checked else {
            return true;
        };
        if !present {
            return true;
        }
        let fps = self
            .ua
            .peer_request(call)
            .map(|r| sdp_fingerprints(&r.body))
            .unwrap_or_default();
        let policy = self.identity_policy();
        let Some(c) = self.calls.get_mut(&call) else {
            return true;
        };
        if verdict.verified().is_some() {
            // the winning fork's answer fingerprints (the media may still be handshaking)
            let bound = c
                .winner
                .and_then(|w| c.fork(w))
                .map_or_else(|| c.sec.peer_fps.clone(), |f| f.peer_fps.clone());
            let same = !bound.is_empty()
                && fps.len() == bound.len()
                && fps.iter().all(|f| bound.contains(f));
            if !same {
                verdict = Verdict::Failed(IdentityError::MkyMismatch);
            }
        }
        let disposition = verdict.disposition(policy);
        c.sec.connected = Some(verdict);
        self.report_security(call);
        if let Disposition::Reject { code, .. } = disposition {
            let _ = self.ua.reject_modify(now, call, code);
            return false;
        }
        true
    }

    pub(super) fn identity_policy(&self) -> dtlsrtp_sip::identity::IdentityPolicy {
        self.cfg
            .identity
            .as_ref()
            .map(|i| i.policy)
            .unwrap_or_default()
    }

    /// Emits [`Event::Security`] when the call's state changed (once established, or on an identity
    /// failure), and runs the continuity check on a newly verified identity.
    pub(super) fn report_security(&mut self, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let media_verified = c.phase.is_established()
            && c.winner.and_then(|w| c.fork(w)).is_some_and(|f| f.verified);
        let state = call_security_state(media_verified, &c.sec.peer, c.sec.connected.as_ref());
        let failed = matches!(state, CallSecurityState::IdentityFailed { .. });
        let peer = c
            .sec
            .peer_fps
            .iter()
            .find(|f| f.0 == c.sec.local_fp.0)
            .or(c.sec.peer_fps.first());
        let sas = peer
            .map(|p| Sas::new((&c.sec.local_fp.0, &c.sec.local_fp.1), (&p.0, &p.1)).to_string());
        // a new SAS (the peer's fingerprints changed, issue 12 item 3) is reported even in the same state
        let shown = (state.clone(), sas.clone());
        if c.sec.shown.as_ref() == Some(&shown) || !(c.phase.is_established() || failed) {
            return;
        }
        c.sec.shown = Some(shown);
        let peer_fps = c.sec.peer_fps.clone();
        self.events.push_back(Event::Security {
            call,
            state: state.clone(),
            sas,
        });
        if let CallSecurityState::EncryptedToVerifiedIdentity { uri } = state {
            match self.peer_keys.observe(&uri, &peer_fps) {
                Ok(Continuity::KeyChanged { .. }) => self.events.push_back(Event::PeerKeyChanged {
                    call,
                    identity: uri,
                }),
                Ok(Continuity::NewPeer) => {
                    if let Some(path) = self.cfg.identity.as_ref().and_then(|i| i.peer_keys.clone())
                    {
                        // The driver writes it (issue 13 design item 3); a failed write only loses continuity.
                        self.events.push_back(Event::StorePeerKeys {
                            path,
                            cache: self.peer_keys.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_sip_date, sip_date};

    /// RFC 8224 §7.3: the verifier rebuilds a compact PASSporT's iat from Date: the parser inverts ours.
    #[test]
    fn i_2_date_header_parses_back_to_unix_seconds() {
        for t in [0, 951_782_400, 1_800_000_000, 1_443_208_345, 4_102_444_799] {
            assert_eq!(parse_sip_date(&sip_date(t)), Some(t), "{}", sip_date(t));
        }
        assert_eq!(parse_sip_date("Fri, 15 Jan 2027 08:00:00 UTC"), None);
        assert_eq!(parse_sip_date("15 Jan 2027 08:00:00 GMT"), None);
        assert_eq!(parse_sip_date("Fri, 15 Foo 2027 08:00:00 GMT"), None);
        assert_eq!(parse_sip_date("Fri, 15 Jan 2027 8:00:00 GMT"), None);
        assert_eq!(parse_sip_date(""), None);
    }

    #[test]
    fn date_header_values() {
        assert_eq!(sip_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(sip_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(sip_date(1_800_000_000), "Fri, 15 Jan 2027 08:00:00 GMT");
    }
}
