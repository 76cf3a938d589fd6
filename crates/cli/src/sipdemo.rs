//! `dtlsrtp demo` over SIP: Alice and Bob (and Carol, when forking) are [`Endpoint`](dtlsrtp::Endpoint)s
//! (SIP user agent + SDP + media port), each on its own tokio driver ([`EndpointHandle`]) with UDP sockets on
//! 127.0.0.1. Alice calls Bob over SIP; DTLS runs on the media path; each certificate is checked against the
//! `a=fingerprint` of the other's SDP; PCMU flows both ways over SRTP; Alice hangs up.
//!
//! The demo's "network" is an interposer on each driver's datagram path ([`crate::demowire`]): it draws the
//! ladder (SIP messages, DTLS flights, with times) and, per scenario, delays Bob's 200 OK behind his
//! ClientHello (F-5.8) or rewrites his fingerprint (a man in the middle, F-5.15). The forking scenario puts
//! the workspace's one forking proxy ([`ProxyHandle`]) between Alice and her two callees.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dtlsrtp::Certificate;
use dtlsrtp::{CallId, CallOptions, Config as EpConfig, EndReason, Event};
use dtlsrtp_tokio::endpoint::{DriverOptions, EndpointHandle};
use dtlsrtp_tokio::interpose::{proxy, Interpose, ProxyHandle};
use dtlsrtp_tokio::DriverError;
use dtlsrtp_types::{DtlsRole, HashFunction};

use crate::demo::{tone_payload, DemoArgs, Scenario};
use crate::demowire::{with_ladder, SharedLadder, Tricks, Wire};
use crate::ladder::{Ladder, Party};
use crate::output::{self, Status, StatusLine};
use crate::{say, Exit, Failure};
use dtlsrtp_audio::g711::Law;
use dtlsrtp_audio::jitter::JitterBuffer;

const SAMPLES: u32 = 160;

/// One user agent of the demo: an endpoint on its own tokio driver, with the demo's interposer on its path.
struct Agent {
    party: Party,
    h: EndpointHandle,
    wire: Arc<Wire>,
    sip: SocketAddr,
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

/// How one agent is set up.
struct Setup {
    hz: f64,
    best_effort: bool,
    /// A forged fingerprint the network substitutes for this agent's in its SDP (F-5.15).
    forged: Option<String>,
    /// The network holds this agent's first 200 OK to the INVITE (F-5.8).
    hold_first_200: bool,
}

impl Agent {
    async fn new(
        party: Party,
        args: &DemoArgs,
        setup: Setup,
        ladder: &SharedLadder,
    ) -> Result<Self, Failure> {
        let name = match party {
            Party::Alice => "alice",
            Party::Bob => "bob",
            Party::Carol => "carol",
        };
        let cert = Certificate::generate(args.key_type.into(), name, 30).map_err(local)?;
        let fingerprint = cert
            .fingerprint(HashFunction::Sha256)
            .map_err(local)?
            .to_string();
        let tricks = Tricks {
            forge: setup.forged.map(|f| (fingerprint.clone(), f)),
            hold_first_200: setup.hold_first_200,
        };
        let wire = Arc::new(Wire::new(party, ladder.clone(), tricks));
        let mut opts = DriverOptions::new(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        opts.interpose = Some(Interpose(wire.clone()));
        let best_effort = setup.best_effort;
        let h = EndpointHandle::start(opts, move |sip, seed| {
            let mut cfg = EpConfig::new(name, "127.0.0.1", sip, cert, seed);
            cfg.best_effort = best_effort;
            cfg.dtls_initial_retransmit = Some(Duration::from_millis(200));
            cfg
        })
        .await
        .map_err(local)?;
        let sip = h.sip_udp();
        wire.set_sip(sip);
        Ok(Self {
            party,
            h,
            wire,
            sip,
            fingerprint,
            hz: setup.hz,
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
            next_index: 0,
            forks_verified: 0,
            auth_by: [0; 3],
            rx: HashMap::new(),
            start: Instant::now(),
        })
    }

    fn name(&self) -> &'static str {
        party_name(self.party)
    }

    /// Sends the frames due since `t0` (one per `pace`), up to `limit` in all.
    async fn send_due(&mut self, now: Instant, t0: Instant, pace: Duration, limit: u32) -> bool {
        let mut any = false;
        while self.next_index < limit && now >= t0 + pace * self.next_index {
            self.send_frame(self.next_index).await;
            self.next_index += 1;
            any = true;
        }
        any
    }

