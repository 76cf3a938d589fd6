//! A media leg: DTLS-SRTP (a [`MediaPort`] with its forks, ICE or latching) or plain RTP ([`PlainLeg`]), behind
//! one send/receive API — direction-gated sends (dropped and counted while `recvonly`/`inactive`), RTP events
//! that say whether they were authenticated, and a named [`Deadlines`] table merged into `poll_timeout`.

use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_media::port::rtp::RtcpReport;
use dtlsrtp_media::{ForkId, MediaError, MediaEvent, MediaPort, Transmit};

use crate::deadline::Deadlines;
use crate::direction::Permits;
use crate::dtls::{latching_peer, peer_params};
use crate::payload::PayloadTable;
use crate::plain::{PlainError, PlainEvent, PlainLeg};
use crate::session::{LegKind, Negotiated};

/// Errors of a leg command.
#[derive(Debug, thiserror::Error)]
pub enum LegError {
    /// The media port refused.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// The plain leg refused.
    #[error("plain RTP: {0:?}")]
    Plain(PlainError),
    /// The exchange asks for another kind of leg (no silent downgrade or upgrade).
    #[error("the exchange negotiated another kind of leg")]
    KindChanged,
    /// The peer's ICE credentials are not usable.
    #[error("bad ICE parameters")]
    BadIce,
}

/// What a leg reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegEvent {
    /// An RTP packet the direction lets us receive.
    Rtp {
        /// The fork (DTLS leg; `None` for a plain leg).
        fork: Option<ForkId>,
        /// SSRC.
        ssrc: u32,
        /// Sequence number.
        seq: u16,
        /// Timestamp.
        ts: u32,
        /// Payload type.
        pt: u8,
        /// Payload.
        payload: Vec<u8>,
        /// SRTP-authenticated with verified keys (always true on a DTLS leg; false on a plain leg).
        authenticated: bool,
    },
    /// An RTCP report.
    Rtcp(RtcpReport),
    /// Any other event of the DTLS leg's media port (connected, verified, mismatch, closed, ...).
    Media(MediaEvent),
}

/// A DTLS-SRTP leg: the port and the fork whose media it sends.
#[derive(Debug)]
pub struct DtlsLeg {
    /// The media port (forks, associations, ICE).
    pub port: MediaPort,
    /// The fork `send_rtp` sends on.
    pub fork: ForkId,
}

/// The kind-specific part of a leg.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum LegMedia {
    /// DTLS-SRTP.
    Dtls(DtlsLeg),
    /// Plain RTP: NOT encrypted.
    Plain(PlainLeg),
}

/// One media leg of a session.
#[derive(Debug)]
pub struct Leg {
    media: LegMedia,
    permits: Permits,
    payloads: PayloadTable,
    send_blocked: u64,
    recv_blocked: u64,
    deadlines: Deadlines,
}

impl Leg {
    /// A DTLS-SRTP leg on `port`, sending on `fork`.
    pub fn dtls(port: MediaPort, fork: ForkId) -> Self {
        Self::with(LegMedia::Dtls(DtlsLeg { port, fork }))
    }

    /// A plain-RTP leg.
    pub fn plain(leg: PlainLeg) -> Self {
        Self::with(LegMedia::Plain(leg))
    }

    fn with(media: LegMedia) -> Self {
        Self {
            media,
            permits: Permits::BOTH,
            payloads: PayloadTable::default(),
            send_blocked: 0,
            recv_blocked: 0,
            deadlines: Deadlines::new(),
        }
    }

    /// Applies a completed exchange: the DTLS port binds the peer (ICE when `use_ice` and the peer does it,
    /// latching otherwise) for the leg's fork; a plain leg takes the address; both take the payload types and
    /// the direction. A DTLS leg never becomes plain, nor the reverse.
    pub fn apply(&mut self, now: Instant, n: &Negotiated, use_ice: bool) -> Result<(), LegError> {
        match (&mut self.media, &n.kind) {
            (LegMedia::Dtls(l), LegKind::Dtls(d)) => {
                let params = if use_ice {
                    peer_params(d, true).ok_or(LegError::BadIce)?
                } else {
                    latching_peer(d)
                };
                l.port.set_peer(now, l.fork, params)?;
            }
            (LegMedia::Plain(p), LegKind::Plain { remote }) => {
                p.update(*remote, n.payloads.clone(), n.permits);
            }
            _ => return Err(LegError::KindChanged),
        }
        self.payloads = n.payloads.clone();
        self.permits = n.permits;
        Ok(())
    }

