//! The crate graph is one-way (ARCHITECTURE.md, issue 13 acceptance): `dtls` does not depend on `sdp` (the
//! fingerprint type they share lives in `dtlsrtp-types`), `types` depends on no other dtlsrtp crate, and no
//! sans-IO crate reaches tokio, the driver, the CLI or an HTTP stack, directly or through another crate.
//! Read from `cargo metadata` (the resolved graph, so a dependency through a third crate counts).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The sans-IO crates by package name; the future ones are checked when they exist.
const SANS_IO: [&str; 9] = [
    "dtlsrtp-types",
    "dtlsrtp-srtp",
    "dtlsrtp-sdp",
    "dtlsrtp-dtls",
    "dtlsrtp-media",
    "dtlsrtp-sip",
    "dtlsrtp",
    "dtlsrtp-session",
    "dtlsrtp-audio",
];

/// Never below a sans-IO crate.
const IO_CRATES: [&str; 8] = [
    "tokio",
    "tokio-openssl",
    "mio",
    "axum",
    "hyper",
    "dtlsrtp-tokio",
    "dtlsrtp-cli",
    "dtlsrtp-whip",
];

/// Package name → names of its dependencies. `dev`: include dev-dependencies (what `cargo tree` shows for the
/// root package); transitive edges always exclude them.
struct Graph {
    normal: BTreeMap<String, BTreeSet<String>>,
    with_dev: BTreeMap<String, BTreeSet<String>>,
    /// Package → its declared non-dev dependencies: (name, optional, features enabled).
    declared: BTreeMap<String, Vec<(String, bool, Vec<String>)>>,
}

/// The host target triple (the resolved graph is the one this machine builds).
fn host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc names its host")
        .trim()
        .to_owned()
}

fn metadata() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host())
        .arg("--manifest-path")
        .arg(&manifest)
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut declared: BTreeMap<String, Vec<(String, bool, Vec<String>)>> = BTreeMap::new();
    for p in v["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .map(|d| {
                let features = d["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap().to_owned())
                    .collect();
                (
                    d["name"].as_str().unwrap().to_owned(),
                    d["optional"].as_bool().unwrap_or(false),
                    features,
                )
            })
            .collect();
        declared.insert(p["name"].as_str().unwrap().to_owned(), deps);
    }
    let mut normal: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut with_dev: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in v["resolve"]["nodes"].as_array().unwrap() {
        let name = names[node["id"].as_str().unwrap()].clone();
        for dep in node["deps"].as_array().unwrap() {
            let dep_name = names[dep["pkg"].as_str().unwrap()].clone();
            let kinds: Vec<&str> = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kind"].as_str().unwrap_or("normal"))
                .collect();
            with_dev
                .entry(name.clone())
                .or_default()
                .insert(dep_name.clone());
            if kinds.iter().any(|k| *k != "dev") {
                normal.entry(name.clone()).or_default().insert(dep_name);
            }
        }
        normal.entry(name.clone()).or_default();
        with_dev.entry(name).or_default();
    }
    Graph {
        normal,
        with_dev,
        declared,
    }
}

/// Everything `root` pulls in: its own dependencies (with dev ones when `dev`), then theirs without dev.
fn closure(g: &Graph, root: &str, dev: bool) -> BTreeSet<String> {
    let first = if dev { &g.with_dev } else { &g.normal };
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = first
        .get(root)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone()) {
            if let Some(d) = g.normal.get(&n) {
                todo.extend(d.iter().cloned());
            }
        }
    }
    seen
}

/// Issue 13: `cargo tree -p dtlsrtp-dtls` (dev-dependencies included) shows no dtlsrtp-sdp.
#[test]
fn dtls_does_not_depend_on_sdp() {
    let g = metadata();
    assert!(g.normal.contains_key("dtlsrtp-dtls"));
    let deps = closure(&g, "dtlsrtp-dtls", true);
    assert!(deps.contains("dtlsrtp-types"), "{deps:?}");
    assert!(!deps.contains("dtlsrtp-sdp"), "dtls reaches sdp: {deps:?}");
}