    /// Sends frame `index` of this agent's tone (timestamp = index × 160, so the receiver knows what to expect).
    async fn send_frame(&mut self, index: u32) {
        let Some(call) = self.call else { return };
        let payload = tone_payload(self.hz, index).to_vec();
        // Fire and forget: the endpoint drops (never sends in the clear) a frame it has no keys for.
        if self
            .h
            .send_audio(call, 0, index.wrapping_mul(SAMPLES), payload)
            .await
            .is_ok()
        {
            self.sent += 1;
        }
    }
}

fn local(e: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Local, e.to_string())
}

const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;

fn signalling(what: &str) -> impl FnOnce(DriverError) -> Failure + '_ {
    move |e| Failure::new(Exit::Signalling, format!("{what}: {e}"))
}

/// Runs the SIP demo; `Ok` only when media authenticated both ways.
pub(crate) fn run(args: &DemoArgs) -> Result<(), Failure> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| local(format!("runtime: {e}")))?;
    rt.block_on(run_on_driver(args))
}

fn party(i: usize) -> Party {
    match i {
        ALICE => Party::Alice,
        BOB => Party::Bob,
        _ => Party::Carol,
    }
}

/// The next event of an agent (never, for an absent one).
async fn next_event(a: Option<&mut Agent>) -> Option<Event> {
    match a {
        Some(a) => a.h.next_event().await,
        None => std::future::pending().await,
    }
}

/// What the demo loop tracks between turns.
#[derive(Default)]
struct Progress {
    early_start: Option<Instant>,
    early_done_at: Option<Instant>,
    bob_answered: bool,
    media_start: Option<Instant>,
    done_at: Option<Instant>,
    hung_up_at: Option<Instant>,
    mismatch_at: Option<Instant>,
    modify_sent: bool,
    /// When the next frame is due (the loop wakes then).
    next_frame: Option<Instant>,
}

impl Progress {
    /// Notes that frame `index` of a stream starting at `t0` is due, if it is below `limit`.
    fn due(&mut self, t0: Instant, pace: Duration, index: u32, limit: u32) {
        if index < limit {
            let t = t0 + pace * index;
            self.next_frame = Some(self.next_frame.map_or(t, |n| n.min(t)));
        }
    }
}

