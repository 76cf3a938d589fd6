//! RFC 3261 §17 transactions, sans-IO (ARCHITECTURE.md §3), with RFC 6026's Accepted state.
//!
//! Each state machine takes `now` in every `handle_*` call, queues what it sends and what it tells the TU, and
//! reports its next deadline; `poll_*` only drain. Retransmission timers (A, E, G) run only on unreliable
//! transports. [`TransactionLayer`] keys transactions by branch (RFC 3261 §17.1.3, §17.2.3), routes responses,
//! retransmissions, ACK and CANCEL, and answers requests to the address RFC 3581 asks for. Its server side is
//! bounded per source and in total, with a reserve for requests of live dialogs and a short replay cache for
//! statelessly answered requests ([`ServerLimits`], R-2).

mod client;
mod key;
mod layer;
mod limits;
mod server;
mod timer;

pub use client::{build_cancel, ClientState, ClientTransaction};
pub use key::{ClientKey, ServerKey};
pub use layer::{Incoming, TransactionLayer, Transmit, TxId};
pub use limits::{Admission, ServerLimits};
pub use server::{ServerState, ServerTransaction};
pub use timer::{Timer, TimerConfig};

use crate::message::{Request, Response};

/// What a transaction tells its transaction user.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// Client: a response for the TU (1xx, final; for INVITE every 2xx including retransmits in Accepted).
    Response(Response),
    /// Client: Timer B or F fired without a final response; server: Timer H fired without an ACK.
    Timeout,
    /// INVITE server in Accepted: an ACK for the 2xx, for the TU (RFC 6026 §7.1).
    Ack(Request),
    /// The transport reported a failure (RFC 3261 §17.1.4).
    TransportError,
    /// The transaction reached Terminated; the table drops it.
    Terminated,
}

/// Misuse of a transaction by its TU (never caused by network input).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The request has no top Via with a branch.
    #[error("request has no Via branch")]
    NoBranch,
    /// ACK is never sent through a client transaction (RFC 3261 §17.1.1.3 builds it inside; 2xx ACK is the TU's).
    #[error("ACK is not a transaction")]
    AckRequest,
    /// A response the state does not allow (e.g. a second final response).
    #[error("response not allowed in this state")]
    WrongState,
    /// A response missing the headers needed to match it.
    #[error("response lacks Via or CSeq")]
    BadResponse,
    /// No transaction with this id.
    #[error("no such transaction")]
    Unknown,
    /// A transaction with this key already exists.
    #[error("transaction exists")]
    Exists,
}
