//! SDP throughput: parse, write, and a full answer to Chromium 156's offer. `cargo bench -p dtlsrtp-sdp`
//! prints figures; under `cargo test --all-targets` (no `--bench` in argv) it runs a few iterations as a smoke
//! test with correctness asserts.
// A bench binary: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{Codec, Config, IceConfig, LocalMedia, Profile};
use dtlsrtp_sdp::{Fingerprint, HashFunction, Negotiator, Sdp};

const CHROMIUM_OFFER: &[u8] = include_bytes!("../tests/data/chromium156-offer.sdp");

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn now() -> Instant {
    Instant::now()
}

fn report(name: &str, iters: u32, bytes: usize, elapsed: Duration) {
    let per = elapsed / iters;
    let mbps = (bytes as f64 * f64::from(iters)) / elapsed.as_secs_f64() / 1e6;
    println!(
        "{name:<28} {per:>10.2?}/op  {:>10.0} ops/s  {mbps:>8.1} MB/s",
        1.0 / per.as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let iters: u32 = if full { 50_000 } else { 5 };

    let t = now();
    for _ in 0..iters {
        let sdp = Sdp::parse(black_box(CHROMIUM_OFFER)).unwrap();
        black_box(&sdp);
    }
    let parse = t.elapsed();

    let sdp = Sdp::parse(CHROMIUM_OFFER).unwrap();
    let t = now();
    let mut len = 0;
    for _ in 0..iters {
        len = black_box(sdp.write()).len();
    }
    let write = t.elapsed();
    assert_eq!(len, CHROMIUM_OFFER.len());

    let mut config = Config::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![Fingerprint::new(HashFunction::Sha256, &[7; 32]).unwrap()],
    );
    config.profile = Profile::Savpf;
    config.ice = Some(IceConfig {
        ufrag: "bEnCh".into(),
        pwd: "abcdefghijklmnopqrstuvwx".into(),
        lite: true,
        options: vec![],
        candidates: vec!["1 1 udp 2130706431 127.0.0.1 40000 typ host".into()],
        end_of_candidates: true,
    });
    let media = [LocalMedia {
        kind: "audio".into(),
        port: 40000,
        codecs: vec![
            Codec::new(111, "opus", 48000, Some(2)),
            Codec::new(0, "PCMU", 8000, None),
        ],
        direction: Direction::SendRecv,
        mid: Some("0".into()),
    }];
    let mut n = 0u8;
    let mut fill = |b: &mut [u8]| {
        for x in b {
            n = n.wrapping_add(13);
            *x = n;
        }
    };
    let t = now();
    for _ in 0..iters {
        let offer = Sdp::parse(black_box(CHROMIUM_OFFER)).unwrap();
        let mut neg = Negotiator::new(config.clone(), &mut fill).unwrap();
        let answer = neg.answer(&offer, &media, &mut fill).unwrap();
        assert!(answer.media[0].dtls().is_some());
        black_box(answer.sdp.write());
    }
    let answer = t.elapsed();

    if full {
        println!(
            "dtlsrtp-sdp, Chromium 156 offer ({} bytes), {iters} iterations",
            CHROMIUM_OFFER.len()
        );
        report("parse", iters, CHROMIUM_OFFER.len(), parse);
        report("write", iters, CHROMIUM_OFFER.len(), write);
        report(
            "parse + answer + write",
            iters,
            CHROMIUM_OFFER.len(),
            answer,
        );
    }
}
