//! RFC 4733 telephone-event on a leg (requirement W-3): the codec we put in every offer and answer, and
//! [`DtmfLeg`], the per-call state that interleaves event packets with the outgoing audio stream (same SSRC,
//! the audio's sequence numbers — the port numbers every packet — and its timestamp clock, audio held back
//! while an event is sent) and turns received event packets into one [`DtmfEvent`] per key press.
//!
//! Payload types: we *send* with the number the peer's SDP names (the negotiated [`PayloadTable`]: an answer
//! keeps the offer's numbers, and an offerer's table takes the answer's), and *receive* both that number and
//! the one our own SDP named (a peer that answered with another number still sends ours, RFC 3264 §6.1).

use std::time::{Duration, Instant};

use dtlsrtp_audio::dtmf::{DtmfConfig, DtmfDigit, DtmfEvent, DtmfPacket, DtmfReceiver, DtmfSender};
use dtlsrtp_sdp::Codec;

use crate::payload::PayloadTable;

/// The encoding name of RFC 4733 events.
pub const TELEPHONE_EVENT: &str = "telephone-event";

/// The payload type we offer telephone-event on, unless our codecs already use it.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// `telephone-event/8000` with the DTMF events and flash (`0-16`, RFC 4733 §2.4.1) on `pt`.
pub fn telephone_event(pt: u8) -> Codec {
    Codec::new(pt, TELEPHONE_EVENT, 8000, None).with_fmtp("0-16")
}

/// `codecs` with `telephone-event/8000` appended when missing, on 101 or (when taken) the first free dynamic
/// payload type (96–127). Every offer and answer of a call carries it (W-3); an answer keeps it only when the
/// offer has it.
pub fn with_telephone_event(mut codecs: Vec<Codec>) -> Vec<Codec> {
    let has = codecs
        .iter()
        .any(|c| c.name.eq_ignore_ascii_case(TELEPHONE_EVENT) && c.clock_rate == 8000);
    if has {
        return codecs;
    }
    let free = |pt: &u8| !codecs.iter().any(|c| c.pt == *pt);
    let pt = std::iter::once(TELEPHONE_EVENT_PT)
        .chain(96..=127)
        .find(free);
    if let Some(pt) = pt {
        codecs.push(telephone_event(pt));
    }
    codecs
}

/// Our payload type for telephone-event in `codecs` (what we offered or answered with).
pub fn local_telephone_event(codecs: &[Codec]) -> Option<u8> {
    PayloadTable::new(codecs.to_vec()).telephone_event()
}

/// Counters of a call's DTMF.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DtmfCounters {
    /// Event packets sent.
    pub packets_sent: u64,
    /// Audio packets held back because an event was being sent (RFC 4733 §2.5.1.6: the event replaces them).
    pub audio_held: u64,
    /// Event packets received.
    pub packets_received: u64,
    /// Event packets whose payload was malformed (dropped, counted).
    pub malformed: u64,
}

/// One call's telephone-event sender and receiver, sans-IO.
#[derive(Debug)]
pub struct DtmfLeg {
    sender: DtmfSender,
    receiver: DtmfReceiver,
    /// The audio stream's last sent RTP timestamp and when it was sent: the event timestamp clock.
    clock: Option<(u32, Instant)>,
    /// Timestamp origin before any audio was sent.
    base: u32,
    clock_rate: u32,
    counters: DtmfCounters,
}

impl DtmfLeg {
    /// A leg whose events use `clock_rate` (8000 for `telephone-event/8000`); `ts_base` is the timestamp of an
    /// event sent before any audio (a random value, RFC 3550 §5.1).
    pub fn new(clock_rate: u32, ts_base: u32) -> Self {
        Self::with_config(DtmfConfig::new().with_clock_rate(clock_rate), ts_base)
    }

    /// A leg with this sender configuration (tone, gap, packet time).
    pub fn with_config(config: DtmfConfig, ts_base: u32) -> Self {
        let sender = DtmfSender::new(config);
        let clock_rate = sender.config().clock_rate;
        Self {
            sender,
            receiver: DtmfReceiver::new(),
            clock: None,
            base: ts_base,
            clock_rate,
            counters: DtmfCounters::default(),
        }
    }

    /// Queues keys to send (the first may start at `now`).
    pub fn enqueue(&mut self, now: Instant, digits: &[DtmfDigit]) {
        // Without audio sent yet, the clock starts at the random base now and runs from there.
        self.clock.get_or_insert((self.base, now));
        self.sender.enqueue(now, digits);
    }

    /// Keys queued or being sent.
    pub fn pending(&self) -> usize {
        self.sender.queued() + usize::from(self.sender.is_sending())
    }

    /// An audio packet with RTP timestamp `ts` is about to be sent at `now`: false while an event is being
    /// sent (the packet is held back and counted), else true (and `ts` becomes the event clock's reference).
    pub fn admit_audio(&mut self, now: Instant, ts: u32) -> bool {
        if self.sender.is_sending() {
            self.counters.audio_held += 1;
            return false;
        }
        self.clock = Some((ts, now));
        true
    }

