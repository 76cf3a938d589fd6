//! The sans-IO rule (STYLE rule 1, issue 13 acceptance): the core crates never touch the file system, sockets,
//! the clock or the scheduler. Scans `crates/<c>/src/**/*.rs` of every sans-IO crate, leaving out test code:
//! items under `#[cfg(test)]` (a module to its closing brace, a function, a `mod x;` and its file), files named
//! `tests.rs` and directories named `tests`. Comments (doc examples included) and string literals are not code.
//!
//! Flagged: `std::fs` (and any `fs::` path, `File::open`/`create`), `std::os::unix::fs`, sockets
//! (`UdpSocket`, `TcpStream`, `TcpListener`), `Instant::now`, `SystemTime::now`, `thread::sleep`. (The OS
//! random generator is kept out by the crate graph: tests/crate_graph.rs.)
//!
//! The root clippy.toml's `disallowed-methods` says the same to clippy; this test does not depend on clippy
//! running, and also sees what clippy cannot (an import of `std::fs`, a type used without a method call).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(clippy::disallowed_methods)] // tests read files (corpora, certificates, sources)

use std::path::{Path, PathBuf};

/// The sans-IO crates (directory names under crates/); the future ones are checked when they exist.
const SANS_IO: [&str; 9] = [
    "types", "srtp", "sdp", "dtls", "media", "sip", "endpoint", "session", "audio",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Code without comments and string/char literals (each replaced by a space; newlines kept for line numbers).
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && literal_start(&b, i) {
            // raw string r"..." or r#"..."#
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some('\n') => out.push('\n'),
                    _ => {}
                }
                j += 1;
            }
            out.push(' ');
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if b.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && literal_start(&b, i) {
            // a char literal ('x', '\n', '\u{..}') or a lifetime ('a): a literal closes within a few chars
            let close = (i + 2..(i + 12).min(b.len())).find(|&k| b[k] == '\'');
            match close {
                Some(k) if b[i + 1] == '\\' || k == i + 2 => {
                    out.push(' ');
                    i = k + 1;
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn prev_ident(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// No identifier before `i`, or only the byte prefix `b` (`b'x'`, `br"..."`).
fn literal_start(b: &[char], i: usize) -> bool {
    !prev_ident(b, i) || (b[i - 1] == 'b' && !prev_ident(b, i - 1))
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    text: String,
    line: usize,
}

fn tokens(code: &str) -> Vec<Tok> {
    let mut v = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let cs: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < cs.len() {
            let c = cs[i];
            if c.is_alphanumeric() || c == '_' {
                let s = i;
                while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                    i += 1;
                }
                v.push(Tok {
                    text: cs[s..i].iter().collect(),
                    line: n + 1,
                });
            } else if c == ':' && cs.get(i + 1) == Some(&':') {
                v.push(Tok {
                    text: "::".into(),
                    line: n + 1,
                });
                i += 2;
            } else if c.is_whitespace() {
                i += 1;
            } else {
                v.push(Tok {
                    text: c.to_string(),
                    line: n + 1,
                });
                i += 1;
            }
        }
    }
    v
}

/// Whether the attribute tokens `#[cfg(...)]` starting at `i` make the next item test-only: `cfg(test)` or
/// `cfg(all(..., test, ...))`. Returns the index after the attribute.
fn cfg_test_attr(t: &[Tok], i: usize) -> Option<usize> {
    let w = |k: usize| t.get(k).map(|x| x.text.as_str());
    if w(i) != Some("#")
        || w(i + 1) != Some("[")
        || w(i + 2) != Some("cfg")
        || w(i + 3) != Some("(")
    {
        return None;
    }
    // find the closing bracket of the attribute
    let mut depth = 0;
    let mut end = i + 1;
    for (k, tok) in t.iter().enumerate().skip(i + 1) {
        match tok.text.as_str() {
            "[" | "(" => depth += 1,
            "]" | ")" => {
                depth -= 1;
                if depth == 0 {
                    end = k;
                    break;
                }
            }
            _ => {}
        }
    }
    let inner: Vec<&str> = t[i + 4..end].iter().map(|x| x.text.as_str()).collect();
    let test_only = inner == ["test", ")"]
        || (inner.first() == Some(&"all") && inner.contains(&"test") && !inner.contains(&"not"));
    test_only.then_some(end + 1)
}

/// Skips the item starting at `i` (after its attributes): to the matching `}` of its first `{`, or to the `;`
/// that ends it first. Returns (index after the item, `Some(name)` for a `mod name;`).
fn skip_item(t: &[Tok], mut i: usize) -> (usize, Option<String>) {
    // further attributes
    while t.get(i).is_some_and(|x| x.text == "#") {
        let mut depth = 0;
        while let Some(x) = t.get(i) {
            i += 1;
            match x.text.as_str() {
                "[" => depth += 1,
                "]" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    let start = i;
    let mut depth = 0;
    while let Some(x) = t.get(i) {
        i += 1;
        match x.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return (i, None);
                }
            }
            ";" if depth == 0 => {
                let words: Vec<&str> = t[start..i - 1].iter().map(|x| x.text.as_str()).collect();
                let name = match words.as_slice() {
                    [.., "mod", name] => Some((*name).to_owned()),
                    _ => None,
                };
                return (i, name);
            }
            _ => {}
        }
    }
    (i, None)
}

/// The forbidden uses in one file's source: (line, what). Also the names of `#[cfg(test)] mod x;` files.
fn scan_source(src: &str) -> (Vec<(usize, String)>, Vec<String>) {
    let t = tokens(&strip(src));
    let mut hits = Vec::new();
    let mut test_mods = Vec::new();
    let w = |k: usize| t.get(k).map_or("", |x| x.text.as_str());
    let mut i = 0;
    while i < t.len() {
        if let Some(after) = cfg_test_attr(&t, i) {
            let (next, name) = skip_item(&t, after);
            test_mods.extend(name);
            i = next;
            continue;
        }
        let path2 = |a: &str, b: &str| w(i) == a && w(i + 1) == "::" && w(i + 2) == b;
        let what = if path2("std", "fs") || path2("unix", "fs") {
            Some(format!("{}::fs", w(i)))
        } else if w(i) == "fs" && w(i + 1) == "::" && w(i.wrapping_sub(1)) != "::" {
            Some(format!("fs::{}", w(i + 2)))
        } else if path2("File", "open") || path2("File", "create") {
            Some(format!("File::{}", w(i + 2)))
        } else if path2("Instant", "now") || path2("SystemTime", "now") {
            Some(format!("{}::now", w(i)))
        } else if path2("thread", "sleep") {
            Some("thread::sleep".into())
        } else if matches!(w(i), "UdpSocket" | "TcpStream" | "TcpListener") {
            Some(w(i).to_owned())
        } else if w(i) == "std" && w(i + 1) == "::" && w(i + 2) == "{" {
            // use std::{fs, thread::sleep, ...}: a group naming `fs` at its top level
            let mut depth = 0;
            let mut found = None;
            for k in i + 2..t.len() {
                match w(k) {
                    "{" => depth += 1,
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "fs" if depth == 1 && w(k - 1) != "::" => found = Some("std::{fs}".to_owned()),
                    _ => {}
                }
            }
            found
        } else {
            None
        };
        if let Some(what) = what {
            hits.push((t[i].line, what));
        }
        i += 1;
    }
    (hits, test_mods)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() {
            if name != "tests" {
                rs_files(&p, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(p);
        }
    }
}

/// Every violation under `src` (a crate's source directory), as `path:line: what`.
fn scan_crate(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rs_files(src, &mut files);
    // files that are test modules declared `#[cfg(test)] mod name;` elsewhere
    let mut test_files: Vec<PathBuf> = Vec::new();
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (hits, mods) = scan_source(&text);
        let dir = f.parent().unwrap().to_path_buf();
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        // `mod x;` in foo.rs lives at foo/x.rs; in mod.rs/lib.rs/main.rs beside it
        let base = if matches!(stem, "mod" | "lib" | "main") {
            dir
        } else {
            dir.join(stem)
        };
        for m in mods {
            test_files.push(base.join(format!("{m}.rs")));
            test_files.push(base.join(&m).join("mod.rs"));
        }
        found.push((f.clone(), hits));
    }
    let mut out = Vec::new();
    for (f, hits) in found {
        if test_files.contains(&f) {
            continue;
        }
        for (line, what) in hits {
            out.push(format!("{}:{line}: {what}", f.display()));
        }
    }
    out
}

/// STYLE rule 1 / issue 13: no sans-IO crate calls the file system, sockets, the clock or sleep outside its
/// tests.
#[test]
fn sans_io_crates_do_no_io_outside_tests() {
    let root = workspace().join("crates");
    let mut all = Vec::new();
    let mut scanned = 0;
    for c in SANS_IO {
        let src = root.join(c).join("src");
        if !src.is_dir() {
            assert!(
                matches!(c, "session" | "audio"),
                "sans-IO crate {c} missing"
            );
            continue;
        }
        scanned += 1;
        all.extend(scan_crate(&src));
    }
    assert!(scanned >= 7, "scanned {scanned} crates");
    assert!(
        all.is_empty(),
        "I/O in sans-IO crates (move it to the driver or the CLI):\n{}",
        all.join("\n")
    );
}

/// The scanner itself: it finds each forbidden use, and only outside test code.
#[test]
fn scanner_finds_io_and_skips_only_test_code() {
    let src = r#####"
//! let now = Instant::now(); (a doc example is not code)
use std::fs;
use std::{fs as f2, io};
use std::time::{Instant, SystemTime};
fn a() { let _ = std::fs::read("x"); let _ = fs::write("y", b""); }
fn b() -> Instant { Instant::now() }
fn c() { std::thread::sleep(d()); let _ = SystemTime::now(); }
fn d() { let s = "Instant::now() in a string"; let _ = UdpSocket::bind(s); let _ = r#"TcpStream"#; }
fn e() { let _ = File::open("z"); let c = '"'; let _ = TcpListener::bind(c, b'"'); }
#[cfg(test)]
mod tests {
    fn t() { let _ = std::time::Instant::now(); { std::fs::remove_file("q"); } }
}
#[cfg(all(test, unix))]
fn only_in_tests() { std::thread::sleep(x); }
#[cfg(not(test))]
fn not_test() { let _ = Instant::now(); }
#[cfg(test)]
mod more_tests;
fn after() { let _ = TcpStream::connect(a); }
"#####;
    let (hits, mods) = scan_source(src);
    let lines: Vec<usize> = hits.iter().map(|h| h.0).collect();
    assert_eq!(
        lines,
        vec![3, 4, 6, 6, 7, 8, 8, 9, 10, 10, 18, 21],
        "{hits:?}"
    );
    assert!(hits.iter().any(|h| h.1 == "UdpSocket"));
    assert!(hits.iter().any(|h| h.1 == "TcpListener"));
    assert!(
        !hits.iter().any(|h| h.1 == "TcpStream" && h.0 == 9),
        "raw string"
    );
    assert_eq!(mods, vec!["more_tests".to_owned()]);
}
