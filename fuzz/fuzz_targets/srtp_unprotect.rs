//! SRTP and SRTCP unprotect of arbitrary datagrams under every profile: `cargo +nightly fuzz run srtp_unprotect`.
//! Authentication rejects almost everything; the target proves parsing before authentication never panics and
//! that a failed packet leaves the context usable.
#![no_main]

use dtlsrtp_srtp::{Config, DtlsRole, SrtpContext, SrtpKeyingMaterial, SrtpProfile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for profile in SrtpProfile::ALL {
        let exported = vec![0x42u8; profile.exporter_len()];
        let Ok(km) = SrtpKeyingMaterial::from_exporter(profile, &exported) else { return };
        let Ok((_, mut rx)) = SrtpContext::from_keying_material(&km, DtlsRole::Client, &Config::default()) else {
            return;
        };
        let mut p = data.to_vec();
        let _ = rx.unprotect_rtp(&mut p);
        let mut p = data.to_vec();
        let _ = rx.unprotect_rtcp(&mut p);
    }
});
