//! The UA's public vocabulary: handles, events, reasons, errors, and what it transmits.

use std::net::SocketAddr;

use super::TransportKind;
use crate::dialog::DialogError;
use crate::error::HeaderError;
use crate::transaction::TxError;

/// A message to send: the driver owns sockets and connections (one per transport and remote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// UDP, TCP or TLS.
    pub transport: TransportKind,
    /// Destination (for TCP/TLS: the connection's peer, opened when absent).
    pub remote: SocketAddr,
    /// The message on the wire.
    pub bytes: Vec<u8>,
}

/// A call handle (one INVITE and its dialogs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);
/// One early or confirmed dialog of a call: one per To-tag (F-6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ForkId(pub u64);
/// A registration handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegId(pub u64);

/// Why a call ended.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// We hung up (BYE sent, or our rejection).
    Local,
    /// The peer sent BYE.
    RemoteBye,
    /// The INVITE got this final status (UAC).
    Rejected(u16),
    /// CANCEL before the answer (487), either side.
    Cancelled,
    /// No final response (Timer B) or the peer stopped answering.
    Timeout,
    /// UAS: no ACK for our 2xx within 64*T1; we sent BYE (RFC 3261 §13.3.1.4).
    AckTimeout,
    /// The transport failed.
    TransportError,
}

/// A session modification (RFC 3261 §14, RFC 3311).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModifyKind {
    /// re-INVITE
    Reinvite,
    /// UPDATE
    Update,
}

/// The offer/answer state of a call's dialog (RFC 3264, RFC 6337).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferState {
    /// No offer outstanding.
    Stable,
    /// We sent an offer and await the answer.
    LocalOffer,
    /// We received an offer and owe the answer.
    RemoteOffer,
}

/// What the UA tells its user.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new INVITE. `offer` is `None` for a delayed offer (F-6.4): then [`super::UserAgent::answer`] carries the offer
    /// and the answer comes in [`Event::AckReceived`].
    IncomingCall {
        /// The call.
        call: CallId,
        /// The From header value.
        from: String,
        /// The SDP offer.
        offer: Option<Vec<u8>>,
    },
    /// A 1xx other than 100 (UAC). `fork` is `None` when the response had no To tag.
    Provisional {
        /// The call.
        call: CallId,
        /// The early dialog.
        fork: Option<ForkId>,
        /// 180, 183, ...
        status: u16,
        /// Its body (early media answer, F-6.2).
        body: Option<Vec<u8>>,
    },
    /// The first 2xx (UAC): `fork` won. For a delayed offer the body is the offer: send the answer with
    /// [`super::UserAgent::ack`].
    Answered {
        /// The call.
        call: CallId,
        /// The winning dialog.
        fork: ForkId,
        /// The 2xx body.
        body: Option<Vec<u8>>,
    },
    /// An early dialog ended (another fork won and the INVITE transaction ended, a late 2xx got BYE, or the call
    /// failed).
    ForkEnded {
        /// The call.
        call: CallId,
        /// The dialog.
        fork: ForkId,
    },
    /// The INVITE client transaction is over: no further answer can come (T-8a mismatch decisions).
    NoMoreAnswers {
        /// The call.
        call: CallId,
    },
    /// UAS: the ACK for our 2xx (INVITE or re-INVITE); with the answer when our 2xx carried the offer.
    AckReceived {
        /// The call.
        call: CallId,
        /// The ACK body.
        body: Option<Vec<u8>>,
    },
    /// UAS: a PRACK acknowledged our reliable provisional (RFC 3262); its body answers an offer in that 1xx.
    PrackReceived {
        /// The call.
        call: CallId,
        /// The PRACK body.
        body: Option<Vec<u8>>,
    },
    /// The peer sent a re-INVITE or UPDATE: answer with [`super::UserAgent::accept_modify`] or
    /// [`super::UserAgent::reject_modify`].
    ModifyRequest {
        /// The call.
        call: CallId,
        /// re-INVITE or UPDATE.
        kind: ModifyKind,
        /// The offer (`None`: a re-INVITE asking us to offer in the 2xx).
        body: Option<Vec<u8>>,
    },
    /// Our re-INVITE or UPDATE got a 2xx. For a bodiless re-INVITE the body is the peer's offer: answer with
    /// [`super::UserAgent::ack`].
    ModifyAnswered {
        /// The call.
        call: CallId,
        /// re-INVITE or UPDATE.
        kind: ModifyKind,
        /// The 2xx body.
        body: Option<Vec<u8>>,
    },
    /// The peer cancelled its re-INVITE before we answered (487 sent); the session is unchanged and the
    /// [`Event::ModifyRequest`] needs no answer any more.
    ModifyCancelled {
        /// The call.
        call: CallId,
    },
    /// Our re-INVITE or UPDATE failed (491 on glare, RFC 3261 §14.1); the session is unchanged.
    ModifyRejected {
        /// The call.
        call: CallId,
        /// re-INVITE or UPDATE.
        kind: ModifyKind,
        /// The final status (408 on timeout).
        status: u16,
    },
    /// The call is over; its id is no longer valid.
    Terminated {
        /// The call.
        call: CallId,
        /// Why.
        reason: EndReason,
    },
    /// REGISTER succeeded; a refresh is scheduled before `expires` seconds run out.
    Registered {
        /// The registration.
        reg: RegId,
        /// Seconds granted by the registrar.
        expires: u32,
    },
    /// REGISTER failed (401/403 after our credentials, timeout as 408, ...).
    RegistrationFailed {
        /// The registration.
        reg: RegId,
        /// Final status.
        status: u16,
    },
    /// The unregistration (Expires 0) completed.
    Unregistered {
        /// The registration.
        reg: RegId,
    },
    /// A stream can no longer be framed (oversize or no Content-Length): close the connection.
    CloseConnection {
        /// TCP or TLS.
        transport: TransportKind,
        /// The peer.
        remote: SocketAddr,
    },
}

