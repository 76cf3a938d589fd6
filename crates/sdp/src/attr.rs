//! Typed values of the SDP lines and attributes this crate understands (RFC 8866, 4145, 8122, 8842, 5761,
//! 8839, 5888, 8843, 5939, 4568, 3264). Every parser here is total: bad input is a typed [`LineError`], never a
//! panic. Attributes we do not know are kept as [`Attribute::Other`] and written back byte-exact (the writer
//! always uses the line's original text).

use core::str::FromStr;

use crate::fingerprint::{Fingerprint, FingerprintError};

pub use crate::lines::{ConnectionData, MediaLine, Origin, Proto};
pub use crate::tls_id::{TlsId, TlsIdError};

use crate::lines::{is_token_char, parse_port};

/// What is wrong with one line (the line number is added by [`crate::ParseError`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineError {
    /// The line is not `<letter>=<value>`, is empty, or holds a NUL or a bare CR.
    #[error("line is not <type>=<value>")]
    Malformed,
    /// A type letter RFC 8866 does not define.
    #[error("unknown line type")]
    UnknownType,
    /// `v=` is not `0`.
    #[error("unsupported SDP version")]
    BadVersion,
    /// `o=` does not have six fields with numeric session id and version.
    #[error("malformed o= line")]
    BadOrigin,
    /// `t=` is not two decimal numbers.
    #[error("malformed t= line")]
    BadTiming,
    /// `c=` (or the address part of `a=rtcp`) is not `<nettype> <addrtype> <address>`.
    #[error("malformed connection data")]
    BadConnection,
    /// `m=` has too few fields or no formats.
    #[error("malformed m= line")]
    BadMedia,
    /// A port (m=, a=rtcp, a=candidate) or port count is not a number in 0..=65535.
    #[error("bad port")]
    BadPort,
    /// The m= line's transport protocol is not one we know (see [`crate::ParseOptions`]).
    #[error("unknown transport protocol")]
    UnknownProto,
    /// `a=setup` value is not active, passive, actpass or holdconn (RFC 4145).
    #[error("bad a=setup value")]
    BadSetup,
    /// `a=connection` value is not new or existing (RFC 4145).
    #[error("bad a=connection value")]
    BadConnectionAttr,
    /// `a=fingerprint` value is malformed (RFC 8122). Unknown hash functions are not an error (skipped).
    #[error("bad a=fingerprint: {0}")]
    Fingerprint(FingerprintError),
    /// `a=tls-id` value violates RFC 8842 §4 (T-4a).
    #[error("bad a=tls-id: {0}")]
    TlsId(TlsIdError),
    /// `a=ice-ufrag` / `a=ice-pwd` empty, too long, or not ice-chars (RFC 8839 §5.4).
    #[error("bad ICE credential")]
    BadIceCredential,
    /// `a=candidate` is malformed (RFC 8839 §5.1).
    #[error("bad a=candidate")]
    BadCandidate,
    /// `a=mid` / `a=group` identification tags are malformed (RFC 5888, RFC 9143).
    #[error("bad a=mid or a=group")]
    BadGroup,
    /// `a=tcap`, `a=pcfg` or `a=acfg` is malformed (RFC 5939 §3.4, §3.5, §3.6).
    #[error("bad capability negotiation attribute")]
    BadCapNeg,
    /// `a=rtpmap`, `a=fmtp` or `a=ptime` is malformed (RFC 8866 §6).
    #[error("bad rtpmap, fmtp or ptime")]
    BadRtpAttr,
    /// `a=crypto` is malformed (RFC 4568 §9.1; recognised only).
    #[error("bad a=crypto")]
    BadCrypto,
}

impl From<FingerprintError> for LineError {
    fn from(e: FingerprintError) -> Self {
        Self::Fingerprint(e)
    }
}

/// `a=setup` (RFC 4145 §4). Which side sends the ClientHello follows from it (requirements §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Setup {
    /// `active`: this side is the DTLS client.
    Active,
    /// `passive`: this side is the DTLS server.
    Passive,
    /// `actpass`: either; only in offers (T-5.2a, T-5.5).
    ActPass,
    /// `holdconn`: never for DTLS (T-5.1b).
    HoldConn,
}

