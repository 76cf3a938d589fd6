//! DTLS 1.2 with use_srtp (RFC 5764) as a sans-IO association, verified by certificate fingerprint (RFC 8122).
