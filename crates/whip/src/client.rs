//! A WHIP/WHEP client made from our own media port (tests and the benchmark): it offers audio with full ICE as
//! the controlling agent (`a=setup:actpass`), POSTs the offer over a minimal HTTP/1.1 exchange on a tokio
//! `TcpStream`, applies the answer and sets the peer; `DELETE` ends the session.

use std::net::SocketAddr;

use dtlsrtp_dtls::{Certificate, Config as DtlsConfig, CookieSecret, HashFunction, KeyType};
use dtlsrtp_media::ice::{IceConfig, IceMode, IceRole};
use dtlsrtp_media::MediaPortConfig;
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{AnswerSetup, Renew};
use dtlsrtp_sdp::Sdp;
use dtlsrtp_session::Session;
use dtlsrtp_tokio::{DriverError, MediaHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::FORK;

/// Largest HTTP response read.
const MAX_RESPONSE: usize = 256 * 1024;

/// Client errors.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket error.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The response is not HTTP/1.1 as expected.
    #[error("malformed HTTP response")]
    Http,
    /// The server refused (status and first line of the body).
    #[error("status {0}")]
    Status(u16),
    /// The answer is not usable.
    #[error("answer refused by our negotiator")]
    Answer,
    /// Media port.
    #[error("media: {0}")]
    Media(#[from] DriverError),
    /// Certificate or negotiator setup.
    #[error("setup")]
    Setup,
}

/// An HTTP response: status, headers (lower-case names), body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request with `Connection: close`; reads the whole response (bounded).
pub async fn request(
    server: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<HttpResponse, ClientError> {
    let mut s = TcpStream::connect(server).await?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await?;
    s.write_all(body).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_RESPONSE {
            return Err(ClientError::Http);
        }
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(ClientError::Http)?;
    let head = std::str::from_utf8(buf.get(..split).ok_or(ClientError::Http)?)
        .map_err(|_| ClientError::Http)?;
    let body = buf.get(split + 4..).unwrap_or_default().to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or(ClientError::Http)?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// A client session: its media port (events and sending) and the session URL path.
#[derive(Debug)]
pub struct ClientSession {
    /// Our media port.
    pub handle: MediaHandle,
    /// The `Location` the server gave.
    pub location: String,
    /// The negotiated payload type.
    pub payload_type: u8,
}

/// Offers audio (`direction` from our side: `SendOnly` for WHIP, `RecvOnly` for WHEP) to `server` at `path`
/// (`/whip` or `/whep`) with an optional bearer token, and sets up our port from the answer.
pub async fn connect(
    server: SocketAddr,
    path: &str,
    direction: Direction,
    token: Option<&str>,
) -> Result<ClientSession, ClientError> {
    connect_with(server, path, direction, token, IceConfig::default()).await
}

/// [`connect`] with our ICE timers (the mode is always full, the role controlling).
pub async fn connect_with(
    server: SocketAddr,
    path: &str,
    direction: Direction,
    token: Option<&str>,
    ice: IceConfig,
) -> Result<ClientSession, ClientError> {
    let cert = Certificate::generate(KeyType::EcdsaP256, "whip-client", 1)
        .map_err(|_| ClientError::Setup)?;
    let fingerprint = cert
        .fingerprint(HashFunction::Sha256)
        .map_err(|_| ClientError::Setup)?;
    let mut cookie = [0u8; 32];
    getrandom::fill(&mut cookie).map_err(|_| ClientError::Setup)?;
    let ip = match server.ip() {
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    let handle = MediaHandle::bind(SocketAddr::new(ip, 0), move |local, seed| {
        MediaPortConfig::new(
            local,
            DtlsConfig::new(cert, CookieSecret::new(cookie)),
            seed,
        )
    })
    .await?;
    let ice = IceConfig {
        mode: IceMode::Full,
        ..ice
    };
    let (creds, cand) = handle.enable_ice(ice, None, IceRole::Controlling).await?;
    let cfg = dtlsrtp_session::ice_negotiator_config(
        ip,
        fingerprint,
        AnswerSetup::Active,
        Some((&creds, &cand)),
        false,
    );
    let mut fill = |b: &mut [u8]| {
        let _ = getrandom::fill(b);
    };
    // WHIP = HTTP + a session: one audio stream, one way.
    let mut session = Session::new(cfg, dtlsrtp_session::g711(), Some("0".into()), &mut fill)
        .map_err(|_| ClientError::Setup)?;
    session.set_fixed_direction(Some(direction));
    let (offer, pending) = session
        .offer(handle.local_addr().port(), Renew::Keep, &mut fill)
        .map_err(|_| ClientError::Setup)?;
    // actpass: the server may be the DTLS client and send its ClientHello as soon as it answered.
    handle.listen(true).await?;
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/sdp")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    let resp = request(server, "POST", path, &headers, offer.to_string().as_bytes()).await?;
    if resp.status != 201 {
        let _ = handle.shutdown().await;
        return Err(ClientError::Status(resp.status));
    }
    let location = resp.header("location").ok_or(ClientError::Http)?.to_owned();
    let answer = Sdp::parse(&resp.body).map_err(|_| ClientError::Answer)?;
    let negotiated = session
        .apply_answer(pending, &answer)
        .map_err(|_| ClientError::Answer)?;
    let d = negotiated.dtls().ok_or(ClientError::Answer)?;
    let payload_type = d.codecs.first().map_or(0, |c| c.pt);
    let params = dtlsrtp_session::peer_params(d, true).ok_or(ClientError::Answer)?;
    handle.set_peer(FORK, params).await?;
    Ok(ClientSession {
        handle,
        location,
        payload_type,
    })
}

/// `DELETE` on a session's `Location`; returns the status.
pub async fn delete(
    server: SocketAddr,
    location: &str,
    token: Option<&str>,
) -> Result<u16, ClientError> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    Ok(request(server, "DELETE", location, &headers, &[])
        .await?
        .status)
}
