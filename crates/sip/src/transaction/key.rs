//! Transaction keys (RFC 3261 §17.1.3 client matching, §17.2.3 server matching).

use crate::header::Via;
use crate::message::{Request, Response};
use crate::method::Method;

/// Client transaction key: top Via branch + CSeq method (§17.1.3). CANCEL and INVITE share a branch but not a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The branch of the top Via (case-sensitive).
    pub branch: Box<str>,
    /// The request method (CSeq method for responses).
    pub method: Method,
}

impl ClientKey {
    /// The key of a request we send.
    pub fn from_request(req: &Request) -> Option<Self> {
        let branch = req.headers.top_via()?.branch()?;
        Some(Self {
            branch: branch.into(),
            method: req.method.clone(),
        })
    }
    /// The key a response matches (top Via branch, CSeq method).
    pub fn from_response(resp: &Response) -> Option<Self> {
        let branch = resp.headers.top_via()?.branch()?;
        Some(Self {
            branch: branch.into(),
            method: resp.headers.cseq()?.method.clone(),
        })
    }
}

/// Server transaction key (§17.2.3). ACK maps to the INVITE's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerKey {
    /// Top Via branch with the magic cookie: branch + sent-by + method.
    Rfc3261 {
        /// Branch (case-sensitive).
        branch: Box<str>,
        /// sent-by host (lower-cased) and port.
        sent_by: (Box<str>, Option<u16>),
        /// Method, ACK counted as INVITE.
        method: Method,
    },
    /// RFC 2543 peers (no or bare cookie, RFC 4475 §3.2.1): Request-URI, From tag, Call-ID, CSeq number, top Via
    /// and method. Approximation: the To tag is left out, so an ACK matches its INVITE without tracking our tag.
    Rfc2543 {
        /// Request-URI as written.
        request_uri: Box<str>,
        /// From tag.
        from_tag: Option<Box<str>>,
        /// Call-ID.
        call_id: Box<str>,
        /// CSeq number.
        cseq: u32,
        /// Top Via, formatted.
        via: Box<str>,
        /// Method, ACK counted as INVITE.
        method: Method,
    },
}

fn normalize(m: &Method) -> Method {
    if *m == Method::Ack {
        Method::Invite
    } else {
        m.clone()
    }
}

impl ServerKey {
    /// The key of a received request; `None` without a top Via, CSeq or Call-ID.
    pub fn from_request(req: &Request) -> Option<Self> {
        Self::with_method(req, normalize(&req.method))
    }

    /// The key of the INVITE transaction a CANCEL targets (RFC 3261 §9.2).
    pub fn invite_for_cancel(cancel: &Request) -> Option<Self> {
        if cancel.method != Method::Cancel {
            return None;
        }
        Self::with_method(cancel, Method::Invite)
    }

    fn with_method(req: &Request, method: Method) -> Option<Self> {
        let via: &Via = req.headers.top_via()?;
        if via.has_rfc3261_branch() {
            let branch = via.branch()?;
            return Some(Self::Rfc3261 {
                branch: branch.into(),
                sent_by: (via.host.to_string().to_ascii_lowercase().into(), via.port),
                method,
            });
        }
        let mut top = via.clone();
        top.params.remove("received");
        top.params.remove("rport");
        Some(Self::Rfc2543 {
            request_uri: req.uri.as_str().into(),
            from_tag: req.headers.from()?.tag().map(Into::into),
            call_id: req.headers.call_id()?.into(),
            cseq: req.headers.cseq()?.seq,
            via: top.to_string().into(),
            method,
        })
    }
}
