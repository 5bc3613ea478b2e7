//! The `palisade` command line.
fn main() {}
