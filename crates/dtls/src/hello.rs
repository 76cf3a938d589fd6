//! Stateless cookie exchange (R-1, A-R-DOS, RFC 6347 §4.2.1): the few ClientHello fields a server needs to
//! check a cookie before it creates any state, and the HelloVerifyRequest it answers with, built without an
//! association.
//!
//! Only the first record of a datagram is read; everything is bounds-checked and a malformed datagram is a
//! typed [`HelloError`], never a panic (fuzzed by `fuzz/fuzz_targets/client_hello.rs`).

use core::fmt;

/// DTLS record header: type(1) version(2) epoch(2) sequence_number(6) length(2).
const RECORD_HEADER: usize = 13;
/// DTLS handshake header: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
const HANDSHAKE_HEADER: usize = 12;
const CONTENT_HANDSHAKE: u8 = 22;
const CLIENT_HELLO: u8 = 1;
const HELLO_VERIFY_REQUEST: u8 = 3;
/// DTLS 1.0 (0xfeff): RFC 6347 §4.2.1 says a DTLS 1.2 server SHOULD use it in the HelloVerifyRequest's
/// server_version (and OpenSSL uses it for the record too), whatever version is negotiated later.
const DTLS1_0: [u8; 2] = [0xfe, 0xff];
/// `opaque cookie<0..2^8-1>` in DTLS 1.2, `session_id<0..32>`.
const MAX_SESSION_ID: usize = 32;

/// Why a datagram is not a ClientHello whose cookie can be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    /// Shorter than a record header, or the record length runs past the datagram.
    #[error("truncated DTLS record")]
    TruncatedRecord,
    /// Not a handshake record of epoch 0.
    #[error("not an epoch-0 handshake record")]
    NotHandshake,
    /// The handshake message is not a ClientHello.
    #[error("not a ClientHello")]
    NotClientHello,
    /// A later fragment (fragment_offset ≠ 0): the cookie is in the first one.
    #[error("not the first fragment of a ClientHello")]
    NotFirstFragment,
    /// The handshake header or body is inconsistent or truncated before the end of the cookie.
    #[error("malformed ClientHello")]
    Malformed,
}

/// The ClientHello fields the cookie exchange needs (RFC 6347 §4.2.1, §4.3.2), borrowed from the datagram.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// The record's 48-bit sequence number (epoch 0), echoed by the HelloVerifyRequest.
    pub record_seq: [u8; 6],
    /// The record header's version field.
    pub record_version: [u8; 2],
    /// The handshake message_seq (0 for the first ClientHello, 1 after a HelloVerifyRequest).
    pub message_seq: u16,
    /// The handshake message length (of the whole message, not the fragment).
    pub length: u32,
    /// The fragment length of this (first) fragment.
    pub fragment_length: u32,
    /// client_version.
    pub client_version: [u8; 2],
    /// The 32-byte client random.
    pub random: &'a [u8],
    /// session_id (0..=32 octets).
    pub session_id: &'a [u8],
    /// The cookie (empty in a first ClientHello).
    pub cookie: &'a [u8],
}

impl fmt::Debug for ClientHello<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientHello")
            .field("record_seq", &u64_of(&self.record_seq))
            .field("message_seq", &self.message_seq)
            .field("length", &self.length)
            .field("fragment_length", &self.fragment_length)
            .field("session_id_len", &self.session_id.len())
            .field("cookie_len", &self.cookie.len())
            .finish_non_exhaustive()
    }
}

