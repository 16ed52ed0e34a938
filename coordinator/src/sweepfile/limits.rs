//! What a sweep file may cost the coordinator: [`LoadLimits`] (file size,
//! grid size, parser budgets), which the coordinator's settings fill in, and
//! the fixed caps on the file's own fields.

use sweep_proto::yaml::YamlBudget;

/// The default cap on a sweep file's size: far above any hand-written grid
/// (the design grid is ~1 KB), low enough to parse in milliseconds.
pub const DEFAULT_MAX_FILE_BYTES: usize = 1024 * 1024;
/// The default cap on the number of points a sweep may expand to.
pub const DEFAULT_MAX_GRID: u64 = 10_000;
/// Attempts per trial when the sweep file does not say.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Most attempts a sweep may give each trial.
pub const MAX_ATTEMPTS: u32 = 100;
/// Longest sweep `name`, characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest parameter name (a dotted path; the longest real one is ~25).
pub const MAX_PARAMETER_NAME_CHARS: usize = 200;

/// Everything [`load`](super::load) may spend on one sweep file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadLimits {
    /// Larger files are refused before parsing, naming their size and this cap.
    pub max_file_bytes: usize,
    /// Most points a grid (or a random sweep's `count`) may expand to; checked
    /// before anything is expanded. A `values` list longer than this is
    /// refused too.
    pub max_grid: u64,
    /// What the YAML parser may spend: depth, anchors and alias expansion,
    /// events, nodes.
    pub yaml: YamlBudget,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_grid: DEFAULT_MAX_GRID,
            yaml: YamlBudget::default(),
        }
    }
}