    /// The direction changed (a re-offer/answer): what may be sent and received.
    pub fn set_permits(&mut self, permits: Permits) {
        self.permits = permits;
        if let LegMedia::Plain(p) = &mut self.media {
            p.set_permits(permits);
        }
    }

    /// Whether media is encrypted (DTLS-SRTP).
    pub fn encrypted(&self) -> bool {
        matches!(self.media, LegMedia::Dtls(_))
    }

    /// The local socket.
    pub fn local_addr(&self) -> SocketAddr {
        match &self.media {
            LegMedia::Dtls(l) => l.port.local_addr(),
            LegMedia::Plain(p) => p.local_addr(),
        }
    }

    /// The kind-specific part (the DTLS leg's port for forks, ICE, stats).
    pub fn media(&self) -> &LegMedia {
        &self.media
    }

    /// The kind-specific part, mutable.
    pub fn media_mut(&mut self) -> &mut LegMedia {
        &mut self.media
    }

    /// The negotiated payload types.
    pub fn payloads(&self) -> &PayloadTable {
        &self.payloads
    }

    /// The direction now.
    pub fn permits(&self) -> Permits {
        self.permits
    }

    /// Sends refused by the direction (nothing left the leg).
    pub fn send_blocked(&self) -> u64 {
        self.send_blocked
    }

    /// Received RTP dropped by the direction.
    pub fn recv_blocked(&self) -> u64 {
        self.recv_blocked
    }

    /// The leg's named deadlines (e.g. `"media"`: verified media expected by then).
    pub fn deadlines_mut(&mut self) -> &mut Deadlines {
        &mut self.deadlines
    }

    /// Sends one RTP packet; while the direction does not allow sending it is dropped and counted (`Ok`).
    pub fn send_rtp(
        &mut self,
        now: Instant,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), LegError> {
        if !self.permits.send {
            self.send_blocked += 1;
            return Ok(());
        }
        match &mut self.media {
            LegMedia::Dtls(l) => Ok(l.port.send_rtp(now, l.fork, pt, marker, ts, payload)?),
            LegMedia::Plain(p) => p
                .send_rtp(now, pt, marker, ts, payload)
                .map_err(LegError::Plain),
        }
    }

    /// A datagram on the leg's socket.
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, bytes: &[u8]) {
        match &mut self.media {
            LegMedia::Dtls(l) => l.port.handle_datagram(now, remote, bytes),
            LegMedia::Plain(p) => p.handle_datagram(now, remote, bytes),
        }
    }

    /// Timers. Returns the names of the leg's own deadlines that expired (the owner decides what they mean).
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<&'static str> {
        if let LegMedia::Dtls(l) = &mut self.media {
            l.port.handle_timeout(now);
        }
        self.deadlines.expire(now)
    }

    /// The next datagram to send from [`Self::local_addr`].
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        match &mut self.media {
            LegMedia::Dtls(l) => l.port.poll_transmit(),
            LegMedia::Plain(p) => p.poll_transmit(),
        }
    }

    /// The next event (RTP the direction does not let us receive is dropped and counted here).
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        loop {
            let e = match &mut self.media {
                LegMedia::Dtls(l) => match l.port.poll_event()? {
                    MediaEvent::Rtp(p) => LegEvent::Rtp {
                        fork: p.fork,
                        ssrc: p.ssrc,
                        seq: p.sequence,
                        ts: p.timestamp,
                        pt: p.payload_type,
                        payload: p.payload,
                        authenticated: true,
                    },
                    MediaEvent::Rtcp { report, .. } => LegEvent::Rtcp(report),
                    other => LegEvent::Media(other),
                },
                LegMedia::Plain(p) => match p.poll_event()? {
                    PlainEvent::Rtp {
                        ssrc,
                        seq,
                        ts,
                        pt,
                        payload,
                        ..
                    } => LegEvent::Rtp {
                        fork: None,
                        ssrc,
                        seq,
                        ts,
                        pt,
                        payload,
                        authenticated: false,
                    },
                    PlainEvent::Rtcp(r) => LegEvent::Rtcp(r),
                    PlainEvent::Latched { .. } => continue,
                },
            };
            if matches!(e, LegEvent::Rtp { .. }) && !self.permits.recv {
                self.recv_blocked += 1;
                continue;
            }
            return Some(e);
        }
    }

    /// The earliest of the port's timers and the leg's named deadlines.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let port = match &self.media {
            LegMedia::Dtls(l) => l.port.poll_timeout(),
            LegMedia::Plain(p) => p.poll_timeout(),
        };
        let own = self.deadlines.next().map(|d| d.1);
        match (port, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
