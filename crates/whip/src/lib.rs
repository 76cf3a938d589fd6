//! WHIP ingest and WHEP egress (RFC 9725 and the WHEP draft) over DTLS-SRTP, with no SIP in the path
//! (A-R-OTHER-SIGNALING: RFC 5763 keying works with any signalling that carries the SDP). This crate depends on
//! the media port, the SDP negotiator, DTLS, SRTP and the tokio driver built without its SIP endpoint module;
//! `tests/no_sip.rs` checks that `cargo tree -p dtlsrtp-whip` holds no SIP crate.
//!
//! Each session gets its own [`MediaHandle`] on a fresh UDP port (ICE-lite, controlled) and its own task: one
//! failing session (bad SDP, DTLS failure, fingerprint mismatch, consent lost) ends alone. `DELETE` on the
//! session's `Location` stops its task and frees its port before the response is sent.
//!
//! Audio stays out of this crate: received RTP payloads go to a [`Sink`] per session (the CLI writes a WAV),
//! WHEP audio comes from a [`Source`] (the CLI's tone or WAV, G.711-encoded). Codecs: PCMU and PCMA.
//!
//! Who may call it: only requests whose `Host` names the server directly (an IP literal, `localhost`, or a
//! name in [`ServerConfig::allowed_hosts`]), so a DNS-rebound page cannot pass as same-origin; then, for
//! browsers, same-origin pages only unless [`ServerConfig::allowed_origins`] widens it; then the bearer token
//! when one is configured. Refusals by the `Host` and origin guards are 403 without any CORS header.

pub mod client;
mod host;
mod origin;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use dtlsrtp_audio::Law;
use dtlsrtp_dtls::{Certificate, Config as DtlsConfig, CookieSecret, HashFunction, KeyType};
use dtlsrtp_media::ice::{IceConfig, IceMode, IceRole};
use dtlsrtp_media::{ForkId, MediaEvent, MediaPortConfig};
use dtlsrtp_sdp::attr::Direction;
use dtlsrtp_sdp::negotiate::{AnswerSetup, OfferError, RejectPolicy};
use dtlsrtp_sdp::{Fingerprint, Sdp};
use dtlsrtp_session::{AnswerFailure, Session};
use dtlsrtp_tokio::{DriverError, MediaHandle};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// The fork of every session's port (one peer per port).
pub const FORK: ForkId = ForkId(1);
/// Samples per 20 ms G.711 frame.
pub const FRAME: usize = dtlsrtp_audio::FRAME;

/// Errors creating the server.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// Our certificate could not be made.
    #[error("certificate: {0}")]
    Certificate(#[from] dtlsrtp_dtls::CertificateError),
    /// The OS RNG failed.
    #[error("OS random number generator unavailable")]
    Random,
}

/// Why a request was refused; each maps to one HTTP status with a one-line reason.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Missing or wrong bearer token (RFC 9725 §4.5) → 401.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The body is not `application/sdp` → 415.
    #[error("content type must be application/sdp")]
    UnsupportedMediaType,
    /// The body is larger than [`ServerConfig::max_body`] → 413.
    #[error("body too large")]
    TooLarge,
    /// The body could not be read → 400.
    #[error("body could not be read")]
    BadBody,
    /// The session limit is reached → 503.
    #[error("too many sessions")]
    TooManySessions,
    /// The body is not valid SDP → 400.
    #[error("malformed SDP: {0}")]
    MalformedSdp(#[from] dtlsrtp_sdp::ParseError),
    /// The offer cannot be answered (holdconn, no fingerprint, no common codec, ...) → 400.
    #[error("offer not acceptable: {0}")]
    NotAcceptable(#[from] OfferError),
    /// The offer's ICE credentials are unusable → 400.
    #[error("offer not acceptable: bad ICE credentials")]
    BadIce,
    /// No such session → 404.
    #[error("no such session")]
    NotFound,
    /// Our media port could not be set up → 500.
    #[error("media port: {0}")]
    Media(#[from] DriverError),
    /// The OS RNG failed (no session id) → 500.
    #[error("OS random number generator unavailable")]
    Random,
    /// Our negotiator configuration was refused → 500.
    #[error("negotiator configuration: {0}")]
    Config(#[from] dtlsrtp_sdp::negotiate::ConfigError),
}

impl RequestError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManySessions => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BadBody => StatusCode::BAD_REQUEST,
            Self::MalformedSdp(_) | Self::NotAcceptable(_) | Self::BadIce => {
                StatusCode::BAD_REQUEST
            }
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Media(_) | Self::Config(_) | Self::Random => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        // One line: the reason, never a multi-line dump.
        let line = self.to_string().replace(['\r', '\n'], " ");
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{line}\n"),
        )
            .into_response()
    }
}

