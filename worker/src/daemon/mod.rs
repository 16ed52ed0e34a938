//! The worker daemon (`sweep-worker run`). To be written.
