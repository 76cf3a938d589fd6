//! DTMF on a call (RFC 4733 telephone-event, requirement W-3): [`Endpoint::send_dtmf`] queues keys on the
//! call's [`DtmfLeg`], whose packets go out on the audio stream through [`Endpoint::send_rtp`] (same SSRC and
//! sequence, the audio's timestamp clock; audio sends are held back while an event is sent); received
//! telephone-event packets become one [`Event::Dtmf`] per key press. The hooks elsewhere are one line each:
//! `send_rtp` (audio admission), the RTP events of both legs, the timers, and the call's end.

use dtlsrtp_session::{DtmfLeg, PayloadTable};

use super::*;
use crate::DtmfDigit;

impl Endpoint {
    /// Sends DTMF keys (`0`-`9`, `*`, `#`, `A`-`D`) on the call as RFC 4733 telephone-events, after any keys
    /// already queued: each key 100 ms, 100 ms apart, on the negotiated telephone-event payload type. Audio
    /// sent meanwhile is held back (counted). Errors: an unknown call, an invalid key (nothing is queued),
    /// or a peer that did not negotiate telephone-event ([`Error::DtmfNotNegotiated`]).
    pub fn send_dtmf(&mut self, now: Instant, call: CallId, digits: &str) -> Result<(), Error> {
        let c = self.calls.get(&call).ok_or(Error::UnknownCall)?;
        let keys = DtmfDigit::parse_all(digits).map_err(|e| Error::InvalidDigit(e.0))?;
        let rate = Self::dtmf_send_pt(c)
            .and_then(|pt| c.neg.payloads().and_then(|t| t.get(pt)))
            .map(|codec| codec.clock_rate)
            .ok_or(Error::DtmfNotNegotiated)?;
        self.dtmf_leg(call, rate).enqueue(now, &keys);
        self.dtmf_send_due(now);
        Ok(())
    }

    /// Keys queued or being sent on the call.
    pub fn dtmf_pending(&self, call: CallId) -> usize {
        self.dtmf.get(&call).map_or(0, DtmfLeg::pending)
    }

    /// The call's DTMF counters (packets sent and received, audio held back, malformed packets).
    pub fn dtmf_counters(&self, call: CallId) -> Option<dtlsrtp_session::DtmfCounters> {
        self.dtmf.get(&call).map(DtmfLeg::counters)
    }

    /// The payload type to send telephone-event with: the number the peer's SDP named.
    fn dtmf_send_pt(c: &Call) -> Option<u8> {
        c.neg.payloads().and_then(PayloadTable::telephone_event)
    }

    fn dtmf_leg(&mut self, call: CallId, clock_rate: u32) -> &mut DtmfLeg {
        // (telephone-event/8000 is the only rate we offer, so a leg made for audio has the right rate)
        let rng = &mut self.rng;
        self.dtmf
            .entry(call)
            .or_insert_with(|| DtmfLeg::new(clock_rate, rng.u32()))
    }

    /// Hook of [`Endpoint::send_rtp`]: whether a packet of `pt` may go now. Audio is held back while an event
    /// is sent, and otherwise sets the event timestamp clock.
    pub(super) fn dtmf_admit(&mut self, now: Instant, call: CallId, pt: u8, ts: u32) -> bool {
        let te = self.calls.get(&call).and_then(Self::dtmf_send_pt);
        if te == Some(pt) {
            return true;
        }
        if te.is_none() && !self.dtmf.contains_key(&call) {
            return true;
        }
        // The leg exists from the first audio packet on, so that an event's timestamp follows the audio clock.
        self.dtmf_leg(call, 8000).admit_audio(now, ts)
    }

    /// Sends every event packet due at `now`.
    pub(super) fn dtmf_send_due(&mut self, now: Instant) {
        let due: Vec<CallId> = self
            .dtmf
            .iter()
            .filter(|(_, l)| l.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for call in due {
            let Some(pt) = self.calls.get(&call).and_then(Self::dtmf_send_pt) else {
                continue;
            };
            let mut packets = Vec::new();
            if let Some(leg) = self.dtmf.get_mut(&call) {
                leg.handle_timeout(now);
                while let Some(p) = leg.poll_packet(now) {
                    packets.push(p);
                }
            }
            for p in packets {
                // A send refused (media not verified yet, the call ending) loses the packet, as audio would be.
                let _ = self.send_rtp(now, call, pt, p.marker, p.timestamp, &p.payload());
            }
            self.dtmf_events(call);
        }
    }

    /// Hook of the legs' RTP events: true when the packet was telephone-event (consumed: it becomes
    /// [`Event::Dtmf`], not [`Event::Rtp`]). Both the peer's number and ours are recognised.
    pub(super) fn dtmf_on_rtp(
        &mut self,
        now: Instant,
        call: CallId,
        pt: u8,
        ts: u32,
        payload: &[u8],
    ) -> bool {
        let Some(c) = self.calls.get(&call) else {
            return false;
        };
        let theirs = c.neg.payloads().and_then(|t| {
            t.telephone_event()
                .and_then(|p| t.get(p))
                .map(|x| (x.pt, x.clock_rate))
        });
        let ours = PayloadTable::new(c.neg.codecs().to_vec());
        let ours = ours
            .telephone_event()
            .and_then(|p| ours.get(p).map(|x| (x.pt, x.clock_rate)));
        let Some((_, rate)) = [theirs, ours].into_iter().flatten().find(|x| x.0 == pt) else {
            return false;
        };
        self.dtmf_leg(call, rate).handle_packet(now, ts, payload);
        self.dtmf_events(call);
        true
    }

    fn dtmf_events(&mut self, call: CallId) {
        let Some(leg) = self.dtmf.get_mut(&call) else {
            return;
        };
        while let Some(e) = leg.poll_event() {
            let duration = leg.length(&e);
            self.events.push_back(Event::Dtmf {
                call,
                digit: e.digit,
                duration,
                ended: e.ended,
            });
        }
    }

    /// Hook of the timers: event packets due, received keys whose packets stopped.
    pub(super) fn dtmf_timeout(&mut self, now: Instant) {
        self.dtmf_send_due(now);
    }

    /// Hook of [`Endpoint::poll_timeout`].
    pub(super) fn dtmf_deadline(&self) -> Option<Instant> {
        self.dtmf.values().filter_map(DtmfLeg::poll_timeout).min()
    }

    /// Hook of the call's end: a key still open is reported, the leg is dropped.
    pub(super) fn dtmf_end(&mut self, call: CallId) {
        if let Some(leg) = self.dtmf.get_mut(&call) {
            leg.flush();
        }
        self.dtmf_events(call);
        self.dtmf.remove(&call);
    }
}