/// The shared-types crate is a leaf of the workspace: no other dtlsrtp crate below it.
#[test]
fn types_depends_on_nothing_internal() {
    let g = metadata();
    let deps = closure(&g, "dtlsrtp-types", false);
    let internal: Vec<_> = deps.iter().filter(|d| d.starts_with("dtlsrtp")).collect();
    assert!(internal.is_empty(), "{internal:?}");
}

/// No sans-IO crate reaches tokio, the driver, the CLI or the WHIP server (normal dependencies, transitively).
#[test]
fn sans_io_crates_reach_no_runtime_driver_or_cli() {
    let g = metadata();
    let mut bad = Vec::new();
    let mut checked = 0;
    for c in SANS_IO {
        if !g.normal.contains_key(c) {
            assert!(
                matches!(c, "dtlsrtp-session" | "dtlsrtp-audio"),
                "{c} not in the workspace"
            );
            continue;
        }
        checked += 1;
        let deps = closure(&g, c, false);
        for io in IO_CRATES {
            if deps.contains(io) {
                bad.push(format!("{c} -> {io}"));
            }
        }
    }
    assert!(checked >= 7, "{checked}");
    assert!(
        bad.is_empty(),
        "sans-IO crates depending on I/O crates: {bad:?}"
    );
    // and the check can fail: the driver itself reaches tokio
    assert!(closure(&g, "dtlsrtp-tokio", false).contains("tokio"));
}

/// The OS random generator stays out of the sans-IO crates: none declares `getrandom` or enables
/// `dtlsrtp-types`' `os-rng` feature (only `dtlsrtp-types` itself has it, optional, behind that feature, for
/// the drivers). Their randomness is a seeded `Rng` the driver seeds.
#[test]
fn sans_io_crates_do_not_use_the_os_generator() {
    let g = metadata();
    let mut bad = Vec::new();
    for c in SANS_IO {
        for (name, optional, features) in g.declared.get(c).into_iter().flatten() {
            let os_gen = matches!(name.as_str(), "getrandom" | "rand" | "rand_core");
            if os_gen && !(c == "dtlsrtp-types" && *optional) {
                bad.push(format!("{c} -> {name}"));
            }
            if name == "dtlsrtp-types" && features.iter().any(|f| f == "os-rng") {
                bad.push(format!("{c} enables dtlsrtp-types/os-rng"));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
    // the check sees declarations: the driver does seed from the OS
    assert!(g.declared["dtlsrtp-tokio"]
        .iter()
        .any(|d| d.0 == "getrandom"));
}

/// Design item 6 (issue 13): among our crates the CLI names only the driver, the endpoint, audio, the shared
/// types and WHIP (for `serve`); everything else comes through their public API (the SDP types through the
/// session's re-exports, `dtlsrtp::session::*`). Dev-dependencies (the CLI's tests) are not counted.
const CLI_MAY_USE: [&str; 5] = [
    "dtlsrtp-tokio",
    "dtlsrtp",
    "dtlsrtp-audio",
    "dtlsrtp-types",
    "dtlsrtp-whip",
];

#[test]
fn cli_depends_only_on_driver_endpoint_audio_types_and_whip() {
    let g = metadata();
    let internal: BTreeSet<&str> = g.declared["dtlsrtp-cli"]
        .iter()
        .map(|d| d.0.as_str())
        .filter(|n| n.starts_with("dtlsrtp"))
        .collect();
    let extra: Vec<&&str> = internal
        .iter()
        .filter(|n| !CLI_MAY_USE.contains(n))
        .collect();
    assert!(
        extra.is_empty(),
        "crates/cli depends directly on {extra:?}: use the endpoint's or the driver's public API"
    );
    for n in ["dtlsrtp-tokio", "dtlsrtp", "dtlsrtp-audio"] {
        assert!(internal.contains(n), "{internal:?}");
    }
}
