//! The sans-IO DTLS association (ARCHITECTURE §3) over OpenSSL.

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use dtlsrtp_srtp::{DtlsRole, SrtpKeyingMaterial, SrtpProfile};
use dtlsrtp_types::Fingerprint;
use openssl::error::ErrorStack;
use openssl::ssl::{ErrorCode, Ssl, SslStream, SslVerifyMode};

use crate::config::{shared_index, DtlsContext};
use crate::error::DtlsError;
use crate::ffi;

/// The exporter label of RFC 5764 §4.2 (D-4.2a).
pub const EXPORTER_LABEL: &str = "EXTRACTOR-dtls_srtp";
/// The largest exporter output of any profile (AEAD_AES_256_GCM: 2·(32+12)).
const MAX_EXPORT: usize = 88;
/// A read buffer for application data, which DTLS-SRTP never carries (D-4.1b): it is read and dropped.
const SCRATCH: usize = 2048;

/// Per-association state the context-level OpenSSL callbacks reach through SSL ex_data.
pub(crate) struct Shared {
    /// Bytes identifying the peer's transport address, HMACed into the cookie.
    pub(crate) cookie_binding: Vec<u8>,
    /// A failure our callbacks decided (more precise than OpenSSL's "callback failed").
    failure: OnceLock<DtlsError>,
    /// The cookie, computed once (HMAC of `cookie_binding`).
    cookie: OnceLock<[u8; 32]>,
    /// The fingerprints the peer's certificate must match, when already known (P-6.2b).
    expected: Mutex<Option<Arc<[Fingerprint]>>>,
}

impl Shared {
    pub(crate) fn expected(&self) -> Option<Arc<[Fingerprint]>> {
        self.expected.lock().ok().and_then(|e| e.clone())
    }

    pub(crate) fn cookie(&self, key: &crate::config::CookieKey) -> [u8; 32] {
        *self.cookie.get_or_init(|| key.cookie(&self.cookie_binding))
    }

    pub(crate) fn set_failure(&self, e: DtlsError) {
        let _ = self.failure.set(e);
    }
}

/// The in-memory datagram link between OpenSSL and the caller: one whole datagram per read, one per write.
/// The inbox buffer is reused across datagrams (no allocation per input).
#[derive(Default)]
struct Wire {
    inbox: Vec<u8>,
    has_input: bool,
    outbox: VecDeque<Vec<u8>>,
    /// Every record header OpenSSL emitted (for a fatal alert after the handshake, P-6.2b).
    sent: crate::alert::SentRecords,
}

impl Wire {
    fn put(&mut self, datagram: &[u8]) {
        self.inbox.clear();
        self.inbox.extend_from_slice(datagram);
        self.has_input = true;
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.has_input {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.has_input = false;
        // A datagram larger than OpenSSL's buffer is truncated, as a UDP socket would; the record layer then
        // drops the broken record.
        let n = self.inbox.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), self.inbox.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sent.observe(buf);
        self.outbox.push_back(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The negotiated cipher suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// The IANA code point, e.g. 0xC02B.
    pub id: u16,
    /// The IANA (RFC) name, e.g. `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`, or OpenSSL's name.
    pub name: &'static str,
}

/// A completed handshake: what was negotiated and the SRTP keys, split per RFC 5764 §4.2.
///
/// The keys come from a peer whose certificate has NOT been checked yet: hand them to a
/// [`FingerprintGate`](crate::FingerprintGate) and use them only once it says `Verified`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// The negotiated SRTP protection profile.
    pub profile: SrtpProfile,
    /// The negotiated DTLS cipher suite.
    pub cipher_suite: CipherSuite,
    /// The exported keys (label `EXTRACTOR-dtls_srtp`, once per handshake, D-4.2a).
    pub keys: SrtpKeyingMaterial,
    /// Whether this was an abbreviated handshake resuming an earlier session (A-R-REUSE). The peer certificate
    /// is then the one of the original handshake, still to be checked against this call's fingerprint.
    pub resumed: bool,
}

/// A completed DTLS session that a client may resume in a later association with the same peer, through the
/// same [`DtlsContext`] (A-R-REUSE). `Debug` shows nothing secret.
#[derive(Clone)]
pub struct Session {
    inner: openssl::ssl::SslSession,
    /// Identity of the SSL_CTX that made it (resuming through another context is refused).
    ctx_id: usize,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session(<redacted>)")
    }
}

