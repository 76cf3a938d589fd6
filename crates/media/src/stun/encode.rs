//! STUN encoding: [`MessageBuilder`] appends attributes, then MESSAGE-INTEGRITY and FINGERPRINT.

use std::net::{IpAddr, SocketAddr};

use hmac::Mac;

use super::decode::{fingerprint_value, integrity_hmac, IntegrityKey};
use super::{attr, MessageType, StunError, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// Builds one STUN message. Attributes go in call order; call [`message_integrity`](Self::message_integrity) and
/// then [`fingerprint`](Self::fingerprint) last. An oversized message is reported by [`finish`](Self::finish).
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    buf: Vec<u8>,
    pad: u8,
    too_large: bool,
}

impl MessageBuilder {
    /// A message of type `msg_type` with transaction id `tid` and no attributes.
    #[must_use]
    pub fn new(msg_type: MessageType, tid: TransactionId) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&msg_type.to_u16().to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(&tid.0);
        Self {
            buf,
            pad: 0,
            too_large: false,
        }
    }

    /// Use `byte` for attribute padding (default 0; RFC 5769 uses 0x20). Receivers ignore padding content.
    #[must_use]
    pub fn padding_byte(mut self, byte: u8) -> Self {
        self.pad = byte;
        self
    }

    fn set_length(&mut self, len: usize) {
        match u16::try_from(len) {
            Ok(l) if !self.too_large => {
                if let Some(f) = self.buf.get_mut(2..4) {
                    f.copy_from_slice(&l.to_be_bytes());
                }
            }
            _ => self.too_large = true,
        }
    }

    /// Append an attribute with any type and value (padded to 4 bytes).
    pub fn attribute(&mut self, t: u16, value: &[u8]) -> &mut Self {
        let Ok(len) = u16::try_from(value.len()) else {
            self.too_large = true;
            return self;
        };
        self.buf.extend_from_slice(&t.to_be_bytes());
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value);
        let padded = (value.len() + 3) & !3;
        self.buf
            .resize(self.buf.len() + padded - value.len(), self.pad);
        self.set_length(self.buf.len() - HEADER_LEN);
        self
    }

    /// USERNAME.
    pub fn username(&mut self, name: &str) -> &mut Self {
        self.attribute(attr::USERNAME, name.as_bytes())
    }

    /// SOFTWARE.
    pub fn software(&mut self, s: &str) -> &mut Self {
        self.attribute(attr::SOFTWARE, s.as_bytes())
    }

    /// PRIORITY (RFC 8445 §7.1.1).
    pub fn priority(&mut self, p: u32) -> &mut Self {
        self.attribute(attr::PRIORITY, &p.to_be_bytes())
    }

    /// USE-CANDIDATE (RFC 8445 §7.1.2).
    pub fn use_candidate(&mut self) -> &mut Self {
        self.attribute(attr::USE_CANDIDATE, &[])
    }

    /// ICE-CONTROLLING with a tie-breaker.
    pub fn ice_controlling(&mut self, tie_breaker: u64) -> &mut Self {
        self.attribute(attr::ICE_CONTROLLING, &tie_breaker.to_be_bytes())
    }

    /// ICE-CONTROLLED with a tie-breaker.
    pub fn ice_controlled(&mut self, tie_breaker: u64) -> &mut Self {
        self.attribute(attr::ICE_CONTROLLED, &tie_breaker.to_be_bytes())
    }

    fn address(&mut self, t: u16, addr: SocketAddr, xor: bool) -> &mut Self {
        let tid: [u8; 12] = self
            .buf
            .get(8..20)
            .and_then(|s| s.try_into().ok())
            .unwrap_or([0; 12]);
        let cookie = MAGIC_COOKIE.to_be_bytes();
        let mut v = Vec::with_capacity(20);
        let port = if xor {
            addr.port() ^ (MAGIC_COOKIE >> 16) as u16
        } else {
            addr.port()
        };
        match addr.ip() {
            IpAddr::V4(ip) => {
                v.extend_from_slice(&[0, 0x01]);
                v.extend_from_slice(&port.to_be_bytes());
                let mut a = ip.octets();
                if xor {
                    a.iter_mut().zip(cookie).for_each(|(b, k)| *b ^= k);
                }
                v.extend_from_slice(&a);
            }
            IpAddr::V6(ip) => {
                v.extend_from_slice(&[0, 0x02]);
                v.extend_from_slice(&port.to_be_bytes());
                let mut a = ip.octets();
                if xor {
                    a.iter_mut()
                        .zip(cookie.iter().chain(tid.iter()))
                        .for_each(|(b, k)| *b ^= k);
                }
                v.extend_from_slice(&a);
            }
        }
        self.attribute(t, &v)
    }

    /// XOR-MAPPED-ADDRESS (RFC 8489 §14.2).
    pub fn xor_mapped_address(&mut self, addr: SocketAddr) -> &mut Self {
        self.address(attr::XOR_MAPPED_ADDRESS, addr, true)
    }

    /// MAPPED-ADDRESS (RFC 8489 §14.1), for RFC 3489-era clients.
    pub fn mapped_address(&mut self, addr: SocketAddr) -> &mut Self {
        self.address(attr::MAPPED_ADDRESS, addr, false)
    }

    /// ERROR-CODE with `code` in 300..=699 (other values are clamped into a 500) and a reason phrase.
    pub fn error_code(&mut self, code: u16, reason: &str) -> &mut Self {
        let code = if (300..=699).contains(&code) {
            code
        } else {
            500
        };
        let mut v = vec![0, 0, (code / 100) as u8, (code % 100) as u8];
        v.extend_from_slice(reason.as_bytes());
        self.attribute(attr::ERROR_CODE, &v)
    }

    /// UNKNOWN-ATTRIBUTES listing `types`.
    pub fn unknown_attributes(&mut self, types: &[u16]) -> &mut Self {
        let v: Vec<u8> = types.iter().flat_map(|t| t.to_be_bytes()).collect();
        self.attribute(attr::UNKNOWN_ATTRIBUTES, &v)
    }

    /// MESSAGE-INTEGRITY (HMAC-SHA1) with a short-term credential key (RFC 8489 §14.5).
    pub fn message_integrity(&mut self, key: &[u8]) -> &mut Self {
        self.message_integrity_with(&IntegrityKey::new(key))
    }

    /// [`message_integrity`](Self::message_integrity) with a key prepared once.
    pub fn message_integrity_with(&mut self, key: &IntegrityKey) -> &mut Self {
        if self.too_large {
            return self;
        }
        let end = self.buf.len();
        match integrity_hmac(&self.buf, end, key) {
            Ok(mac) => {
                let tag = mac.finalize().into_bytes();
                self.attribute(attr::MESSAGE_INTEGRITY, &tag)
            }
            Err(_) => {
                self.too_large = true;
                self
            }
        }
    }

    /// FINGERPRINT (CRC-32 XOR 0x5354554e, RFC 8489 §14.7): the last attribute.
    pub fn fingerprint(&mut self) -> &mut Self {
        if self.too_large {
            return self;
        }
        let end = self.buf.len();
        match fingerprint_value(&self.buf, end) {
            Ok(fp) => self.attribute(attr::FINGERPRINT, &fp.to_be_bytes()),
            Err(_) => {
                self.too_large = true;
                self
            }
        }
    }

    /// The encoded message.
    pub fn finish(self) -> Result<Vec<u8>, StunError> {
        if self.too_large {
            return Err(StunError::TooLarge);
        }
        Ok(self.buf)
    }
}
