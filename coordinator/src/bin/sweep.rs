//! `sweep`: to be written.
fn main() {}
