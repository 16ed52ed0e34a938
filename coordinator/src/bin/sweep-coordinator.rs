//! `sweep-coordinator`: to be written.
fn main() {}
