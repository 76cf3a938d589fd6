//! First-byte demultiplexing of one media port (RFC 7983 §7, RFC 5761 §4; requirements.md §2.3).
//!
//! D-5.1.2a / F-6.7.1c: STUN, DTLS and SRTP share the port and are told apart by the first byte (ranges as
//! updated by RFC 7983). A-R-RTP-VALID: a DTLS record (20–63) never reaches the RTP path (128–191).
//!
//! M-7a: 0–3 STUN, 16–19 ZRTP, 20–63 DTLS, 64–79 TURN ChannelData, 128–191 RTP/RTCP.
//! M-7b: every other first byte is dropped (and counted) with no state change. 80–127 and 192–255 belong to QUIC
//! in RFC 9443; this stack runs no QUIC, so they are dropped too.

/// What a datagram on the media port is, judged by its first byte (and, for RTP/RTCP, its second).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// STUN message (first byte 0–3).
    Stun,
    /// DTLS record (first byte 20–63, including DTLS 1.3 unified headers 32–63).
    Dtls,
    /// RTP packet (first byte 128–191, second byte outside 192–223).
    Rtp,
    /// RTCP packet on a muxed port (first byte 128–191, second byte 192–223, RFC 5761 §4).
    Rtcp,
    /// Not for us: drop the datagram; the reason says which counter it went to.
    Drop(DropReason),
}

/// Why a datagram was dropped by the demultiplexer (M-7b).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Zero-length datagram.
    Empty,
    /// ZRTP (first byte 16–19): not supported by a DTLS-SRTP stack.
    Zrtp,
    /// TURN ChannelData (first byte 64–79): we run no TURN client on the media port.
    TurnChannel,
    /// First byte 128–191 but only one byte long: RTP and RTCP cannot be told apart, and neither fits.
    TruncatedRtp,
    /// First byte in no known range (4–15, 80–127, 192–255).
    Unknown,
}

/// Classify one datagram by its first byte (RFC 7983 §7, M-7a/M-7b). Total: never panics, any input.
#[must_use]
pub fn classify(datagram: &[u8]) -> PacketKind {
    let Some(&first) = datagram.first() else {
        return PacketKind::Drop(DropReason::Empty);
    };
    match first {
        0..=3 => PacketKind::Stun,
        16..=19 => PacketKind::Drop(DropReason::Zrtp),
        20..=63 => PacketKind::Dtls,
        64..=79 => PacketKind::Drop(DropReason::TurnChannel),
        128..=191 => match datagram.get(1) {
            // RFC 5761 §4: the second byte (M bit + PT) 192–223 is RTCP (SR 200, RR 201, ... with M set).
            Some(192..=223) => PacketKind::Rtcp,
            Some(_) => PacketKind::Rtp,
            None => PacketKind::Drop(DropReason::TruncatedRtp),
        },
        _ => PacketKind::Drop(DropReason::Unknown),
    }
}

/// Drop counters of one media port (M-7b: "dropped and counted").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Zero-length datagrams.
    pub empty: u64,
    /// ZRTP datagrams.
    pub zrtp: u64,
    /// TURN ChannelData datagrams.
    pub turn_channel: u64,
    /// One-byte datagrams in the RTP/RTCP range.
    pub truncated_rtp: u64,
    /// Datagrams whose first byte is in no known range.
    pub unknown: u64,
}

impl DropCounters {
    /// Total of all drop counters.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.empty
            .saturating_add(self.zrtp)
            .saturating_add(self.turn_channel)
            .saturating_add(self.truncated_rtp)
            .saturating_add(self.unknown)
    }

    fn count(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Empty => &mut self.empty,
            DropReason::Zrtp => &mut self.zrtp,
            DropReason::TurnChannel => &mut self.turn_channel,
            DropReason::TruncatedRtp => &mut self.truncated_rtp,
            DropReason::Unknown => &mut self.unknown,
        };
        *c = c.saturating_add(1);
    }
}

/// A demultiplexer that counts what it drops.
#[derive(Clone, Debug, Default)]
pub struct Demux {
    dropped: DropCounters,
}

impl Demux {
    /// A demultiplexer with zeroed counters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Classify `datagram` ([`classify`]) and count it when it is dropped.
    pub fn classify(&mut self, datagram: &[u8]) -> PacketKind {
        let kind = classify(datagram);
        if let PacketKind::Drop(reason) = kind {
            self.dropped.count(reason);
        }
        kind
    }