async fn run_on_driver(args: &DemoArgs) -> Result<(), Failure> {
    let start = Instant::now();
    output::init(args.out.json, args.out.verbosity());
    let sc = args.scenario;
    let forking = sc == Scenario::Forking;
    let ladder: SharedLadder = Arc::new(Mutex::new(Ladder::unprinted(start)));
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
    let setup = |hz, best_effort| Setup {
        hz,
        best_effort,
        forged: None,
        hold_first_200: false,
    };
    let mut ag: Vec<Agent> = vec![
        Agent::new(
            Party::Alice,
            args,
            setup(440.0, sc == Scenario::BestEffort),
            &ladder,
        )
        .await?,
        Agent::new(
            Party::Bob,
            args,
            Setup {
                forged: mallory,
                hold_first_200: sc == Scenario::Basic,
                ..setup(660.0, false)
            },
            &ladder,
        )
        .await?,
    ];
    if forking {
        ag.push(Agent::new(Party::Carol, args, setup(880.0, false), &ladder).await?);
    }
    let hzs: Vec<f64> = ag.iter().map(|a| a.hz).collect();
    // The forking proxy (the workspace's one proxy, on its own socket): it rings Bob and Carol and tells the
    // ladder what it forked and cancelled.
    let proxy = if forking {
        let callees: Vec<(SocketAddr, Party)> =
            ag.iter().skip(1).map(|a| (a.sip, a.party)).collect();
        let targets = callees.iter().map(|c| c.0).collect();
        let l = ladder.clone();
        let on_note = move |n: proxy::Note| {
            let (to, what) = match n {
                proxy::Note::Forked(t) => (t, "proxy: INVITE forked to me"),
                proxy::Note::Cancelled(t) => (t, "proxy: CANCEL (another branch answered)"),
                _ => return,
            };
            if let Some((_, p)) = callees.iter().find(|c| c.0 == to) {
                with_ladder(&l, |l| l.note(Instant::now(), *p, what));
            }
        };
        let localhost = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let p = ProxyHandle::start(localhost, |a| proxy::Proxy::new(a, targets), on_note)
            .await
            .map_err(local)?;
        Some(p)
    } else {
        None
    };
    let target = match &proxy {
        Some(p) => format!("sip:bob@{}", p.addr()),
        None => format!("sip:bob@{}", ag[BOB].sip),
    };
    say!(
        "dtlsrtp demo ({sc:?}): Alice sip:alice@{} calls {target} over SIP/UDP",
        ag[ALICE].sip
    );
    if let Some(p) = &proxy {
        say!(
            "  a forking proxy at {} rings Bob sip:bob@{} and Carol sip:carol@{}",
            p.addr(),
            ag[BOB].sip,
            ag[CAROL].sip
        );
    }
    for a in &ag {
        say!("  {:<5} a=fingerprint:{}", a.name(), a.fingerprint);
    }
    with_ladder(&ladder, |l| l.header());
    let opts = if sc == Scenario::DelayedOffer {
        CallOptions::delayed_offer()
    } else {
        CallOptions::default()
    };
    let call = ag[ALICE]
        .h
        .dial(&target, opts)
        .await
        .map_err(signalling("dial"))?;
    ag[ALICE].call = Some(call);

    let pace = Duration::from_millis(args.pace_ms);
    let early_n = (args.packets / 2).max(1);
    let deadline = start + Duration::from_secs(20) + pace * (args.packets + early_n);
    let mut pr = Progress::default();
    let mut status = StatusLine::new(Duration::from_secs(1));
    while Instant::now() < deadline {
        // Wait for an event, the next frame, or at most 5 ms (the held 200's and the script's deadlines).
        let soon = Instant::now() + Duration::from_millis(5);
        let wake = pr.next_frame.map_or(soon, |t| t.min(soon));
        let woke = {
            let mut it = ag.iter_mut();
            let (a0, a1, a2) = (it.next(), it.next(), it.next());
            tokio::select! {
                Some(e) = next_event(a0) => Some((ALICE, e)),
                Some(e) = next_event(a1) => Some((BOB, e)),
                Some(e) = next_event(a2) => Some((CAROL, e)),
                () = tokio::time::sleep_until(wake.into()) => None,
            }
        };
        if let Some((i, e)) = woke {
            on_event(&mut ag[i], i, e, sc, &hzs, &ladder).await?;
        }
        for (i, a) in ag.iter_mut().enumerate() {
            while let Ok(e) = a.h.events().try_recv() {
                on_event(a, i, e, sc, &hzs, &ladder).await?;
            }
        }
        if turn(&mut ag, &mut pr, args, &ladder, &mut status).await? {
            break;
        }
    }
    status.finish();
    tracing::debug!(
        alice_next = ag[ALICE].next_index,
        bob_next = ag[BOB].next_index,
        done_at = ?pr.done_at,
        hung_up_at = ?pr.hung_up_at,
        media_start = ?pr.media_start,
        "demo loop ended"
    );
    let end = Instant::now();
    let lines = with_ladder(&ladder, |l| l.lines);
    summary(&ag, start, end, lines);
    for a in ag.iter_mut() {
        if let Some(call) = a.call.filter(|_| a.ended.is_none()) {
            let _ = a.h.hangup(call).await;
        }
    }
    let result = verdict(&ag, sc, start, end);
    for a in ag {
        let _ = a.h.shutdown().await;
    }
    if let Some(p) = proxy {
        p.shutdown().await;
    }
    result
}

