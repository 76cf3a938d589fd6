//! Message, URI, header and framer behaviour beyond the torture corpus (RFC 3261 §7, §18.3, §19.1, §20; RFC 3581).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns may fail loudly

use dtlsrtp_sip::{
    Contact, Framed, HeaderName, Host, Limits, Message, Method, ParseError, Request, Response,
    Rport, SipUri, StreamFramer, Transport, UriError, Via,
};

const OPTIONS: &str = "OPTIONS sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKabc;rport=5062;received=2001:db8::9\r\n\
Max-Forwards: 70\r\n\
To: <sip:bob@example.com>\r\n\
From: \"A \\\"q\\\"\" <sips:alice@[2001:db8::2]:5061;transport=tls>;tag=x1\r\n\
Call-ID: abc@h\r\n\
CSeq: 7 OPTIONS\r\n\
Supported: 100rel, timer\r\n\
k: path\r\n\
Allow: INVITE, ACK, BYE\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn rfc3261_7_parse_ipv6_sent_by_rport_value_and_sips_uri() {
    let m = Message::parse(OPTIONS.as_bytes()).unwrap();
    let h = m.headers();
    let via = h.top_via().unwrap();
    assert_eq!(via.host, Host::Ipv6("2001:db8::1".parse().unwrap()));
    assert_eq!(via.port, Some(5062));
    assert_eq!(via.rport(), Some(Rport::Port(5062)));
    assert_eq!(via.received(), Some("2001:db8::9"));
    let from = h.from().unwrap();
    assert_eq!(from.display_name().as_deref(), Some("A \"q\""));
    let u = from.uri.as_sip().unwrap();
    assert!(u.is_secure());
    assert_eq!(u.host(), &Host::Ipv6("2001:db8::2".parse().unwrap()));
    assert_eq!(u.port(), Some(5061));
    assert_eq!(u.transport(), Some("tls"));
    assert_eq!(
        h.supported().collect::<Vec<_>>(),
        ["100rel", "timer", "path"],
        "repeated + compact k:"
    );
    assert_eq!(h.allow().count(), 3);
    assert_eq!(m.to_bytes(), OPTIONS.as_bytes());
}

#[test]
fn rfc3261_7_5_lf_only_line_ends_and_leading_crlf_are_tolerated() {
    let lf = format!("\r\n{}", OPTIONS.replace("\r\n", "\n"));
    let m = Message::parse(lf.as_bytes()).unwrap();
    assert_eq!(m.headers().call_id(), Some("abc@h"));
    // written back with CRLF line ends
    assert_eq!(m.to_bytes(), OPTIONS.as_bytes());
}

#[test]
fn rfc3261_7_3_1_folded_header_keeps_raw_bytes_and_unfolds_for_typed_access() {
    let s = OPTIONS.replace("CSeq: 7 OPTIONS", "CSeq: 7\r\n\t OPTIONS");
    let m = Message::parse(s.as_bytes()).unwrap();
    assert_eq!(m.headers().cseq().unwrap().method, Method::Options);
    assert_eq!(m.to_bytes(), s.as_bytes());
}

#[test]
fn size_limits_413_for_oversize_and_too_many_headers() {
    let limits = Limits {
        max_message_size: 100,
        max_headers: 128,
    };
    let e = Message::parse_with(OPTIONS.as_bytes(), &limits).unwrap_err();
    assert_eq!(e, ParseError::MessageTooLarge { limit: 100 });
    assert_eq!(e.status_code(), 413);
    let limits = Limits {
        max_message_size: 65_535,
        max_headers: 5,
    };
    let e = Message::parse_with(OPTIONS.as_bytes(), &limits).unwrap_err();
    assert_eq!(e, ParseError::TooManyHeaders { limit: 5 });
    assert_eq!(e.status_code(), 413);
}

