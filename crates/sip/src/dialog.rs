//! Dialogs (RFC 3261 §12): creation on the UAC side from a 1xx-with-tag or 2xx (§12.1.2) and on the UAS side from
//! the request (§12.1.1), route set from Record-Route, remote target from Contact, local and remote CSeq,
//! in-dialog request building (§12.2.1.1, including the 2xx ACK of §13.2.2.4) and remote CSeq checks (§12.2.2).
//!
//! Early dialogs are the same type in [`DialogState::Early`]; each forked To-tag gets its own (F-6.3, T-8a).

use crate::error::HeaderError;
use crate::header::{HeaderField, HeaderName, NameAddr};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::{SipUri, Uri};

/// Why a dialog could not be created or a request not accepted in it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DialogError {
    /// The message lacks Call-ID, From, To, CSeq or a tag the dialog needs.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The Contact is absent, `*`, or not a SIP URI (§12.1.1: a dialog needs a SIP remote target).
    #[error("no usable Contact")]
    Contact,
    /// A request whose CSeq is not above the last one received in the dialog: answer 500 (§12.2.2).
    #[error("CSeq out of order")]
    CSeqOrder,
    /// A header could not be built.
    #[error("header: {0}")]
    Header(#[from] HeaderError),
}

impl DialogError {
    /// The status code for a request refused with this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::CSeqOrder => 500,
            _ => 400,
        }
    }
}

/// The dialog identifier (§12): Call-ID, local tag, remote tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From tag as UAC, To tag as UAS).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Early (after a 1xx with a To tag) or confirmed (after a 2xx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
}

/// The state of one dialog (§12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Identifier.
    pub id: DialogId,
    /// Early or confirmed.
    pub state: DialogState,
    /// The CSeq number of the last request we sent in the dialog.
    pub local_seq: u32,
    /// The CSeq number of the last request received in the dialog (`None` until one arrives).
    pub remote_seq: Option<u32>,
    /// Our address with our tag (the From of our requests).
    pub local: NameAddr,
    /// The peer's address with its tag (the To of our requests).
    pub remote: NameAddr,
    /// Where requests go: the peer's Contact.
    pub remote_target: SipUri,
    /// Route set, in the order our requests carry it.
    pub route_set: Vec<NameAddr>,
    /// True when the initial request was sent over TLS to a sips: Request-URI.
    pub secure: bool,
}

fn contact_target(contacts: &mut dyn Iterator<Item = &crate::header::Contact>) -> Option<SipUri> {
    contacts
        .next()
        .and_then(|c| c.addr())
        .and_then(|a| a.uri.as_sip().cloned())
}

