//! The ICE agent fed arbitrary datagrams and timer steps: `cargo +nightly fuzz run ice_agent`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dtlsrtp_media::fuzzing::ice_agent(std::time::Instant::now(), data);
});