#[test]
fn rfc3261_20_single_value_header_with_list_is_400() {
    let s = OPTIONS.replace(
        "To: <sip:bob@example.com>",
        "To: <sip:bob@example.com>, <sip:carol@example.com>",
    );
    assert_eq!(Message::parse(s.as_bytes()).unwrap_err().status_code(), 400);
}

#[test]
fn rfc3261_8_1_1_5_cseq_at_2_pow_31_is_out_of_range() {
    let s = OPTIONS.replace("CSeq: 7", "CSeq: 2147483648");
    assert!(matches!(
        Message::parse(s.as_bytes()),
        Err(ParseError::Header { name: "CSeq", .. })
    ));
    let s = OPTIONS.replace("CSeq: 7", "CSeq: 2147483647");
    assert!(Message::parse(s.as_bytes()).is_ok());
}

#[test]
fn rfc3261_19_1_uri_parse_and_format_round_trip() {
    for s in [
        "sip:alice@atlanta.com",
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sips:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
        "sip:[::1]:5060;lr",
        "sip:192.0.2.4:5070",
    ] {
        let u = SipUri::parse(s).unwrap();
        assert_eq!(u.to_string(), s);
    }
    let u = SipUri::parse("sip:[::1]:5060;lr").unwrap();
    assert_eq!(u.host(), &Host::Ipv6("::1".parse().unwrap()));
    assert_eq!(u.param("lr"), Some(None));
    assert_eq!(SipUri::parse("sip:[::1"), Err(UriError::Ipv6));
    assert_eq!(SipUri::parse("sip:a@b:99999"), Err(UriError::Port));
    assert_eq!(SipUri::parse("sip:a@"), Err(UriError::Host));
    assert_eq!(SipUri::parse("sip:a%2@b"), Err(UriError::Escape));
    assert_eq!(SipUri::parse("tel:+123"), Err(UriError::NotSip));
    assert_eq!(SipUri::parse("sip:a b@c"), Err(UriError::UserInfo));
    let u = SipUri::new(
        false,
        Some("bob"),
        Host::Ipv4("192.0.2.1".parse().unwrap()),
        Some(5060),
    )
    .unwrap();
    let u = u
        .with_param("transport", Some("tcp"))
        .unwrap()
        .with_param("lr", None)
        .unwrap();
    assert_eq!(u.as_str(), "sip:bob@192.0.2.1:5060;transport=tcp;lr");
}