/// One event of agent `i`.
async fn on_event(
    me: &mut Agent,
    i: usize,
    ev: Event,
    sc: Scenario,
    hzs: &[f64],
    ladder: &SharedLadder,
) -> Result<(), Failure> {
    let who = party(i);
    let other_name = if i == ALICE { "the callee" } else { "Alice" };
    let now = Instant::now();
    let note = |what: &str| with_ladder(ladder, |l| l.note(now, who, what));
    match ev {
        Event::IncomingCall { call, .. } => {
            me.call = Some(call);
            note("incoming call: SDP offer accepted by the negotiator");
            me.h.ring(call).await.map_err(signalling("answer"))?;
            if sc == Scenario::EarlyMedia || sc == Scenario::Forking {
                me.h.early_media(call).await.map_err(signalling("answer"))?;
            } else {
                me.h.answer(call).await.map_err(signalling("answer"))?;
            }
        }
        Event::EarlyMedia { .. } => {
            note("183 with SDP: this early dialog's fingerprint bound to its fork");
        }
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
            note(&format!(
                "DTLS connected with {remote} ({profile}), DTLS {role:?}{gate}"
            ));
        }
        Event::FingerprintVerified { remote, .. } => {
            me.verified = true;
            me.forks_verified += 1;
            note(&format!(
                "certificate of {other_name} at {remote} matches its a=fingerprint: keys released"
            ));
        }
        Event::FingerprintMismatch { .. } => {
            me.mismatch = true;
            note("FINGERPRINT MISMATCH: media torn down (F-5.15), BYE");
        }
        Event::Established { .. } => {
            me.established = true;
            note("call established");
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
            let from =
                (0..hzs.len()).find(|&j| j != i && payload[..] == tone_payload(hzs[j], index)[..]);
            match from {
                Some(j) => {
                    if me.auth_by[j] == 0 {
                        note(&format!(
                            "first SRTP packet authenticated and decrypted (from {})",
                            party_name(party(j))
                        ));
                    }
                    me.auth_by[j] += 1;
                }
                None => me.wrong_payload += 1,
            }
        }
        Event::Stats { .. } => me.rtcp += 1,
        Event::Modified { renewed, .. } => {
            me.modified += 1;
            note(if renewed {
                "re-INVITE done: new association (new tls-id, new port) verified; old one released"
            } else {
                "re-INVITE done: association kept, SRTP continues"
            });
        }
        Event::ModifyFailed { status, .. } => note(&format!("re-INVITE refused: {status}")),
        Event::ForkEnded { .. } => note("an early dialog ended: its association closed"),
        Event::Terminated { reason, .. } => {
            me.ended = Some(reason);
            note(&format!("call ended ({reason:?})"));
        }
        _ => {}
    }
    Ok(())
}

