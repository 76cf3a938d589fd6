//! Via (RFC 3261 §20.42, §18.2.1) with `received` and `rport` (RFC 3581).

use std::fmt;

use super::lex::{is_token, is_wsp};
use super::params::{skip_ws, Params};
use crate::error::HeaderError;
use crate::uri::{parse_hostport, Host};

/// The RFC 3261 branch magic cookie (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Transport in `SIP/2.0/<transport>`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (unreliable)
    Udp,
    /// TCP
    Tcp,
    /// TLS
    Tls,
    /// SCTP
    Sctp,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket (RFC 7118)
    Wss,
    /// Any other token (RFC 4475 §3.1.1.10), upper-cased.
    Other(Box<str>),
}

impl Transport {
    /// Parses a transport token, case-insensitively.
    pub fn parse(s: &str) -> Self {
        let known = [
            ("UDP", Self::Udp),
            ("TCP", Self::Tcp),
            ("TLS", Self::Tls),
            ("SCTP", Self::Sctp),
            ("WS", Self::Ws),
            ("WSS", Self::Wss),
        ];
        for (name, t) in known {
            if s.eq_ignore_ascii_case(name) {
                return t;
            }
        }
        Self::Other(s.to_ascii_uppercase().into())
    }
    /// True for transports that retransmit themselves (RFC 3261 §17: timers A/E/G only on unreliable ones).
    pub fn is_reliable(&self) -> bool {
        !matches!(self, Self::Udp)
    }
    /// Upper-case token.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::Ws => "WS",
            Self::Wss => "WSS",
            Self::Other(s) => s,
        }
    }
}

/// `rport` (RFC 3581): asked for (no value) or filled in by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rport {
    /// `;rport` without value: the client asks for symmetric response routing.
    Requested,
    /// `;rport=5060`: the source port the server saw.
    Port(u16),
}

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol version, normally `2.0`.
    pub version: Box<str>,
    /// Transport.
    pub transport: Transport,
    /// sent-by host.
    pub host: Host,
    /// sent-by port.
    pub port: Option<u16>,
    /// via-params (branch, received, rport, maddr, ttl, extensions) in order.
    pub params: Params,
}

impl Via {
    /// A Via for `transport` and sent-by with `branch` (and `;rport` when `rport` is true).
    pub fn new(
        transport: Transport,
        host: Host,
        port: Option<u16>,
        branch: &str,
        rport: bool,
    ) -> Self {
        let mut params = Params::new();
        params.set("branch", Some(branch));
        if rport {
            params.set("rport", None);
        }
        Self {
            version: "2.0".into(),
            transport,
            host,
            port,
            params,
        }
    }

    /// Parses one via-parm: `SIP SLASH version SLASH transport LWS sent-by *(SEMI via-params)`.
    pub fn parse(s: &str) -> Result<Self, HeaderError> {
        let mut parts = [""; 3];
        let mut rest = s;
        for (i, slot) in parts.iter_mut().enumerate() {
            rest = skip_ws(rest);
            let n = rest
                .bytes()
                .take_while(|&b| !is_wsp(b) && b != b'/')
                .count();
            *slot = rest.get(..n).ok_or(HeaderError::Syntax)?;
            rest = skip_ws(rest.get(n..).unwrap_or(""));
            if i < 2 {
                rest = rest.strip_prefix('/').ok_or(HeaderError::Syntax)?;
            }
        }
        let [proto, version, transport] = parts;
        if !proto.eq_ignore_ascii_case("SIP") || !is_token(version) || !is_token(transport) {
            return Err(HeaderError::Syntax);
        }
        let n = rest
            .bytes()
            .take_while(|&b| !is_wsp(b) && b != b';')
            .count();
        let sent_by = rest.get(..n).ok_or(HeaderError::Syntax)?;
        if sent_by.is_empty() {
            return Err(HeaderError::Syntax);
        }
        let (host, port) = parse_hostport(sent_by)?;
        let params = Params::parse(rest.get(n..).unwrap_or(""))?;
        if let Some(b) = params.get("branch") {
            if !b.is_some_and(is_token) {
                return Err(HeaderError::Syntax);
            }
        }
        if let Some(Some(p)) = params.get("rport") {
            super::lex::number(p, u64::from(u16::MAX))?;
        }
        Ok(Self {
            version: version.into(),
            transport: Transport::parse(transport),
            host,
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.value("branch")
    }
    /// True when the branch carries the RFC 3261 magic cookie and something after it (§17.2.3, RFC 4475 §3.2.1).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE))
    }
    /// The received parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.params.value("received")
    }
    /// The rport parameter (RFC 3581 §3, §4).
    pub fn rport(&self) -> Option<Rport> {
        match self.params.get("rport")? {
            None => Some(Rport::Requested),
            Some(v) => v.parse().ok().map(Rport::Port),
        }
    }
    /// The maddr parameter.
    pub fn maddr(&self) -> Option<&str> {
        self.params.value("maddr")
    }
    /// Sets `received` and, if `rport` was requested, its value (RFC 3581 §4: server side).
    pub fn stamp_source(&mut self, ip: std::net::IpAddr, port: u16) {
        self.params.set("received", Some(&ip.to_string()));
        if self.params.contains("rport") {
            self.params.set("rport", Some(&port.to_string()));
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SIP/{}/{} {}",
            self.version,
            self.transport.as_str(),
            self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}
