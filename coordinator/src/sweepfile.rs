//! Sweep files. To be written.
