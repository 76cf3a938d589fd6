//! STUN decoder with integrity and fingerprint checks on arbitrary input: `cargo +nightly fuzz run stun_parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dtlsrtp_media::fuzzing::stun_parse(data);
});
