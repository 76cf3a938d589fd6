//! `dtlsrtp demo` over SIP: Alice and Bob are two [`Endpoint`]s (SIP user agent + SDP + media port) in one
//! process, each with its own UDP sockets on 127.0.0.1. Alice calls Bob over SIP; DTLS runs on the media path;
//! each certificate is checked against the `a=fingerprint` of the other's SDP; PCMU flows both ways over SRTP;
//! Alice hangs up. Every datagram goes through this loop, which prints the ladder (SIP messages, DTLS flights,
//! first SRTP each way, with times) and, per scenario, plays the network: it delays Bob's 200 OK behind his
//! ClientHello (F-5.8) or rewrites his fingerprint (a man in the middle, F-5.15).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dtlsrtp::{CallId, CallOptions, Config as EpConfig, EndReason, Endpoint, Event, Transmit};
use dtlsrtp_dtls::{Certificate, HashFunction};
use dtlsrtp_media::{classify, PacketKind};
use dtlsrtp_srtp::DtlsRole;

use crate::audio::g711::Law;
use crate::audio::jitter::JitterBuffer;
use crate::call::Sockets;
use crate::demo::{tone_payload, DemoArgs, Scenario};
use crate::ladder::{describe_dtls, Ladder, Party};
use crate::output::{self, Status, StatusLine};
use crate::{os_random, say, Exit, Failure};

const SAMPLES: u32 = 160;

/// One user agent of the demo.
struct Agent {
    party: Party,
    ep: Endpoint,
    socks: Sockets,
    fingerprint: String,
    hz: f64,
    call: Option<CallId>,
    connected: Option<(String, DtlsRole)>,
    verified: bool,
    established: bool,
    mismatch: bool,
    ended: Option<EndReason>,
    modified: u32,
    sent: u32,
    authenticated: u32,
    wrong_payload: u32,
    rtcp: u32,
    first_dtls_seen: bool,
    /// The receive path (RFC 3550 loss and jitter of what authenticated).
    rx: JitterBuffer,
    start: Instant,
}

impl Agent {
    fn new(party: Party, args: &DemoArgs, hz: f64, best_effort: bool) -> Result<Self, Failure> {
        let name = match party {
            Party::Alice => "alice",
            Party::Bob => "bob",
        };
        let mut socks = Sockets::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))?;
        let cert = Certificate::generate(args.key_type.into(), name, 30).map_err(local)?;
        let fingerprint = cert
            .fingerprint(HashFunction::Sha256)
            .map_err(local)?
            .to_string();
        let mut seed = [0u8; 32];
        os_random(&mut seed);
        let mut cfg = EpConfig::new(name, "127.0.0.1", socks.sip_addr, cert, seed);
        cfg.best_effort = best_effort;
        cfg.dtls_initial_retransmit = Some(Duration::from_millis(200));
        let mut ep = Endpoint::new(cfg).map_err(local)?;
        socks.top_up(&mut ep)?;
        Ok(Self {
            party,
            ep,
            socks,
            fingerprint,
            hz,
            call: None,
            connected: None,
            verified: false,
            established: false,
            mismatch: false,
            ended: None,
            modified: 0,
            sent: 0,
            authenticated: 0,
            wrong_payload: 0,
            rtcp: 0,
            first_dtls_seen: false,
            rx: JitterBuffer::new(Law::Pcmu, 3),
            start: Instant::now(),
        })
    }

    fn name(&self) -> &'static str {
        match self.party {
            Party::Alice => "Alice",
            Party::Bob => "Bob",
        }
    }

    /// Sends frame `index` of this agent's tone (timestamp = index × 160, so the receiver knows what to expect).
    fn send_frame(&mut self, now: Instant, index: u32) {
        let Some(call) = self.call else { return };
        let payload = tone_payload(self.hz, index);
        if self
            .ep
            .send_rtp(
                now,
                call,
                0,
                index == 0,
                index.wrapping_mul(SAMPLES),
                &payload,
            )
            .is_ok()
        {
            self.sent += 1;
        }
    }
}

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

