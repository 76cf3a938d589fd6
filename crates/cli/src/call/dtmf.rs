//! DTMF in `call`/`answer` (W-3, RFC 4733): `--dtmf DIGITS` sends the keys once the call is up (media
//! verified and the peer's media arriving, or a second after the call is up); every key received is an event
//! line (`DTMF 1`; with `--json` `{"event":"dtmf","digit":"1","duration_ms":100,…}`) and the summary lists the
//! keys received.

use std::time::{Duration, Instant};

use dtlsrtp::Event;
use dtlsrtp_tokio::endpoint::EndpointHandle;
use serde_json::{json, Map, Value};

use super::Session;
use crate::output;

/// How long after the call is up `--dtmf` waits for the peer's media before sending anyway.
const DTMF_WAIT: Duration = Duration::from_secs(1);

/// One call's DTMF record.
#[derive(Debug, Default)]
pub(crate) struct DtmfLog {
    /// `--dtmf` was handed to the endpoint (or refused).
    pub(crate) sent: bool,
    /// The keys received, in order.
    pub(crate) received: String,
}

impl DtmfLog {
    /// Prints a received key; true when `ev` was a DTMF event.
    pub(crate) fn on_event(&mut self, t_ms: f64, ev: &Event) -> bool {
        let Event::Dtmf {
            digit,
            duration,
            ended,
            ..
        } = ev
        else {
            return false;
        };
        let c = digit.as_char();
        self.received.push(c);
        let ms = duration.as_millis();
        output::event(
            "dtmf",
            json!({"t_ms": t_ms, "digit": c.to_string(), "duration_ms": ms, "ended": ended}),
            &format!("{t_ms:>9.1} ms  DTMF {c} ({ms} ms)"),
        );
        true
    }

    /// `dtmf_received` in the JSON summary.
    pub(crate) fn summary_fields(&self, m: &mut Map<String, Value>) {
        m.insert("dtmf_received".into(), Value::String(self.received.clone()));
    }

    /// "; DTMF received 123#" in the summary line.
    pub(crate) fn summary_text(&self, text: &mut String) {
        if !self.received.is_empty() {
            text.push_str(&format!("; DTMF received {}", self.received));
        }
    }
}

impl Session<'_> {
    /// `--dtmf`: sends the keys once, when the call is up and the peer's media arrives (or `DTMF_WAIT` later).
    pub(super) async fn scripted_dtmf(&mut self, h: &EndpointHandle, now: Instant) {
        let (Some(keys), Some(call), Some(up)) = (
            self.p.settings.dtmf.as_deref(),
            self.st.call,
            self.st.established_at,
        ) else {
            return;
        };
        if self.st.dtmf.sent || self.hangup_at.is_some() {
            return;
        }
        let peer_media = self.st.media_from.is_some_and(|t| t >= up);
        if !peer_media && now.duration_since(up) < DTMF_WAIT {
            return;
        }
        self.st.dtmf.sent = true;
        match h.send_dtmf(call, keys).await {
            Ok(()) => self
                .st
                .say(now, "dtmf_sent", &format!("sending DTMF {keys} (RFC 4733)")),
            Err(e) => self
                .st
                .say(now, "dtmf_refused", &format!("DTMF not sent: {e}")),
        }
    }
}