impl Dialog {
    /// UAC side (§12.1.2): from our request and a 1xx-with-tag or 2xx response. Route set is the response's
    /// Record-Route reversed; remote target its Contact. A 1xx without Contact keeps the Request-URI as target.
    pub fn uac(request: &Request, response: &Response) -> Result<Self, DialogError> {
        let call_id = request
            .headers
            .call_id()
            .ok_or(DialogError::Missing("Call-ID"))?;
        let local = request
            .headers
            .from()
            .ok_or(DialogError::Missing("From"))?
            .clone();
        let local_tag = local.tag().ok_or(DialogError::Missing("From tag"))?;
        let remote = response
            .headers
            .to()
            .ok_or(DialogError::Missing("To"))?
            .clone();
        let remote_tag = remote.tag().ok_or(DialogError::Missing("To tag"))?;
        let seq = request
            .headers
            .cseq()
            .ok_or(DialogError::Missing("CSeq"))?
            .seq;
        let target = contact_target(&mut response.headers.contacts());
        let final_2xx = (200..300).contains(&response.status);
        let remote_target = match target {
            Some(t) => t,
            None if !final_2xx => request.uri.clone(),
            None => return Err(DialogError::Contact),
        };
        let mut route_set: Vec<NameAddr> = response.headers.record_routes().cloned().collect();
        route_set.reverse();
        Ok(Self {
            id: DialogId {
                call_id: call_id.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: remote_tag.to_owned(),
            },
            state: if final_2xx {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            local_seq: seq,
            remote_seq: None,
            local,
            remote,
            remote_target,
            route_set,
            secure: request.uri.is_secure(),
        })
    }

    /// UAS side (§12.1.1): from the dialog-creating request and the tag we put in To. Route set is the
    /// request's Record-Route in order; remote target its Contact; our first CSeq is `local_seq + 1`.
    pub fn uas(request: &Request, local_tag: &str, local_seq: u32) -> Result<Self, DialogError> {
        let call_id = request
            .headers
            .call_id()
            .ok_or(DialogError::Missing("Call-ID"))?;
        let remote = request
            .headers
            .from()
            .ok_or(DialogError::Missing("From"))?
            .clone();
        let remote_tag = remote.tag().ok_or(DialogError::Missing("From tag"))?;
        let mut local = request
            .headers
            .to()
            .ok_or(DialogError::Missing("To"))?
            .clone();
        local.set_tag(local_tag);
        let remote_seq = request
            .headers
            .cseq()
            .ok_or(DialogError::Missing("CSeq"))?
            .seq;
        let remote_target =
            contact_target(&mut request.headers.contacts()).ok_or(DialogError::Contact)?;
        Ok(Self {
            id: DialogId {
                call_id: call_id.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: remote_tag.to_owned(),
            },
            state: DialogState::Early,
            local_seq,
            remote_seq: Some(remote_seq),
            local,
            remote,
            remote_target,
            route_set: request.headers.record_routes().cloned().collect(),
            secure: request.uri.is_secure(),
        })
    }

    /// A 2xx for the dialog's INVITE arrived (UAC, §13.2.2.4): confirmed, route set and target recomputed.
    pub fn confirm_uac(&mut self, response: &Response) {
        self.state = DialogState::Confirmed;
        let mut rs: Vec<NameAddr> = response.headers.record_routes().cloned().collect();
        rs.reverse();
        self.route_set = rs;
        self.refresh_target(response);
    }

    /// Target refresh (§12.2.1.2, §12.2.2): a Contact in a re-INVITE/UPDATE or its 2xx replaces the target.
    pub fn refresh_target<M: HasHeaders>(&mut self, msg: &M) {
        if let Some(t) = contact_target(&mut msg.hdrs().contacts()) {
            self.remote_target = t;
        }
    }

    /// Checks a request received in the dialog (§12.2.2): its CSeq must be above the last one; records it.
    /// ACK and CANCEL carry the INVITE's number and are not checked. State is unchanged on error.
    pub fn accept_remote_cseq(&mut self, request: &Request) -> Result<(), DialogError> {
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let seq = request
            .headers
            .cseq()
            .ok_or(DialogError::Missing("CSeq"))?
            .seq;
        if self.remote_seq.is_some_and(|r| seq <= r) {
            return Err(DialogError::CSeqOrder);
        }
        self.remote_seq = Some(seq);
        Ok(())
    }

    /// True when `request` (already matched on Call-ID) belongs to this dialog: To tag = ours, From tag = theirs.
    pub fn matches_request(&self, request: &Request) -> bool {
        request.headers.call_id() == Some(self.id.call_id.as_str())
            && request.headers.to().and_then(|t| t.tag()) == Some(self.id.local_tag.as_str())
            && request.headers.from().and_then(|f| f.tag()) == Some(self.id.remote_tag.as_str())
    }

    /// The Request-URI and Route headers (§12.2.1.1): loose routing when the first route has `lr`, else strict
    /// routing (first route becomes the Request-URI, the remote target goes last).
    pub fn request_target(&self) -> (SipUri, Vec<NameAddr>) {
        let first_loose = self
            .route_set
            .first()
            .map(|r| r.uri.as_sip().is_some_and(|u| u.param("lr").is_some()));
        match (first_loose, self.route_set.first()) {
            (Some(false), Some(first)) => match first.uri.as_sip() {
                Some(u) => {
                    let mut routes: Vec<NameAddr> =
                        self.route_set.iter().skip(1).cloned().collect();
                    routes.push(NameAddr::new(Uri::Sip(self.remote_target.clone())));
                    (u.clone(), routes)
                }
                None => (self.remote_target.clone(), self.route_set.clone()),
            },
            _ => (self.remote_target.clone(), self.route_set.clone()),
        }
    }

    /// Builds a request in the dialog (§12.2.1.1) with the given top Via value and Contact. The CSeq number is
    /// incremented, except for ACK, which takes `ack_of` (the INVITE's number, §13.2.2.4).
    pub fn build_request(
        &mut self,
        method: Method,
        via: &str,
        contact: Option<&str>,
        ack_of: Option<u32>,
    ) -> Result<Request, DialogError> {
        let seq = match (&method, ack_of) {
            (Method::Ack, Some(n)) => n,
            _ => {
                self.local_seq = self.local_seq.wrapping_add(1) & crate::header::CSEQ_MAX;
                self.local_seq
            }
        };
        let (uri, routes) = self.request_target();
        let mut req = Request::new(method.clone(), uri);
        let h = &mut req.headers;
        h.add(HeaderName::Via, via)?;
        h.add(HeaderName::MaxForwards, "70")?;
        for r in &routes {
            h.push(HeaderField::new(HeaderName::Route, &r.to_string())?);
        }
        h.add(HeaderName::From, &self.local.to_string())?;
        h.add(HeaderName::To, &self.remote.to_string())?;
        h.add(HeaderName::CallId, &self.id.call_id)?;
        h.add(HeaderName::CSeq, &format!("{seq} {method}"))?;
        if let Some(c) = contact {
            h.add(HeaderName::Contact, c)?;
        }
        h.add(HeaderName::ContentLength, "0")?;
        Ok(req)
    }
}

/// Messages with headers, for [`Dialog::refresh_target`].
pub trait HasHeaders {
    /// The header section.
    fn hdrs(&self) -> &crate::header::Headers;
}
impl HasHeaders for Request {
    fn hdrs(&self) -> &crate::header::Headers {
        &self.headers
    }
}
impl HasHeaders for Response {
    fn hdrs(&self) -> &crate::header::Headers {
        &self.headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;

    fn req(s: &str) -> Request {
        match Message::parse(s.replace('\n', "\r\n").as_bytes()).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }
    fn resp(s: &str) -> Response {
        match Message::parse(s.replace('\n', "\r\n").as_bytes()).unwrap() {
            Message::Response(r) => r,
            Message::Request(_) => unreachable!(),
        }
    }

    const INVITE: &str = "INVITE sip:bob@192.0.2.2 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\n\
Max-Forwards: 70\nFrom: <sip:alice@a.example>;tag=at\nTo: <sip:bob@b.example>\nCall-ID: c1\n\
CSeq: 10 INVITE\nContact: <sip:alice@192.0.2.1>\nRecord-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\n\
Content-Length: 0\n\n";

    #[test]
    fn uac_dialog_route_set_reversed_target_from_contact() {
        let i = req(INVITE);
        let r = resp(
            "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\nFrom: <sip:alice@a.example>;tag=at\n\
To: <sip:bob@b.example>;tag=bt\nCall-ID: c1\nCSeq: 10 INVITE\nContact: <sip:bob@192.0.2.2:5070>\n\
Record-Route: <sip:p2.example;lr>\nRecord-Route: <sip:p1.example;lr>\nContent-Length: 0\n\n",
        );
        let mut d = Dialog::uac(&i, &r).unwrap();
        assert_eq!(d.state, DialogState::Confirmed);
        assert_eq!(d.id.remote_tag, "bt");
        assert_eq!(d.remote_target.as_str(), "sip:bob@192.0.2.2:5070");
        let names: Vec<String> = d.route_set.iter().map(|r| r.uri.to_string()).collect();
        assert_eq!(names, ["sip:p1.example;lr", "sip:p2.example;lr"]);
        let bye = d
            .build_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bKb", None, None)
            .unwrap();
        assert_eq!(bye.uri.as_str(), "sip:bob@192.0.2.2:5070");
        assert_eq!(bye.headers.cseq().unwrap().seq, 11);
        assert_eq!(bye.headers.routes().count(), 2);
        assert_eq!(bye.headers.to().unwrap().tag(), Some("bt"));
        let ack = d
            .build_request(Method::Ack, "SIP/2.0/UDP h;branch=z9hG4bKc", None, Some(10))
            .unwrap();
        assert_eq!(ack.headers.cseq().unwrap().seq, 10);
        assert_eq!(d.local_seq, 11);
    }

    #[test]
    fn uas_dialog_and_remote_cseq_order() {
        let i = req(INVITE);
        let mut d = Dialog::uas(&i, "bt", 500).unwrap();
        assert_eq!(d.route_set.len(), 2);
        assert_eq!(
            d.route_set[0].uri.to_string(),
            "sip:p1.example;lr",
            "UAS keeps Record-Route order"
        );
        let mut bye = i.clone();
        bye.method = Method::Bye;
        bye.headers.set(HeaderName::CSeq, "10 BYE").unwrap();
        assert_eq!(
            d.accept_remote_cseq(&bye),
            Err(DialogError::CSeqOrder),
            "same CSeq number is refused (500)"
        );
        assert_eq!(d.remote_seq, Some(10), "state unchanged");
        bye.headers.set(HeaderName::CSeq, "11 BYE").unwrap();
        assert!(d.accept_remote_cseq(&bye).is_ok());
        let req = d
            .build_request(Method::Bye, "SIP/2.0/UDP h;branch=z9hG4bKx", None, None)
            .unwrap();
        assert_eq!(req.headers.cseq().unwrap().seq, 501);
        assert_eq!(req.headers.from().unwrap().tag(), Some("bt"));
        assert_eq!(req.headers.to().unwrap().tag(), Some("at"));
    }

    #[test]
    fn strict_route_puts_target_last() {
        let i = req(&INVITE.replace(
            "Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>",
            "Record-Route: <sip:p1.example>",
        ));
        let d = Dialog::uas(&i, "t", 1).unwrap();
        let (uri, routes) = d.request_target();
        assert_eq!(uri.as_str(), "sip:p1.example");
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].uri.to_string(), "sip:alice@192.0.2.1");
    }
}
