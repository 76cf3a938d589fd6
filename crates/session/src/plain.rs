//! A plain-RTP leg (RFC 5763 §6.11 / RFC 5939 best-effort fallback, allowed only by policy, R-ALLOW-RTP): RTP and
//! RTCP to the signalled address, latching onto the first source that sends RTP (symmetric RTP), the same
//! send/receive shape as a DTLS-SRTP leg, every drop counted. Nothing here is encrypted or authenticated; the
//! owner says so to its user.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use dtlsrtp_media::port::rtp::{parse_report, parse_rtp, write_rtp, RtcpReport};
use dtlsrtp_media::{classify, PacketKind, Transmit};

use crate::direction::Permits;
use crate::payload::PayloadTable;

/// Counters of a plain leg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlainCounters {
    /// RTP packets sent.
    pub rtp_sent: u64,
    /// RTP packets delivered.
    pub rtp_received: u64,
    /// Sends refused by the direction (`recvonly`/`inactive`): dropped, never sent.
    pub send_blocked: u64,
    /// Received RTP dropped by the direction (we are `sendonly`/`inactive`).
    pub recv_blocked: u64,
    /// Datagrams from a source other than the latched one.
    pub wrong_source: u64,
    /// Datagrams that are not RTP/RTCP, or do not parse, or carry a payload type not negotiated.
    pub invalid: u64,
    /// RTCP reports received.
    pub rtcp_received: u64,
}

/// What a plain leg reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlainEvent {
    /// An RTP packet (unauthenticated: plain RTP).
    Rtp {
        /// SSRC.
        ssrc: u32,
        /// Sequence number.
        seq: u16,
        /// Timestamp.
        ts: u32,
        /// Payload type.
        pt: u8,
        /// Marker bit.
        marker: bool,
        /// Payload.
        payload: Vec<u8>,
    },
    /// An RTCP report.
    Rtcp(RtcpReport),
    /// The leg latched onto this source (media now goes there).
    Latched {
        /// The source.
        remote: SocketAddr,
    },
}

/// Misuse of a plain leg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainError {
    /// No address to send to (the peer signalled none and nothing was latched).
    NoRemote,
    /// The payload type was not negotiated.
    UnknownPayloadType,
}

/// One plain-RTP leg on one local socket (rtcp-mux: RTCP on the same socket).
#[derive(Debug)]
pub struct PlainLeg {
    local: SocketAddr,
    signalled: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    ssrc: u32,
    seq: u16,
    permits: Permits,
    payloads: PayloadTable,
    out: VecDeque<Transmit>,
    events: VecDeque<PlainEvent>,
    counters: PlainCounters,
}

impl PlainLeg {
    /// A leg on `local` sending to `remote` (the signalled `c=`/`m=` address; `None`: wait to latch), with our
    /// `ssrc` and first sequence number, and the negotiated payload types.
    pub fn new(
        local: SocketAddr,
        remote: Option<SocketAddr>,
        ssrc: u32,
        seq: u16,
        payloads: PayloadTable,
    ) -> Self {
        Self {
            local,
            signalled: remote,
            latched: None,
            ssrc,
            seq,
            permits: Permits::BOTH,
            payloads,
            out: VecDeque::new(),
            events: VecDeque::new(),
            counters: PlainCounters::default(),
        }
    }

