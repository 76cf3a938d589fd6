//! Round trip (RFC 8866 writer): `parse(write(x)) == x` for generated descriptions mixing every typed attribute
//! with unknown ones, and `write(parse(text))` is `text` with CRLF line endings (unknown attributes byte-exact).
//! Arbitrary bytes never panic the parser.
// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dtlsrtp_sdp::Sdp;
use proptest::prelude::*;

fn hex(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), n).prop_map(|b| {
        b.iter()
            .map(|x| format!("{x:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    })
}

/// Printable ASCII without CR/LF/NUL, possibly with spaces and tabs, for unknown attributes and free text.
fn text() -> impl Strategy<Value = String> {
    "[ -~\t]{0,40}"
}

fn session_attr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a=setup:actpass".to_owned()),
        Just("a=ice-lite".to_owned()),
        hex(32).prop_map(|h| format!("a=fingerprint:sha-256 {h}")),
        hex(20).prop_map(|h| format!("a=fingerprint: SHA-1 {h}")),
        "[a-zA-Z0-9]{1,8}( [a-zA-Z0-9]{1,8}){0,3}".prop_map(|m| format!("a=group:BUNDLE {m}")),
        ("[a-z][a-z0-9-]{0,15}", text()).prop_map(|(n, v)| format!("a=x-{n}:{v}")),
        "[a-z][a-z0-9-]{0,15}".prop_map(|n| format!("a=x-{n}")),
        text().prop_map(|t| format!("i={t}")),
        Just("b=AS:64".to_owned()),
    ]
}

fn media_attr() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("active"),
            Just("passive"),
            Just("actpass"),
            Just("holdconn")
        ]
        .prop_map(|s| format!("a=setup:{s}")),
        hex(32).prop_map(|h| format!("a=fingerprint:sha-256 {h}")),
        hex(48).prop_map(|h| format!("a=fingerprint:SHA-384 {h}")),
        "[A-Za-z0-9+/_-]{20,60}".prop_map(|t| format!("a=tls-id:{t}")),
        Just("a=rtcp-mux".to_owned()),
        (0u16..=65535).prop_map(|p| format!("a=rtcp:{p} IN IP4 0.0.0.0")),
        "[A-Za-z0-9+/]{4,10}".prop_map(|u| format!("a=ice-ufrag:{u}")),
        "[A-Za-z0-9+/]{22,30}".prop_map(|u| format!("a=ice-pwd:{u}")),
        Just("a=ice-options:trickle".to_owned()),
        (any::<u32>(), 1u32..3, any::<u32>(), 0u16..=65535).prop_map(|(f, c, p, port)| format!(
            "a=candidate:{f} {c} udp {p} 127.0.0.1 {port} typ host generation 0"
        )),
        Just("a=end-of-candidates".to_owned()),
        "[a-z0-9]{1,4}".prop_map(|m| format!("a=mid:{m}")),
        Just("a=tcap:1 UDP/TLS/RTP/SAVP RTP/AVP".to_owned()),
        (1u32..5, 1u32..3).prop_map(|(n, t)| format!("a=pcfg:{n} t={t}")),
        (1u32..5, 1u32..3).prop_map(|(n, t)| format!("a=acfg:{n} t={t}")),
        Just(
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
                .to_owned()
        ),
        (0u8..128, "[A-Za-z0-9-]{1,12}", 1000u32..96000)
            .prop_map(|(p, n, r)| format!("a=rtpmap:{p} {n}/{r}")),
        (0u8..128, "[ -~]{1,20}").prop_map(|(p, f)| format!("a=fmtp:{p} {f}")),
        (1u32..200).prop_map(|p| format!("a=ptime:{p}")),
        prop_oneof![
            Just("sendrecv"),
            Just("sendonly"),
            Just("recvonly"),
            Just("inactive")
        ]
        .prop_map(|d| format!("a={d}")),
        Just("a=connection:new".to_owned()),
        ("[a-z][a-z0-9-]{0,15}", text()).prop_map(|(n, v)| format!("a=x-{n}:{v}")),
        text().prop_map(|t| format!("a=ssrc:1 cname:{}", t.replace([' ', '\t'], "_"))),
        Just("c=IN IP6 ::1".to_owned()),
    ]
}

fn mline() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("audio"), Just("video"), Just("application")],
        0u16..=65535,
        prop_oneof![
            Just("UDP/TLS/RTP/SAVP"),
            Just("UDP/TLS/RTP/SAVPF"),
            Just("RTP/AVP"),
            Just("RTP/SAVP"),
            Just("UDP/DTLS/SCTP")
        ],
        proptest::collection::vec(0u8..128, 1..10),
    )
        .prop_map(|(m, p, proto, f)| {
            format!(
                "m={m} {p} {proto} {}",
                f.iter().map(u8::to_string).collect::<Vec<_>>().join(" ")
            )
        })
}

fn body() -> impl Strategy<Value = (String, bool)> {
    (
        proptest::collection::vec(session_attr(), 0..6),
        proptest::collection::vec(
            (mline(), proptest::collection::vec(media_attr(), 0..12)),
            0..4,
        ),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(sess, media, crlf, id)| {
            let mut lines = vec![
                "v=0".to_owned(),
                format!("o=- {id} 1 IN IP4 127.0.0.1"),
                "s=-".into(),
            ];
            lines.push("c=IN IP4 127.0.0.1".into());
            lines.push("t=0 0".into());
            lines.extend(sess);
            for (m, attrs) in media {
                lines.push(m);
                lines.extend(attrs);
            }
            let eol = if crlf { "\r\n" } else { "\n" };
            (lines.iter().map(|l| format!("{l}{eol}")).collect(), crlf)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_write_parse_is_identity_and_write_is_byte_exact((text, _crlf) in body()) {
        let x = Sdp::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let written = x.write();
        prop_assert_eq!(&written, &text.replace("\r\n", "\n").replace('\n', "\r\n"));
        prop_assert_eq!(Sdp::parse(written.as_bytes()).unwrap(), x);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        dtlsrtp_sdp::fuzzing::sdp_parse(&data);
    }

    #[test]
    fn mutated_valid_bodies_never_panic((text, _) in body(), pos in any::<usize>(), byte in any::<u8>()) {
        let mut b = text.into_bytes();
        if !b.is_empty() {
            let i = pos % b.len();
            b[i] = byte;
        }
        dtlsrtp_sdp::fuzzing::sdp_parse(&b);
    }
}
