//! RFC 4733 telephone-event: the DTMF keys (§3.2), the 4-byte event report (§2.3), a sender that turns digits
//! into the packets of §2.5.1 ([`DtmfSender`]) and a receiver that turns received packets back into one
//! [`DtmfEvent`] per key press ([`DtmfReceiver`], §2.5.2).
//!
//! Event packets travel in the audio stream: same SSRC, sequence numbers and timestamp clock (§2.5.1.2,
//! §2.5.1.6), with the dynamic payload type negotiated for `telephone-event/8000`. This module produces and
//! reads the marker, timestamp and payload; the caller numbers and sends the packets.
//!
//! Requirement W-3 (telephone-event sent and received): this module is its codec and timing half; the payload
//! type is negotiated by the session and the digits reach the user through the endpoint and the CLI.

mod receiver;
mod sender;

pub use receiver::{DtmfEvent, DtmfReceiver, DtmfReceiverStats};
pub use sender::{DtmfConfig, DtmfPacket, DtmfSender};

use std::fmt;

/// A DTMF key: the telephone events 0–15 of RFC 4733 §3.2 (`0`–`9`, `*` = 10, `#` = 11, `A`–`D` = 12–15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DtmfDigit(u8);

/// The keys in event-code order (RFC 4733 §3.2, Table 7).
const KEYS: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D',
];

/// Not a DTMF key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a DTMF key: {0:?} (keys are 0-9, *, #, A-D)")]
pub struct InvalidDigit(pub char);

impl DtmfDigit {
    /// The key of an event code, if it is one of the 16 DTMF events.
    pub fn from_event(code: u8) -> Option<Self> {
        (code < 16).then_some(Self(code))
    }

    /// The key written as a character: `0`–`9`, `*`, `#`, `A`–`D` (lower case `a`–`d` accepted).
    pub fn from_char(c: char) -> Result<Self, InvalidDigit> {
        let upper = c.to_ascii_uppercase();
        KEYS.iter()
            .position(|&k| k == upper)
            .map(|i| Self(i as u8))
            .ok_or(InvalidDigit(c))
    }

    /// A string of keys, such as the `123#` of `--dtmf 123#`. Spaces are not keys: they are refused too.
    pub fn parse_all(s: &str) -> Result<Vec<Self>, InvalidDigit> {
        s.chars().map(Self::from_char).collect()
    }

    /// The RFC 4733 event code (0–15).
    pub fn event(self) -> u8 {
        self.0
    }

    /// The key as a character (`A`–`D` in upper case).
    pub fn as_char(self) -> char {
        KEYS[usize::from(self.0 & 0x0F)]
    }

    /// The key's (low, high) frequency pair in Hz (ITU-T Q.23): rows 697/770/852/941, columns 1209/1336/1477/1633.
    pub fn frequencies(self) -> (f64, f64) {
        const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
        const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
        // Keypad position (row, column) of each event code.
        let (row, col) = match self.0 {
            0 => (3, 1),
            n @ 1..=9 => ((n - 1) / 3, (n - 1) % 3),
            10 => (3, 0),
            11 => (3, 2),
            n => (n - 12, 3),
        };
        (LOW[usize::from(row)], HIGH[usize::from(col)])
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl TryFrom<char> for DtmfDigit {
    type Error = InvalidDigit;
    fn try_from(c: char) -> Result<Self, InvalidDigit> {
        Self::from_char(c)
    }
}

/// A telephone-event payload that is not a list of 4-byte event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TelephoneEventError {
    /// The payload is empty or not a multiple of 4 bytes (RFC 4733 §2.3).
    #[error(
        "telephone-event payload of {0} bytes: event reports are 4 bytes each (RFC 4733 §2.3)"
    )]
    Length(usize),
}

/// One event report (RFC 4733 §2.3):
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     event     |E|R| volume    |          duration             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The event code (§2.3.1; 0–15 are the DTMF keys, §3.2).
    pub event: u8,
    /// The E bit: this report ends the event (§2.3.2).
    pub end: bool,
    /// Power level as −dBm0, 0–63 (§2.3.4); only the low 6 bits are sent.
    pub volume: u8,
    /// Time since the event began, in RTP timestamp units (§2.3.5).
    pub duration: u16,
}

impl TelephoneEvent {
    /// Bytes in one report.
    pub const LEN: usize = 4;

    /// The 4 bytes on the wire; the R bit is 0 (§2.3.3), the volume masked to 6 bits.
    pub fn encode(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            if self.end { 0x80 } else { 0 } | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }

    /// Decodes a payload's first report, the one whose event began at the packet's RTP timestamp (§2.3).
    /// The payload must be a non-empty multiple of 4 bytes (§2.5.1.5 allows several reports per packet);
    /// the R bit is ignored (§2.3.3).
    pub fn decode(payload: &[u8]) -> Result<Self, TelephoneEventError> {
        match Self::decode_all(payload)?.next() {
            Some(e) => Ok(e),
            None => Err(TelephoneEventError::Length(payload.len())),
        }
    }