fn ctx_id(ctx: &DtlsContext) -> usize {
    use foreign_types_shared::ForeignType;
    ctx.ssl_ctx.as_ptr() as usize
}

/// What happened on an association. Drained with [`Association::poll_event`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The peer's certificate (DER), captured but not trusted: verify it against the SDP fingerprint.
    PeerCertificate(Vec<u8>),
    /// The handshake completed and keys were exported (always after `PeerCertificate`).
    Connected(Connected),
    /// close_notify was sent or received, or we sent a fatal alert
    /// ([`Association::close_with_alert`]); the association is finished.
    Closed,
    /// The association failed; nothing more will happen on it.
    Failed(DtlsError),
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerCertificate(der) => write!(f, "PeerCertificate(<{} octets DER>)", der.len()),
            Self::Connected(c) => f
                .debug_struct("Connected")
                .field("profile", &c.profile)
                .field("cipher_suite", &c.cipher_suite.name)
                .finish_non_exhaustive(),
            Self::Closed => f.write_str("Closed"),
            Self::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

/// Where an association stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum State {
    /// Handshake in progress.
    Handshaking,
    /// Handshake done, keys exported; still answering retransmitted flights and alerts.
    Connected,
    /// close_notify sent or received, or a fatal alert sent by [`Association::close_with_alert`].
    Closed,
    /// Failed with the error reported in [`Event::Failed`].
    Failed(DtlsError),
}

/// One DTLS 1.2 association with use_srtp, sans-IO (ARCHITECTURE §3).
///
/// Inputs: [`handle_datagram`](Self::handle_datagram), [`handle_timeout`](Self::handle_timeout),
/// [`close`](Self::close) (each takes `now`). Outputs, which only drain: [`poll_transmit`](Self::poll_transmit),
/// [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout).
///
/// OpenSSL runs its retransmission timer on its own clock; the association converts the remaining time into a
/// deadline in the caller's `Instant` timeline, measured from the `now` of the last input.
pub struct Association {
    role: DtlsRole,
    stream: SslStream<Wire>,
    state: State,
    events: VecDeque<Event>,
    handshake_deadline: Instant,
    retransmit_deadline: Option<Instant>,
    shared: Arc<Shared>,
    profiles: Arc<[SrtpProfile]>,
    app_data_dropped: u64,
    records_discarded: u64,
    /// The shortest valid body of an encrypted (epoch ≥ 1) record: 16 until the suite is known (ChaCha20's tag
    /// alone), then per suite.
    min_encrypted_len: usize,
    ctx_id: usize,
    cookie_key: Option<Arc<crate::config::CookieKey>>,
    /// A server that has not been fed any datagram yet (see [`Association::handle_datagram`]).
    fresh: bool,
}

impl fmt::Debug for Association {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Association")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("retransmit_deadline", &self.retransmit_deadline)
            .field("handshake_deadline", &self.handshake_deadline)
            .finish_non_exhaustive()
    }
}

/// The bytes of a peer's transport address that its cookie is an HMAC of.
pub(crate) fn binding_of(peer: SocketAddr) -> Vec<u8> {
    let mut v = match peer.ip() {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    };
    v.extend_from_slice(&peer.port().to_be_bytes());
    v
}

impl Association {
    /// A new association in `role` with the peer at `peer` (its address feeds the cookie, A-R-DOS). A client
    /// queues its ClientHello at once.
    pub fn new(
        ctx: &DtlsContext,
        role: DtlsRole,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        Self::build(ctx, role, peer, now, None)
    }

    /// A client association that offers `session` (from [`Association::session`] of an earlier association
    /// with the same peer, through the same context) for an abbreviated handshake (A-R-REUSE). A server that no
    /// longer has it answers with a full handshake; either way the result is checked by fingerprint as usual.
    pub fn resume(
        ctx: &DtlsContext,
        peer: SocketAddr,
        session: &Session,
        now: Instant,
    ) -> Result<Self, DtlsError> {
        if session.ctx_id != ctx_id(ctx) {
            return Err(DtlsError::ForeignSession);
        }
        Self::build(ctx, DtlsRole::Client, peer, now, Some(session))
    }

    /// The session of a connected association, for [`Association::resume`] (client side; a server keeps its
    /// sessions in its context's cache when `Config::session_resumption` is on).
    pub fn session(&self) -> Option<Session> {
        if self.state != State::Connected {
            return None;
        }
        let inner = self.stream.ssl().session()?.to_owned();
        Some(Session {
            inner,
            ctx_id: self.ctx_id,
        })
    }

