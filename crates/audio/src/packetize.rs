//! 20 ms packetisation: samples in, G.711 RTP packets (sequence, timestamp, marker, payload) out.

use crate::g711::Law;
use crate::FRAME;

/// One outgoing RTP packet's fields (the header is written by [`AudioPacket::to_rtp`] or by the endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioPacket {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (8 kHz units).
    pub timestamp: u32,
    /// Marker bit: set on the first packet of a talkspurt (RFC 3551 §4.1).
    pub marker: bool,
    /// Static payload type (0 PCMU, 8 PCMA).
    pub payload_type: u8,
    /// 160 G.711 bytes.
    pub payload: Vec<u8>,
}

impl AudioPacket {
    /// The RTP packet (RFC 3550 §5.1): version 2, no padding, no extension, no CSRC.
    pub fn to_rtp(&self, ssrc: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity(12 + self.payload.len());
        v.push(0x80);
        v.push(self.payload_type | if self.marker { 0x80 } else { 0 });
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&self.timestamp.to_be_bytes());
        v.extend_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&self.payload);
        v
    }
}

/// Cuts a sample stream into 20 ms G.711 packets with consecutive sequence numbers and timestamps.
#[derive(Debug)]
pub struct Packetizer {
    law: Law,
    seq: u16,
    timestamp: u32,
    first: bool,
    pending: Vec<i16>,
}

impl Packetizer {
    /// Starts at the given (random, RFC 3550 §5.1) sequence number and timestamp.
    pub fn new(law: Law, first_seq: u16, first_timestamp: u32) -> Self {
        Self {
            law,
            seq: first_seq,
            timestamp: first_timestamp,
            first: true,
            pending: Vec::with_capacity(FRAME),
        }
    }

    /// Adds samples; returns the packets completed by them.
    pub fn push(&mut self, samples: &[i16]) -> Vec<AudioPacket> {
        let mut out = Vec::new();
        for &s in samples {
            self.pending.push(s);
            if self.pending.len() == FRAME {
                out.push(self.emit());
            }
        }
        out
    }

    /// Pads a partial last frame with silence and emits it (nothing when no sample is pending).
    pub fn flush(&mut self) -> Option<AudioPacket> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending.resize(FRAME, 0);
        Some(self.emit())
    }

    fn emit(&mut self) -> AudioPacket {
        let p = AudioPacket {
            seq: self.seq,
            timestamp: self.timestamp,
            marker: std::mem::take(&mut self.first),
            payload_type: self.law.payload_type(),
            payload: self.law.encode(&self.pending),
        };
        self.pending.clear();
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(FRAME as u32);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_of_160_with_consecutive_numbers_across_the_wrap() {
        let mut p = Packetizer::new(Law::Pcmu, 65_535, u32::MAX - 100);
        let samples: Vec<i16> = (0..500).map(|i| (i * 10) as i16).collect();
        let pkts = p.push(&samples);
        assert_eq!(pkts.len(), 3);
        assert_eq!(pkts[0].seq, 65_535);
        assert_eq!(pkts[1].seq, 0);
        assert_eq!(pkts[1].timestamp, (u32::MAX - 100).wrapping_add(160));
        assert!(pkts[0].marker && !pkts[1].marker);
        assert!(pkts
            .iter()
            .all(|p| p.payload.len() == 160 && p.payload_type == 0));
        assert_eq!(pkts[2].payload, Law::Pcmu.encode(&samples[320..480]));
        let last = p.flush().unwrap();
        assert_eq!(last.seq, 2);
        assert_eq!(
            Law::Pcmu.decode(&last.payload)[..20],
            Law::Pcmu.decode(&Law::Pcmu.encode(&samples[480..]))[..]
        );
        assert_eq!(Law::Pcmu.decode(&last.payload)[20..], [0; 140]);
        assert!(p.flush().is_none());
    }

    #[test]
    fn rtp_header_layout() {
        let mut p = Packetizer::new(Law::Pcma, 0x1234, 0xAABBCCDD);
        let pkt = p.push(&[0; 160]).remove(0);
        let rtp = pkt.to_rtp(0x01020304);
        assert_eq!(
            &rtp[..12],
            &[0x80, 0x88, 0x12, 0x34, 0xAA, 0xBB, 0xCC, 0xDD, 1, 2, 3, 4]
        );
        assert_eq!(rtp.len(), 172);
        assert!(rtp[12..].iter().all(|&b| b == 0xD5));
    }
}