    /// Decodes every report of a payload (a non-empty multiple of 4 bytes), in order.
    pub fn decode_all(
        payload: &[u8],
    ) -> Result<impl Iterator<Item = Self> + '_, TelephoneEventError> {
        if payload.is_empty() || payload.len() % Self::LEN != 0 {
            return Err(TelephoneEventError::Length(payload.len()));
        }
        Ok(payload.chunks_exact(Self::LEN).map(|b| Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        }))
    }

    /// The DTMF key, when the event is one.
    pub fn digit(&self) -> Option<DtmfDigit> {
        DtmfDigit::from_event(self.event)
    }
}

/// The origin of the tests' manual clock.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests need one real Instant as the origin of the manual clock
fn t0() -> std::time::Instant {
    std::time::Instant::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4733 §3.2 Table 7: event codes of the keys.
    #[test]
    fn rfc4733_3_2_event_codes_of_the_keys() {
        let all: String = (0..16)
            .map(|e| DtmfDigit::from_event(e).unwrap().as_char())
            .collect();
        assert_eq!(all, "0123456789*#ABCD");
        assert_eq!(DtmfDigit::from_event(16), None);
        assert_eq!(DtmfDigit::from_char('#').unwrap().event(), 11);
        assert_eq!(DtmfDigit::from_char('*').unwrap().event(), 10);
        assert_eq!(DtmfDigit::from_char('d').unwrap().event(), 15);
        assert_eq!(DtmfDigit::from_char('E'), Err(InvalidDigit('E')));
        let keys = DtmfDigit::parse_all("123#").unwrap();
        assert_eq!(
            keys.iter().map(|d| d.event()).collect::<Vec<_>>(),
            [1, 2, 3, 11]
        );
        assert_eq!(DtmfDigit::parse_all("1 2"), Err(InvalidDigit(' ')));
        assert_eq!(DtmfDigit::from_char('5').unwrap().to_string(), "5");
    }

    /// ITU-T Q.23 keypad: every key has its own frequency pair; a few by hand.
    #[test]
    fn q23_frequency_pairs() {
        let f = |c| DtmfDigit::from_char(c).unwrap().frequencies();
        assert_eq!(f('1'), (697.0, 1209.0));
        assert_eq!(f('5'), (770.0, 1336.0));
        assert_eq!(f('9'), (852.0, 1477.0));
        assert_eq!(f('*'), (941.0, 1209.0));
        assert_eq!(f('0'), (941.0, 1336.0));
        assert_eq!(f('#'), (941.0, 1477.0));
        assert_eq!(f('A'), (697.0, 1633.0));
        assert_eq!(f('D'), (941.0, 1633.0));
        let mut pairs: Vec<_> = (0..16)
            .map(|e| {
                let (l, h) = DtmfDigit::from_event(e).unwrap().frequencies();
                (l as u32, h as u32)
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        assert_eq!(pairs.len(), 16);
    }

    /// RFC 4733 §2.3: field layout, E bit, R bit ignored on receipt and sent as 0, 6-bit volume.
    #[test]
    fn rfc4733_2_3_report_layout() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.encode(), [11, 0x80 | 10, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::decode(&e.encode()), Ok(e));
        // R bit set by a peer: ignored.
        assert_eq!(TelephoneEvent::decode(&[11, 0xC0 | 10, 0x03, 0x20]), Ok(e));
        // Volume above 63 cannot be sent.
        let loud = TelephoneEvent { volume: 0xFF, ..e };
        assert_eq!(loud.encode()[1], 0x80 | 0x3F);
        assert_eq!(e.digit().unwrap().as_char(), '#');
        assert_eq!(TelephoneEvent { event: 32, ..e }.digit(), None);
        // Two reports (§2.5.1.5): decode gives the first, decode_all both.
        let mut two = e.encode().to_vec();
        two.extend(TelephoneEvent { event: 1, ..e }.encode());
        assert_eq!(TelephoneEvent::decode(&two).unwrap().event, 11);
        let all: Vec<_> = TelephoneEvent::decode_all(&two)
            .unwrap()
            .map(|e| e.event)
            .collect();
        assert_eq!(all, [11, 1]);
    }

    /// Network input: every length that is not a non-empty multiple of 4 is a typed error (exhaustive to 64).
    #[test]
    fn rfc4733_2_3_bad_lengths_are_typed_errors() {
        let buf = [0xA5u8; 64];
        for len in 0..=64 {
            let r = TelephoneEvent::decode(&buf[..len]);
            if len > 0 && len % 4 == 0 {
                assert!(r.is_ok(), "{len}");
            } else {
                assert_eq!(r, Err(TelephoneEventError::Length(len)));
                assert!(TelephoneEvent::decode_all(&buf[..len]).is_err());
            }
        }
    }

    proptest! {
        /// Any bytes decode without panicking, and a 4-byte payload re-encodes to itself but for the R bit.
        #[test]
        fn any_payload_decodes_or_errs(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            match TelephoneEvent::decode(&bytes) {
                Ok(e) => {
                    prop_assert!(!bytes.is_empty() && bytes.len() % 4 == 0);
                    let want = [bytes[0], bytes[1] & !0x40, bytes[2], bytes[3]];
                    prop_assert_eq!(e.encode(), want);
                }
                Err(TelephoneEventError::Length(n)) => prop_assert_eq!(n, bytes.len()),
            }
        }
    }
}
