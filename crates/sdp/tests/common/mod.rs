//! Shared test helpers: deterministic "random" bytes, fake certificate fingerprints, local media, and what real
//! peers require of an answer (interop/NOTES.md).
#![allow(clippy::disallowed_methods)]
// tests read files (corpora, certificates, sources)
// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr};

use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{Codec, Config, IceConfig, LocalMedia};
use dtlsrtp_sdp::{Fingerprint, HashFunction, Sdp, Setup};

/// A counter-based byte source (tests only: deterministic, distinct outputs).
pub fn counter_rng(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut n = u64::from(seed) << 32;
    move |buf: &mut [u8]| {
        for b in buf {
            n = n
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (n >> 33) as u8;
        }
    }
}

pub fn fp(hash: HashFunction, byte: u8) -> Fingerprint {
    Fingerprint::new(hash, &vec![byte; hash.digest_len()]).unwrap()
}

pub fn config(byte: u8) -> Config {
    Config::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        vec![fp(HashFunction::Sha256, byte)],
    )
}

pub fn ice(ufrag: &str) -> IceConfig {
    IceConfig {
        ufrag: ufrag.to_owned(),
        pwd: "abcdefghijklmnopqrstuvwx".to_owned(),
        lite: true,
        options: vec![],
        candidates: vec!["1 1 udp 2130706431 127.0.0.1 40000 typ host".to_owned()],
        end_of_candidates: true,
    }
}

pub fn audio(port: u16) -> LocalMedia {
    LocalMedia {
        kind: "audio".to_owned(),
        port,
        codecs: vec![
            Codec::new(111, "opus", 48000, Some(2)).with_fmtp("minptime=10;useinbandfec=1"),
            Codec::new(0, "PCMU", 8000, None),
            Codec::new(8, "PCMA", 8000, None),
            Codec::new(101, "telephone-event", 8000, None).with_fmtp("0-15"),
        ],
        direction: Direction::SendRecv,
        mid: None,
    }
}

pub fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn parse_data(name: &str) -> Sdp {
    Sdp::parse(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Chromium 156's requirements of an answer (interop/NOTES.md): on every accepted m-line ice-ufrag ≥ 4,
/// ice-pwd ≥ 22, a fingerprint, rtcp-mux, setup active or passive; BUNDLE mirrored when offered; mids mirrored;
/// proto mirrored.
pub fn chromium_accepts(offer: &Sdp, answer: &Sdp) -> Result<(), String> {
    if answer.media().len() != offer.media().len() {
        return Err("m-line count".into());
    }
    for (i, (o, a)) in offer.media().iter().zip(answer.media()).enumerate() {
        if a.media_line().port == 0 {
            continue;
        }
        if a.media_line().proto != o.media_line().proto {
            return Err(format!("m{i}: proto not mirrored"));
        }
        if a.mid() != o.mid() {
            return Err(format!("m{i}: mid not mirrored"));
        }
        let ufrag = answer
            .media_ice_ufrag(i)
            .ok_or(format!("m{i}: no ice-ufrag"))?;
        let pwd = answer.media_ice_pwd(i).ok_or(format!("m{i}: no ice-pwd"))?;
        if ufrag.len() < 4 || pwd.len() < 22 {
            return Err(format!("m{i}: ICE credentials too short"));
        }
        if answer.media_fingerprints(i).is_empty() {
            return Err(format!("m{i}: no fingerprint"));
        }
        if !a.rtcp_mux() {
            return Err(format!("m{i}: no rtcp-mux"));
        }
        match answer.media_setup(i) {
            Some(Setup::Active | Setup::Passive) => {}
            other => return Err(format!("m{i}: setup {other:?}")),
        }
    }
    if offer.bundle_groups().next().is_some() && answer.bundle_groups().next().is_none() {
        return Err("no a=group:BUNDLE".into());
    }
    Ok(())
}

/// baresip 1.0's requirements of an answer: setup active/passive, a fingerprint (session or media level),
/// the offered proto mirrored, codecs among those offered.
pub fn baresip_accepts(offer: &Sdp, answer: &Sdp) -> Result<(), String> {
    for (i, (o, a)) in offer.media().iter().zip(answer.media()).enumerate() {
        if a.media_line().port == 0 {
            return Err(format!("m{i}: rejected"));
        }
        if a.media_line().proto != o.media_line().proto {
            return Err(format!("m{i}: proto not mirrored"));
        }
        if answer.media_fingerprints(i).is_empty() {
            return Err(format!("m{i}: no fingerprint"));
        }
        if !matches!(answer.media_setup(i), Some(Setup::Active | Setup::Passive)) {
            return Err(format!("m{i}: bad setup"));
        }
        if a.media_line()
            .formats
            .iter()
            .any(|f| !o.media_line().formats.contains(f))
        {
            return Err(format!("m{i}: codec not offered"));
        }
    }
    Ok(())
}
