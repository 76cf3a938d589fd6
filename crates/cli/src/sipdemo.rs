//! `dtlsrtp demo` over SIP: Alice and Bob are two [`Endpoint`]s (SIP user agent + SDP + media port) in one
//! process, each with its own UDP sockets on 127.0.0.1. Alice calls Bob over SIP; DTLS runs on the media path;
//! each certificate is checked against the `a=fingerprint` of the other's SDP; PCMU flows both ways over SRTP;
//! Alice hangs up. Every datagram goes through this loop, which prints the ladder (SIP messages, DTLS flights,
//! first SRTP each way, with times) and, per scenario, plays the network: it delays Bob's 200 OK behind his
//! ClientHello (F-5.8) or rewrites his fingerprint (a man in the middle, F-5.15).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use dtlsrtp::{CallId, CallOptions, Config as EpConfig, EndReason, Endpoint, Event, Transmit};
use dtlsrtp_dtls::{Certificate, HashFunction};
use dtlsrtp_media::{classify, PacketKind};
use dtlsrtp_srtp::DtlsRole;

use crate::demo::{tone_payload, DemoArgs, Scenario};
use crate::demoproxy::{Proxy, ProxyNote};
use crate::ladder::{describe_dtls, Ladder, Party};
use crate::output::{self, Status, StatusLine};
use crate::sockets::Sockets;
use crate::{os_random, say, Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::jitter::JitterBuffer;

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
    wrong_payload: u32,
    rtcp: u32,
    first_dtls_seen: bool,
    /// Next frame index to send.
    next_index: u32,
    /// Fingerprints verified (one per fork at the caller).
    forks_verified: u32,
    /// Authenticated packets with the expected payload, by sender (Alice, Bob, Carol).
    auth_by: [u32; 3],
    /// The receive path per SSRC (RFC 3550 loss and jitter of what authenticated).
    rx: HashMap<u32, JitterBuffer>,
    start: Instant,
}

impl Agent {
    fn new(party: Party, args: &DemoArgs, hz: f64, best_effort: bool) -> Result<Self, Failure> {
        let name = match party {
            Party::Alice => "alice",
            Party::Bob => "bob",
            Party::Carol => "carol",
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
            wrong_payload: 0,
            rtcp: 0,
            first_dtls_seen: false,
            next_index: 0,
            forks_verified: 0,
            auth_by: [0; 3],
            rx: HashMap::new(),
            start: Instant::now(),
        })
    }

    fn name(&self) -> &'static str {
        match self.party {
            Party::Alice => "Alice",
            Party::Bob => "Bob",
            Party::Carol => "Carol",
        }
    }

    /// Sends the frames due since `t0` (one per `pace`), up to `limit` in all.
    fn send_due(&mut self, now: Instant, t0: Instant, pace: Duration, limit: u32) -> bool {
        let mut any = false;
        while self.next_index < limit && now >= t0 + pace * self.next_index {
            self.send_frame(now, self.next_index);
            self.next_index += 1;
            any = true;
        }
        any
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

const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;

fn party(i: usize) -> Party {
    match i {
        ALICE => Party::Alice,
        BOB => Party::Bob,
        _ => Party::Carol,
    }
}

fn signalling(what: &str) -> impl FnOnce(dtlsrtp::Error) -> Failure + '_ {
    move |e| Failure::new(Exit::Signalling, format!("{what}: {e}"))
}

