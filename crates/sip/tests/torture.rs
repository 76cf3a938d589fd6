//! RFC 4475 torture messages (tests/torture/<section>-<name>.dat, the exact bytes of the RFC's Appendix B
//! archive). Valid messages (§3.1.1) parse and round-trip byte-exact; invalid ones (§3.1.2) are refused with a
//! typed error and the status a UAS answers with; §3.2-§3.4 messages parse, leaving the decision to the UA.
//!
//! Deliberate leniencies (documented here and in the parser):
//! - §3.1.2.15 baddn.dat has no empty line after its last header in the archive; a datagram whose header section
//!   ends with the data is accepted, so the message is refused for its display name, the intended defect.
//! - Expires and Contact `expires` overflow saturate at 2^32-1 (RFC 4475 §3.1.2.4 allows treating them as
//!   defaults); scalar02 is still refused for its CSeq.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns may fail loudly
#![allow(clippy::disallowed_methods)] // tests read files (corpora, certificates, sources)

use dtlsrtp_sip::{
    Contact, HeaderError, HeaderName, Host, Message, Method, ParseError, Request, Response, Rport,
    Transport, Uri, UriError,
};

macro_rules! torture {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/torture/",
            $file
        ))
    };
}

fn req(data: &[u8]) -> Request {
    match Message::parse(data) {
        Ok(Message::Request(r)) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn resp(data: &[u8]) -> Response {
    match Message::parse(data) {
        Ok(Message::Response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn err(data: &[u8]) -> ParseError {
    match Message::parse(data) {
        Err(e) => e,
        Ok(m) => panic!("expected an error, parsed {m:?}"),
    }
}

/// Writing back a parsed message gives the same bytes (up to the end of the message).
fn round_trips(data: &[u8], consumed: usize) {
    let m = Message::parse(data).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&m.to_bytes()),
        String::from_utf8_lossy(&data[..consumed])
    );
}

// ---- §3.1.1 valid messages ----

#[test]
fn rfc4475_3_1_1_1_wsinv_short_tortuous_invite() {
    let data = torture!("3.1.1.1-wsinv.dat");
    let r = req(data);
    assert_eq!(r.method, Method::Invite);
    assert_eq!(r.uri.host(), &Host::Domain("chair-dnrc.example.com".into()));
    assert_eq!(r.uri.param("unknownparam"), Some(None));
    let h = &r.headers;
    assert_eq!(h.to().unwrap().tag(), Some("1918181833n"));
    let from = h.from().unwrap();
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(from.display_name().as_deref(), Some("J Rosenberg \\\""));
    assert_eq!(h.max_forwards(), Some(68));
    assert_eq!(h.call_id(), Some("wsinv.ndaksdj@192.0.2.1"));
    assert_eq!(h.cseq().unwrap().seq, 9);
    assert_eq!(h.cseq().unwrap().method, Method::Invite);
    let vias: Vec<_> = h.via().collect();
    assert_eq!(
        vias.len(),
        3,
        "one Via line and one v: line with two values"
    );
    assert_eq!(vias[0].transport, Transport::Udp);
    assert_eq!(vias[0].branch(), Some("390skdjuw"));
    assert_eq!(vias[1].transport, Transport::Tcp);
    assert_eq!(vias[1].branch(), Some("z9hG4bK9ikj8"));
    assert_eq!(vias[2].branch(), Some("z9hG4bK30239"));
    assert_eq!(h.first(HeaderName::Subject).unwrap().value(), "");
    assert_eq!(
        h.first(HeaderName::Other("NewFangledHeader".into()))
            .unwrap()
            .value(),
        "newfangled value  continued newfangled value"
    );
    assert_eq!(
        h.first(HeaderName::Other("UnknownHeaderWithUnusualValue".into()))
            .unwrap()
            .value(),
        ";;,,;;,;"
    );
    let route = h.routes().next().unwrap();
    assert_eq!(route.uri.as_sip().unwrap().param("lr"), Some(None));
    let Contact::Addr(c) = h.contacts().next().unwrap() else {
        panic!()
    };
    assert_eq!(c.params.value("q"), Some("0.33"));
    assert_eq!(c.params.get("secondparam"), Some(None));
    assert_eq!(h.content_length(), Some(150));
    assert_eq!(r.body.len(), 150);
    assert!(h.content_type().unwrap().is("application", "sdp"));
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_2_intmeth_wide_range_of_valid_characters() {
    let data = torture!("3.1.1.2-intmeth.dat");
    let r = req(data);
    assert_eq!(
        r.method,
        Method::Other("!interesting-Method0123456789_*+`.%indeed'~".into())
    );
    assert_eq!(
        r.uri.user(),
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(
        r.uri.password(),
        Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
    );
    assert_eq!(r.headers.from().unwrap().tag(), Some("_token~1'+`*%!-."));
    assert_eq!(
        r.headers.call_id(),
        Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    );
    assert_eq!(r.headers.cseq().unwrap().method, r.method);
    assert_eq!(
        r.headers.top_via().unwrap().branch(),
        Some("z9hG4bK-.!%66*_+`'~")
    );
    assert_eq!(
        r.headers.to().unwrap().display_name().as_deref(),
        Some("BEL:\x07 NUL:\0 DEL:\x7f")
    );
    assert!(r
        .headers
        .first(HeaderName::Other("extensionHeader-!.%*+_`'~".into()))
        .is_some());
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_3_esc01_valid_use_of_percent_escaping() {
    let data = torture!("3.1.1.3-esc01.dat");
    let r = req(data);
    assert_eq!(r.uri.user(), Some("sips%3Auser%40example.com"));
    assert_eq!(r.uri.host(), &Host::Domain("example.net".into()));
    assert_eq!(
        r.headers.to().unwrap().uri.as_sip().unwrap().user(),
        Some("%75se%72")
    );
    assert!(
        r.headers.content_type().unwrap().is("application", "sdp"),
        "C: is Content-Type"
    );
    let Contact::Addr(c) = r.headers.contacts().next().unwrap() else {
        panic!()
    };
    let u = c.uri.as_sip().unwrap();
    assert_eq!(u.param("%6C%72"), Some(None));
    assert_eq!(u.param("n%61me"), Some(Some("v%61lue%25%34%31")));
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_4_escnull_escaped_nulls_in_uris() {
    let data = torture!("3.1.1.4-escnull.dat");
    let r = req(data);
    assert_eq!(r.method, Method::Register);
    assert_eq!(
        r.headers.to().unwrap().uri.as_sip().unwrap().user(),
        Some("null-%00-null")
    );
    assert_eq!(r.headers.contacts().count(), 2);
    assert_eq!(r.headers.content_length(), Some(0), "L:0 compact, no space");
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_5_esc02_escapes_in_method_and_header_name_are_literal() {
    let data = torture!("3.1.1.5-esc02.dat");
    let r = req(data);
    assert_eq!(
        r.method,
        Method::Other("RE%47IST%45R".into()),
        "not REGISTER"
    );
    assert_eq!(
        r.headers.contacts().count(),
        2,
        "C%6Fntact is an unknown header, not Contact"
    );
    assert!(r
        .headers
        .first(HeaderName::Other("C%6Fntact".into()))
        .is_some());
    assert_eq!(
        r.headers.to().unwrap().display_name().as_deref(),
        Some("%Z%45")
    );
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_6_lwsdisp_no_lws_between_display_name_and_laquot() {
    let r = req(torture!("3.1.1.6-lwsdisp.dat"));
    assert_eq!(
        r.headers.from().unwrap().display_name().as_deref(),
        Some("caller")
    );
    assert_eq!(r.headers.from().unwrap().tag(), Some("323"));
}

#[test]
fn rfc4475_3_1_1_7_longreq_long_values_and_34_vias() {
    let data = torture!("3.1.1.7-longreq.dat");
    let r = req(data);
    let vias: Vec<_> = r.headers.via().collect();
    assert_eq!(vias.len(), 34);
    assert_eq!(vias[0].host, Host::Domain("sip33.example.com".into()));
    assert_eq!(vias[33].received(), Some("192.0.2.5"));
    assert!(vias[33].branch().unwrap().len() > 200);
    assert_eq!(
        r.headers.to().unwrap().uri.as_sip().unwrap().port(),
        Some(6000)
    );
    let tag = r.headers.from().unwrap().tag().unwrap();
    assert!(tag.starts_with("1298298298") && tag.ends_with("82982424") && tag.len() > 150);
    assert_eq!(r.body.len(), r.headers.content_length().unwrap() as usize);
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_8_dblreq_extra_bytes_after_content_length_are_ignored_on_udp() {
    let data = torture!("3.1.1.8-dblreq.dat");
    let r = req(data);
    assert_eq!(r.method, Method::Register);
    assert!(r.body.is_empty());
    let end = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    round_trips(data, end);
}

#[test]
fn rfc4475_3_1_1_9_semiuri_semicolon_separated_user_parameters() {
    let r = req(torture!("3.1.1.9-semiuri.dat"));
    assert_eq!(r.uri.user(), Some("user;par=u%40example.net"));
    assert_eq!(r.uri.host(), &Host::Domain("example.com".into()));
    assert_eq!(r.uri.params().count(), 0);
    assert!(r
        .headers
        .first(HeaderName::Other("Accept".into()))
        .unwrap()
        .value()
        .contains("message/sipfrag"));
}

#[test]
fn rfc4475_3_1_1_10_transports_varied_and_unknown_transport_types() {
    let r = req(torture!("3.1.1.10-transports.dat"));
    let t: Vec<_> = r.headers.via().map(|v| v.transport.clone()).collect();
    assert_eq!(
        t,
        [
            Transport::Udp,
            Transport::Sctp,
            Transport::Tls,
            Transport::Other("UNKNOWN".into()),
            Transport::Tcp
        ]
    );
    assert_eq!(
        r.headers.call_id(),
        Some("transports.kijh4akdnaqjkwendsasfdj")
    );
}

#[test]
fn rfc4475_3_1_1_11_mpart01_multipart_binary_body_and_identity_kept_verbatim() {
    let data = torture!("3.1.1.11-mpart01.dat");
    let r = req(data);
    assert_eq!(r.method, Method::Message);
    assert_eq!(r.body.len(), 553);
    assert_eq!(r.headers.top_via().unwrap().rport(), Some(Rport::Requested));
    let id = r.headers.first(HeaderName::Identity).unwrap();
    assert!(id
        .raw()
        .starts_with(b"Identity: r5mwreLuyDRYBi/0TiPwEsY3rEVsk"));
    assert_eq!(
        r.headers.content_type().unwrap().params.value("boundary"),
        Some("7a9cbec02ceef655")
    );
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_12_unreason_utf8_reason_phrase() {
    let data = torture!("3.1.1.12-unreason.dat");
    let r = resp(data);
    assert_eq!(r.status, 200);
    assert!(r.reason.starts_with("= 2**3 * 5**2 но сто"));
    assert_eq!(r.body.len(), 154);
    round_trips(data, data.len());
}

#[test]
fn rfc4475_3_1_1_13_noreason_empty_reason_phrase() {
    let data = torture!("3.1.1.13-noreason.dat");
    let r = resp(data);
    assert_eq!(r.status, 100);
    assert_eq!(r.reason, "");
    round_trips(data, data.len());
}

// ---- §3.1.2 invalid messages ----

#[test]
fn rfc4475_3_1_2_1_badinv01_extraneous_header_separators_400() {
    let e = err(torture!("3.1.2.1-badinv01.dat"));
    // "192.0.2.15;;,;,," : the empty list elements are found first
    assert_eq!(
        e,
        ParseError::Header {
            name: "Via",
            error: HeaderError::EmptyElement
        }
    );
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_2_clerr_content_length_larger_than_message_400() {
    let e = err(torture!("3.1.2.2-clerr.dat"));
    assert_eq!(e, ParseError::BodyTruncated { declared: 9999 });
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_3_ncl_negative_content_length_400() {
    let e = err(torture!("3.1.2.3-ncl.dat"));
    assert_eq!(
        e,
        ParseError::Header {
            name: "Content-Length",
            error: HeaderError::Syntax
        }
    );
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_4_scalar02_overlarge_request_scalars_400() {
    let e = err(torture!("3.1.2.4-scalar02.dat"));
    assert_eq!(
        e,
        ParseError::Header {
            name: "CSeq",
            error: HeaderError::OutOfRange
        }
    );
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_5_scalarlg_overlarge_response_scalars_dropped() {
    assert_eq!(
        err(torture!("3.1.2.5-scalarlg.dat")),
        ParseError::Header {
            name: "CSeq",
            error: HeaderError::OutOfRange
        }
    );
}

#[test]
fn rfc4475_3_1_2_6_quotbal_unterminated_quoted_display_name_400() {
    let e = err(torture!("3.1.2.6-quotbal.dat"));
    assert_eq!(
        e,
        ParseError::Header {
            name: "To",
            error: HeaderError::UnterminatedQuote
        }
    );
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_7_ltgtruri_angle_brackets_around_request_uri_400() {
    let e = err(torture!("3.1.2.7-ltgtruri.dat"));
    assert_eq!(e, ParseError::RequestUri(UriError::NoScheme));
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_8_lwsruri_embedded_lws_in_request_uri_400() {
    let e = err(torture!("3.1.2.8-lwsruri.dat"));
    assert_eq!(e, ParseError::StartLine);
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_9_lwsstart_multiple_sp_in_request_line_400() {
    assert_eq!(err(torture!("3.1.2.9-lwsstart.dat")), ParseError::StartLine);
}

#[test]
fn rfc4475_3_1_2_10_trws_sp_at_end_of_request_line_400() {
    assert_eq!(err(torture!("3.1.2.10-trws.dat")), ParseError::StartLine);
}

#[test]
fn rfc4475_3_1_2_11_escruri_escaped_headers_in_request_uri_400() {
    let e = err(torture!("3.1.2.11-escruri.dat"));
    assert_eq!(e, ParseError::RequestUriHeaders);
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_1_2_12_baddate_time_zone_not_gmt_400() {
    assert_eq!(
        err(torture!("3.1.2.12-baddate.dat")),
        ParseError::Header {
            name: "Date",
            error: HeaderError::DateNotGmt
        }
    );
}

#[test]
fn rfc4475_3_1_2_13_regbadct_unbracketed_uri_with_headers_400() {
    assert_eq!(
        err(torture!("3.1.2.13-regbadct.dat")),
        ParseError::Header {
            name: "Contact",
            error: HeaderError::UnbracketedUri
        }
    );
}

#[test]
fn rfc4475_3_1_2_14_badaspec_spaces_inside_angle_brackets_400() {
    assert_eq!(
        err(torture!("3.1.2.14-badaspec.dat")),
        ParseError::Header {
            name: "To",
            error: HeaderError::SpaceInBrackets
        }
    );
}

#[test]
fn rfc4475_3_1_2_15_baddn_non_token_characters_in_display_name_400() {
    assert_eq!(
        err(torture!("3.1.2.15-baddn.dat")),
        ParseError::Header {
            name: "From",
            error: HeaderError::DisplayName
        }
    );
}

#[test]
fn rfc4475_3_1_2_16_badvers_unknown_protocol_version_505() {
    let e = err(torture!("3.1.2.16-badvers.dat"));
    assert_eq!(e, ParseError::UnsupportedVersion);
    assert_eq!(e.status_code(), 505);
}

#[test]
fn rfc4475_3_1_2_17_mismatch01_start_line_and_cseq_method_mismatch_400() {
    assert_eq!(
        err(torture!("3.1.2.17-mismatch01.dat")),
        ParseError::CSeqMethodMismatch
    );
}

#[test]
fn rfc4475_3_1_2_18_mismatch02_unknown_method_with_cseq_mismatch_400() {
    assert_eq!(
        err(torture!("3.1.2.18-mismatch02.dat")),
        ParseError::CSeqMethodMismatch
    );
}

#[test]
fn rfc4475_3_1_2_19_bigcode_overlarge_response_code_dropped() {
    assert_eq!(
        err(torture!("3.1.2.19-bigcode.dat")),
        ParseError::StatusCode
    );
}

// ---- §3.2 transaction layer, §3.3 application layer, §3.4 backward compatibility ----

#[test]
fn rfc4475_3_2_1_badbranch_bare_magic_cookie_is_not_an_rfc3261_branch() {
    let r = req(torture!("3.2.1-badbranch.dat"));
    let via = r.headers.top_via().unwrap();
    assert_eq!(via.branch(), Some("z9hG4bK"));
    assert!(
        !via.has_rfc3261_branch(),
        "matched the RFC 2543 way (§17.2.3)"
    );
}

#[test]
fn rfc4475_3_3_1_insuf_missing_required_headers_400() {
    let e = err(torture!("3.3.1-insuf.dat"));
    assert!(
        matches!(e, ParseError::MissingHeader("To" | "From" | "Call-ID")),
        "{e:?}"
    );
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_3_2_unkscm_unknown_request_uri_scheme_416() {
    let e = err(torture!("3.3.2-unkscm.dat"));
    assert_eq!(e, ParseError::UnsupportedUriScheme);
    assert_eq!(e.status_code(), 416);
}

#[test]
fn rfc4475_3_3_3_novelsc_known_but_atypical_scheme_416() {
    assert_eq!(err(torture!("3.3.3-novelsc.dat")).status_code(), 416);
}

#[test]
fn rfc4475_3_3_4_unksm2_unknown_schemes_in_headers_parse() {
    let r = req(torture!("3.3.4-unksm2.dat"));
    assert_eq!(
        r.headers.to().unwrap().uri,
        Uri::Other("isbn:2983792873".into())
    );
    assert_eq!(
        r.headers.from().unwrap().uri,
        Uri::Other("http://www.example.com".into())
    );
    let Contact::Addr(c) = r.headers.contacts().next().unwrap() else {
        panic!()
    };
    assert_eq!(c.uri, Uri::Other("name:John_Smith".into()));
}

#[test]
fn rfc4475_3_3_5_bext01_unknown_require_and_proxy_require_parse() {
    let r = req(torture!("3.3.5-bext01.dat"));
    assert_eq!(
        r.headers.require().collect::<Vec<_>>(),
        ["nothingSupportsThis", "nothingSupportsThisEither"]
    );
    assert_eq!(r.headers.proxy_require().count(), 2);
}

#[test]
fn rfc4475_3_3_6_invut_unknown_content_type_parses() {
    let r = req(torture!("3.3.6-invut.dat"));
    assert!(r
        .headers
        .content_type()
        .unwrap()
        .is("application", "unknownformat"));
    assert_eq!(r.body.len(), 40);
}

#[test]
fn rfc4475_3_3_7_regaut01_unknown_authorization_scheme_parses() {
    let r = req(torture!("3.3.7-regaut01.dat"));
    let a = r.headers.authorization().next().unwrap();
    assert_eq!(&*a.scheme, "NoOneKnowsThisScheme");
    assert_eq!(a.get("opaque-data").as_deref(), Some("here"));
    assert!(!a.is_digest());
}

#[test]
fn rfc4475_3_3_8_multi01_multiple_values_in_single_value_headers_400() {
    let e = err(torture!("3.3.8-multi01.dat"));
    assert!(matches!(e, ParseError::DuplicateHeader(_)), "{e:?}");
    assert_eq!(e.status_code(), 400);
}

#[test]
fn rfc4475_3_3_9_mcl01_multiple_content_length_400() {
    assert_eq!(
        err(torture!("3.3.9-mcl01.dat")),
        ParseError::DuplicateHeader("Content-Length")
    );
}

#[test]
fn rfc4475_3_3_10_bcast_response_with_broadcast_via_parses() {
    let r = resp(torture!("3.3.10-bcast.dat"));
    let vias: Vec<_> = r.headers.via().collect();
    assert_eq!(
        vias.len(),
        2,
        "a UAC discards a response with two Vias (§8.1.3.3): its decision"
    );
    assert_eq!(vias[1].host, Host::Ipv4("255.255.255.255".parse().unwrap()));
}

#[test]
fn rfc4475_3_3_11_zeromf_max_forwards_zero_parses_ua_decides() {
    let r = req(torture!("3.3.11-zeromf.dat"));
    assert_eq!(r.headers.max_forwards(), Some(0));
}

#[test]
fn rfc4475_3_3_12_cparam01_unbracketed_contact_param_is_a_header_param() {
    let r = req(torture!("3.3.12-cparam01.dat"));
    let Contact::Addr(c) = r.headers.contacts().next().unwrap() else {
        panic!()
    };
    assert_eq!(c.params.get("unknownparam"), Some(None));
    assert_eq!(c.uri.as_sip().unwrap().params().count(), 0);
}

#[test]
fn rfc4475_3_3_13_cparam02_bracketed_contact_param_is_a_uri_param() {
    let r = req(torture!("3.3.13-cparam02.dat"));
    let Contact::Addr(c) = r.headers.contacts().next().unwrap() else {
        panic!()
    };
    assert!(c.params.is_empty());
    assert_eq!(c.uri.as_sip().unwrap().param("unknownparam"), Some(None));
}

#[test]
fn rfc4475_3_3_14_regescrt_contact_with_escaped_header_parses() {
    let r = req(torture!("3.3.14-regescrt.dat"));
    let Contact::Addr(c) = r.headers.contacts().next().unwrap() else {
        panic!()
    };
    let h: Vec<_> = c.uri.as_sip().unwrap().headers().collect();
    assert_eq!(h, [("Route", "%3Csip:sip.example.com%3E")]);
}

#[test]
fn rfc4475_3_3_15_sdp01_unacceptable_accept_parses() {
    let r = req(torture!("3.3.15-sdp01.dat"));
    assert_eq!(
        r.headers
            .first(HeaderName::Other("Accept".into()))
            .unwrap()
            .value(),
        "text/nobodyKnowsThis"
    );
}

#[test]
fn rfc4475_3_4_1_inv2543_rfc2543_syntax_accepted() {
    let r = req(torture!("3.4.1-inv2543.dat"));
    assert_eq!(r.headers.max_forwards(), None);
    assert_eq!(r.headers.content_length(), None);
    assert!(!r.headers.top_via().unwrap().has_rfc3261_branch());
    assert!(
        r.body.starts_with(b"v=0"),
        "no Content-Length on UDP: body runs to the datagram end"
    );
}

// ---- every file is covered, and each one survives stream framing too ----

#[test]
fn rfc4475_all_49_files_present_and_frameable_without_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        dtlsrtp_sip::fuzz_parse(&data);
        n += 1;
    }
    assert_eq!(n, 49);
}

#[test]
fn error_response_copies_via_from_to_call_id_cseq_verbatim() {
    let data = torture!("3.1.2.16-badvers.dat");
    let out = dtlsrtp_sip::error_response(data, err(data).status_code()).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.starts_with("SIP/2.0 505 Version Not Supported\r\n"));
    assert!(text.contains("Via:     SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw\r\n"));
    assert!(text.contains("Call-ID: badvers.31417@c.example.com\r\n"));
    assert!(
        dtlsrtp_sip::error_response(torture!("3.1.2.19-bigcode.dat"), 400).is_none(),
        "never answer a response"
    );
    assert!(
        dtlsrtp_sip::error_response(torture!("3.3.1-insuf.dat"), 400).is_none(),
        "no Call-ID: drop"
    );
}
