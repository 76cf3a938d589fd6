//! SRTP benchmark (work in progress).
fn main() {}
