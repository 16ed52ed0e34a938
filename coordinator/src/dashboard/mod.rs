//! What the dashboard and the HTML report show, computed from the store,
//! knowing nothing of HTTP: a sweep's trials as table rows
//! ([`SweepView`]), sorted and paged on the server ([`table`]), learning
//! curves cut to the best trials and downsampled ([`curves`]), the points of
//! the parallel-coordinates and slice plots ([`points`]), and which parameter
//! mattered ([`importance`]); summaries of sweeps and workers as JSON
//! ([`summary`]); the JSON the pages read ([`json`]); the self-contained
//! HTML report ([`report`]).
//!
//! Everything a page receives is bounded whatever the sweep's size: a table
//! page holds at most [`table::MAX_PAGE_ROWS`] rows, curves at most
//! [`curves::MAX_CURVES`] trials of [`curves::MAX_POINTS`] points, plots at
//! most [`points::MAX_POINTS`] trials.

pub mod curves;
pub mod importance;
pub mod json;
pub mod points;
pub mod report;
pub mod summary;
pub mod table;
mod view;

pub use view::{SweepView, TrialRow};
