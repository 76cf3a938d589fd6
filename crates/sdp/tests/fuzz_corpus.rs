//! Runs the cargo-fuzz target's body (`dtlsrtp_sdp::fuzzing::sdp_parse`) over its seed corpus
//! (`fuzz/corpus/sdp_parse`), over every prefix of each seed and over single-byte mutations, on stable.
#![allow(clippy::disallowed_methods)]
// tests read files (corpora, certificates, sources)
// Test helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dtlsrtp_sdp::fuzzing::sdp_parse;

#[test]
fn fuzz_body_over_seed_corpus_prefixes_and_mutations() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/sdp_parse");
    let mut seeds = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            dtlsrtp_sdp::Sdp::parse(&data).is_ok(),
            "every seed is a valid SDP"
        );
        seeds += 1;
        sdp_parse(&data);
        for end in 0..data.len() {
            sdp_parse(&data[..end]);
        }
        for (i, byte) in [b' ', b'\n', b':', b'0', 0xFF, b'\r', b'=']
            .into_iter()
            .cycle()
            .zip(0..data.len())
            .map(|(b, i)| (i, b))
        {
            let mut m = data.clone();
            m[i] = byte;
            sdp_parse(&m);
        }
    }
    assert!(seeds >= 8, "seed corpus missing: {seeds}");
}