#[test]
fn rfc3581_rport_stamped_by_server_and_written() {
    let s = OPTIONS.replace(";rport=5062;received=2001:db8::9", ";rport");
    let Message::Request(mut r) = Message::parse(s.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(r.headers.top_via().unwrap().rport(), Some(Rport::Requested));
    r.headers
        .update_top_via(|v| v.stamp_source("192.0.2.7".parse().unwrap(), 40000))
        .unwrap();
    let v = r.headers.top_via().unwrap();
    assert_eq!(v.rport(), Some(Rport::Port(40000)));
    assert_eq!(v.received(), Some("192.0.2.7"));
    assert!(String::from_utf8(r.to_bytes()).unwrap().contains(
        "Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKabc;rport=40000;received=192.0.2.7\r\n"
    ));
}

#[test]
fn rfc3261_8_2_6_response_from_request_copies_headers_and_adds_to_tag() {
    let Message::Request(r) = Message::parse(OPTIONS.as_bytes()).unwrap() else {
        panic!()
    };
    let resp = Response::from_request(&r, 486, Some("srv1")).unwrap();
    let text = String::from_utf8(resp.to_bytes()).unwrap();
    assert!(text.starts_with(
        "SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKabc;"
    ));
    assert_eq!(resp.headers.to().unwrap().tag(), Some("srv1"));
    assert_eq!(resp.headers.from().unwrap().tag(), Some("x1"));
    let again = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(again.as_response().unwrap().status, 486);
}

#[test]
fn request_builder_with_body_sets_content_length_and_parses_back() {
    let mut r = Request::new(
        Method::Invite,
        SipUri::parse("sip:bob@example.com").unwrap(),
    );
    let via = Via::new(
        Transport::Udp,
        Host::Domain("pc33.example.com".into()),
        Some(5060),
        "z9hG4bKnashds8",
        true,
    );
    r.headers.add(HeaderName::Via, &via.to_string()).unwrap();
    r.headers.add(HeaderName::MaxForwards, "70").unwrap();
    r.headers
        .add(HeaderName::To, "<sip:bob@example.com>")
        .unwrap();
    r.headers
        .add(HeaderName::From, "<sip:alice@example.com>;tag=1")
        .unwrap();
    r.headers.add(HeaderName::CallId, "x@y").unwrap();
    r.headers.add(HeaderName::CSeq, "1 INVITE").unwrap();
    r.headers.add(HeaderName::Contact, "*").unwrap();
    r.set_body(Some("application/sdp"), b"v=0\r\n".to_vec())
        .unwrap();
    let bytes = r.to_bytes();
    let back = Message::parse(&bytes).unwrap();
    let back = back.as_request().unwrap();
    assert_eq!(back, &r);
    assert_eq!(back.headers.content_length(), Some(5));
    assert!(matches!(
        back.headers.contacts().next(),
        Some(Contact::Star)
    ));
    assert_eq!(
        back.headers.top_via().unwrap().rport(),
        Some(Rport::Requested)
    );
}

#[test]
fn rfc3262_rseq_rack_and_digest_challenge_typed() {
    let s = OPTIONS.replace(
        "Content-Length: 0",
        "RSeq: 988789\r\nRAck: 776656 1 INVITE\r\nWWW-Authenticate: Digest realm=\"atlanta.com\", \
         nonce=\"84a4cc6f3082121f32b42a2187831a9e\", qop=\"auth\", algorithm=MD5, stale=TRUE\r\nContent-Length: 0",
    );
    let m = Message::parse(s.as_bytes()).unwrap();
    let h = m.headers();
    assert_eq!(h.rseq(), Some(988789));
    let rack = h.rack().unwrap();
    assert_eq!(
        (rack.rseq, rack.cseq, &rack.method),
        (776656, 1, &Method::Invite)
    );
    let c = h.www_authenticate().next().unwrap();
    assert!(c.is_digest());
    assert_eq!(c.realm().as_deref(), Some("atlanta.com"));
    assert_eq!(
        c.nonce().as_deref(),
        Some("84a4cc6f3082121f32b42a2187831a9e")
    );
    assert_eq!(c.qop().as_deref(), Some("auth"));
    assert_eq!(c.algorithm().as_deref(), Some("MD5"));
    assert!(c.stale());
}

#[test]
fn rfc3261_18_3_framer_splits_stream_by_content_length_and_skips_keepalives() {
    let body_msg = OPTIONS.replace("Content-Length: 0\r\n\r\n", "Content-Length: 4\r\n\r\nabcd");
    let stream = format!("\r\n\r\n{OPTIONS}\r\n{body_msg}");
    let mut f = StreamFramer::default();
    let mut got = Vec::new();
    for b in stream.as_bytes().chunks(3) {
        f.push(b);
        while let Some(item) = f.next_message() {
            got.push(item.unwrap());
        }
    }
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], Framed::KeepAlivePing);
    let Framed::Message(m) = &got[2] else {
        panic!()
    };
    assert_eq!(m.body(), b"abcd");
    assert_eq!(f.buffered(), 0);
}