impl Setup {
    /// The token.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
            Self::ActPass => "actpass",
            Self::HoldConn => "holdconn",
        }
    }
}

impl FromStr for Setup {
    type Err = LineError;
    fn from_str(s: &str) -> Result<Self, LineError> {
        [Self::Active, Self::Passive, Self::ActPass, Self::HoldConn]
            .into_iter()
            .find(|v| v.name().eq_ignore_ascii_case(s.trim()))
            .ok_or(LineError::BadSetup)
    }
}

/// `a=connection` (RFC 4145 §5): not used for UDP DTLS-SRTP (F-5.12), recognised so it can be ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionAttr {
    /// `new`.
    New,
    /// `existing`.
    Existing,
}

/// Media direction attributes (RFC 8866 §6.7, RFC 3264 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `sendrecv` (the default).
    #[default]
    SendRecv,
    /// `sendonly`.
    SendOnly,
    /// `recvonly`.
    RecvOnly,
    /// `inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answerer mirrors (RFC 3264 §6.1).
    pub const fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }
}

fn parse_u32(s: &str, err: LineError) -> Result<u32, LineError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err);
    }
    s.parse().map_err(|_| err)
}

/// `a=rtcp` (RFC 3605).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtcp {
    /// RTCP port.
    pub port: u16,
    /// Optional address.
    pub address: Option<ConnectionData>,
}

/// `a=candidate` (RFC 8839 §5.1). The extension tail (`generation 0 network-id 1 ...`) is kept as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation.
    pub foundation: String,
    /// Component id (1 RTP, 2 RTCP).
    pub component: u32,
    /// Transport (`udp`, `tcp`).
    pub transport: String,
    /// Priority.
    pub priority: u32,
    /// Connection address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Candidate type (`host`, `srflx`, `prflx`, `relay`).
    pub kind: String,
    /// Everything after the type, as written.
    pub rest: String,
}

impl FromStr for Candidate {
    type Err = LineError;
    fn from_str(s: &str) -> Result<Self, LineError> {
        let mut it = s.splitn(9, ' ');
        let (
            Some(found),
            Some(comp),
            Some(tr),
            Some(prio),
            Some(addr),
            Some(port),
            Some(typ),
            Some(kind),
        ) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        )
        else {
            return Err(LineError::BadCandidate);
        };
        let rest = it.next().unwrap_or("");
        if found.is_empty()
            || found.len() > 32
            || tr.is_empty()
            || addr.is_empty()
            || typ != "typ"
            || kind.is_empty()
        {
            return Err(LineError::BadCandidate);
        }
        Ok(Self {
            foundation: found.to_owned(),
            component: parse_u32(comp, LineError::BadCandidate)?,
            transport: tr.to_owned(),
            priority: parse_u32(prio, LineError::BadCandidate)?,
            address: addr.to_owned(),
            port: parse_port(port)?,
            kind: kind.to_owned(),
            rest: rest.to_owned(),
        })
    }
}

/// `a=group` (RFC 5888, RFC 9143 for BUNDLE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// `BUNDLE`, `LS`, `FID`, ...
    pub semantics: String,
    /// Identification tags (`a=mid` values).
    pub mids: Vec<String>,
}

/// `a=tcap` (RFC 5939 §3.4.2): transport protocol capabilities numbered from `first`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcap {
    /// Capability number of the first protocol (1..=2^31-1).
    pub first: u32,
    /// The protocols, numbered `first`, `first+1`, ...
    pub protos: Vec<Proto>,
}

impl Tcap {
    /// The protocol with capability number `n`, if this line defines it.
    pub fn get(&self, n: u32) -> Option<&Proto> {
        let idx = n.checked_sub(self.first)?;
        self.protos.get(usize::try_from(idx).ok()?)
    }
}

/// `a=pcfg` (RFC 5939 §3.5.1): a potential configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcfg {
    /// Configuration number (1..=2^31-1); lower is preferred.
    pub number: u32,
    /// `t=` alternatives (transport capability numbers), in preference order.
    pub transports: Vec<u32>,
    /// The `a=` attribute-configuration list as written, if any.
    pub attributes: Option<String>,
}