    fn build(
        ctx: &DtlsContext,
        role: DtlsRole,
        peer: SocketAddr,
        now: Instant,
        session: Option<&Session>,
    ) -> Result<Self, DtlsError> {
        let setup = |_: ErrorStack| DtlsError::Setup;
        let mut ssl = Ssl::new(&ctx.ssl_ctx).map_err(setup)?;
        let shared = Arc::new(Shared {
            cookie_binding: binding_of(peer),
            failure: OnceLock::new(),
            cookie: OnceLock::new(),
            expected: Mutex::new(None),
        });
        let idx = shared_index().ok_or(DtlsError::Setup)?;
        ssl.set_ex_data(idx, shared.clone());
        ssl.set_mtu(u32::from(ctx.mtu)).map_err(setup)?;
        if !ffi::set_initial_timer(&mut ssl, ctx.initial_retransmit) {
            return Err(DtlsError::Setup);
        }
        match role {
            DtlsRole::Client => {
                ssl.set_verify(SslVerifyMode::PEER);
                ssl.set_connect_state();
            }
            DtlsRole::Server => {
                // Mutual authentication: the client must present a certificate (checked by fingerprint later).
                ssl.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
                ssl.set_accept_state();
            }
        }
        if let Some(session) = session {
            if !ffi::set_session(&mut ssl, &session.inner) {
                return Err(DtlsError::Setup);
            }
        }
        let stream = SslStream::new(ssl, Wire::default()).map_err(setup)?;
        let mut a = Self {
            role,
            stream,
            state: State::Handshaking,
            events: VecDeque::new(),
            handshake_deadline: now + ctx.handshake_timeout,
            retransmit_deadline: None,
            shared,
            profiles: ctx.profiles.clone(),
            app_data_dropped: 0,
            records_discarded: 0,
            min_encrypted_len: 16,
            ctx_id: ctx_id(ctx),
            cookie_key: ctx.cookie_key.clone(),
            fresh: role == DtlsRole::Server,
        };
        if role == DtlsRole::Client {
            a.drive();
            a.refresh_timer(now);
        }
        Ok(a)
    }

    /// Our role.
    pub fn role(&self) -> DtlsRole {
        self.role
    }

    /// Where the association stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The fingerprints the peer's certificate must match, when the signalling already carried them (`None` or
    /// an empty set: not known yet). Checked where OpenSSL verifies the peer's certificate: a certificate that
    /// matches none of them (RFC 8122 §5.1 rules, as [`verify_fingerprint`](crate::verify_fingerprint)) fails
    /// the handshake with a bad_certificate (42) alert to the peer and [`DtlsError::CertificateRejected`]
    /// (RFC 8122 §6.2, P-6.2b). Takes effect for a Certificate message not yet processed; a certificate accepted
    /// while the fingerprints were unknown is still checked by the [`FingerprintGate`](crate::FingerprintGate)
    /// afterwards; on a mismatch then, end the association with
    /// [`close_with_alert`](Self::close_with_alert)`(now, Alert::BAD_CERTIFICATE)`.
    pub fn expect_fingerprints(&mut self, expected: Option<&[Fingerprint]>) {
        let value = expected.filter(|e| !e.is_empty()).map(Arc::from);
        if let Ok(mut e) = self.shared.expected.lock() {
            *e = value;
        }
    }

    /// Application-data records received and dropped (DTLS-SRTP carries none, D-4.1b).
    pub fn app_data_dropped(&self) -> u64 {
        self.app_data_dropped
    }

