//! W-3, RFC 4733 §2.5.1.2 and §2.5.2 end to end over one simulated RTP stream: a 20 ms G.711 stream whose audio
//! packets give way to telephone-event packets while a key is sent (same SSRC, one sequence-number space, one
//! timestamp clock), through a network that loses, duplicates and reorders (seeded), demultiplexed by payload
//! type at the far end into the jitter buffer and the DTMF receiver. The same keys sent in-band (dual tones in
//! the audio) are found by the Goertzel detector in the received audio.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)] // one real Instant as the origin of the manual clock

use std::time::{Duration, Instant};

use dtlsrtp_audio::dtmf::{DtmfConfig, DtmfDigit, DtmfReceiver, DtmfSender};
use dtlsrtp_audio::goertzel::dtmf_keys;
use dtlsrtp_audio::jitter::JitterBuffer;
use dtlsrtp_audio::packetize::{AudioPacket, Packetizer};
use dtlsrtp_audio::tone::{DualTone, ToneGenerator};
use dtlsrtp_audio::{Law, FRAME};

/// The dynamic payload type of telephone-event in these tests (the usual 101).
const PT_EVENT: u8 = 101;
const SSRC: u32 = 0x5EED_0001;

/// A tiny seeded generator (xorshift64*), so that a failure replays.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The RTP header fields the far end reads (RFC 3550 §5.1).
fn parse(rtp: &[u8]) -> (bool, u8, u16, u32, u32, &[u8]) {
    assert!(rtp.len() >= 12 && rtp[0] == 0x80);
    (
        rtp[1] & 0x80 != 0,
        rtp[1] & 0x7F,
        u16::from_be_bytes([rtp[2], rtp[3]]),
        u32::from_be_bytes([rtp[4], rtp[5], rtp[6], rtp[7]]),
        u32::from_be_bytes([rtp[8], rtp[9], rtp[10], rtp[11]]),
        &rtp[12..],
    )
}

/// Sends `keys` as telephone-events during 3 s of a 440 Hz stream; returns the datagrams with their send time
/// (ms), and the audio timestamp at which each key's event started.
fn send(keys: &str) -> (Vec<(u64, Vec<u8>)>, Vec<u32>) {
    let t0 = Instant::now();
    let mut audio = Packetizer::new(Law::Pcmu, 0, 90_000);
    let mut tone = ToneGenerator::new(440.0, 0.3);
    let mut dtmf = DtmfSender::new(DtmfConfig::default());
    dtmf.enqueue(
        t0 + Duration::from_millis(200),
        &DtmfDigit::parse_all(keys).unwrap(),
    );
    let mut seq: u16 = 65_500; // the port numbers every packet of the stream, events included (§2.5.1.6)
    let mut out = Vec::new();
    let mut starts = Vec::new();
    for tick in 0..150u32 {
        let now = t0 + Duration::from_millis(20) * tick;
        // The audio frame of this tick: its timestamp is the stream's clock now.
        let frame: AudioPacket = audio.push(&tone.samples(FRAME)).remove(0);
        while let Some(ev) = dtmf.poll(now, frame.timestamp) {
            if ev.marker {
                starts.push(ev.timestamp);
            }
            let pkt = AudioPacket {
                seq,
                timestamp: ev.timestamp,
                marker: ev.marker,
                payload_type: PT_EVENT,
                payload: ev.payload().to_vec(),
            };
            out.push((u64::from(tick) * 20, pkt.to_rtp(SSRC)));
            seq = seq.wrapping_add(1);
        }
        if !dtmf.is_sending() {
            let pkt = AudioPacket { seq, ..frame };
            out.push((u64::from(tick) * 20, pkt.to_rtp(SSRC)));
            seq = seq.wrapping_add(1);
        }
    }
    assert!(dtmf.is_idle(), "all keys sent within 3 s");
    (out, starts)
}

/// The far end: demultiplex by payload type; events to the DTMF receiver, audio to the jitter buffer.
fn receive(datagrams: &[(u64, Vec<u8>)]) -> (String, Vec<u32>, u64) {
    let t0 = Instant::now();
    let mut rx = DtmfReceiver::new();
    let mut jb = JitterBuffer::new(Law::Pcmu, 3);
    let mut keys = String::new();
    let mut stamps = Vec::new();
    for (ms, d) in datagrams {
        let now = t0 + Duration::from_millis(*ms);
        rx.handle_timeout(now);
        let (_, pt, seq, ts, ssrc, payload) = parse(d);
        assert_eq!(ssrc, SSRC);
        match pt {
            PT_EVENT => rx.handle(now, ts, payload).unwrap(),
            0 => jb.push(seq, ts, payload, ts),
            other => panic!("payload type {other}"),
        }
        while let Some(e) = rx.poll_event() {
            keys.push(e.digit.as_char());
            stamps.push(e.timestamp);
        }
    }
    rx.handle_timeout(t0 + Duration::from_secs(60));
    while let Some(e) = rx.poll_event() {
        keys.push(e.digit.as_char());
        stamps.push(e.timestamp);
    }
    (keys, stamps, jb.stats().received)
}