/// Where a session's received audio goes (one per session; the CLI writes a WAV).
pub trait Sink: Send + 'static {
    /// One authenticated RTP payload with its payload type and sequence number.
    fn rtp(&mut self, payload_type: u8, sequence: u16, payload: &[u8]);
    /// The session ended.
    fn finish(self: Box<Self>);
}

/// Where WHEP audio comes from (one per session).
pub trait Source: Send + 'static {
    /// The next 20 ms frame (160 octets) for the negotiated codec (`"PCMU"` or `"PCMA"`).
    fn frame(&mut self, codec: &str) -> Vec<u8>;
}

/// Makes a sink for a new WHIP session (its id); `None` discards the audio.
pub type SinkFactory = Arc<dyn Fn(&str) -> Option<Box<dyn Sink>> + Send + Sync>;
/// Makes a source for a new WHEP session.
pub type SourceFactory = Arc<dyn Fn() -> Box<dyn Source> + Send + Sync>;

/// Server configuration. `Debug` redacts the token.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address media ports bind (port 0: a fresh port per session).
    pub media_ip: IpAddr,
    /// Concurrent sessions at most (WHIP and WHEP together).
    pub max_sessions: usize,
    /// Largest accepted body (SDP offer), octets.
    pub max_body: usize,
    /// Bearer token required on POST and DELETE.
    pub token: Option<String>,
    /// Our `a=setup` answering `actpass`.
    pub answer_setup: AnswerSetup,
    /// ICE timers (the mode is always lite, the role controlled).
    pub ice: IceConfig,
    /// A session without a verified fingerprint after this long is ended.
    pub connect_timeout: Duration,
    /// WHIP audio sink.
    pub sink: Option<SinkFactory>,
    /// WHEP audio source (silence when none).
    pub source: Option<SourceFactory>,
    /// Web origins (`scheme://host[:port]`) whose pages may call the endpoint cross-origin; `*` allows every
    /// origin. Empty (the default): same-origin only, a foreign `Origin` gets 403 on everything but GET/HEAD
    /// and no CORS header anywhere (issue 12 item 12).
    pub allowed_origins: Vec<String>,
    /// Answer Private Network Access preflights of allowed origins with
    /// `Access-Control-Allow-Private-Network: true` (a public page calling this local server). Default off.
    pub allow_private_network: bool,
    /// Host names (without port) the endpoint answers to besides IP literals, `localhost` and `*.localhost`;
    /// `*` answers to any `Host`. Empty (the default): a request naming any other host, e.g. a DNS-rebound
    /// `attacker.example` resolving to 127.0.0.1, gets 403 before any handler runs, token or not.
    pub allowed_hosts: Vec<String>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("media_ip", &self.media_ip)
            .field("max_sessions", &self.max_sessions)
            .field("max_body", &self.max_body)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("answer_setup", &self.answer_setup)
            .field("connect_timeout", &self.connect_timeout)
            .field("allowed_origins", &self.allowed_origins)
            .field("allow_private_network", &self.allow_private_network)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Defaults: media on `media_ip`, 64 sessions, 64 KiB bodies, no token, answer `active`, 20 s to connect,
    /// same-origin only (no cross-origin page may call it), no Private Network Access, only `Host`s that are IP
    /// literals or `localhost` (DNS rebinding guard).
    pub fn new(media_ip: IpAddr) -> Self {
        Self {
            media_ip,
            max_sessions: 64,
            max_body: 64 * 1024,
            token: None,
            answer_setup: AnswerSetup::Active,
            ice: IceConfig {
                mode: IceMode::Lite,
                ..IceConfig::default()
            },
            connect_timeout: Duration::from_secs(20),
            sink: None,
            source: None,
            allowed_origins: Vec::new(),
            allow_private_network: false,
            allowed_hosts: Vec::new(),
        }
    }
}

