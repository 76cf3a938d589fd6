//! Property tests: what we format parses back to the same value (RFC 3261 §19.1 URIs, §20.42 Via, §20.10
//! name-addr quoting, whole messages).
#![allow(clippy::unwrap_used)] // proptest bodies

use dtlsrtp_sip::{
    HeaderField, HeaderName, Host, Message, Method, NameAddr, Request, Rport, SipUri, Transport,
    TypedValue, Uri, Via,
};
use proptest::prelude::*;

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}".prop_map(|d| Host::Domain(d.into())),
        any::<u32>().prop_map(|a| Host::Ipv4(a.into())),
        any::<u128>().prop_map(|a| Host::Ipv6(a.into())),
    ]
}

fn user() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof!["[a-zA-Z0-9_.!~*'()&=+$,;?/-]", "%[0-9A-F]{2}"],
        1..10,
    )
    .prop_map(|v| v.concat())
}

fn params() -> impl Strategy<Value = Vec<(String, Option<String>)>> {
    prop::collection::vec(
        (
            "[a-z][a-z0-9]{0,7}",
            prop::option::of("[a-zA-Z0-9._~-]{1,8}"),
        ),
        0..4,
    )
}

proptest! {
    #[test]
    fn rfc3261_19_1_sip_uri_format_parse_round_trip(
        secure in any::<bool>(), u in prop::option::of(user()), h in host(), port in prop::option::of(any::<u16>()),
        ps in params(),
    ) {
        let mut s = String::from(if secure { "sips:" } else { "sip:" });
        if let Some(u) = &u { s.push_str(u); s.push('@'); }
        s.push_str(&h.to_string());
        if let Some(p) = port { s.push_str(&format!(":{p}")); }
        for (n, v) in &ps {
            s.push(';');
            s.push_str(n);
            if let Some(v) = v { s.push('='); s.push_str(v); }
        }
        let uri = SipUri::parse(&s).unwrap();
        prop_assert_eq!(uri.is_secure(), secure);
        prop_assert_eq!(uri.user(), u.as_deref());
        prop_assert_eq!(uri.host(), &h);
        prop_assert_eq!(uri.port(), port);
        let got: Vec<(String, Option<String>)> = uri.params().map(|(n, v)| (n.to_owned(), v.map(str::to_owned))).collect();
        prop_assert_eq!(got, ps);
        prop_assert_eq!(uri.to_string(), s);
    }

    #[test]
    fn rfc3261_20_42_via_format_parse_round_trip(
        t in prop::sample::select(vec![Transport::Udp, Transport::Tcp, Transport::Tls, Transport::Sctp, Transport::Ws]),
        h in host(), port in prop::option::of(1u16..), branch in "[a-zA-Z0-9.!%*_+`'~-]{1,20}",
        rport in any::<bool>(), received in prop::option::of(any::<u32>()),
    ) {
        let mut via = Via::new(t, h, port, &format!("z9hG4bK{branch}"), rport);
        if let Some(r) = received {
            via.stamp_source(std::net::Ipv4Addr::from(r).into(), 5070);
        }
        let f = HeaderField::new(HeaderName::Via, &via.to_string()).unwrap();
        let TypedValue::Via(back) = f.typed() else { panic!() };
        prop_assert_eq!(&back[0], &via);
        prop_assert!(back[0].has_rfc3261_branch());
        if received.is_some() && rport {
            prop_assert_eq!(back[0].rport(), Some(Rport::Port(5070)));
        }
    }

    #[test]
    fn rfc3261_25_1_display_name_quoting_round_trip(name in "[ -~\u{e9}\u{4e2d}]{0,20}", tag in "[a-z0-9]{1,10}") {
        let mut a = NameAddr::new(Uri::Sip(SipUri::parse("sip:bob@example.com").unwrap())).with_display_name(&name);
        a.set_tag(&tag);
        let f = HeaderField::new(HeaderName::From, &a.to_string()).unwrap();
        let TypedValue::Addr(back) = f.typed() else { panic!() };
        prop_assert_eq!(back.display_name(), Some(name));
        prop_assert_eq!(back.tag(), Some(tag.as_str()));
    }

    #[test]
    fn rfc3261_7_built_request_writes_and_parses_back_equal(
        h in host(), cseq in 0u32..(1 << 31), call_id in "[a-zA-Z0-9.!%*_+`'~()<>:/?{}-]{1,30}(@[a-z.]{1,10})?",
        body in prop::collection::vec(any::<u8>(), 0..300), extra in "[ -~]{0,40}",
    ) {
        let mut r = Request::new(Method::Options, SipUri::parse("sip:bob@example.com").unwrap());
        let via = Via::new(Transport::Tcp, h, Some(5060), "z9hG4bKx", true);
        r.headers.add(HeaderName::Via, &via.to_string()).unwrap();
        r.headers.add(HeaderName::MaxForwards, "70").unwrap();
        r.headers.add(HeaderName::To, "<sip:bob@example.com>").unwrap();
        r.headers.add(HeaderName::From, "<sip:alice@example.com>;tag=a").unwrap();
        r.headers.add(HeaderName::CallId, &call_id).unwrap();
        r.headers.add(HeaderName::CSeq, &format!("{cseq} OPTIONS")).unwrap();
        r.headers.add(HeaderName::Other("X-Extra".into()), extra.trim()).unwrap();
        r.set_body(Some("application/octet-stream"), body).unwrap();
        let bytes = r.to_bytes();
        let back = Message::parse(&bytes).unwrap();
        prop_assert_eq!(back.as_request(), Some(&r));
        prop_assert_eq!(back.to_bytes(), bytes);
    }
}
