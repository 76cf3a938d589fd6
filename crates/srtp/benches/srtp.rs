//! SRTP/SRTCP throughput: dtlsrtp vs libsrtp 2 (OpenSSL backend, `srtp2-sys`) vs webrtc-srtp vs the raw
//! RustCrypto primitives (cipher + MAC alone), single thread, one packet stream per measurement.
//!
//! `cargo bench -p dtlsrtp-srtp` runs the full measurement and prints the table recorded in BENCHMARKS.md.
//! Without `--bench` in argv (as `cargo test --all-targets` runs it) it does a tiny smoke pass: a few packets
//! per engine and profile, checked for correctness, in well under a second.
//!
//! Method: for each engine, profile and payload size, rounds of `K` packets: a fresh sender/receiver pair
//! per round (built outside the timed region), SEQ starting at 65536 − K/2 so every round crosses the
//! rollover, one SSRC. Each iteration copies the packet (plaintext template with its SEQ, or the protected
//! packet) into a work buffer and protects/unprotects it there. The figure is the best of several rounds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // bench code: a failure aborts the run

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes::Aes128;
use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit};
use cipher::{InnerIvInit, StreamCipher};
use dtlsrtp_srtp::{Config, SessionMaster, SrtpContext, SrtpProfile};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use support::libsrtp::{LibSrtp, LIBSRTP_TAIL_ROOM};

const PROFILES: [SrtpProfile; 4] = [
    SrtpProfile::Aes128CmHmacSha1_80,
    SrtpProfile::Aes128CmHmacSha1_32,
    SrtpProfile::AeadAes128Gcm,
    SrtpProfile::AeadAes256Gcm,
];
const SSRC: u32 = 0x1234_5678;
const RTCP_LEN: usize = 100;

/// One engine's protect/unprotect of packets in a work buffer; returns the new length.
trait Engine {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize;
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize;
    fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize;
    fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize;
}

struct Ours(SrtpContext);
impl Engine for Ours {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.protect_rtp_in(buf, len).unwrap()
    }
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.unprotect_rtp_in(&mut buf[..len]).unwrap()
    }
    fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.protect_rtcp_in(buf, len).unwrap()
    }
    fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.unprotect_rtcp_in(&mut buf[..len]).unwrap()
    }
}

struct Lib(LibSrtp);
impl Engine for Lib {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.protect_in(buf, len).unwrap()
    }
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.unprotect_in(buf, len).unwrap()
    }
    fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.protect_rtcp_in(buf, len).unwrap()
    }
    fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize {
        self.0.unprotect_rtcp_in(buf, len).unwrap()
    }
}

/// webrtc-srtp returns a new `Bytes` per packet; it is copied back into the buffer only in smoke mode (to
/// check it), so the timed path is exactly its API call.
struct Webrtc(webrtc_srtp::context::Context, bool);

fn finish<T: std::ops::Deref<Target = [u8]>>(verify: bool, buf: &mut [u8], out: T) -> usize {
    let n = out.len();
    if verify {
        buf[..n].copy_from_slice(&out);
    }
    black_box(out);
    n
}

impl Engine for Webrtc {
    fn protect(&mut self, buf: &mut [u8], len: usize) -> usize {
        let out = self.0.encrypt_rtp(&buf[..len]).unwrap();
        finish(self.1, buf, out)
    }
    fn unprotect(&mut self, buf: &mut [u8], len: usize) -> usize {
        let out = self.0.decrypt_rtp(&buf[..len]).unwrap();
        finish(self.1, buf, out)
    }
    fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize {
        let out = self.0.encrypt_rtcp(&buf[..len]).unwrap();
        finish(self.1, buf, out)
    }
    fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> usize {
        let out = self.0.decrypt_rtcp(&buf[..len]).unwrap();
        finish(self.1, buf, out)
    }
}