/// One turn of the demo's script after the events: release the held 200, early media, media, the re-INVITE,
/// the hangup. Returns true when the demo is over.
async fn turn(
    ag: &mut [Agent],
    pr: &mut Progress,
    args: &DemoArgs,
    ladder: &SharedLadder,
    status: &mut StatusLine,
) -> Result<bool, Failure> {
    let sc = args.scenario;
    let forking = sc == Scenario::Forking;
    let pace = Duration::from_millis(args.pace_ms);
    let early_n = (args.packets / 2).max(1);
    let now = Instant::now();
    let note = |who: Party, what: &str| with_ladder(ladder, |l| l.note(now, who, what));
    pr.next_frame = None;
    // Release the held 200 OK once Alice's handshake is done (or after 300 ms).
    if let Some(since) = ag[BOB].wire.held_since() {
        if ag[ALICE].connected.is_some() || now.duration_since(since) >= Duration::from_millis(300)
        {
            ag[BOB].wire.release();
        }
    }
    // Forking, phase 1: both callees send early media, each verified on its own fork (F-6.3); then Bob
    // answers and the proxy cancels Carol.
    if forking && !pr.bob_answered {
        if pr.early_start.is_none()
            && ag[ALICE].forks_verified >= 2
            && ag[BOB].verified
            && ag[CAROL].verified
        {
            pr.early_start = Some(now);
            note(
                Party::Bob,
                &format!("early media: {early_n} PCMU packets from each callee"),
            );
        }
        if let Some(t0) = pr.early_start {
            ag[BOB].send_due(now, t0, pace, early_n).await;
            ag[CAROL].send_due(now, t0, pace, early_n).await;
            pr.due(t0, pace, ag[BOB].next_index, early_n);
            pr.due(t0, pace, ag[CAROL].next_index, early_n);
            if ag[BOB].next_index == early_n && ag[CAROL].next_index == early_n {
                let t = *pr.early_done_at.get_or_insert(now);
                let all_in = ag[ALICE].auth_by[BOB] >= ag[BOB].sent
                    && ag[ALICE].auth_by[CAROL] >= ag[CAROL].sent;
                if all_in || now.duration_since(t) > Duration::from_secs(1) {
                    if let Some(c) = ag[BOB].call {
                        note(Party::Bob, "early media done: answers with 200");
                        ag[BOB].h.answer(c).await.map_err(signalling("answer"))?;
                    }
                    pr.bob_answered = true;
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
    if pr.media_start.is_none() && ready && pr.hung_up_at.is_none() {
        pr.media_start = Some(now);
        note(
            Party::Alice,
            &format!("media: {} PCMU packets each way", args.packets),
        );
    }
    if let Some(t0) = pr.media_start {
        // Bob's frames continue his early-media numbering (one RTP timestamp line per stream).
        let bob_base = if forking { early_n } else { 0 };
        let bob_t0 = t0.checked_sub(pace * bob_base).unwrap_or(t0);
        if pr.done_at.is_none() {
            ag[ALICE].send_due(now, t0, pace, args.packets).await;
            ag[BOB]
                .send_due(now, bob_t0, pace, bob_base + args.packets)
                .await;
            pr.due(t0, pace, ag[ALICE].next_index, args.packets);
            pr.due(bob_t0, pace, ag[BOB].next_index, bob_base + args.packets);
        }
        status.update(&alice_status(&ag[ALICE], now.duration_since(t0)));
        if !pr.modify_sent && ag[ALICE].next_index >= args.packets / 2 {
            modify(ag, sc, &note).await?;
            pr.modify_sent = true;
        }
        let modify_done =
            !matches!(sc, Scenario::Reinvite | Scenario::Rekey) || ag[ALICE].modified > 0;
        let answered = sc != Scenario::EarlyMedia || (ag[ALICE].established && ag[BOB].established);
        if ag[ALICE].next_index == args.packets
            && ag[BOB].next_index == bob_base + args.packets
            && pr.done_at.is_none()
        {
            pr.done_at = Some(now);
        }
        if let Some(t) = pr.done_at {
            let all_in = ag[ALICE].auth_by[BOB] + ag[ALICE].wrong_payload >= ag[BOB].sent
                && ag[BOB].auth_by[ALICE] + ag[BOB].wrong_payload >= ag[ALICE].sent;
            if pr.hung_up_at.is_none()
                && ((all_in && modify_done && answered)
                    || now.duration_since(t) > Duration::from_secs(2))
            {
                if let Some(call) = ag[ALICE].call {
                    let _ = ag[ALICE].h.hangup(call).await;
                }
                pr.hung_up_at = Some(now);
            }
        }
    }
    // Done when every call ended, or 2 s after our BYE or a mismatch (the peer may never answer).
    if ag.iter().any(|a| a.mismatch) {
        pr.mismatch_at.get_or_insert(now);
    }
    let grace =
        |t: Option<Instant>| t.is_some_and(|t| now.duration_since(t) > Duration::from_secs(2));
    Ok(ag.iter().all(|a| a.ended.is_some()) || grace(pr.hung_up_at) || grace(pr.mismatch_at))
}

/// Halfway through the media: Alice's re-INVITE (reinvite, rekey) or Bob's 200 (early media).
async fn modify(
    ag: &mut [Agent],
    sc: Scenario,
    note: &impl Fn(Party, &str),
) -> Result<(), Failure> {
    if let Some(call) = ag[ALICE].call {
        let r = match sc {
            Scenario::Reinvite => Some(ag[ALICE].h.reinvite(call).await),
            Scenario::Rekey => Some(ag[ALICE].h.rekey(call).await),
            _ => None,
        };
        if let Some(r) = r {
            r.map_err(signalling("re-INVITE"))?;
            note(Party::Alice, "sends a re-INVITE");
        }
    }
    if sc == Scenario::EarlyMedia {
        if let Some(call) = ag[BOB].call {
            note(Party::Bob, "early media done: answers with 200");
            ag[BOB].h.answer(call).await.map_err(signalling("answer"))?;
        }
    }
    Ok(())
}

/// The demo's result: `Ok` only when media authenticated both ways (and the scenario's extra did happen).
fn verdict(ag: &[Agent], sc: Scenario, start: Instant, end: Instant) -> Result<(), Failure> {
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
    if sc == Scenario::Forking {
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

fn party_name(p: Party) -> &'static str {
    match p {
        Party::Alice => "Alice",
        Party::Bob => "Bob",
        Party::Carol => "Carol",
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

fn summary(ag: &[Agent], start: Instant, end: Instant, lines: usize) {
    say!("");
    say!(
        "Summary ({:.0} ms, {} ladder lines)",
        end.duration_since(start).as_secs_f64() * 1000.0,
        lines
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
