//! Anonymous calls (F-6.1a, F-6.1d): `Privacy: id` (RFC 3325 §9.3) and a request with nothing that names the
//! caller (RFC 3323 §4.1.1: anonymous From, no identity-asserting or user-describing header fields).
//! The fresh per-call certificate (F-6.1b/e) is the endpoint's job.

use crate::error::HeaderError;
use crate::header::{HeaderName, Headers, NameAddr};
use crate::uri::Uri;

/// The `Privacy` value that asks for no asserted identity (RFC 3325).
pub const PRIVACY_ID: &str = "id";
/// The From URI of an anonymous request (RFC 3323 §4.1.1.3).
pub const ANONYMOUS_FROM_URI: &str = "sip:anonymous@anonymous.invalid";

/// Header fields that identify or describe the caller and are removed (case-insensitive names).
const IDENTIFYING: &[&str] = &[
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Remote-Party-ID",
    "Identity",
    "Identity-Info",
    "Call-Info",
    "Organization",
    "Reply-To",
    "In-Reply-To",
    "Subject",
    "User-Agent",
    "Privacy",
];

/// Makes a request anonymous in place: From becomes `"Anonymous" <sip:anonymous@anonymous.invalid>` with the
/// same tag, the identifying header fields above are removed (the compact `y`/`s` forms too), and
/// `Privacy: id` is added. Contact and Via stay: the dialog needs them, so the caller builds them (and the
/// Call-ID) without a user name or host name for an anonymous call (RFC 3323 §4.1).
pub fn anonymize(headers: &mut Headers) -> Result<(), HeaderError> {
    let tag = headers.from().and_then(|f| f.tag()).map(str::to_owned);
    let uri = Uri::parse(ANONYMOUS_FROM_URI).map_err(HeaderError::Uri)?;
    let mut from = NameAddr::new(uri).with_display_name("Anonymous");
    if let Some(t) = &tag {
        from.set_tag(t);
    }
    let kept: Vec<_> = headers
        .iter()
        // known names (Identity, Subject) map to their long form whatever was written (y, s)
        .filter(|f| {
            !IDENTIFYING
                .iter()
                .any(|i| i.eq_ignore_ascii_case(f.name().as_str()))
        })
        .cloned()
        .collect();
    let mut out = Headers::new();
    for f in kept {
        out.push(f);
    }
    out.set(HeaderName::From, &from.to_string())?;
    out.add(HeaderName::from_wire("Privacy"), PRIVACY_ID)?;
    *headers = out;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn f_6_1d_privacy_id_and_nothing_identifying() {
        let raw = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@example.com>\r\n\
From: \"Alice Smith\" <sip:alice@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
P-Asserted-Identity: <sip:alice@example.com>\r\n\
p-preferred-identity: <sip:alice@example.com>\r\n\
y: abc.def.ghi;info=<http://x/>\r\n\
Organization: Example Inc\r\n\
User-Agent: dtlsrtp/0.1 alice-laptop\r\n\
s: hello from Alice\r\n\
Contact: <sip:192.0.2.1:5060>\r\n\
Content-Length: 0\r\n\r\n";
        let msg = Message::parse(raw).unwrap();
        let mut req = msg.as_request().unwrap().clone();
        anonymize(&mut req.headers).unwrap();
        let from = req.headers.from().unwrap();
        assert_eq!(from.uri.to_string(), ANONYMOUS_FROM_URI);
        assert_eq!(from.tag(), Some("1928301774"));
        let names: Vec<String> = req
            .headers
            .iter()
            .map(|f| f.name().as_str().to_ascii_lowercase())
            .collect();
        for banned in [
            "p-asserted-identity",
            "p-preferred-identity",
            "identity",
            "organization",
            "user-agent",
            "subject",
        ] {
            assert!(
                !names.iter().any(|n| n == banned),
                "{banned} left in {names:?}"
            );
        }
        let privacy: Vec<String> = req
            .headers
            .iter()
            .filter(|f| f.name().as_str().eq_ignore_ascii_case("privacy"))
            .map(|f| f.value())
            .collect();
        assert_eq!(privacy, ["id"]);
        let text = String::from_utf8_lossy(&Message::Request(req).to_bytes()).to_string();
        assert!(!text.to_ascii_lowercase().contains("alice"), "{text}");
        assert!(text.contains("Contact: <sip:192.0.2.1:5060>"));
    }
}