/// WHIP (we receive) or WHEP (we send).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Ingest.
    Whip,
    /// Egress.
    Whep,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Whip => "whip",
            Self::Whep => "whep",
        }
    }
}

/// Live counters of one session.
#[derive(Debug, Default)]
pub struct SessionStats {
    /// The peer's fingerprint was verified (SRTP keys in place).
    pub verified: AtomicBool,
    /// Authenticated RTP packets received.
    pub rtp_in: AtomicU64,
    /// RTP packets sent.
    pub rtp_out: AtomicU64,
}

/// A session as the server lists it.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Its id (the last path segment of its `Location`).
    pub id: String,
    /// WHIP or WHEP.
    pub kind: Kind,
    /// Its media port's address.
    pub local: SocketAddr,
    /// Its counters.
    pub stats: Arc<SessionStats>,
}

struct Entry {
    info: SessionInfo,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

struct Inner {
    config: ServerConfig,
    cert: Certificate,
    fingerprint: Fingerprint,
    cookie: [u8; 32],
    slots: Arc<Semaphore>,
    sessions: Mutex<HashMap<String, Entry>>,
}

/// The WHIP/WHEP server state; [`Server::router`] gives the axum router.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn random_hex(n: usize) -> Result<String, SetupError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|_| SetupError::Random)?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Server {
    /// A server with a fresh ECDSA P-256 certificate.
    pub fn new(config: ServerConfig) -> Result<Self, SetupError> {
        let cert = Certificate::generate(KeyType::EcdsaP256, "dtlsrtp-whip", 30)?;
        let fingerprint = cert.fingerprint(HashFunction::Sha256)?;
        let mut cookie = [0u8; 32];
        getrandom::fill(&mut cookie).map_err(|_| SetupError::Random)?;
        let slots = Arc::new(Semaphore::new(config.max_sessions));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                cert,
                fingerprint,
                cookie,
                slots,
                sessions: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Our certificate's sha-256 fingerprint.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.inner.fingerprint
    }