/// The raw primitives dtlsrtp's RustCrypto backend is built on, keyed once, on the same sizes: AES-CTR over
/// the payload plus HMAC-SHA1 (cloned keyed state) over header ‖ payload ‖ ROC, or AES-GCM with the header
/// as AAD. No packet parsing, index, replay or tag placement.
enum Raw {
    Cm128(Aes128, Hmac<Sha1>, usize),
    Gcm128(Aes128Gcm),
    Gcm256(Aes256Gcm),
}

impl Raw {
    fn new(profile: SrtpProfile) -> Self {
        let k16 = [0x42u8; 16];
        match profile {
            SrtpProfile::Aes128CmHmacSha1_80 | SrtpProfile::Aes128CmHmacSha1_32 => Raw::Cm128(
                Aes128::new(&k16.into()),
                <Hmac<Sha1> as KeyInit>::new_from_slice(&[7u8; 20]).unwrap(),
                profile.srtp_tag_len(),
            ),
            SrtpProfile::AeadAes128Gcm => Raw::Gcm128(Aes128Gcm::new(&k16.into())),
            SrtpProfile::AeadAes256Gcm => Raw::Gcm256(Aes256Gcm::new(&[0x42u8; 32].into())),
            p => panic!("no raw primitive set for {p}"),
        }
    }

    /// Transforms `buf[12..len]` (header `buf[..12]`), writes the tag after it, returns the new length.
    fn run(&mut self, buf: &mut [u8], len: usize, hdr: usize, counter: u64) -> usize {
        let mut iv = [0u8; 16];
        iv[6..14].copy_from_slice(&counter.to_be_bytes());
        match self {
            Raw::Cm128(aes, mac, tag_len) => {
                let mut ctr = cipher::StreamCipherCoreWrapper::from_core(ctr::CtrCore::<
                    &Aes128,
                    ctr::flavors::Ctr128BE,
                >::inner_iv_init(
                    &*aes, &iv.into()
                ));
                ctr.apply_keystream(&mut buf[hdr..len]);
                let mut m = mac.clone();
                m.update(&buf[..len]);
                m.update(&[0, 0, 0, 0]);
                let t = m.finalize().into_bytes();
                buf[len..len + *tag_len].copy_from_slice(&t[..*tag_len]);
                len + *tag_len
            }
            Raw::Gcm128(g) => raw_gcm(g, buf, len, hdr, &iv),
            Raw::Gcm256(g) => raw_gcm(g, buf, len, hdr, &iv),
        }
    }
}

fn raw_gcm<
    G: AeadInOut<NonceSize = aes_gcm::aead::consts::U12, TagSize = aes_gcm::aead::consts::U16>,
>(
    g: &G,
    buf: &mut [u8],
    len: usize,
    hdr: usize,
    iv: &[u8; 16],
) -> usize {
    let nonce: [u8; 12] = iv[2..14].try_into().unwrap();
    let (head, rest) = buf.split_at_mut(hdr);
    let (payload, tail) = rest.split_at_mut(len - hdr);
    let tag = g
        .encrypt_inout_detached(&nonce.into(), head, payload.into())
        .unwrap();
    tail[..16].copy_from_slice(&tag);
    len + 16
}

fn master(profile: SrtpProfile) -> SessionMaster {
    let key: Vec<u8> = (0..profile.master_key_len())
        .map(|i| i as u8 ^ 0x3c)
        .collect();
    let salt: Vec<u8> = (0..profile.master_salt_len())
        .map(|i| i as u8 ^ 0xa5)
        .collect();
    SessionMaster::new(profile, &key, &salt).unwrap()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Dtlsrtp,
    Libsrtp,
    Webrtc,
}