/// Runs the SIP demo; `Ok` only when media authenticated both ways.
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    let start = Instant::now();
    output::init(args.out.json, args.out.verbosity());
    let sc = args.scenario;
    let forking = sc == Scenario::Forking;
    let mut ag: Vec<Agent> = vec![
        Agent::new(Party::Alice, args, 440.0, sc == Scenario::BestEffort)?,
        Agent::new(Party::Bob, args, 660.0, false)?,
    ];
    if forking {
        ag.push(Agent::new(Party::Carol, args, 880.0, false)?);
    }
    let hzs: Vec<f64> = ag.iter().map(|a| a.hz).collect();
    let mut proxy = if forking {
        Some(Proxy::bind(ag.iter().skip(1).map(|a| a.socks.sip_addr).collect()).map_err(local)?)
    } else {
        None
    };
    let target = match &proxy {
        Some(p) => format!("sip:bob@{}", p.addr),
        None => format!("sip:bob@{}", ag[BOB].socks.sip_addr),
    };
    say!(
        "dtlsrtp demo ({sc:?}): Alice sip:alice@{} calls {target} over SIP/UDP",
        ag[ALICE].socks.sip_addr
    );
    if let Some(p) = &proxy {
        say!(
            "  a forking proxy at {} rings Bob sip:bob@{} and Carol sip:carol@{}",
            p.addr,
            ag[BOB].socks.sip_addr,
            ag[CAROL].socks.sip_addr
        );
    }
    for a in &ag {
        say!("  {:<5} a=fingerprint:{}", a.name(), a.fingerprint);
    }
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
    let call = ag[ALICE]
        .ep
        .dial(Instant::now(), &target, opts)
        .map_err(signalling("dial"))?;
    ag[ALICE].call = Some(call);

    let pace = Duration::from_millis(args.pace_ms);
    let early_n = (args.packets / 2).max(1);
    let deadline = start + Duration::from_secs(20) + pace * (args.packets + early_n);
    let mut held: Vec<Held> = Vec::new();
    let mut early_start: Option<Instant> = None;
    let mut early_done_at: Option<Instant> = None;
    let mut bob_answered = false;
    let mut media_start: Option<Instant> = None;
    let mut done_at: Option<Instant> = None;
    let mut hung_up_at: Option<Instant> = None;
    let mut mismatch_at: Option<Instant> = None;
    let mut modify_sent = false;
    let mut buf = vec![0u8; 65_536];
    let mut status = StatusLine::new(Duration::from_secs(1));
    while Instant::now() < deadline {
        let now = Instant::now();
        let mut busy = false;
        for a in ag.iter_mut() {
            busy |= a.socks.receive(&mut a.ep, &mut buf);
            if a.ep.poll_timeout().is_some_and(|t| t <= now) {
                a.ep.handle_timeout(now);
            }
        }
        if let Some(p) = proxy.as_mut() {
            for n in p.poll(&mut buf) {
                busy = true;
                let (to, what) = match n {
                    ProxyNote::Forked(t) => (t, "proxy: INVITE forked to me"),
                    ProxyNote::Cancelled(t) => (t, "proxy: CANCEL (another branch answered)"),
                };
                if let Some(i) = ag.iter().position(|a| a.socks.sip_addr == to) {
                    ladder.note(now, party(i), what);
                }
            }
        }
        // Events.
        for (i, me) in ag.iter_mut().enumerate() {
            let who = party(i);
            let other_name = if i == ALICE { "the callee" } else { "Alice" };
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
                        let early = sc == Scenario::EarlyMedia || forking;
                        let r = if early {
                            me.ep
                                .ring(now, call)
                                .and_then(|()| me.ep.early_media(now, call))
                        } else {
                            me.ep.ring(now, call).and_then(|()| me.ep.answer(now, call))
                        };
                        r.map_err(signalling("answer"))?;
                    }
                    Event::EarlyMedia { .. } => ladder.note(
                        now,
                        who,
                        "183 with SDP: this early dialog's fingerprint bound to its fork",
                    ),
                    Event::DtlsConnected {
                        profile,
                        role,
                        remote,
                        ..
                    } => {
                        me.connected = Some((profile.to_string(), role));
                        let gate = if me.forks_verified > 0 {
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
                    Event::FingerprintVerified { remote, .. } => {
                        me.verified = true;
                        me.forks_verified += 1;
                        ladder.note(
                            now,
                            who,
                            &format!("certificate of {other_name} at {remote} matches its a=fingerprint: keys released"),
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
                        ssrc,
                        seq,
                        ts,
                        payload,
                        verified: true,
                        ..
                    } => {
                        let arrival = (now.duration_since(me.start).as_secs_f64() * 8000.0) as u32;
                        let rx = me
                            .rx
                            .entry(ssrc)
                            .or_insert_with(|| JitterBuffer::new(Law::Pcmu, 3));
                        rx.push(seq, ts, &payload, arrival);
                        while rx.pop().is_some() {}
                        let index = ts / SAMPLES;
                        let from = (0..hzs.len())
                            .find(|&j| j != i && payload[..] == tone_payload(hzs[j], index)[..]);
                        match from {
                            Some(j) => {
                                if me.auth_by[j] == 0 {
                                    ladder.note(
                                        now,
                                        who,
                                        &format!(
                                            "first SRTP packet authenticated and decrypted (from {})",
                                            party_name(j)
                                        ),
                                    );
                                }
                                me.auth_by[j] += 1;
                            }
                            None => me.wrong_payload += 1,
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
                    Event::ForkEnded { .. } => {
                        ladder.note(now, who, "an early dialog ended: its association closed")
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
        for (i, me) in ag.iter_mut().enumerate() {
            let who = party(i);
            while let Some(mut t) = me.ep.poll_transmit() {
                busy = true;
                let now = Instant::now();
                if t.local == me.socks.sip_addr {
                    if i == BOB {
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
                            me.first_dtls_seen = true; // hold only the first 2xx, not retransmissions
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
        let release = ag[ALICE].connected.is_some();
        let mut k = 0;
        while k < held.len() {
            if release || now.duration_since(held[k].since) >= Duration::from_millis(300) {
                let h = held.remove(k);
                ladder.arrow(now, Party::Bob, &describe_sip(&h.t.bytes));
                ag[BOB].socks.send(&h.t);
                busy = true;
            } else {
                k += 1;
            }
        }
        for a in ag.iter_mut() {
            a.socks.top_up(&mut a.ep)?;
        }

        // Forking, phase 1: both callees send early media, each verified on its own fork (F-6.3); then Bob
        // answers and the proxy cancels Carol.
        if forking && !bob_answered {
            if early_start.is_none()
                && ag[ALICE].forks_verified >= 2
                && ag[BOB].verified
                && ag[CAROL].verified
            {
                early_start = Some(now);
                ladder.note(
                    now,
                    Party::Bob,
                    &format!("early media: {early_n} PCMU packets from each callee"),
                );
            }
            if let Some(t0) = early_start {
                busy |= ag[BOB].send_due(now, t0, pace, early_n);
                busy |= ag[CAROL].send_due(now, t0, pace, early_n);
                if ag[BOB].next_index == early_n && ag[CAROL].next_index == early_n {
                    let t = *early_done_at.get_or_insert(now);
                    let all_in = ag[ALICE].auth_by[BOB] >= ag[BOB].sent
                        && ag[ALICE].auth_by[CAROL] >= ag[CAROL].sent;
                    if all_in || now.duration_since(t) > Duration::from_secs(1) {
                        if let Some(c) = ag[BOB].call {
                            ladder.note(now, Party::Bob, "early media done: answers with 200");
                            ag[BOB].ep.answer(now, c).map_err(signalling("answer"))?;
                        }
                        bob_answered = true;
                    }
                }
            }
        }
        // Media both ways between Alice and Bob once both hold verified keys (early media: before the 200;
        // forking: after Bob's 200).
        let ready = if forking {
            ag[ALICE].established && ag[BOB].established
        } else {
            ag[ALICE].verified && ag[BOB].verified
        };
        if media_start.is_none() && ready && hung_up_at.is_none() {
            media_start = Some(now);
            ladder.note(
                now,
                Party::Alice,
                &format!("media: {} PCMU packets each way", args.packets),
            );
        }
        if let Some(t0) = media_start {
            // Bob's frames continue his early-media numbering (one RTP timestamp line per stream).
            let bob_base = if forking { early_n } else { 0 };
            let bob_t0 = t0.checked_sub(pace * bob_base).unwrap_or(t0);
            if done_at.is_none() {
                busy |= ag[ALICE].send_due(now, t0, pace, args.packets);
                busy |= ag[BOB].send_due(now, bob_t0, pace, bob_base + args.packets);
            }
            status.update(&alice_status(&ag[ALICE], now.duration_since(t0)));
            if !modify_sent && ag[ALICE].next_index >= args.packets / 2 {
                if let Some(call) = ag[ALICE].call {
                    let r = match sc {
                        Scenario::Reinvite => Some(ag[ALICE].ep.reinvite(now, call)),
                        Scenario::Rekey => Some(ag[ALICE].ep.rekey(now, call)),
                        _ => None,
                    };
                    if let Some(r) = r {
                        r.map_err(signalling("re-INVITE"))?;
                        ladder.note(now, Party::Alice, "sends a re-INVITE");
                    }
                }
                if sc == Scenario::EarlyMedia {
                    if let Some(call) = ag[BOB].call {
                        ladder.note(now, Party::Bob, "early media done: answers with 200");
                        ag[BOB].ep.answer(now, call).map_err(signalling("answer"))?;
                    }
                }
                modify_sent = true;
            }
            let modify_done =
                !matches!(sc, Scenario::Reinvite | Scenario::Rekey) || ag[ALICE].modified > 0;
            let answered =
                sc != Scenario::EarlyMedia || (ag[ALICE].established && ag[BOB].established);
            if ag[ALICE].next_index == args.packets
                && ag[BOB].next_index == bob_base + args.packets
                && done_at.is_none()
            {
                done_at = Some(now);
            }
            if let Some(t) = done_at {
                let all_in = ag[ALICE].auth_by[BOB] + ag[ALICE].wrong_payload >= ag[BOB].sent
                    && ag[BOB].auth_by[ALICE] + ag[BOB].wrong_payload >= ag[ALICE].sent;
                if hung_up_at.is_none()
                    && ((all_in && modify_done && answered)
                        || now.duration_since(t) > Duration::from_secs(2))
                {
                    if let Some(call) = ag[ALICE].call {
                        let _ = ag[ALICE].ep.hangup(now, call);
                    }
                    hung_up_at = Some(now);
                }
            }
        }
        // Done when every call ended, or 2 s after our BYE or a mismatch (the peer may never answer).
        if ag.iter().any(|a| a.mismatch) {
            mismatch_at.get_or_insert(now);
        }
        let grace =
            |t: Option<Instant>| t.is_some_and(|t| now.duration_since(t) > Duration::from_secs(2));
        if ag.iter().all(|a| a.ended.is_some()) || grace(hung_up_at) || grace(mismatch_at) {
            break;
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    status.finish();
    tracing::debug!(
        alice_next = ag[ALICE].next_index,
        bob_next = ag[BOB].next_index,
        ?done_at,
        ?hung_up_at,
        ?media_start,
        "demo loop ended"
    );
    let end = Instant::now();
    summary(&ag, start, end, &ladder);
    let (alice, bob) = (&ag[ALICE], &ag[BOB]);
    if ag.iter().any(|a| a.mismatch) {
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
    if forking {
        let carol = &ag[CAROL];
        if carol.sent == 0 || alice.auth_by[CAROL] == 0 || carol.ended != Some(EndReason::Cancelled)
        {
            return Err(Failure::new(
                Exit::NoMedia,
                "forking: Carol's early media was not verified on her fork, or her branch was not cancelled",
            ));
        }
    }
    if alice.wrong_payload + bob.wrong_payload > 0
        || alice.auth_by[BOB] == 0
        || bob.auth_by[ALICE] == 0
    {
        return Err(Failure::new(
            Exit::NoMedia,
            "media did not authenticate both ways",
        ));
    }
    say!("RESULT: SIP call with DTLS-SRTP, fingerprints verified, media authenticated both ways");
    let mut last = alice_status(alice, end.duration_since(start));
    last.state = "ended".into();
    output::summary(&last, "media authenticated both ways", 0);
    Ok(())
}

fn party_name(i: usize) -> &'static str {
    match i {
        ALICE => "Alice",
        BOB => "Bob",
        _ => "Carol",
    }
}

fn alice_status(alice: &Agent, elapsed: Duration) -> Status {
    // Every stream Alice receives (one per answering fork): losses add up, the worst jitter shows.
    let lost: u64 = alice.rx.values().map(|j| j.stats().lost).sum();
    let expected: u64 = alice.rx.values().map(|j| j.stats().expected).sum();
    let jitter = alice
        .rx
        .values()
        .map(|j| j.stats().jitter_ms())
        .fold(0.0, f64::max);
    Status {
        state: if alice.established { "media" } else { "early" }.into(),
        profile: alice.connected.as_ref().map(|c| c.0.clone()),
        elapsed,
        packets_out: u64::from(alice.sent),
        packets_in: u64::from(alice.auth_by.iter().sum::<u32>()),
        lost,
        loss: if expected == 0 {
            0.0
        } else {
            lost as f64 / expected as f64
        },
        jitter_ms: jitter,
    }
}

fn summary(ag: &[Agent], start: Instant, end: Instant, ladder: &Ladder) {
    say!("");
    say!(
        "Summary ({:.0} ms, {} ladder lines)",
        end.duration_since(start).as_secs_f64() * 1000.0,
        ladder.lines
    );
    let (alice, bob) = (&ag[ALICE], &ag[BOB]);
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
    for callee in ag.iter().skip(1) {
        say!(
            "  {}'s certificate {}: {} by Alice",
            callee.name(),
            callee.fingerprint,
            verified(alice)
        );
        say!(
            "  Alice's certificate {}: {} by {}",
            alice.fingerprint,
            verified(callee),
            callee.name()
        );
    }
    let line = |from: usize, to: usize| {
        let (f, t) = (&ag[from], &ag[to]);
        say!(
            "  {} -> {}: {} RTP sent, {} authenticated, {} lost, {} wrong payload; SRTCP reports received {}",
            f.name(),
            t.name(),
            f.sent,
            t.auth_by[from],
            f.sent.saturating_sub(t.auth_by[from]),
            t.wrong_payload,
            t.rtcp
        );
    };
    line(ALICE, BOB);
    line(BOB, ALICE);
    if ag.len() > CAROL {
        line(CAROL, ALICE);
        say!(
            "  Carol: {}",
            ag[CAROL]
                .ended
                .map_or("still ringing".to_string(), |r| format!(
                    "call ended ({r:?})"
                ))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_lines_for_the_ladder() {
        let invite = b"INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nm=audio 4000 UDP/TLS/RTP/SAVP 0\r\na=setup:actpass\r\n";
        assert_eq!(
            describe_sip(invite),
            "SIP INVITE + SDP (UDP/TLS/RTP/SAVP, a=fingerprint, a=setup:actpass)"
        );
        let ok = b"SIP/2.0 200 OK\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(describe_sip(ok), "SIP 200 OK (2 BYE)");
        // Garbage never panics.
        for b in [&b""[..], b"\xff\xfe", b"SIP/2.0", b"\r\n\r\nv=0"] {
            let _ = describe_sip(b);
        }
    }
}