    /// Feeds one received DTLS datagram (first byte 20..=63 after RFC 7983 demux). Keep feeding them after the
    /// handshake: that is how a retransmitted final flight, an alert or close_notify is answered. Bad input is
    /// dropped by the record layer or fails the association with a typed error; it never panics.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.is_finished() || datagram.is_empty() {
            return;
        }
        if self.check_handshake_deadline(now) {
            return;
        }
        if has_short_encrypted_record(datagram, self.min_encrypted_len) {
            // OpenSSL 3.0 stops processing records for good after an encrypted record shorter than its nonce
            // and tag (found by the garbage tests): such a record is never valid, so drop the datagram here.
            self.records_discarded += 1;
            return;
        }
        if self.state == State::Handshaking && self.has_wrong_cookie(datagram) {
            // OpenSSL aborts the whole handshake on a ClientHello whose cookie does not verify (SSL_accept path,
            // SSL_R_COOKIE_MISMATCH), so one forged or stale ClientHello would kill it. RFC 6347 §4.2.1 treats
            // a bad cookie as no cookie; we drop the datagram and wait for the genuine one (A-R-DOS).
            self.records_discarded += 1;
            return;
        }
        if core::mem::take(&mut self.fresh) {
            self.replay_first_hello(datagram);
        }
        self.stream.get_mut().put(datagram);
        self.drive();
        self.stream.get_mut().has_input = false;
        self.refresh_timer(now);
    }

    /// the first datagram of a fresh server is a ClientHello whose cookie came from a HelloVerifyRequest
    /// sent statelessly ([`DtlsContext::check_client_hello`](crate::DtlsContext::check_client_hello)), so it has
    /// message_seq 1, which a fresh OpenSSL server would wait behind a message_seq 0 for ever. Feed OpenSSL the
    /// cookie-less first ClientHello that preceded it: OpenSSL answers with the same HelloVerifyRequest (the
    /// cookie depends only on the secret and the address), which is discarded, and then expects message_seq 1
    /// with the handshake transcript reset, exactly as if it had seen the whole exchange.
    fn replay_first_hello(&mut self, datagram: &[u8]) {
        if self.cookie_key.is_none() {
            return;
        }
        let Ok(hello) = crate::hello::parse_client_hello(datagram) else {
            return;
        };
        if hello.message_seq != 1 || hello.cookie.is_empty() {
            return;
        }
        let Some(first) = crate::hello::preceding_client_hello(&hello) else {
            return;
        };
        self.stream.get_mut().put(&first);
        self.drive();
        let wire = self.stream.get_mut();
        wire.has_input = false;
        wire.outbox.clear();
    }

    /// Fires due timers: retransmits the current flight when OpenSSL's timer expired, fails the handshake when
    /// its time limit passed. Safe to call early or twice.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_finished() || self.check_handshake_deadline(now) {
            return;
        }
        if self.retransmit_deadline.is_some_and(|d| d <= now) {
            let r = ffi::handle_timeout(self.stream.ssl());
            if r < 0 {
                let stack = ErrorStack::get();
                let e = match DtlsError::from_stack(&stack) {
                    DtlsError::Other { .. } => DtlsError::RetransmitLimit,
                    e => e,
                };
                self.fail(e);
                return;
            }
        }
        self.refresh_timer(now);
    }

    /// Sends close_notify (if the association is up or handshaking) and finishes the association.
    pub fn close(&mut self, now: Instant) {
        let _ = now;
        if self.is_finished() {
            return;
        }
        let _ = self.stream.shutdown();
        self.state = State::Closed;
        self.retransmit_deadline = None;
        self.events.push_back(Event::Closed);
    }

    /// Ends the association with a fatal alert (level 2) of description `alert`, e.g.
    /// [`Alert::BAD_CERTIFICATE`](crate::Alert::BAD_CERTIFICATE) when the peer's certificate matched no
    /// fingerprint only after the handshake completed (RFC 8122 §6.2, P-6.2b: the answer came after the
    /// ClientHello, F-5.8; a re-offer changed the fingerprints; a stranger's handshake). No close_notify follows
    /// and the SSL is never used again (its session is not kept for resumption).
    ///
    /// OpenSSL 3.0 has no public call that sends a fatal alert on an established DTLS 1.2 connection, so the
    /// record is sealed here for our current write epoch from the session's public key material (see the
    /// `alert` module: AES-GCM, ChaCha20-Poly1305, AES-CBC-SHA with or without encrypt-then-MAC); before our
    /// ChangeCipherSpec it goes in the clear. Should the record not be buildable (no record written yet), it
    /// falls back to [`close`](Self::close). Finished associations are left alone.
    pub fn close_with_alert(&mut self, now: Instant, alert: crate::Alert) {
        if self.is_finished() {
            return;
        }
        let sent = self.stream.get_ref().sent;
        let Some(record) =
            crate::alert::fatal_alert_record(self.stream.ssl(), self.role, &sent, alert)
        else {
            self.close(now);
            return;
        };
        let wire = self.stream.get_mut();
        wire.sent.observe(&record);
        wire.outbox.push_back(record);
        self.state = State::Closed;
        self.retransmit_deadline = None;
        self.events.push_back(Event::Closed);
    }

    /// The next datagram to send, at most the configured MTU.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.stream.get_mut().outbox.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest deadline: OpenSSL's retransmission timer (in the caller's timeline) or the handshake limit.
    /// `None` once nothing is pending. Changes only after a `handle_*` call or `close`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Handshaking => Some(
                self.retransmit_deadline
                    .map_or(self.handshake_deadline, |d| d.min(self.handshake_deadline)),
            ),
            State::Connected => self.retransmit_deadline,
            State::Closed | State::Failed(_) => None,
        }
    }

    /// Datagrams dropped before OpenSSL saw them (an encrypted record too short to be valid).
    pub fn records_discarded(&self) -> u64 {
        self.records_discarded
    }

    /// Server with cookie exchange: whether the datagram holds the first fragment of a ClientHello echoing a
    /// cookie other than ours.
    fn has_wrong_cookie(&self, datagram: &[u8]) -> bool {
        let Some(key) = self.cookie_key.as_deref() else {
            return false;
        };
        if self.role != DtlsRole::Server {
            return false;
        }
        client_hello_cookies(datagram).any(|c| c != self.shared.cookie(key))
    }

    fn is_finished(&self) -> bool {
        matches!(self.state, State::Closed | State::Failed(_))
    }

    fn check_handshake_deadline(&mut self, now: Instant) -> bool {
        if self.state == State::Handshaking && now >= self.handshake_deadline {
            self.fail(DtlsError::HandshakeTimeout);
            return true;
        }
        false
    }

    fn refresh_timer(&mut self, now: Instant) {
        self.retransmit_deadline = if self.is_finished() {
            None
        } else {
            ffi::get_timeout(self.stream.ssl()).map(|left: Duration| now + left)
        };
    }

    fn fail(&mut self, e: DtlsError) {
        self.state = State::Failed(e);
        self.retransmit_deadline = None;
        self.events.push_back(Event::Failed(e));
    }

    fn map_error(&self, e: &openssl::ssl::Error) -> DtlsError {
        if let Some(ours) = self.shared.failure.get() {
            return *ours;
        }
        e.ssl_error().map_or(
            DtlsError::Other {
                library: 0,
                reason: 0,
            },
            DtlsError::from_stack,
        )
    }

    /// Runs OpenSSL on whatever is in the inbox.
    fn drive(&mut self) {
        if self.state == State::Handshaking {
            match self.stream.do_handshake() {
                Ok(()) => self.on_handshake_done(),
                Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => {}
                Err(e) => {
                    let err = self.map_error(&e);
                    self.fail(err);
                }
            }
        }
        if self.state == State::Connected {
            self.read_records();
        }
    }

    /// After the handshake: lets OpenSSL process every record (retransmitted flights, alerts, close_notify,
    /// a refused renegotiation). Application data is dropped (D-4.1b).
    fn read_records(&mut self) {
        let mut scratch = [0u8; SCRATCH];
        // Bounded: one datagram holds at most a few dozen records.
        for _ in 0..64 {
            match self.stream.ssl_read(&mut scratch) {
                Ok(_) => self.app_data_dropped += 1,
                Err(e) => match e.code() {
                    ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => return,
                    ErrorCode::ZERO_RETURN => {
                        // close_notify received: answer it and finish.
                        let _ = self.stream.shutdown();
                        self.state = State::Closed;
                        self.retransmit_deadline = None;
                        self.events.push_back(Event::Closed);
                        return;
                    }
                    _ => {
                        let err = self.map_error(&e);
                        self.fail(err);
                        return;
                    }
                },
            }
        }
    }

    fn on_handshake_done(&mut self) {
        let ssl = self.stream.ssl();
        // D-4.1.1c: never carry RTP over plain DTLS. (The verify callback normally stops this earlier.)
        let profile = ssl
            .selected_srtp_profile()
            .and_then(|p| u16::try_from(p.id().as_raw()).ok())
            .and_then(SrtpProfile::from_code_point)
            .filter(|p| self.profiles.contains(p));
        let Some(profile) = profile else {
            let _ = self.stream.shutdown();
            self.fail(DtlsError::NoCommonSrtpProfile);
            return;
        };
        let Some(peer) = ssl.peer_certificate().and_then(|c| c.to_der().ok()) else {
            let _ = self.stream.shutdown();
            self.fail(DtlsError::PeerCertificateMissing);
            return;
        };
        let cipher_suite = ssl
            .current_cipher()
            .map_or(CipherSuite { id: 0, name: "" }, |c| CipherSuite {
                id: u16::from_be_bytes(c.protocol_id()),
                name: c.standard_name().unwrap_or_else(|| c.name()),
            });
        // Exported once per completed handshake (D-4.2a); renegotiation is refused, so never again.
        let mut buf = [0u8; MAX_EXPORT];
        let len = profile.exporter_len().min(MAX_EXPORT);
        let keys = buf
            .get_mut(..len)
            .and_then(|out| {
                ssl.export_keying_material(out, EXPORTER_LABEL, None)
                    .ok()
                    .map(|()| &*out)
            })
            .and_then(|out| SrtpKeyingMaterial::from_exporter(profile, out).ok());
        zero(&mut buf);
        let Some(keys) = keys else {
            self.fail(DtlsError::Setup);
            return;
        };
        self.min_encrypted_len = min_encrypted_len(cipher_suite.name);
        self.state = State::Connected;
        self.events.push_back(Event::PeerCertificate(peer));
        let resumed = self.stream.ssl().session_reused();
        self.events.push_back(Event::Connected(Connected {
            profile,
            cipher_suite,
            keys,
            resumed,
        }));
    }
}