#[test]
fn w_3_keys_over_a_clean_stream() {
    let (wire, starts) = send("147*#D");
    assert_eq!(starts.len(), 6);
    let (keys, stamps, audio) = receive(&wire);
    assert_eq!(keys, "147*#D");
    assert_eq!(
        stamps, starts,
        "each event carries the audio clock of its start"
    );
    // Sequence numbers run on without a gap through the events (one space for the stream, §2.5.1.6).
    let seqs: Vec<u16> = wire.iter().map(|(_, d)| parse(d).2).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
    // Audio is held back while a key's packets go out: 7 event packets per key, sent over 6 ticks whose audio
    // is not sent (the last final report goes out with the tick whose audio resumes).
    assert_eq!(wire.len() as u64 - audio, 42);
    assert_eq!(audio, 150 - 6 * 6);
    // The audio timestamps after a key went on with the clock (no rewind): strictly increasing.
    let audio_ts: Vec<u32> = wire
        .iter()
        .map(|(_, d)| parse(d))
        .filter(|p| p.1 == 0)
        .map(|p| p.3)
        .collect();
    assert!(audio_ts
        .windows(2)
        .all(|w| w[1].wrapping_sub(w[0]) as i32 > 0));
}

/// 20 % loss, 10 % duplication, and packets held back up to 60 ms (reordering within a key's packets and
/// with the audio): exactly one report per key that left at least one packet, in order, never a key twice.
#[test]
fn w_3_keys_over_a_lossy_reordering_network() {
    let (wire, starts) = send("0123456789");
    let mut lost_keys = 0;
    for seed in 1..=300u64 {
        let mut rng = Rng(seed);
        let mut net: Vec<(u64, usize, Vec<u8>)> = Vec::new();
        let mut survivors: Vec<u32> = Vec::new();
        for (i, (ms, d)) in wire.iter().enumerate() {
            if rng.chance(20) {
                continue;
            }
            let (_, pt, _, ts, _, _) = parse(d);
            if pt == PT_EVENT && !survivors.contains(&ts) {
                survivors.push(ts);
            }
            let copies = if rng.chance(10) { 2 } else { 1 };
            for _ in 0..copies {
                net.push((ms + rng.next() % 61, i, d.clone()));
            }
        }
        net.sort_by_key(|(arrival, i, _)| (*arrival, *i));
        let arrived: Vec<(u64, Vec<u8>)> = net.into_iter().map(|(t, _, d)| (t, d)).collect();
        let (keys, stamps, _) = receive(&arrived);
        let want: String = starts
            .iter()
            .zip("0123456789".chars())
            .filter(|(ts, _)| survivors.contains(ts))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(keys, want, "seed {seed}");
        assert!(stamps.iter().all(|s| starts.contains(s)), "seed {seed}");
        lost_keys += 10 - want.len();
    }
    // 0.2^7 per key: over 3,000 keys, a lost one is possible but rare.
    assert!(lost_keys < 5, "{lost_keys} keys lost every packet");
}

/// The same keys in-band: dual tones in the G.711 audio, found again by the Goertzel detector after the
/// jitter buffer.
#[test]
fn keys_in_band_through_g711_and_the_jitter_buffer() {
    let mut samples = vec![0i16; 1000];
    for c in "159#".chars() {
        samples.extend(DualTone::dtmf(DtmfDigit::from_char(c).unwrap(), 0.2).samples(800));
        samples.extend([0i16; 800]);
    }
    let mut p = Packetizer::new(Law::Pcma, 7, 0);
    let mut pkts = p.push(&samples);
    pkts.extend(p.flush());
    let mut jb = JitterBuffer::new(Law::Pcma, 2);
    let mut out = Vec::new();
    for (i, pkt) in pkts.iter().enumerate() {
        jb.push(pkt.seq, pkt.timestamp, &pkt.payload, 160 * i as u32);
        out.extend(jb.pop().unwrap_or_default());
    }
    out.extend(jb.drain());
    let keys: String = dtmf_keys(&out).iter().map(|d| d.as_char()).collect();
    assert_eq!(keys, "159#");
}
