//! Real peers on 127.0.0.1, stopped by PID.
//!
//! - [`baresip::Baresip`]: baresip 1.0 (Debian `baresip`), a SIP user agent doing RFC 5763 DTLS-SRTP; configured
//!   in a temporary directory, driven by `-e` commands and its `cons` UDP console.
//! - [`kamailio::Kamailio`]: Kamailio 5.6 (Debian `kamailio`) as an in-memory registrar and parallel-forking
//!   proxy (UDP, optionally TCP; optionally digest authentication of REGISTER for configured users).
//! - [`PeerProcess`] / [`LogFile`]: the shared guard (own process group, output to a log file, bounded waits for
//!   log patterns, SIGTERM then SIGKILL by PID in `Drop`) and [`free_port_block`] / [`free_port`].
//!
//! Every wait is bounded and every process is stopped by its PID when its handle drops, also when a test fails
//! (and ends by itself after 300 s should the test process be killed: baresip `-t`, Kamailio under `timeout`).
//! Set `DTLSRTP_PEER_LOGS=DIR` to keep a copy of every peer log (they live in temp dirs otherwise).
//! Gate each interop test with [`crate::require_peer`] (`baresip`/`baresip`, `kamailio`/`kamailio`).
//! Observed SIP messages and log lines of baresip 1.0 are in `baresip-notes.md` beside this file.
//!
//! ```no_run
//! use std::time::Duration;
//! use dtlsrtp_testkit::peers::baresip::{AnswerMode, Baresip};
//! use dtlsrtp_testkit::peers::kamailio::Kamailio;
//!
//! # fn main() -> Result<(), dtlsrtp_testkit::peers::PeerError> {
//! if !dtlsrtp_testkit::require_peer("baresip", "baresip") {
//!     return Ok(());
//! }
//! let secs = Duration::from_secs;
//! let k = Kamailio::builder().start()?; // registrar + parallel-forking proxy on 127.0.0.1:free
//! let mut bob = Baresip::builder("bob").domain(&k.domain()).register(60)
//!     .answermode(AnswerMode::Auto).rtcp_mux(true).tone_hz(1000).start()?;
//! bob.wait_registered(secs(5))?;
//! // ... our UA (or another Baresip) calls k.aor("bob") ...
//! bob.wait_established(secs(5))?;
//! bob.wait_dtls_srtp(1, secs(5))?;            // `DTLS-SRTP complete (audio/RTP) Profile=...`
//! bob.wait_rtp_received(secs(5))?;            // first RTP packet that passed SRTP
//! let (tx, rx) = bob.wait_media(secs(8))?;     // live bit rates, both > 0 (they lag ~3 s)
//! assert_eq!(bob.decrypt_failures().rtp, 0);   // no `failed to decrypt RTP-packet`
//! let offer = bob.remote_sdp();                // the SDP it received (from the -s trace)
//! bob.hangup()?;                               // console command over UDP (`cons`)
//! # let _ = (tx, rx, offer);
//! # Ok(())
//! # }
//! ```

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
    /// The peer started but reported a failure in its log (e.g. a port it could not bind).
    #[error("{peer}: {reason}; log tail:\n{tail}")]
    StartFailed {
        /// Which peer.
        peer: String,
        /// What went wrong.
        reason: &'static str,
        /// The end of the peer's log.
        tail: String,
    },
    /// A builder value cannot be written into the peer's configuration.
    #[error("invalid peer configuration: {what}")]
    InvalidConfig {
        /// What is wrong.
        what: &'static str,
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

impl PeerError {
    /// Whether the peer's log shows a port that was taken (`Address already in use`): a start may be retried
    /// with other ports.
    pub fn is_port_clash(&self) -> bool {
        match self {
            Self::Exited { tail, .. } | Self::StartFailed { tail, .. } => {
                tail.contains("Address already in use")
            }
            _ => false,
        }
    }
}
