//! A-R-OTHER-SIGNALING: the WHIP/WHEP path builds without any SIP crate. `cargo tree -p dtlsrtp-whip` (normal
//! dependencies) must list neither `dtlsrtp-sip` nor the SIP endpoint crate `dtlsrtp`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn a_r_other_signaling_whip_crate_has_no_sip_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "tree",
            "--offline",
            "--manifest-path",
            manifest,
            "-p",
            "dtlsrtp-whip",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"dtlsrtp-tokio"), "{tree}");
    assert!(names.contains(&"dtlsrtp-media"), "{tree}");
    for forbidden in ["dtlsrtp-sip", "dtlsrtp"] {
        assert!(
            !names.contains(&forbidden),
            "{forbidden} in the WHIP crate's tree:\n{tree}"
        );
    }
}