    /// The running sessions.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.inner
            .sessions
            .lock()
            .map(|m| m.values().map(|e| e.info.clone()).collect())
            .unwrap_or_default()
    }

    /// The router: `GET /` (a publisher page: microphone to WHIP, or play from WHEP, same origin),
    /// `POST /whip`, `POST /whep`, `DELETE /whip/{id}`, `DELETE /whep/{id}`, `OPTIONS` on each,
    /// the `Host` guard (IP literals, `localhost` and [`ServerConfig::allowed_hosts`]: against DNS rebinding),
    /// the origin guard (same-origin by default; CORS headers only for [`ServerConfig::allowed_origins`]), the
    /// body limit.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", get(publish_page))
            .route("/whip", post(post_whip).options(preflight))
            .route("/whep", post(post_whep).options(preflight))
            .route("/whip/{id}", delete(delete_session).options(preflight))
            .route("/whep/{id}", delete(delete_session).options(preflight))
            .layer(DefaultBodyLimit::max(self.inner.config.max_body))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                origin::guard,
            ))
            .with_state(self.clone())
    }

    /// Serves on `listener` until the future is dropped.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Ends every session (their ports are freed when this returns).
    pub async fn shutdown(&self) {
        let ids: Vec<String> = self.sessions().into_iter().map(|s| s.id).collect();
        for id in ids {
            let _ = self.end(&id).await;
        }
    }

    async fn end(&self, id: &str) -> Result<(), RequestError> {
        let entry = self
            .inner
            .sessions
            .lock()
            .ok()
            .and_then(|mut m| m.remove(id))
            .ok_or(RequestError::NotFound)?;
        let Entry { stop, task, .. } = entry;
        if let Some(s) = stop {
            let _ = s.send(());
        }
        if let Some(t) = task {
            let _ = t.await;
        }
        Ok(())
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), RequestError> {
        let Some(token) = &self.inner.config.token else {
            return Ok(());
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes()).into();
        if same {
            Ok(())
        } else {
            Err(RequestError::Unauthorized)
        }
    }

    /// Creates a session from `offer`: a fresh port (ICE-lite), the answer, the session task.
    async fn create(
        &self,
        kind: Kind,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(String, String), RequestError> {
        self.authorize(headers)?;
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/sdp") {
            return Err(RequestError::UnsupportedMediaType);
        }
        let permit = self
            .inner
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| RequestError::TooManySessions)?;
        let offer = Sdp::parse(body)?;
        let inner = &self.inner;
        let cfg = &inner.config;
        let cert = inner.cert.clone();
        let cookie = inner.cookie;
        let handle = MediaHandle::bind(SocketAddr::new(cfg.media_ip, 0), move |local, seed| {
            MediaPortConfig::new(
                local,
                DtlsConfig::new(cert, CookieSecret::new(cookie)),
                seed,
            )
        })
        .await?;
        match self.answer(kind, &handle, &offer).await {
            Ok((answer, codec)) => {
                let Ok(id) = random_hex(12) else {
                    let _ = handle.shutdown().await;
                    return Err(RequestError::Random);
                };
                self.start(kind, id.clone(), handle, codec, permit);
                Ok((id, answer))
            }
            Err(e) => {
                let _ = handle.shutdown().await;
                Err(e)
            }
        }
    }

    async fn answer(
        &self,
        kind: Kind,
        handle: &MediaHandle,
        offer: &Sdp,
    ) -> Result<(String, (u8, String)), RequestError> {
        let cfg = &self.inner.config;
        let mut ice = cfg.ice.clone();
        ice.mode = IceMode::Lite;
        let (creds, cand) = handle.enable_ice(ice, None, IceRole::Controlled).await?;
        let mut ncfg = dtlsrtp_session::ice_negotiator_config(
            handle.local_addr().ip(),
            self.inner.fingerprint.clone(),
            cfg.answer_setup,
            Some((&creds, &cand)),
            true,
        );
        // Holdconn or no fingerprint refuses the whole offer (400 with the reason), not a port-0 answer.
        ncfg.reject_policy = RejectPolicy::RefuseOffer;
        let mut fill = |b: &mut [u8]| {
            let _ = getrandom::fill(b);
        };
        // WHIP = HTTP + a session: one audio stream, one way.
        let mut session = Session::new(ncfg, dtlsrtp_session::g711(), Some("0".into()), &mut fill)?;
        session.set_fixed_direction(Some(match kind {
            Kind::Whip => Direction::RecvOnly,
            Kind::Whep => Direction::SendOnly,
        }));
        let nothing =
            OfferError::NothingAcceptable(dtlsrtp_sdp::negotiate::RejectReason::NoLocalMedia);
        let (answer, negotiated) = session
            .answer(offer, handle.local_addr().port(), &mut fill)
            .map_err(|e| match e {
                AnswerFailure::Refused(e) => RequestError::from(e),
                _ => RequestError::NotAcceptable(nothing),
            })?;
        let d = negotiated
            .dtls()
            .ok_or(RequestError::NotAcceptable(nothing))?;
        let codec = d
            .codecs
            .first()
            .map(|c| (c.pt, c.name.clone()))
            .unwrap_or((0, "PCMU".to_owned()));
        let params = dtlsrtp_session::peer_params(d, true).ok_or(RequestError::BadIce)?;
        handle.set_peer(FORK, params).await?;
        Ok((answer.to_string(), codec))
    }

    fn start(
        &self,
        kind: Kind,
        id: String,
        handle: MediaHandle,
        codec: (u8, String),
        permit: OwnedSemaphorePermit,
    ) {
        let stats = Arc::new(SessionStats::default());
        let info = SessionInfo {
            id: id.clone(),
            kind,
            local: handle.local_addr(),
            stats: stats.clone(),
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let cfg = &self.inner.config;
        let sink = match kind {
            Kind::Whip => cfg.sink.as_ref().and_then(|f| f(&id)),
            Kind::Whep => None,
        };
        let source = match kind {
            Kind::Whep => cfg.source.as_ref().map(|f| f()),
            Kind::Whip => None,
        };
        let run = SessionRun {
            handle,
            kind,
            codec,
            sink,
            source,
            stats,
            connect_timeout: cfg.connect_timeout,
        };
        let me = self.clone();
        // The map lock is held across spawn and insert, so the task's own removal (when it ends by itself)
        // always finds its entry.
        let Ok(mut map) = self.inner.sessions.lock() else {
            return;
        };
        let id2 = id.clone();
        let task = tokio::spawn(async move {
            run.run(stop_rx).await;
            drop(permit);
            if let Ok(mut m) = me.inner.sessions.lock() {
                m.remove(&id2);
            }
        });
        map.insert(
            id,
            Entry {
                info,
                stop: Some(stop_tx),
                task: Some(task),
            },
        );
    }
}

