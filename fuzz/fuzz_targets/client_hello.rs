//! The stateless ClientHello parser of the cookie exchange on arbitrary input:
//! `cargo +nightly fuzz run client_hello`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dtlsrtp_dtls::fuzzing::client_hello(data);
});
