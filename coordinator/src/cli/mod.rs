//! The `sweep` CLI. To be written.
