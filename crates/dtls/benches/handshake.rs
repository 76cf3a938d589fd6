//! Handshake benchmark (filled in below).
fn main() {}
