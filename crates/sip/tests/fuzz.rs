//! The fuzz body over the RFC 4475 corpus plus mutations (proptest): no input may panic the parser, the writer
//! round trip, the error responder or the stream framer. The cargo-fuzz target calls the same `fuzz_parse`.
#![allow(clippy::disallowed_methods)] // tests read files (corpora, certificates, sources)

use dtlsrtp_sip::fuzz_parse;
use proptest::prelude::*;

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
    CrlfToLf,
    DuplicateLine(usize),
    Splice(usize, usize),
}

/// Bytes that matter to the SIP grammar.
const INTERESTING: &[u8] = b":;,<>\"\\ \t\r\n@=?%[]/*0123456789zZ\x00\xff\xc3";

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), prop::sample::select(INTERESTING)).prop_map(|(p, b)| Mutation::Flip(p, b)),
        (any::<usize>(), prop::sample::select(INTERESTING))
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Delete(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        Just(Mutation::CrlfToLf),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(f, p)| Mutation::Splice(f, p)),
    ]
}

fn apply(mut d: Vec<u8>, m: &Mutation, corpus: &[Vec<u8>]) -> Vec<u8> {
    let len = d.len().max(1);
    match *m {
        Mutation::Flip(p, b) => {
            if let Some(x) = d.get_mut(p % len) {
                *x = b;
            }
        }
        Mutation::Insert(p, b) => d.insert(p % (d.len() + 1), b),
        Mutation::Delete(p, n) => {
            let s = p % len;
            let e = (s + n).min(d.len());
            if s < e {
                d.drain(s..e);
            }
        }
        Mutation::Truncate(p) => d.truncate(p % len),
        Mutation::CrlfToLf => {
            d = String::from_utf8_lossy(&d)
                .replace("\r\n", "\n")
                .into_bytes();
        }
        Mutation::DuplicateLine(p) => {
            let lines: Vec<&[u8]> = d.split(|&b| b == b'\n').collect();
            let i = p % lines.len().max(1);
            let mut out = Vec::new();
            for (j, l) in lines.iter().enumerate() {
                out.extend_from_slice(l);
                out.push(b'\n');
                if j == i {
                    out.extend_from_slice(l);
                    out.push(b'\n');
                }
            }
            d = out;
        }
        Mutation::Splice(f, p) => {
            if let Some(other) = corpus.get(f % corpus.len().max(1)) {
                let cut = p % len;
                d.truncate(cut);
                d.extend_from_slice(other.get(cut.min(other.len())..).unwrap_or(&[]));
            }
        }
    }
    d
}

#[test]
fn fuzz_body_runs_over_the_whole_rfc4475_corpus() {
    let c = corpus();
    assert_eq!(c.len(), 49);
    for d in c {
        fuzz_parse(d);
    }
}

proptest! {
    // 2000 cases per property; PROPTEST_CASES overrides for long runs.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn fuzz_body_never_panics_on_mutated_torture_messages(
        pick in 0usize..49,
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let c = corpus();
        let mut d = c[pick % c.len()].clone();
        for m in &muts {
            d = apply(d, m, c);
        }
        fuzz_parse(&d);
    }

    #[test]
    fn fuzz_body_never_panics_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        fuzz_parse(&data);
    }

    #[test]
    fn fuzz_body_never_panics_on_grammar_shaped_messages(
        method in "[A-Z!%~]{1,8}",
        uri in "(sips?|tel|x):[a-z0-9@:;=?&%\\[\\]<>. ]{0,30}",
        headers in prop::collection::vec(("(Via|v|From|f|To|t|Call-ID|i|CSeq|Contact|m|Route|l|Content-Length|RAck|RSeq|Max-Forwards|WWW-Authenticate|Date|X)", "[ -~\t]{0,40}"), 0..12),
        body in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut s = format!("{method} {uri} SIP/2.0\r\n").into_bytes();
        for (n, v) in &headers {
            s.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        s.extend_from_slice(b"\r\n");
        s.extend_from_slice(&body);
        fuzz_parse(&s);
    }
}