    /// The audio stream's RTP timestamp at `now` (the last sent timestamp advanced by the elapsed time).
    fn timestamp_at(&self, now: Instant) -> u32 {
        match self.clock {
            Some((ts, at)) => {
                let elapsed = now.saturating_duration_since(at);
                let ticks = elapsed.as_micros() * u128::from(self.clock_rate) / 1_000_000;
                ts.wrapping_add((ticks % (1u128 << 32)) as u32)
            }
            None => self.base,
        }
    }

    /// The next event packet due at `now`: send its payload with the negotiated telephone-event payload type,
    /// its marker bit and timestamp on the audio stream. Call until `None`.
    pub fn poll_packet(&mut self, now: Instant) -> Option<DtmfPacket> {
        let ts = self.timestamp_at(now);
        let p = self.sender.poll(now, ts)?;
        self.counters.packets_sent += 1;
        Some(p)
    }

    /// A received telephone-event packet (already authenticated, of a telephone-event payload type). A
    /// malformed payload is counted and changes nothing else.
    pub fn handle_packet(&mut self, now: Instant, timestamp: u32, payload: &[u8]) {
        self.counters.packets_received += 1;
        if self.receiver.handle(now, timestamp, payload).is_err() {
            self.counters.malformed += 1;
        }
    }

    /// The next key press received, once per press.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        self.receiver.poll_event()
    }

    /// The earliest of the next packet to send and the receiver's timeout.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.sender.poll_timeout(), self.receiver.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Closes a received event whose packets stopped without a final report.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.receiver.handle_timeout(now);
    }

    /// The call ended: a key still open is reported.
    pub fn flush(&mut self) {
        self.receiver.flush();
    }

    /// The event length of a received key press.
    pub fn length(&self, e: &DtmfEvent) -> Duration {
        e.length(self.clock_rate)
    }

    /// The counters.
    pub fn counters(&self) -> DtmfCounters {
        self.counters
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests: the manual clock starts at the real now
mod tests {
    use super::*;
    use dtlsrtp_audio::dtmf::TelephoneEvent;

    #[test]
    fn w_3_telephone_event_added_once_on_a_free_payload_type() {
        let g711 = crate::g711();
        let c = with_telephone_event(g711.clone());
        assert_eq!(c.len(), 3);
        assert_eq!(local_telephone_event(&c), Some(101));
        assert_eq!(c[2].fmtp.as_deref(), Some("0-16"));
        assert_eq!(with_telephone_event(c.clone()), c, "not added twice");
        let mut taken = g711;
        taken.push(Codec::new(101, "opus", 48000, Some(2)));
        taken.push(Codec::new(96, "G722", 8000, None));
        assert_eq!(
            local_telephone_event(&with_telephone_event(taken)),
            Some(97)
        );
    }

    #[test]
    fn w_3_events_follow_the_audio_clock_and_hold_audio_back() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut leg = DtmfLeg::new(8000, 7);
        assert!(leg.admit_audio(t0, 1000));
        let now = t0 + ms * 10;
        leg.enqueue(now, &DtmfDigit::parse_all("5").unwrap());
        let first = leg.poll_packet(now).expect("first packet at once");
        assert!(first.marker);
        assert_eq!(first.timestamp, 1080, "10 ms after ts 1000 at 8 kHz");
        assert_eq!(first.event.event, 5);
        assert!(!leg.admit_audio(now, 1080), "audio held during the event");
        let mut t = now;
        let mut ends = 0;
        while let Some(at) = leg.poll_timeout() {
            t = at.max(t);
            while let Some(p) = leg.poll_packet(t) {
                assert_eq!(p.timestamp, 1080);
                ends += usize::from(p.event.end);
            }
            if leg.pending() == 0 {
                break;
            }
        }
        assert_eq!(ends, 3, "the final report three times");
        assert!(leg.admit_audio(t, 2000));
        assert_eq!(leg.counters().audio_held, 1);
    }

    #[test]
    fn w_3_one_event_per_key_press_and_malformed_counted() {
        let t0 = Instant::now();
        let mut leg = DtmfLeg::new(8000, 0);
        let report = |end, duration| {
            TelephoneEvent {
                event: 11,
                end,
                volume: 10,
                duration,
            }
            .encode()
        };
        leg.handle_packet(t0, 500, &report(false, 160));
        leg.handle_packet(t0, 500, &report(false, 320));
        leg.handle_packet(t0, 500, &[1, 2]);
        for _ in 0..3 {
            leg.handle_packet(t0, 500, &report(true, 800));
        }
        let e = leg.poll_event().expect("one key press");
        assert_eq!(e.digit.as_char(), '#');
        assert_eq!(leg.length(&e), Duration::from_millis(100));
        assert!(leg.poll_event().is_none(), "exactly once");
        assert_eq!(leg.counters().malformed, 1);
    }
}