fn u64_of(seq: &[u8; 6]) -> u64 {
    seq.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn u24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(s.iter().fold(0u32, |acc, x| (acc << 8) | u32::from(*x)))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Reads the first record of `datagram` as the first fragment of a ClientHello, up to and including the
/// cookie (RFC 6347 §4.1, §4.2.2, §4.3.2). Total: any input gives a value or a [`HelloError`].
pub fn parse_client_hello(datagram: &[u8]) -> Result<ClientHello<'_>, HelloError> {
    let (hdr, rest) = datagram
        .split_first_chunk::<RECORD_HEADER>()
        .ok_or(HelloError::TruncatedRecord)?;
    let record_len = usize::from(u16::from_be_bytes([hdr[11], hdr[12]]));
    let record = rest.get(..record_len).ok_or(HelloError::TruncatedRecord)?;
    if hdr[0] != CONTENT_HANDSHAKE || hdr[3] != 0 || hdr[4] != 0 {
        return Err(HelloError::NotHandshake);
    }
    let (hs, body) = record
        .split_first_chunk::<HANDSHAKE_HEADER>()
        .ok_or(HelloError::Malformed)?;
    if hs[0] != CLIENT_HELLO {
        return Err(HelloError::NotClientHello);
    }
    let length = u24(hs, 1).ok_or(HelloError::Malformed)?;
    let message_seq = u16_at(hs, 4).ok_or(HelloError::Malformed)?;
    let fragment_offset = u24(hs, 6).ok_or(HelloError::Malformed)?;
    let fragment_length = u24(hs, 9).ok_or(HelloError::Malformed)?;
    if fragment_offset != 0 {
        return Err(HelloError::NotFirstFragment);
    }
    let frag_len = usize::try_from(fragment_length).map_err(|_| HelloError::Malformed)?;
    if fragment_length > length {
        return Err(HelloError::Malformed);
    }
    let frag = body.get(..frag_len).ok_or(HelloError::Malformed)?;
    let client_version: [u8; 2] = frag
        .get(..2)
        .and_then(|v| v.try_into().ok())
        .ok_or(HelloError::Malformed)?;
    let random = frag.get(2..34).ok_or(HelloError::Malformed)?;
    let sid_len = usize::from(*frag.get(34).ok_or(HelloError::Malformed)?);
    if sid_len > MAX_SESSION_ID {
        return Err(HelloError::Malformed);
    }
    let session_id = frag.get(35..35 + sid_len).ok_or(HelloError::Malformed)?;
    let at = 35 + sid_len;
    let cookie_len = usize::from(*frag.get(at).ok_or(HelloError::Malformed)?);
    let cookie = frag
        .get(at + 1..at + 1 + cookie_len)
        .ok_or(HelloError::Malformed)?;
    let mut record_seq = [0u8; 6];
    record_seq.copy_from_slice(&hdr[5..11]);
    Ok(ClientHello {
        record_seq,
        record_version: [hdr[1], hdr[2]],
        message_seq,
        length,
        fragment_length,
        client_version,
        random,
        session_id,
        cookie,
    })
}

/// The HelloVerifyRequest answering `hello` with `cookie`, built statelessly (RFC 6347 §4.2.1): the record
/// sequence number echoes the ClientHello's, message_seq 0, one unfragmented message, version DTLS 1.0 in the
/// record and in server_version (as OpenSSL's own HelloVerifyRequest).
pub fn hello_verify_request(hello: &ClientHello<'_>, cookie: &[u8]) -> Vec<u8> {
    let cookie = cookie.get(..255).unwrap_or(cookie);
    let cookie_len = u8::try_from(cookie.len()).unwrap_or(u8::MAX);
    let body_len = 3 + cookie.len(); // server_version(2) + cookie<0..255>
    let record_len = HANDSHAKE_HEADER + body_len;
    let mut out = Vec::with_capacity(RECORD_HEADER + record_len);
    out.push(CONTENT_HANDSHAKE);
    out.extend_from_slice(&DTLS1_0);
    out.extend_from_slice(&[0, 0]); // epoch 0
    out.extend_from_slice(&hello.record_seq);
    out.extend_from_slice(&u16::try_from(record_len).unwrap_or(0).to_be_bytes());
    let body24 = u32::try_from(body_len).unwrap_or(0).to_be_bytes();
    out.push(HELLO_VERIFY_REQUEST);
    out.extend_from_slice(&body24[1..]); // length
    out.extend_from_slice(&[0, 0]); // message_seq
    out.extend_from_slice(&[0, 0, 0]); // fragment_offset
    out.extend_from_slice(&body24[1..]); // fragment_length
    out.extend_from_slice(&DTLS1_0);
    out.push(cookie_len);
    out.extend_from_slice(cookie);
    out
}

/// The first ClientHello (message_seq 0, no cookie, record sequence one lower) that a client answered by a
/// stateless HelloVerifyRequest must have sent before `hello`. A fresh OpenSSL server is fed this first, so that
/// it sends (and we discard) its own HelloVerifyRequest and then expects `hello`, message_seq 1, exactly as if it
/// had seen the whole exchange. OpenSSL reads a cookie-less ClientHello only up to the cookie (it allocates
/// nothing before the cookie exchange), so the prefix is enough.
pub(crate) fn preceding_client_hello(hello: &ClientHello<'_>) -> Option<Vec<u8>> {
    let seq = u64_of(&hello.record_seq).checked_sub(1)?;
    let body_len = 2 + 32 + 1 + hello.session_id.len() + 1;
    let record_len = HANDSHAKE_HEADER + body_len;
    let mut out = Vec::with_capacity(RECORD_HEADER + record_len);
    out.push(CONTENT_HANDSHAKE);
    out.extend_from_slice(&hello.record_version);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(seq.to_be_bytes().get(2..)?);
    out.extend_from_slice(&u16::try_from(record_len).ok()?.to_be_bytes());
    let body24 = u32::try_from(body_len).ok()?.to_be_bytes();
    out.push(CLIENT_HELLO);
    out.extend_from_slice(&body24[1..]);
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&body24[1..]);
    out.extend_from_slice(&hello.client_version);
    out.extend_from_slice(hello.random);
    out.push(u8::try_from(hello.session_id.len()).ok()?);
    out.extend_from_slice(hello.session_id);
    out.push(0);
    Some(out)
}

