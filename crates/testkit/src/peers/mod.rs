//! Real peers on 127.0.0.1, stopped by PID.
//!
//! - [`baresip::Baresip`]: baresip 1.0 (Debian `baresip`), a SIP user agent doing RFC 5763 DTLS-SRTP; configured
//!   in a temporary directory, driven by `-e` commands and its `cons` UDP console.
//! - [`kamailio::Kamailio`]: Kamailio 5.6 (Debian `kamailio`) as an in-memory registrar and parallel-forking
//!   proxy.
//! - [`PeerProcess`] / [`LogFile`]: the shared guard (own process group, output to a log file, bounded waits for
//!   log patterns, SIGTERM then SIGKILL by PID in `Drop`) and [`free_port_block`] / [`free_port`].
//!
//! Every wait is bounded and every process is stopped by its PID when its handle drops, also when a test fails.
//! Set `DTLSRTP_PEER_LOGS=DIR` to keep a copy of every peer log (they live in temp dirs otherwise).
//! Gate each interop test with [`crate::require_peer`] (`baresip`/`baresip`, `kamailio`/`kamailio`).
//! Observed SIP messages and log lines of baresip 1.0 are in `baresip-notes.md` beside this file.

use std::time::Duration;

pub mod baresip;
pub mod kamailio;
mod ports;
mod process;

pub use ports::{free_port, free_port_block};
pub use process::{LogFile, PeerProcess, KEEP_LOGS_ENV};

/// Why starting, driving or waiting for a peer failed. Messages quote the tail of the peer's log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// No block of free ports was found on 127.0.0.1.
    #[error("no block of {span} free UDP+TCP ports on 127.0.0.1")]
    NoFreePort {
        /// How many consecutive ports were wanted.
        span: u16,
    },
    /// A bounded wait ran out.
    #[error("{peer}: timed out after {waited:?} waiting for {waiting_for}; log tail:\n{tail}")]
    Timeout {
        /// Which peer.
        peer: String,
        /// What was awaited.
        waiting_for: String,
        /// How long.
        waited: Duration,
        /// The end of the peer's log.
        tail: String,
    },
    /// The peer exited while something was awaited.
    #[error("{peer}: exited ({status}) while waiting for {waiting_for}; log tail:\n{tail}")]
    Exited {
        /// Which peer.
        peer: String,
        /// What was awaited.
        waiting_for: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The end of the peer's log.
        tail: String,
    },
}
