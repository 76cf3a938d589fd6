//! One media port for DTLS-SRTP (RFC 5763): first-byte demultiplexing (RFC 7983), a STUN codec (RFC 8489), a
//! sans-IO ICE agent (RFC 8445, consent freshness RFC 7675), and [`MediaPort`]: DTLS associations per remote,
//! fingerprint-gated SRTP, SSRC routing and RTCP on one local port ([`port`]).
//!
//! Nothing here touches a socket, the clock or a global RNG (ARCHITECTURE.md §3): the caller passes `now`, the
//! datagrams and a randomness source, and drains `poll_transmit` / `poll_event` / `poll_timeout`. The
//! no-ICE STUN helpers of RFC 5763 §6.7.2 are in [`ice::noice`].
//!
//! # Example: an ICE-lite agent answering a browser's check on the media port
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Instant;
//!
//! use dtlsrtp_media::ice::{IceAgent, IceConfig, IceCredentials, IceEvent, IceMode, IceRole};
//! use dtlsrtp_media::stun::{MessageBuilder, MessageType, TransactionId};
//! use dtlsrtp_media::{classify, PacketKind};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now(); // the driver's clock
//! let mut state = 0x9e37_79b9_u32; // the driver seeds this from the OS; a toy generator here
//! let fill = Box::new(move |buf: &mut [u8]| {
//!     for b in buf {
//!         state ^= state << 13;
//!         state ^= state >> 17;
//!         state ^= state << 5;
//!         *b = state as u8;
//!     }
//! });
//! let local: SocketAddr = "127.0.0.1:5004".parse()?;
//! let browser: SocketAddr = "127.0.0.1:6004".parse()?;
//! let ours = IceCredentials::new("ufrag1", "passwordpasswordpassword")?; // goes into our SDP
//! let config = IceConfig { mode: IceMode::Lite, ..IceConfig::default() };
//! let mut agent = IceAgent::new(now, config, ours.clone(), IceRole::Controlled, fill);
//! agent.add_local_candidate(local);
//!
//! // The browser's first check: USERNAME "ours:theirs", USE-CANDIDATE, signed with our password.
//! let mut check = MessageBuilder::new(MessageType::BINDING_REQUEST, TransactionId([1; 12]));
//! check.username("ufrag1:brws").ice_controlling(42).use_candidate().priority(1);
//! check.message_integrity(ours.pwd().as_bytes()).fingerprint();
//! let datagram = check.finish()?;
//!
//! // The driver's loop: demultiplex, hand STUN to the agent, drain its outputs.
//! if classify(&datagram) == PacketKind::Stun {
//!     agent.handle_stun(now, local, browser, &datagram)?;
//! }
//! let reply = agent.poll_transmit().ok_or("no reply")?; // socket.send_to(&reply.bytes, reply.remote)
//! assert_eq!(reply.remote, browser);
//! assert_eq!(agent.poll_event(), Some(IceEvent::SelectedPair { local, remote: browser }));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod demux;
pub mod ice;
pub mod port;
pub mod stun;

pub use demux::{classify, Demux, DropCounters, DropReason, PacketKind};
pub use port::{
    dtls_role, AssocCounters, AssocId, AssocInfo, CloseReason, ForkId, MediaError, MediaEvent,
    MediaPort, MediaPortConfig, PeerParams, PortCounters, ReceivedRtp, ReceptionReport,
    RekeyReason, RemoteIce, RtcpMux, Transmit,
};

/// Fuzz bodies (for `fuzz/fuzz_targets/*.rs` and for the unit tests that run them over a small corpus). Each must
/// never panic on any input.
#[doc(hidden)]
pub mod fuzzing {
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};

    use crate::ice::{IceAgent, IceConfig, IceCredentials, IceMode, IceRole};
    use crate::stun;

    /// The STUN parser: decode, verify integrity with a fixed key, re-encode what was understood and decode it
    /// again. Returns whether `data` decoded.
    pub fn stun_parse(data: &[u8]) -> bool {
        let Ok(m) = stun::Message::decode(data) else {
            return false;
        };
        let _ = m.verify_integrity(b"VOkJxbRl1RmTxUk/WvJxBt");
        let _ = m.unknown_attributes.map(|u| u.iter().count());
        let mut b = stun::MessageBuilder::new(m.msg_type, m.transaction_id);
        if let Some(u) = m.username {
            b.username(u);
        }
        if let Some(p) = m.priority {
            b.priority(p);
        }
        if let Some(a) = m.xor_mapped_address {
            b.xor_mapped_address(a);
        }
        if let Some(e) = m.error_code {
            b.error_code(e.code, e.reason);
        }
        b.message_integrity(b"k").fingerprint();
        if let Ok(raw) = b.finish() {
            if let Ok(again) = stun::Message::decode(&raw) {
                return again.username == m.username
                    && again.priority == m.priority
                    && again.xor_mapped_address == m.xor_mapped_address
                    && again.verify_integrity(b"k").is_ok();
            }
            return false;
        }
        true
    }

    /// Local credentials of the agents in [`ice_agent`] (so a corpus can carry valid checks).
    pub const FUZZ_UFRAG: &str = "fuzz";
    /// Local password of the agents in [`ice_agent`].
    pub const FUZZ_PWD: &str = "fuzzpasswordfuzzpassword";

    /// A lite and a full agent fed with datagrams cut from `data` (`[len: u8][delay_ms: u8][bytes]`...), with
    /// timers fired between them. `start` is any instant (the fuzz target passes `Instant::now()`).
    pub fn ice_agent(start: Instant, data: &[u8]) {
        let fill = || {
            let mut s = 0x2545_f491_u32;
            Box::new(move |buf: &mut [u8]| {
                for b in buf {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    *b = (s >> 24) as u8;
                }
            })
        };
        let (Ok(ours), Ok(theirs)) = (
            IceCredentials::new(FUZZ_UFRAG, FUZZ_PWD),
            IceCredentials::new("peer", "peerpasswordpeerpassword"),
        ) else {
            return;
        };
        let local = SocketAddr::from(([127, 0, 0, 1], 5000));
        let remote = SocketAddr::from(([127, 0, 0, 1], 6000));
        let mut agents = [
            IceAgent::new(
                start,
                IceConfig {
                    mode: IceMode::Lite,
                    ..IceConfig::default()
                },
                ours.clone(),
                IceRole::Controlled,
                fill(),
            ),
            IceAgent::new(
                start,
                IceConfig::default(),
                ours,
                IceRole::Controlling,
                fill(),
            ),
        ];
        for a in &mut agents {
            let c = a.add_local_candidate(local);
            a.set_remote_credentials(theirs.clone());
            a.add_remote_candidate(crate::ice::Candidate { addr: remote, ..c });
        }
        let mut now = start;
        let mut rest = data;
        while let [len, delay, tail @ ..] = rest {
            let n = usize::from(*len).min(tail.len());
            let (dgram, next) = tail.split_at(n);
            rest = next;
            now += Duration::from_millis(u64::from(*delay) * 20);
            for a in &mut agents {
                let _ = a.handle_stun(now, local, remote, dgram);
                a.handle_timeout(now);
                while a.poll_transmit().is_some() {}
                while a.poll_event().is_some() {}
                let _ = a.poll_timeout();
            }
        }
    }
}
