//! The DTLS role of an association (RFC 5763 §5: the `a=setup` attribute decides it, not the SIP roles).

/// Which end of the DTLS handshake we are. The DTLS client is the `a=setup:active` side, not the SIP caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtlsRole {
    /// Sent the ClientHello (`a=setup:active`).
    Client,
    /// Answered it (`a=setup:passive`).
    Server,
}

impl DtlsRole {
    /// The other end's role.
    pub const fn peer(self) -> Self {
        match self {
            Self::Client => Self::Server,
            Self::Server => Self::Client,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DtlsRole;

    #[test]
    fn peer_role_is_the_other_end() {
        assert_eq!(DtlsRole::Client.peer(), DtlsRole::Server);
        assert_eq!(DtlsRole::Server.peer(), DtlsRole::Client);
    }
}