#[test]
fn rfc3261_18_3_framer_requires_content_length_and_refuses_oversize() {
    let no_cl = OPTIONS.replace("Content-Length: 0\r\n", "");
    let mut f = StreamFramer::default();
    f.push(no_cl.as_bytes());
    assert_eq!(
        f.next_message(),
        Some(Err(ParseError::MissingContentLength))
    );
    assert_eq!(
        f.next_message(),
        Some(Err(ParseError::MissingContentLength)),
        "fatal: stays failed"
    );

    let mut f = StreamFramer::new(Limits {
        max_message_size: 1000,
        max_headers: 64,
    });
    f.push(
        OPTIONS
            .replace("Content-Length: 0", "Content-Length: 5000")
            .as_bytes(),
    );
    assert_eq!(
        f.next_message(),
        Some(Err(ParseError::MessageTooLarge { limit: 1000 }))
    );

    let mut f = StreamFramer::new(Limits {
        max_message_size: 1000,
        max_headers: 64,
    });
    f.push(&[b'A'; 1001]);
    assert_eq!(
        f.next_message(),
        Some(Err(ParseError::MessageTooLarge { limit: 1000 })),
        "no header end in sight"
    );
}

#[test]
fn rfc3261_18_3_framer_malformed_message_is_reported_and_stream_continues() {
    let bad = OPTIONS.replace("SIP/2.0\r\n", "SIP/3.0\r\n");
    let mut f = StreamFramer::default();
    f.push(format!("{bad}{OPTIONS}").as_bytes());
    let Some(Ok(Framed::Malformed { error, bytes })) = f.next_message() else {
        panic!()
    };
    assert_eq!(error.status_code(), 505);
    assert!(dtlsrtp_sip::error_response(&bytes, 505).is_some());
    assert!(matches!(f.next_message(), Some(Ok(Framed::Message(_)))));
}

#[test]
fn header_values_with_crlf_are_refused_no_injection() {
    assert!(
        dtlsrtp_sip::HeaderField::new(HeaderName::Other("X-A".into()), "a\r\nVia: evil").is_err()
    );
    let Message::Request(r) = Message::parse(OPTIONS.as_bytes()).unwrap() else {
        panic!()
    };
    let mut resp = Response::from_request(&r, 200, Some("t")).unwrap();
    resp.reason = "OK\r\nX-Evil: 1".into();
    let text = String::from_utf8(resp.to_bytes()).unwrap();
    assert!(text.starts_with("SIP/2.0 200 OK  X-Evil: 1\r\n"));
}

#[test]
fn error_response_keeps_folded_lines_of_copied_headers() {
    let s = OPTIONS
        .replace("SIP/2.0\r\n", "SIP/9.0\r\n")
        .replace("CSeq: 7 OPTIONS", "CSeq: 7\r\n OPTIONS");
    let out = String::from_utf8(dtlsrtp_sip::error_response(s.as_bytes(), 505).unwrap()).unwrap();
    assert!(out.contains("CSeq: 7\r\n OPTIONS\r\n"), "{out}");
    assert!(
        Message::parse(out.as_bytes()).is_ok(),
        "the 505 itself parses: {out}"
    );
}

#[test]
fn rfc3261_18_3_framing_is_independent_of_how_the_stream_is_cut() {
    let msgs: Vec<Vec<u8>> = [
        include_bytes!("torture/3.1.1.1-wsinv.dat").as_slice(),
        include_bytes!("torture/3.1.1.11-mpart01.dat").as_slice(),
        include_bytes!("torture/3.1.1.7-longreq.dat").as_slice(),
    ]
    .iter()
    .map(|m| m.to_vec())
    .collect();
    let stream: Vec<u8> = msgs
        .iter()
        .flat_map(|m| m.iter().copied().chain(*b"\r\n\r\n"))
        .collect();
    for chunk in [1, 2, 3, 7, 64, 1000, stream.len()] {
        let mut f = StreamFramer::default();
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            f.push(c);
            while let Some(item) = f.next_message() {
                if let Framed::Message(m) = item.unwrap() {
                    got.push(m.to_bytes());
                }
            }
        }
        assert_eq!(got, msgs, "chunk size {chunk}");
        assert_eq!(f.buffered(), 0);
    }
}