/// Why the UA wants to be woken (see [`super::UserAgent::next_timer`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerReason {
    /// A transaction timer (RFC 3261 §17: A–K, RFC 6026: L, M).
    Transaction(crate::transaction::TxId, crate::transaction::Timer),
    /// Our 2xx to an INVITE is resent (no ACK yet).
    Retransmit2xx(CallId),
    /// Our 2xx got no ACK within 64*T1.
    AckTimeout(CallId),
    /// A reliable provisional is resent (no PRACK yet).
    RetransmitReliable1xx(CallId),
    /// A reliable provisional got no PRACK within 64*T1.
    PrackTimeout(CallId),
    /// A registration refresh is due.
    RegisterRefresh(RegId),
}

/// Misuse of the API (never caused by network input).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UaError {
    /// No call with this id (ended, or never existed).
    #[error("unknown call")]
    UnknownCall,
    /// No registration with this id.
    #[error("unknown registration")]
    UnknownRegistration,
    /// The call is not in a state for this command (e.g. answer twice).
    #[error("not allowed in this call state")]
    WrongState,
    /// The call has no single dialog for this command yet.
    #[error("no dialog")]
    NoDialog,
    /// Another offer or INVITE transaction is outstanding (RFC 3261 §14.1, RFC 3311 §5.1).
    #[error("an offer or INVITE transaction is pending")]
    Pending,
    /// The next hop is a host name and no outbound proxy is configured (no DNS in this layer).
    #[error("next hop not an IP address and no outbound proxy")]
    Unroutable,
    /// No local address configured for the transport.
    #[error("no local address for this transport")]
    NoLocalAddress,
    /// A status code outside the range this command allows.
    #[error("bad status code {0}")]
    Status(u16),
    /// A header value could not be built.
    #[error("header: {0}")]
    Header(#[from] HeaderError),
    /// A transaction error.
    #[error("transaction: {0}")]
    Tx(#[from] TxError),
    /// A dialog error.
    #[error("dialog: {0}")]
    Dialog(#[from] DialogError),
}