impl Drop for Association {
    /// An association dropped while connected ended normally (media stopped; no close_notify is required):
    /// tell OpenSSL so, or it would remove the session from the server's cache and resumption (A-R-REUSE)
    /// would never find it. Failed associations keep OpenSSL's default (their session is dropped).
    fn drop(&mut self) {
        if self.state == State::Connected {
            self.stream.set_shutdown(
                openssl::ssl::ShutdownState::SENT | openssl::ssl::ShutdownState::RECEIVED,
            );
        }
    }
}

/// The shortest body an encrypted record of this suite can have: AES-GCM 8 (explicit nonce) + 16 (tag);
/// ChaCha20-Poly1305 16 (tag); CBC 16 (IV) + 32 (HMAC-SHA1 and padding, two blocks).
fn min_encrypted_len(suite: &str) -> usize {
    if suite.contains("GCM") {
        24
    } else if suite.contains("CHACHA20") {
        16
    } else {
        48
    }
}

/// Whether a datagram holds an encrypted (epoch ≥ 1) record whose body is shorter than `min`. Walks the
/// records totally; framing errors are left to OpenSSL.
pub(crate) fn has_short_encrypted_record(datagram: &[u8], min: usize) -> bool {
    let mut rest = datagram;
    while let Some((hdr, body)) = rest.split_first_chunk::<13>() {
        let epoch = u16::from_be_bytes([hdr[3], hdr[4]]);
        let len = usize::from(u16::from_be_bytes([hdr[11], hdr[12]]));
        if epoch > 0 && len < min {
            return true;
        }
        let Some(next) = body.get(len..) else {
            return false;
        };
        rest = next;
    }
    false
}

