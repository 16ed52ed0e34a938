//! Turning coordinator answers into text: aligned tables for people, CSV and
//! JSON for programs. Pure functions over the generated `sweep.v1` messages,
//! so every format is unit-tested without a coordinator.
//!
//! - [`table`]: column-aligned text.
//! - [`csv`]: RFC 4180 quoting.
//! - [`values`]: one cell's text (states, numbers, swept values, durations).
//! - [`leaderboard`]: a sweep's ranked trials in all three formats.
//! - [`sweeps`]: the `list` table and the `status` report.
//! - [`workers`]: the `workers` listing in all three formats.
//! - [`artifacts`]: the `artifacts` listing in all three formats.

pub mod artifacts;
pub mod csv;
pub mod leaderboard;
pub mod sweeps;
pub mod table;
pub mod values;
pub mod workers;