fn engine(who: Who, profile: SrtpProfile, outbound: bool, verify: bool) -> Box<dyn Engine> {
    let m = master(profile);
    match who {
        Who::Dtlsrtp => Box::new(Ours(SrtpContext::new(&m, &Config::default()).unwrap())),
        Who::Libsrtp => Box::new(Lib(LibSrtp::new(
            profile,
            m.key.expose(),
            m.salt.expose(),
            outbound,
            64,
        ))),
        Who::Webrtc => {
            use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};
            use webrtc_srtp::protection_profile::ProtectionProfile as P;
            let p = match profile {
                SrtpProfile::Aes128CmHmacSha1_80 => P::Aes128CmHmacSha1_80,
                SrtpProfile::Aes128CmHmacSha1_32 => P::Aes128CmHmacSha1_32,
                SrtpProfile::AeadAes128Gcm => P::AeadAes128Gcm,
                SrtpProfile::AeadAes256Gcm => P::AeadAes256Gcm,
                other => panic!("webrtc-srtp has no {other}"),
            };
            let ctx = webrtc_srtp::context::Context::new(
                m.key.expose(),
                m.salt.expose(),
                p,
                Some(srtp_replay_protection(64)),
                Some(srtcp_replay_protection(64)),
            )
            .unwrap();
            Box::new(Webrtc(ctx, verify))
        }
    }
}

/// The RTP packet with index `i` of a round: SEQ 65536 − K/2 + i (so the round wraps), one SSRC.
fn rtp_packet(i: usize, k: usize, payload: usize) -> Vec<u8> {
    let seq = (65_536 - k / 2 + i) as u16;
    let mut p = vec![0x80, 0x60];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&((i as u32) * 160).to_be_bytes());
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..payload).map(|b| (b as u8) ^ (i as u8)));
    p
}

/// A 100-octet compound RTCP packet: RR with one report block (32) + SDES (68).
fn rtcp_packet(i: usize) -> Vec<u8> {
    let mut p = vec![0x81, 201, 0, 7];
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..24).map(|b| (b as u8) ^ (i as u8)));
    p.extend_from_slice(&[0x81, 202, 0, 16]);
    p.extend_from_slice(&SSRC.to_be_bytes());
    p.extend((0..60).map(|b| (b as u8).wrapping_add(i as u8)));
    assert_eq!(p.len(), RTCP_LEN);
    p
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Protect,
    Unprotect,
}

struct Settings {
    /// Packets per round.
    k: usize,
    /// Rounds per measurement (best one counts).
    rounds: usize,
    verify: bool,
}

