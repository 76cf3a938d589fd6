//! SDP parser, writer and negotiator on arbitrary input: `cargo +nightly fuzz run sdp_parse`.
//! The body lives in `dtlsrtp_sdp::fuzzing` so that stable builds compile it and
//! `crates/sdp/tests/fuzz_corpus.rs` runs it over `corpus/sdp_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dtlsrtp_sdp::fuzzing::sdp_parse(data);
});