/// Names a SIP datagram for the ladder: its start line, and whether it carries SDP.
fn describe_sip(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let first = text.lines().next().unwrap_or("").trim();
    let first = first.strip_suffix(" SIP/2.0").unwrap_or(first);
    let cseq = text
        .lines()
        .find_map(|l| l.strip_prefix("CSeq:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    let sdp = if text.contains("\r\n\r\nv=0") {
        let setup = text
            .lines()
            .find_map(|l| l.strip_prefix("a=setup:"))
            .map_or(String::new(), |s| format!(", a=setup:{}", s.trim()));
        let proto = text
            .lines()
            .find_map(|l| l.strip_prefix("m=audio "))
            .and_then(|m| m.split_whitespace().nth(1))
            .unwrap_or("?");
        let tcap = if text.contains("a=tcap:") {
            ", a=tcap"
        } else {
            ""
        };
        format!(" + SDP ({proto}{tcap}, a=fingerprint{setup})")
    } else {
        String::new()
    };
    if first.starts_with("SIP/2.0") {
        format!("SIP {} ({cseq}){sdp}", first.trim_start_matches("SIP/2.0 "))
    } else {
        format!("SIP {}{sdp}", first.split(' ').next().unwrap_or(first))
    }
}

/// A datagram held back by the "network".
struct Held {
    t: Transmit,
    since: Instant,
}

/// Runs the SIP demo; `Ok` only when media authenticated both ways.
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    let start = Instant::now();
    output::init(args.out.json, args.out.verbosity());
    let sc = args.scenario;
    let mut alice = Agent::new(Party::Alice, args, 440.0, sc == Scenario::BestEffort)?;
    let mut bob = Agent::new(Party::Bob, args, 660.0, false)?;
    say!(
        "dtlsrtp demo ({sc:?}): Alice sip:alice@{} calls Bob sip:bob@{} over SIP/UDP",
        alice.socks.sip_addr,
        bob.socks.sip_addr
    );
    say!("  Alice a=fingerprint:{}", alice.fingerprint);
    say!("  Bob   a=fingerprint:{}", bob.fingerprint);
    let mut ladder = Ladder::new(start);
    let mallory = if sc == Scenario::Mitm {
        let c = Certificate::generate(args.key_type.into(), "mallory", 30).map_err(local)?;
        Some(
            c.fingerprint(HashFunction::Sha256)
                .map_err(local)?
                .to_string(),
        )
    } else {
        None
    };

    let opts = if sc == Scenario::DelayedOffer {
        CallOptions::delayed_offer()
    } else {
        CallOptions::default()
    };
    let target = format!("sip:bob@{}", bob.socks.sip_addr);
    let call = alice
        .ep
        .dial(Instant::now(), &target, opts)
        .map_err(|e| Failure::new(Exit::Signalling, format!("dial: {e}")))?;
    alice.call = Some(call);

    let pace = Duration::from_millis(args.pace_ms);
    let deadline = start + Duration::from_secs(20) + pace * args.packets;
    let mut held: Vec<Held> = Vec::new();
    let mut media_start: Option<Instant> = None;
    let mut next_index = 0u32;
    let mut done_at: Option<Instant> = None;
    let mut hung_up_at: Option<Instant> = None;
    let mut mismatch_at: Option<Instant> = None;
    let mut modify_sent = false;
    let mut early_until: Option<Instant> = None;
    let mut buf = vec![0u8; 65_536];
    let mut status = StatusLine::new(Duration::from_secs(1));
    while Instant::now() < deadline {
        let now = Instant::now();
        let mut busy = false;
        for a in [&mut alice, &mut bob] {
            busy |= a.socks.receive(&mut a.ep, &mut buf);
            if a.ep.poll_timeout().is_some_and(|t| t <= now) {
                a.ep.handle_timeout(now);
            }
        }
        // Events.
        for who in [Party::Alice, Party::Bob] {
            let (me, other) = match who {
                Party::Alice => (&mut alice, &bob),
                Party::Bob => (&mut bob, &alice),
            };
            while let Some(ev) = me.ep.poll_event() {
                busy = true;
                let now = Instant::now();
                match ev {
                    Event::MediaSocketReleased { local } => {
                        me.socks.media.remove(&local);
                    }
                    Event::IncomingCall { call, .. } => {
                        me.call = Some(call);
                        ladder.note(
                            now,
                            who,
                            "incoming call: SDP offer accepted by the negotiator",
                        );
                        let r = if sc == Scenario::EarlyMedia {
                            early_until = Some(now + pace * (args.packets / 2).max(1));
                            me.ep
                                .ring(now, call)
                                .and_then(|()| me.ep.early_media(now, call))
                        } else {
                            me.ep.ring(now, call).and_then(|()| me.ep.answer(now, call))
                        };
                        r.map_err(|e| Failure::new(Exit::Signalling, format!("answer: {e}")))?;
                    }
                    Event::EarlyMedia { .. } => ladder.note(
                        now,
                        who,
                        "183 with SDP: Bob's fingerprint bound to the early dialog",
                    ),
                    Event::DtlsConnected {
                        profile,
                        role,
                        remote,
                        ..
                    } => {
                        me.connected = Some((profile.to_string(), role));
                        let gate = if me.verified {
                            ""
                        } else {
                            "; keys gated until the fingerprint is verified"
                        };
                        ladder.note(
                            now,
                            who,
                            &format!(
                                "DTLS connected with {remote} ({profile}), DTLS {role:?}{gate}"
                            ),
                        );
                    }
                    Event::FingerprintVerified { .. } => {
                        me.verified = true;
                        ladder.note(
                            now,
                            who,
                            &format!(
                                "{}'s certificate matches a=fingerprint: keys released",
                                other.name()
                            ),
                        );
                    }
                    Event::FingerprintMismatch { .. } => {
                        me.mismatch = true;
                        ladder.note(
                            now,
                            who,
                            "FINGERPRINT MISMATCH: media torn down (F-5.15), BYE",
                        );
                    }
                    Event::Established { .. } => {
                        me.established = true;
                        ladder.note(now, who, "call established");
                    }
                    Event::Rtp {
                        seq,
                        ts,
                        payload,
                        verified: true,
                        ..
                    } => {
                        let arrival = (now.duration_since(me.start).as_secs_f64() * 8000.0) as u32;
                        me.rx.push(seq, ts, &payload, arrival);
                        while me.rx.pop().is_some() {}
                        let index = ts / SAMPLES;
                        if payload[..] == tone_payload(other.hz, index)[..] {
                            if me.authenticated == 0 {
                                ladder.note(
                                    now,
                                    who,
                                    "first SRTP packet authenticated and decrypted",
                                );
                            }
                            me.authenticated += 1;
                        } else {
                            me.wrong_payload += 1;
                        }
                    }
                    Event::Stats { .. } => me.rtcp += 1,
                    Event::Modified { renewed, .. } => {
                        me.modified += 1;
                        let what = if renewed {
                            "re-INVITE done: new association (new tls-id, new port) verified; old one released"
                        } else {
                            "re-INVITE done: association kept, SRTP continues"
                        };
                        ladder.note(now, who, what);
                    }
                    Event::ModifyFailed { status, .. } => {
                        ladder.note(now, who, &format!("re-INVITE refused: {status}"))
                    }
                    Event::Terminated { reason, .. } => {
                        me.ended = Some(reason);
                        ladder.note(now, who, &format!("call ended ({reason:?})"));
                    }
                    _ => {}
                }
            }
        }
        // Transmits, through the "network".
        for who in [Party::Alice, Party::Bob] {
            let me = match who {
                Party::Alice => &mut alice,
                Party::Bob => &mut bob,
            };
            while let Some(mut t) = me.ep.poll_transmit() {
                busy = true;
                let now = Instant::now();
                if t.local == me.socks.sip_addr {
                    if who == Party::Bob {
                        if let Some(m) = &mallory {
                            let text =
                                String::from_utf8_lossy(&t.bytes).replace(&me.fingerprint, m);
                            if text.len() == t.bytes.len() && text.as_bytes() != &t.bytes[..] {
                                t.bytes = text.into_bytes();
                                ladder.note(
                                    now,
                                    who,
                                    "(a middlebox rewrites a=fingerprint in Bob's SDP)",
                                );
                            }
                        }
                        let is_invite_2xx = t.bytes.starts_with(b"SIP/2.0 200")
                            && String::from_utf8_lossy(&t.bytes).contains(" INVITE\r\n");
                        if sc == Scenario::Basic && is_invite_2xx && !me.first_dtls_seen {
                            me.first_dtls_seen = true; // hold only the first 2xx (not retransmissions)
                            ladder.note(
                                now,
                                who,
                                "(the network delays Bob's 200 OK: his ClientHello arrives first, F-5.8)",
                            );
                            held.push(Held { t, since: now });
                            continue;
                        }
                    }
                    ladder.arrow(now, who, &describe_sip(&t.bytes));
                } else if classify(&t.bytes) == PacketKind::Dtls {
                    ladder.arrow(
                        now,
                        who,
                        &format!("DTLS {} ({} B)", describe_dtls(&t.bytes), t.bytes.len()),
                    );
                }
                me.socks.send(&t);
            }
        }
        // Release the held 200 OK once Alice's handshake is done (or after 300 ms).
        let now = Instant::now();
        let release = alice.connected.is_some();
        let mut i = 0;
        while i < held.len() {
            if release || now.duration_since(held[i].since) >= Duration::from_millis(300) {
                let h = held.remove(i);
                ladder.arrow(now, Party::Bob, &describe_sip(&h.t.bytes));
                bob.socks.send(&h.t);
                busy = true;
            } else {
                i += 1;
            }
        }
        for a in [&mut alice, &mut bob] {
            a.socks.top_up(&mut a.ep)?;
        }
        // Media: once both sides hold verified keys (early media: before the 200).
        if media_start.is_none() && alice.verified && bob.verified && hung_up_at.is_none() {
            media_start = Some(now);
            ladder.note(
                now,
                Party::Alice,
                &format!("media: {} PCMU packets each way", args.packets),
            );
        }
        if let Some(t0) = media_start {
            while next_index < args.packets && now >= t0 + pace * next_index && done_at.is_none() {
                alice.send_frame(now, next_index);
                bob.send_frame(now, next_index);
                next_index += 1;
                busy = true;
            }
            status.update(&alice_status(&alice, now.duration_since(t0)));
            // Mid-call actions.
            if !modify_sent && next_index >= args.packets / 2 {
                if let Some(call) = alice.call {
                    let r = match sc {
                        Scenario::Reinvite => Some(alice.ep.reinvite(now, call)),
                        Scenario::Rekey => Some(alice.ep.rekey(now, call)),
                        _ => None,
                    };
                    if let Some(r) = r {
                        r.map_err(|e| Failure::new(Exit::Signalling, format!("re-INVITE: {e}")))?;
                        ladder.note(now, Party::Alice, "sends a re-INVITE");
                    }
                }
                modify_sent = true;
            }
            if early_until.is_some_and(|t| now >= t) {
                early_until = None;
                if let Some(call) = bob.call {
                    ladder.note(now, Party::Bob, "early media done: answers with 200");
                    bob.ep
                        .answer(now, call)
                        .map_err(|e| Failure::new(Exit::Signalling, format!("answer: {e}")))?;
                }
            }
            let modify_done =
                !matches!(sc, Scenario::Reinvite | Scenario::Rekey) || alice.modified > 0;
            let answered = sc != Scenario::EarlyMedia || (alice.established && bob.established);
            if next_index == args.packets && done_at.is_none() {
                done_at = Some(now);
            }
            if let Some(t) = done_at {
                let all_in = alice.authenticated + alice.wrong_payload >= bob.sent
                    && bob.authenticated + bob.wrong_payload >= alice.sent;
                if hung_up_at.is_none()
                    && ((all_in && modify_done && answered)
                        || now.duration_since(t) > Duration::from_secs(2))
                {
                    if let Some(call) = alice.call {
                        let _ = alice.ep.hangup(now, call);
                    }
                    hung_up_at = Some(now);
                }
            }
        }
        // Done when both calls ended, or 2 s after our BYE or a mismatch (the peer may never answer).
        if alice.mismatch || bob.mismatch {
            mismatch_at.get_or_insert(now);
        }
        let grace =
            |t: Option<Instant>| t.is_some_and(|t| now.duration_since(t) > Duration::from_secs(2));
        if (alice.ended.is_some() && bob.ended.is_some()) || grace(hung_up_at) || grace(mismatch_at)
        {
            break;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    status.finish();
    let end = Instant::now();
    summary(&alice, &bob, start, end, &ladder);
    if alice.mismatch || bob.mismatch {
        return Err(Failure::new(
            Exit::FingerprintMismatch,
            "a certificate did not match its a=fingerprint: no media",
        ));
    }
    if !(alice.verified && bob.verified) {
        return Err(Failure::new(
            Exit::Dtls,
            "the DTLS handshake did not complete in time",
        ));
    }
    if matches!(sc, Scenario::Reinvite | Scenario::Rekey) && alice.modified == 0 {
        return Err(Failure::new(
            Exit::Signalling,
            "the re-INVITE did not complete",
        ));
    }
    let clean = |a: &Agent| a.wrong_payload == 0 && a.authenticated > 0;
    if !(clean(&alice) && clean(&bob)) {
        return Err(Failure::new(
            Exit::NoMedia,
            "media did not authenticate both ways",
        ));
    }
    say!("RESULT: SIP call with DTLS-SRTP, fingerprints verified, media authenticated both ways");
    let mut last = alice_status(&alice, end.duration_since(start));
    last.state = "ended".into();
    output::summary(&last, "media authenticated both ways", 0);
    Ok(())
}

fn alice_status(alice: &Agent, elapsed: Duration) -> Status {
    let rx = alice.rx.stats();
    Status {
        state: if alice.established { "media" } else { "early" }.into(),
        profile: alice.connected.as_ref().map(|c| c.0.clone()),
        elapsed,
        packets_out: u64::from(alice.sent),
        packets_in: u64::from(alice.authenticated),
        lost: rx.lost,
        loss: rx.loss_fraction(),
        jitter_ms: rx.jitter_ms(),
    }
}

fn summary(alice: &Agent, bob: &Agent, start: Instant, end: Instant, ladder: &Ladder) {
    say!("");
    say!(
        "Summary ({:.0} ms, {} ladder lines)",
        end.duration_since(start).as_secs_f64() * 1000.0,
        ladder.lines
    );
    if let Some((profile, _)) = alice.connected.as_ref().or(bob.connected.as_ref()) {
        say!("  SRTP profile: {profile}");
    }
    let client = match (&alice.connected, &bob.connected) {
        (Some((_, DtlsRole::Client)), _) => "Alice (a=setup:active); DTLS server: Bob",
        (_, Some((_, DtlsRole::Client))) => "Bob (a=setup:active); DTLS server: Alice",
        _ => "none",
    };
    say!("  DTLS client: {client}");
    let verified = |a: &Agent| {
        if a.verified && !a.mismatch {
            "verified"
        } else {
            "NOT verified"
        }
    };
    say!(
        "  Bob's certificate   {}: {} by Alice",
        bob.fingerprint,
        verified(alice)
    );
    say!(
        "  Alice's certificate {}: {} by Bob",
        alice.fingerprint,
        verified(bob)
    );
    for (from, to) in [(alice, bob), (bob, alice)] {
        say!(
            "  {} -> {}: {} RTP sent, {} authenticated, {} lost, {} wrong payload; SRTCP reports received {}",
            from.name(),
            to.name(),
            from.sent,
            to.authenticated,
            from.sent.saturating_sub(to.authenticated + to.wrong_payload),
            to.wrong_payload,
            to.rtcp
        );
    }
}