/// Packets per second of `who` doing `op` on RTP (`payload = Some(n)`) or SRTCP (`None`).
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn measure(who: Who, profile: SrtpProfile, payload: Option<usize>, op: Op, s: &Settings) -> f64 {
    let k = s.k;
    let plain: Vec<Vec<u8>> = (0..k)
        .map(|i| match payload {
            Some(n) => rtp_packet(i, k, n),
            None => rtcp_packet(i),
        })
        .collect();
    let rtcp = payload.is_none();
    // Protected inputs for unprotect, made by the same engine's sender (every engine interoperates).
    let protected: Vec<Vec<u8>> = if op == Op::Unprotect {
        let mut tx = engine(who, profile, true, true);
        plain
            .iter()
            .map(|p| {
                let mut b = p.clone();
                b.resize(p.len() + LIBSRTP_TAIL_ROOM, 0);
                let n = if rtcp {
                    tx.protect_rtcp(&mut b, p.len())
                } else {
                    tx.protect(&mut b, p.len())
                };
                b.truncate(n);
                b
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut buf = vec![0u8; 2048];
    let mut best = Duration::MAX;
    for _ in 0..s.rounds {
        let mut e = engine(who, profile, op == Op::Protect, s.verify);
        let input = if op == Op::Protect {
            &plain
        } else {
            &protected
        };
        let t0 = Instant::now();
        for (i, pkt) in input.iter().enumerate() {
            let len = pkt.len();
            buf[..len].copy_from_slice(pkt);
            let n = match (op, rtcp) {
                (Op::Protect, false) => e.protect(&mut buf, len),
                (Op::Protect, true) => e.protect_rtcp(&mut buf, len),
                (Op::Unprotect, false) => e.unprotect(&mut buf, len),
                (Op::Unprotect, true) => e.unprotect_rtcp(&mut buf, len),
            };
            if s.verify && op == Op::Unprotect {
                assert_eq!(&buf[..n], &plain[i][..], "{who:?} {profile} {op:?} {i}");
            }
            black_box(&buf[..n]);
        }
        best = best.min(t0.elapsed());
    }
    k as f64 / best.as_secs_f64()
}

/// Packets per second of the raw primitives on the RTP sizes (`payload = Some(n)`) or the SRTCP packet.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn measure_raw(profile: SrtpProfile, payload: Option<usize>, s: &Settings) -> f64 {
    let k = s.k;
    let (plain, hdr): (Vec<Vec<u8>>, usize) = match payload {
        Some(n) => ((0..k).map(|i| rtp_packet(i, k, n)).collect(), 12),
        None => ((0..k).map(rtcp_packet).collect(), 8),
    };
    let mut raw = Raw::new(profile);
    let mut buf = vec![0u8; 2048];
    let mut best = Duration::MAX;
    for _ in 0..s.rounds {
        let t0 = Instant::now();
        for (i, pkt) in plain.iter().enumerate() {
            let len = pkt.len();
            buf[..len].copy_from_slice(pkt);
            let n = raw.run(&mut buf, len, hdr, i as u64);
            black_box(&buf[..n]);
        }
        best = best.min(t0.elapsed());
    }
    k as f64 / best.as_secs_f64()
}

fn short(p: SrtpProfile) -> &'static str {
    match p {
        SrtpProfile::Aes128CmHmacSha1_80 => "AES128_CM_SHA1_80",
        SrtpProfile::Aes128CmHmacSha1_32 => "AES128_CM_SHA1_32",
        SrtpProfile::AeadAes128Gcm => "AEAD_AES_128_GCM",
        SrtpProfile::AeadAes256Gcm => "AEAD_AES_256_GCM",
        _ => "?",
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let s = if full {
        Settings {
            k: 4096,
            rounds: 40,
            verify: false,
        }
    } else {
        Settings {
            k: 16,
            rounds: 1,
            verify: true,
        }
    };
    let mut misses = 0;
    println!(
        "| case | op | dtlsrtp kpps | libsrtp kpps | webrtc-srtp kpps | raw kpps | ×libsrtp (≥2) | ×webrtc-srtp (≥1.2) | % of raw (≥75) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut cases: Vec<(SrtpProfile, Option<usize>)> = Vec::new();
    for p in PROFILES {
        cases.push((p, Some(160)));
        cases.push((p, Some(1200)));
    }
    for p in PROFILES {
        cases.push((p, None));
    }
    for (profile, payload) in cases {
        let raw = measure_raw(profile, payload, &s);
        for op in [Op::Protect, Op::Unprotect] {
            let d = measure(Who::Dtlsrtp, profile, payload, op, &s);
            let l = measure(Who::Libsrtp, profile, payload, op, &s);
            let w = measure(Who::Webrtc, profile, payload, op, &s);
            let (rl, rw, rr) = (d / l, d / w, 100.0 * d / raw);
            // Targets apply to RTP; SRTCP rows are informational.
            let rtp = payload.is_some();
            let mark = |ok: bool| if ok || !rtp { "" } else { " ✗" };
            if rtp && (rl < 2.0 || rw < 1.2 || rr < 75.0) {
                misses += 1;
            }
            let case = match payload {
                Some(n) => format!("RTP {} {n} B", short(profile)),
                None => format!("SRTCP {} {RTCP_LEN} B", short(profile)),
            };
            println!(
                "| {case} | {op:?} | {:.0} | {:.0} | {:.0} | {:.0} | {rl:.2}{} | {rw:.2}{} | {rr:.0}{} |",
                d / 1e3,
                l / 1e3,
                w / 1e3,
                raw / 1e3,
                mark(rl >= 2.0),
                mark(rw >= 1.2),
                mark(rr >= 75.0),
            );
        }
    }
    if full {
        println!(
            "
RTP rows missing a target: {misses}"
        );
    } else {
        println!("smoke pass ok (run `cargo bench -p dtlsrtp-srtp` for figures)");
    }
}
