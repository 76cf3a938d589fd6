//! The body of the `sdp_parse` cargo-fuzz target (`fuzz/` at the repository root), kept here so that stable
//! builds compile it and a normal test runs it over the seed corpus. Not a public API.

use std::net::{IpAddr, Ipv4Addr};

use crate::attr::Direction;
use crate::fingerprint::{Fingerprint, HashFunction};
use crate::model::Sdp;
use crate::negotiate::{Codec, Config, LocalMedia, Negotiator, Renew};

/// Parses `data`; when it parses, checks `parse(write(x)) == x`, then answers it as an offer and applies it as
/// an answer to an offer of ours. Any panic is a bug (the assertions are the property the fuzzer checks).
pub fn sdp_parse(data: &[u8]) {
    let Ok(sdp) = Sdp::parse(data) else {
        return;
    };
    let written = sdp.write();
    let again = Sdp::parse(written.as_bytes());
    assert_eq!(again.as_ref(), Ok(&sdp), "parse(write(x)) != x");
    let Ok(fp) = Fingerprint::new(HashFunction::Sha256, &[0x5A; 32]) else {
        return;
    };
    let config = Config::new(IpAddr::V4(Ipv4Addr::LOCALHOST), vec![fp]);
    let mut n = 0u8;
    let mut fill = |b: &mut [u8]| {
        for x in b {
            n = n.wrapping_add(1);
            *x = n;
        }
    };
    let media = [LocalMedia {
        kind: "audio".into(),
        port: 5004,
        codecs: vec![
            Codec::new(0, "PCMU", 8000, None),
            Codec::new(111, "opus", 48000, Some(2)),
        ],
        direction: Direction::SendRecv,
        mid: Some("0".into()),
    }];
    let Ok(mut answerer) = Negotiator::new(config.clone(), &mut fill) else {
        return;
    };
    if let Ok(answer) = answerer.answer(&sdp, &media, &mut fill) {
        let reparsed = Sdp::parse(answer.sdp.write().as_bytes());
        assert_eq!(
            reparsed.as_ref(),
            Ok(&answer.sdp),
            "our answer does not round-trip"
        );
    }
    let Ok(mut offerer) = Negotiator::new(config, &mut fill) else {
        return;
    };
    if let Ok((_offer, pending)) = offerer.create_offer(&media, Renew::Keep, &mut fill) {
        let _ = offerer.apply_answer(pending, &sdp);
    }
}
