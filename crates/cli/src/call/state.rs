//! One call's progress and media as `call`/`answer` see it, fed by the endpoint's events: the live status, the
//! words for why it ended, the exit code and the summary.

use std::time::{Duration, Instant};

use dtlsrtp::{CallId, EndReason, Event};
use dtlsrtp_types::DtlsRole;
use serde_json::{json, Map, Value};

use crate::output;
use crate::output::Status;
use crate::wav::WavRecorder;
use crate::{Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::jitter::JitterBuffer;
use dtlsrtp_audio::packetize::{AudioPacket, Packetizer};
use dtlsrtp_audio::FRAME;

/// The warning line of a plain-RTP call (R-ALLOW-RTP is policy, never silent; RFC 5763 §6.11).
pub(crate) const PLAIN_WARNING: &str =
    "WARNING: media is NOT encrypted (the peer answered plain RTP; --srtp-policy best-effort)";

/// Why a plain-RTP offer or answer ended the call under the default policy.
pub(crate) const REFUSED_PLAIN: &str =
    "the peer offered/answered plain RTP; refused by --srtp-policy secure-only";

/// The policy part of [`REFUSED_PLAIN`], for a peer that refused our DTLS-SRTP offer with 488.
const REFUSED_PLAIN_POLICY: &str = "refused by --srtp-policy secure-only";

/// One call's media and progress.
pub(crate) struct CallState {
    pub(crate) call: Option<CallId>,
    pub(crate) state: &'static str,
    pub(crate) profile: Option<String>,
    pub(crate) role: Option<DtlsRole>,
    /// From the endpoint's `MediaSecurity` event: DTLS-SRTP (`Some(true)`) or plain RTP under
    /// `--srtp-policy best-effort` (`Some(false)`, R-ALLOW-RTP: said, never silent); `None` before it.
    pub(crate) encrypted: Option<bool>,
    /// `--srtp-policy secure-only` (the default): a 488 to our offer is then explained by the policy.
    pub(crate) secure_only: bool,
    pub(crate) answered_at: Option<Instant>,
    pub(crate) media_from: Option<Instant>,
    pub(crate) established_at: Option<Instant>,
    pub(crate) incoming_at: Option<Instant>,
    pub(crate) mismatch: bool,
    pub(crate) ended: Option<EndReason>,
    /// Why we hung up, in the user's words ("hung up after 4 s (--duration)"), when we did.
    pub(crate) hangup_why: Option<String>,
    /// We put the call on hold (sendonly offered); `held_events` counts hold/resume changes either side made.
    pub(crate) on_hold: bool,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    packetizer: Packetizer,
    cursor: usize,
    jitter: JitterBuffer,
    recorder: Option<WavRecorder>,
    next_play: Option<Instant>,
    start: Instant,
    /// The call's security state (issue 8) and the SAS, from the endpoint's Security event.
    pub(crate) security: Option<String>,
    pub(crate) sas: Option<String>,
    /// DTMF sent and received on this call (W-3).
    pub(crate) dtmf: super::dtmf::DtmfLog,
}

impl CallState {
    pub(crate) fn new(
        law: Law,
        record: Option<&std::path::Path>,
        start: Instant,
    ) -> Result<Self, Failure> {
        let mut r = [0u8; 6];
        crate::os_random(&mut r);
        let recorder = match record {
            Some(path) => Some(
                WavRecorder::create(path)
                    .map_err(|e| Failure::new(Exit::Local, format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        Ok(Self {
            call: None,
            state: "starting",
            profile: None,
            role: None,
            encrypted: None,
            secure_only: true,
            answered_at: None,
            media_from: None,
            established_at: None,
            incoming_at: None,
            mismatch: false,
            ended: None,
            hangup_why: None,
            on_hold: false,
            sent: 0,
            received: 0,
            packetizer: Packetizer::new(
                law,
                u16::from_be_bytes([r[0], r[1]]),
                u32::from_be_bytes([r[2], r[3], r[4], r[5]]),
            ),
            cursor: 0,
            jitter: JitterBuffer::new(law, 3),
            recorder,
            next_play: None,
            start,
            security: None,
            sas: None,
            dtmf: super::dtmf::DtmfLog::default(),
        })
    }

    /// Sets whether the call runs under `--srtp-policy secure-only`.
    pub(crate) fn secure_only(mut self, on: bool) -> Self {
        self.secure_only = on;
        self
    }

    pub(crate) fn ms(&self, now: Instant) -> f64 {
        now.duration_since(self.start).as_secs_f64() * 1000.0
    }

    pub(crate) fn status(&self, now: Instant) -> Status {
        let rx = self.jitter.stats();
        Status {
            state: self.state.to_string(),
            profile: self.profile.clone(),
            elapsed: now.duration_since(self.start),
            packets_out: self.sent,
            packets_in: self.received,
            lost: rx.lost,
            loss: rx.loss_fraction(),
            jitter_ms: rx.jitter_ms(),
        }
    }

    /// Prints one timed event line (or JSON event).
    pub(crate) fn say(&self, now: Instant, kind: &str, text: &str) {
        let t = self.ms(now);
        output::event(
            kind,
            json!({"t_ms": t, "text": text}),
            &format!("{t:>9.1} ms  {text}"),
        );
    }

    pub(crate) fn on_event(&mut self, now: Instant, ev: &Event) {
        let t = self.ms(now);
        if self.dtmf.on_event(t, ev) {
            return;
        }
        let (kind, text): (&str, String) = match ev {
            Event::IncomingCall { from, .. } => ("incoming", format!("incoming call from {from}")),
            Event::Ringing { .. } => {
                self.state = "ringing";
                ("ringing", "ringing".into())
            }
            Event::EarlyMedia { .. } => {
                self.state = "early";
                (
                    "early_media",
                    "early media (183 with SDP): fingerprint bound".into(),
                )
            }
            Event::Answered { .. } => {
                self.state = "answered";
                self.answered_at.get_or_insert(now);
                ("answered", "answered".into())
            }
            Event::DtlsConnected {
                profile,
                role,
                remote,
                ..
            } => {
                self.profile = Some(profile.to_string());
                self.role = Some(*role);
                (
                    "dtls_connected",
                    format!("DTLS connected with {remote}: {profile}, we are DTLS {role:?}"),
                )
            }
            Event::FingerprintVerified { remote, .. } => {
                // Early media may flow from here (F-6.2); the call is up at Established.
                self.media_from.get_or_insert(now);
                (
                    "fingerprint_verified",
                    format!("peer certificate matches its a=fingerprint ({remote})"),
                )
            }
            Event::FingerprintMismatch { .. } => {
                self.mismatch = true;
                (
                    "fingerprint_mismatch",
                    "FINGERPRINT MISMATCH: media torn down".into(),
                )
            }
            Event::MediaSecurity {
                encrypted,
                profile,
                role,
                ..
            } => {
                self.encrypted = Some(*encrypted);
                if *encrypted {
                    if let Some(p) = profile {
                        self.profile = Some(p.to_string());
                    }
                    if role.is_some() {
                        self.role = *role;
                    }
                    return;
                }
                self.profile = None;
                self.role = None;
                ("media_security", PLAIN_WARNING.into())
            }
            Event::Established { .. } => {
                self.state = "connected";
                self.established_at.get_or_insert(now);
                self.media_from.get_or_insert(now);
                let text = if self.encrypted == Some(false) {
                    "call established: plain RTP, media NOT encrypted"
                } else {
                    "call established: media authenticated by the verified keys"
                };
                ("established", text.into())
            }
            Event::Rtp {
                seq,
                ts,
                payload,
                verified,
                ..
            } => {
                // Unverified RTP is media only on a plain-RTP call (best effort, MediaSecurity said so); on an
                // encrypted call it is dropped.
                let plain = self.encrypted == Some(false);
                if *verified || plain {
                    if self.received == 0 {
                        if plain {
                            output::event(
                                "first_rtp",
                                json!({"t_ms": t, "encrypted": false}),
                                &format!("{t:>9.1} ms  first plain RTP packet (NOT encrypted)"),
                            );
                        } else {
                            output::event(
                                "first_srtp",
                                json!({"t_ms": t}),
                                &format!("{t:>9.1} ms  first SRTP packet authenticated"),
                            );
                        }
                    }
                    self.received += 1;
                    let arrival = (now.duration_since(self.start).as_secs_f64() * 8000.0) as u32;
                    self.jitter.push(*seq, *ts, payload, arrival);
                }
                return;
            }
            Event::Terminated { reason, .. } => {
                self.state = "ended";
                self.ended = Some(*reason);
                ("terminated", format!("call ended: {}", self.ended_words()))
            }
            Event::Modified { renewed, .. } => (
                "modified",
                if *renewed {
                    "session modified: new DTLS association (rekeyed)".to_owned()
                } else {
                    "session modified (re-INVITE/UPDATE, same keys)".to_owned()
                },
            ),
            Event::ModifyFailed { status, .. } => (
                "modify_failed",
                format!("session change refused: {}", status_words(*status)),
            ),
            Event::Ice {
                remote: Some(remote),
                ..
            } => (
                "ice",
                format!("ICE: candidate pair selected, media to {remote}"),
            ),
            Event::Ice { failed: true, .. } => ("ice", "ICE failed: no candidate pair".to_owned()),
            Event::Ice { .. } => (
                "ice",
                "ICE consent expired (RFC 7675): sending stopped until a pair is selected again"
                    .to_owned(),
            ),
            Event::Registered { expires, .. } => {
                ("registered", format!("registered for {expires} s"))
            }
            Event::Security { state, sas, .. } => {
                self.security = Some(state.label());
                self.sas.clone_from(sas);
                let sas = sas
                    .as_deref()
                    .map_or(String::new(), |s| format!(", SAS {s}"));
                ("security", format!("security: {}{sas}", state.label()))
            }
            Event::PeerKeyChanged { identity, .. } => (
                "peer_key_changed",
                if identity.is_empty() {
                    "WARNING: the peer's key changed mid-call (unauthenticated; compare the new SAS)".to_owned()
                } else {
                    format!("WARNING: {identity} presents a different key than last time (continuity broken)")
                },
            ),
            Event::RegistrationFailed { status, .. } => {
                ("registration_failed", format!("REGISTER refused: {status}"))
            }
            _ => return,
        };
        output::event(
            kind,
            json!({"t_ms": t, "text": text}),
            &format!("{t:>9.1} ms  {text}"),
        );
    }

    /// Why the call ended, in words a user knows.
    pub(crate) fn ended_words(&self) -> String {
        match self.ended {
            Some(EndReason::Local) | None if self.hangup_why.is_some() => {
                self.hangup_why.clone().unwrap_or_default()
            }
            Some(EndReason::Local) => "we hung up".into(),
            Some(EndReason::RemoteBye) => "the other side hung up".into(),
            Some(EndReason::Rejected(code)) => format!("rejected: {}", status_words(code)),
            Some(EndReason::Cancelled) => "the caller gave up before the answer (CANCEL)".into(),
            Some(EndReason::Timeout) => "no answer".into(),
            Some(EndReason::NotSecure) => REFUSED_PLAIN.into(),
            Some(EndReason::FingerprintMismatch) => {
                "the peer's certificate does not match its a=fingerprint".into()
            }
            Some(EndReason::DtlsFailed) => "DTLS-SRTP did not come up".into(),
            Some(_) => "ended".into(),
            None => "not ended".into(),
        }
    }

    /// The packets of the frames due since media started (20 ms each), a few at most per call to catch up
    /// after a stall.
    pub(crate) fn due_packets(&mut self, now: Instant, audio: &[i16]) -> Vec<AudioPacket> {
        let Some(from) = self.media_from else {
            return Vec::new();
        };
        let due = (now.duration_since(from).as_millis() / 20) as u64 + 1;
        let mut out = Vec::new();
        for _ in 0..5 {
            if self.sent + out.len() as u64 >= due {
                break;
            }
            let mut frame = [0i16; FRAME];
            for f in &mut frame {
                *f = audio.get(self.cursor).copied().unwrap_or(0);
                self.cursor = (self.cursor + 1) % audio.len().max(1);
            }
            out.extend(self.packetizer.push(&frame));
        }
        out
    }

    /// Plays out one frame per 20 ms into the recording.
    pub(crate) fn play_due(&mut self, now: Instant) -> Result<(), Failure> {
        if self.received == 0 {
            return Ok(());
        }
        let next = *self.next_play.get_or_insert(now);
        if now < next {
            return Ok(());
        }
        self.next_play = Some(next + Duration::from_millis(20));
        if let Some(frame) = self.jitter.pop() {
            self.record(&frame)?;
        }
        Ok(())
    }

    fn record(&mut self, samples: &[i16]) -> Result<(), Failure> {
        if let Some(r) = self.recorder.as_mut() {
            r.append(samples)
                .map_err(|e| Failure::new(Exit::Local, format!("recording: {e}")))?;
        }
        Ok(())
    }

    pub(crate) fn finish_recording(&mut self) -> Result<(), Failure> {
        let rest = self.jitter.drain();
        self.record(&rest)?;
        if let Some(r) = self.recorder.take() {
            r.finish()
                .map_err(|e| Failure::new(Exit::Local, format!("recording: {e}")))?;
        }
        Ok(())
    }

    /// The summary: outcome, exit code, and (JSON) the SRTP profile, our DTLS role, whether media was
    /// encrypted, why the call ended.
    pub(crate) fn summary(&self, r: &Result<(), Failure>, now: Instant) {
        let (mut text, code) = match r {
            Ok(()) if self.encrypted == Some(false) => (
                "media both ways, NOT encrypted (plain RTP, --srtp-policy best-effort)".to_string(),
                0u8,
            ),
            Ok(()) => ("media authenticated both ways".to_string(), 0u8),
            Err(f) => (f.message.clone(), f.exit as u8),
        };
        if self.encrypted == Some(false) && r.is_err() {
            text.push_str("; media was NOT encrypted");
        }
        let why = self.ended_words();
        if (self.ended.is_some() || self.hangup_why.is_some()) && !text.contains(&why) {
            text.push_str(&format!("; {why}"));
        }
        if let Some(sec) = &self.security {
            text.push_str(&format!("; {sec}"));
        }
        if let Some(sas) = &self.sas {
            text.push_str(&format!("; SAS {sas}"));
        }
        self.dtmf.summary_text(&mut text);
        output::summary_with(&self.status(now), &text, code, &self.summary_fields());
    }

    fn summary_fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "dtls_role".into(),
            self.role.map_or(Value::Null, |r| {
                Value::String(format!("{r:?}").to_lowercase())
            }),
        );
        // From MediaSecurity (a plain-RTP call under best effort says false); before it, a negotiated profile
        // means every packet counted here was encrypted.
        let encrypted = self.encrypted.unwrap_or(self.profile.is_some());
        m.insert("encrypted".into(), Value::Bool(encrypted));

        m.insert("ended".into(), Value::String(self.ended_words()));
        m.insert("on_hold".into(), Value::Bool(self.on_hold));
        self.dtmf.summary_fields(&mut m);
        m
    }
}

/// A SIP status code with its reason phrase (RFC 3261 §21).
pub(crate) fn status_words(code: u16) -> String {
    let phrase = match code {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        415 => "Unsupported Media Type",
        420 => "Bad Extension",
        428 => "Use Identity Header",
        436 => "Bad Identity Info",
        437 => "Unsupported Credential",
        438 => "Invalid Identity Header",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    };
    if phrase.is_empty() {
        code.to_string()
    } else {
        format!("{code} {phrase}")
    }
}

/// The exit code of a finished call from what the endpoint reported.
pub(crate) fn call_result(st: &CallState) -> Result<(), Failure> {
    if st.ended == Some(EndReason::FingerprintMismatch)
        || (st.mismatch && st.established_at.is_none())
    {
        return Err(Failure::new(
            Exit::FingerprintMismatch,
            "the peer's certificate does not match its a=fingerprint",
        ));
    }
    if st.answered_at.is_none() && st.established_at.is_none() {
        let why = match st.ended {
            Some(EndReason::Rejected(488)) if st.secure_only => format!(
                "call refused: {}: the peer does not take our DTLS-SRTP offer (it may do only plain \
                 RTP); {REFUSED_PLAIN_POLICY}; --srtp-policy best-effort would allow plain RTP",
                status_words(488)
            ),
            Some(EndReason::Rejected(code)) => {
                format!("call refused: {}", status_words(code))
            }
            Some(EndReason::Timeout) | None => {
                "no answer (timeout, or the SIP transport failed)".to_string()
            }
            Some(EndReason::NotSecure) => REFUSED_PLAIN.to_string(),
            Some(EndReason::DtlsFailed) => {
                return Err(Failure::new(
                    Exit::Dtls,
                    "the DTLS handshake failed before the answer",
                ));
            }
            Some(other) => format!("call failed: {other:?}"),
        };
        return Err(Failure::new(Exit::Signalling, why));
    }
    if st.ended == Some(EndReason::NotSecure) {
        return Err(Failure::new(Exit::Signalling, REFUSED_PLAIN));
    }
    if st.established_at.is_none() {
        return Err(Failure::new(
            Exit::Dtls,
            "answered, but DTLS-SRTP did not come up (handshake failed or timed out)",
        ));
    }
    if st.received == 0 || st.sent == 0 {
        return Err(Failure::new(
            Exit::NoMedia,
            format!(
                "no media both ways ({} sent, {} received)",
                st.sent, st.received
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> CallState {
        CallState::new(Law::Pcmu, None, Instant::now()).unwrap()
    }

    fn code(st: &CallState) -> Option<Exit> {
        call_result(st).err().map(|f| f.exit)
    }

    /// The documented exit codes from what the endpoint reported (README): 3, 4, 5, 6, 0.
    #[test]
    fn exit_codes_from_endpoint_events() {
        let now = Instant::now();
        let mut st = state();
        st.ended = Some(EndReason::Timeout);
        assert_eq!(code(&st), Some(Exit::Signalling));
        st.ended = Some(EndReason::Rejected(486));
        assert_eq!(code(&st), Some(Exit::Signalling));
        assert!(call_result(&st).unwrap_err().message.contains("486"));
        st.ended = Some(EndReason::NotSecure);
        assert_eq!(code(&st), Some(Exit::Signalling));

        let mut st = state();
        st.answered_at = Some(now);
        st.ended = Some(EndReason::Local);
        assert_eq!(code(&st), Some(Exit::Dtls), "answered, never established");

        let mut st = state();
        st.answered_at = Some(now);
        st.mismatch = true;
        assert_eq!(code(&st), Some(Exit::FingerprintMismatch));
        let mut st = state();
        st.ended = Some(EndReason::FingerprintMismatch);
        assert_eq!(code(&st), Some(Exit::FingerprintMismatch));

        let mut st = state();
        st.answered_at = Some(now);
        st.established_at = Some(now);
        st.sent = 10;
        assert_eq!(code(&st), Some(Exit::NoMedia), "nothing received");
        st.received = 10;
        assert_eq!(code(&st), None);
    }

    /// Issue 13: why a call ended, in a user's words.
    #[test]
    fn why_a_call_ended_in_user_words() {
        let mut st = state();
        st.ended = Some(EndReason::RemoteBye);
        assert_eq!(st.ended_words(), "the other side hung up");
        st.ended = Some(EndReason::Rejected(486));
        assert_eq!(st.ended_words(), "rejected: 486 Busy Here");
        assert!(call_result(&st)
            .unwrap_err()
            .message
            .contains("486 Busy Here"));
        st.ended = Some(EndReason::Timeout);
        assert_eq!(st.ended_words(), "no answer");
        st.ended = Some(EndReason::Local);
        assert_eq!(st.ended_words(), "we hung up");
        st.hangup_why = Some("hung up after 4 s (--duration)".into());
        assert_eq!(st.ended_words(), "hung up after 4 s (--duration)");
        st.ended = None;
        assert_eq!(st.ended_words(), "hung up after 4 s (--duration)");
        assert_eq!(status_words(699), "699");
    }

    #[test]
    fn events_drive_the_state() {
        let now = Instant::now();
        let mut st = state();
        let call = CallId(7);
        st.call = Some(call);
        st.on_event(now, &Event::Ringing { call, fork: None });
        assert_eq!(st.state, "ringing");
        st.on_event(
            now,
            &Event::Established {
                call,
                fork: dtlsrtp::ForkId(1),
            },
        );
        assert_eq!(st.state, "connected");
        assert!(st.established_at.is_some() && st.media_from.is_some());
        st.on_event(
            now,
            &Event::Rtp {
                call,
                fork: None,
                ssrc: 1,
                seq: 5,
                ts: 800,
                pt: 0,
                payload: vec![0xFF; 160],
                verified: true,
            },
        );
        assert_eq!(st.received, 1);
        st.on_event(
            now,
            &Event::Terminated {
                call,
                reason: EndReason::RemoteBye,
            },
        );
        assert_eq!(st.ended, Some(EndReason::RemoteBye));
        assert_eq!(st.status(now).packets_in, 1);
        let f = st.summary_fields();
        assert_eq!(f["ended"], "the other side hung up");
        assert_eq!(f["encrypted"], false, "no profile was negotiated here");
    }

    fn rtp(call: CallId, seq: u16, verified: bool) -> Event {
        Event::Rtp {
            call,
            fork: None,
            ssrc: 1,
            seq,
            ts: u32::from(seq) * 160,
            pt: 0,
            payload: vec![0xFF; 160],
            verified,
        }
    }

    /// B-3 / A.23 R-ALLOW-RTP: unverified RTP is media only when MediaSecurity said the call is plain; the
    /// summary then says NOT encrypted. On an encrypted call unverified RTP stays dropped.
    #[test]
    fn b3_plain_rtp_is_played_only_on_a_plain_call_and_the_summary_says_so() {
        let now = Instant::now();
        let call = CallId(3);
        let mut enc = state();
        enc.call = Some(call);
        enc.on_event(
            now,
            &Event::MediaSecurity {
                call,
                encrypted: true,
                profile: Some(dtlsrtp_types::SrtpProfile::Aes128CmHmacSha1_80),
                role: Some(DtlsRole::Client),
            },
        );
        enc.on_event(now, &rtp(call, 1, false));
        assert_eq!(
            enc.received, 0,
            "unverified RTP on an encrypted call is dropped"
        );
        enc.on_event(now, &rtp(call, 2, true));
        assert_eq!(enc.received, 1);
        let f = enc.summary_fields();
        assert_eq!(f["encrypted"], true);
        assert_eq!(f["dtls_role"], "client");

        let mut plain = state();
        plain.call = Some(call);
        plain.on_event(
            now,
            &Event::MediaSecurity {
                call,
                encrypted: false,
                profile: None,
                role: None,
            },
        );
        plain.on_event(now, &rtp(call, 1, false));
        plain.on_event(now, &rtp(call, 2, false));
        assert_eq!(plain.received, 2, "plain RTP is the media of a plain call");
        let f = plain.summary_fields();
        assert_eq!(f["encrypted"], false);
        assert_eq!(f["dtls_role"], Value::Null);
        assert_eq!(plain.status(now).profile, None);
    }

    /// Secure-only: a plain-RTP offer or answer ends the call as NotSecure, in the user's words.
    #[test]
    fn b3_secure_only_refusal_names_the_policy() {
        let mut st = state();
        st.ended = Some(EndReason::NotSecure);
        let f = call_result(&st).unwrap_err();
        assert_eq!(f.exit, Exit::Signalling);
        assert!(
            f.message.contains("refused by --srtp-policy secure-only"),
            "{}",
            f.message
        );
        // A plain-only peer answering our DTLS-SRTP offer with 488: explained by the policy too.
        st.ended = Some(EndReason::Rejected(488));
        let f = call_result(&st).unwrap_err();
        assert!(
            f.message.contains("refused by --srtp-policy secure-only"),
            "{}",
            f.message
        );
        st.secure_only = false;
        let f = call_result(&st).unwrap_err();
        assert!(!f.message.contains("secure-only"), "{}", f.message);
    }
}
