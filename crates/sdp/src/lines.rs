//! The typed values of m=, c= and o= lines and transport protocol tokens (RFC 8866 §5, RFC 5764 §8).

use core::fmt;
use core::str::FromStr;

use crate::attr::LineError;

/// A transport protocol token of an m= line or of `a=tcap` (RFC 8866 §5.14, RFC 5764 §8, IANA "proto").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Proto {
    /// `RTP/AVP` (plain RTP; the best-effort actual configuration, B-1).
    RtpAvp,
    /// `RTP/AVPF`.
    RtpAvpf,
    /// `RTP/SAVP` (SDES-keyed SRTP; recognised only).
    RtpSavp,
    /// `RTP/SAVPF`.
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVP` (DTLS-SRTP, D-8).
    UdpTlsRtpSavp,
    /// `UDP/TLS/RTP/SAVPF` (DTLS-SRTP with feedback, D-8).
    UdpTlsRtpSavpf,
    /// `TCP/DTLS/RTP/SAVP`.
    TcpDtlsRtpSavp,
    /// `TCP/DTLS/RTP/SAVPF`.
    TcpDtlsRtpSavpf,
    /// `UDP/DTLS/SCTP` (WebRTC data channel).
    UdpDtlsSctp,
    /// `TCP/DTLS/SCTP`.
    TcpDtlsSctp,
    /// `DTLS/SCTP` (old data-channel token).
    DtlsSctp,
    /// `udp`.
    Udp,
    /// `TCP`.
    Tcp,
    /// `TCP/TLS` (RFC 8122).
    TcpTls,
    /// `TCP/RTP/AVP` (RFC 4571).
    TcpRtpAvp,
    /// A well-formed token we do not know; only accepted in `a=tcap`, or in m= lines when
    /// [`crate::ParseOptions::accept_unknown_proto`] is set.
    Other(String),
}

const PROTOS: [(&str, Proto); 15] = [
    ("RTP/AVP", Proto::RtpAvp),
    ("RTP/AVPF", Proto::RtpAvpf),
    ("RTP/SAVP", Proto::RtpSavp),
    ("RTP/SAVPF", Proto::RtpSavpf),
    ("UDP/TLS/RTP/SAVP", Proto::UdpTlsRtpSavp),
    ("UDP/TLS/RTP/SAVPF", Proto::UdpTlsRtpSavpf),
    ("TCP/DTLS/RTP/SAVP", Proto::TcpDtlsRtpSavp),
    ("TCP/DTLS/RTP/SAVPF", Proto::TcpDtlsRtpSavpf),
    ("UDP/DTLS/SCTP", Proto::UdpDtlsSctp),
    ("TCP/DTLS/SCTP", Proto::TcpDtlsSctp),
    ("DTLS/SCTP", Proto::DtlsSctp),
    ("udp", Proto::Udp),
    ("TCP", Proto::Tcp),
    ("TCP/TLS", Proto::TcpTls),
    ("TCP/RTP/AVP", Proto::TcpRtpAvp),
];

impl Proto {
    /// The token as registered.
    pub fn name(&self) -> &str {
        if let Self::Other(s) = self {
            return s;
        }
        PROTOS
            .iter()
            .find(|(_, p)| p == self)
            .map_or("", |(n, _)| n)
    }

    /// `UDP/TLS/RTP/SAVP` or `UDP/TLS/RTP/SAVPF`: media keyed by DTLS over UDP (the scope of this crate).
    pub fn is_udp_dtls_srtp(&self) -> bool {
        matches!(self, Self::UdpTlsRtpSavp | Self::UdpTlsRtpSavpf)
    }

    /// Plain RTP (`RTP/AVP`, `RTP/AVPF`): the best-effort actual configuration.
    pub fn is_plain_rtp(&self) -> bool {
        matches!(self, Self::RtpAvp | Self::RtpAvpf)
    }

    /// Whether the profile carries RTCP feedback (the F in AVPF/SAVPF).
    pub fn is_feedback(&self) -> bool {
        matches!(
            self,
            Self::RtpAvpf | Self::RtpSavpf | Self::UdpTlsRtpSavpf | Self::TcpDtlsRtpSavpf
        )
    }

    /// Parses a token: known tokens case-insensitively, anything else well-formed (token chars and `/`) as
    /// [`Proto::Other`].
    pub fn parse_token(s: &str) -> Result<Self, LineError> {
        if let Some((_, p)) = PROTOS.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(p.clone());
        }
        let well_formed = !s.is_empty()
            && s.split('/')
                .all(|t| !t.is_empty() && t.bytes().all(is_token_char));
        if well_formed {
            Ok(Self::Other(s.to_owned()))
        } else {
            Err(LineError::UnknownProto)
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// RFC 8866 token characters.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}

/// Connection data: `c=` or the address part of `a=rtcp` (RFC 8866 §5.7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionData {
    /// `IN`.
    pub net_type: String,
    /// `IP4` or `IP6`.
    pub addr_type: String,
    /// The address (multicast suffixes kept as written).
    pub address: String,
}

impl FromStr for ConnectionData {
    type Err = LineError;
    fn from_str(s: &str) -> Result<Self, LineError> {
        let mut it = s.split(' ');
        let (Some(n), Some(a), Some(addr), None) = (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(LineError::BadConnection);
        };
        let ok = |t: &str| !t.is_empty() && t.bytes().all(is_token_char);
        if !ok(n) || !ok(a) || addr.is_empty() || addr.bytes().any(|b| b <= b' ') {
            return Err(LineError::BadConnection);
        }
        Ok(Self {
            net_type: n.to_owned(),
            addr_type: a.to_owned(),
            address: addr.to_owned(),
        })
    }
}

impl fmt::Display for ConnectionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

/// `o=` (RFC 8866 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Username (`-` when none).
    pub username: String,
    /// Session id (decimal digits; may exceed 64 bits, so kept as text).
    pub session_id: String,
    /// Session version (decimal digits).
    pub session_version: String,
    /// Unicast address of the originator.
    pub address: ConnectionData,
}

impl FromStr for Origin {
    type Err = LineError;
    fn from_str(s: &str) -> Result<Self, LineError> {
        let mut it = s.splitn(4, ' ');
        let (Some(user), Some(id), Some(ver), Some(rest)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(LineError::BadOrigin);
        };
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if user.is_empty() || !digits(id) || !digits(ver) {
            return Err(LineError::BadOrigin);
        }
        let address = rest.parse().map_err(|_| LineError::BadOrigin)?;
        Ok(Self {
            username: user.to_owned(),
            session_id: id.to_owned(),
            session_version: ver.to_owned(),
            address,
        })
    }
}

/// The m= line (RFC 8866 §5.14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaLine {
    /// `audio`, `video`, `application`, ...
    pub media: String,
    /// Transport port; 0 rejects the stream (RFC 3264 §6).
    pub port: u16,
    /// The `/<number of ports>` suffix, if any.
    pub port_count: Option<u16>,
    /// Transport protocol.
    pub proto: Proto,
    /// Formats (RTP payload types as text).
    pub formats: Vec<String>,
}

impl MediaLine {
    pub(crate) fn parse(s: &str, accept_unknown_proto: bool) -> Result<Self, LineError> {
        let mut it = s.split(' ');
        let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
            return Err(LineError::BadMedia);
        };
        if media.is_empty() || !media.bytes().all(is_token_char) {
            return Err(LineError::BadMedia);
        }
        let (port, port_count) = match port.split_once('/') {
            Some((p, n)) => (parse_port(p)?, Some(parse_port(n)?)),
            None => (parse_port(port)?, None),
        };
        let proto = Proto::parse_token(proto)?;
        if matches!(proto, Proto::Other(_)) && !accept_unknown_proto {
            return Err(LineError::UnknownProto);
        }
        let formats: Vec<String> = it.map(str::to_owned).collect();
        if formats.is_empty()
            || formats
                .iter()
                .any(|f| f.is_empty() || f.bytes().any(|b| b <= b' '))
        {
            return Err(LineError::BadMedia);
        }
        Ok(Self {
            media: media.to_owned(),
            port,
            port_count,
            proto,
            formats,
        })
    }
}

impl fmt::Display for MediaLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.media, self.port)?;
        if let Some(n) = self.port_count {
            write!(f, "/{n}")?;
        }
        write!(f, " {}", self.proto)?;
        for fmt_ in &self.formats {
            write!(f, " {fmt_}")?;
        }
        Ok(())
    }
}

/// A decimal port 0..=65535, digits only.
pub(crate) fn parse_port(s: &str) -> Result<u16, LineError> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::BadPort);
    }
    s.parse().map_err(|_| LineError::BadPort)
}