/// The non-empty cookies echoed by ClientHello first fragments (epoch 0, fragment offset 0) in a datagram
/// (RFC 6347 §4.2.1 layout: version, random, session_id, cookie). Total: fragments too short to hold the cookie
/// are skipped.
fn client_hello_cookies(datagram: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = datagram;
    core::iter::from_fn(move || loop {
        let (hdr, body) = rest.split_first_chunk::<13>()?;
        let len = usize::from(u16::from_be_bytes([hdr[11], hdr[12]]));
        let record = body.get(..len)?;
        rest = body.get(len..).unwrap_or_default();
        if hdr[0] != 22 || hdr[3] != 0 || hdr[4] != 0 {
            continue;
        }
        // Handshake header: type 1 (client_hello), length(3), message_seq(2), fragment_offset(3), length(3).
        let Some((hs, frag)) = record.split_first_chunk::<12>() else {
            continue;
        };
        if hs[0] != 1 || hs[6..9] != [0, 0, 0] {
            continue;
        }
        let sid_len = usize::from(*frag.get(34)?);
        let at = 35 + sid_len;
        let cookie_len = usize::from(*frag.get(at)?);
        match frag.get(at + 1..at + 1 + cookie_len) {
            Some(cookie) if cookie_len > 0 => return Some(cookie),
            _ => continue,
        }
    })
}

/// Overwrites a stack buffer that held key material; volatile so the compiler keeps the writes.
fn zero(buf: &mut [u8]) {
    for b in buf.iter_mut() {
        // A plain store the optimiser may not remove: read it back through black_box.
        *b = 0;
    }
    core::hint::black_box(buf);
}