struct SessionRun {
    handle: MediaHandle,
    kind: Kind,
    codec: (u8, String),
    sink: Option<Box<dyn Sink>>,
    source: Option<Box<dyn Source>>,
    stats: Arc<SessionStats>,
    connect_timeout: Duration,
}

impl SessionRun {
    /// The session loop: events to the sink, WHEP frames every 20 ms once verified; ends on DELETE (stop), on a
    /// fingerprint mismatch, ICE failure or consent loss, a closed association, or no verification in time.
    async fn run(self, mut stop: oneshot::Receiver<()>) {
        let Self {
            mut handle,
            kind,
            codec,
            mut sink,
            mut source,
            stats,
            connect_timeout,
        } = self;
        let connect_deadline = tokio::time::Instant::now() + connect_timeout;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut verified = false;
        let mut sent: u32 = 0;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                () = tokio::time::sleep_until(connect_deadline), if !verified => {
                    tracing::info!("session not connected in time");
                    break;
                }
                _ = tick.tick(), if verified && kind == Kind::Whep => {
                    let payload = match source.as_mut() {
                        Some(s) => s.frame(&codec.1),
                        None => vec![Law::from_payload_type(codec.0).unwrap_or(Law::Pcmu).silence(); FRAME],
                    };
                    let ts = sent.wrapping_mul(FRAME as u32);
                    if handle.send_rtp(FORK, codec.0, sent == 0, ts, payload).await.is_err() {
                        break;
                    }
                    sent = sent.wrapping_add(1);
                    stats.rtp_out.fetch_add(1, Ordering::Relaxed);
                }
                ev = handle.next_event() => {
                    let Some(ev) = ev else { break };
                    match ev {
                        MediaEvent::FingerprintVerified { .. } => {
                            verified = true;
                            stats.verified.store(true, Ordering::Relaxed);
                        }
                        MediaEvent::Rtp(r) => {
                            stats.rtp_in.fetch_add(1, Ordering::Relaxed);
                            if let Some(s) = sink.as_mut() {
                                s.rtp(r.payload_type, r.sequence, &r.payload);
                            }
                        }
                        MediaEvent::FingerprintMismatch { .. }
                        | MediaEvent::IceFailed
                        | MediaEvent::IceConsentExpired { .. }
                        | MediaEvent::AssociationClosed { .. } => {
                            tracing::info!(?ev, "session ends");
                            break;
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(s) = sink {
            s.finish();
        }
        let _ = handle.shutdown().await;
    }
}

/// The publisher page served at `/` (same origin as the endpoint, so no CORS or local-network prompts).
const PUBLISH_PAGE: &str = include_str!("publish.html");

async fn publish_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        PUBLISH_PAGE,
    )
        .into_response()
}

async fn preflight(method: Method) -> Response {
    let _ = method;
    (
        StatusCode::NO_CONTENT,
        [(header::ALLOW, "POST, DELETE, OPTIONS")],
    )
        .into_response()
}

async fn post_kind(
    server: Server,
    kind: Kind,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return RequestError::TooLarge.into_response()
        }
        Err(_) => return RequestError::BadBody.into_response(),
    };
    match server.create(kind, &headers, &body).await {
        Ok((id, answer)) => (
            StatusCode::CREATED,
            [
                (header::CONTENT_TYPE, "application/sdp".to_owned()),
                (header::LOCATION, format!("/{}/{id}", kind.path())),
            ],
            answer,
        )
            .into_response(),
        Err(e) => {
            tracing::info!(error = %e, "POST refused");
            e.into_response()
        }
    }
}

async fn post_whip(
    State(s): State<Server>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post_kind(s, Kind::Whip, headers, body).await
}

async fn post_whep(
    State(s): State<Server>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    post_kind(s, Kind::Whep, headers, body).await
}

async fn delete_session(
    State(s): State<Server>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(e) = s.authorize(&headers) {
        return e.into_response();
    }
    match s.end(&id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}