/// What the stateless check of a ClientHello decided ([`crate::DtlsContext::check_client_hello`]).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HelloCheck {
    /// The cookie verified (or the context does no cookie exchange): create the association and feed it the
    /// datagram.
    Accept,
    /// No cookie, or one that did not verify (RFC 6347 §4.2.1 treats both alike): send `reply`, a
    /// HelloVerifyRequest, and keep no state.
    Verify {
        /// The HelloVerifyRequest datagram.
        reply: Vec<u8>,
        /// The ClientHello carried a cookie that did not verify (forged, stale, or from another address).
        bad_cookie: bool,
    },
    /// Not a ClientHello that can be checked: drop it.
    Refuse(HelloError),
}

impl fmt::Debug for HelloCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Accept => f.write_str("Accept"),
            Self::Verify { reply, bad_cookie } => f
                .debug_struct("Verify")
                .field("reply_len", &reply.len())
                .field("bad_cookie", bad_cookie)
                .finish(),
            Self::Refuse(e) => f.debug_tuple("Refuse").field(e).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(seq: u8, msg_seq: u8, sid: &[u8], cookie: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut body = vec![0xfe, 0xfd];
        body.extend_from_slice(&[7; 32]);
        body.push(sid.len() as u8);
        body.extend_from_slice(sid);
        body.push(cookie.len() as u8);
        body.extend_from_slice(cookie);
        body.extend_from_slice(tail);
        let n = body.len() as u32;
        let mut hs = vec![1];
        hs.extend_from_slice(&n.to_be_bytes()[1..]);
        hs.extend_from_slice(&[0, msg_seq, 0, 0, 0]);
        hs.extend_from_slice(&n.to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        let mut rec = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, seq];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn r_1_client_hello_fields_up_to_the_cookie() {
        let d = hello(3, 1, &[9; 4], &[5; 32], &[0, 2, 0xc0, 0x2b, 1, 0]);
        let h = parse_client_hello(&d).unwrap();
        assert_eq!(h.record_seq, [0, 0, 0, 0, 0, 3]);
        assert_eq!(h.message_seq, 1);
        assert_eq!(h.session_id, &[9; 4]);
        assert_eq!(h.cookie, &[5; 32]);
        assert_eq!(h.client_version, [0xfe, 0xfd]);
        // Every truncation is an error, never a panic.
        for n in 0..d.len() {
            let mut t = d[..n].to_vec();
            let _ = parse_client_hello(&t);
            if n >= 13 {
                // with a record length that claims the rest
                let len = (n - 13) as u16;
                t[11..13].copy_from_slice(&len.to_be_bytes());
                let _ = parse_client_hello(&t);
            }
        }
        assert_eq!(parse_client_hello(&[]), Err(HelloError::TruncatedRecord));
        let mut alert = d.clone();
        alert[0] = 21;
        assert_eq!(parse_client_hello(&alert), Err(HelloError::NotHandshake));
        let mut frag = d.clone();
        frag[13 + 8] = 1;
        assert_eq!(parse_client_hello(&frag), Err(HelloError::NotFirstFragment));
        let mut sid = hello(0, 0, &[1; 33], &[], &[]);
        assert_eq!(parse_client_hello(&sid), Err(HelloError::Malformed));
        sid[13] = 2;
        assert_eq!(parse_client_hello(&sid), Err(HelloError::NotClientHello));
    }

    #[test]
    fn r_1_hello_verify_request_echoes_record_sequence() {
        let d = hello(5, 0, &[], &[], &[0, 2, 0xc0, 0x2b, 1, 0]);
        let h = parse_client_hello(&d).unwrap();
        let hvr = hello_verify_request(&h, &[0xaa; 32]);
        assert_eq!(&hvr[..3], &[22, 0xfe, 0xff]);
        assert_eq!(&hvr[3..11], &[0, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(
            u16::from_be_bytes([hvr[11], hvr[12]]) as usize,
            hvr.len() - 13
        );
        assert_eq!(hvr[13], 3);
        assert_eq!(&hvr[17..19], &[0, 0], "message_seq 0");
        assert_eq!(&hvr[25..28], &[0xfe, 0xff, 32]);
        assert_eq!(&hvr[28..], &[0xaa; 32]);
    }

    #[test]
    fn r_1_preceding_hello_is_the_cookie_less_first_one() {
        let d = hello(4, 1, &[3; 2], &[5; 32], &[0, 2, 0xc0, 0x2b, 1, 0]);
        let h = parse_client_hello(&d).unwrap();
        let first = preceding_client_hello(&h).unwrap();
        let p = parse_client_hello(&first).unwrap();
        assert_eq!(p.record_seq, [0, 0, 0, 0, 0, 3]);
        assert_eq!(p.message_seq, 0);
        assert!(p.cookie.is_empty());
        assert_eq!(p.session_id, h.session_id);
        assert_eq!(p.random, h.random);
        assert_eq!(p.length, p.fragment_length);
        let zero = hello(0, 1, &[], &[5; 32], &[]);
        assert!(preceding_client_hello(&parse_client_hello(&zero).unwrap()).is_none());
    }
}
