//! Integration tests of the trial pipeline (one binary: libtorch is linked once).

mod augment;
mod common;
mod divergence;
mod end_to_end;
mod freezing;
mod lr_groups;
mod mobilenet;
mod parity;
mod seed_fixes;
mod shared;
mod split;