    /// The drop counters so far.
    #[must_use]
    pub fn dropped(&self) -> DropCounters {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The expected class of a first byte, written straight from requirements.md §2.3 (RFC 7983 column).
    fn expected(first: u8, second: u8) -> PacketKind {
        let f = u32::from(first);
        if f <= 3 {
            PacketKind::Stun
        } else if (16..=19).contains(&f) {
            PacketKind::Drop(DropReason::Zrtp)
        } else if (20..=63).contains(&f) {
            PacketKind::Dtls
        } else if (64..=79).contains(&f) {
            PacketKind::Drop(DropReason::TurnChannel)
        } else if (128..=191).contains(&f) {
            if (192..=223).contains(&u32::from(second)) {
                PacketKind::Rtcp
            } else {
                PacketKind::Rtp
            }
        } else {
            PacketKind::Drop(DropReason::Unknown)
        }
    }

    #[test]
    fn m_7a_m_7b_table_over_all_256_first_bytes() {
        let mut demux = Demux::new();
        let mut dropped = 0u64;
        for first in 0..=255u8 {
            for second in [0u8, 96, 191, 192, 200, 201, 223, 224, 255] {
                let want = expected(first, second);
                let got = demux.classify(&[first, second, 0, 0]);
                assert_eq!(got, want, "first byte {first}, second byte {second}");
                if matches!(want, PacketKind::Drop(_)) {
                    dropped += 1;
                }
            }
        }
        assert_eq!(demux.dropped().total(), dropped);
        // 4-15, 80-127, 192-255 are unknown: 12 + 48 + 64 = 124 first bytes, 9 second bytes each.
        assert_eq!(demux.dropped().unknown, 124 * 9);
        assert_eq!(demux.dropped().zrtp, 4 * 9);
        assert_eq!(demux.dropped().turn_channel, 16 * 9);
    }

    #[test]
    fn m_7a_d_5_1_2a_range_edges_a_r_rtp_valid() {
        assert_eq!(classify(&[0x00, 0x01]), PacketKind::Stun);
        assert_eq!(classify(&[0x03]), PacketKind::Stun);
        assert_eq!(classify(&[0x04]), PacketKind::Drop(DropReason::Unknown));
        assert_eq!(classify(&[0x13]), PacketKind::Drop(DropReason::Zrtp));
        assert_eq!(classify(&[0x14]), PacketKind::Dtls);
        assert_eq!(classify(&[0x16, 0xfe, 0xfd]), PacketKind::Dtls);
        assert_eq!(classify(&[0x3f]), PacketKind::Dtls);
        assert_eq!(classify(&[0x40]), PacketKind::Drop(DropReason::TurnChannel));
        assert_eq!(classify(&[0x4f]), PacketKind::Drop(DropReason::TurnChannel));
        assert_eq!(classify(&[0x50]), PacketKind::Drop(DropReason::Unknown));
        assert_eq!(classify(&[0x80, 0x00]), PacketKind::Rtp);
        assert_eq!(classify(&[0x80, 0xc8]), PacketKind::Rtcp); // SR (200)
        assert_eq!(classify(&[0x81, 0xc9]), PacketKind::Rtcp); // RR (201)
        assert_eq!(classify(&[0x80, 0xe0]), PacketKind::Rtp); // 224: RTP PT 96 with marker
        assert_eq!(classify(&[0xbf, 0x00]), PacketKind::Rtp);
        assert_eq!(
            classify(&[0xc0, 0x00]),
            PacketKind::Drop(DropReason::Unknown)
        );
        assert_eq!(classify(&[0xff]), PacketKind::Drop(DropReason::Unknown));
    }

    #[test]
    fn m_7b_empty_and_one_byte_rtp_are_dropped_not_panicking() {
        let mut demux = Demux::new();
        assert_eq!(demux.classify(&[]), PacketKind::Drop(DropReason::Empty));
        for b in 128..=191u8 {
            assert_eq!(
                demux.classify(&[b]),
                PacketKind::Drop(DropReason::TruncatedRtp)
            );
        }
        assert_eq!(demux.dropped().empty, 1);
        assert_eq!(demux.dropped().truncated_rtp, 64);
    }

    proptest! {
        #[test]
        fn m_7_demux_is_total_and_agrees_with_the_table(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let got = classify(&bytes);
            match (bytes.first(), bytes.get(1)) {
                (None, _) => prop_assert_eq!(got, PacketKind::Drop(DropReason::Empty)),
                (Some(&f), None) if (128..=191).contains(&f) =>
                    prop_assert_eq!(got, PacketKind::Drop(DropReason::TruncatedRtp)),
                (Some(&f), s) => prop_assert_eq!(got, expected(f, s.copied().unwrap_or(0))),
            }
        }
    }
}