/// `a=acfg` (RFC 5939 §3.5.2): the configuration an answerer selected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acfg {
    /// The `a=pcfg` number selected.
    pub number: u32,
    /// The selected transport capability number (`t=`).
    pub transport: Option<u32>,
    /// The `a=` part as written, if any.
    pub attributes: Option<String>,
}

fn parse_cfg_number(s: &str) -> Result<u32, LineError> {
    let n = parse_u32(s, LineError::BadCapNeg)?;
    if n == 0 || n > 0x7FFF_FFFF {
        return Err(LineError::BadCapNeg);
    }
    Ok(n)
}

/// `(number, t= alternatives, a= text)`.
type CfgParts = (u32, Vec<u32>, Option<String>);

fn parse_cfg(s: &str, single: bool) -> Result<CfgParts, LineError> {
    let mut it = s.split(' ');
    let number = parse_cfg_number(it.next().unwrap_or(""))?;
    let mut transports = Vec::new();
    let mut attributes = None;
    for tok in it {
        if let Some(t) = tok.strip_prefix("t=") {
            if !transports.is_empty() {
                return Err(LineError::BadCapNeg);
            }
            for alt in t.split('|') {
                transports.push(parse_cfg_number(alt)?);
            }
            if single && transports.len() != 1 {
                return Err(LineError::BadCapNeg);
            }
        } else if let Some(a) = tok.strip_prefix("a=") {
            if a.is_empty() || attributes.is_some() {
                return Err(LineError::BadCapNeg);
            }
            attributes = Some(a.to_owned());
        } else if tok.is_empty() || !tok.contains('=') {
            return Err(LineError::BadCapNeg);
        }
        // other extension configuration lists (RFC 5939 §3.5.1 ext-config-list) are ignored
    }
    Ok((number, transports, attributes))
}

/// `a=rtpmap` (RFC 8866 §6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rtpmap {
    /// Payload type.
    pub pt: u8,
    /// Encoding name.
    pub encoding: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Encoding parameters (audio channels).
    pub params: Option<String>,
}

/// `a=fmtp` (RFC 8866 §6.15).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fmtp {
    /// The format (payload type as text).
    pub format: String,
    /// Parameters as written.
    pub params: String,
}

/// `a=crypto` (RFC 4568): recognised so that SDES offers are identified; this crate never uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crypto {
    /// The tag.
    pub tag: u32,
    /// The crypto suite name.
    pub suite: String,
}

/// A parsed `a=` line.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attribute {
    /// `a=setup` (RFC 4145).
    Setup(Setup),
    /// `a=connection` (RFC 4145).
    Connection(ConnectionAttr),
    /// `a=fingerprint` with a known hash function (RFC 8122).
    Fingerprint(Fingerprint),
    /// `a=fingerprint` with a hash function we do not know: skipped when verifying (RFC 8122 §5.1).
    FingerprintUnknownHash,
    /// `a=tls-id` (RFC 8842).
    TlsId(TlsId),
    /// `a=rtcp` (RFC 3605).
    Rtcp(Rtcp),
    /// `a=rtcp-mux` (RFC 5761).
    RtcpMux,
    /// `a=ice-ufrag`.
    IceUfrag(String),
    /// `a=ice-pwd`.
    IcePwd(String),
    /// `a=ice-lite`.
    IceLite,
    /// `a=ice-options` tokens.
    IceOptions(Vec<String>),
    /// `a=candidate`.
    Candidate(Candidate),
    /// `a=end-of-candidates`.
    EndOfCandidates,
    /// `a=mid`.
    Mid(String),
    /// `a=group`.
    Group(Group),
    /// `a=tcap`.
    Tcap(Tcap),
    /// `a=pcfg`.
    Pcfg(Pcfg),
    /// `a=acfg`.
    Acfg(Acfg),
    /// `a=crypto` (recognised only).
    Crypto(Crypto),
    /// `a=rtpmap`.
    Rtpmap(Rtpmap),
    /// `a=fmtp`.
    Fmtp(Fmtp),
    /// `a=ptime`.
    Ptime(u32),
    /// `a=sendrecv` / `sendonly` / `recvonly` / `inactive`.
    Direction(Direction),
    /// Anything else (kept byte-exact in the line's text).
    Other,
}