    /// The local socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Where media goes: the latched source, else the signalled address.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.signalled)
    }

    /// Our SSRC.
    pub fn local_ssrc(&self) -> u32 {
        self.ssrc
    }

    /// A new exchange: the signalled address, payload types and direction.
    pub fn update(&mut self, remote: Option<SocketAddr>, payloads: PayloadTable, permits: Permits) {
        if remote != self.signalled {
            self.latched = None;
        }
        self.signalled = remote;
        self.payloads = payloads;
        self.permits = permits;
    }

    /// What the direction allows.
    pub fn set_permits(&mut self, permits: Permits) {
        self.permits = permits;
    }

    /// The direction now.
    pub fn permits(&self) -> Permits {
        self.permits
    }

    /// The payload types.
    pub fn payloads(&self) -> &PayloadTable {
        &self.payloads
    }

    /// Counters.
    pub fn counters(&self) -> PlainCounters {
        self.counters
    }

    /// Sends one RTP packet. A send the direction does not allow is dropped and counted (`Ok`): no packet
    /// leaves while `recvonly` or `inactive`.
    pub fn send_rtp(
        &mut self,
        _now: Instant,
        pt: u8,
        marker: bool,
        ts: u32,
        payload: &[u8],
    ) -> Result<(), PlainError> {
        if !self.payloads.codecs().is_empty() && !self.payloads.contains(pt) {
            return Err(PlainError::UnknownPayloadType);
        }
        if !self.permits.send {
            self.counters.send_blocked += 1;
            return Ok(());
        }
        let remote = self.remote().ok_or(PlainError::NoRemote)?;
        let mut p = Vec::with_capacity(12 + payload.len());
        write_rtp(&mut p, pt, marker, self.seq, ts, self.ssrc, payload);
        self.seq = self.seq.wrapping_add(1);
        self.counters.rtp_sent += 1;
        self.out.push_back(Transmit { remote, bytes: p });
        Ok(())
    }

    /// A datagram on the leg's socket. Bad input is counted, never fatal.
    pub fn handle_datagram(&mut self, _now: Instant, remote: SocketAddr, bytes: &[u8]) {
        let kind = classify(bytes);
        if !matches!(kind, PacketKind::Rtp | PacketKind::Rtcp) {
            self.counters.invalid += 1;
            return;
        }
        // Latching (symmetric RTP): the first source after an exchange is the peer; others are dropped.
        match self.latched {
            Some(l) if l != remote => {
                self.counters.wrong_source += 1;
                return;
            }
            Some(_) => {}
            None if kind == PacketKind::Rtp => {
                self.latched = Some(remote);
                if self.signalled != Some(remote) {
                    self.events.push_back(PlainEvent::Latched { remote });
                }
            }
            None => {}
        }
        if kind == PacketKind::Rtcp {
            match parse_report(bytes) {
                Some(r) => {
                    self.counters.rtcp_received += 1;
                    self.events.push_back(PlainEvent::Rtcp(r));
                }
                None => self.counters.invalid += 1,
            }
            return;
        }
        let Some(h) = parse_rtp(bytes) else {
            self.counters.invalid += 1;
            return;
        };
        if !self.payloads.codecs().is_empty() && !self.payloads.contains(h.payload_type) {
            self.counters.invalid += 1;
            return;
        }
        if !self.permits.recv {
            self.counters.recv_blocked += 1;
            return;
        }
        let end = bytes.len().saturating_sub(h.padding);
        let payload = bytes.get(h.header_len..end).unwrap_or_default().to_vec();
        self.counters.rtp_received += 1;
        self.events.push_back(PlainEvent::Rtp {
            ssrc: h.ssrc,
            seq: h.sequence,
            ts: h.timestamp,
            pt: h.payload_type,
            marker: h.marker,
            payload,
        });
    }

    /// The next datagram to send from [`Self::local_addr`].
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PlainEvent> {
        self.events.pop_front()
    }

    /// A plain leg keeps no timers (yet: RTCP reports are the DTLS leg's).
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dtlsrtp_sdp::Codec;

    fn a(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    fn table() -> PayloadTable {
        PayloadTable::new(vec![Codec::new(0, "PCMU", 8000, None)])
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the test's clock
    fn rtp_round_trip_latching_and_direction() {
        let now = Instant::now();
        let mut x = PlainLeg::new(a(1000), Some(a(2000)), 7, 1, table());
        let mut y = PlainLeg::new(a(2000), Some(a(1000)), 9, 1, table());
        x.send_rtp(now, 0, false, 160, b"hello").unwrap();
        let t = x.poll_transmit().unwrap();
        assert_eq!(t.remote, a(2000));
        y.handle_datagram(now, a(1000), &t.bytes);
        assert_eq!(
            y.poll_event(),
            Some(PlainEvent::Rtp {
                ssrc: 7,
                seq: 1,
                ts: 160,
                pt: 0,
                marker: false,
                payload: b"hello".to_vec()
            })
        );
        // another source after latching: dropped, counted
        y.handle_datagram(now, a(3000), &t.bytes);
        assert_eq!(y.counters().wrong_source, 1);
        assert_eq!(y.poll_event(), None);
        // recvonly: nothing leaves
        x.set_permits(Permits {
            send: false,
            recv: true,
        });
        x.send_rtp(now, 0, false, 320, b"x").unwrap();
        assert!(x.poll_transmit().is_none());
        assert_eq!(x.counters().send_blocked, 1);
        // garbage and an unnegotiated payload type are counted
        y.handle_datagram(now, a(1000), b"\x00\x01");
        assert_eq!(y.counters().invalid, 1);
        assert_eq!(
            x.send_rtp(now, 8, false, 0, b""),
            Err(PlainError::UnknownPayloadType)
        );
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // the test's clock
    fn latches_to_the_real_source_behind_a_nat() {
        let now = Instant::now();
        let mut x = PlainLeg::new(a(1000), Some(a(2000)), 7, 1, table());
        let mut y = PlainLeg::new(a(4000), None, 9, 1, table());
        assert_eq!(y.send_rtp(now, 0, false, 0, b""), Err(PlainError::NoRemote));
        assert!(y.poll_transmit().is_none());
        x.handle_datagram(now, a(4000), &{
            let mut z = PlainLeg::new(a(4000), Some(a(1000)), 9, 1, table());
            z.send_rtp(now, 0, false, 0, b"nat").unwrap();
            z.poll_transmit().unwrap().bytes
        });
        assert_eq!(
            x.poll_event(),
            Some(PlainEvent::Latched { remote: a(4000) })
        );
        assert_eq!(x.remote(), Some(a(4000)));
    }
}
