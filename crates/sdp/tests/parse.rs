//! Parser and writer (RFC 8866): real peers' SDP and the RFC 5763 §7 bodies parse, unknown attributes survive
//! byte-exact, and every class of malformed line is a typed error with its line number.
// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{data, parse_data};
use dtlsrtp_sdp::attr::{Attribute, Proto};
use dtlsrtp_sdp::{
    FingerprintError, HashFunction, LineError, ParseError, ParseErrorKind, ParseOptions, Sdp,
    Setup, TlsIdError,
};

const SAMPLES: [&str; 8] = [
    "baresip-answer.sdp",
    "baresip-offer.sdp",
    "chromium156-answer.sdp",
    "chromium156-offer.sdp",
    "nine-payload-types-offer.sdp",
    "webrtc-three-fingerprints-offer.sdp",
    "rfc5763-7.1-offer.sdp",
    "rfc5763-7.1-answer.sdp",
];

fn crlf(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
}

#[test]
fn every_sample_parses_and_writes_back_byte_exact_with_crlf() {
    for name in SAMPLES {
        let raw = data(name);
        let sdp = Sdp::parse(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(sdp.write(), crlf(&raw), "{name}");
        assert_eq!(Sdp::parse(sdp.write().as_bytes()).unwrap(), sdp, "{name}");
    }
}

#[test]
fn unknown_attributes_survive_byte_exact() {
    let sdp = parse_data("chromium156-offer.sdp");
    let text = sdp.write();
    for l in [
        "a=extmap-allow-mixed\r\n",
        "a=msid-semantic: WMS 8e31022d-910f-42a4-be09-9e0ff25b93ab\r\n",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n",
        "a=rtcp-fb:111 transport-cc\r\n",
        "a=ssrc:3854416229 msid:8e31022d-910f-42a4-be09-9e0ff25b93ab e6ea1acc-b90d-48f9-9e16-c51bd237ecbe\r\n",
    ] {
        assert!(text.contains(l), "{l}");
    }
    let odd = b"v=0\no=- 1 1 IN IP4 127.0.0.1\ns= \nt=0 0\na=x-weird:  two  spaces\ta tab \nm=audio 9 RTP/AVP 0\na=x-Empty:\na=flag\n";
    let sdp = Sdp::parse(odd).unwrap();
    assert_eq!(sdp.write(), crlf(odd));
    assert!(matches!(
        sdp.media()[0].lines()[0].attribute(),
        Some(Attribute::Other)
    ));
}

#[test]
fn typed_access_on_chromium_offer() {
    let sdp = parse_data("chromium156-offer.sdp");
    assert_eq!(sdp.bundle_groups().next().unwrap(), ["0".to_owned()]);
    let m = &sdp.media()[0];
    assert_eq!(m.media_line().proto, Proto::UdpTlsRtpSavpf);
    assert_eq!(m.media_line().port, 48744);
    assert_eq!(m.media_line().formats.len(), 8);
    assert_eq!(m.mid(), Some("0"));
    assert!(m.rtcp_mux());
    assert_eq!(sdp.media_setup(0), Some(Setup::ActPass));
    assert_eq!(sdp.media_ice_ufrag(0), Some("gyjN"));
    assert_eq!(sdp.media_ice_pwd(0), Some("lkU0VKSle8UwzvWEfbRv/m2O"));
    let fps = sdp.media_fingerprints(0);
    assert_eq!(fps.len(), 1);
    assert_eq!(fps[0].hash(), HashFunction::Sha256);
    let cands = m
        .attributes()
        .filter(|a| matches!(a, Attribute::Candidate(_)))
        .count();
    assert_eq!(cands, 2);
    assert!(m
        .attributes()
        .any(|a| matches!(a, Attribute::IceOptions(o) if o == &["trickle".to_owned()])));
    assert!(m
        .attributes()
        .any(|a| matches!(a, Attribute::Rtcp(r) if r.port == 9)));
    assert_eq!(sdp.media_connection(0).unwrap().address, "127.0.0.1");
    assert_eq!(sdp.origin().unwrap().session_id, "213891845287649673");
}

#[test]
fn p_5d_session_level_fingerprint_applies_to_media_and_media_level_overrides() {
    let offer = parse_data("baresip-offer.sdp");
    assert_eq!(offer.media()[0].fingerprints().len(), 0);
    assert_eq!(offer.media_fingerprints(0), offer.fingerprints());
    assert_eq!(offer.media_setup(0), Some(Setup::ActPass));
    let mut text = String::from_utf8(data("baresip-answer.sdp")).unwrap();
    text = text.replacen(
        "a=fingerprint:SHA-256 62:87",
        "a=fingerprint:SHA-256 00:87",
        1, // the session-level one: media level must win
    );
    let answer = Sdp::parse(text.as_bytes()).unwrap();
    assert_ne!(answer.fingerprints(), answer.media()[0].fingerprints());
    assert_eq!(
        answer.media_fingerprints(0),
        answer.media()[0].fingerprints()
    );
    let three = parse_data("webrtc-three-fingerprints-offer.sdp");
    let hashes: Vec<_> = three
        .media_fingerprints(0)
        .iter()
        .map(|f| f.hash())
        .collect();
    assert_eq!(
        hashes,
        [
            HashFunction::Sha256,
            HashFunction::Sha384,
            HashFunction::Sha512
        ]
    );
    assert!(three.media()[0]
        .attributes()
        .any(|a| matches!(a, Attribute::EndOfCandidates)));
}

#[test]
fn rfc5763_7_1_bodies_typed() {
    let offer = parse_data("rfc5763-7.1-offer.sdp");
    let m = &offer.media()[0];
    assert_eq!(m.media_line().proto, Proto::RtpAvp);
    assert_eq!(offer.setup(), Some(Setup::ActPass));
    assert_eq!(offer.fingerprints()[0].hash(), HashFunction::Sha1);
    assert!(m
        .attributes()
        .any(|a| matches!(a, Attribute::Tcap(t) if t.get(1) == Some(&Proto::UdpTlsRtpSavp))));
    assert!(m
        .attributes()
        .any(|a| matches!(a, Attribute::Pcfg(p) if p.number == 1 && p.transports == [1])));
    let answer = parse_data("rfc5763-7.1-answer.sdp");
    assert_eq!(answer.media()[0].media_line().proto, Proto::UdpTlsRtpSavp);
    assert_eq!(answer.media_setup(0), Some(Setup::Active));
    assert!(answer.media()[0]
        .attributes()
        .any(|a| matches!(a, Attribute::Acfg(c) if c.number == 1 && c.transport == Some(1))));
}

fn err(body: &str) -> ParseError {
    Sdp::parse(body.as_bytes()).expect_err(body)
}

const HEAD: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

#[test]
fn malformed_lines_are_typed_errors_with_line_numbers() {
    let cases: Vec<(String, usize, ParseErrorKind)> = vec![
        // bad port
        (format!("{HEAD}m=audio 70000 RTP/AVP 0\r\n"), 5, ParseErrorKind::Line(LineError::BadPort)),
        (format!("{HEAD}m=audio -1 RTP/AVP 0\r\n"), 5, ParseErrorKind::Line(LineError::BadPort)),
        (format!("{HEAD}m=audio 9/x RTP/AVP 0\r\n"), 5, ParseErrorKind::Line(LineError::BadPort)),
        (format!("{HEAD}m=audio 9 RTP/AVP 0\r\na=rtcp:99999\r\n"), 6, ParseErrorKind::Line(LineError::BadPort)),
        // unknown proto
        (format!("{HEAD}m=audio 9 FOO/BAR 0\r\n"), 5, ParseErrorKind::Line(LineError::UnknownProto)),
        (format!("{HEAD}m=audio 9 UDP//SAVP 0\r\n"), 5, ParseErrorKind::Line(LineError::UnknownProto)),
        // missing v=
        ("o=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned(), 1, ParseErrorKind::MissingVersion),
        (String::new(), 1, ParseErrorKind::MissingVersion),
        ("v=1\r\n".to_owned(), 1, ParseErrorKind::Line(LineError::BadVersion)),
        // tls-id too long / too short / bad char (T-4a)
        (
            format!("{HEAD}m=audio 9 UDP/TLS/RTP/SAVP 0\r\na=tls-id:{}\r\n", "a".repeat(256)),
            6,
            ParseErrorKind::Line(LineError::TlsId(TlsIdError::TooLong(256))),
        ),
        (
            format!("{HEAD}m=audio 9 UDP/TLS/RTP/SAVP 0\r\na=tls-id:{}\r\n", "a".repeat(19)),
            6,
            ParseErrorKind::Line(LineError::TlsId(TlsIdError::TooShort(19))),
        ),
        (
            format!("{HEAD}m=audio 9 UDP/TLS/RTP/SAVP 0\r\na=tls-id:{}=\r\n", "a".repeat(20)),
            6,
            ParseErrorKind::Line(LineError::TlsId(TlsIdError::BadChar)),
        ),
        // bad fingerprint hex
        (
            format!("{HEAD}a=fingerprint:sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AG\r\n"),
            5,
            ParseErrorKind::Line(LineError::Fingerprint(FingerprintError::BadHex)),
        ),
        (
            format!("{HEAD}a=fingerprint:sha-256 4A:AD\r\n"),
            5,
            ParseErrorKind::Line(LineError::Fingerprint(FingerprintError::WrongLength {
                hash: HashFunction::Sha256,
                expected: 32,
                got: 2,
            })),
        ),
        // other classes
        (format!("{HEAD}x=1\r\n"), 5, ParseErrorKind::Line(LineError::UnknownType)),
        (format!("{HEAD}garbage\r\n"), 5, ParseErrorKind::Line(LineError::Malformed)),
        (format!("{HEAD}\r\na=x\r\n"), 5, ParseErrorKind::Line(LineError::Malformed)),
        (format!("{HEAD}a=setup:sometimes\r\n"), 5, ParseErrorKind::Line(LineError::BadSetup)),
        (format!("{HEAD}c=IN IP4\r\n"), 5, ParseErrorKind::Line(LineError::BadConnection)),
        (format!("{HEAD}m=audio 9 RTP/AVP\r\n"), 5, ParseErrorKind::Line(LineError::BadMedia)),
        (format!("{HEAD}m=audio 9 RTP/AVP 0\r\ns=again\r\n"), 6, ParseErrorKind::Line(LineError::Malformed)),
        (format!("{HEAD}a=pcfg:0 t=1\r\n"), 5, ParseErrorKind::Line(LineError::BadCapNeg)),
        (format!("{HEAD}a=rtpmap:200 X/8000\r\n"), 5, ParseErrorKind::Line(LineError::BadRtpAttr)),
        (format!("{HEAD}a=candidate:1 1 udp x 1.2.3.4 9 typ host\r\n"), 5, ParseErrorKind::Line(LineError::BadCandidate)),
        (format!("{HEAD}a=ice-ufrag:bad ufrag\r\n"), 5, ParseErrorKind::Line(LineError::BadIceCredential)),
        (format!("{HEAD}a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:abc\r\n"), 5, ParseErrorKind::Line(LineError::BadCrypto)),
        ("v=0\r\no=- x 1 IN IP4 a\r\ns=-\r\nt=0 0\r\n".to_owned(), 2, ParseErrorKind::Line(LineError::BadOrigin)),
        ("v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\nt=0\r\n".to_owned(), 4, ParseErrorKind::Line(LineError::BadTiming)),
        // a missing mandatory line is reported on the line after the session section
        ("v=0\r\no=- 1 1 IN IP4 a\r\nt=0 0\r\n".to_owned(), 4, ParseErrorKind::MissingLine('s')),
        ("v=0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n".to_owned(), 4, ParseErrorKind::MissingLine('o')),
        (format!("{HEAD}o=- 1 1 IN IP4 b\r\n"), 5, ParseErrorKind::Duplicate('o')),
        (format!("{HEAD}a=x\r\rb\r\n"), 5, ParseErrorKind::Line(LineError::Malformed)),
        (format!("{HEAD}a=x\0\r\n"), 5, ParseErrorKind::Line(LineError::Malformed)),
    ];
    for (body, line, kind) in cases {
        let e = err(&body);
        assert_eq!((e.line, e.kind), (line, kind), "{body:?}");
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn oversize_body_is_rejected_with_the_line_where_the_limit_is_crossed() {
    let mut body = HEAD.to_owned();
    while body.len() <= 64 * 1024 {
        body.push_str("a=x-filler:0123456789012345678901234567890123456789\r\n");
    }
    let e = err(&body);
    assert!(matches!(e.kind, ParseErrorKind::TooLarge { limit: 65536 }));
    let lines_within = body.as_bytes()[..65536]
        .iter()
        .filter(|&&b| b == b'\n')
        .count();
    assert_eq!(e.line, lines_within + 1);
    // HEAD is 43 bytes: a 40-byte limit is crossed on line 4 (t=)
    assert_eq!(HEAD.len(), 43);
    let opts = ParseOptions::default().with_max_len(40);
    let e = Sdp::parse_with(HEAD.as_bytes(), &opts).unwrap_err();
    assert_eq!(
        (e.line, e.kind),
        (4, ParseErrorKind::TooLarge { limit: 40 })
    );
    assert!(Sdp::parse_with(HEAD.as_bytes(), &ParseOptions::default().with_max_len(43)).is_ok());
}

#[test]
fn not_utf8_is_an_error_with_line() {
    let mut body = HEAD.as_bytes().to_vec();
    body.extend_from_slice(b"a=x-\xff\r\n");
    let e = Sdp::parse(&body).unwrap_err();
    assert_eq!((e.line, e.kind), (5, ParseErrorKind::NotUtf8));
}

#[test]
fn unknown_proto_accepted_only_when_asked() {
    let body = format!("{HEAD}m=audio 9 FOO/BAR 0\r\n");
    let opts = ParseOptions::default().accepting_unknown_proto();
    let sdp = Sdp::parse_with(body.as_bytes(), &opts).unwrap();
    assert_eq!(
        sdp.media()[0].media_line().proto,
        Proto::Other("FOO/BAR".to_owned())
    );
}

#[test]
fn lf_and_crlf_and_leading_space_fingerprint_accepted() {
    let lf = HEAD.replace("\r\n", "\n")
        + "a=fingerprint: SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB\n";
    let sdp = Sdp::parse(lf.as_bytes()).unwrap();
    assert_eq!(sdp.fingerprints().len(), 1);
    assert!(sdp.write().ends_with("7C:AB\r\n"));
    assert!(!sdp.write().replace("\r\n", "").contains('\n'));
}

#[test]
fn p_5_1_unknown_hash_lines_are_skipped_not_errors() {
    let body = format!("{HEAD}a=fingerprint:sha3-256 AB:CD\r\na=fingerprint:md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n");
    let sdp = Sdp::parse(body.as_bytes()).unwrap();
    assert!(sdp
        .attributes()
        .any(|a| matches!(a, Attribute::FingerprintUnknownHash)));
    assert_eq!(sdp.fingerprints().len(), 1); // md5 is recognised (and never used, P-5c)
}