fn ice_chars(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

impl Attribute {
    /// Parses the text after `a=`.
    pub fn parse(text: &str) -> Result<Self, LineError> {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return Err(LineError::Malformed);
        }
        let v = value.unwrap_or("");
        Ok(match name {
            "setup" => Self::Setup(v.parse()?),
            "connection" => Self::Connection(match v.trim() {
                "new" => ConnectionAttr::New,
                "existing" => ConnectionAttr::Existing,
                _ => return Err(LineError::BadConnectionAttr),
            }),
            "fingerprint" => match v.parse::<Fingerprint>() {
                Ok(f) => Self::Fingerprint(f),
                Err(FingerprintError::UnknownHash) => Self::FingerprintUnknownHash,
                Err(e) => return Err(e.into()),
            },
            "tls-id" => Self::TlsId(v.parse().map_err(LineError::TlsId)?),
            "rtcp" => {
                let (port, addr) = match v.split_once(' ') {
                    Some((p, a)) => (p, Some(a.parse()?)),
                    None => (v, None),
                };
                Self::Rtcp(Rtcp {
                    port: parse_port(port)?,
                    address: addr,
                })
            }
            "rtcp-mux" => Self::RtcpMux,
            "ice-ufrag" | "ice-pwd" => {
                if !ice_chars(v) {
                    return Err(LineError::BadIceCredential);
                }
                if name == "ice-ufrag" {
                    Self::IceUfrag(v.to_owned())
                } else {
                    Self::IcePwd(v.to_owned())
                }
            }
            "ice-lite" => Self::IceLite,
            "ice-options" => Self::IceOptions(
                v.split(' ')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            "candidate" => Self::Candidate(v.parse()?),
            "end-of-candidates" => Self::EndOfCandidates,
            "mid" => {
                if v.is_empty() || v.bytes().any(|b| b <= b' ') {
                    return Err(LineError::BadGroup);
                }
                Self::Mid(v.to_owned())
            }
            "group" => {
                let mut it = v.split(' ');
                let semantics = it.next().unwrap_or("");
                if semantics.is_empty() || !semantics.bytes().all(is_token_char) {
                    return Err(LineError::BadGroup);
                }
                let mids: Vec<String> = it.map(str::to_owned).collect();
                if mids.iter().any(String::is_empty) {
                    return Err(LineError::BadGroup);
                }
                Self::Group(Group {
                    semantics: semantics.to_owned(),
                    mids,
                })
            }
            "tcap" => {
                let mut it = v.split(' ');
                let first = parse_cfg_number(it.next().unwrap_or(""))?;
                let protos = it
                    .map(|p| Proto::parse_token(p).map_err(|_| LineError::BadCapNeg))
                    .collect::<Result<Vec<_>, _>>()?;
                let last = u64::from(first) + protos.len() as u64;
                if protos.is_empty() || last > 0x8000_0000 {
                    return Err(LineError::BadCapNeg);
                }
                Self::Tcap(Tcap { first, protos })
            }
            "pcfg" => {
                let (number, transports, attributes) = parse_cfg(v, false)?;
                Self::Pcfg(Pcfg {
                    number,
                    transports,
                    attributes,
                })
            }
            "acfg" => {
                let (number, transports, attributes) = parse_cfg(v, true)?;
                Self::Acfg(Acfg {
                    number,
                    transport: transports.first().copied(),
                    attributes,
                })
            }
            "crypto" => {
                let mut it = v.split(' ');
                let tag = parse_u32(it.next().unwrap_or(""), LineError::BadCrypto)?;
                let suite = it.next().unwrap_or("");
                if suite.is_empty() || it.next().is_none() {
                    return Err(LineError::BadCrypto);
                }
                Self::Crypto(Crypto {
                    tag,
                    suite: suite.to_owned(),
                })
            }
            "rtpmap" => {
                let (pt, enc) = v.split_once(' ').ok_or(LineError::BadRtpAttr)?;
                let pt = parse_u32(pt, LineError::BadRtpAttr)?;
                let pt = u8::try_from(pt)
                    .ok()
                    .filter(|p| *p < 128)
                    .ok_or(LineError::BadRtpAttr)?;
                let mut parts = enc.splitn(3, '/');
                let (Some(name), Some(rate)) = (parts.next(), parts.next()) else {
                    return Err(LineError::BadRtpAttr);
                };
                if name.is_empty() || name.bytes().any(|b| b <= b' ') {
                    return Err(LineError::BadRtpAttr);
                }
                Self::Rtpmap(Rtpmap {
                    pt,
                    encoding: name.to_owned(),
                    clock_rate: parse_u32(rate, LineError::BadRtpAttr)?,
                    params: parts.next().map(str::to_owned),
                })
            }
            "fmtp" => {
                let (format, params) = v.split_once(' ').ok_or(LineError::BadRtpAttr)?;
                if format.is_empty() {
                    return Err(LineError::BadRtpAttr);
                }
                Self::Fmtp(Fmtp {
                    format: format.to_owned(),
                    params: params.to_owned(),
                })
            }
            "ptime" => Self::Ptime(parse_u32(v, LineError::BadRtpAttr)?),
            "sendrecv" => Self::Direction(Direction::SendRecv),
            "sendonly" => Self::Direction(Direction::SendOnly),
            "recvonly" => Self::Direction(Direction::RecvOnly),
            "inactive" => Self::Direction(Direction::Inactive),
            _ => Self::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capneg_attributes() {
        let Attribute::Tcap(t) = Attribute::parse("tcap:1 UDP/TLS/RTP/SAVP RTP/AVP").unwrap()
        else {
            panic!()
        };
        assert_eq!(t.get(1), Some(&Proto::UdpTlsRtpSavp));
        assert_eq!(t.get(2), Some(&Proto::RtpAvp));
        assert_eq!(t.get(3), None);
        assert_eq!(t.get(0), None);
        let Attribute::Pcfg(p) = Attribute::parse("pcfg:1 t=1|2 a=1,[2]").unwrap() else {
            panic!()
        };
        assert_eq!((p.number, p.transports.as_slice()), (1, &[1, 2][..]));
        assert_eq!(p.attributes.as_deref(), Some("1,[2]"));
        let Attribute::Acfg(a) = Attribute::parse("acfg:1 t=1").unwrap() else {
            panic!()
        };
        assert_eq!((a.number, a.transport), (1, Some(1)));
        assert_eq!(Attribute::parse("acfg:1 t=1|2"), Err(LineError::BadCapNeg));
        assert_eq!(Attribute::parse("pcfg:0 t=1"), Err(LineError::BadCapNeg));
        assert_eq!(Attribute::parse("tcap:1"), Err(LineError::BadCapNeg));
        assert_eq!(
            Attribute::parse("tcap:2147483647 A B"),
            Err(LineError::BadCapNeg)
        );
    }

    #[test]
    fn setup_values_and_holdconn() {
        assert_eq!(
            Attribute::parse("setup:actpass"),
            Ok(Attribute::Setup(Setup::ActPass))
        );
        assert_eq!(
            Attribute::parse("setup:HOLDCONN"),
            Ok(Attribute::Setup(Setup::HoldConn))
        );
        assert_eq!(Attribute::parse("setup:both"), Err(LineError::BadSetup));
    }

    #[test]
    fn candidate_and_rtcp() {
        let Attribute::Candidate(c) = Attribute::parse(
            "candidate:2729324039 1 udp 2122260223 127.0.0.1 55862 typ host generation 0 network-id 1",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((c.component, c.port, c.kind.as_str()), (1, 55862, "host"));
        assert_eq!(c.rest, "generation 0 network-id 1");
        assert_eq!(
            Attribute::parse("candidate:1 1 udp 1 1.2.3.4 70000 typ host"),
            Err(LineError::BadPort)
        );
        assert!(matches!(
            Attribute::parse("rtcp:9 IN IP4 0.0.0.0"),
            Ok(Attribute::Rtcp(Rtcp {
                port: 9,
                address: Some(_)
            }))
        ));
    }
}
