//! SIP datagram parser, error responder and stream framer on arbitrary input:
//! `cargo +nightly fuzz run sip_parse`. The body is `dtlsrtp_sip::fuzz_parse`, also run by
//! `crates/sip/tests/fuzz.rs` over the RFC 4475 corpus.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dtlsrtp_sip::fuzz_parse(data);
});
